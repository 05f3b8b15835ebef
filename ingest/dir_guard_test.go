package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// poisonSink takes the process down, as an out-of-memory kill would, when
// it is handed a batch of a file whose name contains "poison": it panics,
// and the test recovers where the process would have ended. Nothing the
// source defers can tell the difference from a real death, except that a
// real one would not run deferred calls at all, so none may be needed.
type poisonSink struct {
	memSink
	mu     sync.Mutex
	deaths int
}

func (s *poisonSink) Ingest(ctx context.Context, b Batch) error {
	if strings.Contains(filepath.Base(b.Source), "poison") && len(b.Records) > 0 {
		s.mu.Lock()
		s.deaths++
		s.mu.Unlock()
		panic("process killed while reading " + b.Source)
	}
	return s.memSink.Ingest(ctx, b)
}

// scanOrDie runs one pass as a fresh process would and reports whether the
// process died during it.
func scanOrDie(t *testing.T, d *DirSource) (died bool) {
	t.Helper()
	defer func() {
		if recover() != nil {
			died = true
		}
	}()
	if _, err := d.Scan(context.Background()); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return false
}

func TestDirSourceSetsAsideAFileThatStopsTheBotTwice(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	dir, ledger, sink, c := t.TempDir(), newMemLedger(), &poisonSink{}, clock.NewFake(start)
	drop(t, dir, "a-poison.json", readTestdata(t, "logfile.json"), start.Add(-time.Minute))
	drop(t, dir, "b-good.json", rec, start.Add(-time.Minute))
	logs := &syncBuffer{}
	restart := func() *DirSource {
		return NewDirSource(dir, ledger, sink, zerolog.New(logs), DirOptions{Interval: 2 * time.Second, Clock: c})
	}

	// The first stop may have had another cause: the file is read once
	// more after a restart, guarded.
	for stop := 1; stop <= 2; stop++ {
		if !scanOrDie(t, restart()) {
			t.Fatalf("start %d: the poison file did not stop the bot", stop)
		}
		if ids := sink.eventIDs(); len(ids) != 0 {
			t.Fatalf("start %d: the file after the poison one was read (%q) although the bot stopped first", stop, ids)
		}
	}
	if !strings.Contains(logs.String(), "the bot stopped while reading this file; reading it once more") {
		t.Errorf("the second read of the file was not announced:\n%s", logs)
	}

	// The third start sets it aside unread and goes on with the others.
	if died := scanOrDie(t, restart()); died {
		t.Fatal("the poison file was read a third time and stopped the bot again")
	}
	if sink.deaths != 2 {
		t.Errorf("the bot stopped %d times, want 2", sink.deaths)
	}
	var setAside []Problem
	for _, b := range sink.batches {
		setAside = append(setAside, b.Problems...)
	}
	if len(setAside) != 1 || filepath.Base(setAside[0].Source) != "a-poison.json" ||
		!strings.Contains(setAside[0].Reason, "the bot stopped twice while reading this file") || len(setAside[0].Raw) == 0 {
		t.Errorf("quarantined %+v, want a-poison.json with its first bytes and the reason", summarise(setAside))
	}
	if ids := sink.eventIDs(); len(ids) != 1 || ids[0] != snapshotShareID {
		t.Errorf("records after the set-aside file = %q, want b-good.json's", ids)
	}
	c.Advance(time.Minute)
	if died := scanOrDie(t, restart()); died || len(sink.batches) != 2 {
		t.Errorf("a later pass read the set-aside file again (died %v, %d batches)", died, len(sink.batches))
	}
	if v := ledger.kv[readingNS+"/"+filepath.Join(dir, "a-poison.json")]; len(v) != 0 {
		t.Errorf("the reading mark is left as %q", v)
	}

	t.Run("a rewritten file is read afresh", func(t *testing.T) {
		drop(t, dir, "a-poison.json", readTestdata(t, "logfile.json"), start)
		c.Advance(time.Minute)
		if !scanOrDie(t, restart()) {
			t.Fatal("the new version of the file was not read")
		}
	})
}

func TestDirSourceReadsOverAShutdownUnguarded(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	dir, ledger, c := t.TempDir(), newMemLedger(), clock.NewFake(start)
	drop(t, dir, "slow.json", rec, start.Add(-time.Minute))
	// Three shutdowns in the middle of the file are not stops of the bot:
	// the file is still read when one finally lets it finish.
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		sink := &cancelSink{cancel: cancel}
		d := NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, Clock: c})
		if _, err := d.Scan(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("scan during shutdown: %v", err)
		}
	}
	sink := &memSink{}
	d := NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, Clock: c})
	if n := scan(t, d); n != 1 {
		t.Fatalf("processed %d files, want 1", n)
	}
	if ids := sink.eventIDs(); len(ids) != 1 || len(sink.batches[0].Problems) != 0 {
		t.Errorf("sink got records %q and problems %q, want the file's record and no problem", ids, summarise(sink.batches[0].Problems))
	}
}

// cancelSink begins a shutdown while it stores a batch, as a SIGTERM in
// the middle of a file would, and refuses the batch.
type cancelSink struct{ cancel context.CancelFunc }

func (s *cancelSink) Ingest(ctx context.Context, b Batch) error {
	s.cancel()
	return context.Canceled
}

func TestDirSourceQuarantinesABombAndReadsOn(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	dir, ledger, sink, c := t.TempDir(), newMemLedger(), &memSink{}, clock.NewFake(start)
	lim := Limits{MaxFileBytes: 1 << 20, MaxRecordBytes: 64 << 10, MaxLineBytes: 256 << 10}
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"Records":[`))
	zw.Write(bytes.Repeat([]byte{' '}, 4<<20))
	zw.Close()
	drop(t, dir, "a-bomb.json.gz", bomb.Bytes(), start.Add(-time.Minute))
	drop(t, dir, "b-good.json", rec, start.Add(-time.Minute))
	d := NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, Clock: c, Limits: lim})
	if n := scan(t, d); n != 2 {
		t.Fatalf("processed %d files, want both", n)
	}
	var reasons []string
	for _, b := range sink.batches {
		for _, p := range b.Problems {
			reasons = append(reasons, filepath.Base(p.Source)+": "+p.Reason)
		}
	}
	want := []string{
		"a-bomb.json.gz: more whitespace than the max_record_bytes cap of 65536 bytes before record 1 of the log file; skipped",
		"a-bomb.json.gz: decompressed data exceeds the max_file_bytes cap of 1048576 bytes; stopped reading there, after 0 records",
	}
	if strings.Join(reasons, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}
	if ids := sink.eventIDs(); len(ids) != 1 || ids[0] != snapshotShareID {
		t.Errorf("records = %q, want the good file's", ids)
	}
	c.Advance(time.Minute)
	if n := scan(t, d); n != 0 {
		t.Errorf("the bomb was read again (%d files)", n)
	}
}

// clearFailLedger cannot clear a reading mark: its store takes every write
// but that one, as a store that is locked for a moment might.
type clearFailLedger struct{ *memLedger }

func (l clearFailLedger) PutKV(ctx context.Context, ns, key string, value []byte) error {
	if len(value) == 0 {
		return errors.New("put kv: database is locked")
	}
	return l.memLedger.PutKV(ctx, ns, key, value)
}

func TestDirSourceCountsOnlyStopsOfTheBot(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	dir, ledger, c := t.TempDir(), clearFailLedger{newMemLedger()}, clock.NewFake(start)
	drop(t, dir, "a.json", rec, start.Add(-time.Minute))
	// The sink refuses the file three times and the mark of each read
	// stays: reads that ended in a process still running are not stops.
	sink := &memSink{failures: 3}
	d := NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, MaxBackoff: 10 * time.Second, Clock: c})
	for range 3 {
		scan(t, d)
		c.Advance(time.Minute)
	}
	// One restart is one stop: the file is read, not set aside.
	d = NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, Clock: c})
	if n := scan(t, d); n != 1 {
		t.Fatalf("processed %d files, want 1", n)
	}
	if ids := sink.eventIDs(); len(ids) != 1 || len(sink.batches[0].Problems) != 0 {
		t.Errorf("sink got records %q and problems %q, want the file's record and no problem", ids, summarise(sink.batches[0].Problems))
	}
}
