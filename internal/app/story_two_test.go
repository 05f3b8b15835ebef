package app

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/providers/aws/contain"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestStoryTwoContainment runs story two through Serve, the Slack emulator
// and the AWS fakes: the 3 a.m. share of a customer snapshot becomes a
// critical finding in #secops whose thread gets the off-hours playbook; a
// responder unshares the snapshot from the Contain… picker and the modal,
// then locks BackupManager to the corporate range with /secops contain.
// A responder whose role was taken away between preview and confirmation
// is refused, and so is an outsider's Undo. Everything is audited.
func TestStoryTwoContainment(t *testing.T) {
	t.Parallel()
	const (
		payments = "111122223333"
		snapshot = "prod-customers-2026-11-26"
		unknown  = "444455556666"
		corp     = "192.0.2.0/24"
	)
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	// Time runs from an hour ahead so files dropped now count as settled.
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::"+payments+":role/secops-bot")
	rds, iam := awsfake.NewRDS(clk), awsfake.NewIAM(clk)
	srv.Handle("rds", rds)
	srv.Handle("iam", iam)
	rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: snapshot, Region: "eu-west-1", SharedWith: []string{unknown}})
	iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})

	e.cfg.AWS.Enabled = true
	e.cfg.AWS.MemberRoleName = ""
	// No re-check during the test: the unshare would resolve the finding.
	e.cfg.AWS.RecheckInterval = time.Hour
	e.cfg.Containment.CorporateCIDRs = []string{corp}
	e.cfg.OnCall = oncall.Config{Rotations: []oncall.Rotation{{Team: "secops", Members: []string{responder}}}}
	stop := e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	defer stop()
	ctx := context.Background()

	// The share arrives: a critical finding, and the off-hours playbook in
	// its thread, paging SecOps on-call.
	e.drop(t, "incident.json", incident)
	e.wait(t, "the critical finding in #secops", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	msg := topLevel(e.emu.Messages(e.secops))[0]
	if !strings.Contains(msg.Text, "CRITICAL") {
		t.Errorf("finding message %q is not critical", msg.Text)
	}
	checklist := func() slackemu.Message {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.HasPrefix(r.Text, "Playbook: ") {
				return r
			}
		}
		return slackemu.Message{}
	}
	e.wait(t, "the off-hours checklist in the finding's thread", func() bool {
		return strings.Contains(checklist().Text, "Potential customer data exposure (off hours)")
	})
	e.wait(t, "the page of SecOps on-call in the thread", func() bool {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.Contains(r.Text, "Paging on-call") && strings.Contains(r.Text, "<@"+responder+">") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(string(checklist().Blocks), `"action_id":"playbook.run.unshare"`) {
		t.Error("the checklist has no Run button for the unshare step")
	}

	// Contain… → picker → Preview snapshot-unshare → modal → Run it.
	click := func(user, channel, ts, action string) {
		t.Helper()
		ack, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: channel, MessageTS: ts, ActionID: action})
		if err != nil {
			t.Fatalf("click %s: %v", action, err)
		}
		if ack.Latency > time.Second {
			t.Errorf("%s acknowledged after %v", action, ack.Latency)
		}
	}
	ephemeralWith := func(user, action string) (slackemu.Ephemeral, bool) {
		eps := e.emu.Ephemerals()
		for i := len(eps) - 1; i >= 0; i-- {
			if eps[i].User == user && strings.Contains(string(eps[i].Blocks), `"action_id":"`+action+`"`) {
				return eps[i], true
			}
		}
		return slackemu.Ephemeral{}, false
	}
	openConfirms := func() int {
		n := 0
		for _, v := range e.emu.Views() {
			if v.CallbackID == "containment.confirm" && v.Open {
				n++
			}
		}
		return n
	}
	submit := func(user string) {
		t.Helper()
		if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.confirm", UserID: user}); err != nil {
			t.Fatalf("submit confirmation: %v", err)
		}
	}

	click(responder, e.secops, msg.TS, "finding.contain")
	e.wait(t, "the containment picker", func() bool {
		_, ok := ephemeralWith(responder, "containment.preview.snapshot-unshare")
		return ok
	})
	picker, _ := ephemeralWith(responder, "containment.preview.snapshot-unshare")
	if !strings.Contains(string(picker.Blocks), "containment.preview.iam-user-restrict-ip") {
		t.Error("the picker does not offer iam-user-restrict-ip for BackupManager")
	}
	click(responder, e.secops, picker.TS, "containment.preview.snapshot-unshare")
	e.wait(t, "the confirmation modal with the exact call", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "containment.confirm" && v.Open && strings.Contains(string(v.Blocks), "rds:ModifyDBSnapshotAttribute") {
				return true
			}
		}
		return false
	})
	submit(responder)
	e.wait(t, "the snapshot unshared in AWS", func() bool {
		s, _ := rds.Snapshot(payments, false, snapshot)
		return !slices.Contains(s.SharedWith, unknown)
	})
	resultWith := func(text string) (slackemu.Message, bool) {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.Contains(r.Text, text) && strings.Contains(string(r.Blocks), `"action_id":"containment.undo"`) {
				return r, true
			}
		}
		return slackemu.Message{}, false
	}
	e.wait(t, "the result with Undo in the thread", func() bool {
		_, ok := resultWith("Contained: Unshare the snapshot")
		return ok
	})
	e.wait(t, "the checklist's unshare step ticked", func() bool {
		return strings.Contains(checklist().Text, "1 of 8 steps done")
	})

	// An outsider cannot undo it.
	result, _ := resultWith("Contained: Unshare the snapshot")
	click(outsider, e.secops, result.TS, "containment.undo")
	e.wait(t, "the outsider's undo refused", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == outsider && strings.Contains(ep.Text, "Not allowed") {
				return true
			}
		}
		return false
	})
	if s, _ := rds.Snapshot(payments, false, snapshot); slices.Contains(s.SharedWith, unknown) {
		t.Fatal("the outsider's undo shared the snapshot again")
	}

	// /secops contain iam-user-restrict-ip BackupManager: a private
	// preview with Confirm…, which opens the modal.
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "contain iam-user-restrict-ip BackupManager", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the command's preview", func() bool {
		_, ok := ephemeralWith(responder, "containment.review")
		return ok
	})
	preview, _ := ephemeralWith(responder, "containment.review")
	if !strings.Contains(string(preview.Blocks), "iam:PutUserPolicy") || !strings.Contains(string(preview.Blocks), corp) {
		t.Errorf("preview does not show the policy call and the corporate range: %s", preview.Blocks)
	}

	// The responder loses the role between preview and confirmation: the
	// confirmation is refused at the moment of the action.
	api := slack.New("xoxb-test-bot", slack.OptionAPIURL(e.emu.APIURL()))
	groups, err := api.GetUserGroups()
	if err != nil {
		t.Fatal(err)
	}
	var responders slackemu.Usergroup
	for _, g := range groups {
		if g.Handle == "secops-responders" {
			responders = slackemu.Usergroup{ID: g.ID, Handle: g.Handle, Users: []string{responder, guest, foreign}}
		}
	}
	before := openConfirms()
	click(responder, e.secops, preview.TS, "containment.review")
	e.wait(t, "the confirmation modal", func() bool { return openConfirms() > before })
	e.emu.PutUsergroup(slackemu.Usergroup{ID: responders.ID, Handle: responders.Handle, Users: []string{guest, foreign}})
	clk.Advance(2 * time.Minute) // past the authorisation cache
	submit(responder)
	im := func() []slackemu.Message {
		ch, ok := e.emu.IMChannel(responder)
		if !ok {
			return nil
		}
		return e.emu.Messages(ch)
	}
	e.wait(t, "the refusal sent privately", func() bool {
		for _, m := range im() {
			if strings.Contains(m.Text, "Not allowed") {
				return true
			}
		}
		return false
	})
	if u, _ := iam.User(payments, "BackupManager"); len(u.Policies) != 0 {
		t.Fatalf("a refused confirmation changed BackupManager: %v", u.Policies)
	}

	// The role is back: confirm again.
	e.emu.PutUsergroup(responders)
	clk.Advance(2 * time.Minute)
	before = openConfirms()
	click(responder, e.secops, preview.TS, "containment.review")
	e.wait(t, "the confirmation modal again", func() bool { return openConfirms() > before })
	submit(responder)
	want := contain.RestrictIPPolicy([]string{corp}, nil)
	e.wait(t, "the exact deny policy on BackupManager", func() bool {
		u, _ := iam.User(payments, "BackupManager")
		return u.Policies[contain.RestrictIPPolicyName] == want
	})
	e.wait(t, "the IP lock's result with Undo in the thread", func() bool {
		_, ok := resultWith("Contained: Lock the user to the corporate network")
		return ok
	})
	e.wait(t, "the checklist's restrict step ticked", func() bool {
		return strings.Contains(checklist().Text, "2 of 8 steps done")
	})

	// The owning team's acknowledgement may come from any workspace
	// member; a guest may not tick steps.
	click(outsider, e.secops, checklist().TS, "playbook.done.team-ack")
	e.wait(t, "the team's acknowledgement ticked", func() bool {
		return strings.Contains(checklist().Text, "3 of 8 steps done") && strings.Contains(string(checklist().Blocks), outsider)
	})
	click(guest, e.secops, checklist().TS, "playbook.skip.review-resource")
	e.wait(t, "the guest's skip refused", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == guest && strings.Contains(ep.Text, "Not allowed") {
				return true
			}
		}
		return false
	})
	if strings.Contains(checklist().Text, "4 of 8") {
		t.Error("a guest skipped a step")
	}

	// A step's automation: the abuse report for the unknown account is
	// posted in the thread.
	click(responder, e.secops, checklist().TS, "playbook.run.abuse-report")
	e.wait(t, "the abuse report in the thread and the step ticked", func() bool {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.Contains(r.Text, unknown) && strings.Contains(r.Text, playbooks.AbuseFormURL) {
				return strings.Contains(checklist().Text, "4 of 8 steps done")
			}
		}
		return false
	})

	// Every preview and run is audited, the refusals too.
	stop()
	st, err := sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "containment."})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Action+" "+r.Result]++
	}
	for _, want := range []struct {
		key string
		n   int
	}{
		{"containment.preview ok", 2},
		{"containment.run ok", 2},
		{"containment.run refused", 1},
		{"containment.undo refused", 1},
	} {
		if seen[want.key] != want.n {
			t.Errorf("audit has %d %q, want %d (all: %v)", seen[want.key], want.key, want.n, seen)
		}
	}
	if n := seen["containment.undo ok"]; n != 0 {
		t.Errorf("audit has %d successful undos, want none", n)
	}
}

// TestReadmeListsContainmentPermissions keeps the README's IAM statement in
// step with the catalogue: a permission missing there breaks an action in
// every account set up from it.
func TestReadmeListsContainmentPermissions(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Containment")
	if !ok {
		t.Fatal("README has no Containment section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, p := range contain.New(nil, containment.Config{}, nil, contain.Options{}).RequiredPermissions() {
		if !strings.Contains(section, `"`+p+`"`) {
			t.Errorf("README's containment permissions lack %s", p)
		}
	}
}
