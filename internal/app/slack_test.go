package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const (
	responder = "U0RESPOND1"
	outsider  = "U0OUTSIDE1"
	guest     = "U0GUESTUS1"
	foreign   = "U0FOREIGN1"
)

type slackEnv struct {
	emu      *slackemu.Server
	cfg      config.Config
	secops   string // channel IDs
	payments string
	cancel   context.CancelFunc
	done     chan error
	// clk is the bot's clock: the wall clock unless a test moves it.
	clk clock.Clock
	// responders is the ID of the responders' user group.
	responders string
}

func newSlackEnv(t *testing.T) *slackEnv {
	t.Helper()
	return newSlackEnvTokens(t, "xapp-test-app", "xoxb-test-bot")
}

func newSlackEnvTokens(t *testing.T, appToken, botToken string) *slackEnv {
	t.Helper()
	emu := slackemu.New(slackemu.Options{TeamID: "T0WORKSPACE", BotToken: botToken, AppToken: appToken})
	emu.Start()
	t.Cleanup(emu.Close)
	e := &slackEnv{emu: emu}
	e.secops = emu.PutChannel(slackemu.Channel{Name: "secops"})
	e.payments = emu.PutChannel(slackemu.Channel{Name: "team-payments"})
	emu.PutChannel(slackemu.Channel{Name: "team-data"})
	emu.PutUser(slackemu.User{ID: responder, Name: "rita"})
	emu.PutUser(slackemu.User{ID: outsider, Name: "otto"})
	emu.PutUser(slackemu.User{ID: guest, Name: "gus", IsRestricted: true})
	emu.PutUser(slackemu.User{ID: foreign, Name: "fred", TeamID: "T0OTHERORG"})
	e.responders = emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-responders", Users: []string{responder, guest, foreign}})
	emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-managers", Users: []string{}})
	emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-admins", Users: []string{}})

	cfg := exampleConfig(t)
	work := t.TempDir()
	cfg.Slack.AppToken, cfg.Slack.BotToken, cfg.Slack.APIURL = appToken, botToken, emu.APIURL()
	cfg.Ingest.Dir = filepath.Join(work, "inbox")
	cfg.Ingest.PollInterval = 50 * time.Millisecond
	cfg.Store.DSN = filepath.Join(work, "bot.db")
	// These tests are about Slack; reading AWS state is tested with the
	// AWS fakes.
	cfg.AWS.Enabled = false
	// The example's :9090 cannot be shared by tests running in parallel;
	// the tests of the metrics server give it a free port of its own.
	cfg.Metrics.Listen = ""
	if err := os.MkdirAll(cfg.Ingest.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

func (e *slackEnv) start(t *testing.T) {
	t.Helper()
	if e.clk == nil {
		e.clk = clock.ShiftedTo(testNow(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() {
		e.done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: testLogger(t), Clock: e.clk, Ready: ready})
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

func (e *slackEnv) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	if err := <-e.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func (e *slackEnv) drop(t *testing.T, name, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, name), string(b))
}

func (e *slackEnv) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.emu.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func topLevel(msgs []slackemu.Message) []slackemu.Message {
	var out []slackemu.Message
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			out = append(out, m)
		}
	}
	return out
}

var incident = filepath.Join("..", "..", "examples", "story-two", "incident-2-ModifyDBSnapshotAttribute.json")

func TestSlackFindingLifecycle(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	e.drop(t, "incident.json", incident)

	e.wait(t, "the finding in both channels", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	msg := topLevel(e.emu.Messages(e.secops))[0]
	for _, want := range []string{"CRITICAL", "prod-customers-2026-11-26", "444455556666", "BackupManager"} {
		if !strings.Contains(msg.Text+string(msg.Blocks), want) {
			t.Errorf("finding message lacks %q: %s", want, msg.Text)
		}
	}
	for _, action := range []string{"finding.ack", "finding.investigate", "finding.contain", "finding.expected", "finding.resolve"} {
		if !strings.Contains(string(msg.Blocks), `"action_id":"`+action+`"`) {
			t.Errorf("finding message lacks the %s button", action)
		}
	}

	ctx := context.Background()
	click := func(user string) slackemu.Ack {
		t.Helper()
		ack, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.ack"})
		if err != nil {
			t.Fatalf("click: %v", err)
		}
		if ack.Latency > time.Second {
			t.Errorf("acknowledged after %v", ack.Latency)
		}
		return ack
	}
	// Refused: an outsider, a guest, a user of another organisation.
	for _, u := range []string{outsider, guest, foreign} {
		click(u)
		e.wait(t, "the refusal for "+u, func() bool {
			for _, ep := range e.emu.Ephemerals() {
				if ep.User == u && strings.Contains(ep.Text, "Not allowed") {
					return true
				}
			}
			return false
		})
	}
	if cur, _ := e.emu.Message(e.secops, msg.TS); strings.Contains(string(cur.Blocks), "cknowledged by") {
		t.Fatalf("a refused click acknowledged the finding")
	}
	// Allowed, twice: one acknowledgement, the second click told who was first.
	click(responder)
	e.wait(t, "the message updated in place in both channels", func() bool {
		a, _ := e.emu.Message(e.secops, msg.TS)
		p := topLevel(e.emu.Messages(e.payments))
		return strings.Contains(string(a.Blocks), responder) && len(p) == 1 && strings.Contains(string(p[0].Blocks), responder)
	})
	e.wait(t, "a thread reply about the acknowledgement", func() bool {
		return len(e.emu.Replies(e.secops, msg.TS)) == 1
	})
	// A second acknowledgement (the button is gone, so by command) is told
	// who was first.
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message's buttons")
	}
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "ack " + id[1], UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the second acknowledgement told it was already done", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == responder && strings.Contains(strings.ToLower(ep.Text), "already") {
				return true
			}
		}
		return false
	})
	if n := len(topLevel(e.emu.Messages(e.secops))); n != 1 {
		t.Errorf("%d messages in #secops, want 1 (updated in place)", n)
	}

	// Every action is audited, refusals included.
	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "finding.ack"})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]int{}
	for _, r := range recs {
		results[r.Result]++
	}
	if results["refused"] != 3 || results["ok"] != 1 || len(recs) != 5 {
		t.Errorf("audit of finding.ack = %v (%d records), want 3 refused, 1 ok, 1 no-op", results, len(recs))
	}
}

func TestSlashCommands(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	tests := []struct {
		name, text, want string
	}{
		{"help", "help", "/secops findings"},
		{"unknown sub-command", "frobnicate", "frobnicate"},
		{"malformed finding id", "ack 42", "ack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: tc.text, UserID: responder, ChannelID: e.secops})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(ack.Payload), tc.want) {
				t.Errorf("ack payload %s does not mention %q", ack.Payload, tc.want)
			}
			if ack.Latency > time.Second {
				t.Errorf("acknowledged after %v", ack.Latency)
			}
		})
	}
}

// Text a person typed is echoed back escaped: a broadcast, mention or link
// in a bad command never becomes one in the reply.
func TestEchoedCommandTextIsEscaped(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	// Slack sends &, < and > in command text as entities.
	for _, text := range []string{"contain &lt;!channel&gt; x", "&lt;https://evil.example|click&gt;"} {
		ack, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: text, UserID: responder, ChannelID: e.secops})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(ack.Payload, &body); err != nil {
			t.Fatalf("ack payload %s: %v", ack.Payload, err)
		}
		if strings.ContainsAny(body.Text, "<>") || !strings.Contains(body.Text, "&lt;") {
			t.Errorf("reply to %q echoes mrkdwn control characters: %q", text, body.Text)
		}
	}
}

// TestReconnect: Slack asks the bot to reconnect (disconnect), and later
// drops the socket without a word; commands keep working.
func TestReconnect(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	for i, cut := range []func(){e.emu.Disconnect, e.emu.DropConnections} {
		before := e.emu.ConnectionsOpened()
		cut()
		e.wait(t, "a new connection", func() bool { return e.emu.ConnectionsOpened() > before && len(e.emu.Connections()) >= 1 })
		ack, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "help", UserID: responder, ChannelID: e.secops})
		if err != nil {
			t.Fatalf("after cut %d: %v", i, err)
		}
		if !strings.Contains(string(ack.Payload), "/secops findings") {
			t.Fatalf("after cut %d: help answered %s", i, ack.Payload)
		}
	}
}

func TestServeRefusesWithoutTokens(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	cfg.Ingest.Dir = t.TempDir()
	err := Serve(context.Background(), ServeOptions{Config: cfg, Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "SECOPS_SLACK_APP_TOKEN") || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("Serve without tokens = %v, want a message naming the variables and replay", err)
	}
}

func TestServeRefusesUnreachableChannel(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.emu.SetMember(e.payments, false)
	err := Serve(context.Background(), ServeOptions{Config: e.cfg, Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "#team-payments") || !strings.Contains(err.Error(), "invite") {
		t.Fatalf("Serve = %v, want a message naming #team-payments and how to invite the bot", err)
	}
}

// TestRestartWhilePosting stops the bot while Slack is refusing posts with
// 429 Retry-After, then starts it again: the pending posts survive in the
// outbox and every channel ends with exactly one message.
func TestRestartWhilePosting(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.emu.RateLimit("chat.postMessage", 2, 2*time.Second)
	e.start(t)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the rate-limited posts", func() bool { return len(e.emu.CallsTo("chat.postMessage")) >= 2 })
	e.stop(t)
	if n := len(e.emu.Messages(e.secops)) + len(e.emu.Messages(e.payments)); n != 0 {
		t.Fatalf("%d messages posted while Slack was refusing", n)
	}
	e.start(t)
	e.wait(t, "one message per channel after the restart", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	// Give a duplicate every chance to appear before counting again.
	time.Sleep(1500 * time.Millisecond)
	e.stop(t)
	for _, ch := range []string{e.secops, e.payments} {
		if n := len(topLevel(e.emu.Messages(ch))); n != 1 {
			t.Errorf("channel %s has %d messages, want exactly 1", ch, n)
		}
	}
}

// TestMarkExpectedModal marks a share as expected with a name pattern: an
// outsider's submission is refused, a responder's suppresses the finding
// (the message and thread say so), and a later matching share in the same
// account is suppressed without a post.
func TestMarkExpectedModal(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	msg := topLevel(e.emu.Messages(e.secops))[0]

	// The modal opens for anyone; who may mark is checked when it is
	// submitted.
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: outsider, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.expected"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the mark-expected modal", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "finding.expected" {
				return true
			}
		}
		return false
	})
	// An outsider cannot submit it (the check is at submission, not when the modal opened).
	sub := slackemu.ViewSubmission{CallbackID: "finding.expected", UserID: outsider, Values: map[string]map[string]string{
		"expected.reason":  {"reason": "nightly restore test by the data team"},
		"expected.scope":   {"scope": "pattern"},
		"expected.pattern": {"pattern": "prod-customers-*"},
	}}
	if _, err := e.emu.SubmitView(ctx, sub); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the refusal sent privately", func() bool {
		for _, m := range e.emu.CallsTo("chat.postMessage") {
			if strings.Contains(m.Params.Get("text"), "Not allowed") {
				return true
			}
		}
		return false
	})
	if cur, _ := e.emu.Message(e.secops, msg.TS); strings.Contains(cur.Text, "SUPPRESSED") {
		t.Fatal("an outsider's submission suppressed the finding")
	}

	// Reopen the modal for the responder and submit.
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.expected"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "a second modal", func() bool {
		n := 0
		for _, v := range e.emu.Views() {
			if v.CallbackID == "finding.expected" {
				n++
			}
		}
		return n >= 2
	})
	sub.UserID = responder
	if _, err := e.emu.SubmitView(ctx, sub); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the message marked suppressed and a thread reply", func() bool {
		cur, _ := e.emu.Message(e.secops, msg.TS)
		return strings.Contains(cur.Text, "SUPPRESSED") && len(e.emu.Replies(e.secops, msg.TS)) >= 1
	})

	// The entry can be taken back from the thread (tested after the
	// suppression of the next share below).
	var removeTS string
	for _, r := range e.emu.Replies(e.secops, msg.TS) {
		if strings.Contains(string(r.Blocks), `"action_id":"expected.remove"`) {
			removeTS = r.TS
		}
	}
	if removeTS == "" {
		t.Fatal("no Remove from allowlist button in the thread")
	}

	// A new share of another snapshot matching the pattern is suppressed: no new post.
	b, err := os.ReadFile(incident)
	if err != nil {
		t.Fatal(err)
	}
	later := strings.NewReplacer("prod-customers-2026-11-26", "prod-customers-2026-11-27", "2026-11-27T03:04:12Z", "2026-11-27T05:10:00Z").Replace(string(b))
	later = regexp.MustCompile(`"eventID": "[^"]+"`).ReplaceAllString(later, `"eventID": "5f0c7c8e-0000-4000-8000-000000000001"`)
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "later.json"), later)
	time.Sleep(500 * time.Millisecond)
	if n := len(topLevel(e.emu.Messages(e.secops))); n != 1 {
		t.Fatalf("%d messages in #secops, want 1: the second share matches the allowlist", n)
	}
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: removeTS, ActionID: "expected.remove"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the removal announced in the thread", func() bool {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.Contains(r.Text, "removed allowlist entry") {
				return true
			}
		}
		return false
	})
	third := strings.NewReplacer("2026-11-27", "2026-11-28", "5f0c7c8e-0000-4000-8000-000000000001", "5f0c7c8e-0000-4000-8000-000000000002").Replace(later)
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "third.json"), third)
	e.wait(t, "a matching share alerting again after the removal", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 2 })
	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFindings(ctx, store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	suppressed := 0
	for _, f := range fs {
		if f.Status == "suppressed" {
			suppressed++
		}
	}
	if len(fs) != 3 || suppressed != 2 {
		t.Fatalf("findings: %d, suppressed %d; want 3 of which the first two suppressed", len(fs), suppressed)
	}
}

func TestResolveModal(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.payments))) == 1 })
	msg := topLevel(e.emu.Messages(e.payments))[0]
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.payments, MessageTS: msg.TS, ActionID: "finding.resolve"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the resolve modal", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "finding.resolve" {
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "finding.resolve", UserID: responder, Values: map[string]map[string]string{
		"resolve.reason": {"reason": "share removed by the on-call DBA"},
	}}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "both messages resolved, with a reply in each thread", func() bool {
		for _, ch := range []string{e.secops, e.payments} {
			m := topLevel(e.emu.Messages(ch))
			if len(m) != 1 || !strings.Contains(m[0].Text, "RESOLVED") || len(e.emu.Replies(ch, m[0].TS)) == 0 {
				return false
			}
		}
		return true
	})
	m := topLevel(e.emu.Messages(e.payments))[0]
	if !strings.Contains(string(m.Blocks), "share removed by the on-call DBA") && !strings.Contains(fmt.Sprint(e.emu.Replies(e.payments, m.TS)), "share removed by the on-call DBA") {
		t.Errorf("the reason is neither on the message nor in the thread")
	}
}

// TestInvestigateStoryTwo: with BackupManager's month of history and the
// 3 a.m. share ingested, /secops investigate BackupManager shows what is
// unusual, with reasons, and the finding involving it.
func TestInvestigateStoryTwo(t *testing.T) {
	t.Parallel()
	// The incident happened at 03:04 UTC on 27 November 2026. Looked at
	// that night, a month later or a year later, the investigation shows
	// the same hours, the same unusual signals and the same history: the
	// typed command names the window's end and the finding's button ends
	// it at the incident. No part of this test may depend on the day it
	// runs.
	incidentAt := time.Date(2026, 11, 27, 3, 4, 12, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
	}{
		{"the same night", incidentAt.Add(20 * time.Minute)},
		{"a month later", incidentAt.AddDate(0, 1, 0)},
		{"a year later", incidentAt.AddDate(1, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSlackEnv(t)
			e.clk = clock.ShiftedTo(tc.now)
			e.start(t)
			defer e.stop(t)
			e.drop(t, "history.jsonl", filepath.Join("..", "..", "examples", "story-two", "backupmanager-history.jsonl"))
			e.drop(t, "incident.json", incident)
			e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
			wants := []string{"198.51.100.77", "aws-cli", "04:04", "ModifyDBSnapshotAttribute", "prod-customers-2026-11-26", "Unusual"}

			ack, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: "investigate BackupManager --since 30d --until 2026-11-27T04:00Z", UserID: responder, ChannelID: e.secops})
			if err != nil {
				t.Fatal(err)
			}
			if ack.Latency > time.Second {
				t.Errorf("acknowledged after %v", ack.Latency)
			}
			typed := e.ephemeralWith(t, "the typed investigation", responder, "BackupManager", 0)
			for _, want := range wants {
				if !strings.Contains(typed, want) {
					t.Errorf("typed investigation lacks %q", want)
				}
			}

			// The finding's own button ends the window at the incident.
			msg := topLevel(e.emu.Messages(e.secops))[0]
			if _, err := e.emu.ClickButton(context.Background(), slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: msg.TS, ActionID: blocks.ActionInvestigate}); err != nil {
				t.Fatal(err)
			}
			clicked := e.ephemeralWith(t, "the investigation from the finding", responder, "BackupManager", 1)
			for _, want := range wants {
				if !strings.Contains(clicked, want) {
					t.Errorf("investigation from the finding lacks %q", want)
				}
			}

			// An outsider may not investigate.
			if _, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: "investigate BackupManager", UserID: outsider, ChannelID: e.secops}); err != nil {
				t.Fatal(err)
			}
			e.wait(t, "the refusal", func() bool {
				for _, ep := range e.emu.Ephemerals() {
					if ep.User == outsider && strings.Contains(ep.Text, "Not allowed") {
						return true
					}
				}
				return false
			})
		})
	}
}

// ephemeralWith waits for the n-th (from 0) ephemeral message to user whose
// blocks contain s, and returns its blocks.
func (e *slackEnv) ephemeralWith(t *testing.T, what, user, s string, n int) string {
	t.Helper()
	var found string
	e.wait(t, what, func() bool {
		seen := 0
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == user && strings.Contains(string(ep.Blocks), s) {
				if seen == n {
					found = string(ep.Blocks)
					return true
				}
				seen++
			}
		}
		return false
	})
	return found
}

// TestFindingsListShowsTimes: /secops findings lists the open findings with
// links to their threads and the last 30 days' times per team.
func TestFindingsListShowsTimes(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	if _, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: "findings all", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the list with times", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			b := string(ep.Blocks)
			if ep.User == responder && strings.Contains(b, "prod-customers-2026-11-26") && strings.Contains(b, "median detect") && strings.Contains(b, "payments") {
				return true
			}
		}
		return false
	})
}

// A thread reply whose post failed waits for its retry; the reply of a
// later change must not overtake it, or the thread says "resolved" before
// "acknowledged".
func TestThreadRepliesKeepTheirOrder(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in both channels", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	msg := topLevel(e.emu.Messages(e.secops))[0]
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message's buttons")
	}
	ctx := context.Background()
	// The acknowledgement's replies (one per channel) fail once; their
	// retry comes a second later.
	e.emu.FailNext("chat.postMessage", 2, "internal_error")
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "ack " + id[1], UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the failed reply posts", func() bool {
		n := 0
		for _, c := range e.emu.CallsTo("chat.postMessage") {
			if c.Error == "internal_error" {
				n++
			}
		}
		return n == 2
	})
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "resolve " + id[1] + " policy reverted", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]string{"#secops": e.secops, "#team-payments": e.payments} {
		parent := topLevel(e.emu.Messages(ch))[0]
		e.wait(t, "two replies in "+name, func() bool { return len(e.emu.Replies(ch, parent.TS)) == 2 })
		r := e.emu.Replies(ch, parent.TS)
		if !strings.Contains(strings.ToLower(r[0].Text), "acknowledged") || !strings.Contains(strings.ToLower(r[1].Text), "resolved") {
			t.Errorf("%s thread = %q then %q, want the acknowledgement then the resolution", name, r[0].Text, r[1].Text)
		}
	}
}

// While Slack refuses chat.update, only the newest version of a message
// retries: an older change's update is done once a newer one waits, since
// the newer one renders the finding as stored.
func TestOnlyTheNewestUpdateRetries(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in both channels", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	msg := topLevel(e.emu.Messages(e.secops))[0]
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message's buttons")
	}
	ctx := context.Background()
	updates := func() int { return len(e.emu.CallsTo("chat.update")) }
	before := updates()
	const outage = 5 * time.Second
	e.emu.FailFor("chat.update", outage, "internal_error")
	began := time.Now()
	// The acknowledgement's update fails in both channels and waits for
	// its retry; then the resolution's update is planned.
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "ack " + id[1], UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the acknowledgement's updates to fail", func() bool { return updates()-before >= 2 })
	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "resolve " + id[1] + " policy reverted", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the message to show the resolution once Slack recovers", func() bool {
		m, _ := e.emu.Message(e.secops, msg.TS)
		return time.Since(began) > outage && strings.Contains(strings.ToLower(m.Text+string(m.Blocks)), "resolved")
	})
	// Retries come after 1 s, 2 s, 4 s… : through the outage the
	// acknowledgement's update is tried once per channel and then found
	// superseded, the resolution's three times, plus the one that
	// succeeds: 10 at most. Both retrying would make about 14.
	if n := updates() - before; n > 10 {
		t.Errorf("%d chat.update calls for two changes in two channels during a %v outage: superseded updates kept retrying", n, outage)
	}
}

// TestLostAnswersPostOnce: Slack carries out a post but its answer is lost
// (a timeout, or the bot dying between Slack accepting the post and
// recording it). The retry must find the message, not post it again:
// first the finding's message, then a thread reply.
func TestLostAnswersPostOnce(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	e.emu.LoseAnswers("chat.postMessage", 1)
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in both channels", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) >= 1 && len(topLevel(e.emu.Messages(e.payments))) >= 1
	})
	// The lost post is retried a second later: time for a second message
	// to show.
	time.Sleep(3 * time.Second)
	for name, ch := range map[string]string{"#secops": e.secops, "#team-payments": e.payments} {
		if top := topLevel(e.emu.Messages(ch)); len(top) != 1 {
			t.Fatalf("%s holds %d messages for one finding, want 1", name, len(top))
		}
	}
	msg := topLevel(e.emu.Messages(e.secops))[0]
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message's buttons")
	}
	e.emu.LoseAnswers("chat.postMessage", 2)
	if _, err := e.emu.SendSlashCommand(context.Background(), slackemu.SlashCommand{Command: "/secops", Text: "ack " + id[1], UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the acknowledgement in both threads", func() bool {
		return len(e.emu.Replies(e.secops, msg.TS)) >= 1 && len(e.emu.Replies(e.payments, topLevel(e.emu.Messages(e.payments))[0].TS)) >= 1
	})
	time.Sleep(3 * time.Second)
	for name, ch := range map[string]string{"#secops": e.secops, "#team-payments": e.payments} {
		top := topLevel(e.emu.Messages(ch))
		replies := e.emu.Replies(ch, top[0].TS)
		if len(replies) != 1 || !strings.Contains(strings.ToLower(replies[0].Text), "acknowledged") {
			var texts []string
			for _, r := range replies {
				texts = append(texts, r.Text)
			}
			t.Errorf("%s thread = %q, want the acknowledgement once", name, texts)
		}
	}
	lost := 0
	for _, c := range e.emu.CallsTo("chat.postMessage") {
		if c.Status == http.StatusGatewayTimeout {
			lost++
		}
	}
	if lost != 3 {
		t.Errorf("%d answers lost, want the 3 injected", lost)
	}
}

// Roles follow Slack at once: a user added to the responders' group may act
// as soon as Slack says so, and one made a guest loses the role at the same
// moment, without waiting for the bot's cached answer to expire.
func TestRolesFollowSlackEvents(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })

	// findings asks for the responder role, and caches the answer.
	asks := func(user string) {
		t.Helper()
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "findings", UserID: user, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
	}
	answers := func(user string) int {
		n := 0
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == user {
				n++
			}
		}
		return n
	}
	lastTo := func(user string) string {
		var last string
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == user {
				last = ep.Text + string(ep.Blocks)
			}
		}
		return last
	}
	expect := func(user string, n int, allowed bool) {
		t.Helper()
		e.wait(t, fmt.Sprintf("answer %d to %s", n, user), func() bool { return answers(user) >= n })
		if got := strings.Contains(lastTo(user), "Not allowed"); got == allowed {
			t.Fatalf("answer %d to %s: allowed %v, want %v: %s", n, user, !got, allowed, lastTo(user))
		}
	}

	asks(outsider)
	expect(outsider, 1, false)
	e.emu.PutUsergroup(slackemu.Usergroup{ID: e.responders, Handle: "secops-responders", Users: []string{responder, guest, foreign, outsider}})
	if _, _, err := e.emu.SendEvent(ctx, map[string]any{"type": "subteam_members_changed", "subteam_id": e.responders, "added_users": []string{outsider}, "added_users_count": 1}); err != nil {
		t.Fatal(err)
	}
	asks(outsider)
	expect(outsider, 2, true)

	asks(responder)
	expect(responder, 1, true)
	e.emu.PutUser(slackemu.User{ID: responder, Name: "rita", IsRestricted: true})
	if _, _, err := e.emu.SendEvent(ctx, map[string]any{"type": "user_change", "user": map[string]any{"id": responder, "name": "rita", "is_restricted": true}}); err != nil {
		t.Fatal(err)
	}
	asks(responder)
	expect(responder, 2, false)
}
