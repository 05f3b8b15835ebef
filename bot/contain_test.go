package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// fakeProvider unshares a snapshot, the one action it offers. changes are
// what changed in the snapshot since the run, as the provider would tell.
type fakeProvider struct {
	applied, undone int
	changes         []string
}

func (p *fakeProvider) Catalogue() []containment.Action {
	return []containment.Action{{ID: containment.SnapshotUnshare, Title: "Unshare the snapshot", Fit: containment.FitSnapshot}}
}

func (p *fakeProvider) Preview(_ context.Context, action string, t containment.Target) (containment.Plan, error) {
	return containment.Plan{Action: action, Target: t, Before: json.RawMessage(`["444455556666"]`),
		Calls: []containment.Call{{API: "rds:ModifyDBSnapshotAttribute"}}}, nil
}

func (p *fakeProvider) Apply(_ context.Context, r containment.Record) (containment.Outcome, error) {
	p.applied++
	return containment.Outcome{Calls: r.Plan.Calls, Before: r.Plan.Before, After: json.RawMessage(`[]`), Changed: true, Summary: "unshared"}, nil
}

func (p *fakeProvider) PreviewUndo(context.Context, containment.Record) (containment.UndoPlan, error) {
	current := json.RawMessage(fmt.Sprintf("%q", p.changes))
	return containment.UndoPlan{Changes: p.changes, State: containment.Fingerprint(current), Current: current,
		Calls: []containment.Call{{API: "rds:ModifyDBSnapshotAttribute", Params: []containment.Param{{Name: "ValuesToAdd", Value: "444455556666"}}}}}, nil
}

func (p *fakeProvider) Undo(ctx context.Context, r containment.Record, _, state string) (containment.Outcome, error) {
	plan, _ := p.PreviewUndo(ctx, r)
	if plan.Drifted() && plan.State != state {
		return containment.Outcome{}, &containment.DriftError{Plan: plan}
	}
	p.undone++
	return containment.Outcome{Changed: true, Summary: "shared again"}, nil
}

// sharedSnapshot is a finding the snapshot action fits, posted in #secops.
func sharedSnapshot() finding.Finding {
	arn := "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers"
	return finding.Finding{
		ID: findingID, Key: arn, Rule: "snapshot-shared-external", Severity: finding.SeverityCritical, Status: finding.StatusOpen,
		AccountID: "111122223333", Region: "eu-central-1",
		Resource: finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod-customers", ARN: arn},
		Targets:  []finding.Target{{Account: "444455556666", Class: finding.TargetUnknown}},
		OpenedAt: t0, FirstSeen: t0, Routes: []string{"slack:#secops"}, Version: 1,
	}
}

// Without containment, the Contain… button says so, to responders only.
func TestContainOff(t *testing.T) {
	e := newEnv(t)
	e.route(&contain{kit: e.kit})
	e.press(outsider, "finding.contain", findingID)
	e.press(responder, "finding.contain", findingID)
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" {
		t.Errorf("outsider told %q", got.text)
	}
	if got := e.lastTold(responder); got.text != "No containment actions are enabled in this deployment." {
		t.Errorf("responder told %q", got.text)
	}
	if a := e.store.audited("finding.contain"); !slices.Equal(a, []string{"refused U0OUTSIDE@T0ACME F-1A2B3C4D5E"}) {
		t.Errorf("audit %q", a)
	}
	if cmds := e.r.Commands(); slices.Contains(cmds, commands.Contain) {
		t.Errorf("/secops contain routed without containment: %v", cmds)
	}
}

func newContainEnv(t *testing.T) (*env, *fakeProvider) {
	t.Helper()
	e := newEnv(t)
	p := &fakeProvider{}
	svc := containment.New(p, e.store, e.kit.Authz, e.clock, zerolog.Nop())
	e.route(&contain{kit: e.kit, svc: svc})
	f := sharedSnapshot()
	e.addFinding(f)
	if err := e.store.PutKV(context.Background(), nsMessage, refKey(f.ID, secopsID), []byte(clickedTS)); err != nil {
		t.Fatal(err)
	}
	return e, p
}

// The picker, the preview in a modal, the confirmation and the result in
// the finding's thread, with Undo.
func TestContainFromTheFinding(t *testing.T) {
	e, p := newContainEnv(t)

	e.press(responder, "finding.contain", findingID)
	if got := e.lastTold(responder); !got.shows(`"action_id":"containment.preview.snapshot-unshare"`) {
		t.Fatalf("picker %q lacks the snapshot action: %s", got.text, got.blocks)
	}

	// The modal opens before AWS is read (the trigger lives three
	// seconds), and is replaced by the confirmation.
	e.press(responder, "containment.preview.snapshot-unshare", findingID)
	if len(e.slack.opened) != 1 || e.slack.opened[0].CallbackID != callbackContainWait {
		t.Fatalf("opened %+v, want the waiting modal", e.slack.opened)
	}
	if len(e.slack.updated) != 1 || e.slack.updated[0].CallbackID != "containment.confirm" {
		t.Fatalf("updated to %+v, want the confirmation", e.slack.updated)
	}
	recordID := e.slack.updated[0].PrivateMetadata
	if p.applied != 0 {
		t.Fatal("the preview ran the action")
	}

	e.submit(responder, "containment.confirm", recordID, nil)
	if p.applied != 1 {
		t.Fatalf("applied %d times, want once", p.applied)
	}
	var results []said
	for _, s := range e.slack.said {
		if s.how == "post" {
			results = append(results, s)
		}
	}
	if len(results) != 1 || results[0].channel != secopsID || results[0].thread != clickedTS || !results[0].shows(`"action_id":"containment.undo"`) {
		t.Errorf("results %+v, want one in the finding's thread with Undo", results)
	}
}

func TestContainRefusalsAndMistakes(t *testing.T) {
	e, p := newContainEnv(t)

	// An action the deployment does not have is ignored, as a button
	// nobody routes is.
	e.press(responder, "containment.preview.drop-database", findingID)
	if len(e.slack.opened)+len(e.slack.said) != 0 {
		t.Errorf("an unknown action did something: %+v %+v", e.slack.opened, e.slack.said)
	}

	// The Confirm… button of a command's preview is checked before the
	// plan is shown.
	e.press(outsider, "containment.review", "CR-forged")
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" {
		t.Errorf("outsider told %q", got.text)
	}
	if a := e.store.audited("containment.review"); !slices.Equal(a, []string{"refused U0OUTSIDE@T0ACME CR-forged"}) {
		t.Errorf("audit %q", a)
	}

	// A mistyped action is answered with the ones there are.
	e.command(responder, "contain drop-database arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers")
	if got := e.lastTold(responder); got.text != "`drop-database` is not a containment action. Available: `snapshot-unshare`." {
		t.Errorf("told %q", got.text)
	}

	// With the trigger expired, the preview comes privately with a
	// Confirm… button, and nothing runs.
	e.slack.failOpen = errors.New("expired_trigger_id")
	e.press(responder, "containment.preview.snapshot-unshare", findingID)
	if got := e.lastTold(responder); !strings.HasPrefix(got.text, "Preview: Unshare the snapshot") || !got.shows(`"action_id":"containment.review"`) {
		t.Errorf("told %q %s", got.text, got.blocks)
	}
	if p.applied != 0 {
		t.Error("a preview ran the action")
	}
}

// applied runs the snapshot action from the finding and returns its record.
func (e *env) applied(t *testing.T) string {
	t.Helper()
	e.press(responder, "containment.preview.snapshot-unshare", findingID)
	if len(e.slack.updated) == 0 {
		t.Fatal("no confirmation")
	}
	id := e.slack.updated[len(e.slack.updated)-1].PrivateMetadata
	e.submit(responder, "containment.confirm", id, nil)
	return id
}

// Undo of a target nobody changed since the run happens at once, with no
// modal; its result goes to the finding's thread.
func TestUndoAtOnceWhenUnchanged(t *testing.T) {
	e, p := newContainEnv(t)
	id := e.applied(t)
	opened := len(e.slack.opened)
	e.press(responder, "containment.undo", id)
	if p.undone != 1 || len(e.slack.opened) != opened {
		t.Fatalf("undone %d times with %d modal(s) opened; want once, at once", p.undone, len(e.slack.opened)-opened)
	}
	last := e.slack.said[len(e.slack.said)-1]
	if last.how != "post" || last.thread != clickedTS || !strings.HasPrefix(last.text, "Undone:") {
		t.Errorf("last said %+v, want the undo in the finding's thread", last)
	}
}

// Undo of a target changed since the run undoes nothing and shows the
// changes in a modal; its submission undoes, for that state. With the
// trigger expired, the changes come privately with a button that opens the
// modal.
func TestUndoAfterChangesAsksFirst(t *testing.T) {
	e, p := newContainEnv(t)
	id := e.applied(t)
	p.changes = []string{"shared with 777788889999 after the run"}

	e.press(responder, "containment.undo", id)
	if p.undone != 0 {
		t.Fatal("undone before the changes were confirmed")
	}
	modal := e.slack.opened[len(e.slack.opened)-1]
	raw, _ := json.Marshal(modal)
	if modal.CallbackID != blocks.CallbackContainUndo || !strings.Contains(string(raw), "777788889999") || !strings.Contains(string(raw), "ValuesToAdd") {
		t.Fatalf("opened %s, want the undo confirmation with the change and the calls", raw)
	}

	// The same again, with the trigger expired: a private answer, whose
	// button opens the modal.
	e.slack.failOpen = errors.New("expired_trigger_id")
	e.press(responder, "containment.undo", id)
	if got := e.lastTold(responder); !got.shows("777788889999") || !got.shows(`"action_id":"containment.undo_review"`) {
		t.Fatalf("told %q %s, want the changes and Review and undo…", got.text, got.blocks)
	}
	e.slack.failOpen = nil
	e.press(outsider, "containment.undo_review", id)
	if got := e.lastTold(outsider); got.text != "Not allowed: you do not hold the responder role" {
		t.Errorf("outsider told %q", got.text)
	}
	opened := len(e.slack.opened)
	e.press(responder, "containment.undo_review", id)
	if len(e.slack.opened) != opened+1 || e.slack.opened[opened].CallbackID != blocks.CallbackContainUndo {
		t.Fatalf("Review and undo… opened %+v", e.slack.opened[opened:])
	}

	// A forged state is refused; the one shown undoes.
	e.submit(responder, blocks.CallbackContainUndo, id+"|0000000000000000", nil)
	if p.undone != 0 {
		t.Fatal("a confirmation of another state undid the containment")
	}
	e.submit(responder, blocks.CallbackContainUndo, e.slack.opened[opened].PrivateMetadata, nil)
	if p.undone != 1 {
		t.Fatalf("undone %d times after the confirmation, want once", p.undone)
	}
	last := e.slack.said[len(e.slack.said)-1]
	if last.how != "post" || !strings.HasPrefix(last.text, "Undone:") {
		t.Errorf("last said %+v, want the undo in the finding's thread", last)
	}
}

// fakeUsers is Slack's users.info.
type fakeUsers map[string]authz.User

func (f fakeUsers) User(_ context.Context, id string) (authz.User, error) {
	u, ok := f[id]
	if !ok {
		return authz.User{}, fmt.Errorf("users.info %s: %w", id, authz.ErrUnknownUser)
	}
	return u, nil
}

// Team steps of a checklist may be ticked by any full member of the
// workspace, and by nobody else; every refusal is audited. A malformed
// button is ignored.
func TestChecklistMembersOnly(t *testing.T) {
	tests := []struct {
		name string
		user string
		team string
		want string
	}{
		{"Slack Connect user", "U0PARTNER", "T0PARTNER", "only members of this workspace may act here"},
		{"guest", "U0GUEST", acme, "guests, bots and deactivated accounts may not tick playbook steps"},
		{"deactivated", "U0GONE", acme, "guests, bots and deactivated accounts may not tick playbook steps"},
		{"unknown to Slack", "U0NOBODY", acme, "your Slack account could not be looked up; try again in a minute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			users := fakeUsers{
				"U0GUEST": {Actor: authz.Actor{UserID: "U0GUEST", TeamID: acme}, Restricted: true},
				"U0GONE":  {Actor: authz.Actor{UserID: "U0GONE", TeamID: acme}, Deleted: true},
			}
			// The runner is never reached: a zero runner would fail.
			e.route(&checklist{kit: e.kit, runner: &playbooks.Runner{}, teamID: acme, users: users})
			e.interact(fmt.Sprintf(`{"type":"block_actions","user":{"id":%q,"team_id":%q},"team":{"id":%q},"channel":{"id":%q},
				"container":{"type":"message","message_ts":"2.2","channel_id":%q,"thread_ts":%q},
				"actions":[{"type":"button","block_id":"b","action_id":"playbook.done.team-ack","value":"run-1/team-ack"}]}`,
				tc.user, tc.team, acme, secopsID, secopsID, clickedTS))
			if got := e.lastTold(tc.user); got.text != "Not allowed: "+tc.want {
				t.Errorf("told %q", got.text)
			}
			if a := e.store.audited(playbooks.AuditStep); !slices.Equal(a, []string{"refused " + tc.user + "@" + tc.team + " run-1/team-ack"}) {
				t.Errorf("audit %q", a)
			}
		})
	}

	e := newEnv(t)
	e.route(&checklist{kit: e.kit, runner: &playbooks.Runner{}, teamID: acme, users: fakeUsers{}})
	e.press(responder, "playbook.done.team-ack", "run-1/another-step")
	e.press(responder, "playbook.run", "run-1/x")
	if len(e.slack.said)+len(e.store.audits) != 0 {
		t.Errorf("malformed buttons did something: %+v %+v", e.slack.said, e.store.audits)
	}
}
