package storetest

import (
	"bytes"
	"context"
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
