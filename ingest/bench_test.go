package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

func genCorpus(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := corpus.Generate(&buf, n, 42, corpus.Options{}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkParseJSONL measures the replay path: JSON Lines of bare records.
func BenchmarkParseJSONL(b *testing.B) {
	data := genCorpus(b, 20000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	events := 0
	for b.Loop() {
		batch := Parse("bench", data)
		events += len(batch.Records)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStdlibJSONL is the baseline: one encoding/json decode per line.
func BenchmarkStdlibJSONL(b *testing.B) {
	data := genCorpus(b, 20000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	events := 0
	for b.Loop() {
		for line := range bytes.Lines(data) {
			var r cloudtrail.Record
			if err := json.Unmarshal(line, &r); err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParseLogFile measures a single-document log file, the shape
// CloudTrail delivers to S3.
func BenchmarkParseLogFile(b *testing.B) {
	lines := bytes.Split(bytes.TrimSpace(genCorpus(b, 20000)), []byte{'\n'})
	data := append(append([]byte(`{"Records":[`), bytes.Join(lines, []byte{','})...), ']', '}')
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	events := 0
	for b.Loop() {
		batch := Parse("bench", data)
		if len(batch.Records) != len(lines) {
			b.Fatalf("got %d records, problems %v", len(batch.Records), summarise(batch.Problems))
		}
		events += len(batch.Records)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWalkJSONL measures the whole replay read path: a JSON Lines file
// on disk, read in blocks while earlier blocks are decoded.
func BenchmarkWalkJSONL(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, genCorpus(b, 20000), 0o644); err != nil {
		b.Fatal(err)
	}
	events := 0
	for b.Loop() {
		err := Walk(context.Background(), []string{path}, Limits{}, func(batch Batch) error {
			events += len(batch.Records)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
