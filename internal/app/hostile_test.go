package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
)

// answered is how many private answers (ephemerals, direct messages)
// user had, to look only at later ones.
type answered struct{ ephemerals, dms int }

func (e *matrixEnv) answers(user string) ([]string, []string) {
	var eps, dms []string
	for _, ep := range e.emu.Ephemerals() {
		if ep.User == user {
			eps = append(eps, ep.Text)
		}
	}
	for _, m := range e.dms(user) {
		dms = append(dms, m.Text)
	}
	return eps, dms
}

func (e *matrixEnv) mark(user string) answered {
	eps, dms := e.answers(user)
	return answered{len(eps), len(dms)}
}

// told waits for a private answer to user after mark containing substr,
// in any case.
func (e *matrixEnv) told(t *testing.T, user, substr string, m answered) {
	t.Helper()
	newer := func() []string {
		eps, dms := e.answers(user)
		return append(eps[min(m.ephemerals, len(eps)):], dms[min(m.dms, len(dms)):]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.emu.Wait(ctx, func() bool {
		for _, a := range newer() {
			if strings.Contains(strings.ToLower(a), strings.ToLower(substr)) {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s was not told %q; new answers: %q", user, substr, newer())
	}
}

func (e *matrixEnv) status(t *testing.T, id string) string {
	t.Helper()
	f, err := e.st.GetFinding(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(f.Status)
}

// auditCount counts records by action and result, whoever the actor.
func (e *matrixEnv) auditCount(t *testing.T, action, result string) int {
	t.Helper()
	recs, err := e.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: action})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Action == action && r.Result == result {
			n++
		}
	}
	return n
}

// replayLast sends the payload of the newest envelope again, in a new
// envelope: a double submission, a client retry or a replay by someone
// who captured it.
func (e *matrixEnv) replayLast(t *testing.T) {
	t.Helper()
	envs := e.emu.Envelopes()
	last := envs[len(envs)-1]
	if _, err := e.emu.SendEnvelope(context.Background(), last.Type, json.RawMessage(last.Payload)); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

// TestHostilePayloads sends what a modified client or a replaying attacker
// could: button values and private_metadata that point elsewhere or are
// garbage, the same payload twice, and actions on things that do not
// exist. The value of a button and a modal's metadata are only pointers:
// who acts is the user Slack attached, checked again at the moment of the
// action, and a duplicate takes effect once.
func TestHostilePayloads(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drives the whole bot")
	}
	e := newMatrixEnv(t, 6)
	a, b, c := e.fresh(t), e.fresh(t), e.fresh(t)

	t.Run("forged button values", func(t *testing.T) {
		tests := []struct {
			name, user, value, want string
		}{
			{"a user ID instead of a finding", outsider, responder, "Not allowed"},
			{"a user and a finding in JSON", outsider, `{"user":"` + responder + `","finding":"` + b.id + `"}`, "Not allowed"},
			{"another finding's ID", outsider, b.id, "Not allowed"},
			{"garbage from a responder", responder, "F-ZZZZZZZZZZ'; DROP TABLE findings;--", "no finding"},
			{"an oversized value", responder, strings.Repeat("F", 2000), "no finding"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				after, n := e.lastSeq(t), e.mark(tc.user)
				e.click(t, tc.user, e.secops, a.ts, "finding.ack", tc.value)
				e.told(t, tc.user, tc.want, n)
				rec := e.awaitAudit(t, after, tc.user, "finding.ack")
				if rec.Result == "ok" {
					t.Fatalf("a forged value was acted on: %+v", rec)
				}
				if len(rec.Target) > 80 {
					t.Errorf("audit target kept %d bytes of the forged value", len(rec.Target))
				}
			})
		}
		for _, f := range []matrixFinding{a, b} {
			if s := e.status(t, f.id); s != "open" {
				t.Errorf("finding %s is %s after forged clicks, want open", f.id, s)
			}
		}
	})

	t.Run("forged private_metadata", func(t *testing.T) {
		// An outsider submits the resolve form with another finding's ID.
		after, n := e.lastSeq(t), e.mark(outsider)
		e.forgeSubmission(t, outsider, "finding.resolve", b.id, map[string]map[string]any{
			"resolve.reason": {"reason": map[string]any{"type": "plain_text_input", "value": "not mine"}},
		})
		if rec := e.awaitAudit(t, after, outsider, "finding.resolve"); rec.Result != "refused" {
			t.Fatalf("forged resolve by an outsider: %s", rec.Result)
		}
		e.told(t, outsider, "Not allowed", n)
		// A responder's form with garbage metadata gets a clear answer.
		n = e.mark(responder)
		e.forgeSubmission(t, responder, "finding.resolve", "../../etc/passwd", map[string]map[string]any{
			"resolve.reason": {"reason": map[string]any{"type": "plain_text_input", "value": "x"}},
		})
		e.told(t, responder, "no finding", n)
		n = e.mark(responder)
		e.forgeSubmission(t, responder, "finding.resolve", "", nil)
		e.told(t, responder, "The resolve form was incomplete", n)
		n = e.mark(responder)
		// A containment confirmation pointing at no record.
		e.forgeSubmission(t, responder, "containment.confirm", "ctr-does-not-exist", nil)
		e.told(t, responder, "Containment:", n)
		// A deny form for a real request, from a responder who is no
		// approver.
		req := e.bgRequest(t, responder)
		id := buttonValue(t, req, "breakglass.approve")
		after = e.lastSeq(t)
		e.forgeSubmission(t, responder, "breakglass.deny", id, map[string]map[string]any{
			"breakglass.deny_reason": {"reason": map[string]any{"type": "plain_text_input", "value": "no"}},
		})
		if rec := e.awaitAudit(t, after, responder, "breakglass.deny"); rec.Result != "refused" {
			t.Fatalf("forged deny by the requester: %s", rec.Result)
		}
		if cur, _ := e.emu.Message(e.approvals, req.TS); !strings.Contains(string(cur.Blocks), `"action_id":"breakglass.approve"`) {
			t.Fatal("a refused deny changed the request")
		}
		if s := e.status(t, b.id); s != "open" {
			t.Errorf("finding %s is %s after forged submissions, want open", b.id, s)
		}
	})

	t.Run("forged Confirm… of someone else's preview", func(t *testing.T) {
		e.command(t, responder, "contain iam-user-restrict-ip BackupManager")
		var ep slackemu.Ephemeral
		e.wait(t, "the preview", func() bool {
			var ok bool
			ep, ok = e.ephemeralWith(responder, "containment.review")
			return ok
		})
		rec := buttonValueOf(t, ep.Blocks, "containment.review")
		views := e.viewIDs()
		after := e.lastSeq(t)
		payload := map[string]any{
			"type": "block_actions", "team": map[string]any{"id": "T0WORKSPACE"},
			"user":       map[string]any{"id": outsider, "team_id": "T0WORKSPACE"},
			"channel":    map[string]any{"id": e.secops},
			"container":  map[string]any{"type": "message", "channel_id": e.secops, "message_ts": ep.TS, "is_ephemeral": true},
			"trigger_id": e.emu.IssueTrigger(outsider),
			"actions":    []any{map[string]any{"type": "button", "action_id": "containment.review", "block_id": "containment.review", "value": rec}},
		}
		if _, err := e.emu.SendEnvelope(context.Background(), slackemu.EnvelopeInteractive, payload); err != nil {
			t.Fatal(err)
		}
		if r := e.awaitAudit(t, after, outsider, "containment.review"); r.Result != "refused" {
			t.Fatalf("forged Confirm… by an outsider: %s", r.Result)
		}
		for _, v := range e.emu.Views() {
			if !views[v.ID] && v.UserID == outsider {
				t.Fatalf("the outsider was shown the plan in modal %s", v.CallbackID)
			}
		}
	})

	t.Run("duplicated payloads take effect once", func(t *testing.T) {
		n := e.mark(responder)
		e.click(t, responder, e.secops, c.ts, "finding.ack", "")
		e.replayLast(t)
		e.told(t, responder, "already", n)
		// The winner's audit record may land just after the loser's reply.
		e.wait(t, "the acknowledgement audited", func() bool { return e.auditCount(t, "finding.ack", "ok") >= 1 })
		if n := e.auditCount(t, "finding.ack", "ok"); n != 1 {
			t.Errorf("%d successful acknowledgements, want 1", n)
		}
		acks := func() int {
			n := 0
			for _, r := range e.emu.Replies(e.secops, c.ts) {
				if strings.Contains(r.Text, "Acknowledged by") {
					n++
				}
			}
			return n
		}
		e.wait(t, "the acknowledgement in the thread", func() bool { return acks() >= 1 })
		// Give a second reply every chance to be posted before counting.
		time.Sleep(500 * time.Millisecond)
		if acks := acks(); acks != 1 {
			t.Errorf("%d acknowledgement replies in the thread, want 1", acks)
		}

		req := e.bgRequest(t, responder)
		before := e.auditCount(t, "breakglass.grant", "ok")
		n = e.mark(manager)
		e.click(t, manager, e.approvals, req.TS, "breakglass.approve", "")
		e.replayLast(t)
		e.told(t, manager, "already approved", n)
		e.wait(t, "the request active", func() bool {
			cur, _ := e.emu.Message(e.approvals, req.TS)
			return strings.Contains(cur.Text, "Break-glass active")
		})
		if n := e.auditCount(t, "breakglass.grant", "ok") - before; n != 1 {
			t.Errorf("%d grants after a duplicated approval, want 1", n)
		}

		after := e.lastSeq(t)
		e.click(t, responder, e.secops, c.checklistTS, "playbook.done.review-resource", "")
		e.replayLast(t)
		e.awaitAudit(t, after, responder, "playbook.step.done")
		e.wait(t, "the checklist ticked", func() bool {
			cur, _ := e.emu.Message(e.secops, c.checklistTS)
			return strings.Contains(cur.Text, "1 of 8 steps done")
		})
		// Give a second tick every chance to land before counting.
		n = e.mark(responder)
		e.command(t, responder, "findings")
		e.told(t, responder, "", n)
		recs, err := e.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "playbook.step.done"})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range recs {
			if r.Seq > after {
				done++
			}
		}
		if done != 1 {
			t.Errorf("%d step completions after a duplicated click, want 1", done)
		}
	})

	t.Run("actions on things that do not exist", func(t *testing.T) {
		tests := []struct {
			name string
			act  func(t *testing.T)
			user string
			want string
		}{
			{"/secops ack of an unknown finding", func(t *testing.T) { e.command(t, responder, "ack F-0000000000") }, responder, "no finding F-0000000000"},
			{"approve of an unknown request", func(t *testing.T) {
				req := e.bgRequest(t, responder)
				e.click(t, manager, e.approvals, req.TS, "breakglass.approve", "BG-NOPE")
			}, manager, "No such break-glass request"},
			{"revoke of an unknown request", func(t *testing.T) {
				req := e.bgActive(t)
				e.click(t, adminUser, e.approvals, req.TS, "breakglass.revoke", "BG-NOPE")
			}, adminUser, "No such break-glass request"},
			{"playbook step of an unknown run", func(t *testing.T) {
				e.click(t, responder, e.secops, c.checklistTS, "playbook.done.team-ack", "run-nope/team-ack")
			}, responder, "no longer exists"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n := e.mark(tc.user)
				tc.act(t)
				e.told(t, tc.user, tc.want, n)
			})
		}
		// The bot still answers.
		ack, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: "help", UserID: responder, ChannelID: e.secops})
		if err != nil || !strings.Contains(string(ack.Payload), "/secops findings") {
			t.Fatalf("help after hostile input: %s, %v", ack.Payload, err)
		}
	})
}

// buttonValue returns the value of the button with action in a message.
func buttonValue(t *testing.T, m slackemu.Message, action string) string {
	t.Helper()
	return buttonValueOf(t, m.Blocks, action)
}

func buttonValueOf(t *testing.T, raw json.RawMessage, action string) string {
	t.Helper()
	type element struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	}
	var bs []struct {
		Elements  []element `json:"elements"`
		Accessory *element  `json:"accessory"`
	}
	if err := json.Unmarshal(raw, &bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		els := b.Elements
		if b.Accessory != nil {
			els = append(els, *b.Accessory)
		}
		for _, el := range els {
			if el.ActionID == action {
				return el.Value
			}
		}
	}
	t.Fatalf("no %s button", action)
	return ""
}
