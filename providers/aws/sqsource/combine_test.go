package sqsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
	"github.com/secops-bot/secops-bot/pipeline"
)

// eventBridgeBodies returns n copies of the testdata EventBridge event, each
// with its own event ID, and those IDs in order.
func eventBridgeBodies(t *testing.T, n int, prefix string) (bodies, ids []string) {
	t.Helper()
	var template map[string]any
	if err := json.Unmarshal(readTestdata(t, "eventbridge.json"), &template); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i)
		template["detail"].(map[string]any)["eventID"] = id
		b, err := json.Marshal(template)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
		ids = append(ids, id)
	}
	return bodies, ids
}

// sendAll puts the bodies on the queue and returns their message IDs in
// order.
func sendAll(t *testing.T, s *testserver.SQS, queueURL string, bodies []string) []string {
	t.Helper()
	ids := make([]string, len(bodies))
	for i, b := range bodies {
		ids[i] = s.Send(t, queueURL, b)
	}
	return ids
}

func TestSourceCombinesConcurrentMessages(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "combined", 30)

	const messages = 300
	bodies, wantIDs := eventBridgeBodies(t, messages, "c0bb1ed0")
	// Malformed messages among the events must still be quarantined under
	// their own message, whatever they were stored with.
	malformed := map[int]string{}
	for _, i := range []int{7, 100, 101, 250, 299} {
		malformed[i] = fmt.Sprintf(`{"detail-type": "AWS API Call via CloudTrail", "detail": {"eventID": %d`, i)
		bodies[i] = malformed[i]
		wantIDs[i] = ""
	}
	wantIDs = slices.DeleteFunc(wantIDs, func(id string) bool { return id == "" })
	slices.Sort(wantIDs)
	messageIDs := sendAll(t, sqsSrv, queueURL, bodies)

	// The first sink calls are held until many messages wait behind them,
	// as they would behind a slow commit on a busy machine, so that what
	// is combined does not depend on the machine's speed.
	const backlog = 20
	var src *Source
	var held atomic.Int32
	sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
		if held.Add(1) > 2 {
			return nil
		}
		deadline := time.Now().Add(10 * time.Second)
		for src.combined.waitingCount() < backlog && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}}
	opts := testOptions(nil)
	opts.Concurrency = 2
	opts.VisibilityTimeout = 30 * time.Second
	src = newTestSource(t, sqsSrv, queueURL, sink, opts)
	stop := runSource(t, src)
	waitEmpty(t, sqsSrv, queueURL, 30*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := sink.eventIDs(); !slices.Equal(got, wantIDs) {
		t.Errorf("stored %d event IDs, want each of the %d events once", len(got), len(wantIDs))
	}
	calls := sink.attemptCount()
	largest := 0
	for _, b := range sink.storedBatches() {
		largest = max(largest, len(b.Records)+len(b.Problems))
	}
	if largest < backlog {
		t.Errorf("the largest sink call carried %d messages; the %d that waited behind a busy sink should have been stored together", largest, backlog)
	}
	if calls > messages-backlog+1 {
		t.Errorf("sink called %d times for %d messages, want waiting messages combined", calls, messages)
	}
	t.Logf("%d messages stored in %d sink calls, the largest of %d", messages, calls, largest)
	for _, b := range sink.storedBatches() {
		if kind := pipeline.SourceKind(b.Source); kind != "sqs" {
			t.Errorf("batch source %q counts as %q in metrics, want sqs", b.Source, kind)
		}
	}
	gotProblems := map[string]string{}
	for _, p := range sink.problems() {
		gotProblems[p.Source] = string(p.Raw)
	}
	wantProblems := map[string]string{}
	for i, body := range malformed {
		wantProblems["sqs:"+messageIDs[i]] = body
	}
	if len(gotProblems) != len(wantProblems) || len(sink.problems()) != len(wantProblems) {
		t.Errorf("stored problems from %d sources (%d problems), want one from each of the %d malformed messages", len(gotProblems), len(sink.problems()), len(wantProblems))
	}
	for src, raw := range wantProblems {
		if gotProblems[src] != raw {
			t.Errorf("problem of %s carries %q, want its body %q", src, gotProblems[src], raw)
		}
	}
}

func TestSourceRetriesEveryMessageOfAFailedGroup(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "group-fails", 30)
	const messages = 10
	bodies, wantIDs := eventBridgeBodies(t, messages, "fa11ed00")
	slices.Sort(wantIDs)
	sendAll(t, sqsSrv, queueURL, bodies)

	// The first call holds the only call slot until the other messages
	// wait behind it; the call that then stores them together fails.
	// Those messages come back as retries, each to be stored on its own.
	release := make(chan struct{})
	var mu sync.Mutex
	var calls int
	var failedGroup []string
	var failedAt time.Time
	sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1:
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case 2:
			mu.Lock()
			defer mu.Unlock()
			for _, r := range b.Records {
				failedGroup = append(failedGroup, r.EventID)
			}
			failedAt = time.Now()
			return errors.New("database unavailable")
		case 3:
			// The first message back holds the slot a while, so that
			// the others come back while it is busy and would be
			// stored together if they were new.
			time.Sleep(time.Second)
		}
		return nil
	}}
	opts := testOptions(nil)
	opts.Concurrency = 1
	opts.VisibilityTimeout = 4 * time.Second
	opts.RetryBackoff = time.Second
	// Through a proxy that counts receives as SQS does, so that the
	// messages that come back are known to be back.
	stop := runSource(t, New(testConfig(receiveCounter(t, sqsSrv.Endpoint)), queueURL, sink, zerolog.New(zerolog.NewTestWriter(t)), opts))

	deadline := time.Now().Add(10 * time.Second)
	for sink.attemptCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sink never called")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The other messages are received (goaws counts received messages as
	// on the queue until they are deleted, so this cannot be watched) and
	// their batches wait for the busy sink.
	time.Sleep(time.Second)
	close(release)

	waitEmpty(t, sqsSrv, queueURL, 20*time.Second)
	// Deleting is asynchronous to the depth the server reports.
	deadline = time.Now().Add(10 * time.Second)
	for sqsSrv.Depth(t, queueURL, true) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	failed := slices.Clone(failedGroup)
	mu.Unlock()
	if len(failed) != messages-1 {
		t.Fatalf("the failing call carried %d events, want the %d messages that waited", len(failed), messages-1)
	}
	if got := sink.eventIDs(); !slices.Equal(got, wantIDs) {
		t.Errorf("stored event IDs = %v, want each of %v once", got, wantIDs)
	}
	// Every message of the failed group came back and was stored on its
	// own, after the failure.
	sink.mu.Lock()
	attempts := slices.Clone(sink.attempts)
	sink.mu.Unlock()
	storedAlone := map[string]bool{}
	for _, b := range attempts[2:] {
		if len(b.Records) != 1 || strings.Contains(b.Source, " more") {
			t.Errorf("redelivered batch %q carries %d records, want one message's single record", b.Source, len(b.Records))
			continue
		}
		storedAlone[b.Records[0].EventID] = true
	}
	for _, id := range failed {
		if !storedAlone[id] {
			t.Errorf("event %s of the failed group was not stored again after the failure at %v", id, failedAt.Format(time.StampMilli))
		}
	}
	if got := sqsSrv.Depth(t, queueURL, true); got != 0 {
		t.Errorf("%d messages left on the queue, want 0", got)
	}
}

// TestSourceGivesUpOnAStoreThatDoesNotAnswer: the first commit never
// returns by itself, as on a connection to a database host that vanished.
// The heartbeat would keep the message invisible for as long as that
// lasts; the store timeout ends the commit instead, and the message is
// stored on its next receipt.
func TestSourceGivesUpOnAStoreThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "store-hangs", 30)
	bodies, wantIDs := eventBridgeBodies(t, 1, "5111e470")
	sendAll(t, sqsSrv, queueURL, bodies)

	var hung atomic.Bool
	hangErr := make(chan error, 1)
	sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
		if len(b.Records) > 0 && hung.CompareAndSwap(false, true) {
			<-ctx.Done()
			hangErr <- ctx.Err()
			return ctx.Err()
		}
		return nil
	}}
	opts := testOptions(nil)
	opts.VisibilityTimeout = 2 * time.Second // the heartbeat runs every second
	opts.RetryBackoff = time.Second
	opts.StoreTimeout = 500 * time.Millisecond
	stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))
	waitEmpty(t, sqsSrv, queueURL, 15*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case err := <-hangErr:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the hanging commit ended with %v, want the store timeout", err)
		}
	default:
		t.Error("the first commit never ended")
	}
	if got := sink.eventIDs(); !slices.Equal(got, wantIDs) {
		t.Errorf("stored event IDs = %v, want %v once", got, wantIDs)
	}
}
