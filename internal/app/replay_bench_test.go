package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

// benchEvents is the corpus size of the end-to-end benchmarks:
// SECOPS_BENCH_EVENTS, or n.
func benchEvents(n int) int {
	if v, err := strconv.Atoi(os.Getenv("SECOPS_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return n
}

// writeCorpus writes an n-event corpus (seed 1, one exposure of each kind)
// to a file in dir.
func writeCorpus(tb testing.TB, dir string, n int) (string, []corpus.Planted) {
	tb.Helper()
	path := filepath.Join(dir, "corpus.jsonl")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	planted, err := corpus.Generate(f, n, 1, corpus.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, planted
}

// benchConfig is the example configuration, whose rules are all enabled.
func benchConfig(tb testing.TB) config.Config {
	tb.Helper()
	l, err := config.Load(filepath.Join("..", "..", "config.example.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatal(err)
	}
	return l.Config
}

// BenchmarkReplay runs `replay` with every rule of the example
// configuration over a generated JSON Lines corpus (100,000 events, or
// SECOPS_BENCH_EVENTS) and reports events per second. Profile it with
//
//	go test ./internal/app -run '^$' -bench Replay -benchtime 3x -cpuprofile cpu.out
func BenchmarkReplay(b *testing.B) {
	n := benchEvents(100_000)
	path, planted := writeCorpus(b, b.TempDir(), n)
	cfg := benchConfig(b)
	b.ResetTimer()
	for b.Loop() {
		sum, err := Replay(context.Background(), ReplayOptions{
			Config: cfg, Paths: []string{path}, Format: "json", Out: io.Discard, Logger: zerolog.Nop(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Records != n || sum.Findings[finding.StatusOpen] != len(planted) {
			b.Fatalf("replayed %d events with findings %v, want %d events and %d open findings", sum.Records, sum.Findings, n, len(planted))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
