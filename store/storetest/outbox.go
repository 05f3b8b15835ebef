package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

func enqueue(t *testing.T, s store.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		added, err := s.Enqueue(context.Background(), store.OutboxItem{Key: k, Kind: "slack.post", Payload: []byte(`{"key":"` + k + `"}`)})
		if err != nil || !added {
			t.Fatalf("Enqueue(%s) = %v, %v; want added", k, added, err)
		}
	}
}

func claim(t *testing.T, s store.Store, owner string, n int, lease time.Duration) []store.OutboxItem {
	t.Helper()
	items, err := s.Claim(context.Background(), owner, n, lease)
	if err != nil {
		t.Fatalf("Claim(%s, %d): %v", owner, n, err)
	}
	return items
}

func keys(items []store.OutboxItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

func depth(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.OutboxDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testOutbox(t *testing.T, open Opener) {
	ctx := context.Background()
	const lease = time.Minute

	t.Run("pending keys by prefix, leased or not, oldest first", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "reply|F-1|C1|v2", "reply|F-1|C1|v5", "reply|F-1|C2|v3", "reply|F-10|C1|v1", "sync|F-1|C1|v2", "reply|F-1|C1|v7")
		got := func() []string {
			t.Helper()
			k, err := e.s.PendingOutboxKeys(ctx, "reply|F-1|C1|")
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		if want := []string{"reply|F-1|C1|v2", "reply|F-1|C1|v5", "reply|F-1|C1|v7"}; !slices.Equal(got(), want) {
			t.Fatalf("PendingOutboxKeys = %q, want %q", got(), want)
		}
		// Claimed items are still pending; completed ones are not.
		items := claim(t, e.s, "a", 1, lease)
		if len(items) != 1 || items[0].Key != "reply|F-1|C1|v2" {
			t.Fatalf("Claim = %v, want the oldest item", keys(items))
		}
		if want := []string{"reply|F-1|C1|v2", "reply|F-1|C1|v5", "reply|F-1|C1|v7"}; !slices.Equal(got(), want) {
			t.Fatalf("PendingOutboxKeys with one leased = %q, want %q", got(), want)
		}
		if err := e.s.Complete(ctx, items[0].ID, "a"); err != nil {
			t.Fatal(err)
		}
		if want := []string{"reply|F-1|C1|v5", "reply|F-1|C1|v7"}; !slices.Equal(got(), want) {
			t.Fatalf("PendingOutboxKeys after Complete = %q, want %q", got(), want)
		}
		if k, err := e.s.PendingOutboxKeys(ctx, "nothing|"); err != nil || len(k) != 0 {
			t.Fatalf("PendingOutboxKeys(no match) = %q, %v; want none", k, err)
		}
	})

	t.Run("enqueue dedupes by key, even after completion", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "post/F-1")
		added, err := e.s.Enqueue(ctx, store.OutboxItem{Key: "post/F-1", Kind: "slack.post", Payload: []byte(`{"other":true}`)})
		if err != nil || added {
			t.Fatalf("second Enqueue = %v, %v; want a no-op", added, err)
		}
		if d := depth(t, e.s); d != 1 {
			t.Fatalf("OutboxDepth = %d, want 1", d)
		}
		items := claim(t, e.s, "a", 10, lease)
		if len(items) != 1 || string(items[0].Payload) != `{"key":"post/F-1"}` || items[0].Kind != "slack.post" {
			t.Fatalf("Claim = %+v, want the first payload", items)
		}
		if err := e.s.Complete(ctx, items[0].ID, "a"); err != nil {
			t.Fatal(err)
		}
		if d := depth(t, e.s); d != 0 {
			t.Fatalf("OutboxDepth after Complete = %d, want 0", d)
		}
		if added, err := e.s.Enqueue(ctx, store.OutboxItem{Key: "post/F-1", Kind: "slack.post"}); err != nil || added {
			t.Fatalf("Enqueue after Complete = %v, %v; want a no-op", added, err)
		}
		if got := claim(t, e.s, "a", 10, lease); len(got) != 0 {
			t.Fatalf("Claim after Complete = %v, want nothing", keys(got))
		}
	})

	t.Run("claim takes due items in order, n at a time, to one owner", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "k1", "k2", "k3", "k4", "k5")
		a := claim(t, e.s, "a", 2, lease)
		b := claim(t, e.s, "b", 10, lease)
		c := claim(t, e.s, "c", 10, lease)
		if !slices.Equal(keys(a), []string{"k1", "k2"}) || !slices.Equal(keys(b), []string{"k3", "k4", "k5"}) || len(c) != 0 {
			t.Fatalf("claims a=%v b=%v c=%v; want [k1 k2] [k3 k4 k5] []", keys(a), keys(b), keys(c))
		}
		for _, it := range append(a, b...) {
			if it.Attempts != 1 || !it.NotBefore.Equal(start) {
				t.Fatalf("claimed %+v, want Attempts 1 and NotBefore %v", it, start)
			}
		}
		if !(a[0].ID < a[1].ID && a[1].ID < b[0].ID) {
			t.Fatalf("IDs not in enqueue order: %d %d %d", a[0].ID, a[1].ID, b[0].ID)
		}
		if d := depth(t, e.s); d != 5 {
			t.Fatalf("OutboxDepth with everything leased = %d, want 5", d)
		}
	})

	t.Run("concurrent claimers never share an item", func(t *testing.T) {
		e := newEnv(t, open)
		var want []string
		for i := range 40 {
			want = append(want, fmt.Sprintf("k%02d", i))
		}
		enqueue(t, e.s, want...)
		var (
			mu   sync.Mutex
			got  []string
			wg   sync.WaitGroup
			errs = make(chan error, 4)
		)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					items, err := e.s.Claim(ctx, fmt.Sprintf("worker-%d", w), 3, lease)
					if err != nil {
						errs <- err
						return
					}
					if len(items) == 0 {
						return
					}
					mu.Lock()
					got = append(got, keys(items)...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Claim: %v", err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("claimed %v, want each of %v exactly once", got, want)
		}
	})

	t.Run("an expired lease can be claimed by another owner", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "k1")
		a := claim(t, e.s, "a", 1, lease)
		if len(a) != 1 {
			t.Fatalf("first claim = %v, want k1", keys(a))
		}
		e.clk.Advance(lease - time.Second)
		if got := claim(t, e.s, "b", 1, lease); len(got) != 0 {
			t.Fatalf("claim while leased = %v, want nothing", keys(got))
		}
		e.clk.Advance(time.Second)
		b := claim(t, e.s, "b", 1, lease)
		if len(b) != 1 || b[0].ID != a[0].ID || b[0].Attempts != 2 {
			t.Fatalf("claim after expiry = %+v, want k1 on its second attempt", b)
		}
		if err := e.s.Complete(ctx, a[0].ID, "a"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Complete by the expired owner = %v, want ErrConflict", err)
		}
		if err := e.s.Complete(ctx, b[0].ID, "b"); err != nil {
			t.Fatalf("Complete by the new owner: %v", err)
		}
	})

	t.Run("only the lease holder settles an item", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "k1")
		it := claim(t, e.s, "a", 1, lease)[0]
		tests := []struct {
			name string
			do   func() error
			want error
		}{
			{"complete by another owner", func() error { return e.s.Complete(ctx, it.ID, "b") }, store.ErrConflict},
			{"retry by another owner", func() error { return e.s.Retry(ctx, it.ID, "b", start, "x") }, store.ErrConflict},
			{"complete an unknown item", func() error { return e.s.Complete(ctx, it.ID+1000, "a") }, store.ErrNotFound},
			{"retry an unknown item", func() error { return e.s.Retry(ctx, it.ID+1000, "a", start, "x") }, store.ErrNotFound},
			{"complete by the holder", func() error { return e.s.Complete(ctx, it.ID, "a") }, nil},
			{"complete twice", func() error { return e.s.Complete(ctx, it.ID, "a") }, store.ErrConflict},
			{"retry after completion", func() error { return e.s.Retry(ctx, it.ID, "a", start, "x") }, store.ErrConflict},
		}
		for _, tc := range tests {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("%s: error = %v, want %v", tc.name, err, tc.want)
			}
		}
	})

	t.Run("retry waits for its not-before and records the error", func(t *testing.T) {
		e := newEnv(t, open)
		enqueue(t, e.s, "k1")
		it := claim(t, e.s, "a", 1, lease)[0]
		again := start.Add(10 * time.Minute)
		if err := e.s.Retry(ctx, it.ID, "a", again, "slack: rate_limited"); err != nil {
			t.Fatal(err)
		}
		if d := depth(t, e.s); d != 1 {
			t.Fatalf("OutboxDepth after Retry = %d, want 1", d)
		}
		e.clk.Advance(10*time.Minute - time.Second)
		if got := claim(t, e.s, "b", 1, lease); len(got) != 0 {
			t.Fatalf("claim before not-before = %v, want nothing", keys(got))
		}
		e.clk.Advance(time.Second)
		got := claim(t, e.s, "b", 1, lease)
		if len(got) != 1 || got[0].LastError != "slack: rate_limited" || got[0].Attempts != 2 || !got[0].NotBefore.Equal(again) {
			t.Fatalf("claim at not-before = %+v, want k1 with the error, attempt 2, NotBefore %v", got, again)
		}
	})

	t.Run("claim by kind takes only items of the given prefixes", func(t *testing.T) {
		e := newEnv(t, open)
		for _, it := range []struct{ key, kind string }{
			{"s1", "slack.sync"}, {"j1", "jira.create"}, {"s2", "slack.reply"},
			{"j2", "jira.comment"}, {"x1", "jiraX.create"}, {"u1", "slack_sync"},
		} {
			if added, err := e.s.Enqueue(ctx, store.OutboxItem{Key: it.key, Kind: it.kind}); err != nil || !added {
				t.Fatalf("Enqueue(%s) = %v, %v", it.key, added, err)
			}
		}
		tests := []struct {
			name  string
			owner string
			kinds []string
			n     int
			want  []string
		}{
			{"no prefixes claims nothing", "n", nil, 10, []string{}},
			{"one prefix, n at a time", "j", []string{"jira."}, 1, []string{"j1"}},
			{"the rest of that prefix", "j", []string{"jira."}, 10, []string{"j2"}},
			{"prefixes are literal, not patterns", "u", []string{"slack_"}, 10, []string{"u1"}},
			{"several prefixes", "o", []string{"jiraX", "slack."}, 10, []string{"s1", "s2", "x1"}},
			{"nothing left", "o", []string{"jira.", "slack."}, 10, []string{}},
		}
		for _, tc := range tests {
			got, err := e.s.ClaimKinds(ctx, tc.owner, tc.kinds, tc.n, lease)
			if err != nil {
				t.Fatalf("%s: ClaimKinds: %v", tc.name, err)
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Fatalf("%s: ClaimKinds(%v) = %v, want %v", tc.name, tc.kinds, keys(got), tc.want)
			}
		}
		// Items of other kinds stay due for their own worker, and a kind
		// claim's lease is settled like any other.
		e.clk.Advance(lease)
		again, err := e.s.ClaimKinds(ctx, "j2", []string{"jira."}, 10, lease)
		if err != nil || !slices.Equal(keys(again), []string{"j1", "j2"}) || again[0].Attempts != 2 {
			t.Fatalf("ClaimKinds after the lease expired = %+v, %v; want j1 and j2 on their second attempt", again, err)
		}
		if err := e.s.Complete(ctx, again[0].ID, "j2"); err != nil {
			t.Fatalf("Complete a kind-claimed item: %v", err)
		}
		if d := depth(t, e.s); d != 5 {
			t.Fatalf("OutboxDepth = %d, want 5", d)
		}
	})

	t.Run("an item enqueued for later is not due before then", func(t *testing.T) {
		e := newEnv(t, open)
		later := start.Add(time.Hour)
		if added, err := e.s.Enqueue(ctx, store.OutboxItem{Key: "followup/F-1", Kind: "slack.post", NotBefore: later}); err != nil || !added {
			t.Fatalf("Enqueue = %v, %v", added, err)
		}
		enqueue(t, e.s, "now")
		now := claim(t, e.s, "a", 10, lease)
		if !slices.Equal(keys(now), []string{"now"}) {
			t.Fatalf("claim before the follow-up is due = %v, want [now]", keys(now))
		}
		if err := e.s.Complete(ctx, now[0].ID, "a"); err != nil {
			t.Fatal(err)
		}
		e.clk.Set(later)
		if got := claim(t, e.s, "a", 10, lease); !slices.Equal(keys(got), []string{"followup/F-1"}) {
			t.Fatalf("claim when due = %v, want [followup/F-1]", keys(got))
		}
	})
}
