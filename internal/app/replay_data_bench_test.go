package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

// BenchmarkReplayDataEvents is BenchmarkReplay over two corpora of the same
// size: management events only, and one event in ten an S3 data event (an
// object read), as a trail logging data events delivers them. The reads by
// the organisation's principals are counted per bucket and hour instead of
// stored as history, those from outside kept in full. Beside events/s it
// reports the process's CPU time per million events, which the load of a
// shared machine disturbs less than wall time.
//
//	go test ./internal/app -run '^$' -bench 'ReplayDataEvents' -benchtime 3x -count 5 -benchmem
func BenchmarkReplayDataEvents(b *testing.B) {
	n := benchEvents(100_000)
	cfg := benchConfig(b)
	for _, c := range []struct {
		name  string
		every int
	}{{"none", 0}, {"one_in_ten", 10}} {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "corpus.jsonl")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			planted, err := corpus.Generate(f, n, 1, corpus.Options{DataEvery: c.every})
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuTime(b)
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
			b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(n*b.N)*1e6, "cpu-s/Mevents")
		})
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
