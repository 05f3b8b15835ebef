package outbox

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

func TestAfterGrace(t *testing.T) {
	tests := []struct {
		name     string
		grace    time.Duration
		shutdown bool
		want     bool // the work context ended
	}{
		{"no shutdown: work runs on", 10 * time.Millisecond, false, false},
		{"shutdown: work runs through the grace period", time.Hour, true, false},
		{"shutdown: work ends after the grace period", 10 * time.Millisecond, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			work, done := afterGrace(ctx, tc.grace)
			defer done()
			if tc.shutdown {
				cancel()
			}
			select {
			case <-work.Done():
				if !tc.want {
					t.Fatal("work context ended")
				}
			case <-time.After(200 * time.Millisecond):
				if tc.want {
					t.Fatal("work context still running after the grace period")
				}
			}
		})
	}
}

func TestAfterGraceDoneReleases(t *testing.T) {
	work, done := afterGrace(context.Background(), time.Hour)
	done()
	if work.Err() == nil {
		t.Fatal("the work context outlives done")
	}
}

func TestReleaseHandsItemsBackAtOnce(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "outbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range []string{"a", "b"} {
		if _, err := st.Enqueue(ctx, store.OutboxItem{Key: k, Kind: "slack.sync"}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := st.Claim(ctx, "stopping", 2, time.Hour)
	if err != nil || len(items) != 2 {
		t.Fatalf("Claim = %d items, %v", len(items), err)
	}
	// The first is handed back; the second is claimed by someone else
	// meanwhile (its lease taken over), so handing it back fails and says so.
	if err := st.Retry(ctx, items[1].ID, "stopping", time.Now(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, "other", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	err = release(ctx, st, "stopping", time.Now(), items)
	if err == nil || !strings.Contains(err.Error(), "release b") {
		t.Fatalf("release = %v, want the failure for b named", err)
	}
	got, err := st.Claim(ctx, "next", 10, time.Hour)
	if err != nil || len(got) != 1 || got[0].Key != "a" {
		t.Fatalf("Claim after release = %v, %v; want a at once", got, err)
	}
}
