package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// The tests of this file feed the bot the findings of AWS's own detectors
// in the shapes AWS documents (ingest/native/testdata), the way a deployment
// receives them: files in ingest.dir and messages on the SQS queue.

func nativeEvent(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ingest", "native", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// nativeUpdate is a later EventBridge event of the same native finding:
// its own event ID, the detector's new update time, and what change does
// to the detail.
func nativeUpdate(t *testing.T, name, eventID, updatedAt string, change func(detail map[string]any)) string {
	t.Helper()
	ev := nativeEvent(t, name)
	ev["id"], ev["time"] = eventID, updatedAt
	detail := ev["detail"].(map[string]any)
	if _, ok := detail["updatedAt"]; ok {
		detail["updatedAt"] = updatedAt
	}
	change(detail)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func messageText(m slackemu.Message) string { return m.Text + string(m.Blocks) }

func hasButton(m slackemu.Message, action string) bool {
	return strings.Contains(string(m.Blocks), `"action_id":"`+action+`"`)
}

func (e *slackEnv) storedFindings(t *testing.T) []finding.Finding {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFindings(ctx, store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// A GuardDuty finding dropped into ingest.dir is posted like any finding
// of its severity, named for its detector, with Investigate (it names the
// role that made the bucket public) and Contain (the bucket); its next
// occurrence updates the same message and says so in the thread, and
// GuardDuty archiving it resolves it.
func TestNativeGuardDutyFromDirectory(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	e.start(t)
	defer e.stop(t)
	const name = "guardduty-s3-bucket-anonymous-access.json"
	e.drop(t, "gd-1.json", filepath.Join("..", "..", "ingest", "native", "testdata", name))
	e.wait(t, "the GuardDuty finding in #secops", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	msg := topLevel(e.emu.Messages(e.secops))[0]
	for _, want := range []string{"HIGH", "acme-exports", "Reported by GuardDuty", "Policy:S3/BucketAnonymousAccessGranted", "contractor-etl", "data-prod"} {
		if !strings.Contains(messageText(msg), want) {
			t.Errorf("the message lacks %q: %s", want, msg.Text)
		}
	}
	for _, action := range []string{"finding.investigate", "finding.contain", "finding.expected"} {
		if !hasButton(msg, action) {
			t.Errorf("the message lacks the %s button", action)
		}
	}

	again := nativeUpdate(t, name, "6a1f0c2e-7b3d-4e5f-8a9b-0c1d2e3f4a5b", "2026-11-26T15:16:50.000Z", func(d map[string]any) {
		d["service"].(map[string]any)["count"] = 2
	})
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "gd-2.json"), again)
	e.wait(t, "the message updated with the second occurrence and a thread reply", func() bool {
		cur, _ := e.emu.Message(e.secops, msg.TS)
		return strings.Contains(messageText(cur), "2 occurrences") && len(e.emu.Replies(e.secops, msg.TS)) >= 1
	})
	archived := nativeUpdate(t, name, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "2026-11-26T17:02:11.000Z", func(d map[string]any) {
		s := d["service"].(map[string]any)
		s["count"], s["archived"] = 2, true
	})
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "gd-3.json"), archived)
	e.wait(t, "the message resolved in place", func() bool {
		cur, _ := e.emu.Message(e.secops, msg.TS)
		return strings.Contains(cur.Text, "RESOLVED")
	})
	if n := len(topLevel(e.emu.Messages(e.secops))); n != 1 {
		t.Errorf("%d messages in #secops, want the one updated in place", n)
	}

	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	fs := e.storedFindings(t)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1 per native finding", len(fs))
	}
	f := fs[0]
	if f.Status != finding.StatusResolved || f.ResolvedBy != "GuardDuty" || f.Count != 2 || f.Team != "data" {
		t.Errorf("finding: status %s by %q, count %d, team %q", f.Status, f.ResolvedBy, f.Count, f.Team)
	}
}

// startWithAWS starts the bot with aws as its AWS configuration (the SQS
// test server's endpoint).
func (e *slackEnv) startWithAWS(t *testing.T, awsCfg aws.Config) {
	t.Helper()
	if e.clk == nil {
		e.clk = clock.ShiftedTo(testNow(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() {
		e.done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: testLogger(t), Clock: e.clk, AWS: &awsCfg, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-e.done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not become ready")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := e.emu.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
}

// Access Analyzer and Security Hub findings delivered by EventBridge on the
// SQS queue: a public snapshot is critical, offers Contain but not
// Investigate (no actor), and resolves when Access Analyzer resolves it; a
// failing Security Hub control resolves when the control passes.
func TestNativeFindingsOverSQS(t *testing.T) {
	t.Parallel()
	awsFor := func(endpoint string) aws.Config {
		return aws.Config{
			Region:       "eu-central-1",
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDSECOPSNATIVE0001", "native-secret", ""),
			BaseEndpoint: aws.String(endpoint),
		}
	}
	sqsSrv := testserver.StartSQS(t, awsFor)
	queue := sqsSrv.CreateQueue(t, "secops-bot-events", 30)
	e := newSlackEnv(t)
	e.cfg.Ingest.Dir, e.cfg.Ingest.SQSQueueURL = "", queue
	e.cfg.AWS.Region = "eu-central-1"
	e.startWithAWS(t, awsFor(sqsSrv.Endpoint))
	defer e.stop(t)

	send := func(ev map[string]any) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		sqsSrv.Send(t, queue, string(b))
	}
	send(nativeEvent(t, "access-analyzer-snapshot-public.json"))
	e.wait(t, "the public snapshot in #team-payments", func() bool { return len(topLevel(e.emu.Messages(e.payments))) == 1 })
	snap := topLevel(e.emu.Messages(e.payments))[0]
	for _, want := range []string{"CRITICAL", "prod-customers-2026-11-26", "Reported by IAM Access Analyzer", "everyone"} {
		if !strings.Contains(messageText(snap), want) {
			t.Errorf("the snapshot message lacks %q: %s", want, snap.Text)
		}
	}
	if hasButton(snap, "finding.investigate") || !hasButton(snap, "finding.contain") {
		t.Errorf("buttons: investigate %v (want none: no actor), contain %v (want it: a snapshot)",
			hasButton(snap, "finding.investigate"), hasButton(snap, "finding.contain"))
	}

	sqsSrv.Send(t, queue, nativeUpdate(t, "access-analyzer-snapshot-public.json", "66666666-dcba-4444-dcba-777777777777", "2026-11-26T04:10:00Z", func(d map[string]any) {
		d["status"] = "RESOLVED"
	}))
	e.wait(t, "the snapshot resolved in place", func() bool {
		cur, _ := e.emu.Message(e.payments, snap.TS)
		return strings.Contains(cur.Text, "RESOLVED")
	})

	send(nativeEvent(t, "securityhub-s3-public-read.json"))
	e.wait(t, "the failing control in #secops", func() bool {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(messageText(m), "Reported by Security Hub") {
				return true
			}
		}
		return false
	})
	send(nativeEvent(t, "securityhub-s3-public-read-passed.json"))
	e.wait(t, "the control resolved when it passes", func() bool {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(messageText(m), "Reported by Security Hub") && strings.Contains(m.Text, "RESOLVED") {
				return true
			}
		}
		return false
	})
	e.wait(t, "the queue drained", func() bool { return sqsSrv.Depth(t, queue, true) == 0 })
}

// replay reads native findings from files and prints each when raised and
// resolved.
func TestReplayNativeFindings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i, name := range []string{"guardduty-iamuser-malicious-ip.json", "guardduty-iamuser-malicious-ip-repeat.json", "guardduty-iamuser-malicious-ip-archived.json", "access-analyzer-bucket-cross-account.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "ingest", "native", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, string(rune('a'+i))+".json"), string(b))
	}
	lines, sum := replayJSON(t, exampleConfig(t), false, dir)
	if sum.Native != 4 || sum.Files != 4 {
		t.Errorf("summary: %d native updates from %d files, want 4 from 4", sum.Native, sum.Files)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Rule+" "+l.Status)
	}
	want := []string{"access-analyzer open", "guardduty open", "guardduty resolved"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("replay printed %v, want %v", got, want)
	}
	for _, l := range lines {
		if l.Rule == "guardduty" && (l.Actor.Name != "BackupManager" || l.Team != "payments") {
			t.Errorf("GuardDuty finding: actor %q team %q", l.Actor.Name, l.Team)
		}
	}
}
