package app

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

// TestReplayOrderOfInput checks that a replay prints the same findings
// whatever order the events come in: input in time order is replayed as it
// is read, anything else is sorted first, including when the disorder only
// shows after findings were already raised.
func TestReplayOrderOfInput(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	planted, err := corpus.Generate(&buf, 4000, 5, corpus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	half := len(lines) / 2
	shuffled := append([]string(nil), lines...)
	rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	dir := t.TempDir()
	write := func(name string, ls []string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(ls, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := exampleConfig(t)
	replay := func(paths ...string) (string, ReplaySummary) {
		var out bytes.Buffer
		sum, err := Replay(context.Background(), ReplayOptions{Config: cfg, Paths: paths, Format: "json", Out: &out, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), sum
	}
	want, wantSum := replay(write("all.jsonl", lines))
	if got := strings.Count(want, `"status":"open"`); got != len(planted) || wantSum.Findings[finding.StatusOpen] != len(planted) {
		t.Fatalf("sorted replay printed %d open findings (summary %v), want one per planted exposure (%d)", got, wantSum.Findings, len(planted))
	}

	tests := []struct {
		name  string
		paths func() []string
	}{
		{"files in time order", func() []string {
			return []string{write("1-early.jsonl", lines[:half]), write("2-late.jsonl", lines[half:])}
		}},
		{"later file first", func() []string {
			return []string{write("1-late.jsonl", lines[half:]), write("2-early.jsonl", lines[:half])}
		}},
		{"shuffled", func() []string { return []string{write("shuffled.jsonl", shuffled)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sum := replay(tt.paths()...)
			if got != want {
				t.Errorf("output differs from the replay of the sorted file:\n got %d bytes\nwant %d bytes", len(got), len(want))
			}
			if sum.Records != wantSum.Records || sum.Findings[finding.StatusOpen] != wantSum.Findings[finding.StatusOpen] {
				t.Errorf("summary %+v, want %+v", sum, wantSum)
			}
		})
	}
}
