package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/config"
)

// benchEvents is the corpus size of the end-to-end benchmarks:
// SECOPS_BENCH_EVENTS, or n.
func benchEvents(n int) int {
	if v, err := strconv.Atoi(os.Getenv("SECOPS_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return n
}

// benchCorpus is a generated corpus the replay benchmarks read.
type benchCorpus struct {
	name    string
	events  int
	opts    corpus.Options
	path    string
	planted []corpus.Planted
}

// benchCorpora are the corpora of BenchmarkReplay, written by TestMain
// before any benchmark runs: generating them costs about as much as
// replaying them, and a CPU profile (which starts after TestMain's own
// work) must show the replay alone. They are nil when no benchmark was
// asked for, so that tests pay nothing for them.
var benchCorpora []benchCorpus

func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallel()
	var dir string
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		var err error
		if dir, err = os.MkdirTemp("", "secops-replay-bench-"); err == nil {
			benchCorpora, err = writeBenchCorpora(dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "replay benchmark corpora:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// writeBenchCorpora writes the two corpora of docs/benchmarks.md: the
// generated one (six actors in three accounts) and a larger
// organisation's, 400 actors in 50 accounts, at SECOPS_BENCH_EVENTS events
// each (default 100,000).
func writeBenchCorpora(dir string) ([]benchCorpus, error) {
	n := benchEvents(100_000)
	out := []benchCorpus{
		{name: "generated", events: n},
		{name: "400-actors-50-accounts", events: n, opts: corpus.Options{Actors: 400, Accounts: 50}},
	}
	for i := range out {
		c := &out[i]
		c.path = filepath.Join(dir, c.name+".jsonl")
		f, err := os.Create(c.path)
		if err != nil {
			return nil, err
		}
		c.planted, err = corpus.Generate(f, c.events, 1, c.opts)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", c.path, err)
		}
	}
	return out, nil
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
// configuration over each generated JSON Lines corpus (100,000 events, or
// SECOPS_BENCH_EVENTS) and reports events per second. The corpora are
// written before the benchmarks start, so a profile shows replay only:
//
//	go test ./internal/app -run '^$' -bench Replay -benchtime 3x -cpuprofile cpu.out
func BenchmarkReplay(b *testing.B) {
	if benchCorpora == nil {
		b.Fatal("no corpora: TestMain writes them when -test.bench is set")
	}
	cfg := benchConfig(b)
	for _, c := range benchCorpora {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sum, err := Replay(context.Background(), ReplayOptions{
					Config: cfg, Paths: []string{c.path}, Format: "json", Out: io.Discard, Logger: zerolog.Nop(),
				})
				if err != nil {
					b.Fatal(err)
				}
				if sum.Records != c.events || sum.Findings[finding.StatusOpen] != len(c.planted) {
					b.Fatalf("replayed %d events with findings %v, want %d events and %d open findings", sum.Records, sum.Findings, c.events, len(c.planted))
				}
			}
			b.ReportMetric(float64(c.events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
