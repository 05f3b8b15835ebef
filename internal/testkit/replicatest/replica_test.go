// Package replicatest runs several secops-bot processes against one
// PostgreSQL, one SQS queue and one Slack workspace, kills one of them
// mid-run, and checks what people in Slack would see: every finding posted
// once per channel, every button press applied once, break-glass access
// ending on time. It holds tests only.
package replicatest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/providers/aws/grant"
)

const (
	awsRegion    = "eu-west-1"
	botAccessKey = "AKIDSECOPSREPLICAS01"
	botSecretKey = "replica-test-secret"
	appToken     = "xapp-replica-test"
	botToken     = "xoxb-replica-test"

	responder = "U0RESPOND1"
	manager   = "U0MANAGER1"

	breakGlassRole = "secops-breakglass"
	// breakGlassWindow is the access window; it is short so that expiry
	// can be watched on the wall clock the replicas use.
	breakGlassWindow = 20 * time.Second
	timerInterval    = 500 * time.Millisecond

	replicas   = 3
	events     = 200
	exposures  = 20
	visibility = 5 // seconds an SQS message stays hidden once received
)

// workspace is the Slack side: the emulator and the channels the example
// configuration names.
type workspace struct {
	emu       *slackemu.Server
	secops    string
	approvals string
	teams     map[string]string // channel name → ID
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	emu := slackemu.New(slackemu.Options{TeamID: "T0WORKSPACE", BotToken: botToken, AppToken: appToken})
	emu.Start()
	t.Cleanup(emu.Close)
	w := &workspace{emu: emu, teams: map[string]string{}}
	w.secops = emu.PutChannel(slackemu.Channel{Name: "secops"})
	w.approvals = emu.PutChannel(slackemu.Channel{Name: "secops-approvals"})
	for _, name := range []string{"team-payments", "team-data"} {
		w.teams[name] = emu.PutChannel(slackemu.Channel{Name: name})
	}
	emu.PutUser(slackemu.User{ID: responder, Name: "rita", Email: "rita@example.com"})
	emu.PutUser(slackemu.User{ID: manager, Name: "max", Email: "max@example.com"})
	emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-responders", Users: []string{responder}})
	emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-managers", Users: []string{manager}})
	emu.PutUsergroup(slackemu.Usergroup{Handle: "secops-admins", Users: []string{}})
	return w
}

// findingMessages returns the top-level messages of a channel that show
// resource.
func (w *workspace) findingMessages(channel, resource string) []slackemu.Message {
	var out []slackemu.Message
	for _, m := range w.emu.Messages(channel) {
		if m.ThreadTS != "" && m.ThreadTS != m.TS {
			continue
		}
		if strings.Contains(m.Text+string(m.Blocks), resource) {
			out = append(out, m)
		}
	}
	return out
}

func (w *workspace) wait(t *testing.T, what string, within time.Duration, cond func() bool) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := w.emu.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return time.Now()
}

// writeConfig writes config.example.yaml with the changes a deployment of
// several replicas behind the emulator makes; secrets and the DSN come
// from the environment, as the example recommends.
func writeConfig(t *testing.T, emu *slackemu.Server, queueURL, federationURL string) string {
	t.Helper()
	return serveproc.Config(t, func(section func(string) map[string]any) {
		section("slack")["api_url"] = emu.APIURL()
		section("store")["driver"] = "postgres"
		section("store")["dsn"] = ""
		section("ingest")["dir"] = ""
		section("ingest")["sqs_queue_url"] = queueURL
		// Reading AWS state is not what this test is about; break-glass
		// reaches STS and IAM through the fakes on its own.
		section("aws")["enabled"] = false
		section("aws")["region"] = awsRegion
		// Three processes on one machine cannot share a port.
		section("metrics")["listen"] = ""
		bg := section("breakglass")
		bg["enabled"] = true
		bg["federation_url"] = federationURL
		bg["default_duration"] = breakGlassWindow.String()
		bg["max_duration"] = breakGlassWindow.String()
		bg["timer_interval"] = timerInterval.String()
		// Approvals across replicas are what this test is about, not the
		// one-time codes production asks for (tested in internal/app).
		for _, a := range bg["accounts"].([]any) {
			a.(map[string]any)["step_up"] = false
		}
		section("log")["level"] = "debug"
	})
}

// federation is the AWS sign-in endpoint that turns a session into a
// console link.
func federation(t *testing.T) string {
	t.Helper()
	fed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s map[string]string
		if r.URL.Query().Get("Action") != "getSigninToken" || json.Unmarshal([]byte(r.URL.Query().Get("Session")), &s) != nil || s["sessionToken"] == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": "signin-" + s["sessionId"]})
	}))
	t.Cleanup(fed.Close)
	return fed.URL + "/federation"
}

// TestReplicasSurviveAKill runs three replicas on one PostgreSQL, one SQS
// queue and one Slack app. 200 CloudTrail events, 20 of them exposures,
// arrive while a break-glass grant is active; one replica is killed with
// SIGKILL once posting is under way. Afterwards each exposure has exactly
// one message in #secops and one in its team's channel, each Acknowledge
// press (some of them pressed twice at once, landing on different
// replicas) took effect once, the queue is empty, and the grant ended on
// time.
func TestReplicasSurviveAKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts three bot processes and two servers")
	}
	dsn := freshSchema(t)
	sqsSrv := startSQS(t)
	queueURL := sqsSrv.CreateQueue(t, "secops-events", visibility)
	bin := buildBot(t)

	ws := newWorkspace(t)
	emu := ws.emu

	// STS and IAM for break-glass, in this process; the replicas reach it
	// through AWS_ENDPOINT_URL and are known by their access key.
	awsSrv := awsfake.New()
	t.Cleanup(awsSrv.Close)
	awsSrv.Identities().Add(botAccessKey, "arn:aws:iam::999900001111:role/secops-bot")
	awsSrv.Handle("sts", awsfake.NewSTS(awsSrv.Identities(), clock.Real{}))
	iam := awsfake.NewIAM(clock.Real{})
	awsSrv.Handle("iam", iam)
	iam.AddRole(paymentsAccount, awsfake.IAMRole{Name: breakGlassRole, MaxSessionDuration: 7200})

	config := writeConfig(t, emu, queueURL, federation(t))
	env := []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken,
		"SECOPS_SLACK_BOT_TOKEN=" + botToken,
		"SECOPS_STORE_DSN=" + dsn,
		"AWS_ENDPOINT_URL=" + awsSrv.URL(),
		"AWS_ENDPOINT_URL_SQS=" + sqsSrv.Endpoint,
		"AWS_ACCESS_KEY_ID=" + botAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + botSecretKey,
		"AWS_REGION=" + awsRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	var bots []*serveproc.Process
	for i := range replicas {
		bots = append(bots, startReplica(t, bin, "replica-"+string(rune('a'+i)), config, env))
	}
	ws.wait(t, "three Socket Mode connections", 60*time.Second, func() bool {
		return len(emu.Connections()) == replicas
	})
	for _, b := range bots {
		if !b.Alive() {
			t.Fatalf("%s exited:\n%s", b.Name(), b.Tail(4<<10))
		}
	}
	ctx := context.Background()

	// Break-glass first, so that its window runs across the kill.
	if _, err := emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass " + paymentsAccount + " replica drill", UserID: responder, ChannelID: ws.secops}); err != nil {
		t.Fatalf("/secops breakglass: %v", err)
	}
	var form slackemu.View
	ws.wait(t, "the break-glass request form", 10*time.Second, func() bool {
		for _, v := range emu.Views() {
			if v.CallbackID == "breakglass.request" && v.Open && v.UserID == responder {
				form = v
				return true
			}
		}
		return false
	})
	// The form offers the configured window, below the usual choices.
	if !strings.Contains(string(form.Blocks), `"value":"`+breakGlassWindow.String()+`"`) {
		t.Fatalf("the request form offers no %v window: %s", breakGlassWindow, form.Blocks)
	}
	if _, err := emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: form.ID, UserID: responder, Values: map[string]map[string]string{
		"breakglass.target":   {"target": paymentsAccount + "/incident-responder"},
		"breakglass.duration": {"duration": breakGlassWindow.String()},
		"breakglass.reason":   {"reason": "replica drill"},
	}}); err != nil {
		t.Fatalf("submit the request: %v", err)
	}
	var request slackemu.Message
	ws.wait(t, "the request in the approvers' channel", 10*time.Second, func() bool {
		for _, m := range emu.Messages(ws.approvals) {
			if strings.Contains(string(m.Blocks), `"action_id":"breakglass.approve"`) {
				request = m
				return true
			}
		}
		return false
	})
	approvedFrom := time.Now()
	if _, err := emu.ClickButton(ctx, slackemu.BlockAction{UserID: manager, ChannelID: ws.approvals, MessageTS: request.TS, ActionID: "breakglass.approve"}); err != nil {
		t.Fatalf("approve: %v", err)
	}
	approvedBy := ws.wait(t, "the request shown active", 10*time.Second, func() bool {
		cur, _ := emu.Message(ws.approvals, request.TS)
		return strings.Contains(cur.Text, "Break-glass active")
	})

	// The events arrive; one replica dies while findings are being posted.
	bodies, planted := plant(rand.New(rand.NewPCG(1, 2)), events, exposures, time.Now())
	for _, body := range bodies {
		sqsSrv.Send(t, queueURL, body)
	}
	postedSoFar := func() int {
		n := 0
		for _, ch := range []string{ws.secops, ws.teams["team-payments"], ws.teams["team-data"]} {
			for _, m := range emu.Messages(ch) {
				if m.ThreadTS == "" || m.ThreadTS == m.TS {
					n++
				}
			}
		}
		return n
	}
	ws.wait(t, "the first findings in Slack", 60*time.Second, func() bool { return postedSoFar() >= 4 })
	victim := bots[1]
	victim.Kill(t)
	t.Logf("killed %s after %d finding messages", victim.Name(), postedSoFar())
	ws.wait(t, "the killed replica's connection gone", 30*time.Second, func() bool {
		return len(emu.Connections()) == replicas-1
	})

	// Every exposure reaches #secops and its team.
	allPosted := func() bool {
		for _, p := range planted {
			if len(ws.findingMessages(ws.secops, p.resource)) == 0 || len(ws.findingMessages(ws.teams[p.team], p.resource)) == 0 {
				return false
			}
		}
		return true
	}
	// A delivery the killed replica held comes back when its one-minute
	// lease ends.
	ws.wait(t, "every exposure in both of its channels", 100*time.Second, allPosted)

	// Acknowledge some findings: once from #secops, once from the team
	// channel, and twice at the same moment from both, which lands on two
	// replicas at once.
	type press struct {
		p     exposure
		where []string // "secops", "team"
	}
	presses := []press{
		{planted[0], []string{"secops"}},
		{planted[1], []string{"team"}},
		{planted[2], []string{"secops", "team"}},
		{planted[3], []string{"secops", "team"}},
		{planted[5], []string{"team", "secops"}},
		{planted[8], []string{"secops"}},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(presses))
	for _, pr := range presses {
		for _, where := range pr.where {
			ch := ws.secops
			if where == "team" {
				ch = ws.teams[pr.p.team]
			}
			msg := ws.findingMessages(ch, pr.p.resource)[0]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: ch, MessageTS: msg.TS, ActionID: "finding.ack"}); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("press Acknowledge: %v", err)
	}
	acked := map[string]bool{}
	for _, pr := range presses {
		acked[pr.p.resource] = true
	}
	ackReplies := func(ch, resource string) int {
		msgs := ws.findingMessages(ch, resource)
		if len(msgs) == 0 {
			return 0
		}
		n := 0
		for _, r := range emu.Replies(ch, msgs[0].TS) {
			if strings.Contains(r.Text+string(r.Blocks), "Acknowledged by") {
				n++
			}
		}
		return n
	}
	ws.wait(t, "every acknowledgement shown in both channels", 30*time.Second, func() bool {
		for _, pr := range presses {
			for _, ch := range []string{ws.secops, ws.teams[pr.p.team]} {
				msgs := ws.findingMessages(ch, pr.p.resource)
				if len(msgs) == 0 || !strings.Contains(string(msgs[0].Blocks), "acknowledged by \\u003c@"+responder) || ackReplies(ch, pr.p.resource) == 0 {
					return false
				}
			}
		}
		return true
	})

	// The grant ends by itself, on time, on the surviving replicas.
	ws.wait(t, "the break-glass access expired", breakGlassWindow+30*time.Second, func() bool {
		cur, _ := emu.Message(ws.approvals, request.TS)
		return strings.Contains(cur.Text, "Break-glass expired")
	})
	// The acknowledgements may have taken longer than the window, so the
	// time it ended is read from the message's history.
	cur, _ := emu.Message(ws.approvals, request.TS)
	expiredAt, ok := shownSince(cur, "Break-glass expired")
	if !ok {
		t.Fatalf("the request message was never edited to say it expired: %q", cur.Text)
	}
	if earliest := approvedFrom.Add(breakGlassWindow); expiredAt.Before(earliest) {
		t.Errorf("access expired at %v, before the end of its window (%v)", expiredAt.Format(time.StampMilli), earliest.Format(time.StampMilli))
	}
	// A timer run, the store round trip and a Slack edit; nothing that
	// waits for a lease.
	if latest := approvedBy.Add(breakGlassWindow + timerInterval + 3*time.Second); expiredAt.After(latest) {
		t.Errorf("access expired at %v, later than %v (window %v from approval at %v)",
			expiredAt.Format(time.StampMilli), latest.Format(time.StampMilli), breakGlassWindow, approvedBy.Format(time.StampMilli))
	}
	t.Logf("access ended %v after its window, counted from the approval's answer", expiredAt.Sub(approvedBy.Add(breakGlassWindow)).Round(time.Millisecond))
	role, _ := iam.Role(paymentsAccount, breakGlassRole)
	if _, doc := grant.NewestRevokePolicy(role.Policies, responder); !strings.Contains(doc, `"Effect":"Deny"`) {
		t.Errorf("the expired session is not denied on the role: %q", doc)
	}

	// Quiescence: the queue drained and no Slack delivery left, including
	// the ones whose lease the killed replica held.
	deadline := time.Now().Add(90 * time.Second)
	for {
		q, pending := sqsSrv.Depth(t, queueURL, true), pendingSlack(t, dsn)
		if q == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not quiet after the kill: %d messages on the queue, %d Slack deliveries pending", q, pending)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Anything still in flight in a surviving replica lands within this.
	time.Sleep(2 * time.Second)

	for _, p := range planted {
		for _, ch := range []string{ws.secops, ws.teams[p.team]} {
			msgs := ws.findingMessages(ch, p.resource)
			if len(msgs) != 1 {
				t.Errorf("%s has %d messages in %s, want exactly 1", p.resource, len(msgs), ch)
				continue
			}
			wantAcks := 0
			if acked[p.resource] {
				wantAcks = 1
			}
			if n := ackReplies(ch, p.resource); n != wantAcks {
				t.Errorf("%s has %d acknowledgement replies in %s, want %d", p.resource, n, ch, wantAcks)
			}
			seen := map[string]bool{}
			for _, r := range emu.Replies(ch, msgs[0].TS) {
				if seen[r.Text] {
					t.Errorf("%s: reply posted twice in %s: %q", p.resource, ch, r.Text)
				}
				seen[r.Text] = true
			}
		}
	}
	// Nothing but the planted findings was posted: no duplicates, and no
	// finding out of the reads.
	for name, ch := range map[string]string{"#secops": ws.secops, "#team-payments": ws.teams["team-payments"], "#team-data": ws.teams["team-data"]} {
		want := 0
		for _, p := range planted {
			if name == "#secops" || name == "#"+p.team {
				want++
			}
		}
		got := 0
		for _, m := range emu.Messages(ch) {
			if m.ThreadTS == "" || m.ThreadTS == m.TS {
				got++
			}
		}
		if got != want {
			t.Errorf("%s holds %d top-level messages, want %d (one per exposure)", name, got, want)
		}
	}
	for _, b := range bots {
		if b != victim && !b.Alive() {
			t.Errorf("%s exited:\n%s", b.Name(), b.Tail(4<<10))
		}
	}
}

// shownSince returns when the message first showed text: the moment the
// version before the first one holding it was replaced.
func shownSince(m slackemu.Message, text string) (time.Time, bool) {
	versions := make([]string, 0, len(m.Edits)+1)
	for _, e := range m.Edits {
		versions = append(versions, e.Text)
	}
	versions = append(versions, m.Text)
	for i, v := range versions {
		if strings.Contains(v, text) {
			if i == 0 {
				return m.PostedAt, true
			}
			return m.Edits[i-1].ReplacedAt, true
		}
	}
	return time.Time{}, false
}
