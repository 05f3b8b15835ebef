package playbooks_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/contain"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// slackNotifier is the smallest Notifier over the real Slack client, as
// bot/ implements it: the checklist is rendered by bot/blocks.
type slackNotifier struct {
	api *slack.Client
	loc *time.Location
}

func (n slackNotifier) PostChecklist(ctx context.Context, pb playbooks.Playbook, run playbooks.Run) (string, error) {
	text, bl := blocks.PlaybookChecklist(pb, run, n.loc)
	_, ts, err := n.api.PostMessageContext(ctx, run.Thread.Channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bl...), slack.MsgOptionTS(run.Thread.TS))
	return ts, err
}

func (n slackNotifier) UpdateChecklist(ctx context.Context, pb playbooks.Playbook, run playbooks.Run) error {
	text, bl := blocks.PlaybookChecklist(pb, run, n.loc)
	_, _, _, err := n.api.UpdateMessageContext(ctx, run.Thread.Channel, run.MessageTS, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bl...))
	return err
}

func (n slackNotifier) Reply(ctx context.Context, channel, threadTS, text string) error {
	_, _, err := n.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(threadTS))
	return err
}

func (n slackNotifier) FollowUp(ctx context.Context, fu playbooks.FollowUp, f finding.Finding, run *playbooks.Run) (string, error) {
	opts := blocks.FollowUpOptions{Location: n.loc}
	if run != nil {
		opts.ThreadURL = run.Thread.Permalink
	}
	text, bl := blocks.FollowUpMessage(f, run, opts)
	_, ts, err := n.api.PostMessageContext(ctx, fu.Channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bl...))
	return ts, err
}

// roles grants roles by user ID, like authz with user IDs in the config.
type roles map[string][]authz.Role

func (r roles) Check(_ context.Context, who authz.Actor, role authz.Role) (authz.Decision, error) {
	user := who.UserID
	if slices.Contains(r[user], role) || slices.Contains(r[user], authz.Admin) {
		return authz.Decision{Allowed: true}, nil
	}
	return authz.Decision{Reason: "you do not hold the " + string(role) + " role"}, nil
}

const (
	payments  = "111122223333"
	responder = "U0RITA001"
	admin     = "U0ADAM001"
	teamAnna  = "U0ANNA001"
	intruder  = "U0MALLORY"
)

var (
	rita    = authz.Actor{UserID: responder, TeamID: "T0EMU0001"}
	adam    = authz.Actor{UserID: admin, TeamID: "T0EMU0001"}
	mallory = authz.Actor{UserID: intruder, TeamID: "T0EMU0001"}
)

// world is story two's surroundings: Slack, AWS, the store and a clock.
type world struct {
	emu      *slackemu.Server
	api      *slack.Client
	secops   string
	team     string
	aws      *awsfake.Server
	rds      *awsfake.RDS
	iam      *awsfake.IAM
	store    store.Store
	clk      *clock.Fake
	contain  *containment.Service
	deps     playbooks.Deps
	berlin   *time.Location
	finding  finding.Finding
	threadTS string
}

func (w *world) For(_ context.Context, account string) (aws.Config, error) {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDBOT"+account, "s", ""),
		BaseEndpoint: aws.String(w.aws.URL()), HTTPClient: w.aws.HTTPClient()}, nil
}

// ForAction gives the same credentials for changes: the playbooks'
// world has one role per account (providers/aws/contain tests the write
// sessions).
func (w *world) ForAction(ctx context.Context, account string, _ awsclient.Scope) (aws.Config, error) {
	return w.For(ctx, account)
}

// nextNight is 03:04 UTC on the first Tuesday after today, so that the
// morning follow-up lies in the emulator's (wall-clock) future.
func nextNight() time.Time {
	d := time.Now().UTC().AddDate(0, 0, 1)
	for d.Weekday() != time.Tuesday {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 3, 4, 0, 0, time.UTC)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{clk: clock.NewFake(nextNight().Add(time.Minute))}
	w.berlin, _ = time.LoadLocation("Europe/Berlin")

	w.emu = slackemu.New(slackemu.Options{})
	w.emu.Start()
	t.Cleanup(w.emu.Close)
	w.secops = w.emu.PutChannel(slackemu.Channel{Name: "secops"})
	w.team = w.emu.PutChannel(slackemu.Channel{Name: "team-payments"})
	w.api = slack.New(w.emu.Options().BotToken, slack.OptionAPIURL(w.emu.APIURL()))

	w.aws = awsfake.New()
	t.Cleanup(w.aws.Close)
	w.rds, w.iam = awsfake.NewRDS(w.clk), awsfake.NewIAM(w.clk)
	w.aws.Handle("rds", w.rds)
	w.aws.Handle("iam", w.iam)
	w.aws.Identities().Add("AKIDBOT"+payments, "arn:aws:iam::"+payments+":role/secops-bot")
	w.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "prod-customers-2026-11-26", Region: "eu-central-1", SharedWith: []string{"555566667777", "444455556666"}})
	w.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: w.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.store = st

	az := roles{responder: {authz.Responder}, admin: {authz.Admin}}
	provider := contain.New(w, containment.Config{CorporateCIDRs: []string{"198.51.100.0/24"}}, w.clk, contain.Options{})
	w.contain = containment.New(provider, st, az, w.clk, zerolog.Nop())

	dir, err := org.New(org.Options{
		SecOps: org.TeamOptions{SlackChannel: w.secops, Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00"},
		Teams:  []org.TeamOptions{{Name: "payments", SlackChannel: w.team, Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := oncall.New(oncall.Config{Rotations: []oncall.Rotation{
		{Team: "secops", Members: []string{responder}, Handoff: "weekly", Timezone: "Europe/Berlin"},
		{Team: "payments", Members: []string{teamAnna}, Handoff: "weekly", Timezone: "Europe/Berlin"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lib, err := playbooks.Load("", playbooks.CatalogueIDs())
	if err != nil {
		t.Fatal(err)
	}
	w.deps = playbooks.Deps{
		Library: lib, Store: st, Notifier: slackNotifier{api: w.api, loc: w.berlin}, OnCall: sched, Teams: dir,
		Containment: w.contain, Authz: az, Clock: w.clk, Log: zerolog.Nop(),
	}

	// The finding, stored and posted with its thread, as the pipeline
	// leaves it.
	w.finding = storyTwoAt(nextNight())
	if err := st.UpsertFinding(ctx, w.finding, store.FindingEvent{Status: finding.StatusOpen, Actor: "system"}); err != nil {
		t.Fatal(err)
	}
	_, ts, err := w.api.PostMessage(w.secops, slack.MsgOptionText("RDS snapshot shared with an unknown account", false))
	if err != nil {
		t.Fatal(err)
	}
	w.threadTS = ts
	return w
}

func (w *world) thread(t *testing.T) playbooks.Thread {
	t.Helper()
	link, err := w.api.GetPermalink(&slack.PermalinkParameters{Channel: w.secops, Ts: w.threadTS})
	if err != nil {
		t.Fatal(err)
	}
	return playbooks.Thread{Channel: w.secops, TS: w.threadTS, Permalink: link}
}

// replies are the thread's messages after the root, as text.
func (w *world) replies() []slackemu.Message {
	msgs := w.emu.Replies(w.secops, w.threadTS)
	if len(msgs) > 0 && msgs[0].TS == w.threadTS {
		msgs = msgs[1:]
	}
	return msgs
}

func storyTwoAt(at time.Time) finding.Finding {
	arn := "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"
	return finding.Finding{
		ID: "F-BADE51783D", Key: finding.KeyFor("snapshot-shared-external", payments, "eu-central-1", arn),
		Rule: "snapshot-shared-external", Severity: finding.SeverityCritical, Status: finding.StatusOpen,
		Title: "RDS snapshot shared with an unknown account", AccountID: payments, AccountName: "payments-prod", Region: "eu-central-1",
		Resource: finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "prod-customers-2026-11-26", ARN: arn},
		Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:user/BackupManager", Type: "IAMUser", Name: "BackupManager", AccountID: payments, AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		Event:    finding.EventRef{ID: "c2a9d3b4-4f2e-4d61-8f0a-5a1e7e9b2c44", Name: "ModifyDBSnapshotAttribute", Time: at, SourceIP: "203.0.113.77"},
		Team:     "payments", OffHours: true,
		Targets: []finding.Target{
			{Account: "555566667777", Class: finding.TargetKnown, Name: "payments-dr"},
			{Account: "444455556666", Class: finding.TargetUnknown},
		},
		Count: 1, FirstSeen: at, LastSeen: at, DetectedAt: at.Add(38 * time.Second), OpenedAt: at,
	}
}

func stepStatus(t *testing.T, run playbooks.Run, id string) playbooks.StepState {
	t.Helper()
	s, ok := run.Step(id)
	if !ok {
		t.Fatalf("run has no step %s", id)
	}
	return *s
}

// TestStoryTwoRun walks the off-hours playbook through the real Slack
// emulator and AWS fakes: start and page, escalation, investigate, abuse
// report, break-glass, unshare (with an AWS error first), IP lock, a
// restart, the follow-up, the audit log, and undo.
func TestStoryTwoRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	runner := playbooks.NewRunner(w.deps)

	run, err := runner.Start(ctx, w.finding, w.thread(t))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if run.Playbook != "data-exposure-off-hours" {
		t.Fatalf("playbook %s, want data-exposure-off-hours", run.Playbook)
	}
	replies := w.replies()
	if len(replies) != 2 || replies[0].TS != run.MessageTS || !strings.Contains(replies[0].Text, "Potential customer data exposure (off hours)") {
		t.Fatalf("thread after start = %+v, want the checklist then the page", replies)
	}
	if page := replies[1].Text; !strings.Contains(page, "Paging on-call") || !strings.Contains(page, "<@"+responder+">") || !strings.Contains(page, "<@"+teamAnna+">") {
		t.Errorf("page = %q, want SecOps and payments on-call mentioned", page)
	}
	if again, err := runner.Start(ctx, w.finding, w.thread(t)); err != nil || again.ID != run.ID || len(w.replies()) != 2 {
		t.Errorf("second start: run %s err %v, %d replies; want the same run and no new post", again.ID, err, len(w.replies()))
	}

	// Nobody may tick steps without the responder role.
	if _, err := runner.Done(ctx, mallory, run.ID, "investigate", ""); !errors.Is(err, playbooks.ErrRefused) {
		t.Errorf("done by a non-responder: %v", err)
	}
	if _, err := runner.RunStep(ctx, mallory, run.ID, "unshare"); !errors.Is(err, playbooks.ErrRefused) {
		t.Errorf("run by a non-responder: %v", err)
	}

	// No acknowledgement from the team in 15 minutes: the timer fires.
	w.clk.Advance(14 * time.Minute)
	if items, _ := w.store.ClaimKinds(ctx, "test", []string{"playbook."}, 10, time.Minute); len(items) != 0 {
		t.Fatalf("escalation due after 14 minutes: %+v", items)
	}
	w.clk.Advance(time.Minute)
	items, err := w.store.ClaimKinds(ctx, "test", []string{"playbook."}, 10, time.Minute)
	if err != nil || len(items) != 1 || items[0].Kind != playbooks.KindEscalate {
		t.Fatalf("claim escalation: %+v, %v", items, err)
	}
	for i := 0; i < 2; i++ { // a redelivered timer posts once
		if err := runner.Escalate(ctx, items[0].Payload); err != nil {
			t.Fatalf("escalate: %v", err)
		}
	}
	replies = w.replies()
	if len(replies) != 3 || !strings.Contains(replies[2].Text, "not acknowledged within 15m0s") || !strings.Contains(replies[2].Text, "<@"+responder+">") {
		t.Fatalf("thread after escalation = %+v", replies)
	}
	if cl, _ := w.emu.Message(w.secops, run.MessageTS); !strings.Contains(string(cl.Blocks), "Emergency path") {
		t.Error("checklist does not show the emergency path")
	}

	res, err := runner.RunStep(ctx, rita, run.ID, "investigate")
	if err != nil || res.Actor != w.finding.Actor.ARN {
		t.Fatalf("investigate: %+v %v", res, err)
	}
	if _, err := runner.RunStep(ctx, rita, run.ID, "abuse-report"); err != nil {
		t.Fatalf("abuse report: %v", err)
	}
	if r := w.replies(); !strings.Contains(r[len(r)-1].Text, "444455556666") || !strings.Contains(r[len(r)-1].Text, playbooks.AbuseFormURL) {
		t.Errorf("abuse report reply = %q", r[len(r)-1].Text)
	}
	if res, err := runner.RunStep(ctx, rita, run.ID, "break-glass"); err != nil || res.Kind != playbooks.AutoBreakGlass {
		t.Fatalf("break-glass: %+v %v", res, err)
	}
	if _, err := runner.Done(ctx, rita, run.ID, "break-glass", "approved by the payments manager; 30-minute session"); err != nil {
		t.Fatal(err)
	}

	// The unshare fails in AWS first: the step shows the error, nothing
	// else is lost, and a retry succeeds.
	res, err = runner.RunStep(ctx, rita, run.ID, "unshare")
	if err != nil || res.Preview == nil || res.Preview.Plan.Calls[0].API != "rds:ModifyDBSnapshotAttribute" {
		t.Fatalf("unshare preview: %+v %v", res, err)
	}
	w.aws.Inject(awsfake.Fault{Service: "rds", Action: "ModifyDBSnapshotAttribute", Code: "AccessDenied", Status: 403, Times: 1})
	if _, err := runner.Confirm(ctx, rita, run.ID, "unshare"); err == nil {
		t.Fatal("confirm with an AWS error succeeded")
	}
	run, _ = runner.Get(ctx, run.ID)
	if s := stepStatus(t, run, "unshare"); s.Status != playbooks.StepFailed || !strings.Contains(s.Note, "AccessDenied") {
		t.Errorf("unshare step after the error = %+v", s)
	}
	for _, id := range []string{"investigate", "abuse-report", "break-glass"} {
		if s := stepStatus(t, run, id); s.Status != playbooks.StepDone {
			t.Errorf("step %s is %s after the AWS error, want done", id, s.Status)
		}
	}
	if cl, _ := w.emu.Message(w.secops, run.MessageTS); !strings.Contains(string(cl.Blocks), "AccessDenied") {
		t.Error("checklist does not show the AWS error")
	}
	if res, err = runner.RunStep(ctx, rita, run.ID, "unshare"); err != nil {
		t.Fatalf("unshare preview again: %v", err)
	}
	unshare, err := runner.Confirm(ctx, rita, run.ID, "unshare")
	if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	if s, _ := w.rds.Snapshot(payments, false, "prod-customers-2026-11-26"); !slices.Equal(s.SharedWith, []string{"555566667777"}) {
		t.Errorf("snapshot shared with %v, want only payments-dr", s.SharedWith)
	}

	if _, err := runner.RunStep(ctx, rita, run.ID, "restrict-actor"); err != nil {
		t.Fatal(err)
	}
	restrict, err := runner.Confirm(ctx, rita, run.ID, "restrict-actor")
	if err != nil {
		t.Fatalf("restrict: %v", err)
	}
	u, _ := w.iam.User(payments, "BackupManager")
	if got, want := u.Policies[contain.RestrictIPPolicyName], contain.RestrictIPPolicy([]string{"198.51.100.0/24"}, nil); got != want {
		t.Errorf("BackupManager policy = %s, want %s", got, want)
	}

	// A restart: a new runner over the same store carries on.
	runner = playbooks.NewRunner(w.deps)
	if _, err := runner.RunStep(ctx, rita, run.ID, "follow-up"); err != nil {
		t.Fatalf("follow-up: %v", err)
	}
	// The follow-up is the bot's own timer, due the team's next business
	// morning; run twice, the step keeps one.
	if _, err := runner.RunStep(ctx, rita, run.ID, "follow-up"); !errors.Is(err, playbooks.ErrStepState) {
		t.Errorf("running the closed follow-up step again = %v", err)
	}
	wantAt := time.Date(w.clk.Now().Year(), w.clk.Now().Month(), w.clk.Now().Day(), 9, 0, 0, 0, w.berlin)
	timers, err := w.store.PendingOutboxKeys(ctx, playbooks.KindFollowUp+"|")
	if err != nil {
		t.Fatal(err)
	}
	if want := playbooks.FollowUpItems(w.finding.ID, wantAt)[0].Key; len(timers) != 1 || timers[0] != want {
		t.Fatalf("follow-up timers = %q, want %q (the team's next business morning)", timers, want)
	}
	w.clk.Set(wantAt)
	payload := playbooks.FollowUpItems(w.finding.ID, wantAt)[0].Payload
	for range 2 { // a timer delivered twice posts once
		if err := runner.PostFollowUp(ctx, payload); err != nil {
			t.Fatal(err)
		}
	}
	posted := w.emu.Messages(w.team)
	if len(posted) != 1 || !strings.Contains(string(posted[0].Blocks), w.thread(t).Permalink) || !strings.Contains(string(posted[0].Blocks), "Good morning payments") {
		t.Fatalf("team channel = %+v, want one follow-up linking the thread", posted)
	}
	if _, err := runner.Done(ctx, authz.Actor{UserID: teamAnna, TeamID: "T0EMU0001"}, run.ID, "team-ack", "seen; the share was not ours"); err != nil {
		t.Errorf("team member acknowledging: %v", err)
	}
	if _, err := runner.Skip(ctx, rita, run.ID, "review-resource"); err != nil {
		t.Fatal(err)
	}
	run, _ = runner.Get(ctx, run.ID)
	if !run.Complete() {
		t.Errorf("run not complete: %+v", run.Steps)
	}
	cl, _ := w.emu.Message(w.secops, run.MessageTS)
	if len(cl.Edits) == 0 || !strings.Contains(cl.Text, "8 of 8 steps done") || !strings.Contains(string(cl.Blocks), "Done by") || !strings.Contains(string(cl.Blocks), responder) {
		t.Errorf("checklist not updated in place with who did what: %q (%d edits)", cl.Text, len(cl.Edits))
	}

	// Every step is in the audit log.
	recs, err := w.store.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Action+" "+r.Result]++
	}
	for _, want := range []string{"playbook.start ok", "playbook.escalate ok", "playbook.step.done ok", "playbook.step.failed ok",
		"playbook.step.skipped ok", "playbook.step refused", "containment.preview ok", "containment.run ok", "containment.run error"} {
		if seen[want] == 0 {
			t.Errorf("audit log has no %q (has %v)", want, seen)
		}
	}
	if seen["playbook.escalate ok"] != 1 {
		t.Errorf("escalation audited %d times, want once", seen["playbook.escalate ok"])
	}

	// Undo: the unshare needs an admin; the IP lock a responder.
	if _, err := w.contain.Undo(ctx, rita, unshare.ID); !errors.Is(err, containment.ErrRefused) {
		t.Errorf("responder undoing the unshare: %v, want refused", err)
	}
	if _, err := w.contain.Undo(ctx, adam, unshare.ID); err != nil {
		t.Fatalf("admin undo of unshare: %v", err)
	}
	if s, _ := w.rds.Snapshot(payments, false, "prod-customers-2026-11-26"); len(s.SharedWith) != 2 {
		t.Errorf("snapshot after undo shared with %v, want both accounts again", s.SharedWith)
	}
	if _, err := w.contain.Undo(ctx, rita, restrict.ID); err != nil {
		t.Fatalf("undo restrict: %v", err)
	}
	if u, _ := w.iam.User(payments, "BackupManager"); len(u.Policies) != 0 {
		t.Errorf("BackupManager policies after undo = %v", u.Policies)
	}
}

// TestAcknowledgedInTime checks that an acknowledged step's timer does
// nothing.
func TestAcknowledgedInTime(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	runner := playbooks.NewRunner(w.deps)
	run, err := runner.Start(ctx, w.finding, w.thread(t))
	if err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(5 * time.Minute)
	if _, err := runner.Done(ctx, authz.Actor{UserID: teamAnna, TeamID: "T0EMU0001"}, run.ID, "team-ack", ""); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(10 * time.Minute)
	items, err := w.store.ClaimKinds(ctx, "test", []string{"playbook."}, 10, time.Minute)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %+v %v", items, err)
	}
	before := len(w.replies())
	if err := runner.Escalate(ctx, items[0].Payload); err != nil {
		t.Fatal(err)
	}
	run, _ = runner.Get(ctx, run.ID)
	if run.Emergency || len(w.replies()) != before {
		t.Errorf("acknowledged step escalated anyway (emergency %t, %d new replies)", run.Emergency, len(w.replies())-before)
	}
}

// pausedStore is one replica's view of the shared store that stops after
// its next read in namespace ns until resumed, so that another replica can
// act between this one's read and its write.
type pausedStore struct {
	playbooks.Store
	ns           string
	read, resume chan struct{}
}

func (p *pausedStore) GetKV(ctx context.Context, ns, key string) ([]byte, error) {
	v, err := p.Store.GetKV(ctx, ns, key)
	if r := p.read; r != nil && ns == p.ns {
		p.read = nil
		r <- struct{}{}
		<-p.resume
	}
	return v, err
}

// Two replicas changing one run at once, the second having read it before
// the first wrote: each change is kept. Runs used to be written whole, last
// writer winning, so the second replica's write undid the first's.
func TestConcurrentChangesOnTwoReplicas(t *testing.T) {
	anna := authz.Actor{UserID: teamAnna, TeamID: "T0EMU0001"}
	escalate := func(ctx context.Context, r *playbooks.Runner, runID string) error {
		return r.Escalate(ctx, []byte(`{"run":"`+runID+`","step":"team-ack"}`))
	}
	done := func(u authz.Actor, step string) func(context.Context, *playbooks.Runner, string) error {
		return func(ctx context.Context, r *playbooks.Runner, runID string) error {
			_, err := r.Done(ctx, u, runID, step, "")
			return err
		}
	}
	tests := []struct {
		name string
		// late runs on the replica that read first and writes last;
		// early runs on the other one in between.
		late, early func(context.Context, *playbooks.Runner, string) error
		want        map[string]playbooks.StepStatus
		emergency   bool
	}{
		{
			name: "two steps closed at once",
			late: done(rita, "investigate"), early: done(rita, "review-resource"),
			want: map[string]playbooks.StepStatus{"team-ack": playbooks.StepPending, "investigate": playbooks.StepDone, "review-resource": playbooks.StepDone},
		},
		{
			name: "a step closed while the escalation fires",
			late: escalate, early: done(rita, "investigate"),
			want:      map[string]playbooks.StepStatus{"team-ack": playbooks.StepPending, "investigate": playbooks.StepDone},
			emergency: true,
		},
		{
			name: "the team acknowledges while the escalation fires",
			late: escalate, early: done(anna, "team-ack"),
			want: map[string]playbooks.StepStatus{"team-ack": playbooks.StepDone, "investigate": playbooks.StepPending},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			a := playbooks.NewRunner(w.deps)
			run, err := a.Start(ctx, w.finding, w.thread(t))
			if err != nil {
				t.Fatal(err)
			}
			w.clk.Advance(15 * time.Minute)
			replies := len(w.replies())
			read, resume := make(chan struct{}), make(chan struct{})
			deps := w.deps
			deps.Store = &pausedStore{Store: w.store, ns: playbooks.KVRuns, read: read, resume: resume}
			b := playbooks.NewRunner(deps)
			late := make(chan error, 1)
			go func() { late <- tc.late(ctx, b, run.ID) }()
			<-read // b has read the run
			if err := tc.early(ctx, a, run.ID); err != nil {
				t.Fatalf("early change: %v", err)
			}
			close(resume)
			if err := <-late; err != nil {
				t.Fatalf("late change: %v", err)
			}

			run, err = a.Get(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tc.want {
				if got := stepStatus(t, run, id).Status; got != want {
					t.Errorf("step %s is %s, want %s", id, got, want)
				}
			}
			if run.Emergency != tc.emergency {
				t.Errorf("emergency = %t, want %t", run.Emergency, tc.emergency)
			}
			posted := len(w.replies()) - replies
			if wantPosted := map[bool]int{true: 1, false: 0}[tc.emergency]; posted != wantPosted {
				t.Errorf("%d replies posted, want %d (the escalation only when it stands)", posted, wantPosted)
			}
		})
	}
}

// Two replicas starting the finding's run at once: the finding keeps the
// run stored first, with its timers, where the index used to be overwritten
// by the last one and both runs' escalations were armed.
func TestConcurrentStartsOnTwoReplicas(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a := playbooks.NewRunner(w.deps)
	read, resume := make(chan struct{}), make(chan struct{})
	deps := w.deps
	deps.Store = &pausedStore{Store: w.store, ns: playbooks.KVFindingRun, read: read, resume: resume}
	b := playbooks.NewRunner(deps)
	type result struct {
		run playbooks.Run
		err error
	}
	late := make(chan result, 1)
	go func() {
		run, err := b.Start(ctx, w.finding, w.thread(t))
		late <- result{run, err}
	}()
	<-read // b found no run for the finding
	first, err := a.Start(ctx, w.finding, w.thread(t))
	if err != nil {
		t.Fatal(err)
	}
	close(resume)
	second := <-late
	if second.err != nil || second.run.ID != first.ID {
		t.Fatalf("second start: run %s, %v; want the first run, %s", second.run.ID, second.err, first.ID)
	}
	if got, err := a.RunFor(ctx, w.finding.ID); err != nil || got.ID != first.ID {
		t.Fatalf("RunFor = %s, %v; want %s", got.ID, err, first.ID)
	}
	w.clk.Advance(15 * time.Minute)
	items, err := w.store.ClaimKinds(ctx, "test", []string{"playbook."}, 10, time.Minute)
	if err != nil || len(items) != 1 || !strings.Contains(string(items[0].Payload), first.ID) {
		t.Fatalf("escalations due: %d %v; want the first run's only", len(items), err)
	}
}

// TestStepsTickThemselves: a containment that ran outside the checklist
// ticks the step that asks for its action, with who and when, and a fix
// seen in CloudTrail ticks the step that would have fixed the exposure;
// neither touches a step already closed or one about something else.
func TestStepsTickThemselves(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	runner := playbooks.NewRunner(w.deps)
	run, err := runner.Start(ctx, w.finding, w.thread(t))
	if err != nil {
		t.Fatal(err)
	}
	at := w.clk.Now().Add(5 * time.Minute)
	ran := playbooks.Ran{FindingID: w.finding.ID, Action: containment.IAMUserRestrictIP, Record: "C-1", By: responder, At: at, Note: "deny policy attached"}
	if err := runner.Tick(ctx, playbooks.RanItem(ran)); err != nil {
		t.Fatal(err)
	}
	run, _ = runner.Get(ctx, run.ID)
	if st := stepStatus(t, run, "restrict-actor"); st.Status != playbooks.StepDone || st.By != responder || !st.At.Equal(at) || !strings.Contains(st.Note, "deny policy attached") {
		t.Errorf("restrict-actor after the IP lock ran = %+v", st)
	}
	if st := stepStatus(t, run, "unshare"); st.Status != playbooks.StepPending {
		t.Errorf("unshare after the IP lock = %s, want pending", st.Status)
	}

	fixed := w.finding
	fixer := "arn:aws:iam::111122223333:user/alice"
	fixed.Status, fixed.ResolvedBy, fixed.ResolvedAt = finding.StatusResolved, fixer, at.Add(time.Minute)
	fixed.ResolvedEvent = &finding.EventRef{Name: "ModifyDBSnapshotAttribute", Time: at.Add(time.Minute)}
	fixed.Version++
	if err := w.store.UpsertFinding(ctx, fixed, store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // delivered twice, it ticks once
		if err := runner.Tick(ctx, playbooks.FixedItem(fixed.ID, fixed.Version)); err != nil {
			t.Fatal(err)
		}
	}
	run, _ = runner.Get(ctx, run.ID)
	if st := stepStatus(t, run, "unshare"); st.Status != playbooks.StepDone || st.By != fixer || !strings.Contains(st.Note, "ModifyDBSnapshotAttribute seen in CloudTrail") {
		t.Errorf("unshare after the fix seen in CloudTrail = %+v", st)
	}
	if st := stepStatus(t, run, "restrict-actor"); st.By != responder {
		t.Errorf("the fix changed who locked the actor: %+v", st)
	}
	var done int
	for _, s := range run.Steps {
		if s.Status == playbooks.StepDone {
			done++
		}
	}
	if done != 2 {
		t.Errorf("%d steps done, want 2", done)
	}
}
