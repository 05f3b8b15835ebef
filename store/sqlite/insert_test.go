package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// TestAddEventsReportsNewAcrossStatements covers batches larger than one
// INSERT, with repeats of stored events falling in some statements and not
// others: which events were new is then read back from the table rather
// than inferred, and must come out exactly.
func TestAddEventsReportsNewAcrossStatements(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	ev := func(i int) store.Event {
		return store.Event{
			EventID:     fmt.Sprintf("0b5e8a3c-1f0e-4a8e-9a43-%012x", i),
			Time:        clk.Now().Add(time.Duration(i) * time.Second),
			ActorARN:    fmt.Sprintf("arn:aws:iam::111111111111:role/r%d", i%7),
			EventSource: "s3.amazonaws.com", EventName: "GetObject",
			SourceIP: fmt.Sprintf("198.51.100.%d", i%50), AccessKeyID: fmt.Sprintf("ASIA%d", i),
		}
	}
	n := 5*insertChunk + 3
	tests := []struct {
		name   string
		stored func(i int) bool // which of the batch are stored beforehand
	}{
		{"none stored", func(int) bool { return false }},
		{"all stored", func(int) bool { return true }},
		{"one in the second statement", func(i int) bool { return i == insertChunk+5 }},
		{"every third", func(i int) bool { return i%3 == 0 }},
		{"the last, in a short statement", func(i int) bool { return i == n-1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, clk)
			var before, batch []store.Event
			want := make([]bool, 0, n+1)
			for i := range n {
				batch = append(batch, ev(i))
				want = append(want, !tt.stored(i))
				if tt.stored(i) {
					before = append(before, ev(i))
				}
			}
			// A repeat within the batch is never new.
			batch = append(batch, ev(1))
			want = append(want, false)
			if _, err := s.AddEvents(ctx, before); err != nil {
				t.Fatal(err)
			}
			got, err := s.AddEvents(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("AddEvents reported new at %v, want at %v", indexes(got), indexes(want))
			}
			all, err := s.QueryEvents(ctx, store.EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != n {
				t.Errorf("%d events stored, want %d", len(all), n)
			}
			for _, e := range all {
				var i int
				if _, err := fmt.Sscanf(e.EventID[24:], "%x", &i); err != nil {
					t.Fatalf("unexpected event ID %q", e.EventID)
				}
				if w := ev(i); e.ActorARN != w.ActorARN || e.SourceIP != w.SourceIP || e.AccessKeyID != w.AccessKeyID {
					t.Errorf("event %d stored as %+v, want %+v", i, e, w)
				}
			}
		})
	}
}

func indexes(b []bool) []int {
	var out []int
	for i, v := range b {
		if v {
			out = append(out, i)
		}
	}
	return out
}
