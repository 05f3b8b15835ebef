package assess

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/state"
)

// awsReader reads states from AWS, as serve wires it.
type awsReader struct{ r *state.Reader }

func (a awsReader) Read(ctx context.Context, f finding.Finding) (State, error) {
	st, err := a.r.Read(ctx, f)
	if errors.Is(err, state.ErrUnsupported) {
		return State{}, ErrUnsupported
	}
	if err != nil {
		return State{}, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return State{}, err
	}
	return State{ReadAt: st.ReadAt, Exposed: st.Exposed, Reason: st.Reason, Tags: st.Tags, Raw: raw}, nil
}

func (a awsReader) Diff(before, after json.RawMessage) []string { return nil }

func (a awsReader) Explain(err error) string { return state.Classify(err) }

func (a awsReader) Profile(context.Context, finding.Finding) (*finding.Profile, error) {
	return nil, nil
}

// slowBucket holds the first S3 request about one bucket until answered,
// as a slow or distant endpoint would.
type slowBucket struct {
	next   http.Handler
	bucket string

	once     sync.Once
	reading  chan struct{} // closed when the held request arrives
	answer   chan struct{} // closed to let it through
	answered sync.Once

	mu    sync.Mutex
	reads int // GetBucketPolicy calls, one per reading of the state
}

func (s *slowBucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, s.bucket) {
		if _, ok := r.URL.Query()["policy"]; ok {
			s.mu.Lock()
			s.reads++
			s.mu.Unlock()
		}
		held := false
		s.once.Do(func() { held = true })
		if held {
			close(s.reading)
			<-s.answer
		}
	}
	s.next.ServeHTTP(w, r)
}

func (s *slowBucket) reply() { s.answered.Do(func() { close(s.answer) }) }

func (s *slowBucket) policyReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

const publicPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`

// SIGTERM arrives while the worker waits for S3 to describe a bucket, with
// a second assessment claimed and not started. The read in flight finishes
// and is recorded if it can within the grace period, and the unstarted
// item (and an interrupted one) is handed back at once: another replica
// takes it without waiting for the lease.
func TestShutdownMidRead(t *testing.T) {
	tests := []struct {
		name     string
		grace    time.Duration
		finishes bool // the read in flight completes within the grace period
	}{
		{name: "the read finishes within the grace period", grace: 10 * time.Second, finishes: true},
		{name: "the grace period ends first", grace: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			const account = "111122223333"
			srv := awsfake.New()
			t.Cleanup(srv.Close)
			srv.Identities().Add("AKIDSECOPSBOT0000001", "arn:aws:iam::999900001111:role/secops-bot")
			srv.Handle("sts", awsfake.NewSTS(srv.Identities(), e.clk))
			s3 := awsfake.NewS3()
			for _, b := range []string{"payments-exports", "payments-archive"} {
				s3.AddBucket(account, awsfake.S3Bucket{Name: b, Policy: strings.ReplaceAll(publicPolicy, "%s", b)})
			}
			slow := &slowBucket{next: s3, bucket: "payments-exports", reading: make(chan struct{}), answer: make(chan struct{})}
			t.Cleanup(slow.reply) // before the fake closes: it waits for its handlers
			srv.Handle("s3", slow)
			clients, err := awsclient.New(context.Background(), aws.Config{
				Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDSECOPSBOT0000001", "secret", ""),
			}, awsclient.Options{MemberRoleName: "secops-member", Clock: e.clk})
			if err != nil {
				t.Fatal(err)
			}
			rd := awsReader{state.NewReader(clients, e.clk)}
			worker := func(owner string) *Worker {
				return New(e.st, rd, delivery.Planner{}, Options{Owner: owner, Clock: e.clk, Logger: e.w.log, ShutdownGrace: tc.grace})
			}

			ctx := context.Background()
			var fs []finding.Finding
			for _, b := range []string{"payments-exports", "payments-archive"} {
				f := e.seed(t, b)
				for _, it := range (Planner{}).Plan(f, "created", "system", "") {
					if _, err := e.st.Enqueue(ctx, it); err != nil {
						t.Fatal(err)
					}
				}
				fs = append(fs, f)
			}

			runCtx, sigterm := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); worker("replica-1").Run(runCtx) }()
			select {
			case <-slow.reading:
			case <-time.After(10 * time.Second):
				t.Fatal("the worker never read the bucket")
			}
			sigterm()
			began := time.Now()
			if tc.finishes {
				time.Sleep(50 * time.Millisecond) // the read outlives the signal
				slow.reply()
			}
			select {
			case <-done:
			case <-time.After(tc.grace + 5*time.Second):
				t.Fatalf("Run did not return within the grace period (%v) after SIGTERM", tc.grace)
			}
			t.Logf("Run returned %v after SIGTERM", time.Since(began).Round(time.Millisecond))
			slow.reply()

			got, err := e.st.GetFinding(ctx, fs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if assessed := got.Assessment != nil && got.Assessment.Exposed; assessed != tc.finishes {
				t.Fatalf("the read in flight recorded by the stopping replica: %v (%+v), want %v", assessed, got.Assessment, tc.finishes)
			}

			// Another replica at the same instant takes what is left.
			left := 2
			if tc.finishes {
				left = 1
			}
			if n := worker("replica-2").drain(ctx, ctx); n != left {
				t.Fatalf("another replica claimed %d items at once, want %d", n, left)
			}
			for _, f := range fs {
				got, err := e.st.GetFinding(ctx, f.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Assessment == nil || !got.Assessment.Exposed || got.Assessment.Unavailable != "" {
					t.Errorf("%s: assessment %+v, want the exposure confirmed", f.Resource.ID, got.Assessment)
				}
			}
			if items, err := e.st.ClaimKinds(ctx, "check", []string{"aws."}, 10, time.Minute); err != nil || len(items) != 0 {
				t.Errorf("assessment items left: %+v (%v)", items, err)
			}
			// A read that finished is not done again by the other replica.
			wantReads := 2
			if tc.finishes {
				wantReads = 1
			}
			if reads := slow.policyReads(); reads != wantReads {
				t.Errorf("the bucket in flight was read %d times, want %d", reads, wantReads)
			}
		})
	}
}
