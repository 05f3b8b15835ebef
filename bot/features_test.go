package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/investigate"
	"github.com/secops-bot/secops-bot/respond/triage"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/memory"
)

// The people and places of the feature tests.
const (
	acme      = "T0ACME"
	responder = "U0RESPOND"
	approver  = "U0APPROVE"
	outsider  = "U0OUTSIDE" // a member of the workspace without a role
	secopsID  = "C0SECOPS"
	clickedTS = "1764212680.000100" // the message whose button is pressed
	findingID = "F-1A2B3C4D5E"
)

// said is one message the bot sent.
type said struct {
	how     string // "ephemeral", "dm" or "post"
	channel string
	user    string
	thread  string
	text    string
	blocks  string // the blocks as JSON
}

func (s said) shows(want string) bool {
	return strings.Contains(s.text, want) || strings.Contains(s.blocks, want)
}

// fakeSlack records what the features send, in place of Slack's Web API.
type fakeSlack struct {
	said    []said
	opened  []slack.ModalViewRequest
	updated []slack.ModalViewRequest
	// failEphemeral and failOpen make those calls fail, as Slack does for
	// a channel the bot is not in and for an expired trigger.
	failEphemeral, failOpen error
}

func blocksJSON(blks []slack.Block) string {
	if len(blks) == 0 {
		return ""
	}
	raw, err := json.Marshal(blks)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

func (f *fakeSlack) PostEphemeral(_ context.Context, channel, user, text string, blks []slack.Block) error {
	if f.failEphemeral != nil {
		return f.failEphemeral
	}
	f.said = append(f.said, said{how: "ephemeral", channel: channel, user: user, text: text, blocks: blocksJSON(blks)})
	return nil
}

func (f *fakeSlack) PostDM(_ context.Context, user, text string, blks []slack.Block) error {
	f.said = append(f.said, said{how: "dm", user: user, text: text, blocks: blocksJSON(blks)})
	return nil
}

func (f *fakeSlack) Post(_ context.Context, channel, threadTS, text string, blks []slack.Block) error {
	f.said = append(f.said, said{how: "post", channel: channel, thread: threadTS, text: text, blocks: blocksJSON(blks)})
	return nil
}

func (f *fakeSlack) OpenView(_ context.Context, trigger string, v slack.ModalViewRequest) (*slack.ViewResponse, error) {
	if f.failOpen != nil {
		return nil, f.failOpen
	}
	if trigger == "" {
		return nil, errors.New("invalid_trigger_id")
	}
	f.opened = append(f.opened, v)
	resp := &slack.ViewResponse{}
	resp.ID, resp.Hash = fmt.Sprintf("V%d", len(f.opened)), "hash-1"
	return resp, nil
}

func (f *fakeSlack) UpdateView(_ context.Context, v slack.ModalViewRequest, hash, viewID string) error {
	if hash == "" || viewID == "" {
		return errors.New("not_found")
	}
	f.updated = append(f.updated, v)
	return nil
}

// told returns what the user was told privately (ephemeral or DM).
func (f *fakeSlack) told(user string) []said {
	var out []said
	for _, s := range f.said {
		if s.user == user && s.how != "post" {
			out = append(out, s)
		}
	}
	return out
}

// fakeAuthz grants roles by user ID, as the authoriser would.
type fakeAuthz map[string][]authz.Role

func (a fakeAuthz) Check(_ context.Context, who authz.Actor, role authz.Role) (authz.Decision, error) {
	roles := a[who.UserID]
	if slices.Contains(roles, role) || slices.Contains(roles, authz.Admin) {
		return authz.Decision{Allowed: true, Roles: roles}, nil
	}
	return authz.Decision{Reason: "you do not hold the " + string(role) + " role"}, nil
}

// fakeStore keeps findings and audit records in memory, and the key-value
// space in the in-memory store.
type fakeStore struct {
	*memory.Store
	findings map[string]finding.Finding
	audits   []store.AuditRecord
}

var _ Store = (*fakeStore)(nil)

func (s *fakeStore) GetFinding(_ context.Context, id string) (finding.Finding, error) {
	f, ok := s.findings[id]
	if !ok {
		return finding.Finding{}, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
	}
	return f, nil
}

func (s *fakeStore) ListFindings(_ context.Context, ff store.FindingFilter) ([]finding.Finding, error) {
	var out []finding.Finding
	for _, f := range s.findings {
		if len(ff.Statuses) == 0 || slices.Contains(ff.Statuses, f.Status) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *fakeStore) AppendAudit(_ context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	r.Seq = int64(len(s.audits) + 1)
	s.audits = append(s.audits, r)
	return r, nil
}

func (s *fakeStore) PendingOutboxKeys(context.Context, string) ([]string, error) { return nil, nil }

// audited returns the audit records of an action, as "result actor target".
func (s *fakeStore) audited(action string) []string {
	var out []string
	for _, r := range s.audits {
		if r.Action == action {
			out = append(out, r.Result+" "+r.Actor+" "+r.Target)
		}
	}
	return out
}

// fakeTriage records the calls of the finding buttons and commands.
type fakeTriage struct {
	calls   []string
	err     error
	entry   *triage.AllowEntry
	entries []triage.AllowEntry
}

func (t *fakeTriage) Ack(_ context.Context, a authz.Actor, id, origin string) (finding.Finding, error) {
	t.calls = append(t.calls, fmt.Sprintf("ack %s by %s from %s", id, a.UserID, origin))
	return finding.Finding{ID: id}, t.err
}

func (t *fakeTriage) Resolve(_ context.Context, a authz.Actor, id, reason, origin string) (finding.Finding, error) {
	t.calls = append(t.calls, fmt.Sprintf("resolve %s by %s from %s: %s", id, a.UserID, origin, reason))
	return finding.Finding{ID: id}, t.err
}

func (t *fakeTriage) MarkExpected(_ context.Context, a authz.Actor, id, reason string, scope triage.Scope, origin string) (finding.Finding, error) {
	t.calls = append(t.calls, fmt.Sprintf("expected %s by %s from %s: %s (%s, for %v)", id, a.UserID, origin, reason, scope.Kind, scope.For))
	return finding.Finding{ID: id}, t.err
}

func (t *fakeTriage) RemoveExpected(_ context.Context, a authz.Actor, entryID, origin string) error {
	t.calls = append(t.calls, fmt.Sprintf("remove %s by %s from %s", entryID, a.UserID, origin))
	return t.err
}

func (t *fakeTriage) ListExpected(_ context.Context, a authz.Actor, origin string) ([]triage.AllowEntry, error) {
	t.calls = append(t.calls, fmt.Sprintf("list by %s from %s", a.UserID, origin))
	return t.entries, t.err
}

func (t *fakeTriage) Suppressed(context.Context, finding.Finding) (triage.AllowEntry, bool, error) {
	if t.entry == nil {
		return triage.AllowEntry{}, false, nil
	}
	return *t.entry, true, nil
}

// env is one feature (or several) on a router answering through the fake
// Slack: what the bot would do, without Slack, a socket or serve.
type env struct {
	t     *testing.T
	slack *fakeSlack
	store *fakeStore
	tri   *fakeTriage
	clock *clock.Fake
	kit   *kit
	woken int
	r     *Router
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir, err := org.New(org.Options{SecOps: org.TeamOptions{SlackChannel: "#secops"}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, slack: &fakeSlack{}, tri: &fakeTriage{}, clock: clock.NewFake(t0),
		store: &fakeStore{Store: memory.New(), findings: map[string]finding.Finding{}},
	}
	e.kit = &kit{
		Services: Services{
			Store: e.store, Triage: e.tri,
			Authz: fakeAuthz{responder: {authz.Responder}, approver: {authz.Approver}},
			Wake:  func() { e.woken++ },
		},
		threads: &threads{channels: map[string]string{"#secops": secopsID, secopsID: secopsID}, url: "https://acme.slack.com/", kv: e.store},
		org:     dir, clock: e.clock, log: zerolog.Nop(),
	}
	return e
}

// route puts the features on a new router; a route added twice fails the
// test.
func (e *env) route(fs ...feature) {
	e.t.Helper()
	e.r = newRouter(e.slack, zerolog.Nop())
	for _, f := range fs {
		f.Routes(e.r)
	}
	if err := e.r.Err(); err != nil {
		e.t.Fatal(err)
	}
}

// interact sends a Slack interaction payload through the router and runs
// what it routes to, one call after the other.
func (e *env) interact(payload string) int {
	e.t.Helper()
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		e.t.Fatalf("payload %s: %v", payload, err)
	}
	calls := e.r.interaction(cb)
	for _, c := range calls {
		c(context.Background())
	}
	return len(calls)
}

// press presses a button of the message clickedTS in #secops, as a message
// at the top of the channel.
func (e *env) press(user, actionID, value string) {
	e.t.Helper()
	e.interact(fmt.Sprintf(`{"type":"block_actions","user":{"id":%q,"team_id":%q},"team":{"id":%q},
		"channel":{"id":%q},"container":{"type":"message","message_ts":%q,"channel_id":%q},
		"message":{"ts":%q},"trigger_id":"trigger-1","actions":[{"type":"button","block_id":"b","action_id":%q,"value":%q}]}`,
		user, acme, acme, secopsID, clickedTS, secopsID, clickedTS, actionID, value))
}

// submit submits a modal with its state values (block → action → value).
func (e *env) submit(user, callbackID, metadata string, values map[string]map[string]string) {
	e.t.Helper()
	state := map[string]map[string]map[string]any{}
	for block, actions := range values {
		state[block] = map[string]map[string]any{}
		for action, v := range actions {
			state[block][action] = map[string]any{"type": "plain_text_input", "value": v}
		}
	}
	raw, _ := json.Marshal(state)
	e.interact(fmt.Sprintf(`{"type":"view_submission","user":{"id":%q,"team_id":%q},"team":{"id":%q},
		"view":{"id":"V0MODAL","callback_id":%q,"private_metadata":%q,"state":{"values":%s}}}`,
		user, acme, acme, callbackID, metadata, raw))
}

// command types /secops text in #secops and returns the acknowledgement's
// answer ("" for none); the work after it has run.
func (e *env) command(user, text string) string {
	e.t.Helper()
	ack, then := e.r.command(slack.SlashCommand{Command: "/secops", Text: text, UserID: user, TeamID: acme, ChannelID: secopsID, TriggerID: "trigger-1"})
	if then != nil {
		then(context.Background())
	}
	if ack == nil {
		return ""
	}
	raw, _ := json.Marshal(ack)
	return string(raw)
}

// lastTold is the last thing the user was told privately.
func (e *env) lastTold(user string) said {
	e.t.Helper()
	told := e.slack.told(user)
	if len(told) == 0 {
		e.t.Fatalf("%s was told nothing; the bot said %+v", user, e.slack.said)
	}
	return told[len(told)-1]
}

func (e *env) addFinding(f finding.Finding) { e.store.findings[f.ID] = f }

func openBucket() finding.Finding {
	return finding.Finding{
		ID: findingID, Key: "arn:aws:s3:::exports", Rule: "s3-bucket-public", Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		AccountID: "111122223333", Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: "exports", ARN: "arn:aws:s3:::exports"},
		Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:user/BackupManager"},
		OpenedAt: t0, FirstSeen: t0, LastSeen: t0, DetectedAt: t0, Routes: []string{"slack:#secops"}, Version: 1,
	}
}

func TestFindingButtonsAndCommands(t *testing.T) {
	refused := &triage.Error{Kind: triage.ErrForbidden, Msg: "you do not hold the responder role"}
	tests := []struct {
		name      string
		triageErr error
		act       func(e *env)
		call      string // the triage call, "" for none
		told      string // what the user is told privately, "" for nothing
		woken     bool
	}{
		{"Acknowledge button", nil, func(e *env) { e.press(responder, "finding.ack", findingID) },
			"ack F-1A2B3C4D5E by U0RESPOND from button C0SECOPS/" + clickedTS, "Acknowledged.", true},
		{"Acknowledge refused", refused, func(e *env) { e.press(outsider, "finding.ack", findingID) },
			"ack F-1A2B3C4D5E by U0OUTSIDE from button C0SECOPS/" + clickedTS, "Not allowed: you do not hold the responder role", false},
		{"Acknowledge fails", errors.New("database is locked"), func(e *env) { e.press(responder, "finding.ack", findingID) },
			"ack F-1A2B3C4D5E by U0RESPOND from button C0SECOPS/" + clickedTS, "Something went wrong; the action was not applied.", false},
		{"/secops ack", nil, func(e *env) { e.command(responder, "ack f-1a2b3c4d5e") },
			"ack F-1A2B3C4D5E by U0RESPOND from command in C0SECOPS", "Acknowledged F-1A2B3C4D5E.", true},
		{"/secops resolve", nil, func(e *env) { e.command(responder, "resolve F-1A2B3C4D5E bucket made private") },
			"resolve F-1A2B3C4D5E by U0RESPOND from command in C0SECOPS: bucket made private", "Resolved F-1A2B3C4D5E.", true},
		// A modal's result shows in the thread: success says nothing, a
		// refusal goes to a direct message (a modal has no channel).
		{"resolve form", nil, func(e *env) {
			e.submit(responder, "finding.resolve", findingID, map[string]map[string]string{"resolve.reason": {"reason": "made private"}})
		}, "resolve F-1A2B3C4D5E by U0RESPOND from modal V0MODAL: made private", "", true},
		{"resolve form refused", refused, func(e *env) {
			e.submit(outsider, "finding.resolve", findingID, map[string]map[string]string{"resolve.reason": {"reason": "made private"}})
		}, "resolve F-1A2B3C4D5E by U0OUTSIDE from modal V0MODAL: made private", "Not allowed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.route(findings{e.kit})
			e.tri.err = tc.triageErr
			tc.act(e)
			if got := strings.Join(e.tri.calls, "; "); got != tc.call {
				t.Errorf("triage calls %q, want %q", got, tc.call)
			}
			if tc.told == "" {
				if told := e.slack.told(responder); len(told) > 0 {
					t.Errorf("told %+v, want nothing", told)
				}
			} else {
				user := responder
				if strings.Contains(tc.call, outsider) {
					user = outsider
				}
				got := e.lastTold(user)
				if !got.shows(tc.told) {
					t.Errorf("told %q, want %q", got.text, tc.told)
				}
				if want := "ephemeral"; strings.Contains(tc.call, "from modal") {
					if got.how != "dm" {
						t.Errorf("the answer to a modal went by %s, want a direct message", got.how)
					}
				} else if got.how != want || got.channel != secopsID {
					t.Errorf("answered by %s in %q, want ephemeral in %s", got.how, got.channel, secopsID)
				}
			}
			if (e.woken > 0) != tc.woken {
				t.Errorf("outbox woken %d times, want woken %v", e.woken, tc.woken)
			}
		})
	}
}

// The Resolve… and Mark expected… buttons open their forms with the
// click's trigger; when the trigger has expired, the person is told how
// else to do it.
func TestFindingFormsOpen(t *testing.T) {
	e := newEnv(t)
	e.route(findings{e.kit})
	e.addFinding(openBucket())
	e.press(responder, "finding.resolve", findingID)
	e.press(responder, "finding.expected", findingID)
	if len(e.slack.opened) != 2 || e.slack.opened[0].CallbackID != "finding.resolve" || e.slack.opened[1].CallbackID != "finding.expected" {
		t.Fatalf("opened %+v, want the resolve and expected forms", e.slack.opened)
	}
	e.press(responder, "finding.expected", "F-0000000000")
	if got := e.lastTold(responder); got.text != "No such finding." {
		t.Errorf("expected form of an unknown finding: %q", got.text)
	}
	e.slack.failOpen = errors.New("expired_trigger_id")
	e.press(responder, "finding.resolve", findingID)
	if got := e.lastTold(responder); !strings.Contains(got.text, "use /secops resolve F-1A2B3C4D5E <reason>") {
		t.Errorf("told %q, want the command to use instead", got.text)
	}
}

// Removing an allowlist entry says so in the thread of the message the
// button is on, with the (forgeable) entry ID escaped.
func TestRemoveExpectedAnnouncesInTheThread(t *testing.T) {
	e := newEnv(t)
	e.route(findings{e.kit})
	e.interact(fmt.Sprintf(`{"type":"block_actions","user":{"id":%q,"team_id":%q},"team":{"id":%q},"channel":{"id":%q},
		"container":{"type":"message","message_ts":"1764212690.000200","channel_id":%q,"thread_ts":%q},
		"message":{"ts":"1764212690.000200","thread_ts":%q},"actions":[{"type":"button","block_id":"b","action_id":"expected.remove","value":"<!channel>"}]}`,
		responder, acme, acme, secopsID, secopsID, clickedTS, clickedTS))
	var posts []said
	for _, s := range e.slack.said {
		if s.how == "post" {
			posts = append(posts, s)
		}
	}
	if len(posts) != 1 || posts[0].channel != secopsID || posts[0].thread != clickedTS {
		t.Fatalf("posts %+v, want one in the thread %s", posts, clickedTS)
	}
	if strings.Contains(posts[0].text, "<!channel>") || !strings.Contains(posts[0].text, "&lt;!channel&gt;") {
		t.Errorf("announcement %q does not escape the entry ID", posts[0].text)
	}
	if got := e.lastTold(responder); !strings.Contains(got.text, "Allowlist entry removed") {
		t.Errorf("told %q", got.text)
	}
}

// /secops findings is for responders: a refusal is told and audited; a
// listing links each finding to its thread and is audited too.
func TestFindingsList(t *testing.T) {
	e := newEnv(t)
	e.route(findings{e.kit})
	f := openBucket()
	e.addFinding(f)
	if err := e.store.PutKV(context.Background(), nsMessage, refKey(f.ID, secopsID), []byte(clickedTS)); err != nil {
		t.Fatal(err)
	}

	e.command(outsider, "findings")
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" || got.blocks != "" {
		t.Errorf("outsider told %q %s", got.text, got.blocks)
	}
	e.command(responder, "findings all")
	got := e.lastTold(responder)
	if !got.shows("1 finding") || !got.shows("https://acme.slack.com/archives/C0SECOPS/p1764212680000100") {
		t.Errorf("list %q lacks the finding or its thread link: %s", got.text, got.blocks)
	}
	if !got.shows("Last 30 days") {
		t.Errorf("list lacks the times summary: %s", got.blocks)
	}
	want := []string{"refused U0OUTSIDE@T0ACME ", "ok U0RESPOND@T0ACME "}
	if a := e.store.audited("command.findings"); !slices.Equal(a, want) {
		t.Errorf("audit %q, want %q", a, want)
	}
}

// fakeInvestigator answers with a report, or fails.
type fakeInvestigator struct {
	asked []investigate.Query
	err   error
}

func (f *fakeInvestigator) Investigate(_ context.Context, q investigate.Query) (investigate.Report, error) {
	f.asked = append(f.asked, q)
	return investigate.Report{Total: 3}, f.err
}

func TestInvestigation(t *testing.T) {
	e := newEnv(t)
	inv := &fakeInvestigator{}
	e.kit.Investigator = inv
	e.route(investigation{e.kit})
	e.addFinding(openBucket())

	e.command(outsider, "investigate BackupManager")
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" {
		t.Errorf("outsider told %q", got.text)
	}
	if len(inv.asked) != 0 {
		t.Fatalf("investigated for an outsider: %+v", inv.asked)
	}

	e.command(responder, "investigate BackupManager")
	e.press(responder, "finding.investigate", findingID)
	if len(inv.asked) != 2 {
		t.Fatalf("asked %+v, want the command and the button", inv.asked)
	}
	if q := inv.asked[0]; q.Value != "BackupManager" || q.Since != commands.DefaultSince {
		t.Errorf("command asked %+v, want BackupManager over the default window", q)
	}
	if q := inv.asked[1]; q.Value != "arn:aws:iam::111122223333:user/BackupManager" || q.Kind != commands.TargetARN {
		t.Errorf("button asked %+v, want the finding's actor", q)
	}
	want := []string{"refused U0OUTSIDE@T0ACME BackupManager", "ok U0RESPOND@T0ACME BackupManager", "ok U0RESPOND@T0ACME arn:aws:iam::111122223333:user/BackupManager"}
	if a := e.store.audited("investigate"); !slices.Equal(a, want) {
		t.Errorf("audit %q, want %q", a, want)
	}

	// What an error says is escaped: it may quote what was typed.
	inv.err = errors.New("no events for <!here>")
	e.command(responder, "investigate BackupManager")
	if got := e.lastTold(responder); strings.Contains(got.text, "<!here>") || !strings.Contains(got.text, "&lt;!here&gt;") {
		t.Errorf("error told as %q", got.text)
	}
}

// Paging on-call from a report posts in the SecOps channel, for
// responders only; the Contain hint escapes the button's value.
func TestInvestigationButtons(t *testing.T) {
	e := newEnv(t)
	e.route(investigation{e.kit})

	e.press(outsider, "investigate.page", "BackupManager")
	e.press(responder, "investigate.page", "BackupManager")
	var posts []said
	for _, s := range e.slack.said {
		if s.how == "post" {
			posts = append(posts, s)
		}
	}
	if len(posts) != 1 || posts[0].channel != secopsID || !strings.Contains(posts[0].text, "<@U0RESPOND> is paging on-call about `BackupManager`") {
		t.Errorf("posts %+v, want one page by the responder in #secops", posts)
	}
	want := []string{"refused U0OUTSIDE@T0ACME BackupManager", "ok U0RESPOND@T0ACME BackupManager"}
	if a := e.store.audited("investigate.page"); !slices.Equal(a, want) {
		t.Errorf("audit %q, want %q", a, want)
	}

	e.press(responder, "investigate.contain", "x` <!channel>")
	if got := e.lastTold(responder); strings.Contains(got.text, "<!channel>") || !strings.Contains(got.text, "/secops contain iam-user-restrict-ip x") {
		t.Errorf("contain hint %q", got.text)
	}
}

// The first responder to close an exposure review is recorded; a second
// press says who did, and an outsider is refused.
func TestExposureReview(t *testing.T) {
	e := newEnv(t)
	e.route(review{kit: e.kit})
	e.addFinding(openBucket())

	e.press(outsider, "finding.review", findingID)
	e.press(responder, "finding.review", findingID)
	e.clock.Advance(time.Hour)
	e.press(approver, "finding.review", findingID) // approvers are not responders
	e.kit.Authz = fakeAuthz{responder: {authz.Responder}, "U0OTHER": {authz.Responder}}
	e.press("U0OTHER", "finding.review", findingID)

	if got := e.lastTold("U0OTHER"); got.text != "The exposure review of F-1A2B3C4D5E was already closed (U0RESPOND 2026-11-26 14:21 UTC)." {
		t.Errorf("second reviewer told %q", got.text)
	}
	var posts []string
	for _, s := range e.slack.said {
		if s.how == "post" {
			posts = append(posts, s.channel+"/"+s.thread+": "+s.text)
		}
	}
	if want := []string{"C0SECOPS/" + clickedTS + ": :white_check_mark: Exposure review of F-1A2B3C4D5E closed by <@U0RESPOND>."}; !slices.Equal(posts, want) {
		t.Errorf("posts %q, want %q", posts, want)
	}
	want := []string{"refused U0OUTSIDE@T0ACME F-1A2B3C4D5E", "ok U0RESPOND@T0ACME F-1A2B3C4D5E", "refused U0APPROVE@T0ACME F-1A2B3C4D5E", "noop U0OTHER@T0ACME F-1A2B3C4D5E"}
	if a := e.store.audited("finding.review"); !slices.Equal(a, want) {
		t.Errorf("audit %q, want %q", a, want)
	}
}

// Help answers in the acknowledgement, from the parser's table, with only
// the sub-commands this deployment routes; help on one sub-command says
// when it is not enabled.
func TestHelp(t *testing.T) {
	e := newEnv(t)
	e.route(help{enabled: func() []commands.Kind { return e.r.Commands() }}, findings{e.kit}, investigation{e.kit}, &contain{kit: e.kit})

	overview := e.command(responder, "help")
	for _, k := range commands.Kinds() {
		want := k != commands.BreakGlass && k != commands.Contain && k != commands.Audit && k != commands.OnCall
		if got := strings.Contains(overview, "/secops "+k.String()); got != want {
			t.Errorf("help lists %s: %v, want %v", k, got, want)
		}
	}
	if topic := e.command(responder, "help breakglass"); !strings.Contains(topic, "Not enabled in this deployment") || !strings.Contains(topic, "/secops breakglass prod 30m") {
		t.Errorf("help breakglass: %s", topic)
	}
	if topic := e.command(responder, "help ack"); strings.Contains(topic, "Not enabled") || !strings.Contains(topic, "acknowledge") {
		t.Errorf("help ack: %s", topic)
	}
	if bad := e.command(responder, "help frobnicate"); !strings.Contains(bad, `no sub-command \"frobnicate\"`) {
		t.Errorf("help frobnicate: %s", bad)
	}
	if len(e.slack.said) != 0 {
		t.Errorf("help sent messages %+v; it answers in the acknowledgement", e.slack.said)
	}
}
