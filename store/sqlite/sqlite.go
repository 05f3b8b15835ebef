// Package sqlite is the embedded store: one SQLite file in WAL mode, written
// through a single connection and read through a small pool. It is the
// default for a single replica; the schema is migrated at open from SQL files
// embedded in the binary.
//
// History is the bulk of the data and is laid out for size and ingestion
// speed: every repeated string (actor, API, IP, user agent, resource, key...)
// is interned once in a dictionary table and events hold small integer IDs,
// times are unix seconds, and UUID event IDs are 16-byte blobs. An event
// costs under 200 bytes on disk with its indexes. The table is clustered
// on (actor, t), so an actor's events in a window, which baselines
// (ActorStats) and investigations read, are one run of neighbouring pages:
// their cost grows with the actor's events in the window, not with the
// whole history.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures a Store.
type Options struct {
	// AuditSealer links audit records into their chain; the unkeyed
	// SHA-256 chain when nil. Every replica must use the same one.
	AuditSealer store.AuditSealer
	// Clock is "now" for leases, default times and expiry; the wall clock
	// when nil.
	Clock clock.Clock
	// Logger receives migration and maintenance messages.
	Logger zerolog.Logger
	// DictCacheSize bounds how many interned strings of each kind (actors,
	// IPs, resources...) are kept in memory; 50,000 when zero.
	DictCacheSize int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process before failing; 5s when zero.
	BusyTimeout time.Duration
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	// w is the only connection that writes. SQLite admits one writer at a
	// time anyway; queueing writers in Go instead of in SQLite's busy handler
	// keeps them fair and avoids lock-upgrade deadlocks between
	// transactions. Its transactions begin IMMEDIATE.
	w *sql.DB
	// r serves reads, which WAL lets run beside the writer.
	r     *sql.DB
	clock clock.Clock
	// sealer links audit records into their chain.
	sealer store.AuditSealer
	log    zerolog.Logger
	dicts  dicts

	insertEvents *sql.Stmt // a full chunk of insertChunk rows
	// reads are the read pool's prepared statements by their text:
	// parsing a query again on every call was a fifth of an
	// investigation's time.
	reads sync.Map
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and migrates it
// to the current schema.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsRune(path, '?') || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// A private in-memory database per connection would split the
		// writer from the readers, so only plain file paths are accepted.
		return nil, fmt.Errorf("open sqlite store: %q is not a plain file path", path)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.AuditSealer == nil {
		opts.AuditSealer = store.UnkeyedSealer{}
	}
	if opts.DictCacheSize <= 0 {
		opts.DictCacheSize = 50_000
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode loses at most the last transactions on power loss,
	// never consistency; FULL would fsync every commit.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "temp_store(MEMORY)")
	// Checkpointing every 160 MiB of log instead of SQLite's 4 MiB copies
	// a page that many ingestion batches touch (the tail of each actor's
	// and resource's index range) once rather than once per batch: with
	// 1,000-event batches it is worth about a tenth of ingestion speed
	// over a 10,000-page (40 MiB) interval. The price is a log file of up
	// to that size beside the database between checkpoints.
	q.Add("_pragma", "wal_autocheckpoint(40000)")

	wq := url.Values{}
	for k, v := range q {
		wq[k] = slices.Clone(v)
	}
	wq.Set("_txlock", "immediate")
	// The writer walks every index of history on each batch; a larger cache
	// keeps their upper levels and hot leaves out of the read path.
	wq.Add("_pragma", "cache_size(-131072)") // 128 MiB
	q.Add("_pragma", "cache_size(-32768)")   // 32 MiB per reader
	if err := createPrivate(path, opts.Logger); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, clock: opts.Clock, log: opts.Logger, sealer: opts.AuditSealer}
	// Migrate through the writer before any reader exists, so that the
	// readers never see a half-built schema.
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	n := max(2, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.r = r

	s.dicts = newDicts(opts.DictCacheSize)
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

// prepare compiles the statements used per event once, on the writer
// connection; transactions then reuse them without recompiling.
func (s *Store) prepare(ctx context.Context) error {
	var err error
	s.insertEvents, err = s.w.PrepareContext(ctx, insertEventsSQL(insertChunk))
	if err != nil {
		return fmt.Errorf("prepare event insert: %w", err)
	}
	return nil
}

// readStmt is query prepared on the read pool, once.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.reads.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.reads.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// Close releases the database. The WAL is checkpointed into the main file
// by SQLite when the last connection closes.
func (s *Store) Close() error {
	var errs []error
	s.reads.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// Checkpoint copies the write-ahead log into the database file and truncates
// it, so that the file size reflects what is stored.
func (s *Store) Checkpoint(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations newer than the recorded schema version.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, math.MaxInt) }

// migrateTo is migrate stopping after version upTo, which lets tests build
// a database as an older binary left it.
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := s.w.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	if len(files) > 0 && current > files[len(files)-1].version {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", current, files[len(files)-1].version)
	}
	for _, m := range files {
		if m.version <= current || m.version > upTo {
			continue
		}
		body, err := fs.ReadFile(migrations, m.name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", m.name, err)
		}
		// Said before, not only after: rewriting a large history (0003
		// takes about five minutes per ten million events) holds the
		// start, and the operator should know why.
		s.log.Info().Int("version", m.version).Str("migration", m.name).Msg("applying store migration; the bot starts when it is done, which on a large history can take minutes")
		began := s.clock.Now()
		err = s.writeTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
				m.version, s.clock.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		s.log.Info().Int("version", m.version).Str("migration", m.name).Dur("took", s.clock.Now().Sub(began)).Msg("applied store migration")
	}
	return nil
}

type migration struct {
	version int
	name    string
}

// migrationFiles lists the embedded migrations by version; a file is named
// NNNN_description.sql.
func migrationFiles() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		out = append(out, migration{version: v, name: "migrations/" + e.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// writeTx runs fn in a write transaction on the writer connection. fn must
// not call other Store methods that write: the one connection is busy.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error from fn is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Time encodings. History uses unix seconds (CloudTrail's precision, and
// four bytes in a row until 2038); everything else uses microseconds, the
// precision PostgreSQL keeps, so both stores round-trip the same values.
func toMicros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// ceilSeconds is the first whole second at or after t, which turns a bound
// on times into the same bound on stored seconds.
func ceilSeconds(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// now is the store's clock truncated to what is stored.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// createPrivate creates the database file readable by its owner only
// before SQLite opens it: it holds the audit log, findings and history of
// every account. SQLite gives its -wal and -shm files the database file's
// mode. An existing file that others can read is left as the operator set
// it, with a warning.
func createPrivate(path string, log zerolog.Logger) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			log.Warn().Str("path", path).Str("mode", info.Mode().Perm().String()).Msg("the database file can be read by other users; chmod 600 it")
		}
		return nil
	default:
		return err
	}
}
