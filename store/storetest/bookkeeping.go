package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

func testFiles(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newEnv(t, open)
	const path = "/var/cloudtrail/111111111111_CloudTrail_us-east-1_20250301T0000Z_abc.json.gz"
	mtime := t0.Add(5*time.Minute + 250*time.Microsecond)

	if done, err := e.s.FileDone(ctx, path, 1024, mtime); err != nil || done {
		t.Fatalf("FileDone before marking = %v, %v; want false", done, err)
	}
	if err := e.s.MarkFileDone(ctx, path, 1024, mtime); err != nil {
		t.Fatal(err)
	}
	if err := e.s.MarkFileDone(ctx, path+".2", 10, mtime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		size  int64
		mtime time.Time
		want  bool
	}{
		{"same file", path, 1024, mtime, true},
		{"grown since", path, 2048, mtime, false},
		{"touched since", path, 1024, mtime.Add(time.Second), false},
		{"other file", path + ".1", 1024, mtime, false},
		{"second file", path + ".2", 10, mtime, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.FileDone(ctx, tc.path, tc.size, tc.mtime)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("FileDone(%s, %d, %v) = %v, want %v", tc.path, tc.size, tc.mtime, got, tc.want)
			}
		})
	}

	t.Run("marking again replaces the old size", func(t *testing.T) {
		if err := e.s.MarkFileDone(ctx, path, 2048, mtime); err != nil {
			t.Fatal(err)
		}
		for size, want := range map[int64]bool{1024: false, 2048: true} {
			if got, err := e.s.FileDone(ctx, path, size, mtime); err != nil || got != want {
				t.Fatalf("FileDone(size %d) = %v, %v; want %v", size, got, err, want)
			}
		}
	})
}

func testQuarantine(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newEnv(t, open)
	inputs := []store.Quarantined{
		{Source: "file-a.json.gz", Line: 3, Reason: "invalid JSON", Raw: []byte(`{"eventID":`)},
		{Time: t0, Source: "sqs:msg-1", Reason: "not a CloudTrail record", Raw: []byte{0xff, 0x00, 0x01}},
		{Source: "file-b.json.gz", Line: 9, Reason: "missing eventTime"},
	}
	for _, q := range inputs {
		e.clk.Advance(time.Second)
		if err := e.s.Quarantine(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.s.ListQuarantined(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(inputs) {
		t.Fatalf("ListQuarantined = %d items, want %d", len(got), len(inputs))
	}
	wantTimes := []time.Time{start.Add(3 * time.Second), t0, start.Add(time.Second)}
	for i, q := range got {
		in := inputs[len(inputs)-1-i]
		if q.Source != in.Source || q.Line != in.Line || q.Reason != in.Reason || !bytes.Equal(q.Raw, in.Raw) || !q.Time.Equal(wantTimes[i]) {
			t.Fatalf("item %d = %+v, want %+v at %v", i, q, in, wantTimes[i])
		}
		if i > 0 && q.ID >= got[i-1].ID {
			t.Fatalf("IDs not newest first: %d after %d", q.ID, got[i-1].ID)
		}
	}
	limited, err := e.s.ListQuarantined(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(limited) != 2 || limited[0].ID != got[0].ID || limited[1].ID != got[1].ID {
		t.Fatalf("ListQuarantined(2) = %+v, want the two newest", limited)
	}

	// The same input set aside again (a redelivered message, a file read
	// again after a crash) is one problem; another line of it is another.
	again := []store.Quarantined{inputs[1], {Source: "sqs:msg-1", Line: 2, Reason: "not a CloudTrail record"}}
	for _, q := range again {
		if err := e.s.Quarantine(ctx, q); err != nil {
			t.Fatalf("Quarantine again: %v", err)
		}
	}
	after, err := e.s.ListQuarantined(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(inputs)+1 || after[0].Line != 2 || after[0].Source != "sqs:msg-1" {
		t.Fatalf("after quarantining a repeat and a new line: %d items, newest %+v; want %d, the new line first", len(after), after[0], len(inputs)+1)
	}
}

func testKV(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newEnv(t, open)
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
	t.Run("CompareAndSwap", func(t *testing.T) { testCompareAndSwapKV(t, open) })
}

func testCompareAndSwapKV(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newEnv(t, open)
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
