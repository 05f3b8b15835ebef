package sqsource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"

	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

// Event IDs of the records in testdata.
const (
	eventBridgeEventID = "3f1c8a2e-8d7b-4b59-9a8e-0c2f61d1a001"
	logFileEventID1    = "9b2d7c4e-1a3f-4e6d-8c5b-7a9e0f1d2c02"
	logFileEventID2    = "c4e8a1b3-5d7f-4a2c-9e1b-3f5d7a9c1e03"
)

// testSink records the batches it stores. Its hook, when set, runs first
// and a non-nil result fails the call without storing anything.
type testSink struct {
	hook func(ctx context.Context, b ingest.Batch) error

	mu       sync.Mutex
	attempts []ingest.Batch
	stored   []ingest.Batch
}

func (s *testSink) Ingest(ctx context.Context, b ingest.Batch) error {
	s.mu.Lock()
	s.attempts = append(s.attempts, b)
	s.mu.Unlock()
	if s.hook != nil {
		if err := s.hook(ctx, b); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.stored = append(s.stored, b)
	s.mu.Unlock()
	return nil
}

func (s *testSink) storedBatches() []ingest.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

func (s *testSink) attemptCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attempts)
}

func (s *testSink) eventIDs() []string {
	var ids []string
	for _, b := range s.storedBatches() {
		for _, r := range b.Records {
			ids = append(ids, r.EventID)
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *testSink) problems() []ingest.Problem {
	var ps []ingest.Problem
	for _, b := range s.storedBatches() {
		ps = append(ps, b.Problems...)
	}
	return ps
}

// testOptions are short timings so that redelivery happens within a test.
func testOptions(s3srv *s3Server) Options {
	o := Options{
		WaitTime:          time.Second,
		VisibilityTimeout: 2 * time.Second,
		Concurrency:       4,
		ShutdownGrace:     10 * time.Second,
	}
	if s3srv != nil {
		o.S3Options = append(o.S3Options, s3PathStyle(s3srv.endpoint))
	}
	return o
}

// runSource runs src until the returned stop is called or the test ends;
// stop returns Run's result.
func runSource(t *testing.T, src *Source) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- src.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-result:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s of cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func newTestSource(t *testing.T, sqsSrv *testserver.SQS, queueURL string, sink ingest.Sink, opts Options) *Source {
	return New(testConfig(sqsSrv.Endpoint), queueURL, sink, zerolog.New(zerolog.NewTestWriter(t)), opts)
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snsEnvelope wraps a message the way SNS delivers it to an SQS
// subscription without raw message delivery.
func snsEnvelope(t *testing.T, message string) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{
		"Type":             "Notification",
		"MessageId":        "d1c4b0a2-6b1e-5c3f-9a7d-2e4f6a8b0c1d",
		"TopicArn":         "arn:aws:sns:us-east-1:111122223333:cloudtrail-events",
		"Message":          message,
		"Timestamp":        "2024-05-01T03:12:45.000Z",
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
		"SigningCertURL":   "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
		"UnsubscribeURL":   "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// s3Event is an S3 event notification for one object; key must
// already be encoded as S3 encodes it.
func s3Event(t *testing.T, eventName, bucket, encodedKey string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1",
		"eventSource":  "aws:s3",
		"awsRegion":    testRegion,
		"eventTime":    "2024-05-01T03:05:12.345Z",
		"eventName":    eventName,
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "cloudtrail-logs",
			"bucket":          map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object":          map[string]any{"key": encodedKey, "size": 1234, "sequencer": "0066317A8C1B2C3D4E"},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSourceIngestsEachKindOfMessage(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	s3srv := startS3(t)

	const bucket = "org-cloudtrail"
	// A space and a plus sign show that keys are decoded the way S3
	// encodes them in notifications ("+" for a space, "%2B" for "+").
	const logKey = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T0305Z_a b+c.json.gz"
	s3srv.put(t, bucket, logKey, gzipBytes(t, readTestdata(t, "logfile.json")))
	logSource := "s3://" + bucket + "/" + logKey

	eventBridge := string(readTestdata(t, "eventbridge.json"))
	logNotification := s3Event(t, "ObjectCreated:Put", bucket, url.QueryEscape(logKey))
	cloudTrailNotice := `{"s3Bucket":"` + bucket + `","s3ObjectKey":["` + logKey + `"]}`
	const malformed = `{"detail-type": "AWS API Call via CloudTrail", "detail": {"eventID": `

	tests := []struct {
		name         string
		body         string
		wantEventIDs []string
		wantSources  []string
		// wantProblems lists the sources of the problems the sink must
		// receive; problemRaw is the raw text they must carry.
		wantProblems []string
		problemRaw   string
	}{
		{
			name:         "EventBridge event",
			body:         eventBridge,
			wantEventIDs: []string{eventBridgeEventID},
		},
		{
			name:         "EventBridge event wrapped by SNS",
			body:         snsEnvelope(t, eventBridge),
			wantEventIDs: []string{eventBridgeEventID},
		},
		{
			name:         "S3 notification of a log file",
			body:         logNotification,
			wantEventIDs: []string{logFileEventID1, logFileEventID2},
			wantSources:  []string{logSource},
		},
		{
			name:         "S3 notification wrapped by SNS",
			body:         snsEnvelope(t, logNotification),
			wantEventIDs: []string{logFileEventID1, logFileEventID2},
			wantSources:  []string{logSource},
		},
		{
			name:         "CloudTrail's own SNS notification",
			body:         snsEnvelope(t, cloudTrailNotice),
			wantEventIDs: []string{logFileEventID1, logFileEventID2},
			wantSources:  []string{logSource},
		},
		{
			name:         "malformed body",
			body:         malformed,
			wantProblems: []string{"sqs:"},
			problemRaw:   malformed,
		},
		{
			name:         "S3 notification of a log file that is gone",
			body:         s3Event(t, "ObjectCreated:Put", bucket, "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/expired.json.gz"),
			wantProblems: []string{"s3://" + bucket + "/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/expired.json.gz"},
		},
		{
			name: "S3 test event",
			body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T03:00:00.000Z","Bucket":"org-cloudtrail","RequestId":"5582815E1AEA5ADF","HostId":"EXAMPLE"}`,
		},
		{
			name: "S3 notification of a digest file",
			body: s3Event(t, "ObjectCreated:Put", bucket, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_org_us-east-1_20240501T030512Z.json.gz"),
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queueURL := sqsSrv.CreateQueue(t, "kinds-"+string(rune('a'+i)), 30)
			messageID := sqsSrv.Send(t, queueURL, tt.body)
			sink := &testSink{}
			stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, testOptions(s3srv)))

			waitEmpty(t, sqsSrv, queueURL, 10*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			if got := sink.eventIDs(); !slices.Equal(got, tt.wantEventIDs) {
				t.Errorf("stored event IDs = %v, want %v", got, tt.wantEventIDs)
			}
			if tt.wantSources != nil {
				var sources []string
				for _, b := range sink.storedBatches() {
					sources = append(sources, b.Source)
				}
				if !slices.Equal(sources, tt.wantSources) {
					t.Errorf("batch sources = %q, want %q", sources, tt.wantSources)
				}
			}
			problems := sink.problems()
			if len(problems) != len(tt.wantProblems) {
				t.Fatalf("stored %d problems (%+v), want %d", len(problems), problems, len(tt.wantProblems))
			}
			for i, p := range problems {
				want := tt.wantProblems[i]
				if want == "sqs:" {
					want += messageID
				}
				if p.Source != want {
					t.Errorf("problem %d source = %q, want %q", i, p.Source, want)
				}
				if p.Reason == "" {
					t.Errorf("problem %d has no reason", i)
				}
				if tt.problemRaw != "" && string(p.Raw) != tt.problemRaw {
					t.Errorf("problem %d raw = %q, want the message body %q", i, p.Raw, tt.problemRaw)
				}
			}
		})
	}
}

func TestSourceLeavesMessageWhenSinkFails(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	body := string(readTestdata(t, "eventbridge.json"))

	tests := []struct {
		name         string
		retryBackoff time.Duration
		visibility   time.Duration
		// The failed message must come back no sooner than minGap and no
		// later than maxGap after the failure. With a backoff, the bound
		// is well below the visibility timeout, so that only the backoff
		// can have brought it back, however busy the machine.
		minGap, maxGap time.Duration
	}{
		{name: "visibility runs out", visibility: 6 * time.Second, minGap: 5 * time.Second, maxGap: 14 * time.Second},
		{name: "retry backoff", retryBackoff: time.Second, visibility: 30 * time.Second, minGap: 500 * time.Millisecond, maxGap: 20 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queueURL := sqsSrv.CreateQueue(t, "failing-"+string(rune('a'+i)), 30)
			sqsSrv.Send(t, queueURL, body)

			var mu sync.Mutex
			var calls []time.Time
			sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, time.Now())
				if len(calls) == 1 {
					return errors.New("database unavailable")
				}
				return nil
			}}
			opts := testOptions(nil)
			opts.VisibilityTimeout = tt.visibility
			opts.RetryBackoff = tt.retryBackoff
			stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))

			waitEmpty(t, sqsSrv, queueURL, 40*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := sink.attemptCount(); got != 2 {
				t.Fatalf("sink called %d times, want 2 (one failure, one redelivery)", got)
			}
			sink.mu.Lock()
			attempts := slices.Clone(sink.attempts)
			sink.mu.Unlock()
			if attempts[0].Source != attempts[1].Source {
				t.Errorf("redelivered batch source %q differs from first %q", attempts[1].Source, attempts[0].Source)
			}
			if got := sink.eventIDs(); !slices.Equal(got, []string{eventBridgeEventID}) {
				t.Errorf("stored event IDs = %v, want [%s]", got, eventBridgeEventID)
			}
			gap := calls[1].Sub(calls[0])
			if gap < tt.minGap || gap > tt.maxGap {
				t.Errorf("message redelivered after %v, want between %v and %v", gap, tt.minGap, tt.maxGap)
			}
		})
	}
}

func TestSourceKeepsSlowMessageHidden(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "slow", 30)
	sqsSrv.Send(t, queueURL, string(readTestdata(t, "eventbridge.json")))

	// The sink takes three visibility timeouts; only the heartbeat keeps
	// the message from another consumer meanwhile.
	const work = 6 * time.Second
	started := make(chan struct{})
	sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
		close(started)
		select {
		case <-time.After(work):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	opts := testOptions(nil)
	opts.VisibilityTimeout = 2 * time.Second
	stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))

	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("sink never called")
	}
	deadline := time.Now().Add(work - time.Second)
	for time.Now().Before(deadline) {
		out, err := sqsSrv.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     1,
			VisibilityTimeout:   30,
		})
		if err != nil {
			t.Fatalf("competing receive: %v", err)
		}
		if len(out.Messages) > 0 {
			t.Fatalf("a competing consumer received message %s while it was being worked on", aws.ToString(out.Messages[0].MessageId))
		}
	}

	waitEmpty(t, sqsSrv, queueURL, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := sink.attemptCount(); got != 1 {
		t.Errorf("sink called %d times, want 1", got)
	}
}

func TestSourceShutdown(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	body := string(readTestdata(t, "eventbridge.json"))

	tests := []struct {
		name  string
		grace time.Duration
		// The sink's work takes this long unless cancelled.
		work        time.Duration
		wantStored  int
		wantOnQueue int
	}{
		{name: "finishes in-flight work", grace: 10 * time.Second, work: 2 * time.Second, wantStored: 1, wantOnQueue: 0},
		{name: "returns work to the queue after the grace period", grace: 500 * time.Millisecond, work: time.Minute, wantStored: 0, wantOnQueue: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queueURL := sqsSrv.CreateQueue(t, "shutdown-"+string(rune('a'+i)), 30)
			sqsSrv.Send(t, queueURL, body)
			started := make(chan struct{})
			sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
				close(started)
				select {
				case <-time.After(tt.work):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
			opts := testOptions(nil)
			opts.ShutdownGrace = tt.grace
			// A long visibility shows that an abandoned message is
			// released at once rather than left to time out.
			opts.VisibilityTimeout = 30 * time.Second
			stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))

			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("sink never called")
			}
			begin := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(begin); took > min(tt.work, tt.grace)+3*time.Second {
				t.Errorf("Run took %v to return after cancellation", took)
			}
			if got := len(sink.storedBatches()); got != tt.wantStored {
				t.Errorf("stored %d batches, want %d", got, tt.wantStored)
			}
			if got := sqsSrv.Depth(t, queueURL, false); got != tt.wantOnQueue {
				t.Fatalf("%d messages on the queue after shutdown, want %d", got, tt.wantOnQueue)
			}
			if tt.wantOnQueue > 0 {
				out, err := sqsSrv.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
					QueueUrl:            aws.String(queueURL),
					MaxNumberOfMessages: 10,
					WaitTimeSeconds:     2,
				})
				if err != nil {
					t.Fatalf("receive after shutdown: %v", err)
				}
				if len(out.Messages) != tt.wantOnQueue {
					t.Errorf("received %d messages right after shutdown, want the %d abandoned ones back", len(out.Messages), tt.wantOnQueue)
				}
			}
		})
	}
}

func TestSourceWorksOnMessagesConcurrently(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "concurrent", 30)
	var template map[string]any
	if err := json.Unmarshal(readTestdata(t, "eventbridge.json"), &template); err != nil {
		t.Fatal(err)
	}
	const messages, concurrency = 7, 3
	var want []string
	for i := range messages {
		id := "00000000-0000-4000-8000-00000000000" + string(rune('0'+i))
		template["detail"].(map[string]any)["eventID"] = id
		b, err := json.Marshal(template)
		if err != nil {
			t.Fatal(err)
		}
		sqsSrv.Send(t, queueURL, string(b))
		want = append(want, id)
	}

	var mu sync.Mutex
	var active, peak int
	release := make(chan struct{})
	sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
		mu.Lock()
		active++
		peak = max(peak, active)
		mu.Unlock()
		defer func() {
			mu.Lock()
			active--
			mu.Unlock()
		}()
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	opts := testOptions(nil)
	opts.Concurrency = concurrency
	opts.VisibilityTimeout = 10 * time.Second
	stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))

	// Give the source time to take more messages than it may.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := active
		mu.Unlock()
		if n == concurrency {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in progress, want %d", n, concurrency)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	close(release)

	waitEmpty(t, sqsSrv, queueURL, 15*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if peak != concurrency {
		t.Errorf("at most %d messages were in progress at once, want %d", peak, concurrency)
	}
	if got := sink.eventIDs(); !slices.Equal(got, want) {
		t.Errorf("stored event IDs = %v, want %v", got, want)
	}
}

func TestSourceRunFailsForMissingQueue(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.Endpoint + "/100010001000/no-such-queue"
	src := newTestSource(t, sqsSrv, queueURL, &testSink{}, testOptions(nil))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := src.Run(ctx)
	if err == nil {
		t.Fatal("Run returned nil for a queue that does not exist")
	}
	if ctx.Err() != nil {
		t.Fatalf("Run kept retrying until its context ended: %v", err)
	}
	if !strings.Contains(err.Error(), queueURL) {
		t.Errorf("error %q does not name the queue %s", err, queueURL)
	}
}
