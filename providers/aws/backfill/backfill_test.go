package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

const (
	testAccessKey = "AKIDBACKFILLTEST"
	account       = "111122223333"
	region        = "eu-central-1"
)

var now = time.Date(2026, time.November, 27, 3, 30, 0, 0, time.UTC)

// record is one CloudTrail record as it appears in a log file.
func record(i int, region string, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEBACKUP","arn":"arn:aws:iam::111122223333:user/BackupManager","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEBACKUP01","userName":"BackupManager"},`+
		`"eventTime":"%s","eventSource":"rds.amazonaws.com","eventName":"DescribeDBSnapshots","awsRegion":"%s","sourceIPAddress":"203.0.113.10","userAgent":"Boto3/1.34.11",`+
		`"requestParameters":null,"responseElements":null,"readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333",`+
		`"eventID":"%08d-0000-4000-8000-000000000000"}`, at.UTC().Format(time.RFC3339), region, i))
}

// fixture is a CloudTrail fake seeded with n events in the region, one a
// minute back from now, plus events it must not return: some in another
// region, some older than since, some of another account.
type fixture struct {
	srv   *awsfake.Server
	ct    *awsfake.CloudTrail
	since time.Time
	ids   []string // the region's events in the window, newest first
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	f := &fixture{srv: awsfake.New(), ct: awsfake.NewCloudTrail()}
	t.Cleanup(f.srv.Close)
	f.srv.Handle("cloudtrail", f.ct)
	f.srv.Identities().Add(testAccessKey, "arn:aws:iam::"+account+":role/secops-backfill")
	f.since = now.Add(-time.Duration(n) * time.Minute)
	var recs [][]byte
	for i := range n {
		at := now.Add(-time.Duration(i) * time.Minute)
		recs = append(recs, record(i, region, at))
		f.ids = append(f.ids, fmt.Sprintf("%08d-0000-4000-8000-000000000000", i))
	}
	for i := range 5 {
		recs = append(recs, record(1000+i, "us-east-1", now.Add(-time.Duration(i)*time.Minute)))
		recs = append(recs, record(2000+i, region, f.since.Add(-time.Duration(i+1)*time.Hour)))
		other := strings.ReplaceAll(string(record(3000+i, region, now.Add(-time.Duration(i)*time.Minute))), account, "999988887777")
		recs = append(recs, []byte(other))
	}
	if err := f.ct.Add(recs...); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) config() aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, "backfill-test-secret", ""),
		BaseEndpoint: aws.String(f.srv.URL()),
		HTTPClient:   &http.Client{Transport: bufferedTransport{next: &http.Transport{}}},
	}
}

// bufferedTransport reads each response body whole before handing the
// response on. The standard library can fail a read of a large body the
// SDK makes after the round trip with "use of closed network connection"
// (aws-sdk-go-v2 issue 2737); Backfill retries that, but a retry would
// upset the exact call counts these tests check, so they take it out.
type bufferedTransport struct{ next http.RoundTripper }

func (t bufferedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (f *fixture) lookups() int { return len(f.srv.CallsTo("cloudtrail", "LookupEvents")) }

// settle waits (up to a second) until the call log holds at least n
// LookupEvents calls and returns how many it holds: the server logs a call
// once it has answered it, so the client can be done before the log is.
func (f *fixture) settle(n int) int {
	deadline := time.Now().Add(time.Second)
	for f.lookups() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return f.lookups()
}

// memSink keeps the batches it is given.
type memSink struct {
	mu      sync.Mutex
	batches []ingest.Batch
	err     error
}

func (s *memSink) Ingest(_ context.Context, b ingest.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.batches = append(s.batches, b)
	return nil
}

func (s *memSink) ids() []string {
	var out []string
	for _, b := range s.batches {
		for _, r := range b.Records {
			out = append(out, r.EventID)
		}
	}
	return out
}

// countingLimiter lets every request through at once and counts them.
type countingLimiter struct {
	mu    sync.Mutex
	waits int
}

func (l *countingLimiter) Wait(context.Context) error {
	l.mu.Lock()
	l.waits++
	l.mu.Unlock()
	return nil
}

// fakeSleep advances the clock instead of sleeping and records each wait.
type fakeSleep struct {
	clk   *clock.Fake
	mu    sync.Mutex
	waits []time.Duration
}

func (s *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	s.clk.Advance(d)
	return ctx.Err()
}

type progressCall struct {
	n  int
	at time.Time
}

func TestBackfill(t *testing.T) {
	tests := []struct {
		name      string
		events    int
		faults    []awsfake.Fault
		pages     int
		backoffs  []time.Duration
		wantErr   string
		delivered int
	}{
		{name: "three pages", events: 120, pages: 3, delivered: 120},
		{name: "one short page", events: 7, pages: 1, delivered: 7},
		{name: "nothing to read", events: 0, pages: 1, delivered: 0},
		{
			name: "throttled, then success", events: 120, pages: 3, delivered: 120,
			faults:   []awsfake.Fault{{Service: "cloudtrail", Action: "LookupEvents", Code: "ThrottlingException", Status: 400, Times: 2}},
			backoffs: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name: "server error is retried", events: 60, pages: 2, delivered: 60,
			faults:   []awsfake.Fault{{Service: "cloudtrail", Action: "LookupEvents", Code: "InternalFailure", Status: 500, Times: 1}},
			backoffs: []time.Duration{time.Second},
		},
		{
			name: "access denied is not retried", events: 60, pages: 0,
			faults:  []awsfake.Fault{{Service: "cloudtrail", Action: "LookupEvents", Code: "AccessDeniedException", Status: 400, Times: -1}},
			wantErr: "AccessDeniedException",
		},
		{
			name: "gives up when throttled for good", events: 60, pages: 0,
			faults:   []awsfake.Fault{{Service: "cloudtrail", Action: "LookupEvents", Code: "ThrottlingException", Status: 400, Times: -1}},
			backoffs: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			wantErr:  "attempt 4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.events)
			for _, fl := range tc.faults {
				f.srv.Inject(fl)
			}
			clk := clock.NewFake(now)
			sl := &fakeSleep{clk: clk}
			lim := &countingLimiter{}
			b := New(Options{Limiter: lim, Clock: clk, Sleep: sl.sleep, MaxAttempts: 4, Logger: zerolog.Nop()})
			sink := &memSink{}
			var progress []progressCall
			err := b.Backfill(context.Background(), f.config(), account, region, f.since, sink, func(n int, at time.Time) {
				progress = append(progress, progressCall{n, at})
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("backfill: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
			if got := sink.ids(); tc.wantErr == "" && !slices.Equal(got, f.ids[:tc.delivered]) {
				t.Errorf("delivered %d events %v…, want the region's %d in the window, newest first", len(got), first(got, 3), tc.delivered)
			}
			calls := f.settle(lim.waits)
			if want := tc.pages + len(tc.backoffs); tc.wantErr == "" && calls != want {
				t.Errorf("%d LookupEvents calls, want %d pages + %d retries", calls, tc.pages, len(tc.backoffs))
			}
			if lim.waits != calls {
				t.Errorf("limiter waited %d times for %d calls: a call bypassed the rate limit", lim.waits, calls)
			}
			if !slices.Equal(sl.waits, tc.backoffs) {
				t.Errorf("backoffs = %v, want %v", sl.waits, tc.backoffs)
			}
			if tc.wantErr == "" && tc.delivered > 0 {
				if len(progress) != tc.pages {
					t.Fatalf("progress = %+v, want one call per page", progress)
				}
				last := progress[len(progress)-1]
				if last.n != tc.delivered || !last.at.Equal(now.Add(-time.Duration(tc.delivered-1)*time.Minute)) {
					t.Errorf("last progress = %+v, want %d events back to the oldest", last, tc.delivered)
				}
				for i := 1; i < len(progress); i++ {
					if progress[i].n <= progress[i-1].n || !progress[i].at.Before(progress[i-1].at) {
						t.Errorf("progress does not move back in time: %+v", progress)
					}
				}
			}
		})
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// TestBackfillPacesRequests: with the default limiter on a fake clock,
// requests (throttled retries included) are at least half a second apart
// on that clock, and each reached the server.
func TestBackfillPacesRequests(t *testing.T) {
	f := newFixture(t, 120)
	f.srv.Inject(awsfake.Fault{Service: "cloudtrail", Action: "LookupEvents", Code: "ThrottlingException", Status: 400, Times: 1})
	clk := clock.NewFake(now)
	sl := &fakeSleep{clk: clk}
	var mu sync.Mutex
	var sent []time.Time
	ct := f.ct
	f.srv.Handle("cloudtrail", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, clk.Now())
		mu.Unlock()
		ct.ServeHTTP(w, r)
	}))
	b := New(Options{Clock: clk, Sleep: sl.sleep, Logger: zerolog.Nop()})
	if err := b.Backfill(context.Background(), f.config(), account, region, f.since, &memSink{}, nil); err != nil {
		t.Fatal(err)
	}
	// The throttled call is answered by the fault and never reaches the
	// handler; the call log has it.
	if calls := f.settle(len(sent) + 1); calls != len(sent)+1 || len(sent) != 3 {
		t.Fatalf("%d calls logged, %d served; want 3 pages and 1 throttled call", calls, len(sent))
	}
	for i := 1; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-1]); gap < time.Second/Rate {
			t.Errorf("requests %d and %d only %v apart; the quota allows %d a second", i-1, i, gap, Rate)
		}
	}
}

// TestBackfillRealClock checks the pacing on the wall clock, through the
// fake's own call log, at a rate high enough to keep the test short.
func TestBackfillRealClock(t *testing.T) {
	f := newFixture(t, 120)
	const rate = 10
	b := New(Options{Limiter: NewLimiter(rate, nil, nil), Logger: zerolog.Nop()})
	if err := b.Backfill(context.Background(), f.config(), account, region, f.since, &memSink{}, nil); err != nil {
		t.Fatal(err)
	}
	f.settle(3)
	calls := f.srv.CallsTo("cloudtrail", "LookupEvents")
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	// Calls are stamped when answered, so a slow first answer shortens the
	// span; a quarter of an interval of slack still tells pacing from none.
	if span := calls[2].At.Sub(calls[0].At); span < 2*time.Second/rate-time.Second/rate/4 {
		t.Errorf("3 calls within %v at %d a second", span, rate)
	}
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		// The server stamps a call when it has answered it, so the gaps
		// carry the jitter of answering; allow a quarter of the interval.
		if gap := calls[i].At.Sub(calls[i-1].At); gap < time.Second/rate*3/4 {
			t.Errorf("calls %d and %d only %v apart at %d a second", i-1, i, gap, rate)
		}
	}
}

func TestBackfillSinkFailureStops(t *testing.T) {
	f := newFixture(t, 120)
	boom := errors.New("store is down")
	b := New(Options{Limiter: &countingLimiter{}, Clock: clock.NewFake(now), Logger: zerolog.Nop()})
	err := b.Backfill(context.Background(), f.config(), account, region, f.since, &memSink{err: boom}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the sink's", err)
	}
	if calls := f.settle(1); calls != 1 {
		t.Errorf("%d calls after the sink failed, want 1", calls)
	}
}

func TestIntervalLimiter(t *testing.T) {
	clk := clock.NewFake(now)
	sl := &fakeSleep{clk: clk}
	l := NewLimiter(Rate, clk, sl.sleep)
	var at []time.Time
	for range 5 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = append(at, clk.Now())
	}
	for i, got := range at {
		if want := now.Add(time.Duration(i) * 500 * time.Millisecond); !got.Equal(want) {
			t.Errorf("request %d at %v, want %v", i, got, want)
		}
	}
	// After a pause the next request goes at once: no burst credit, no wait.
	clk.Advance(10 * time.Second)
	before := clk.Now()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !clk.Now().Equal(before) {
		t.Errorf("waited %v after a pause", clk.Now().Sub(before))
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"broken connection", fmt.Errorf("decode: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("use of closed network connection")}), true},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, false},
		{"bad token", &smithy.GenericAPIError{Code: "InvalidNextTokenException"}, false},
		{"cancelled", context.Canceled, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
