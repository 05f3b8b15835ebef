package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// BenchmarkAddEvents ingests b.N synthetic events in batches of
// backlogBatch (or SECOPS_BENCH_BATCH) and reports the rate, the database
// size per event (indexes and dictionaries included) and the CPU time per
// event, which a busy machine disturbs less than the rate. At the scale of
// the ingestion target:
//
//	go test ./store/sqlite -run '^$' -bench 'AddEvents$' -benchtime 1000000x -timeout 30m
func BenchmarkAddEvents(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(ctx, path, Options{Clock: clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)), Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g := newSynth(b.N, 1000, 1, s.clock.Now())
	size := backlogBatch
	if v, err := strconv.Atoi(os.Getenv("SECOPS_BENCH_BATCH")); err == nil && v > 0 {
		size = v
	}
	batch := make([]store.Event, 0, size)
	var spent time.Duration
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for g.more() {
		b.StopTimer()
		batch = g.fill(batch[:0])
		b.StartTimer()
		start := time.Now()
		if _, err := s.AddEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	b.StopTimer()
	// The CPU time includes generating the events (about a tenth).
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/spent.Seconds(), "events/s")
	if err := s.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/float64(b.N), "bytes/event")
}

// BenchmarkActorQuery times what `investigate` asks of history for one
// actor: the latest 100 events and the 90-day ActorStats baseline. It uses
// the database named by SECOPS_BENCH_DB when set (build one with
// LoadSynthetic), and otherwise a 200,000-event one of its own. p50 and p99
// latencies are reported in milliseconds.
func BenchmarkActorQuery(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("SECOPS_BENCH_DB")
	clk := clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
		s, err := Open(ctx, path, Options{Clock: clk, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		if err := LoadSynthetic(ctx, s, 200_000, 100, 1); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(ctx, path, Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	var actors []string
	rows, err := s.r.QueryContext(ctx, "SELECT v FROM dict_actor ORDER BY id LIMIT 1000")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			b.Fatal(err)
		}
		actors = append(actors, a)
	}
	rows.Close()
	var last int64
	if err := s.r.QueryRowContext(ctx, "SELECT max(t) FROM events").Scan(&last); err != nil || len(actors) == 0 {
		b.Fatalf("no history in %s (%v)", path, err)
	}
	until := time.Unix(last+1, 0)
	since := until.Add(-90 * 24 * time.Hour)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		actor := actors[i%len(actors)]
		start := time.Now()
		if _, err := s.QueryEvents(ctx, store.EventQuery{ActorARN: actor, Limit: 100}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ActorStats(ctx, actor, since, until); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}
