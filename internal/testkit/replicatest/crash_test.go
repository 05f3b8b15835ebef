package replicatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/postgres"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// Sizes and pace of the crash test. SECOPS_CRASH_EVENTS and
// SECOPS_CRASH_SEED override the event count and the seed.
const (
	// crashEvents is the default of the SQLite variant: enough for files,
	// batches and kills to overlap in every way within CI's few minutes;
	// SECOPS_CRASH_EVENTS=100000 is the run docs/reliability.md records.
	crashEvents = 40_000
	// crashEventsPostgres is the default of the two-replica PostgreSQL
	// variant, which ingests more slowly.
	crashEventsPostgres = 25_000
	crashPerFile        = 1_000
	crashExposures      = 40
	crashMalformed      = 3
	// minKills is how many SIGKILLs a run makes at least, even when the
	// work is done sooner.
	minKills = 8
	// killPhase bounds the killing: a machine too slow to make progress
	// between kills still ends, and the figures say how far it got.
	killPhase = 75 * time.Second
	// feedFor spreads the messages over this long, so that kills land
	// while the queue is being filled as well as while it drains.
	feedFor = 25 * time.Second
	// crashVisibility is the queue's visibility timeout. The bot asks for
	// its own (30 s) with every receive, which is what brings back the
	// messages a killed process held.
	crashVisibility = 5
	// maxReceives moves a message to the dead-letter queue; no message
	// is held by more than a few killed processes in a run.
	maxReceives = 10
)

// TestCrashSafety ingests 40,000 CloudTrail events (SECOPS_CRASH_EVENTS) (log files in S3
// announced by S3 and CloudTrail notifications, plus EventBridge events
// carrying planted exposures and malformed messages) while the bot is
// killed with SIGKILL at random moments and restarted. Afterwards every
// event is in the store, the queue and its dead-letter queue are empty,
// each exposure is one finding, posted once in #secops and once in its
// team's channel, with one Jira ticket, and quarantine holds exactly the
// malformed messages.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the bot and kills it repeatedly while it ingests tens of thousands of events")
	}
	bin := buildBot(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		runCrash(t, bin, "sqlite", filepath.Join(t.TempDir(), "secops-bot.db"), 1, crashEventCount(t, crashEvents))
	})
	t.Run("postgres-two-replicas", func(t *testing.T) {
		t.Parallel()
		// Smaller by default so that both variants fit in CI's few
		// minutes; SECOPS_CRASH_EVENTS sets both.
		runCrash(t, bin, "postgres", freshSchema(t), 2, crashEventCount(t, crashEventsPostgres))
	})
}

// crashSeed is SECOPS_CRASH_SEED, or a new seed printed for replay.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("SECOPS_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SECOPS_CRASH_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

func crashEventCount(t *testing.T, def int) int {
	t.Helper()
	s := os.Getenv("SECOPS_CRASH_EVENTS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1_000 {
		t.Fatalf("SECOPS_CRASH_EVENTS=%q: want a number of at least 1000", s)
	}
	return n
}

// incarnation is one process of one replica slot.
type incarnation struct {
	slot int
	proc *serveproc.Process
}

func runCrash(t *testing.T, bin, driver, dsn string, slots, total int) {
	began := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (replay with SECOPS_CRASH_SEED=%d), %d events, %d replica(s), store %s", seed, seed, total, slots, driver)
	rng := rand.New(rand.NewPCG(seed, 0x5ec0b5))
	ctx := context.Background()

	sqsSrv := startSQS(t)
	queueURL, dlqURL := createQueues(t, sqsSrv, crashVisibility, maxReceives)
	s3Srv := startS3(t)
	jira := jirafake.New(jirafake.Options{})
	t.Cleanup(jira.Close)
	ws := newWorkspace(t)
	emu := ws.emu

	// The input: about one event in fifty arrives alone through
	// EventBridge (the exposures among them), the rest in log files.
	single := min(max(total/50, 2*crashExposures), total)
	bodies, planted := plant(rng, single, crashExposures, time.Now())
	files := trailFiles(t, rng, total-single, crashPerFile, int64(seed))
	var want []store.Event
	for i, b := range bodies {
		want = append(want, historyOf(t, fmt.Sprintf("eventbridge-%d", i), []byte(b))...)
	}
	for _, f := range files {
		if err := s3Srv.put(ctx, f.key, f.data); err != nil {
			t.Fatal(err)
		}
		want = append(want, historyOf(t, f.key, f.data)...)
		bodies = append(bodies, f.notification)
	}
	if len(want) != total {
		t.Fatalf("generated %d events, want %d", len(want), total)
	}
	malformed := []string{
		`{"version":"0","id":"truncated","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":`,
		"this is not an event",
		`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":""}}}]}`,
	}[:crashMalformed]
	rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	t.Logf("input: %d log files, %d EventBridge messages (%d exposures), %d malformed; generated in %v",
		len(files), single, len(planted), len(malformed), time.Since(began).Round(time.Millisecond))

	config := crashConfig(t, emu.APIURL(), queueURL, jira.URL, driver, dsn)
	env := []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken,
		"SECOPS_SLACK_BOT_TOKEN=" + botToken,
		"SECOPS_JIRA_API_TOKEN=jira-token",
		"AWS_ENDPOINT_URL_SQS=" + sqsSrv.Endpoint,
		"AWS_ENDPOINT_URL_S3=" + s3Srv.endpoint,
		"AWS_ACCESS_KEY_ID=" + botAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + botSecretKey,
		"AWS_REGION=" + awsRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if driver == "postgres" {
		env = append(env, "SECOPS_STORE_DSN="+dsn)
	}

	// The malformed messages go first, so that their message IDs are
	// known to the checks whatever happens later.
	var malformedIDs []string
	for _, b := range malformed {
		malformedIDs = append(malformedIDs, sqsSrv.Send(t, queueURL, b))
	}
	// The rest arrives in waves while the killing goes on.
	fed := make(chan error, 1)
	feedStart := time.Now()
	go func() {
		const waves = 50
		per := (len(bodies) + waves - 1) / waves
		for w := 0; w*per < len(bodies); w++ {
			if err := sendAll(ctx, sqsSrv.Client, queueURL, bodies[w*per:min((w+1)*per, len(bodies))]); err != nil {
				fed <- err
				return
			}
			time.Sleep(time.Until(feedStart.Add(time.Duration(w+1) * feedFor / waves)))
		}
		fed <- nil
	}()

	// openedBefore counts the Socket Mode connections opened before the
	// latest process started; one more means it connected. A process
	// killed before it connected never adds one.
	n, openedBefore := 0, 0
	start := func(slot int) *incarnation {
		n++
		openedBefore = emu.ConnectionsOpened()
		name := fmt.Sprintf("%s-%d-%02d", driver, slot, n)
		return &incarnation{slot: slot, proc: startReplica(t, bin, name, config, env)}
	}
	running := make([]*incarnation, slots)
	for i := range running {
		running[i] = start(i)
	}

	// Kill at random moments while work remains, and at least minKills
	// times; with two replicas they are killed alternately.
	feeding := true
	var kills int
	var killedWhileFeeding, killedWhileIngesting int
	killEnd := time.Now().Add(killPhase)
	for time.Now().Before(killEnd) {
		// Most kills come 1–4 s after the process has connected, while it
		// works; every fourth comes within its first second, while it
		// opens the store and connects.
		if kills%4 == 3 {
			time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
		} else {
			connected := func() bool { return emu.ConnectionsOpened() > openedBefore }
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := emu.Wait(ctx, connected); err != nil {
				t.Fatalf("the restarted process did not connect to Slack within 30s:\n%s", running[kills%slots].proc.Tail(4<<10))
			}
			cancel()
			time.Sleep(time.Second + time.Duration(rng.Int64N(int64(3*time.Second))))
		}
		if feeding {
			select {
			case err := <-fed:
				if err != nil {
					t.Fatal(err)
				}
				feeding = false
			default:
			}
		}
		if !feeding && kills >= minKills && sqsSrv.Depth(t, queueURL, true) == 0 {
			break
		}
		victim := running[kills%slots]
		if !victim.proc.Alive() {
			t.Fatalf("%s exited by itself:\n%s", victim.proc.Name(), victim.proc.Tail(4<<10))
		}
		victim.proc.Kill(t)
		kills++
		if feeding {
			killedWhileFeeding++
		}
		if n := storedEvents(t, driver, dsn); n < total {
			killedWhileIngesting++
			t.Logf("kill %d (%s): %d of %d events stored", kills, victim.proc.Name(), max(n, 0), total)
		} else {
			t.Logf("kill %d (%s): every event stored", kills, victim.proc.Name())
		}
		running[victim.slot] = start(victim.slot)
	}
	if feeding {
		if err := <-fed; err != nil {
			t.Fatal(err)
		}
	}
	killingTook := time.Since(feedStart)
	t.Logf("%d kills in %v (%d while messages were still being sent, %d before every event was stored), %d processes started",
		kills, killingTook.Round(time.Millisecond), killedWhileFeeding, killedWhileIngesting, n)
	if kills < minKills {
		t.Errorf("only %d kills within %v; want at least %d", kills, killPhase, minKills)
	}

	// Quiet: the queue drained, nothing left in the outbox (a delivery a
	// killed process held comes back when its one-minute lease ends), and
	// every exposure shown and ticketed.
	postedEverywhere := func() bool {
		for _, p := range planted {
			if len(ws.findingMessages(ws.secops, p.resource)) == 0 || len(ws.findingMessages(ws.teams[p.team], p.resource)) == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(150 * time.Second)
	var q, dlq, pending int
	for {
		q, dlq, pending = sqsSrv.Depth(t, queueURL, true), sqsSrv.Depth(t, dlqURL, true), pendingOutbox(t, driver, dsn)
		if q == 0 && pending == 0 && len(jira.Issues()) >= len(planted) && postedEverywhere() {
			break
		}
		if time.Now().After(deadline) {
			// The checks below say what is missing.
			t.Errorf("not quiet after the kills: %d messages on the queue (visible or in flight), %d dead-lettered, %d outbox items pending, %d of %d tickets",
				q, dlq, pending, len(jira.Issues()), len(planted))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	settled := time.Since(feedStart)
	// Anything still in flight lands within this.
	time.Sleep(2 * time.Second)
	for _, inc := range running {
		if !inc.proc.Alive() {
			t.Errorf("%s exited by itself:\n%s", inc.proc.Name(), inc.proc.Tail(4<<10))
		}
		inc.proc.Stop()
	}

	// The queue: empty, in flight included, and nothing dead-lettered.
	if q, dlq = sqsSrv.Depth(t, queueURL, true), sqsSrv.Depth(t, dlqURL, true); q != 0 || dlq != 0 {
		t.Errorf("queue holds %d messages and the dead-letter queue %d; want both empty", q, dlq)
	}

	// The store: every event, each planted exposure once, quarantine
	// holding the malformed messages and nothing else.
	var st store.Store
	var err error
	if driver == "postgres" {
		st, err = postgres.Open(ctx, dsn, postgres.Options{})
	} else {
		st, err = sqlite.Open(ctx, dsn, sqlite.Options{})
	}
	if err != nil {
		t.Fatalf("reopen the store after the last process: %v", err)
	}
	defer st.Close()
	var missing int
	for i := 0; i < len(want); i += 1000 {
		chunk := want[i:min(i+1000, len(want))]
		has, err := st.HasEvents(ctx, chunk)
		if err != nil {
			t.Fatal(err)
		}
		for j, ok := range has {
			if !ok {
				if missing < 5 {
					t.Errorf("event %s (%s at %v) is not in the store", chunk[j].EventID, chunk[j].EventName, chunk[j].Time)
				}
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events are not in the store: a message left the queue before its events were stored", missing, len(want))
	}
	findings, err := st.ListFindings(ctx, store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byResource := map[string][]finding.Finding{}
	for _, f := range findings {
		byResource[f.Resource.ID] = append(byResource[f.Resource.ID], f)
	}
	for _, p := range planted {
		if got := len(byResource[p.resource]); got != 1 {
			t.Errorf("%s has %d findings, want 1", p.resource, got)
		}
	}
	if len(findings) != len(planted) {
		t.Errorf("the store holds %d findings, want %d (one per planted exposure)", len(findings), len(planted))
	}
	quarantined, err := st.ListQuarantined(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := map[string]bool{}
	for _, id := range malformedIDs {
		wantQ["sqs:"+id] = true
	}
	gotQ := map[string]int{}
	for _, qr := range quarantined {
		if !wantQ[qr.Source] {
			t.Errorf("quarantined %s (%s), which was not planted as malformed", qr.Source, qr.Reason)
		}
		gotQ[qr.Source]++
	}
	for src := range wantQ {
		if gotQ[src] == 0 {
			t.Errorf("malformed message %s is not in quarantine", src)
		}
	}

	// Slack: each exposure once per routed channel, nothing else at top
	// level, no reply twice.
	findingID := map[string]string{}
	for _, p := range planted {
		if fs := byResource[p.resource]; len(fs) > 0 {
			findingID[p.resource] = fs[0].ID
		}
		for _, ch := range []string{ws.secops, ws.teams[p.team]} {
			msgs := ws.findingMessages(ch, p.resource)
			if len(msgs) != 1 {
				t.Errorf("%s has %d messages in %s, want exactly 1", p.resource, len(msgs), ch)
				continue
			}
			seen := map[string]bool{}
			for _, r := range emu.Replies(ch, msgs[0].TS) {
				if r.TS == msgs[0].TS {
					continue
				}
				if seen[r.Text] {
					t.Errorf("%s: reply posted twice in %s: %q", p.resource, ch, r.Text)
				}
				seen[r.Text] = true
			}
		}
	}
	var posted int
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
		posted += got
		if got != want {
			t.Errorf("%s holds %d top-level messages, want %d (one per exposure)", name, got, want)
		}
	}

	// Jira: one ticket per finding.
	issues := jira.Issues()
	perFinding := map[string]int{}
	for _, is := range issues {
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, "secops-finding-"); ok {
				perFinding[id]++
			}
		}
	}
	for _, p := range planted {
		if id := findingID[p.resource]; id != "" && perFinding[id] != 1 {
			t.Errorf("%s (finding %s) has %d Jira tickets, want 1", p.resource, id, perFinding[id])
		}
	}
	if len(issues) != len(planted) {
		t.Errorf("Jira holds %d tickets, want %d", len(issues), len(planted))
	}

	t.Logf("figures: %d events ingested (%d missing), %d kills survived, %d processes, %d findings (%d planted), %d top-level Slack messages, %d Jira tickets, %d quarantined rows for %d malformed messages, %d dead-lettered; killing phase %v, quiet %v after the first message, whole run %v",
		len(want)-missing, missing, kills, n, len(findings), len(planted), posted, len(issues), len(quarantined), len(malformed), dlq,
		killingTook.Round(time.Second), settled.Round(time.Second), time.Since(began).Round(time.Second))
}
