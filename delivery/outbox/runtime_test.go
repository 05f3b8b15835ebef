package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

// env is a store on a fake clock. The memory store keeps no outbox, so the
// tests use SQLite in a temporary directory, which implements the same
// contract as PostgreSQL (store/storetest).
type env struct {
	t   *testing.T
	st  *sqlite.Store
	clk *clock.Fake
	log *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "outbox.db"), sqlite.Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, st: st, clk: clk, log: &syncBuffer{}}
}

func (e *env) runtime(owner string, lanes ...Lane) *Runtime {
	e.t.Helper()
	rt := New(e.st, owner, e.clk, zerolog.New(e.log).Level(zerolog.DebugLevel))
	for _, l := range lanes {
		if err := rt.Add(l); err != nil {
			e.t.Fatal(err)
		}
	}
	return rt
}

func (e *env) enqueue(key, kind string) {
	e.t.Helper()
	if _, err := e.st.Enqueue(context.Background(), store.OutboxItem{Key: key, Kind: kind}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) depth() int {
	e.t.Helper()
	n, err := e.st.OutboxDepth(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// claimable reports which items another replica could claim now, and
// hands them straight back.
func (e *env) claimable(prefix string) []store.OutboxItem {
	e.t.Helper()
	ctx := context.Background()
	items, err := e.st.ClaimKinds(ctx, "probe", []string{prefix}, 100, time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, it := range items {
		if err := e.st.Retry(ctx, it.ID, "probe", e.clk.Now(), it.LastError); err != nil {
			e.t.Fatal(err)
		}
	}
	return items
}

// recorder is a handler that records what it was given and answers with
// the outcomes it was told, one per delivery (nil once they run out).
type recorder struct {
	mu       sync.Mutex
	keys     []string
	attempts []int
	errors   []string // the error each attempt found recorded
	outcomes []error
}

func (r *recorder) Deliver(_ context.Context, it store.OutboxItem) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, it.Key)
	r.attempts = append(r.attempts, it.Attempts)
	r.errors = append(r.errors, it.LastError)
	if len(r.outcomes) == 0 {
		return nil
	}
	err := r.outcomes[0]
	r.outcomes = r.outcomes[1:]
	return err
}

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Each outcome settles the item as its name says: done, tried again after
// the wait it asked for or the lane's backoff, or dropped for good.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []error
		// waits are the clock moves between drains: the item must not be
		// delivered again a second before each, and must be at it.
		waits     []time.Duration
		wantError string // the error the second attempt finds recorded
		wantLog   string
	}{
		{name: "done", outcomes: []error{nil}, wantLog: ""},
		{
			name:     "retry after the wait asked for",
			outcomes: []error{fmt.Errorf("thread parent not posted yet: %w", RetryAfter(30*time.Second))},
			waits:    []time.Duration{30 * time.Second}, wantError: "thread parent not posted yet", wantLog: "delivery postponed",
		},
		{
			name:     "a plain error backs off, longer each time",
			outcomes: []error{errors.New("slack: internal_error"), errors.New("slack: internal_error"), errors.New("slack: internal_error")},
			waits:    []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}, wantError: "internal_error", wantLog: "delivery failed; will retry",
		},
		{
			name:     "a postponement counts as an attempt",
			outcomes: []error{errors.New("jira unavailable"), RetryAfter(time.Minute), errors.New("jira unavailable")},
			waits:    []time.Duration{2 * time.Second, time.Minute, 8 * time.Second}, wantError: "jira unavailable",
		},
		{
			name:     "dropped for good",
			outcomes: []error{Drop(errors.New("finding F-1 no longer exists"))},
			wantLog:  "outbox item dropped",
		},
		{
			name:     "a drop wrapped in context is still a drop",
			outcomes: []error{fmt.Errorf("comment on PAY-1: %w", Drop(errors.New("issue deleted")))},
			wantLog:  "issue deleted",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := &recorder{outcomes: tc.outcomes}
			rt := e.runtime("replica-1", Lane{Prefix: "test.", Handler: h, Backoff: Exponential(2*time.Second, time.Hour)})
			e.enqueue("test.item|1", "test.item")
			ctx := context.Background()
			if n := rt.Drain(ctx); n != 1 {
				t.Fatalf("first drain claimed %d items, want 1", n)
			}
			for i, wait := range tc.waits {
				items := e.claimable("test.")
				if len(items) != 0 {
					t.Fatalf("wait %d: due again at once: %+v", i, items)
				}
				e.clk.Advance(wait - time.Second)
				if n := rt.Drain(ctx); n != 0 {
					t.Fatalf("wait %d: delivered again a second before %v", i, wait)
				}
				e.clk.Advance(time.Second)
				if n := rt.Drain(ctx); n != 1 {
					t.Fatalf("wait %d: not delivered again after %v", i, wait)
				}
			}
			if d := e.depth(); d != 0 {
				t.Errorf("outbox depth %d once the outcomes ran out, want 0", d)
			}
			if got := h.attempts[len(h.attempts)-1]; got != len(tc.waits)+1 {
				t.Errorf("last attempt numbered %d, want %d", got, len(tc.waits)+1)
			}
			if !strings.Contains(e.log.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, e.log)
			}
			if tc.wantError != "" && !strings.Contains(h.errors[1], tc.wantError) {
				t.Errorf("the second attempt found %q recorded, want %q", h.errors[1], tc.wantError)
			}
		})
	}
}

// An item claimed by a replica that stopped is carried out by another
// once the lease runs out (not before), or at once when the stopping
// replica handed it back; the replica that lost its lease can no longer
// settle it.
func TestLeaseExpiryAndReclaim(t *testing.T) {
	tests := []struct {
		name      string
		handBack  bool
		wantAfter time.Duration // when the other replica may take it
	}{
		{name: "the replica died holding it", wantAfter: time.Minute},
		{name: "the replica handed it back at shutdown", handBack: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.enqueue("test.item|1", "test.item")
			claimed, err := e.st.ClaimKinds(ctx, "replica-1", []string{"test."}, 10, time.Minute)
			if err != nil || len(claimed) != 1 {
				t.Fatalf("replica-1 claimed %v, %v", claimed, err)
			}
			if tc.handBack {
				if err := release(ctx, e.st, "replica-1", e.clk.Now(), claimed); err != nil {
					t.Fatal(err)
				}
			}
			h := &recorder{}
			other := e.runtime("replica-2", Lane{Prefix: "test.", Handler: h})
			if tc.wantAfter > 0 {
				e.clk.Advance(tc.wantAfter - time.Second)
				if n := other.Drain(ctx); n != 0 {
					t.Fatalf("replica-2 took the item %v before the lease ran out", time.Second)
				}
				e.clk.Advance(time.Second)
			}
			if n := other.Drain(ctx); n != 1 {
				t.Fatalf("replica-2 claimed %d items, want the one replica-1 held", n)
			}
			if len(h.attempts) != 1 || h.attempts[0] != 2 {
				t.Errorf("replica-2 delivered attempts %v, want the second attempt", h.attempts)
			}
			if e.depth() != 0 {
				t.Errorf("item left in the outbox")
			}
			if err := e.st.Complete(ctx, claimed[0].ID, "replica-1"); !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("replica-1 completing its old claim: %v, want a conflict", err)
			}
		})
	}
}

// A lane of one carries out its items one at a time, in the order stored;
// a lane of several runs items of different keys at once and those of one
// key in turn.
func TestOrderAndConcurrency(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		keys        []string // serial key of each item, in the order stored
		wantPeak    int
		wantPeakKey map[string]int
	}{
		{name: "a lane of one, in order", keys: []string{"a", "b", "c", "d"}, wantPeak: 1},
		{name: "a lane of one, a batch of quick items", keys: strings.Split(strings.Repeat("q", 25), ""), wantPeak: 1},
		{name: "three at once", concurrency: 3, keys: []string{"a", "b", "c", "d", "e", "f"}, wantPeak: 3},
		{name: "one key at a time", concurrency: 3, keys: []string{"a", "b", "a", "a"}, wantPeak: 2, wantPeakKey: map[string]int{"a": 1, "b": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			g := newGate(tc.wantPeak)
			var mu sync.Mutex
			var order []string
			keyOf := func(it store.OutboxItem) string { k, _, _ := strings.Cut(it.Key, "|"); return k }
			h := HandlerFunc(func(ctx context.Context, it store.OutboxItem) error {
				k := keyOf(it)
				g.enter(k)
				defer g.leave(k)
				mu.Lock()
				order = append(order, it.Key)
				mu.Unlock()
				return nil
			})
			rt := e.runtime("replica-1", Lane{Prefix: "test.", Handler: h, Concurrency: tc.concurrency, Serial: keyOf})
			var want []string
			for i, k := range tc.keys {
				key := fmt.Sprintf("%s|%d", k, i)
				want = append(want, key)
				e.enqueue(key, "test.item")
			}
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				for range len(tc.keys) {
					if rt.Drain(context.Background()) == 0 {
						return
					}
				}
			}()
			select {
			case <-drained:
			case <-time.After(30 * time.Second):
				t.Fatal("Drain never returned")
			}
			if len(order) != len(want) {
				t.Fatalf("delivered %v, want %v", order, want)
			}
			if tc.concurrency <= 1 && strings.Join(order, " ") != strings.Join(want, " ") {
				t.Errorf("delivered in the order %v, want %v", order, want)
			}
			for k, peak := range tc.wantPeakKey {
				var ofKey, wantOfKey []string
				for i := range order {
					if keyOf(store.OutboxItem{Key: order[i]}) == k {
						ofKey = append(ofKey, order[i])
					}
					if keyOf(store.OutboxItem{Key: want[i]}) == k {
						wantOfKey = append(wantOfKey, want[i])
					}
				}
				if strings.Join(ofKey, " ") != strings.Join(wantOfKey, " ") {
					t.Errorf("items of %s delivered in the order %v, want %v", k, ofKey, wantOfKey)
				}
				if got := g.peakOf(k); got != peak {
					t.Errorf("at most %d items of %s at once, want %d", got, k, peak)
				}
			}
			if got := g.peakOf(""); got != tc.wantPeak {
				t.Errorf("at most %d items at once, want %d", got, tc.wantPeak)
			}
		})
	}
}

// gate holds every delivery until n are in flight together (or a while
// has passed, so a lane that never gets there fails the test rather than
// hanging it), and counts the peak in flight, in all and per key: the
// peak then shows the concurrency whatever the machine's speed.
type gate struct {
	n        int
	mu       sync.Mutex
	open     chan struct{}
	inFlight map[string]int
	peak     map[string]int
}

func newGate(n int) *gate {
	return &gate{n: n, open: make(chan struct{}), inFlight: map[string]int{}, peak: map[string]int{}}
}

func (g *gate) enter(key string) {
	g.mu.Lock()
	for _, k := range []string{"", key} {
		g.inFlight[k]++
		g.peak[k] = max(g.peak[k], g.inFlight[k])
	}
	open := g.open
	if g.inFlight[""] >= g.n && open != nil {
		close(open)
		g.open = nil
	}
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-time.After(2 * time.Second):
		}
	}
}

func (g *gate) leave(key string) {
	g.mu.Lock()
	g.inFlight[""]--
	g.inFlight[key]--
	g.mu.Unlock()
}

func (g *gate) peakOf(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak[key]
}

// Wake has every lane that wants it look for due items at once, whatever
// its poll; the others wait for their poll.
func TestWake(t *testing.T) {
	tests := []struct {
		name   string
		lanes  []string
		woken  []string // the lanes that want Wake
		wanted []string // the lanes whose item is delivered after Wake
	}{
		{name: "one lane", lanes: []string{"slack."}, woken: []string{"slack."}, wanted: []string{"slack."}},
		{name: "every lane", lanes: []string{"slack.", "jira.", "aws."}, woken: []string{"slack.", "jira.", "aws."}, wanted: []string{"slack.", "jira.", "aws."}},
		{name: "only the lanes that want it", lanes: []string{"slack.", "jira.", "aws."}, woken: []string{"slack."}, wanted: []string{"slack."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			delivered := make(chan string, 10)
			var lanes []Lane
			for _, p := range tc.lanes {
				lanes = append(lanes, Lane{Prefix: p, Poll: time.Hour, Wake: slices.Contains(tc.woken, p), Handler: HandlerFunc(func(_ context.Context, it store.OutboxItem) error {
					delivered <- it.Key
					return nil
				})})
			}
			claims := &claimCounter{Store: e.st, n: map[string]int{}}
			rt := New(claims, "replica-1", e.clk, zerolog.Nop())
			for _, l := range lanes {
				if err := rt.Add(l); err != nil {
					t.Fatal(err)
				}
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); rt.Run(ctx) }()
			defer func() { stop(); <-done }()
			// Each lane's first look, at start, finds nothing; the items
			// come after.
			for deadline := time.Now().Add(10 * time.Second); claims.lanes() < len(tc.lanes); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the lanes never looked for items")
				}
			}
			for _, p := range tc.lanes {
				e.enqueue(p+"item", p+"item")
			}
			rt.Wake()
			got := map[string]bool{}
			for range tc.wanted {
				select {
				case k := <-delivered:
					got[k] = true
				case <-time.After(10 * time.Second):
					t.Fatalf("delivered %v after Wake, want an item of each lane of %v", got, tc.wanted)
				}
			}
			// Whatever else was delivered came from a lane that wants Wake.
			stop()
			<-done
			close(delivered)
			for k := range delivered {
				got[k] = true
			}
			for k := range got {
				if !slices.Contains(tc.woken, strings.TrimSuffix(k, "item")) {
					t.Errorf("%s delivered after Wake, though its lane polls hourly and wants no Wake", k)
				}
			}
		})
	}
}

// At shutdown a lane claims nothing more, hands the items it claimed and
// has not started back at once, and lets the one in flight finish within
// the grace period; one cut off by the end of the grace period is handed
// back too. The delivery in flight sees Stopping end, and its own context
// run on.
func TestShutdown(t *testing.T) {
	tests := []struct {
		name     string
		grace    time.Duration
		finishes bool
	}{
		{name: "the delivery finishes within the grace period", grace: 10 * time.Second, finishes: true},
		{name: "the grace period ends first", grace: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			started := make(chan struct{})
			stopping := make(chan struct{})
			answer := make(chan struct{})
			var once sync.Once
			h := HandlerFunc(func(ctx context.Context, it store.OutboxItem) error {
				once.Do(func() { close(started) })
				select {
				case <-Stopping(ctx).Done():
					close(stopping)
				case <-time.After(10 * time.Second):
					return errors.New("Stopping never ended")
				}
				if ctx.Err() != nil {
					return errors.New("the delivery context ended with shutdown")
				}
				select {
				case <-answer:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			rt := e.runtime("replica-1", Lane{Prefix: "test.", Handler: h, Grace: tc.grace, Poll: time.Hour})
			e.enqueue("test.first", "test.item")
			e.enqueue("test.second", "test.item")
			ctx, sigterm := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); rt.Run(ctx) }()
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("nothing delivered")
			}
			sigterm()
			<-stopping
			if tc.finishes {
				// The unstarted item is back while the first is in flight.
				var back []store.OutboxItem
				for deadline := time.Now().Add(5 * time.Second); len(back) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					back = e.claimable("test.")
				}
				if len(back) != 1 || back[0].Key != "test.second" {
					t.Fatalf("handed back while the first was in flight: %+v, want the second", back)
				}
				close(answer)
			}
			select {
			case <-done:
			case <-time.After(tc.grace + 5*time.Second):
				t.Fatalf("Run did not return within the grace period (%v)", tc.grace)
			}
			left := e.claimable("test.")
			want := []string{"test.second"}
			if !tc.finishes {
				want = []string{"test.first", "test.second"}
			}
			var keys []string
			for _, it := range left {
				keys = append(keys, it.Key)
			}
			if strings.Join(keys, " ") != strings.Join(want, " ") {
				t.Errorf("another replica may take %v at once, want %v", keys, want)
			}
		})
	}
}

// claimCounter is the store, counting the claims of each lane.
type claimCounter struct {
	Store
	mu sync.Mutex
	n  map[string]int
}

func (c *claimCounter) ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	items, err := c.Store.ClaimKinds(ctx, owner, kinds, n, lease)
	c.mu.Lock()
	c.n[strings.Join(kinds, " ")]++
	c.mu.Unlock()
	return items, err
}

// lanes is how many lanes have claimed so far.
func (c *claimCounter) lanes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.n)
}

// Lanes whose prefixes overlap would both claim some kinds: refused.
func TestAddRefusesOverlap(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		wantErr bool
	}{
		{name: "another provider", prefix: "jira."},
		{name: "the same prefix", prefix: "slack.", wantErr: true},
		{name: "a prefix of it", prefix: "slack", wantErr: true},
		{name: "within it", prefix: "slack.sync", wantErr: true},
		{name: "no prefix", prefix: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := New(nil, "replica-1", nil, zerolog.Nop())
			if err := rt.Add(Lane{Prefix: "slack.", Handler: &recorder{}}); err != nil {
				t.Fatal(err)
			}
			err := rt.Add(Lane{Prefix: tc.prefix, Handler: &recorder{}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Add(%q) = %v, want error: %v", tc.prefix, err, tc.wantErr)
			}
		})
	}
}
