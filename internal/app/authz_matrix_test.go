package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// Users of the matrix beyond the harness's responder, outsider, guest,
// foreign and the break-glass managers.
const (
	adminUser   = "U0ADMINUS1"
	teamMember  = "U0MEMBER01" // works in the owning team, holds no role
	ultraGuest  = "U0ULTRAGU1"
	deletedUser = "U0DELETED1"
	botUser     = "U0BOTUSER1"
)

// who is a row of the matrix's role axis.
type who struct{ role, id string }

var matrixUsers = []who{
	{"responder", responder},
	{"approver", manager},
	{"admin", adminUser},
	{"team member", teamMember},
	{"outsider", outsider},
	{"guest", guest},
	{"single-channel guest", ultraGuest},
	{"deleted user", deletedUser},
	{"bot user", botUser},
	{"other organisation", foreign},
}

// matrixEnv is the break-glass environment with containment, playbooks
// and every kind of user, plus a second handle on the store to read the
// audit log while the bot runs.
type matrixEnv struct {
	*breakGlassEnv
	rds      *awsfake.RDS
	st       *sqlite.Store
	findings []matrixFinding
	next     int // findings handed out
}

// matrixFinding is a posted finding and its playbook checklist.
type matrixFinding struct {
	id, snapshot, ts, checklistTS string
}

const matrixCorp = "192.0.2.0/24"

func newMatrixEnv(t *testing.T, nFindings int) *matrixEnv {
	t.Helper()
	e := &matrixEnv{breakGlassEnv: newBreakGlassEnv(t)}
	// Files dropped now must count as settled.
	e.clk.Advance(time.Hour)
	e.emu.PutUser(slackemu.User{ID: adminUser, Name: "ada"})
	e.emu.PutUser(slackemu.User{ID: teamMember, Name: "tess"})
	e.emu.PutUser(slackemu.User{ID: ultraGuest, Name: "uma", IsUltraRestricted: true})
	e.emu.PutUser(slackemu.User{ID: deletedUser, Name: "dora", Deleted: true})
	e.emu.PutUser(slackemu.User{ID: botUser, Name: "robo", IsBot: true})
	// The disqualified accounts are put in every role group: a flag or a
	// foreign team must refuse whatever the groups say.
	disqualified := []string{guest, ultraGuest, deletedUser, botUser, foreign}
	members := map[string][]string{
		"secops-responders": append([]string{responder}, disqualified...),
		"secops-managers":   append([]string{manager}, disqualified...),
		"secops-admins":     append([]string{adminUser}, disqualified...),
	}
	groups, err := slack.New("xoxb-test-bot", slack.OptionAPIURL(e.emu.APIURL())).GetUserGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if m, ok := members[g.Handle]; ok {
			e.emu.PutUsergroup(slackemu.Usergroup{ID: g.ID, Handle: g.Handle, Users: m})
		}
	}

	e.rds = awsfake.NewRDS(e.clk)
	e.aws.Handle("rds", e.rds)
	e.iam.AddUser(prodAccount, awsfake.IAMUser{Name: "BackupManager"})
	e.cfg.AWS.RecheckInterval = time.Hour // an unshare must not resolve findings mid-test
	e.cfg.Containment.CorporateCIDRs = []string{matrixCorp}
	e.cfg.OnCall = oncall.Config{Rotations: []oncall.Rotation{{Team: "secops", Members: []string{responder}}}}

	// n shares of distinct customer snapshots with an unknown account at
	// 3 a.m.: n critical findings, each with the off-hours playbook.
	raw, err := os.ReadFile(incident)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	eventID := regexp.MustCompile(`"eventID":\s*"[^"]+"`)
	var lines []string
	for i := 0; i < nFindings; i++ {
		snap := fmt.Sprintf("prod-customers-m%02d", i)
		d := strings.ReplaceAll(string(ev.Detail), "prod-customers-2026-11-26", snap)
		d = eventID.ReplaceAllString(d, fmt.Sprintf(`"eventID":"7a1b0000-0000-4000-8000-0000000000%02d"`, i))
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(d)); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, buf.String())
		e.rds.AddSnapshot(prodAccount, awsfake.RDSSnapshot{ID: snap, Region: "eu-west-1", SharedWith: []string{"444455556666"}})
	}
	e.start(t)
	t.Cleanup(func() { e.stop(t) })
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "shares.jsonl"), strings.Join(lines, "\n")+"\n")

	idRe := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`)
	snapRe := regexp.MustCompile(`prod-customers-m\d\d`)
	e.waitLong(t, "every finding posted with its checklist", func() bool {
		msgs := topLevel(e.emu.Messages(e.secops))
		if len(msgs) < nFindings {
			return false
		}
		e.findings = e.findings[:0]
		for _, m := range msgs {
			id, snap := idRe.FindStringSubmatch(string(m.Blocks)), snapRe.FindString(m.Text+string(m.Blocks))
			if id == nil || snap == "" {
				continue
			}
			f := matrixFinding{id: id[1], snapshot: snap, ts: m.TS}
			for _, r := range e.emu.Replies(e.secops, m.TS) {
				if strings.HasPrefix(r.Text, "Playbook: ") {
					f.checklistTS = r.TS
				}
			}
			if f.checklistTS == "" {
				return false
			}
			e.findings = append(e.findings, f)
		}
		return len(e.findings) == nFindings
	})
	slices.SortFunc(e.findings, func(a, b matrixFinding) int { return strings.Compare(a.snapshot, b.snapshot) })

	e.st, err = sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	return e
}

// waitLong is wait for the posting of every finding, seconds of work on a
// quiet machine; its limit is for a bot that is stuck, not slow.
func (e *matrixEnv) waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := e.emu.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// fresh hands out a finding no other pair has touched.
func (e *matrixEnv) fresh(t *testing.T) matrixFinding {
	t.Helper()
	if e.next >= len(e.findings) {
		t.Fatal("the matrix ran out of findings; raise nFindings")
	}
	e.next++
	return e.findings[e.next-1]
}

// lastSeq is the newest audit record's sequence number.
func (e *matrixEnv) lastSeq(t *testing.T) int64 {
	t.Helper()
	recs, err := e.st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, r := range recs {
		last = max(last, r.Seq)
	}
	return last
}

// actorIs matches the audit log's two spellings of a Slack user: "U…" and
// "U…@T…".
func actorIs(actor, user string) bool {
	return actor == user || strings.HasPrefix(actor, user+"@")
}

// awaitAudit waits for a record newer than after by user with one of the
// actions, and returns its result. A user who is never audited fails the
// test: every refusal must be on record.
func (e *matrixEnv) awaitAudit(t *testing.T, after int64, user string, actions ...string) store.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs, err := e.st.ListAudit(context.Background(), store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Seq > after && actorIs(r.Actor, user) && slices.Contains(actions, r.Action) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record %v by %s", actions, user)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (e *matrixEnv) click(t *testing.T, user, channel, ts, action, value string) {
	t.Helper()
	if _, err := e.emu.ClickButton(context.Background(), slackemu.BlockAction{UserID: user, ChannelID: channel, MessageTS: ts, ActionID: action, Value: value}); err != nil {
		t.Fatalf("%s presses %s: %v", user, action, err)
	}
}

func (e *matrixEnv) command(t *testing.T, user, text string) {
	t.Helper()
	if _, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: text, UserID: user, ChannelID: e.secops}); err != nil {
		t.Fatalf("%s runs /secops %s: %v", user, text, err)
	}
}

// openedView waits for a modal with callback opened for user after the
// views it had before, and returns it.
func (e *matrixEnv) openedView(t *testing.T, user, callback string, before map[string]bool) slackemu.View {
	t.Helper()
	var out slackemu.View
	e.wait(t, callback+" modal for "+user, func() bool {
		for _, v := range e.emu.Views() {
			if v.Open && v.UserID == user && v.CallbackID == callback && !before[v.ID] {
				out = v
				return true
			}
		}
		return false
	})
	return out
}

func (e *matrixEnv) viewIDs() map[string]bool {
	ids := map[string]bool{}
	for _, v := range e.emu.Views() {
		ids[v.ID] = true
	}
	return ids
}

func (e *matrixEnv) submit(t *testing.T, v slackemu.View, user string, values map[string]map[string]string) {
	t.Helper()
	if _, err := e.emu.SubmitView(context.Background(), slackemu.ViewSubmission{ViewID: v.ID, UserID: user, Values: values}); err != nil {
		t.Fatalf("%s submits %s: %v", user, v.CallbackID, err)
	}
}

// forgeSubmission sends a view_submission for a modal the user never had
// open, as a modified client could: the bot must decide from the user
// Slack attaches, never from the view.
func (e *matrixEnv) forgeSubmission(t *testing.T, user, callback, metadata string, values map[string]map[string]any) {
	t.Helper()
	team := "T0WORKSPACE"
	if user == foreign {
		team = "T0OTHERORG"
	}
	if values == nil {
		values = map[string]map[string]any{}
	}
	payload := map[string]any{
		"type": "view_submission",
		"team": map[string]any{"id": team},
		"user": map[string]any{"id": user, "team_id": team},
		"view": map[string]any{
			"id": "VFORGED" + strings.ToUpper(user[len(user)-4:]), "type": "modal", "callback_id": callback,
			"private_metadata": metadata, "state": map[string]any{"values": values},
		},
	}
	if _, err := e.emu.SendEnvelope(context.Background(), slackemu.EnvelopeInteractive, payload); err != nil {
		t.Fatalf("forged %s submission by %s: %v", callback, user, err)
	}
}

// ephemeralWith returns the newest ephemeral to user holding action.
func (e *matrixEnv) ephemeralWith(user, action string) (slackemu.Ephemeral, bool) {
	eps := e.emu.Ephemerals()
	for i := len(eps) - 1; i >= 0; i-- {
		if eps[i].User == user && strings.Contains(string(eps[i].Blocks), `"action_id":"`+action+`"`) {
			return eps[i], true
		}
	}
	return slackemu.Ephemeral{}, false
}

// endRequests ends the break-glass requests user left open, as people do
// before asking again (an approver denies a pending one, the requester
// revokes an active one): a second open request for the same access is
// refused as a duplicate.
func (e *matrixEnv) endRequests(t *testing.T, user string) {
	t.Helper()
	open := func(text string) bool {
		for _, w := range []string{"request", "approved", "active"} {
			if strings.HasPrefix(text, "Break-glass "+w+":") {
				return true
			}
		}
		return false
	}
	for _, m := range topLevel(e.emu.Messages(e.approvals)) {
		if !strings.Contains(m.Text, "(requested by <@"+user+">)") {
			continue
		}
		acted := ""
		e.wait(t, "an earlier request ended", func() bool {
			cur, _ := e.emu.Message(e.approvals, m.TS)
			if !open(cur.Text) {
				return true
			}
			b := string(cur.Blocks)
			switch {
			case strings.Contains(b, `"action_id":"breakglass.revoke"`) && acted != "revoke":
				acted = "revoke"
				e.click(t, user, e.approvals, m.TS, "breakglass.revoke", "")
			case strings.Contains(b, `"action_id":"breakglass.deny"`) && acted != "deny":
				acted = "deny"
				views := e.viewIDs()
				e.click(t, manager, e.approvals, m.TS, "breakglass.deny", "")
				e.submit(t, e.openedView(t, manager, "breakglass.deny", views), manager, map[string]map[string]string{
					"breakglass.deny_reason": {"reason": "filed again"},
				})
			}
			return false
		})
	}
}

// bgRequest files a break-glass request as user through the command and
// its modal, once user's earlier requests ended, and returns the request
// message.
func (e *matrixEnv) bgRequest(t *testing.T, user string) slackemu.Message {
	t.Helper()
	e.endRequests(t, user)
	before := len(topLevel(e.emu.Messages(e.approvals)))
	views := e.viewIDs()
	e.command(t, user, "breakglass payments-prod matrix check")
	v := e.openedView(t, user, "breakglass.request", views)
	e.submit(t, v, user, prefilled(t, v))
	var msg slackemu.Message
	e.wait(t, "the request posted", func() bool {
		msgs := topLevel(e.emu.Messages(e.approvals))
		if len(msgs) > before {
			msg = msgs[len(msgs)-1]
			return true
		}
		return false
	})
	// The approvers are told once the request is fully recorded.
	e.wait(t, "the request's buttons", func() bool {
		cur, _ := e.emu.Message(e.approvals, msg.TS)
		return strings.Contains(string(cur.Blocks), `"action_id":"breakglass.approve"`)
	})
	cur, _ := e.emu.Message(e.approvals, msg.TS)
	return cur
}

// bgNote files a request as user and returns the private note about it,
// which carries the Withdraw button while the request waits (a decided
// request's note keeps its place, without the button).
func (e *matrixEnv) bgNote(t *testing.T, user string) slackemu.Message {
	t.Helper()
	notes := func() []slackemu.Message {
		im, ok := e.emu.IMChannel(user)
		if !ok {
			return nil
		}
		var out []slackemu.Message
		for _, m := range e.emu.Messages(im) {
			if strings.Contains(m.Text, "Your break-glass request") {
				out = append(out, m)
			}
		}
		return out
	}
	before := len(notes())
	e.bgRequest(t, user)
	var note slackemu.Message
	e.wait(t, "the note about the request", func() bool {
		n := notes()
		if len(n) > before {
			note = n[len(n)-1]
			return true
		}
		return false
	})
	return note
}

// bgActive files a request and has the approver approve it.
func (e *matrixEnv) bgActive(t *testing.T) slackemu.Message {
	t.Helper()
	req := e.bgRequest(t, responder)
	e.click(t, manager, e.approvals, req.TS, "breakglass.approve", "")
	e.wait(t, "the request active", func() bool {
		cur, _ := e.emu.Message(e.approvals, req.TS)
		return strings.Contains(cur.Text, "Break-glass active") && strings.Contains(string(cur.Blocks), `"action_id":"breakglass.revoke"`)
	})
	cur, _ := e.emu.Message(e.approvals, req.TS)
	return cur
}

// matrixRow is one command or button of the matrix: the roles allowed to
// use it, the audit actions its outcomes are recorded under, and how to
// attempt it. target is shared by the refused attempts; an allowed
// attempt is given fresh state so that its success shows.
type matrixRow struct {
	name    string
	allowed []string
	audit   []string
	// setup prepares the state the refused attempts share.
	setup func(t *testing.T) any
	do    func(t *testing.T, u who, shared any, allowed bool)
}

// TestAuthorisationMatrix drives every command and button as every kind of
// user through one running bot. Exactly the allowed pairs succeed; every
// other pair is refused, and every refusal is in the audit log with the
// user who tried.
func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drives the whole bot")
	}
	const nFindings = 32
	e := newMatrixEnv(t, nFindings)
	responders := []string{"responder", "admin"}
	approvers := []string{"approver", "admin"}
	workspace := []string{"responder", "approver", "admin", "team member", "outsider"}

	findingRow := func(do func(t *testing.T, u who, f matrixFinding)) (func(*testing.T) any, func(*testing.T, who, any, bool)) {
		return func(t *testing.T) any { return e.fresh(t) },
			func(t *testing.T, u who, shared any, allowed bool) {
				f := shared.(matrixFinding)
				if allowed {
					f = e.fresh(t)
				}
				do(t, u, f)
			}
	}
	modalRow := func(action, callback string, values map[string]map[string]string) (func(*testing.T) any, func(*testing.T, who, any, bool)) {
		return findingRow(func(t *testing.T, u who, f matrixFinding) {
			views := e.viewIDs()
			e.click(t, u.id, e.secops, f.ts, action, "")
			e.submit(t, e.openedView(t, u.id, callback, views), u.id, values)
		})
	}
	noState := func(*testing.T) any { return nil }

	var rows []matrixRow
	add := func(name string, allowed, audit []string, setup func(*testing.T) any, do func(*testing.T, who, any, bool)) {
		rows = append(rows, matrixRow{name: name, allowed: allowed, audit: audit, setup: setup, do: do})
	}

	s, d := findingRow(func(t *testing.T, u who, f matrixFinding) { e.click(t, u.id, e.secops, f.ts, "finding.ack", "") })
	add("button finding.ack", responders, []string{"finding.ack"}, s, d)
	s, d = modalRow("finding.resolve", "finding.resolve", map[string]map[string]string{"resolve.reason": {"reason": "matrix"}})
	add("button finding.resolve + modal", responders, []string{"finding.resolve"}, s, d)
	s, d = modalRow("finding.expected", "finding.expected", map[string]map[string]string{
		"expected.reason": {"reason": "matrix"}, "expected.scope": {"scope": "resource"},
	})
	add("button finding.expected + modal", responders, []string{"finding.expected"}, s, d)
	s, d = findingRow(func(t *testing.T, u who, f matrixFinding) {
		e.click(t, u.id, e.secops, f.ts, "finding.investigate", "")
	})
	add("button finding.investigate", responders, []string{"investigate"}, s, d)
	s, d = findingRow(func(t *testing.T, u who, f matrixFinding) { e.command(t, u.id, "ack "+f.id) })
	add("/secops ack", responders, []string{"finding.ack"}, s, d)
	s, d = findingRow(func(t *testing.T, u who, f matrixFinding) { e.command(t, u.id, "resolve "+f.id+" fixed by the owner") })
	add("/secops resolve", responders, []string{"finding.resolve"}, s, d)
	add("/secops findings", responders, []string{"command.findings"}, noState,
		func(t *testing.T, u who, _ any, _ bool) { e.command(t, u.id, "findings") })
	add("/secops expected", responders, []string{"finding.expected.list"}, noState,
		func(t *testing.T, u who, _ any, _ bool) { e.command(t, u.id, "expected") })
	add("/secops investigate", responders, []string{"investigate"}, noState,
		func(t *testing.T, u who, _ any, _ bool) { e.command(t, u.id, "investigate BackupManager") })
	add("/secops contain (preview)", responders, []string{"containment.preview"}, noState,
		func(t *testing.T, u who, _ any, _ bool) {
			e.command(t, u.id, "contain iam-user-restrict-ip BackupManager")
		})
	add("/secops contain (confirm)", responders, []string{"containment.run"},
		func(t *testing.T) any {
			// A record the responder previewed; refused users submit it
			// as a forged confirmation.
			e.command(t, responder, "contain iam-user-restrict-ip BackupManager")
			var ep slackemu.Ephemeral
			e.wait(t, "the responder's preview", func() bool {
				var ok bool
				ep, ok = e.ephemeralWith(responder, "containment.review")
				return ok
			})
			return regexp.MustCompile(`"action_id":"containment.review"[^}]*"value":"([^"]+)"|"value":"([^"]+)"[^}]*"action_id":"containment.review"`).FindStringSubmatch(string(ep.Blocks))
		},
		func(t *testing.T, u who, shared any, allowed bool) {
			if !allowed {
				m := shared.([]string)
				if m == nil {
					t.Fatal("no record ID under the preview's Confirm… button")
				}
				e.forgeSubmission(t, u.id, "containment.confirm", m[1]+m[2], nil)
				return
			}
			before := len(e.emu.Ephemerals())
			e.command(t, u.id, "contain iam-user-restrict-ip BackupManager")
			var ep slackemu.Ephemeral
			e.wait(t, "the preview", func() bool {
				var ok bool
				ep, ok = e.ephemeralWith(u.id, "containment.review")
				return ok && len(e.emu.Ephemerals()) > before
			})
			views := e.viewIDs()
			e.click(t, u.id, ep.Channel, ep.TS, "containment.review", "")
			e.submit(t, e.openedView(t, u.id, "containment.confirm", views), u.id, nil)
		})
	add("containment undo (snapshot unshare: admins only)", []string{"admin"}, []string{"containment.undo"},
		func(t *testing.T) any {
			f := e.fresh(t)
			e.click(t, responder, e.secops, f.ts, "finding.contain", "")
			var picker slackemu.Ephemeral
			e.wait(t, "the containment picker", func() bool {
				var ok bool
				picker, ok = e.ephemeralWith(responder, "containment.preview.snapshot-unshare")
				return ok
			})
			views := e.viewIDs()
			e.click(t, responder, picker.Channel, picker.TS, "containment.preview.snapshot-unshare", "")
			var modal slackemu.View
			e.wait(t, "the unshare confirmation", func() bool {
				for _, v := range e.emu.Views() {
					if v.Open && !views[v.ID] && v.CallbackID == "containment.confirm" && strings.Contains(string(v.Blocks), "rds:ModifyDBSnapshotAttribute") {
						modal = v
						return true
					}
				}
				return false
			})
			e.submit(t, modal, responder, nil)
			var result slackemu.Message
			e.wait(t, "the unshare's Undo in the thread", func() bool {
				for _, r := range e.emu.Replies(e.secops, f.ts) {
					if strings.Contains(string(r.Blocks), `"action_id":"containment.undo"`) {
						result = r
						return true
					}
				}
				return false
			})
			return result
		},
		func(t *testing.T, u who, shared any, _ bool) {
			r := shared.(slackemu.Message)
			e.click(t, u.id, e.secops, r.TS, "containment.undo", "")
		})
	stepRow := func(action string) (func(*testing.T) any, func(*testing.T, who, any, bool)) {
		return findingRow(func(t *testing.T, u who, f matrixFinding) {
			e.click(t, u.id, e.secops, f.checklistTS, action, "")
		})
	}
	s, d = stepRow("playbook.done.team-ack")
	add("playbook step done (owning team's step)", workspace, []string{"playbook.step", "playbook.step.done"}, s, d)
	s, d = stepRow("playbook.done.review-resource")
	add("playbook step done (responders' step)", responders, []string{"playbook.step", "playbook.step.done"}, s, d)
	s, d = stepRow("playbook.skip.review-resource")
	add("playbook step skip", responders, []string{"playbook.step", "playbook.step.skipped"}, s, d)
	// The form lists what can be requested, so it opens only for those who
	// may request; the others are refused (and audited) at the command.
	add("/secops breakglass + request modal", responders, []string{"breakglass.request", "breakglass.form"}, noState,
		func(t *testing.T, u who, _ any, allowed bool) {
			if allowed {
				e.endRequests(t, u.id)
			}
			views := e.viewIDs()
			e.command(t, u.id, "breakglass payments-prod matrix check")
			if !allowed {
				return
			}
			v := e.openedView(t, u.id, "breakglass.request", views)
			e.submit(t, v, u.id, prefilled(t, v))
		})
	add("button breakglass.approve", approvers, []string{"breakglass.approve"},
		func(t *testing.T) any { return e.bgRequest(t, responder) },
		func(t *testing.T, u who, shared any, allowed bool) {
			req := shared.(slackemu.Message)
			if allowed {
				req = e.bgRequest(t, responder)
			}
			e.click(t, u.id, e.approvals, req.TS, "breakglass.approve", "")
		})
	add("button breakglass.deny + modal", approvers, []string{"breakglass.deny"},
		func(t *testing.T) any { return e.bgRequest(t, responder) },
		func(t *testing.T, u who, shared any, allowed bool) {
			req := shared.(slackemu.Message)
			if allowed {
				req = e.bgRequest(t, responder)
			}
			views := e.viewIDs()
			e.click(t, u.id, e.approvals, req.TS, "breakglass.deny", "")
			e.submit(t, e.openedView(t, u.id, "breakglass.deny", views), u.id, map[string]map[string]string{
				"breakglass.deny_reason": {"reason": "not needed"},
			})
		})
	add("button breakglass.withdraw (the requester only)", []string{"responder"}, []string{"breakglass.withdraw"},
		func(t *testing.T) any { return e.bgNote(t, responder) },
		func(t *testing.T, u who, shared any, allowed bool) {
			note := shared.(slackemu.Message)
			if allowed {
				note = e.bgNote(t, responder)
			}
			e.click(t, u.id, note.Channel, note.TS, "breakglass.withdraw", "")
		})
	add("button breakglass.revoke (requester, approvers, admins)", []string{"responder", "approver", "admin"}, []string{"breakglass.revoke"},
		func(t *testing.T) any { return e.bgActive(t) },
		func(t *testing.T, u who, shared any, allowed bool) {
			req := shared.(slackemu.Message)
			if allowed {
				req = e.bgActive(t)
			}
			e.click(t, u.id, e.approvals, req.TS, "breakglass.revoke", "")
		})
	add("/secops audit breakglass", approvers, []string{"command.audit"}, noState,
		func(t *testing.T, u who, _ any, _ bool) { e.command(t, u.id, "audit breakglass") })

	pairs, refused := 0, 0
	var table strings.Builder
	fmt.Fprintf(&table, "%-52s", "command / button")
	for _, u := range matrixUsers {
		fmt.Fprintf(&table, " %-5.5s", u.role)
	}
	table.WriteString("\n")
	for _, row := range rows {
		ok := t.Run(row.name, func(t *testing.T) {
			shared := row.setup(t)
			// Refused users first, on the shared state; then each allowed
			// user on state of their own.
			order := slices.Clone(matrixUsers)
			slices.SortStableFunc(order, func(a, b who) int {
				return boolInt(slices.Contains(row.allowed, a.role)) - boolInt(slices.Contains(row.allowed, b.role))
			})
			for _, u := range order {
				allowed := slices.Contains(row.allowed, u.role)
				after := e.lastSeq(t)
				row.do(t, u, shared, allowed)
				rec := e.awaitAudit(t, after, u.id, row.audit...)
				pairs++
				want := "refused"
				if allowed {
					want = "ok"
				} else {
					refused++
				}
				if rec.Result != want {
					t.Errorf("%s as %s: audit %s %s (%s), want %s", row.name, u.role, rec.Action, rec.Result, rec.Reason, want)
				}
			}
		})
		fmt.Fprintf(&table, "%-52.52s", row.name)
		for _, u := range matrixUsers {
			mark := "-"
			if slices.Contains(row.allowed, u.role) {
				mark = "yes"
			}
			fmt.Fprintf(&table, " %-5s", mark)
		}
		if !ok {
			table.WriteString("  FAILED")
		}
		table.WriteString("\n")
	}
	t.Logf("authorisation matrix: %d commands/buttons x %d kinds of user = %d pairs (%d refused and audited)\n%s",
		len(rows), len(matrixUsers), pairs, refused, table.String())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
