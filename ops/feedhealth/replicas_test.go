package feedhealth

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/lease"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// replicas are two monitors of two replicas sharing one store and one
// SecOps channel, as two serve processes behind one queue do.
type replicas struct {
	st   *sqlite.Store
	n    *notifier
	clk  *clock.Fake
	a, b *Monitor
}

// interval is the replicas' check interval; their lease lasts three.
const interval = 10 * time.Minute

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "db"))
	t.Cleanup(func() { st.Close() })
	r := &replicas{st: st, n: newNotifier(), clk: clock.NewFake(t0)}
	r.a = r.monitor("replica-a")
	r.b = r.monitor("replica-b")
	return r
}

func (r *replicas) monitor(owner string) *Monitor {
	return New(r.st, r.n, Options{
		Channel: "#secops", MaxSilence: 30 * time.Minute, Interval: interval, Owner: owner,
		Clock: r.clk, Logger: zerolog.Nop(),
	})
}

// holder returns the owner of the lease as stored.
func (r *replicas) holder(t *testing.T) string {
	t.Helper()
	h, err := lease.New(r.st, Namespace, leaseKey, "", time.Minute).Holder(context.Background(), r.clk.Now())
	if err != nil {
		t.Fatalf("read lease: %v", err)
	}
	return h
}

// Each replica receives only part of the events: the account's events
// all reach replica A, and yet replica B, holding the lease, sees the
// account is not silent; once its events stop, B warns about it, once.
func TestReplicaSeesEventsOfTheOther(t *testing.T) {
	r := newReplicas(t)
	check(t, r.b) // B takes the lease
	check(t, r.a)
	if got := r.holder(t); got != "replica-b" {
		t.Fatalf("lease held by %q, want replica-b (first to check)", got)
	}
	for range 12 { // two hours of events, all through A
		r.clk.Advance(interval)
		r.a.Observe(acctB, "eu-west-1", r.clk.Now().Add(-time.Minute))
		check(t, r.a)
		check(t, r.b)
	}
	wantTexts(t, r.n)
	last := r.clk.Now().Add(-time.Minute)

	for range 6 { // an hour of silence
		r.clk.Advance(interval)
		check(t, r.a)
		check(t, r.b)
	}
	wantTexts(t, r.n, []string{"No CloudTrail events from account " + acctB + "*", "newest is from " + stamp(last)})
}

// Both replicas see the account's events and its silence, and check at
// the same moments; one message.
func TestOnlyTheLeaseHolderWarns(t *testing.T) {
	r := newReplicas(t)
	r.n.slow = 20 * time.Millisecond
	r.a.Observe(acctB, "eu-west-1", t0)
	r.b.Observe(acctB, "eu-west-1", t0)
	for range 8 {
		r.clk.Advance(interval / 2)
		var wg sync.WaitGroup
		for _, m := range []*Monitor{r.a, r.b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := m.Check(context.Background()); err != nil {
					t.Errorf("Check: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	wantTexts(t, r.n, []string{"No CloudTrail events from account " + acctB})
}

// Replica A holds the lease and warns, then stops renewing it (it died,
// or lost the store). B takes over when the lease runs out, finds A's
// warning in the store although it held the lease before A, and edits
// that message when events flow again instead of posting a second one.
func TestTakeoverClearsTheOthersWarning(t *testing.T) {
	r := newReplicas(t)
	check(t, r.b) // B holds the lease first, with no warning
	r.a.Observe(acctB, "eu-west-1", t0)
	r.clk.Advance(3*interval + time.Second) // B stalls; its lease runs out
	check(t, r.a)
	if got := r.holder(t); got != "replica-a" {
		t.Fatalf("lease held by %q after B stopped renewing, want replica-a", got)
	}
	r.clk.Advance(2 * time.Minute)
	check(t, r.a)
	wantTexts(t, r.n, []string{"No CloudTrail events from account " + acctB})

	// B checks within A's lease: it does not post, nor clear.
	r.b.Observe(acctB, "eu-west-1", t0.Add(-time.Hour))
	check(t, r.b)
	wantTexts(t, r.n, []string{"No CloudTrail events from account " + acctB})

	r.clk.Advance(3*interval + time.Second) // A stops renewing
	r.b.Observe(acctB, "eu-west-1", r.clk.Now().Add(-time.Minute))
	check(t, r.b)
	if got := r.holder(t); got != "replica-b" {
		t.Fatalf("lease held by %q after A stopped renewing, want replica-b", got)
	}
	wantTexts(t, r.n, []string{"Events flowing again from account " + acctB + "*"})
	if e := r.n.msgs[r.n.order[0]].edits; e != 1 {
		t.Errorf("warning edited %d times, want 1", e)
	}

	// A comes back: the lease is B's, and the warning is gone from the
	// store, so nothing more happens.
	check(t, r.a)
	r.clk.Advance(interval)
	check(t, r.b)
	check(t, r.a)
	wantTexts(t, r.n, []string{"Events flowing again from account " + acctB + "*"})
}

// A stopped-logging finding raised on the replica without the lease is
// still warned about, by the lease holder, once.
func TestLoggingDisabledOnTheOtherReplica(t *testing.T) {
	r := newReplicas(t)
	check(t, r.a) // A holds the lease
	r.b.Observe(acctA, "us-east-1", t0.Add(-3*time.Minute))
	r.b.LoggingDisabled(acctA, "us-east-1", "f-stop")
	check(t, r.b)
	wantTexts(t, r.n)

	check(t, r.a)
	want := []string{"CloudTrail logging was stopped in account " + acctA + " in us-east-1*", "finding f-stop"}
	wantTexts(t, r.n, want)

	// The same finding reported again (a repeat) changes nothing.
	r.b.LoggingDisabled(acctA, "us-east-1", "f-stop")
	check(t, r.b)
	check(t, r.a)
	r.clk.Advance(interval)
	check(t, r.b)
	check(t, r.a)
	wantTexts(t, r.n, want)

	// Logging resumes; the events reach B only, and A clears the warning.
	r.b.Observe(acctA, "us-east-1", r.clk.Now().Add(-time.Minute))
	check(t, r.b)
	check(t, r.a)
	wantTexts(t, r.n, []string{"Events flowing again from account " + acctA + " in us-east-1*", "finding f-stop"})
}

// Running replicas: the holder posts a report made on the other replica
// within seconds, though its next check is an hour away, and gives the
// lease up when it stops.
func TestRunningReplicas(t *testing.T) {
	r := newReplicas(t)
	a, b := r.monitor("replica-a"), r.monitor("replica-b")
	a.opts.Interval, b.opts.Interval = time.Hour, time.Hour
	a.poll = 10 * time.Millisecond
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); a.Run(ctxA) }()
	defer func() { stopA(); <-doneA }()
	waitFor(t, "A to take the lease", func() bool { return a.holding.Load() })

	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan struct{})
	go func() { defer close(doneB); b.Run(ctxB) }()
	defer func() { stopB(); <-doneB }()
	b.LoggingDisabled(acctA, "us-east-1", "f-stop")
	waitFor(t, "the warning", func() bool { return len(r.n.texts()) > 0 })
	wantTexts(t, r.n, []string{"CloudTrail logging was stopped in account " + acctA, "finding f-stop"})

	stopA()
	<-doneA
	if got := r.holder(t); got != "" {
		t.Errorf("lease held by %q after A stopped, want it free", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
