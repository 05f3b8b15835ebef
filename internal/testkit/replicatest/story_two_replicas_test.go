package replicatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/pagerdutyfake"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

// Story two's night, as the on-call responder and the payments team meet
// it, with the bot run as replicas of `secops-bot serve` on one PostgreSQL.
const (
	// The PagerDuty services of SecOps and of the payments team.
	secopsRoutingKey   = "R0SECOPS0000000000000000000000RP"
	paymentsRoutingKey = "R0PAYMENTS00000000000000000000RP"

	sam      = "U0SAM00001" // on call for SecOps in PagerDuty
	samPD    = "PUSAM01"
	borisPD  = "PUBOR01"
	pdToken  = "pd-api-token"
	jiraUser = "bot@example.com"

	// The exposures: the one of the night, which the first replica raises
	// alone, and the one the two replicas page for.
	nightSnapshot = "story-customers-night"
	pageSnapshot  = "story-customers-page"

	// storyBreakGlassWindow is short, so that the session's end and its
	// summary can be watched on the wall clock the replicas use.
	storyBreakGlassWindow = 15 * time.Second
	// morningLead is the least time between writing the configuration and
	// the payments team's business morning: enough for the first replica
	// to start, raise the night's finding and fall quiet before it is
	// killed. The morning is the next whole minute after it (business
	// hours are set to the minute).
	morningLead = 12 * time.Second
)

// storyRig is everything the replicas talk to: Slack, SQS, AWS (STS, IAM,
// RDS, CloudTrail), Jira and PagerDuty, and how to start a replica.
type storyRig struct {
	ws       *workspace
	sqs      *testserver.SQS
	queueURL string
	pd       *pagerdutyfake.Server
	jira     *jirafake.Server
	trail    *awsfake.CloudTrail
	dsn      string
	bin      string
	config   string
	env      []string
	// morning is when the payments team's business day starts.
	morning time.Time
}

func newStoryRig(t *testing.T) *storyRig {
	t.Helper()
	rig := &storyRig{dsn: freshSchema(t), bin: buildBot(t)}
	rig.sqs = startSQS(t)
	rig.queueURL = rig.sqs.CreateQueue(t, "secops-events", visibility)
	rig.ws = newWorkspace(t)
	rig.ws.emu.PutUser(slackemu.User{ID: sam, Name: "sam", Email: "sam@example.com"})

	awsSrv := awsfake.New()
	t.Cleanup(awsSrv.Close)
	awsSrv.Identities().Add(botAccessKey, "arn:aws:iam::999900001111:role/secops-bot")
	awsSrv.Handle("sts", awsfake.NewSTS(awsSrv.Identities(), clock.Real{}))
	iam := awsfake.NewIAM(clock.Real{})
	awsSrv.Handle("iam", iam)
	iam.AddRole(paymentsAccount, awsfake.IAMRole{Name: breakGlassRole, MaxSessionDuration: 7200})
	rds := awsfake.NewRDS(clock.Real{})
	awsSrv.Handle("rds", rds)
	for _, snap := range []string{nightSnapshot, pageSnapshot} {
		rds.AddSnapshot(paymentsAccount, awsfake.RDSSnapshot{ID: snap, Region: awsRegion, SharedWith: []string{unknownAccount}})
	}
	rig.trail = awsfake.NewCloudTrail()
	awsSrv.Handle("cloudtrail", rig.trail)

	rig.pd = pagerdutyfake.New(pagerdutyfake.Options{
		Token: pdToken,
		Services: []pagerdutyfake.Service{
			{ID: "PSVSEC1", Name: "SecOps", RoutingKey: secopsRoutingKey},
			{ID: "PSVPAY1", Name: "Payments", RoutingKey: paymentsRoutingKey},
		},
		Users: []pagerdutyfake.User{{ID: samPD, Name: "Sam Ortiz", Email: "sam@example.com"}, {ID: borisPD, Name: "Boris Petrov", Email: "boris@example.com"}},
		Schedules: []pagerdutyfake.Schedule{
			{ID: "PSCHSEC", Name: "SecOps primary", OnCall: []string{samPD}},
			{ID: "PSCHPAY", Name: "Payments primary", OnCall: []string{borisPD}},
		},
		EscalationPolicies: []pagerdutyfake.EscalationPolicy{
			{ID: "PEPSEC1", Name: "SecOps", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHSEC"}}}},
			{ID: "PEPPAY1", Name: "Payments", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHPAY"}}}},
		},
	})
	t.Cleanup(rig.pd.Close)
	rig.jira = jirafake.New(jirafake.Options{Email: jiraUser})
	t.Cleanup(rig.jira.Close)

	rig.morning = time.Now().UTC().Add(morningLead).Truncate(time.Minute).Add(time.Minute)
	rig.config = storyConfig(t, rig, federation(t))
	rig.env = []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken,
		"SECOPS_SLACK_BOT_TOKEN=" + botToken,
		"SECOPS_STORE_DSN=" + rig.dsn,
		"SECOPS_JIRA_API_TOKEN=jira-token",
		"SECOPS_PAGING_PAGERDUTY_API_TOKEN=" + pdToken,
		"AWS_ENDPOINT_URL=" + awsSrv.URL(),
		"AWS_ENDPOINT_URL_SQS=" + rig.sqs.Endpoint,
		"AWS_ACCESS_KEY_ID=" + botAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + botSecretKey,
		"AWS_REGION=" + awsRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return rig
}

// businessHours are the payments team's hours: every day, from the
// morning for an hour (to midnight at the latest), so that the night's
// event, a few seconds before the morning, is off hours and its follow-up
// is due at the morning.
func businessHours(morning time.Time) string {
	start := morning.Hour()*60 + morning.Minute()
	end := min(start+60, 24*60)
	return fmt.Sprintf("Mon-Sun %02d:%02d-%02d:%02d", start/60, start%60, end/60, end%60)
}

// storyConfig writes config.example.yaml with what a deployment of
// replicas behind the fakes changes: AWS state reads and containment on,
// Jira, PagerDuty paging for SecOps and payments, break-glass with a short
// window, and the payments team's business hours set around the test's
// morning.
func storyConfig(t *testing.T, rig *storyRig, federationURL string) string {
	t.Helper()
	path := serveproc.Config(t, func(section func(string) map[string]any) {
		section("slack")["api_url"] = rig.ws.emu.APIURL()
		section("store")["driver"] = "postgres"
		section("store")["dsn"] = ""
		section("ingest")["dir"] = ""
		section("ingest")["sqs_queue_url"] = rig.queueURL
		a := section("aws")
		a["enabled"] = true
		a["region"] = awsRegion
		// Only the read right after a containment resolves a finding here.
		a["recheck_interval"] = "1h"
		section("metrics")["listen"] = ""
		j := section("jira")
		j["enabled"] = true
		j["base_url"] = rig.jira.URL
		j["email"] = jiraUser
		bg := section("breakglass")
		bg["enabled"] = true
		bg["federation_url"] = federationURL
		bg["default_duration"] = storyBreakGlassWindow.String()
		bg["max_duration"] = storyBreakGlassWindow.String()
		bg["timer_interval"] = timerInterval.String()
		for _, acct := range bg["accounts"].([]any) {
			acct.(map[string]any)["step_up"] = false
		}
		p := section("paging")
		p["provider"] = "pagerduty"
		p["poll_interval"] = "10s" // the shortest the configuration allows
		p["pagerduty"] = map[string]any{"events_url": rig.pd.URL, "api_url": rig.pd.URL}
		p["teams"] = []any{
			map[string]any{"name": "secops", "severities": []any{"critical"}, "routing_key": secopsRoutingKey, "schedule": "PSCHSEC"},
			map[string]any{"name": "payments", "severities": []any{"critical"}, "routing_key": paymentsRoutingKey, "schedule": "PSCHPAY"},
		}
		section("log")["level"] = "debug"
	})
	editConfig(t, path, func(cfg map[string]any) {
		for _, team := range cfg["teams"].([]any) {
			tm := team.(map[string]any)
			if tm["name"] != "payments" {
				continue
			}
			tm["timezone"] = "UTC"
			tm["business_hours"] = businessHours(rig.morning)
			tm["holidays"] = []any{}
		}
	})
	return path
}

// editConfig rewrites the configuration file at path with edit's
// changes to the whole document (serveproc.Config edits sections that are
// maps; the teams block is a list).
func editConfig(t *testing.T, path string, edit func(cfg map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(cfg)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// until waits for cond, checked every tenth of a second: what it looks at
// may be Slack, PagerDuty, Jira or the store, and only Slack tells the
// test when it changed.
func until(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs one replica named name.
func (rig *storyRig) start(t *testing.T, name string) *serveproc.Process {
	t.Helper()
	return startReplica(t, rig.bin, name, rig.config, rig.env)
}

// connected waits until n replicas hold a Socket Mode connection.
func (rig *storyRig) connected(t *testing.T, n int) {
	t.Helper()
	until(t, fmt.Sprintf("%d Socket Mode connection(s)", n), 60*time.Second, func() bool {
		return len(rig.ws.emu.Connections()) == n
	})
}

// raise puts a CloudTrail event on the queue that shares snapshot with an
// unknown account, and returns the finding's ID once its message is in
// #secops and #team-payments.
func (rig *storyRig) raise(t *testing.T, r *rand.Rand, snapshot string, at time.Time) string {
	t.Helper()
	rig.sqs.Send(t, rig.queueURL, snapshotShare(r, paymentsAccount, snapshot, at))
	var id string
	until(t, "the finding on "+snapshot+" in #secops and #team-payments", 60*time.Second, func() bool {
		for _, ch := range []string{rig.ws.secops, rig.ws.teams["team-payments"]} {
			msgs := rig.ws.findingMessages(ch, snapshot)
			if len(msgs) == 0 {
				return false
			}
			if m := findingIDRe.FindStringSubmatch(string(msgs[0].Blocks)); m != nil {
				id = m[1]
			}
		}
		return id != ""
	})
	return id
}

var findingIDRe = regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`)

// shown is what a person reads in a message: its text and its blocks,
// with the escapes of the JSON undone.
func shownText(m slackemu.Message) string {
	return m.Text + "\n" + strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(m.Blocks))
}

// channelName is a channel's name, for messages.
func (w *workspace) channelName(id string) string {
	switch id {
	case w.secops:
		return "#secops"
	case w.approvals:
		return "#secops-approvals"
	}
	for name, ch := range w.teams {
		if ch == id {
			return "#" + name
		}
	}
	return id
}

// mainMessages are the finding's own top-level messages in channel, as
// they read now: not its morning follow-up, which names it too.
func (rig *storyRig) mainMessages(channel, findingID string) []slackemu.Message {
	var out []slackemu.Message
	for _, m := range rig.ws.emu.Messages(channel) {
		if m.Deleted || (m.ThreadTS != "" && m.ThreadTS != m.TS) || strings.HasPrefix(m.Text, "Morning follow-up") {
			continue
		}
		if strings.Contains(shownText(m), findingID) {
			out = append(out, m)
		}
	}
	return out
}

// main is the finding's message in channel; the test fails when there
// is none.
func (rig *storyRig) main(t *testing.T, channel, findingID string) slackemu.Message {
	t.Helper()
	msgs := rig.mainMessages(channel, findingID)
	if len(msgs) == 0 {
		t.Fatalf("no message of %s in %s", findingID, rig.ws.channelName(channel))
	}
	return msgs[0]
}

// replies counts the replies in the finding's thread in channel that show
// every one of subs.
func (rig *storyRig) replies(channel, findingID string, subs ...string) int {
	msgs := rig.mainMessages(channel, findingID)
	if len(msgs) == 0 {
		return 0
	}
	n := 0
	for _, r := range rig.ws.emu.Replies(channel, msgs[0].TS) {
		if r.Deleted || r.TS == msgs[0].TS {
			continue
		}
		s, all := shownText(r), true
		for _, sub := range subs {
			all = all && strings.Contains(s, sub)
		}
		if all {
			n++
		}
	}
	return n
}

// checklist is the playbook's checklist in the finding's #secops thread.
func (rig *storyRig) checklist(findingID string) (slackemu.Message, int) {
	msgs := rig.mainMessages(rig.ws.secops, findingID)
	if len(msgs) == 0 {
		return slackemu.Message{}, 0
	}
	var found slackemu.Message
	n := 0
	for _, r := range rig.ws.emu.Replies(rig.ws.secops, msgs[0].TS) {
		if !r.Deleted && strings.HasPrefix(r.Text, "Playbook: ") {
			found = r
			n++
		}
	}
	return found, n
}

// followUps are the morning follow-ups of the finding in #team-payments.
func (rig *storyRig) followUps(findingID string) []slackemu.Message {
	var out []slackemu.Message
	for _, m := range rig.ws.emu.Messages(rig.ws.teams["team-payments"]) {
		if !m.Deleted && strings.Contains(shownText(m), "Good morning payments") && strings.Contains(shownText(m), findingID) {
			out = append(out, m)
		}
	}
	return out
}

// pdEvents counts the Events API calls PagerDuty accepted, by action and
// dedup key.
func (rig *storyRig) pdEvents(action, dedupKey string) int {
	n := 0
	for _, ev := range rig.pd.Events() {
		if ev.Action == action && ev.DedupKey == dedupKey {
			n++
		}
	}
	return n
}

// busyOutbox counts the deliveries due now or held under a lease: none
// means no replica is in the middle of sending anything. Timers due later
// (the morning follow-up) are not counted.
func busyOutbox(t *testing.T, dsn string) int {
	t.Helper()
	return peek(t, "postgres", dsn, "SELECT count(*) FROM outbox WHERE done_at IS NULL AND (not_before <= now() OR lease_until > now())")
}

// quiet waits until no replica is sending anything and the queue is
// empty.
func (rig *storyRig) quiet(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		busy, queued := busyOutbox(t, rig.dsn), rig.sqs.Depth(t, rig.queueURL, true)
		if busy == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d outbox deliveries due or leased, %d messages on the queue", what, busy, queued)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStoryTwoAcrossReplicas runs story two's night through real `serve`
// processes on one PostgreSQL. The first replica raises the 3 a.m. share
// alone: it pages SecOps and payments through PagerDuty, opens the
// ticket, posts the checklist and schedules the payments team's morning
// follow-up. It is then killed with SIGKILL before the morning and
// restarted beside a second replica. With the two running:
//   - the unshare run with /secops contain on the night's finding (its
//     preview, review and confirmation landing on both replicas) shows
//     "Contained by" once on its message in both channels, ticks its
//     checklist step once and comments its ticket once;
//   - a second share pages each team once; Acknowledge pressed in #secops
//     and in #team-payments at the same moment acknowledges each PagerDuty
//     incident once; Sam resolving in PagerDuty shows once in each thread,
//     though both replicas poll;
//   - a break-glass session that made a call ends on time and its summary,
//     read from CloudTrail, is posted once;
//   - the morning follow-up the killed replica scheduled is posted once,
//     saying what was done by then.
//
// Nothing the first replica sent is sent again after its restart.
func TestStoryTwoAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three bot processes and the fakes they talk to")
	}
	began := time.Now()
	rig := newStoryRig(t)
	t.Logf("set up in %v; the payments team's morning is %v later", time.Since(began).Round(time.Millisecond), time.Until(rig.morning).Round(time.Second))
	ws, emu := rig.ws, rig.ws.emu
	payments := ws.teams["team-payments"]
	r := rand.New(rand.NewPCG(14, 2))

	// The night: one replica raises the share alone.
	first := rig.start(t, "replica-a")
	rig.connected(t, 1)
	night := rig.raise(t, r, nightSnapshot, time.Now().Add(-10*time.Second))
	nightKeys := []string{paging.RefFor(night, "secops").DedupKey, paging.RefFor(night, "payments").DedupKey}
	until(t, "the night's follow-up scheduled, its checklist, ticket and pages", 30*time.Second, func() bool {
		_, lists := rig.checklist(night)
		return rig.replies(ws.secops, night, "Morning follow-up for the owning team scheduled", `"action_id":"followup.cancel"`) > 0 &&
			lists > 0 && len(rig.jira.Issues()) > 0 &&
			rig.pdEvents("trigger", nightKeys[0]) > 0 && rig.pdEvents("trigger", nightKeys[1]) > 0 &&
			rig.replies(ws.secops, night, "Paged *secops* via PagerDuty") > 0 && rig.replies(ws.secops, night, "Paged *payments* via PagerDuty") > 0
	})
	if note := rig.morning.Format("Mon 2 Jan 15:04 UTC"); rig.replies(ws.secops, night, "Morning follow-up for the owning team scheduled for *"+note+"*") != 1 {
		t.Fatalf("the follow-up is not scheduled for the payments team's morning, %s", note)
	}
	rig.quiet(t, "the first replica after the night's finding")
	if !time.Now().Before(rig.morning) {
		t.Fatalf("the first replica took until the morning (%s) to raise the night's finding; raise morningLead", rig.morning.Format(time.TimeOnly))
	}
	// The replica that scheduled the follow-up dies before it is due.
	t.Logf("killing the first replica %v before the morning", time.Until(rig.morning).Round(time.Second))
	first.Kill(t)
	rig.connected(t, 0)
	rig.start(t, "replica-b")
	rig.start(t, "replica-a-restarted")
	rig.connected(t, 2)

	ctx := context.Background()
	// Each part says what it must have sent exactly once; that is counted
	// when nothing is left to send, so a second replica's copy would be
	// there by then.
	var (
		mu     sync.Mutex
		counts []func(t *testing.T)
	)
	countAtEnd := func(check func(t *testing.T)) {
		mu.Lock()
		defer mu.Unlock()
		counts = append(counts, check)
	}
	// The containment comes first: on most runs it is done before the
	// morning, and the follow-up then has to say so.
	containedBeforeMorning := false
	t.Run("contained once, ticked once, ticket commented once", func(t *testing.T) {
		before, _ := rig.checklist(night)
		total := stepsDone.FindStringSubmatch(before.Text)
		if total == nil || total[1] != "0" {
			t.Fatalf("the checklist before the containment: %q", before.Text)
		}
		containAsResponder(t, ws, "snapshot-unshare "+nightSnapshot)
		for _, ch := range []string{ws.secops, payments} {
			until(t, "the contained state on the night's message in "+ws.channelName(ch), 30*time.Second, func() bool {
				s := shownText(rig.main(t, ch, night))
				return strings.Contains(s, "Contained* by <@"+responder+">") && strings.Contains(s, "(Unshare the snapshot)")
			})
		}
		until(t, "the unshare step ticked", 30*time.Second, func() bool {
			m, _ := rig.checklist(night)
			return strings.Contains(m.Text, "(1 of "+total[2]+" steps done)")
		})
		until(t, "the ticket's comment", 30*time.Second, func() bool { return ticketComments(rig.jira, night, "Containment by") > 0 })
		until(t, "the night's finding resolved by the read after the unshare", 30*time.Second, func() bool {
			return strings.Contains(shownText(rig.main(t, ws.secops, night)), "RESOLVED")
		})
		containedBeforeMorning = time.Now().Before(rig.morning)
		countAtEnd(func(t *testing.T) {
			for _, ch := range []string{ws.secops, payments} {
				if n := strings.Count(shownText(rig.main(t, ch, night)), "(Unshare the snapshot)"); n != 1 {
					t.Errorf("the night's message in %s shows the unshare %d times, want once", ws.channelName(ch), n)
				}
			}
			m, lists := rig.checklist(night)
			if lists != 1 || !strings.Contains(m.Text, "(1 of "+total[2]+" steps done)") || strings.Count(shownText(m), "Done by <@"+responder+">") != 1 {
				t.Errorf("%d checklists; the checklist says %q, want one step done by the responder:\n%s", lists, m.Text, shownText(m))
			}
			if n := ticketComments(rig.jira, night, "Containment by"); n != 1 {
				t.Errorf("the night's ticket has %d containment comments, want one", n)
			}
		})
	})
	t.Run("two replicas", func(t *testing.T) {
		t.Run("page once, acknowledge once, resolved in PagerDuty shown once", func(t *testing.T) {
			t.Parallel()
			id := rig.raise(t, r, pageSnapshot, time.Now().Add(-5*time.Second))
			keys := map[string]string{"secops": paging.RefFor(id, "secops").DedupKey, "payments": paging.RefFor(id, "payments").DedupKey}
			until(t, "both teams paged, and told so in both threads", 30*time.Second, func() bool {
				for _, ch := range []string{ws.secops, payments} {
					if rig.replies(ch, id, "Paged *secops* via PagerDuty", "<@"+sam+">") == 0 || rig.replies(ch, id, "Paged *payments* via PagerDuty", "Boris Petrov") == 0 {
						return false
					}
				}
				return rig.pdEvents("trigger", keys["secops"]) > 0 && rig.pdEvents("trigger", keys["payments"]) > 0
			})
			// Acknowledge, pressed in both channels at once: the presses
			// land on both replicas.
			var wg sync.WaitGroup
			for _, ch := range []string{ws.secops, payments} {
				msg := rig.main(t, ch, id)
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: ch, MessageTS: msg.TS, ActionID: "finding.ack"}); err != nil {
						t.Errorf("press Acknowledge in %s: %v", ws.channelName(ch), err)
					}
				}()
			}
			wg.Wait()
			until(t, "both incidents acknowledged in PagerDuty", 30*time.Second, func() bool {
				return rig.pdEvents("acknowledge", keys["secops"]) > 0 && rig.pdEvents("acknowledge", keys["payments"]) > 0
			})
			// Sam resolves the SecOps incident in PagerDuty; both replicas
			// poll it.
			if !rig.pd.Resolve(keys["secops"], samPD) {
				t.Fatal("no open PagerDuty incident for the SecOps page")
			}
			for _, ch := range []string{ws.secops, payments} {
				until(t, "the resolution in PagerDuty in the thread in "+ws.channelName(ch), 40*time.Second, func() bool {
					return rig.replies(ch, id, "Resolved in PagerDuty by <@"+sam+">") > 0
				})
			}
			countAtEnd(func(t *testing.T) {
				for team, key := range keys {
					if n := rig.pdEvents("trigger", key); n != 1 {
						t.Errorf("%s was paged %d times for %s, want once", team, n, id)
					}
					if n := rig.pdEvents("acknowledge", key); n != 1 {
						t.Errorf("%s's incident for %s was acknowledged %d times, want once", team, id, n)
					}
				}
				for _, ch := range []string{ws.secops, payments} {
					for _, line := range []string{"Paged *secops* via PagerDuty", "Paged *payments* via PagerDuty", "Resolved in PagerDuty by <@" + sam + ">"} {
						if n := rig.replies(ch, id, line); n != 1 {
							t.Errorf("%q shown %d times in %s's thread in %s, want once", line, n, id, ws.channelName(ch))
						}
					}
				}
			})
		})
		t.Run("break-glass summary once", func(t *testing.T) {
			t.Parallel()
			request, key := approvedBreakGlass(t, ws)
			// The session's one call, which CloudTrail has and the event
			// feed has not delivered yet.
			call := fmt.Appendf(nil, `{"eventVersion":"1.09","eventID":"story-session-call","eventName":"ModifyDBSnapshotAttribute","eventSource":"rds.amazonaws.com","eventTime":%q,"awsRegion":%q,"recipientAccountId":%q,"readOnly":false,
				"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::%s:assumed-role/%s/%s","accountId":%q,"accessKeyId":%q,"sessionContext":{"sourceIdentity":%q}}}`,
				time.Now().UTC().Format(time.RFC3339), awsRegion, paymentsAccount, paymentsAccount, breakGlassRole, responder, paymentsAccount, key, responder)
			if err := rig.trail.Add(call); err != nil {
				t.Fatal(err)
			}
			summaries := func() []slackemu.Message {
				var out []slackemu.Message
				for _, m := range emu.Replies(ws.approvals, request.TS) {
					if !m.Deleted && strings.Contains(m.Text, "session summary") {
						out = append(out, m)
					}
				}
				return out
			}
			until(t, "the session ended and summarised", storyBreakGlassWindow+40*time.Second, func() bool {
				cur, _ := emu.Message(ws.approvals, request.TS)
				return strings.Contains(cur.Text, "Break-glass expired") && len(summaries()) > 0
			})
			s := shownText(summaries()[0])
			for _, want := range []string{"1 event", "0 from the event history, 1 from CloudTrail LookupEvents", "rds:ModifyDBSnapshotAttribute"} {
				if !strings.Contains(s, want) {
					t.Errorf("the session summary lacks %q:\n%s", want, s)
				}
			}
			countAtEnd(func(t *testing.T) {
				if n := len(summaries()); n != 1 {
					t.Errorf("%d session summaries in the request's thread, want one", n)
				}
			})
		})
		t.Run("morning follow-up once, after its replica was killed", func(t *testing.T) {
			t.Parallel()
			until(t, "the morning follow-up in #team-payments", time.Until(rig.morning)+60*time.Second, func() bool {
				return len(rig.followUps(night)) > 0
			})
			// What it says is the state when it was posted.
			if s := shownText(rig.followUps(night)[0]); containedBeforeMorning {
				for _, want := range []string{"Resolved by", "Contained by <@" + responder + ">", "(Unshare the snapshot)", "PAY-"} {
					if !strings.Contains(s, want) {
						t.Errorf("the follow-up, posted after the containment, lacks %q:\n%s", want, s)
					}
				}
			}
			countAtEnd(func(t *testing.T) {
				if n := len(rig.followUps(night)); n != 1 {
					t.Errorf("%d morning follow-ups of %s, want one", n, night)
				}
			})
		})
	})
	rig.quiet(t, "the replicas at the end")
	t.Logf("quiet %v after the start", time.Since(began).Round(time.Millisecond))
	for _, check := range counts {
		check(t)
	}

	// What the restart must not have repeated: the night's pages, and one
	// message per finding in each channel.
	for _, key := range nightKeys {
		if n := rig.pdEvents("trigger", key); n != 1 {
			t.Errorf("the night's page %s was triggered %d times, want once", key, n)
		}
	}
	for _, ch := range []string{ws.secops, payments} {
		if n := len(rig.mainMessages(ch, night)); n != 1 {
			t.Errorf("%d messages of the night's finding in %s, want one", n, ws.channelName(ch))
		}
	}
	if n := rig.replies(ws.secops, night, "Morning follow-up for the owning team scheduled"); n != 1 {
		t.Errorf("%d notes of the night's follow-up, want one", n)
	}
	if n := len(rig.pd.Incidents()); n != 4 {
		t.Errorf("%d PagerDuty incidents, want 4 (two findings, two teams)", n)
	}
}

// stepsDone reads "(n of m steps done)" from a checklist's text.
var stepsDone = regexp.MustCompile(`\((\d+) of (\d+) steps done\)`)

// containAsResponder runs /secops contain text as the responder: the preview, its
// Review button, and the confirmation modal, each of which may land on
// another replica.
func containAsResponder(t *testing.T, ws *workspace, text string) {
	t.Helper()
	ctx := context.Background()
	emu := ws.emu
	before := len(emu.Ephemerals())
	if _, err := emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "contain " + text, UserID: responder, ChannelID: ws.secops}); err != nil {
		t.Fatal(err)
	}
	var preview slackemu.Ephemeral
	until(t, "the preview of "+text, 30*time.Second, func() bool {
		eps := emu.Ephemerals()
		for _, ep := range eps[min(before, len(eps)):] {
			if ep.User == responder && strings.Contains(string(ep.Blocks), `"action_id":"containment.review"`) {
				preview = ep
				return true
			}
		}
		return false
	})
	if _, err := emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: ws.secops, MessageTS: preview.TS, ActionID: "containment.review"}); err != nil {
		t.Fatal(err)
	}
	until(t, "the confirmation of "+text, 30*time.Second, func() bool {
		for _, v := range emu.Views() {
			if v.CallbackID == "containment.confirm" && v.Open {
				return true
			}
		}
		return false
	})
	if _, err := emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.confirm", UserID: responder}); err != nil {
		t.Fatal(err)
	}
}

// ticketComments counts the comments of the finding's ticket that say
// what.
func ticketComments(jira *jirafake.Server, findingID, what string) int {
	n := 0
	for _, is := range jira.Issues() {
		label := false
		for _, l := range is.Labels {
			label = label || strings.EqualFold(l, "secops-finding-"+findingID)
		}
		if !label {
			continue
		}
		for _, c := range is.Comments {
			if strings.Contains(c.Text, what) {
				n++
			}
		}
	}
	return n
}

// approvedBreakGlass has the responder ask for the payments account and the
// manager approve; it returns the request's message in the approvers'
// channel and the session's access key.
func approvedBreakGlass(t *testing.T, ws *workspace) (slackemu.Message, string) {
	t.Helper()
	ctx := context.Background()
	emu := ws.emu
	if _, err := emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass " + paymentsAccount + " story two", UserID: responder, ChannelID: ws.secops}); err != nil {
		t.Fatalf("/secops breakglass: %v", err)
	}
	var form slackemu.View
	until(t, "the break-glass request form", 30*time.Second, func() bool {
		for _, v := range emu.Views() {
			if v.CallbackID == "breakglass.request" && v.Open && v.UserID == responder {
				form = v
				return true
			}
		}
		return false
	})
	if _, err := emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: form.ID, UserID: responder, Values: map[string]map[string]string{
		"breakglass.target":   {"target": paymentsAccount + "/incident-responder"},
		"breakglass.duration": {"duration": storyBreakGlassWindow.String()},
		"breakglass.reason":   {"reason": "story two"},
	}}); err != nil {
		t.Fatalf("submit the request: %v", err)
	}
	var request slackemu.Message
	until(t, "the request in the approvers' channel", 30*time.Second, func() bool {
		for _, m := range emu.Messages(ws.approvals) {
			if strings.Contains(string(m.Blocks), `"action_id":"breakglass.approve"`) {
				request = m
				return true
			}
		}
		return false
	})
	if _, err := emu.ClickButton(ctx, slackemu.BlockAction{UserID: manager, ChannelID: ws.approvals, MessageTS: request.TS, ActionID: "breakglass.approve"}); err != nil {
		t.Fatalf("approve: %v", err)
	}
	var key string
	until(t, "the access sent to the requester", 30*time.Second, func() bool {
		im, ok := emu.IMChannel(responder)
		if !ok {
			return false
		}
		for _, m := range emu.Messages(im) {
			if k := sessionKeyRe.FindStringSubmatch(shownText(m)); k != nil {
				key = k[1]
				return true
			}
		}
		return false
	})
	return request, key
}

// sessionKeyRe finds the session's access key in the sign-in link, whose
// token the federation fake makes from it.
var sessionKeyRe = regexp.MustCompile(`signin-(ASIA[A-Z0-9]+)`)
