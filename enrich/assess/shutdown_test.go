package assess

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

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

// SIGTERM arrives while the worker waits for S3 to describe a bucket, with
// another bucket's assessment done alongside and a second assessment of
// the held bucket claimed and waiting behind the first. The read in flight
// finishes and is recorded if it can within the grace period, and the
// waiting item (and an interrupted one) is handed back at once: another
// replica takes it without waiting for the lease.
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
			slow := &slowBucket{bucket: "payments-exports", reading: make(chan struct{}), answer: make(chan struct{})}
			rd := e.awsFake(t, []string{"payments-exports", "payments-archive"}, func(next http.Handler) http.Handler {
				slow.next = next
				return slow
			})
			t.Cleanup(slow.reply) // before the fake closes: it waits for its handlers
			worker := func() *Worker {
				return New(e.st, rd, delivery.Planner{}, Options{Clock: e.clk, Logger: e.w.log, ShutdownGrace: tc.grace})
			}

			ctx := context.Background()
			enqueue := func(f finding.Finding, change finding.ChangeKind) {
				t.Helper()
				for _, it := range (Planner{}).Plan(f, change, "system", "") {
					if _, err := e.st.Enqueue(ctx, it); err != nil {
						t.Fatal(err)
					}
				}
			}
			exports, archive := e.seed(t, "payments-exports"), e.seed(t, "payments-archive")
			enqueue(exports, "created")
			enqueue(archive, "created")
			again := exports
			again.Version++ // the exposure repeated: a second read of the same bucket
			enqueue(again, "repeated")

			runCtx, sigterm := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.run(runCtx, t, "replica-1", worker()) }()
			select {
			case <-slow.reading:
			case <-time.After(10 * time.Second):
				t.Fatal("the worker never read the bucket")
			}
			// The other bucket is read alongside the held one.
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := e.st.GetFinding(ctx, archive.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Assessment != nil && got.Assessment.Exposed {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the second bucket was not read while the first was held")
				}
				time.Sleep(10 * time.Millisecond)
			}
			sigterm()
			began := time.Now()
			var err error
			if tc.finishes {
				// While the read is still held, the waiting item is
				// already back in the outbox.
				var back []store.OutboxItem
				for deadline := time.Now().Add(5 * time.Second); len(back) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if back, err = e.st.ClaimKinds(ctx, "probe", []string{"aws."}, 10, time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				if len(back) != 1 || back[0].Key != (Planner{}).Plan(again, "repeated", "", "")[0].Key {
					t.Fatalf("handed back while the read was in flight: %+v, want the second assessment of the held bucket", back)
				}
				if err := e.st.Retry(ctx, back[0].ID, "probe", e.clk.Now(), "probe"); err != nil {
					t.Fatal(err)
				}
				slow.reply()
			}
			select {
			case <-done:
			case <-time.After(tc.grace + 5*time.Second):
				t.Fatalf("Run did not return within the grace period (%v) after SIGTERM", tc.grace)
			}
			t.Logf("Run returned %v after SIGTERM", time.Since(began).Round(time.Millisecond))
			slow.reply()

			got, err := e.st.GetFinding(ctx, exports.ID)
			if err != nil {
				t.Fatal(err)
			}
			if assessed := got.Assessment != nil && got.Assessment.Exposed; assessed != tc.finishes {
				t.Fatalf("the read in flight recorded by the stopping replica: %v (%+v), want %v", assessed, got.Assessment, tc.finishes)
			}

			// Another replica at the same instant takes what is left: the
			// waiting item, and the interrupted one if it was.
			left := 2
			if tc.finishes {
				left = 1
			}
			n := e.runtime(t, "replica-2", worker()).Drain(ctx)
			if n != left {
				t.Fatalf("another replica claimed %d items at once, want %d", n, left)
			}
			for _, f := range []finding.Finding{exports, archive} {
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
			// A read that finished is not done again by the other replica;
			// every item handed back is read once.
			wantReads := 1 + left
			if reads := slow.policyReads(); reads != wantReads {
				t.Errorf("the held bucket was read %d times, want %d", reads, wantReads)
			}
		})
	}
}
