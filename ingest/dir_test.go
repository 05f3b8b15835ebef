package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// memLedger is a FileLedger in maps.
type memLedger struct {
	mu    sync.Mutex
	done  map[string]fileStamp
	kv    map[string][]byte
	err   error
	reads int
}

func newMemLedger() *memLedger {
	return &memLedger{done: make(map[string]fileStamp), kv: make(map[string][]byte)}
}

func (l *memLedger) GetKV(_ context.Context, ns, key string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	v, ok := l.kv[ns+"/"+key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (l *memLedger) PutKV(_ context.Context, ns, key string, value []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.kv[ns+"/"+key] = bytes.Clone(value)
	return nil
}

func (l *memLedger) FileDone(_ context.Context, path string, size int64, mtime time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if l.err != nil {
		return false, l.err
	}
	s, ok := l.done[path]
	return ok && s.size == size && s.mtime.Equal(mtime), nil
}

func (l *memLedger) MarkFileDone(_ context.Context, path string, size int64, mtime time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done[path] = fileStamp{size, mtime}
	return nil
}

// memSink keeps the batches it accepts; it refuses the first failures ones.
type memSink struct {
	mu       sync.Mutex
	failures int
	calls    int
	batches  []Batch
}

func (s *memSink) Ingest(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failures > 0 {
		s.failures--
		return errors.New("store unavailable")
	}
	s.batches = append(s.batches, b)
	return nil
}

func (s *memSink) eventIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.batches {
		for _, r := range b.Records {
			out = append(out, r.EventID)
		}
	}
	return out
}

var start = time.Date(2024, 3, 5, 3, 0, 0, 0, time.UTC)

// drop writes a file into dir, last modified at mtime.
func drop(t *testing.T, dir, name string, data []byte, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writeFile(t, path, data)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

func scan(t *testing.T, d *DirSource) int {
	t.Helper()
	n, err := d.Scan(context.Background())
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return n
}

func TestDirSource(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	opts := func(c *clock.Fake) DirOptions {
		return DirOptions{Interval: 2 * time.Second, MaxBackoff: time.Minute, Clock: c}
	}

	t.Run("dropped file is ingested once, also across restarts", func(t *testing.T) {
		dir, ledger, sink, c := t.TempDir(), newMemLedger(), &memSink{}, clock.NewFake(start)
		d := NewDirSource(dir, ledger, sink, zerolog.Nop(), opts(c))
		if n := scan(t, d); n != 0 {
			t.Fatalf("empty dir: %d files", n)
		}
		drop(t, dir, "2024/03/05/trail.json.gz", readTestdata(t, "logfile.json.gz"), start.Add(-time.Minute))
		if n := scan(t, d); n != 1 {
			t.Fatalf("first scan processed %d files, want 1", n)
		}
		c.Advance(10 * time.Second)
		if n := scan(t, d); n != 0 {
			t.Errorf("second scan processed %d files, want 0", n)
		}
		restarted := NewDirSource(dir, ledger, sink, zerolog.Nop(), opts(c))
		if n := scan(t, restarted); n != 0 {
			t.Errorf("after restart processed %d files, want 0", n)
		}
		if got := sink.eventIDs(); strings.Join(got, ",") != strings.Join(logFileIDs, ",") {
			t.Errorf("sink got %q, want %q", got, logFileIDs)
		}
	})

	t.Run("file still being written waits", func(t *testing.T) {
		dir, sink, c := t.TempDir(), &memSink{}, clock.NewFake(start)
		d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), opts(c))
		corpus := genCorpus(t, 10)
		half := bytes.SplitAfter(corpus, []byte{'\n'})
		path := drop(t, dir, "live.jsonl", bytes.Join(half[:5], nil), start)
		if n := scan(t, d); n != 0 {
			t.Fatalf("just-modified file processed (%d)", n)
		}
		// More lines arrive between polls: the file changed, so it waits.
		c.Advance(3 * time.Second)
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Join(half[5:], nil)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(path, start.Add(-time.Second), start.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := scan(t, d); n != 0 {
			t.Fatalf("file that changed since the last poll processed (%d)", n)
		}
		c.Advance(3 * time.Second)
		if n := scan(t, d); n != 1 {
			t.Fatalf("settled file: processed %d, want 1", n)
		}
		if got := len(sink.eventIDs()); got != 10 {
			t.Errorf("sink got %d records, want all 10", got)
		}
	})

	t.Run("sink failure is retried with backoff and logged once", func(t *testing.T) {
		dir, ledger, c := t.TempDir(), newMemLedger(), clock.NewFake(start)
		sink := &memSink{failures: 3}
		var logs bytes.Buffer
		log := zerolog.New(&logs).Level(zerolog.DebugLevel)
		d := NewDirSource(dir, ledger, sink, log, opts(c))
		drop(t, dir, "snap.json", rec, start.Add(-time.Minute))

		if n := scan(t, d); n != 0 {
			t.Fatalf("processed %d with a failing sink", n)
		}
		if n := scan(t, d); n != 0 || sink.calls != 1 {
			t.Fatalf("retried at once: processed %d, sink calls %d; want a backoff", n, sink.calls)
		}
		for attempt := 2; attempt <= 3; attempt++ {
			c.Advance(time.Minute)
			if n := scan(t, d); n != 0 || sink.calls != attempt {
				t.Fatalf("attempt %d: processed %d, sink calls %d", attempt, n, sink.calls)
			}
		}
		if len(ledger.done) != 0 {
			t.Fatal("file marked done before the sink accepted it")
		}
		c.Advance(time.Minute)
		if n := scan(t, d); n != 1 {
			t.Fatalf("after the sink recovered processed %d, want 1", n)
		}
		if got := sink.eventIDs(); len(got) != 1 || got[0] != snapshotShareID {
			t.Errorf("sink got %q", got)
		}
		if w := strings.Count(logs.String(), `"level":"warn"`); w != 1 {
			t.Errorf("%d warnings for one failing file, want 1:\n%s", w, logs.String())
		}
	})

	t.Run("bad content is ingested as problems, not retried", func(t *testing.T) {
		dir, sink, c := t.TempDir(), &memSink{}, clock.NewFake(start)
		d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), opts(c))
		drop(t, dir, "broken.json", []byte(`{"Records":[`), start.Add(-time.Minute))
		drop(t, dir, ".hidden.json", rec, start.Add(-time.Minute))
		drop(t, dir, "readme.txt", []byte("hello"), start.Add(-time.Minute))
		if n := scan(t, d); n != 1 {
			t.Fatalf("processed %d, want only broken.json", n)
		}
		if len(sink.batches) != 1 || len(sink.batches[0].Problems) != 1 || sink.batches[0].Problems[0].Line != 0 {
			t.Errorf("sink got %+v, want one batch with one whole-file problem", sink.batches)
		}
		c.Advance(time.Minute)
		if n := scan(t, d); n != 0 {
			t.Errorf("bad file processed again")
		}
	})

	t.Run("ledger failure stops the pass", func(t *testing.T) {
		dir, ledger, c := t.TempDir(), newMemLedger(), clock.NewFake(start)
		ledger.err = errors.New("database is locked")
		d := NewDirSource(dir, ledger, &memSink{}, zerolog.Nop(), opts(c))
		drop(t, dir, "a.json", rec, start.Add(-time.Minute))
		if _, err := d.Scan(context.Background()); err == nil || !strings.Contains(err.Error(), "database is locked") {
			t.Errorf("err = %v, want the ledger's error", err)
		}
	})

	t.Run("Run polls until the context ends", func(t *testing.T) {
		dir, sink := t.TempDir(), &memSink{}
		d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), DirOptions{Interval: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		drop(t, dir, "late.json", rec, time.Now().Add(-time.Minute))
		deadline := time.After(5 * time.Second)
		for len(sink.eventIDs()) == 0 {
			select {
			case <-deadline:
				t.Fatal("file not ingested within 5s")
			case <-time.After(5 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// TestDirSourceLargeFileInFewBatches checks that a file read in many blocks
// reaches the sink in batches of up to sinkBatchRecords records, each one
// commit of the store, with every record once and in file order.
func TestDirSourceLargeFileInFewBatches(t *testing.T) {
	var buf bytes.Buffer
	const n = 10_000 // about 13 MiB, several blocks
	if _, err := corpus.Generate(&buf, n, 3, corpus.Options{}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for line := range bytes.Lines(buf.Bytes()) {
		var r struct{ EventID string }
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r.EventID)
	}
	dir, sink, c := t.TempDir(), &memSink{}, clock.NewFake(start)
	drop(t, dir, "export.jsonl", buf.Bytes(), start.Add(-time.Minute))
	d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), DirOptions{Interval: time.Second, Clock: c})
	if _, err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.eventIDs(); !slices.Equal(got, want) {
		t.Fatalf("sink got %d records, want the file's %d in order", len(got), len(want))
	}
	if sink.calls != (n+sinkBatchRecords-1)/sinkBatchRecords {
		t.Errorf("%d batches for %d records, want them in batches of %d", sink.calls, n, sinkBatchRecords)
	}
}

// A file holding only a native finding (a GuardDuty EventBridge event, no
// CloudTrail record) still reaches the sink.
func TestDirSourceNativeOnlyFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("native", "testdata", "guardduty-s3-bucket-anonymous-access.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir, sink, c := t.TempDir(), &memSink{}, clock.NewFake(start)
	drop(t, dir, "gd.json", data, start.Add(-time.Minute))
	d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), DirOptions{Interval: time.Second, Clock: c})
	if _, err := d.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	n := 0
	for _, b := range sink.batches {
		n += len(b.Native)
	}
	if n != 1 {
		t.Fatalf("the sink got %d native findings in %d batches, want the file's one", n, len(sink.batches))
	}
}
