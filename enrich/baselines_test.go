package enrich

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestSignalsOfJoinsBaselines checks that the baselines SignalsOf joins
// from shared spans are exactly the ones ActorStats gives for each call's
// own window, and so are the signals: calls a few hours apart, calls at
// midnight (a day both halves of a joined window saw), calls with history
// at the very edges of their windows, and calls further apart than the
// window.
func TestSignalsOfJoinsBaselines(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, time.November, 27, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name     string
		baseline Baseline
		calls    []time.Time
	}{
		{"hours apart", DefaultBaseline(), []time.Time{end.Add(-20 * time.Hour), end.Add(-9 * time.Hour), end.Add(-3 * time.Hour), end.Add(-time.Minute)}},
		{"around midnight", DefaultBaseline(), []time.Time{end.Add(-12*time.Hour - time.Second), end.Add(-12 * time.Hour), end.Add(-11 * time.Hour)}},
		{"two at the same time", DefaultBaseline(), []time.Time{end.Add(-time.Hour), end.Add(-time.Hour), end.Add(-5 * time.Hour)}},
		{"further apart than the window", Baseline{Window: 2 * day, MinDays: 1, MinEvents: 1, UnusualHourShare: 0.03, Settle: day}, []time.Time{end.Add(-5 * day), end.Add(-time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"), sqlite.Options{Clock: clock.NewFake(end), Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			actor := "arn:aws:iam::111122223333:role/deploy"
			rng := rand.New(rand.NewPCG(1, 2))
			var evs []store.Event
			add := func(at time.Time, who string) {
				evs = append(evs, store.Event{
					EventID: fmt.Sprintf("ev-%d", len(evs)), Time: at, ActorARN: who, Account: "111122223333",
					Region:      []string{"eu-west-1", "eu-central-1", "us-east-1"}[rng.IntN(3)],
					EventSource: "s3.amazonaws.com", EventName: []string{"GetObject", "PutObject", "ListBuckets", "PutBucketPolicy"}[rng.IntN(4)],
					SourceIP: fmt.Sprintf("198.51.100.%d", rng.IntN(6)), UserAgent: []string{"aws-cli/2.15.0", "Boto3/1.34.11", ""}[rng.IntN(3)],
				})
			}
			for at := end.Add(-40 * day); at.Before(end); at = at.Add(time.Duration(20+rng.IntN(3600)) * time.Second) {
				add(at, actor)
				if rng.IntN(4) == 0 {
					add(at, "arn:aws:iam::111122223333:user/someone-else")
				}
			}
			// History right at the edges of every call's window.
			for _, c := range tc.calls {
				for _, at := range []time.Time{c.Add(-tc.baseline.Window), c.Add(-tc.baseline.Window - time.Second), c.Add(-tc.baseline.Settle), c.Add(-tc.baseline.Settle - time.Second)} {
					add(at, actor)
				}
			}
			if _, err := s.AddEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			e := newEnricherWith(t, s, Options{Baseline: tc.baseline})

			var recs []*cloudtrail.Record
			for i, c := range tc.calls {
				recs = append(recs, &cloudtrail.Record{
					EventID: fmt.Sprintf("call-%d", i), EventTime: c, EventSource: "s3.amazonaws.com", EventName: "PutBucketPolicy",
					AWSRegion: "ap-southeast-2", SourceIPAddress: "203.0.113.9", UserAgent: "aws-cli/2.15.0",
					UserIdentity: cloudtrail.UserIdentity{Type: "IAMUser", ARN: actor, AccountID: "111122223333"},
				})
			}
			got, err := e.SignalsOf(ctx, recs, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				want, err := e.Signals(ctx, r, time.UTC)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got[i], want) {
					t.Errorf("call at %s: signals %+v, want %+v", r.EventTime, got[i], want)
				}
			}

			times := distinctSorted(tc.calls)
			joined, err := e.baselines(ctx, actor, times)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range times {
				since, until := e.window(c)
				want, err := s.ActorStats(ctx, actor, since, until)
				if err != nil {
					t.Fatal(err)
				}
				if want.Total == 0 {
					t.Fatalf("no history in the window of %s", c)
				}
				if !reflect.DeepEqual(joined[i], want) {
					t.Errorf("baseline of a call at %s joined as\n%+v\nwant\n%+v", c, joined[i], want)
				}
			}
		})
	}
}

func distinctSorted(ts []time.Time) []time.Time {
	var out []time.Time
	for _, t := range ts {
		i := 0
		for i < len(out) && out[i].Before(t) {
			i++
		}
		if i < len(out) && out[i].Equal(t) {
			continue
		}
		out = append(out[:i], append([]time.Time{t}, out[i:]...)...)
	}
	return out
}
