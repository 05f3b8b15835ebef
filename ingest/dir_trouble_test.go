package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// downSink is a sink whose store can be taken down and brought back.
type downSink struct {
	mu    sync.Mutex
	down  bool
	calls int
	files int // batches accepted
}

func (s *downSink) Ingest(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return errors.New("store events: database is locked")
	}
	s.files++
	return nil
}

func (s *downSink) set(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *downSink) counts() (calls, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.files
}

// syncBuffer is a log destination safe for Run's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDirSourceStoreDown(t *testing.T) {
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")

	t.Run("one attempt per pass while the sink fails, every file after", func(t *testing.T) {
		dir, ledger, sink, c := t.TempDir(), newMemLedger(), &downSink{down: true}, clock.NewFake(start)
		d := NewDirSource(dir, ledger, sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, MaxBackoff: time.Minute, Clock: c})
		for i := range 5 {
			drop(t, dir, fmt.Sprintf("f%d.json", i), rec, start.Add(-time.Minute))
		}
		for pass := 1; pass <= 5; pass++ {
			if n := scan(t, d); n != 0 {
				t.Fatalf("pass %d processed %d files with the store down", pass, n)
			}
			if calls, _ := sink.counts(); calls != pass {
				t.Fatalf("after pass %d the sink was called %d times, want one call per pass", pass, calls)
			}
			c.Advance(time.Second)
		}
		if len(ledger.done) != 0 {
			t.Fatalf("%d files marked done before the sink stored them", len(ledger.done))
		}
		sink.set(false)
		// Every file waits out at most its backoff, then goes in once.
		c.Advance(time.Minute)
		if n := scan(t, d); n != 5 {
			t.Fatalf("after the store came back processed %d files, want 5", n)
		}
		if _, accepted := sink.counts(); accepted != 5 {
			t.Errorf("sink accepted %d files, want 5", accepted)
		}
		if len(ledger.done) != 5 {
			t.Errorf("%d files marked done, want 5", len(ledger.done))
		}
	})

	t.Run("a file cut off by an early end keeps its backoff", func(t *testing.T) {
		dir, sink, c := t.TempDir(), &downSink{down: true}, clock.NewFake(start)
		d := NewDirSource(dir, newMemLedger(), sink, zerolog.Nop(), DirOptions{Interval: 2 * time.Second, MaxBackoff: time.Minute, Clock: c})
		drop(t, dir, "b.json", rec, start.Add(-time.Minute))
		scan(t, d) // b fails: next try in 4s
		c.Advance(4 * time.Second)
		scan(t, d) // b fails again: next try in 8s
		drop(t, dir, "a.json", rec, start.Add(-time.Minute))
		c.Advance(time.Second)
		scan(t, d) // a fails and ends the pass before b
		if calls, _ := sink.counts(); calls != 3 {
			t.Fatalf("sink called %d times, want 3", calls)
		}
		c.Advance(time.Second)
		scan(t, d)
		if calls, _ := sink.counts(); calls != 3 {
			t.Errorf("sink called %d times, want 3: b's backoff was lost when a pass ended before it", calls)
		}
	})

	t.Run("Run backs off while the ledger cannot be read and recovers", func(t *testing.T) {
		dir, ledger, sink := t.TempDir(), newMemLedger(), &memSink{}
		ledger.err = errors.New("check ledger: connection refused")
		logs := &syncBuffer{}
		d := NewDirSource(dir, ledger, sink, zerolog.New(logs).Level(zerolog.DebugLevel),
			DirOptions{Interval: 10 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond})
		drop(t, dir, "late.json", rec, time.Now().Add(-time.Minute))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(600 * time.Millisecond)
		ledger.mu.Lock()
		reads := ledger.reads
		ledger.err = nil
		ledger.mu.Unlock()
		// Polling every 10ms would read the ledger about 60 times; the
		// backoff (10, 20, 40, 80, 80 ... ms) about 10.
		if reads > 15 {
			t.Errorf("ledger read %d times in 600ms of failure, want a backoff (at most 15)", reads)
		}
		deadline := time.After(5 * time.Second)
		for len(sink.eventIDs()) == 0 {
			select {
			case <-deadline:
				t.Fatal("file not ingested within 5s of the ledger recovering")
			case <-time.After(5 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		out := logs.String()
		if n := strings.Count(out, `"level":"error"`); n != 1 {
			t.Errorf("%d errors logged for one outage, want 1:\n%s", n, out)
		}
		if !strings.Contains(out, "scan directory recovered") {
			t.Errorf("recovery not logged:\n%s", out)
		}
	})
}
