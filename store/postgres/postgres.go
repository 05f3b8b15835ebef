// Package postgres is the networked store, for several replicas of the bot
// behind one Slack app. It keeps the same data as the embedded SQLite store
// and passes the same conformance suite; what it adds is that every
// exactly-once guarantee holds across processes, not only across goroutines:
//
//   - outbox items are claimed with FOR UPDATE SKIP LOCKED under a lease
//     (owner and expiry) that Complete and Retry check;
//   - UpdateFinding locks the finding's row for the read-modify-write;
//   - audit appends lock the single chain-head row, so the hash chain cannot
//     fork whichever replica appends;
//   - compare-and-set on the KV space is one conditional statement;
//   - migrations run at open under an advisory lock, so replicas starting
//     together migrate once.
//
// "Now" always comes from the injected clock, never from the server's
// now(), so leases and timestamps mean the same thing in tests and agree
// with the SQLite store.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// defaultMaxConns is the pool's size unless the DSN sets pool_max_conns.
// pgxpool's own default, the number of CPUs but at least four, is below
// what one replica asks of the database at once: its SQS workers (four by
// default) store batches while the outbox lanes claim and settle
// deliveries, and a finding's Slack message would wait for a connection
// behind the ingestion of unrelated events (on two cores this tripled the
// event-to-post latency at 1,000 events/s). Connections are opened only
// when needed, so a quiet replica holds few.
const defaultMaxConns = 16

// Options configures a Store. Pool sizing and timeouts go in the DSN
// (pool_max_conns, connect_timeout...), as pgxpool reads them there; the
// pool holds up to 16 connections unless pool_max_conns says otherwise.
type Options struct {
	// AuditSealer links audit records into their chain; the unkeyed
	// SHA-256 chain when nil. Every replica must use the same one.
	AuditSealer store.AuditSealer
	// Clock is "now" for leases, default times and expiry; the wall clock
	// when nil.
	Clock clock.Clock
	// Logger receives migration messages.
	Logger zerolog.Logger
	// DictCacheSize bounds how many interned strings of each kind (actors,
	// IPs, resources...) are kept in memory; 50,000 when zero.
	DictCacheSize int
	// NetworkTimeout is how long a connection may leave what it sent
	// unacknowledged, or a silent server unanswering keepalive probes,
	// before it is dropped as dead (30s when zero); see dialer.
	NetworkTimeout time.Duration
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	// sealer links audit records into their chain.
	sealer store.AuditSealer
	log    zerolog.Logger
	dicts  dicts
	// netTimeout is Options.NetworkTimeout.
	netTimeout time.Duration
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string) and migrates it to the current schema. Tables go in the
// first schema of the connection's search_path.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.AuditSealer == nil {
		opts.AuditSealer = store.UnkeyedSealer{}
	}
	if opts.DictCacheSize <= 0 {
		opts.DictCacheSize = 50_000
	}
	if opts.NetworkTimeout <= 0 {
		opts.NetworkTimeout = defaultNetworkTimeout
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error can quote the DSN, password included.
		return nil, errors.New("open postgres store: invalid DSN")
	}
	cfg.ConnConfig.DialFunc = dialer(opts.NetworkTimeout, cfg.ConnConfig.ConnectTimeout)
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", target(cfg), err)
	}
	s := &Store{pool: pool, clock: opts.Clock, log: opts.Logger, sealer: opts.AuditSealer, dicts: newDicts(opts.DictCacheSize), netTimeout: opts.NetworkTimeout}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", target(cfg), err)
	}
	return s, nil
}

// target names the database for messages without the credentials.
func target(cfg *pgxpool.Config) string {
	return cfg.ConnConfig.Host + ":" + strconv.Itoa(int(cfg.ConnConfig.Port)) + "/" + cfg.ConnConfig.Database
}

// Close releases the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies, in order and each in its own transaction, the embedded
// migrations newer than the recorded schema version. It holds a session
// advisory lock meanwhile, keyed by the schema, so that replicas opening
// together wait for the first one and then find nothing left to do. DDL is
// transactional in PostgreSQL, so a failed migration leaves no trace.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	const lockKey = "hashtextextended('secops-bot store migrations ' || coalesce(current_schema(), ''), 0)"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+lockKey+")"); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx was cancelled,
		// or the pooled connection would keep holding it.
		unlockCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock("+lockKey+")"); err != nil {
			// Closing the connection ends the session and its lock.
			conn.Conn().Close(unlockCtx) //nolint:errcheck // already failing; the session ends either way
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
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
		if m.version <= current {
			continue
		}
		body, err := fs.ReadFile(migrations, m.name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", m.name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Simple protocol: a migration is several statements.
			if _, err := tx.Exec(ctx, string(body), pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", m.version, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		s.log.Info().Int("version", m.version).Str("migration", m.name).Msg("applied store migration")
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

// execer is what the pool and a transaction share, so that outbox items can
// be enqueued inside the transaction that stores their cause.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// now is the store's clock truncated to the microseconds PostgreSQL keeps.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// utc normalises a time read from the server, which pgx returns in the
// local zone.
func utc(t time.Time) time.Time { return t.UTC() }

// Unique-violation and friends, by SQLSTATE.
const (
	codeUniqueViolation = "23505"
)

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// clean makes s storable as PostgreSQL text, which admits neither NUL nor
// invalid UTF-8. Such strings come only from hostile or broken input (a
// crafted user agent, say); refusing them would fail the whole batch they
// arrived in, so they are kept with the offending bytes replaced.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
