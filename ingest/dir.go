package ingest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// FileLedger remembers which files were ingested, so that each is
// processed once across restarts. A file is identified by its path, size
// and modification time (whole microseconds, UTC): a file rewritten in
// place is new again.
//
// It also keeps, in its key-value space, a mark on each file while it is
// read, so that a file that took the process down is not read unguarded
// after a restart. GetKV returns store.ErrNotFound for a key never set.
type FileLedger interface {
	FileDone(ctx context.Context, path string, size int64, mtime time.Time) (bool, error)
	MarkFileDone(ctx context.Context, path string, size int64, mtime time.Time) error
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
	PutKV(ctx context.Context, ns, key string, value []byte) error
}

// Sink takes batches into the pipeline. Ingest returns nil only once the
// batch is durably stored. A file that fails part way is sent again from
// its start, so a sink must tolerate records it has already seen (the
// event ID identifies them).
type Sink interface {
	Ingest(ctx context.Context, b Batch) error
}

// DirOptions tunes a DirSource; zero values mean the defaults.
type DirOptions struct {
	// Interval between polls, and how long a file must be left alone
	// before it is read (default 2s).
	Interval time.Duration
	// RetryBackoff is the first wait before a file the sink refused is
	// tried again, doubled with each further failure (default twice the
	// Interval). Run waits the same way between passes while the ledger
	// cannot be read.
	RetryBackoff time.Duration
	// MaxBackoff caps those waits (default 5m).
	MaxBackoff time.Duration
	// StoreTimeout bounds how long one batch may take to store once
	// started (default 30s), so that a store that stops answering fails
	// the file, which is retried, instead of holding the source.
	StoreTimeout time.Duration
	// Clock is the time source (default the wall clock).
	Clock clock.Clock
	// Limits caps what one file may cost to read; the zero value is
	// ingest's defaults.
	Limits Limits
}

// DirSource feeds CloudTrail files that appear under a directory (log
// files, EventBridge events, JSON Lines; plain or gzip) to a Sink.
// Polling rather than file notifications keeps it portable and makes it
// work on network file systems. One goroutine drives it: Scan and Run are
// not to be called concurrently.
type DirSource struct {
	dir    string
	ledger FileLedger
	sink   Sink
	log    zerolog.Logger
	opts   DirOptions

	// seen is each file's size and mtime at the last poll, to tell a file
	// still being written from a finished one.
	seen map[string]fileStamp
	// failing holds files the sink refused, with when to try again.
	failing map[string]retry
	// reader tells this source's reading marks from those of an earlier
	// process.
	reader string
}

type fileStamp struct {
	size  int64
	mtime time.Time
}

type retry struct {
	failures int
	next     time.Time
}

// NewDirSource returns a source for dir. Scan or Run start it.
func NewDirSource(dir string, ledger FileLedger, sink Sink, log zerolog.Logger, opts DirOptions) *DirSource {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 2 * opts.Interval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	opts.Limits = opts.Limits.withDefaults()
	// The ledger outlives the process, so its keys must not depend on the
	// working directory the process happened to start in.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &DirSource{
		dir:     dir,
		ledger:  ledger,
		sink:    sink,
		log:     log.With().Str("source", "dir").Str("dir", dir).Logger(),
		opts:    opts,
		seen:    make(map[string]fileStamp),
		failing: make(map[string]retry),
		reader:  rand.Text(),
	}
}

// Run polls the directory until ctx ends. A pass that fails (the
// directory or the ledger cannot be read, typically because the store is
// locked or unreachable) is tried again after a backoff rather than at the
// next poll, and only the first failure of a streak is logged as an error,
// so that an outage of an hour neither hammers the store nor floods the
// log.
func (d *DirSource) Run(ctx context.Context) error {
	failures := 0
	for {
		wait := d.opts.Interval
		_, err := d.Scan(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = d.backoff(failures)
			ev := d.log.Debug()
			if failures == 1 {
				ev = d.log.Error()
			}
			ev.Err(err).Int("attempt", failures).Dur("retry_in", wait).Msg("scan directory failed; will retry")
		case failures > 0:
			d.log.Info().Int("failed_attempts", failures).Msg("scan directory recovered")
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is the wait after the given number of consecutive failures:
// RetryBackoff doubled each time, at most MaxBackoff.
func (d *DirSource) backoff(failures int) time.Duration {
	wait := d.opts.RetryBackoff << min(failures-1, 30)
	if wait <= 0 || wait > d.opts.MaxBackoff {
		wait = d.opts.MaxBackoff
	}
	return wait
}

// Scan makes one pass over the directory and returns how many files it
// ingested. Files still being written, already ingested or waiting out a
// sink failure are left alone. The error is for failures of the
// directory or the ledger; sink failures are retried on later passes. A
// sink failure ends the pass: when the store is down every file would
// fail the same way, and each attempt can take as long as the store's
// lock timeout, so one attempt per pass is enough to notice it is back.
func (d *DirSource) Scan(ctx context.Context) (int, error) {
	files, err := eventFiles(d.dir)
	if err != nil {
		return 0, err
	}
	now := d.opts.Clock.Now()
	present := make(map[string]bool, len(files))
	processed := 0
	for i, path := range files {
		if err := ctx.Err(); err != nil {
			return processed, err
		}
		present[path] = true
		info, err := os.Stat(path)
		if err != nil {
			// Removed or renamed since the listing: nothing to do.
			continue
		}
		stamp := fileStamp{size: info.Size(), mtime: info.ModTime().UTC().Truncate(time.Microsecond)}
		prev, known := d.seen[path]
		d.seen[path] = stamp
		if known && prev != stamp || !settled(stamp, known, now, d.opts.Interval) {
			continue
		}
		if r, ok := d.failing[path]; ok && now.Before(r.next) {
			continue
		}
		done, err := d.fileDone(ctx, path, stamp)
		if err != nil {
			return processed, fmt.Errorf("check ledger for %s: %w", path, err)
		}
		if done {
			continue
		}
		res, err := d.ingest(ctx, path, stamp, now)
		if err != nil {
			return processed, err
		}
		if res == sinkFailed {
			// The files not reached keep their place (and their
			// backoff) for the next pass.
			for _, p := range files[i+1:] {
				present[p] = true
			}
			break
		}
		if res == ingested {
			processed++
		}
	}
	for path := range d.seen {
		if !present[path] {
			delete(d.seen, path)
			delete(d.failing, path)
		}
	}
	return processed, nil
}

// settled reports whether a file is done being written: its last change
// is at least one interval old. A modification time ahead of the clock (a
// file system whose clock differs from the bot's) says nothing about age,
// so such a file is read once a pass has seen it unchanged.
func settled(stamp fileStamp, known bool, now time.Time, interval time.Duration) bool {
	age := now.Sub(stamp.mtime)
	if age < 0 {
		return known
	}
	return age >= interval
}

// errSink marks an error returned by the sink, as opposed to one reading
// the file.
type errSink struct{ err error }

func (e errSink) Error() string { return e.err.Error() }
func (e errSink) Unwrap() error { return e.err }

// fileDone asks the ledger, within the store timeout, whether the file
// was ingested as it is now.
func (d *DirSource) fileDone(ctx context.Context, path string, stamp fileStamp) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.StoreTimeout)
	defer cancel()
	return d.ledger.FileDone(ctx, path, stamp.size, stamp.mtime)
}

// outcome is what became of one file in a pass.
type outcome int

const (
	ingested   outcome = iota
	readFailed         // the file could not be read; retried later
	sinkFailed         // the sink refused a batch; retried later
)

// sinkBatchRecords is the most records the directory source hands the
// sink at once.
const sinkBatchRecords = maxBatchUnits

// ingest sends one file to the sink and records it in the ledger. It
// reports what became of the file; the error is for ledger failures.
func (d *DirSource) ingest(ctx context.Context, path string, stamp fileStamp, now time.Time) (outcome, error) {
	log := d.log.With().Str("file", path).Logger()
	starts, err := d.beginRead(ctx, path, stamp)
	if err != nil {
		return readFailed, err
	}
	if starts > maxUnfinishedReads {
		return d.setAside(ctx, path, stamp, log)
	}
	if starts > 1 {
		log.Warn().Msg("the bot stopped while reading this file; reading it once more, and setting it aside if that stops the bot too")
	}
	records, problems := 0, 0
	send := func(b Batch) error {
		// A batch that started is finished even when shutdown begins, so
		// a stop never leaves one half applied; the file stops after it.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
		defer cancel()
		if err := d.sink.Ingest(bctx, b); err != nil {
			return errSink{err}
		}
		return ctx.Err()
	}
	// A large file is read a block at a time; its blocks are handed
	// over together up to sinkBatchRecords, since each Ingest is one
	// commit of the store and a commit costs about the same for a
	// thousand events as for several.
	c := collector{out: Batch{Source: path}}
	err = streamFile(ctx, path, d.opts.Limits, func(b Batch) error {
		records += len(b.Records)
		problems += len(b.Problems)
		_ = c.add(b)
		if c.n < sinkBatchRecords {
			return ctx.Err()
		}
		return send(c.take())
	})
	if err == nil && !c.empty() {
		err = send(c.take())
	}
	// The read is over, whatever its outcome: only a read the process
	// did not survive may leave the mark.
	d.endRead(ctx, path, log)
	if err != nil {
		if ctx.Err() != nil {
			return readFailed, ctx.Err()
		}
		d.fail(log, path, now, err)
		if errors.As(err, new(errSink)) {
			return sinkFailed, nil
		}
		return readFailed, nil
	}
	mctx, cancel := context.WithTimeout(ctx, d.opts.StoreTimeout)
	defer cancel()
	if err := d.ledger.MarkFileDone(mctx, path, stamp.size, stamp.mtime); err != nil {
		return readFailed, fmt.Errorf("mark %s done: %w", path, err)
	}
	ev := log.Info()
	if r, ok := d.failing[path]; ok {
		ev = ev.Int("failed_attempts", r.failures)
		delete(d.failing, path)
	}
	ev.Int("records", records).Int("problems", problems).Msg("ingested file")
	return ingested, nil
}

// fail schedules a retry with exponential backoff. Only the first failure
// of a file is logged as a warning, so a sink that is down for an hour does
// not flood the log.
func (d *DirSource) fail(log zerolog.Logger, path string, now time.Time, err error) {
	r := d.failing[path]
	r.failures++
	wait := d.backoff(r.failures)
	r.next = now.Add(wait)
	d.failing[path] = r
	what := "read file"
	if errors.As(err, new(errSink)) {
		what = "ingest file"
	}
	ev := log.Debug()
	if r.failures == 1 {
		ev = log.Warn()
	}
	ev.Err(err).Int("attempt", r.failures).Dur("retry_in", wait).Msg(what + " failed; will retry")
}

// readingNS is the ledger's key-value namespace for the marks of files
// being read, keyed by path.
const readingNS = "ingest.reading"

// maxUnfinishedReads is how many reads of one file may begin without
// ending before the file is set aside: the first stop of the process may
// have had another cause, a second one while reading the same file is the
// file's doing.
const maxUnfinishedReads = 2

// stoppedTwiceReason is the quarantine reason of a file set aside that way.
const stoppedTwiceReason = "the bot stopped twice while reading this file; set aside without reading it again"

// readingMark is what the ledger holds on a file while it is read: which
// version of the file, how many reads of it began without ending, and
// which source began the last.
type readingMark struct {
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	Starts int       `json:"starts"`
	Reader string    `json:"reader"`
}

// beginRead marks the file as being read before any of it is decoded, so
// that the mark survives whatever the reading does to the process, and
// returns how many reads of this version of it have now begun without
// ending, this one included. A number over maxUnfinishedReads is not
// written: the file is to be set aside.
func (d *DirSource) beginRead(ctx context.Context, path string, stamp fileStamp) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.StoreTimeout)
	defer cancel()
	var mark readingMark
	raw, err := d.ledger.GetKV(ctx, readingNS, path)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, fmt.Errorf("read the reading mark of %s: %w", path, err)
	case len(raw) > 0:
		if json.Unmarshal(raw, &mark) != nil || mark.Size != stamp.size || !mark.MTime.Equal(stamp.mtime) {
			// Another version of the file, or a mark this version
			// cannot read: this one was never read.
			mark = readingMark{}
		}
	}
	starts := mark.Starts + 1
	if mark.Reader == d.reader {
		// This process's own read, whose end the store could not take:
		// the process did not stop, so it does not count.
		starts = mark.Starts
	}
	if starts > maxUnfinishedReads {
		return starts, nil
	}
	raw, err = json.Marshal(readingMark{Size: stamp.size, MTime: stamp.mtime, Starts: starts, Reader: d.reader})
	if err != nil {
		return 0, fmt.Errorf("mark %s as being read: %w", path, err)
	}
	if err := d.ledger.PutKV(ctx, readingNS, path, raw); err != nil {
		return 0, fmt.Errorf("mark %s as being read: %w", path, err)
	}
	return starts, nil
}

// endRead clears the mark once a read is over. A store that cannot take
// the write leaves the mark, which costs at most one guarded read more.
func (d *DirSource) endRead(ctx context.Context, path string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	defer cancel()
	if err := d.ledger.PutKV(ctx, readingNS, path, []byte{}); err != nil {
		log.Warn().Err(err).Msg("clear the mark of a file read to its end")
	}
}

// setAside quarantines a file that the process did not survive reading
// twice, with its first bytes as they are on disk (nothing of it is
// decoded), and records it as done so that it is never read again unless
// it changes.
func (d *DirSource) setAside(ctx context.Context, path string, stamp fileStamp, log zerolog.Logger) (outcome, error) {
	var raw []byte
	if f, err := os.Open(path); err == nil {
		raw, _ = io.ReadAll(io.LimitReader(f, capProblemRaw))
		f.Close()
	}
	b := Batch{Source: path, Problems: []Problem{problem(path, 0, stoppedTwiceReason, raw)}}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
	defer cancel()
	if err := d.sink.Ingest(sctx, b); err != nil {
		d.fail(log, path, d.opts.Clock.Now(), errSink{err})
		return sinkFailed, nil
	}
	if err := d.ledger.MarkFileDone(sctx, path, stamp.size, stamp.mtime); err != nil {
		return readFailed, fmt.Errorf("mark %s done: %w", path, err)
	}
	d.endRead(ctx, path, log)
	delete(d.failing, path)
	log.Error().Msg("file set aside in quarantine: the bot stopped twice while reading it")
	return ingested, nil
}
