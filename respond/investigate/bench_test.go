package investigate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// benchEnvInt reads a positive integer from the environment.
func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// BenchmarkInvestigate times a whole investigation of one principal (its
// 7-day activity by API, resources, baseline signals and findings) over
// SQLite history of SECOPS_BENCH_EVENTS synthetic events (200,000 unless
// set) from SECOPS_BENCH_ACTORS actors (1,000 unless set), rotating over
// the actors. It reports p50 and p99 latency, the database size per event,
// and what the same question would cost through CloudTrail LookupEvents
// (50 events a page, 2 pages a second): the mean and the largest over the
// actors asked about. SECOPS_BENCH_DB names a database file to reuse, or
// to build and keep when it does not exist yet (give the same
// SECOPS_BENCH_EVENTS when reusing it: bytes/event divides by it). At the
// issue's scale:
//
//	SECOPS_BENCH_EVENTS=10000000 SECOPS_BENCH_DB=/tmp/history-10m.db \
//	  go test ./respond/investigate -run '^$' -bench Investigate -benchtime 2000x -timeout 60m
func BenchmarkInvestigate(b *testing.B) {
	ctx := context.Background()
	n := benchEnvInt(b, "SECOPS_BENCH_EVENTS", 200_000)
	actors := benchEnvInt(b, "SECOPS_BENCH_ACTORS", 1000)
	clk := clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	path := os.Getenv("SECOPS_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "history.db")
	}
	opts := sqlite.Options{Clock: clk, Logger: zerolog.Nop()}
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		s, err := sqlite.Open(ctx, path, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := sqlite.LoadSynthetic(ctx, s, n, actors, 1); err != nil {
			b.Fatal(err)
		}
		if err := s.Checkpoint(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %s with %d events from %d actors in %s", path, n, actors, time.Since(start).Round(time.Second))
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	// The actors active in the last day, found the way history is
	// indexed (by time) rather than by knowing how it was generated.
	recent, err := s.QueryEvents(ctx, store.EventQuery{Since: clk.Now().Add(-24 * time.Hour), Limit: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	var targets []string
	accounts := map[string]bool{}
	for _, e := range recent {
		if !slices.Contains(targets, e.ActorARN) {
			targets = append(targets, e.ActorARN)
		}
		accounts[e.Account] = true
	}
	if len(targets) == 0 {
		b.Fatalf("no recent history in %s", path)
	}
	slices.Sort(targets)
	orgOpts := org.Options{SecOps: org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"}}
	for a := range accounts {
		orgOpts.Accounts = append(orgOpts.Accounts, org.Account{ID: a, Name: "acct-" + a})
	}
	dir, err := org.New(orgOpts)
	if err != nil {
		b.Fatal(err)
	}
	inv := New(s, dir, enrich.New(dir, s, enrich.Options{Baseline: enrich.DefaultBaseline()}), clk)

	lat := make([]time.Duration, 0, b.N)
	var lookupSum, lookupMax float64
	b.ResetTimer()
	for i := range b.N {
		arn := targets[i%len(targets)]
		q := Query{Kind: commands.TargetARN, Value: arn}
		if strings.Contains(arn, ":user/") {
			// Users are asked for by name, as responders do.
			q = Query{Kind: commands.TargetUser, Value: shortName(arn)}
		}
		start := time.Now()
		r, err := inv.Investigate(ctx, q)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if r.Total == 0 {
			b.Fatalf("no events for %s", arn)
		}
		// LookupEvents returns at most 50 events a page and allows 2
		// requests a second per account and region.
		secs := float64((r.Total+49)/50) / 2
		lookupSum += secs
		lookupMax = max(lookupMax, secs)
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(float64(fi.Size())/float64(n), "bytes/event")
	b.ReportMetric(lookupSum/float64(b.N), "lookupevents-mean-s")
	b.ReportMetric(lookupMax, "lookupevents-max-s")
}
