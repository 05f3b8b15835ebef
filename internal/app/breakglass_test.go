package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/providers/aws/grant"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const (
	manager     = "U0MANAGER1"
	manager2    = "U0MANAGER2"
	prodAccount = "111122223333" // payments-prod in config.example.yaml
	// breakGlassRole is the example's incident-responder level.
	breakGlassRole = "secops-breakglass"
)

// breakGlassEnv is the Slack environment of the other tests plus the AWS
// fakes break-glass grants through, a federation endpoint and a fake clock
// shared by the bot, the store and the fakes.
type breakGlassEnv struct {
	*slackEnv
	clk       *clock.Fake
	aws       *awsfake.Server
	iam       *awsfake.IAM
	awsCfg    aws.Config
	approvals string // channel ID
	fedURL    string
}

func newBreakGlassEnv(t *testing.T) *breakGlassEnv {
	t.Helper()
	e := &breakGlassEnv{slackEnv: newSlackEnv(t), clk: clock.NewFake(testNow(t).UTC().Truncate(time.Second))}
	e.approvals = e.emu.PutChannel(slackemu.Channel{Name: "secops-approvals"})
	e.emu.PutUser(slackemu.User{ID: manager, Name: "max"})
	e.emu.PutUser(slackemu.User{ID: manager2, Name: "mia"})
	api := slack.New("xoxb-test-bot", slack.OptionAPIURL(e.emu.APIURL()))
	groups, err := api.GetUserGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Handle == "secops-managers" {
			e.emu.PutUsergroup(slackemu.Usergroup{ID: g.ID, Handle: g.Handle, Users: []string{manager, manager2}})
		}
	}

	e.aws = awsfake.New()
	t.Cleanup(e.aws.Close)
	const botKey = "AKIDSECOPSBOT0000001"
	e.aws.Identities().Add(botKey, "arn:aws:iam::999900001111:role/secops-bot")
	e.aws.Handle("sts", awsfake.NewSTS(e.aws.Identities(), e.clk))
	e.iam = awsfake.NewIAM(e.clk)
	e.aws.Handle("iam", e.iam)
	e.iam.AddRole(prodAccount, awsfake.IAMRole{Name: breakGlassRole, MaxSessionDuration: 7200})
	e.awsCfg = aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(e.aws.URL()), HTTPClient: e.aws.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(botKey, "secret", ""),
	}

	// The AWS federation endpoint: a sign-in token for a session, refused
	// for anything else.
	fed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s map[string]string
		if r.URL.Query().Get("Action") != "getSigninToken" || json.Unmarshal([]byte(r.URL.Query().Get("Session")), &s) != nil || s["sessionToken"] == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": "signin-" + s["sessionId"]})
	}))
	t.Cleanup(fed.Close)
	e.fedURL = fed.URL + "/federation"

	e.cfg.AWS.Enabled = true
	e.cfg.BreakGlass.Enabled = true
	e.cfg.BreakGlass.FederationURL = e.fedURL
	e.cfg.BreakGlass.TimerInterval = 50 * time.Millisecond
	// One-time codes are keyed, and asked for where a test turns them on
	// (story two); elsewhere approvals are a click.
	e.cfg.StepUp.Keys = "s1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	e.cfg.BreakGlass.Accounts = slices.Clone(e.cfg.BreakGlass.Accounts)
	off := false
	for i := range e.cfg.BreakGlass.Accounts {
		e.cfg.BreakGlass.Accounts[i].StepUp = &off
	}
	// The example's break-glass block is valid once enabled.
	if ps := e.cfg.Validate(); len(ps) > 0 {
		t.Fatalf("config.example.yaml with breakglass enabled: %v", ps)
	}
	return e
}

func (e *breakGlassEnv) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() {
		e.done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: testLogger(t), Clock: e.clk, AWS: &e.awsCfg, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-e.done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not become ready")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := e.emu.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
}

// shown is a message as a person sees it: its text and its blocks.
func shown(m slackemu.Message) string {
	return m.Text + "\n" + strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(m.Blocks))
}

func (e *breakGlassEnv) ephemeralTo(user, substr string) (slackemu.Ephemeral, bool) {
	for _, ep := range e.emu.Ephemerals() {
		if ep.User == user && strings.Contains(ep.Text+string(ep.Blocks), substr) {
			return ep, true
		}
	}
	return slackemu.Ephemeral{}, false
}

func (e *breakGlassEnv) dms(user string) []slackemu.Message {
	ch, ok := e.emu.IMChannel(user)
	if !ok {
		return nil
	}
	return e.emu.Messages(ch)
}

func (e *breakGlassEnv) dmWith(user, substr string) (slackemu.Message, bool) {
	for _, m := range e.dms(user) {
		if strings.Contains(shown(m), substr) {
			return m, true
		}
	}
	return slackemu.Message{}, false
}

// prefilled reads what a modal shows in its inputs before anyone types:
// initial options of selects and initial values of text inputs.
func prefilled(t *testing.T, v slackemu.View) map[string]map[string]string {
	t.Helper()
	var bs []struct {
		Type    string `json:"type"`
		BlockID string `json:"block_id"`
		Element struct {
			ActionID      string `json:"action_id"`
			InitialValue  string `json:"initial_value"`
			InitialOption *struct {
				Value string `json:"value"`
			} `json:"initial_option"`
		} `json:"element"`
	}
	if err := json.Unmarshal(v.Blocks, &bs); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, b := range bs {
		if b.Type != "input" {
			continue
		}
		val := b.Element.InitialValue
		if b.Element.InitialOption != nil {
			val = b.Element.InitialOption.Value
		}
		if val != "" {
			out[b.BlockID] = map[string]string{b.Element.ActionID: val}
		}
	}
	return out
}

// TestBreakGlassStoryTwo is story two's emergency access end to end: a
// responder asks with /secops breakglass, cannot approve their own
// request, a manager approves with the button, the responder receives a
// console link privately, and 30 minutes later the access expires by
// itself: the messages say so, AWS denies the session, and every step is
// in the audit log.
func TestBreakGlassStoryTwo(t *testing.T) {
	t.Parallel()
	e := newBreakGlassEnv(t)
	// Production asks approvers for a one-time code.
	on := true
	for i, a := range e.cfg.BreakGlass.Accounts {
		if a.ID == prodAccount {
			e.cfg.BreakGlass.Accounts[i].StepUp = &on
		}
	}
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()

	// The command opens the request form, prefilled from its arguments.
	ack, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass " + prodAccount + " 30m restore check", UserID: responder, ChannelID: e.secops})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Latency > time.Second {
		t.Errorf("acknowledged after %v", ack.Latency)
	}
	var form slackemu.View
	e.wait(t, "the request form", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "breakglass.request" && v.Open && v.UserID == responder {
				form = v
				return true
			}
		}
		return false
	})
	values := prefilled(t, form)
	want := map[string]map[string]string{
		"breakglass.target":   {"target": prodAccount + "/incident-responder"},
		"breakglass.duration": {"duration": "30m0s"},
		"breakglass.reason":   {"reason": "restore check"},
	}
	for block, v := range want {
		if got := values[block]; got == nil || got[firstKey(v)] != v[firstKey(v)] {
			t.Errorf("form input %s prefilled with %v, want %v", block, got, v)
		}
	}
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "breakglass.request", UserID: responder, Values: values}); err != nil {
		t.Fatal(err)
	}

	// The request waits in the approvers' channel, mentioning the manager.
	var req slackemu.Message
	e.wait(t, "the request in the approvers' channel", func() bool {
		msgs := topLevel(e.emu.Messages(e.approvals))
		if len(msgs) == 1 {
			req = msgs[0]
			return true
		}
		return false
	})
	contains(t, "the request message", shown(req), "<@"+responder+">", "incident-responder", "payments-prod", "for *30m*", "restore check", "<@"+manager+">", `"action_id":"breakglass.approve"`)
	e.wait(t, "the requester told the request is waiting", func() bool {
		_, ok := e.dmWith(responder, "waiting for approval")
		return ok
	})
	note, _ := e.dmWith(responder, "waiting for approval")
	contains(t, "the note to the requester", note.Text, "/archives/"+e.approvals+"/p")

	click := func(user string) {
		t.Helper()
		ack, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: e.approvals, MessageTS: req.TS, ActionID: "breakglass.approve"})
		if err != nil {
			t.Fatalf("click Approve as %s: %v", user, err)
		}
		if ack.Latency > time.Second {
			t.Errorf("acknowledged after %v", ack.Latency)
		}
	}
	// The requester cannot approve their own request.
	click(responder)
	e.wait(t, "the requester's approval refused", func() bool {
		_, ok := e.ephemeralTo(responder, "Not allowed")
		return ok
	})
	if cur, _ := e.emu.Message(e.approvals, req.TS); !strings.Contains(cur.Text, "request") || strings.Contains(shown(cur), "Approved by") {
		t.Fatalf("the refused click changed the request:\n%s", shown(cur))
	}

	// A manager approves: with a one-time code, set up by the approval
	// itself the first time, and the requester receives the console link
	// privately.
	e.approveWithCode(t, manager, req)
	var access slackemu.Message
	e.wait(t, "the access sent to the requester", func() bool {
		m, ok := e.dmWith(responder, "access is ready")
		access = m
		return ok
	})
	contains(t, "the access message", shown(access), e.fedURL+"?Action=login", "SigninToken=signin-ASIA", "<@"+manager+">", `"action_id":"breakglass.revoke"`)
	if _, ok := e.dmWith(manager, "SigninToken"); ok {
		t.Error("the manager received the sign-in link")
	}
	for _, m := range e.emu.Messages(e.approvals) {
		if strings.Contains(string(m.Blocks), "SigninToken") {
			t.Errorf("the sign-in link is in the approvers' channel: %s", m.Text)
		}
	}
	e.wait(t, "the request shown active", func() bool {
		cur, _ := e.emu.Message(e.approvals, req.TS)
		return strings.Contains(cur.Text, "Break-glass active") && strings.Contains(shown(cur), `"action_id":"breakglass.revoke"`)
	})
	if _, revoked := e.iam.Role(prodAccount, breakGlassRole); !revoked {
		t.Fatalf("no role %s", breakGlassRole)
	}
	if r, _ := e.iam.Role(prodAccount, breakGlassRole); hasRevokePolicy(r.Policies, responder) {
		t.Fatal("the session is already denied while access is active")
	}

	// Thirty minutes later the access ends by itself.
	e.clk.Advance(30*time.Minute + 5*time.Second)
	e.wait(t, "the request shown expired", func() bool {
		cur, _ := e.emu.Message(e.approvals, req.TS)
		return strings.Contains(cur.Text, "Break-glass expired")
	})
	e.wait(t, "the access message shown ended", func() bool {
		cur, _ := e.emu.Message(access.Channel, access.TS)
		return strings.Contains(shown(cur), "access to") && strings.Contains(shown(cur), "expired at")
	})
	cur, _ := e.emu.Message(access.Channel, access.TS)
	lacks(t, "the ended access message", shown(cur), "SigninToken", "breakglass.revoke")
	role, _ := e.iam.Role(prodAccount, breakGlassRole)
	_, doc := grant.NewestRevokePolicy(role.Policies, responder)
	contains(t, "the revoke policy on the role", doc, `"Effect":"Deny"`, `"aws:SourceIdentity":"`+responder+`"`, "aws:TokenIssueTime")
	e.wait(t, "the session summary in the request's thread", func() bool {
		for _, r := range e.emu.Replies(e.approvals, req.TS) {
			if strings.Contains(r.Text, "session summary") {
				return true
			}
		}
		return false
	})

	// The audit command answers approvers only.
	for _, user := range []string{responder, manager} {
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "audit breakglass --since 1d", UserID: user, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
	}
	e.wait(t, "the audit for the manager and the refusal for the responder", func() bool {
		_, refused := e.ephemeralTo(responder, "Not allowed")
		_, shownAudit := e.ephemeralTo(manager, "Break-glass audit")
		return refused && shownAudit
	})
	if _, ok := e.ephemeralTo(responder, "Break-glass audit"); ok {
		t.Error("the responder was shown the audit log")
	}
	audit, _ := e.ephemeralTo(manager, "Break-glass audit")
	contains(t, "the audit answer", string(audit.Blocks), "`request`", "`approve`", "`grant`", "`expire`")

	// The store holds every step, the refusal included.
	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "breakglass."})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.Action+":"+r.Result+":"+r.Actor] = true
	}
	for _, w := range []string{
		"breakglass.request:ok:" + responder,
		"breakglass.approve:refused:" + responder,
		"breakglass.approve:ok:" + manager,
		"breakglass.grant:ok:system",
		"breakglass.expire:ok:system",
	} {
		if !got[w] {
			t.Errorf("no audit record %s; have %v", w, got)
		}
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func lacks(t *testing.T, what, got string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(got, w) {
			t.Errorf("%s still shows %q:\n%s", what, w, got)
		}
	}
}

// TestBreakGlassDenyRevokeAndRaces covers the other buttons: a deny with
// its reason, a second approval told who was first, CLI credentials on
// request, and the requester ending their access early.
func TestBreakGlassDenyRevokeAndRaces(t *testing.T) {
	t.Parallel()
	e := newBreakGlassEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()

	request := func(reason string) slackemu.Message {
		t.Helper()
		before := len(topLevel(e.emu.Messages(e.approvals)))
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass payments-prod " + reason, UserID: responder, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
		var form slackemu.View
		e.wait(t, "the request form", func() bool {
			for _, v := range e.emu.Views() {
				if v.CallbackID == "breakglass.request" && v.Open {
					form = v
					return true
				}
			}
			return false
		})
		values := prefilled(t, form)
		if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: form.ID, UserID: responder, Values: values}); err != nil {
			t.Fatal(err)
		}
		var msg slackemu.Message
		e.wait(t, "the request posted", func() bool {
			msgs := topLevel(e.emu.Messages(e.approvals))
			if len(msgs) == before+1 {
				msg = msgs[before]
				return true
			}
			return false
		})
		// The note to the requester goes out once the request is fully
		// recorded; approvers are people and never click sooner.
		e.wait(t, "the requester's note", func() bool {
			n := 0
			for _, m := range e.dms(responder) {
				if strings.Contains(m.Text, "Your break-glass request") {
					n++
				}
			}
			return n == before+1
		})
		return msg
	}
	press := func(user, channel, ts, action string) {
		t.Helper()
		if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: channel, MessageTS: ts, ActionID: action}); err != nil {
			t.Fatalf("press %s as %s: %v", action, user, err)
		}
	}

	defer func() {
		if t.Failed() {
			for _, ep := range e.emu.Ephemerals() {
				t.Logf("ephemeral to %s: %s", ep.User, ep.Text)
			}
			for _, u := range []string{responder, manager, manager2} {
				for _, m := range e.dms(u) {
					t.Logf("dm to %s: %s", u, m.Text)
				}
			}
			for _, v := range e.emu.Views() {
				t.Logf("view %s %s open=%v user=%s meta=%s", v.ID, v.CallbackID, v.Open, v.UserID, v.PrivateMetadata)
			}
			for _, m := range e.emu.Messages(e.approvals) {
				t.Logf("approvals: %s", m.Text)
			}
		}
	}()

	// Denied, with the reason on the request.
	first := request("checking the restore")
	press(manager, e.approvals, first.TS, "breakglass.deny")
	e.wait(t, "the deny form", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "breakglass.deny" && v.Open && v.UserID == manager {
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "breakglass.deny", UserID: manager, Values: map[string]map[string]string{
		"breakglass.deny_reason": {"reason": "the owning team is on it"},
	}}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the request shown denied", func() bool {
		cur, _ := e.emu.Message(e.approvals, first.TS)
		return strings.Contains(cur.Text, "Break-glass denied") && strings.Contains(shown(cur), "the owning team is on it")
	})
	if cur, _ := e.emu.Message(e.approvals, first.TS); strings.Contains(shown(cur), `"action_id":"breakglass.approve"`) {
		t.Error("a denied request still offers Approve")
	}
	// The requester's note says it at once, with who and why, and offers
	// no Withdraw any more.
	e.wait(t, "the requester's note shown denied", func() bool {
		m, ok := e.dmWith(responder, "denied* by <@"+manager+">")
		return ok && strings.Contains(shown(m), "the owning team is on it") && !strings.Contains(shown(m), `"action_id":"breakglass.withdraw"`)
	})
	if _, ok := e.dmWith(responder, "waiting for approval"); ok {
		t.Error("the denied requester's note still says it is waiting for approval")
	}

	// Two managers approve at once: one wins, the other is told who did.
	second := request("restore check")
	clicks := make(chan error, 2)
	for _, m := range []string{manager, manager2} {
		go func() {
			_, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: m, ChannelID: e.approvals, MessageTS: second.TS, ActionID: "breakglass.approve"})
			clicks <- err
		}()
	}
	pressed := 0
	for range 2 {
		if err := <-clicks; err == nil {
			pressed++
		} else if !errors.Is(err, slackemu.ErrNotFound) {
			t.Fatal(err)
		}
	}
	var access slackemu.Message
	e.wait(t, "the access sent to the requester", func() bool {
		m, ok := e.dmWith(responder, "access is ready")
		access = m
		return ok
	})
	lacks(t, "the access message", shown(access), "AWS_SECRET_ACCESS_KEY")
	e.wait(t, "the request shown active", func() bool {
		cur, _ := e.emu.Message(e.approvals, second.TS)
		return strings.Contains(cur.Text, "Break-glass active")
	})
	if pressed == 2 {
		e.wait(t, "the second approver told who was first", func() bool {
			_, a := e.ephemeralTo(manager, "already approved by <@"+manager2+">")
			_, b := e.ephemeralTo(manager2, "already approved by <@"+manager+">")
			return a != b
		})
	} else {
		// The message changed before the second press reached it: the
		// button was already gone, which is as good an answer.
		t.Log("the second approver found no Approve button")
	}
	if n := len(e.dms(responder)); n != 3 {
		t.Errorf("%d private messages to the requester, want two request notes and one access message", n)
	}

	// Asking again while the access is active files nothing: the
	// requester is told about the open request instead.
	posted := len(topLevel(e.emu.Messages(e.approvals)))
	views := map[string]bool{}
	for _, v := range e.emu.Views() {
		views[v.ID] = true
	}
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass payments-prod asking twice", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	var again slackemu.View
	e.wait(t, "the request form again", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "breakglass.request" && v.Open && !views[v.ID] {
				again = v
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: again.ID, UserID: responder, Values: prefilled(t, again)}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the requester told of the open request", func() bool {
		_, ok := e.dmWith(responder, "You already have break-glass request")
		return ok
	})
	if m, _ := e.dmWith(responder, "You already have break-glass request"); !strings.Contains(m.Text, "active until") {
		t.Errorf("the requester was told %q, want the active access named", m.Text)
	}
	if n := len(topLevel(e.emu.Messages(e.approvals))); n != posted {
		t.Errorf("%d requests in the approvers' channel after asking twice, want %d", n, posted)
	}

	// CLI credentials only on request, in the same private message.
	press(responder, access.Channel, access.TS, "breakglass.cli")
	e.wait(t, "CLI credentials in the access message", func() bool {
		cur, _ := e.emu.Message(access.Channel, access.TS)
		return strings.Contains(shown(cur), "AWS_SECRET_ACCESS_KEY")
	})

	// The requester ends the access early.
	press(responder, access.Channel, access.TS, "breakglass.revoke")
	e.wait(t, "the request shown revoked", func() bool {
		cur, _ := e.emu.Message(e.approvals, second.TS)
		return strings.Contains(cur.Text, "Break-glass revoked")
	})
	e.wait(t, "the access message shown ended", func() bool {
		cur, _ := e.emu.Message(access.Channel, access.TS)
		return strings.Contains(shown(cur), "was revoked by <@"+responder+">")
	})
	role, _ := e.iam.Role(prodAccount, breakGlassRole)
	_, revokeDoc := grant.NewestRevokePolicy(role.Policies, responder)
	contains(t, "the revoke policy on the role", revokeDoc, `"aws:SourceIdentity":"`+responder+`"`)
	e.wait(t, "the requester told the access was revoked", func() bool {
		_, ok := e.ephemeralTo(responder, "Access revoked")
		return ok
	})
}

// hasRevokePolicy reports whether a role's inline policies deny
// requester's sessions.
func hasRevokePolicy(policies map[string]string, requester string) bool {
	name, _ := grant.NewestRevokePolicy(policies, requester)
	return name != ""
}

// The request form lists the accounts and levels that can be requested, so
// someone who may not request never sees it: the command is refused at
// once, and the refusal is audited.
func TestBreakGlassFormRefusedToOutsiders(t *testing.T) {
	t.Parallel()
	e := newBreakGlassEnv(t)
	e.start(t)
	ctx := context.Background()
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass " + prodAccount + " 30m curious", UserID: outsider, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the refusal", func() bool {
		_, ok := e.ephemeralTo(outsider, "Not allowed")
		return ok
	})
	for _, v := range e.emu.Views() {
		if v.UserID == outsider {
			t.Errorf("a %s form opened for a user who may not request access", v.CallbackID)
		}
	}
	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "breakglass.form"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Result != "refused" || !strings.HasPrefix(recs[0].Actor, outsider) {
		t.Errorf("audit of the refused form: %+v", recs)
	}
}

// approveWithCode approves a request on an account that asks for a
// one-time code, as a manager without one set up yet: the click sends the
// secret by DM and opens the code form; a wrong code is refused and
// changes nothing; the code the authenticator app shows approves.
func (e *breakGlassEnv) approveWithCode(t *testing.T, user string, req slackemu.Message) {
	t.Helper()
	ctx := context.Background()
	views := len(e.emu.Views())
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: e.approvals, MessageTS: req.TS, ActionID: "breakglass.approve"}); err != nil {
		t.Fatal(err)
	}
	var form slackemu.View
	e.wait(t, "the one-time code form", func() bool {
		for _, v := range e.emu.Views()[views:] {
			if v.CallbackID == "breakglass.stepup" && v.UserID == user && v.Open {
				form = v
				return true
			}
		}
		return false
	})
	dm, ok := e.dmWith(user, "one-time code secret")
	if !ok {
		t.Fatal("no secret sent to the approver")
	}
	secret := regexp.MustCompile(`Secret: ` + "`" + `([A-Z2-7]+)` + "`").FindStringSubmatch(shown(dm))
	if secret == nil {
		t.Fatalf("no secret in the DM: %s", shown(dm))
	}
	submit := func(v slackemu.View, code string) {
		t.Helper()
		if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "breakglass.stepup", UserID: user, ViewID: v.ID, Values: map[string]map[string]string{"breakglass.code": {"code": code}}}); err != nil {
			t.Fatal(err)
		}
	}
	submit(form, "000000")
	e.wait(t, "the wrong code refused", func() bool {
		_, ok := e.ephemeralTo(user, "not valid")
		if !ok {
			_, ok = e.dmWith(user, "not valid")
		}
		return ok
	})
	if cur, _ := e.emu.Message(e.approvals, req.TS); strings.Contains(shown(cur), "Approved by") {
		t.Fatal("a wrong code approved the request")
	}
	// Approve again: the form opens, and no second secret is sent.
	views = len(e.emu.Views())
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: e.approvals, MessageTS: req.TS, ActionID: "breakglass.approve"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the code form again", func() bool {
		for _, v := range e.emu.Views()[views:] {
			if v.CallbackID == "breakglass.stepup" && v.UserID == user && v.Open {
				form = v
				return true
			}
		}
		return false
	})
	secrets := 0
	for _, m := range e.dms(user) {
		if strings.Contains(shown(m), "one-time code secret") {
			secrets++
		}
	}
	if secrets != 1 {
		t.Errorf("%d secrets sent, want one", secrets)
	}
	code, err := totp.GenerateCodeCustom(secret[1], e.clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	submit(form, code)
}
