package grace

import (
	"context"
	"testing"
	"time"
)

func TestAfter(t *testing.T) {
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
			work, done := After(ctx, tc.grace)
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

func TestAfterDoneReleases(t *testing.T) {
	work, done := After(context.Background(), time.Hour)
	done()
	if work.Err() == nil {
		t.Fatal("the work context outlives done")
	}
}
