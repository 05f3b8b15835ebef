package lease

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store/sqlite"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func openKV(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kv.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func hold(t *testing.T, l *Lease, at time.Time) State {
	t.Helper()
	s, err := l.Hold(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHold(t *testing.T) {
	const ttl = time.Minute
	type step struct {
		who   string // "a" or "b"
		after time.Duration
		want  State
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a free lease is taken", []step{
			{"a", 0, State{Held: true, Taken: true, Free: true, Holder: "a"}},
		}},
		{"another replica is refused while it lasts", []step{
			{"a", 0, State{Held: true, Taken: true, Free: true, Holder: "a"}},
			{"b", 59 * time.Second, State{Holder: "a"}},
		}},
		{"the holder keeps it, renewing past half its time", []step{
			{"a", 0, State{Held: true, Taken: true, Free: true, Holder: "a"}},
			{"a", 20 * time.Second, State{Held: true, Holder: "a"}},
			{"a", 40 * time.Second, State{Held: true, Holder: "a"}}, // renewed until 1m40s
			{"b", 90 * time.Second, State{Holder: "a"}},
		}},
		{"a lease that ran out is taken over", []step{
			{"a", 0, State{Held: true, Taken: true, Free: true, Holder: "a"}},
			{"b", time.Minute, State{Held: true, Taken: true, Previous: "a", Holder: "b"}},
			{"a", 61 * time.Second, State{Holder: "b"}},
		}},
		{"the holder's own lease that ran out is taken again, not free", []step{
			{"a", 0, State{Held: true, Taken: true, Free: true, Holder: "a"}},
			{"a", time.Minute, State{Held: true, Taken: true, Previous: "a", Holder: "a"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := openKV(t)
			ls := map[string]*Lease{"a": New(kv, "ns", "lease", "a", ttl), "b": New(kv, "ns", "lease", "b", ttl)}
			for i, s := range tc.steps {
				if got := hold(t, ls[s.who], t0.Add(s.after)); got != s.want {
					t.Fatalf("step %d (%s at +%v) = %+v, want %+v", i, s.who, s.after, got, s.want)
				}
			}
		})
	}
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	ctx := context.Background()
	kv := openKV(t)
	a, b := New(kv, "ns", "lease", "a", time.Hour), New(kv, "ns", "lease", "b", time.Hour)
	hold(t, a, t0)
	if err := b.Release(ctx); err != nil { // not b's: nothing happens
		t.Fatal(err)
	}
	if got := hold(t, b, t0.Add(time.Second)); got.Held {
		t.Fatalf("b took a's lease after releasing a lease it did not hold: %+v", got)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := a.Holder(ctx, t0.Add(time.Second)); err != nil || h != "" {
		t.Fatalf("Holder after release = %q, %v; want nobody", h, err)
	}
	if got := hold(t, b, t0.Add(2*time.Second)); !got.Held || got.Previous != "a" || !got.Free {
		t.Fatalf("b after a released = %+v, want it taken, free, from a", got)
	}
}

func TestUnreadableLeaseIsTaken(t *testing.T) {
	kv := openKV(t)
	if err := kv.PutKV(context.Background(), "ns", "lease", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if got := hold(t, New(kv, "ns", "lease", "a", time.Minute), t0); !got.Held || got.Free {
		t.Fatalf("Hold over an unreadable value = %+v, want it taken as one that ran out", got)
	}
}

func TestOneOfManyTakesIt(t *testing.T) {
	kv := openKV(t)
	var wg sync.WaitGroup
	held := make(chan string, 8)
	for _, who := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(kv, "ns", "lease", who, time.Minute).Hold(context.Background(), t0)
			if err != nil {
				t.Error(err)
				return
			}
			if s.Held {
				held <- who
			}
		}()
	}
	wg.Wait()
	close(held)
	var got []string
	for w := range held {
		got = append(got, w)
	}
	if len(got) != 1 {
		t.Fatalf("replicas holding the lease at once: %v, want exactly one", got)
	}
}
