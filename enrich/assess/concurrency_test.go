package assess

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
)

// slowPolicies answers every GetBucketPolicy after a delay, as a slow or
// throttling endpoint would, and counts the reads in flight at once, in
// all and per bucket. With a gate of n, reads are held instead until n are
// in flight together (or hold passes, so a worker that never reaches n
// fails the test rather than hanging it): the peak then says how many the
// worker runs at once, whatever the machine's speed.
type slowPolicies struct {
	next  http.Handler
	delay time.Duration
	gate  int
	hold  time.Duration
	open  chan struct{}

	mu       sync.Mutex
	inFlight map[string]int
	peak     map[string]int // by bucket, "" for all
	reads    map[string]int
}

func newSlowPolicies(delay time.Duration) *slowPolicies {
	return &slowPolicies{delay: delay, inFlight: map[string]int{}, peak: map[string]int{}, reads: map[string]int{}}
}

func (s *slowPolicies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.URL.Query()["policy"]; !ok {
		s.next.ServeHTTP(w, r)
		return
	}
	bucket := strings.Trim(r.URL.Path, "/")
	s.mu.Lock()
	s.reads[bucket]++
	for _, k := range []string{"", bucket} {
		s.inFlight[k]++
		s.peak[k] = max(s.peak[k], s.inFlight[k])
	}
	var open chan struct{}
	if s.gate > 0 {
		if s.open == nil {
			s.open = make(chan struct{})
		}
		open = s.open
		if s.inFlight[""] >= s.gate {
			close(s.open)
			s.open = nil
		}
	}
	s.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-time.After(s.hold):
		}
	} else {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	s.inFlight[""]--
	s.inFlight[bucket]--
	s.mu.Unlock()
	s.next.ServeHTTP(w, r)
}

func (s *slowPolicies) peakOf(bucket string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[bucket]
}

func (s *slowPolicies) readsOf(bucket string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[bucket]
}

// runUntil runs the worker until cond holds (or fails the test after
// limit), stops it and returns how long it took.
func runUntil(t *testing.T, e env, w *Worker, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	began := time.Now()
	go func() { defer close(done); e.run(ctx, t, "replica-1", w) }()
	defer func() { stop(); <-done }()
	for !cond() {
		if time.Since(began) > limit {
			t.Fatalf("%s: not done after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(began)
}

// assessed reports whether every finding's exposure was confirmed at
// least at version v.
func (e env) assessed(t *testing.T, fs []finding.Finding, version int) func() bool {
	return func() bool {
		for _, f := range fs {
			got, err := e.st.GetFinding(context.Background(), f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Assessment == nil || !got.Assessment.Exposed || got.Version < version {
				return false
			}
		}
		return true
	}
}

func (e env) enqueue(t *testing.T, f finding.Finding, change finding.ChangeKind) {
	t.Helper()
	for _, it := range (Planner{}).Plan(f, change, "system", "") {
		if _, err := e.st.Enqueue(context.Background(), it); err != nil {
			t.Fatal(err)
		}
	}
}

// Many findings whose state reads are slow (AWS throttling, a distant
// endpoint) are read a few at a time: Concurrency of them at once, never
// more and never one after the other. Each read is held until Concurrency
// are in flight, so a worker that reads serially or too widely shows in the
// peak, not in a wall-clock duration.
func TestAssessmentsRunConcurrently(t *testing.T) {
	tests := []struct {
		name        string
		findings    int
		concurrency int
	}{
		{name: "two at a time", findings: 6, concurrency: 2},
		{name: "the default four at a time", findings: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			conc := tc.concurrency
			if conc == 0 {
				conc = 4 // the documented default
			}
			slow := newSlowPolicies(0)
			slow.gate, slow.hold = conc, 5*time.Second
			var buckets []string
			for i := range tc.findings {
				buckets = append(buckets, fmt.Sprintf("exports-%02d", i))
			}
			rd := e.awsFake(t, buckets, func(next http.Handler) http.Handler { slow.next = next; return slow })
			var fs []finding.Finding
			for _, b := range buckets {
				f := e.seed(t, b)
				e.enqueue(t, f, "created")
				fs = append(fs, f)
			}
			w := New(e.st, rd, delivery.Planner{}, Options{Clock: e.clk, Logger: e.w.log, Concurrency: tc.concurrency})
			runUntil(t, e, w, 60*time.Second, "every exposure confirmed", e.assessed(t, fs, 2))
			if w.opts.Concurrency != conc {
				t.Errorf("concurrency %d, want %d", w.opts.Concurrency, conc)
			}
			if peak := slow.peakOf(""); peak != conc {
				t.Errorf("at most %d reads ran at once, want %d", peak, conc)
			}
			for _, b := range buckets {
				if n := slow.readsOf(b); n != 1 {
					t.Errorf("%s read %d times, want once", b, n)
				}
			}
		})
	}
}

// Two assessments of one finding (it was raised, then repeated) are never
// carried out at once, even with slots free: reads recorded out of order
// would leave an older state on the finding. Both are done, one after the
// other, while other findings proceed alongside.
func TestAssessmentsOfOneFindingRunInTurn(t *testing.T) {
	e := newEnv(t)
	slow := newSlowPolicies(200 * time.Millisecond)
	buckets := []string{"payments-exports", "payments-archive", "payments-logs"}
	rd := e.awsFake(t, buckets, func(next http.Handler) http.Handler { slow.next = next; return slow })
	var fs []finding.Finding
	for _, b := range buckets {
		f := e.seed(t, b)
		e.enqueue(t, f, "created")
		fs = append(fs, f)
	}
	// The first finding repeats before its first assessment ran: two of
	// its items are due at once.
	again := fs[0]
	again.Version++
	e.enqueue(t, again, "repeated")

	w := New(e.st, rd, delivery.Planner{}, Options{Clock: e.clk, Logger: e.w.log})
	runUntil(t, e, w, 30*time.Second, "every assessment done", func() bool {
		return e.assessed(t, fs, 2)() && e.assessed(t, fs[:1], 3)()
	})
	if reads := slow.readsOf("payments-exports"); reads != 2 {
		t.Errorf("the repeated finding's bucket was read %d times, want once per assessment (2)", reads)
	}
	if peak := slow.peakOf("payments-exports"); peak != 1 {
		t.Errorf("%d reads of the repeated finding's bucket ran at once, want 1", peak)
	}
	if peak := slow.peakOf(""); peak < 2 {
		t.Errorf("at most %d reads ran at once: other findings did not proceed alongside", peak)
	}
}

// A re-check that reaches a finding while its assessment is in flight
// reads it after that assessment is done, not alongside: the assessment's
// read may have started before AWS recovered and fail, and the re-check
// is then what records the state.
func TestRecheckWaitsForAssessmentInFlight(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	slow := newSlowPolicies(300 * time.Millisecond)
	rd := e.awsFake(t, []string{"payments-exports"}, func(next http.Handler) http.Handler { slow.next = next; return slow })
	f := e.seed(t, "payments-exports")
	e.enqueue(t, f, "created")
	w := New(e.st, rd, delivery.Planner{}, Options{Clock: e.clk, Logger: e.w.log})
	claimed := make(chan int)
	go func() { claimed <- e.runtime(t, "replica-1", w).Drain(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); slow.readsOf("payments-exports") == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the assessment never read the bucket")
		}
	}
	if err := w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-claimed; n != 1 {
		t.Fatalf("claimed %d items, want the assessment", n)
	}
	if reads, peak := slow.readsOf("payments-exports"), slow.peakOf("payments-exports"); reads != 2 || peak != 1 {
		t.Errorf("the bucket was read %d times, at most %d at once; want 2 reads (assessment, then re-check), one at a time", reads, peak)
	}
}
