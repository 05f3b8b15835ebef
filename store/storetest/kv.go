package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// KVStore is the key-value space on its own, as RunKV tests it: what
// documents need (store.KV) and PutKV.
type KVStore interface {
	store.KV
	PutKV(ctx context.Context, ns, key string, value []byte) error
}

// KVOpener returns a new, empty key-value space that takes "now" from clk,
// like Opener.
type KVOpener func(t *testing.T, clk clock.Clock) KVStore

// RunKV runs the key-value part of the suite, typed documents (store.Doc)
// included. Run runs it too; a store that keeps only the key-value space
// and not the rest (the memory store) runs it alone.
func RunKV(t *testing.T, open KVOpener) {
	groups := []struct {
		name string
		run  func(t *testing.T, open KVOpener)
	}{
		{"PutGet", testKV},
		{"CompareAndSwap", testCompareAndSwapKV},
		{"DeleteAndList", testDeleteAndListKV},
		{"Doc", testDoc},
		{"DocConcurrentUpdates", testDocConcurrentUpdates},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// kvEnv is one subtest's key-value space and the clock it was opened with.
type kvEnv struct {
	s   KVStore
	clk *clock.Fake
}

func newKVEnv(t *testing.T, open KVOpener) kvEnv {
	t.Helper()
	clk := clock.NewFake(start)
	return kvEnv{s: open(t, clk), clk: clk}
}

func testKV(t *testing.T, open KVOpener) {
	ctx := context.Background()
	e := newKVEnv(t, open)
	type step struct {
		put       bool
		ns, key   string
		value     string
		wantFound bool
		want      string
	}
	steps := []struct {
		name string
		step
	}{
		{"absent", step{ns: "slack", key: "F-1/#secops", wantFound: false}},
		{"put", step{put: true, ns: "slack", key: "F-1/#secops", value: "1710000000.000100"}},
		{"get", step{ns: "slack", key: "F-1/#secops", wantFound: true, want: "1710000000.000100"}},
		{"overwrite", step{put: true, ns: "slack", key: "F-1/#secops", value: "1710000000.000200"}},
		{"get overwritten", step{ns: "slack", key: "F-1/#secops", wantFound: true, want: "1710000000.000200"}},
		{"namespaces are separate", step{ns: "state", key: "F-1/#secops", wantFound: false}},
		{"put empty value", step{put: true, ns: "state", key: "empty", value: ""}},
		{"empty value is found", step{ns: "state", key: "empty", wantFound: true, want: ""}},
	}
	for _, s := range steps {
		if s.put {
			if err := e.s.PutKV(ctx, s.ns, s.key, []byte(s.value)); err != nil {
				t.Fatalf("%s: PutKV: %v", s.name, err)
			}
			continue
		}
		got, err := e.s.GetKV(ctx, s.ns, s.key)
		switch {
		case !s.wantFound && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("%s: GetKV = %q, %v; want ErrNotFound", s.name, got, err)
		case s.wantFound && (err != nil || string(got) != s.want):
			t.Fatalf("%s: GetKV = %q, %v; want %q", s.name, got, err, s.want)
		}
	}
}

func testCompareAndSwapKV(t *testing.T, open KVOpener) {
	ctx := context.Background()
	e := newKVEnv(t, open)
	steps := []struct {
		name     string
		key      string
		old, new []byte
		want     bool
		after    string // the value held afterwards
	}{
		{"create when absent", "r1", nil, []byte("v1"), true, "v1"},
		{"create again loses", "r1", nil, []byte("other"), false, "v1"},
		{"swap from the current value", "r1", []byte("v1"), []byte("v2"), true, "v2"},
		{"swap from a stale value loses", "r1", []byte("v1"), []byte("v3"), false, "v2"},
		{"a prefix of the value is not the value", "r1", []byte("v"), []byte("v3"), false, "v2"},
		{"swap to empty", "r1", []byte("v2"), []byte{}, true, ""},
		{"swap from empty", "r1", []byte{}, []byte("v4"), true, "v4"},
		{"swap on an absent key loses", "r2", []byte("v1"), []byte("v2"), false, ""},
	}
	for _, s := range steps {
		got, err := e.s.CompareAndSwapKV(ctx, "cas", s.key, s.old, s.new)
		if err != nil || got != s.want {
			t.Fatalf("%s: CompareAndSwapKV = %v, %v; want %v", s.name, got, err, s.want)
		}
		v, err := e.s.GetKV(ctx, "cas", s.key)
		if s.key == "r2" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: GetKV = %q, %v; want ErrNotFound", s.name, v, err)
			}
			continue
		}
		if err != nil || string(v) != s.after {
			t.Fatalf("%s: GetKV = %q, %v; want %q", s.name, v, err, s.after)
		}
	}

	t.Run("a value written with PutKV can be swapped", func(t *testing.T) {
		if err := e.s.PutKV(ctx, "cas", "p", nil); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.s.CompareAndSwapKV(ctx, "cas", "p", []byte{}, []byte("x")); err != nil || !ok {
			t.Fatalf("CompareAndSwapKV from an empty PutKV value = %v, %v; want true", ok, err)
		}
	})

	t.Run("concurrent swaps from one value: exactly one wins", func(t *testing.T) {
		if ok, err := e.s.CompareAndSwapKV(ctx, "cas", "race", nil, []byte("pending")); err != nil || !ok {
			t.Fatalf("create = %v, %v", ok, err)
		}
		const n = 8
		var wg sync.WaitGroup
		wins := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wins[i], errs[i] = e.s.CompareAndSwapKV(ctx, "cas", "race", []byte("pending"), fmt.Appendf(nil, "decided by %d", i))
			}()
		}
		wg.Wait()
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("swap %d: %v", i, errs[i])
			}
			if wins[i] {
				if winner >= 0 {
					t.Fatalf("swaps %d and %d both won", winner, i)
				}
				winner = i
			}
		}
		v, err := e.s.GetKV(ctx, "cas", "race")
		if winner < 0 || err != nil || string(v) != fmt.Sprintf("decided by %d", winner) {
			t.Fatalf("winner %d, value %q, %v", winner, v, err)
		}
	})
}

func testDeleteAndListKV(t *testing.T, open KVOpener) {
	ctx := context.Background()
	e := newKVEnv(t, open)
	puts := []struct{ ns, key, value string }{
		{"list", "run/2", "b"},
		{"list", "run/10", "c"},
		{"list", "run/1", "a"},
		{"list", "runs", "d"},
		{"list", "other/1", "e"},
		{"list", "a_b", "f"},
		{"list", "axb", "g"},
		{"list", "A_B", "h"},
		{"list", "a%", "i"},
		{"list", "empty", ""},
		{"elsewhere", "run/3", "x"},
	}
	for _, p := range puts {
		if err := e.s.PutKV(ctx, p.ns, p.key, []byte(p.value)); err != nil {
			t.Fatalf("PutKV %s/%s: %v", p.ns, p.key, err)
		}
	}
	list := func(t *testing.T, ns, prefix string) string {
		t.Helper()
		got, err := e.s.ListKV(ctx, ns, prefix)
		if err != nil {
			t.Fatalf("ListKV(%q, %q): %v", ns, prefix, err)
		}
		var parts []string
		for _, kv := range got {
			if kv.Value == nil {
				t.Fatalf("ListKV(%q, %q): %s has a nil value, want an empty one", ns, prefix, kv.Key)
			}
			parts = append(parts, kv.Key+"="+string(kv.Value))
		}
		return fmt.Sprint(parts)
	}
	tests := []struct {
		name, ns, prefix, want string
	}{
		{"a prefix, in byte order of the keys", "list", "run/", "[run/1=a run/10=c run/2=b]"},
		{"a prefix without its separator", "list", "run", "[run/1=a run/10=c run/2=b runs=d]"},
		{"the whole namespace", "list", "", "[A_B=h a%=i a_b=f axb=g empty= other/1=e run/1=a run/10=c run/2=b runs=d]"},
		{"underscore is no wildcard", "list", "a_", "[a_b=f]"},
		{"percent is no wildcard", "list", "a%", "[a%=i]"},
		{"case matters", "list", "A", "[A_B=h]"},
		{"a whole key", "list", "run/1", "[run/1=a run/10=c]"},
		{"nothing matches", "list", "zzz", "[]"},
		{"namespaces are separate", "elsewhere", "", "[run/3=x]"},
		{"an empty namespace", "nothing", "", "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, tc.ns, tc.prefix); got != tc.want {
				t.Fatalf("ListKV(%q, %q) = %s, want %s", tc.ns, tc.prefix, got, tc.want)
			}
		})
	}

	t.Run("delete removes one key", func(t *testing.T) {
		if err := e.s.DeleteKV(ctx, "list", "run/10"); err != nil {
			t.Fatal(err)
		}
		if v, err := e.s.GetKV(ctx, "list", "run/10"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetKV after DeleteKV = %q, %v; want ErrNotFound", v, err)
		}
		if got, want := list(t, "list", "run/"), "[run/1=a run/2=b]"; got != want {
			t.Fatalf("ListKV after DeleteKV = %s, want %s", got, want)
		}
		if got, want := list(t, "elsewhere", ""), "[run/3=x]"; got != want {
			t.Fatalf("other namespace after DeleteKV = %s, want %s", got, want)
		}
	})
	t.Run("deleting an absent key is no error", func(t *testing.T) {
		for _, k := range []string{"run/10", "never"} {
			if err := e.s.DeleteKV(ctx, "list", k); err != nil {
				t.Fatalf("DeleteKV(%s): %v", k, err)
			}
		}
	})
	t.Run("a deleted key can be created again", func(t *testing.T) {
		if ok, err := e.s.CompareAndSwapKV(ctx, "list", "run/10", nil, []byte("again")); err != nil || !ok {
			t.Fatalf("CompareAndSwapKV create after delete = %v, %v; want true", ok, err)
		}
	})
}
