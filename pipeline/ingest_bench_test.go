package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkServeIngest is ingestion as `serve` does it, end to end: JSON
// Lines decoded with ingest.Parse a batch at a time (1,000 lines, the size
// of a busy CloudTrail log file, or SECOPS_BENCH_BATCH) and fed to
// pipeline.Ingest over a fresh SQLite store, with every rule of the example
// configuration. The corpus has 100,000 events, or SECOPS_BENCH_EVENTS.
// Each Ingest call returns only once its history is committed, so the
// batch size is also the transaction size.
//
//	go test ./pipeline -run '^$' -bench ServeIngest -benchtime 1x -count 5
func BenchmarkServeIngest(b *testing.B) {
	ctx := context.Background()
	n, size := envInt("SECOPS_BENCH_EVENTS", 100_000), envInt("SECOPS_BENCH_BATCH", 1000)
	var buf bytes.Buffer
	planted, err := corpus.Generate(&buf, n, 1, corpus.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var batches [][]byte
	for rest := buf.Bytes(); len(rest) > 0; {
		cut := 0
		for range size {
			i := bytes.IndexByte(rest[cut:], '\n')
			if i < 0 {
				cut = len(rest)
				break
			}
			cut += i + 1
		}
		batches = append(batches, rest[:cut])
		rest = rest[cut:]
	}
	l, err := config.Load(filepath.Join("..", "config.example.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	cfg := l.Config
	dir, err := org.New(cfg.OrgOptions())
	if err != nil {
		b.Fatal(err)
	}
	disabled := cfg.Rules.Disabled()
	clk := clock.NewFake(time.Date(2024, 3, 6, 0, 0, 0, 0, time.UTC))

	var spent time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench-"+strconv.Itoa(i)+".db"), sqlite.Options{Clock: clk, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{
			Store: st, Detector: detect.NewEngine(dir), Directory: dir,
			Enricher: enrich.New(dir, st, cfg.EnrichOptions()), Router: route.New(dir),
			Planner: delivery.Planner{}, Clock: clk, Logger: zerolog.Nop(), DisabledRules: disabled,
		})
		b.StartTimer()
		start := time.Now()
		stored := 0
		for _, data := range batches {
			batch := ingest.Parse("bench", data)
			s, err := p.IngestStats(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			stored += s.Records
		}
		spent += time.Since(start)
		b.StopTimer()
		findings, err := st.ListFindings(ctx, store.FindingFilter{})
		if err != nil {
			b.Fatal(err)
		}
		if stored != n || len(findings) != len(planted) {
			b.Fatalf("stored %d events and %d findings, want %d and %d", stored, len(findings), n, len(planted))
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/spent.Seconds(), "events/s")
}
