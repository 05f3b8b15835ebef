package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/store"
)

// FileDone reports whether path was processed with exactly this size and
// modification time; a file rewritten since then counts as not done.
func (s *Store) FileDone(ctx context.Context, path string, size int64, mtime time.Time) (bool, error) {
	var done bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM files WHERE path = $1 AND size = $2 AND mtime = $3)",
		clean(path), size, mtime).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("file done %s: %w", path, err)
	}
	return done, nil
}

// MarkFileDone records path as processed at this size and modification time.
func (s *Store) MarkFileDone(ctx context.Context, path string, size int64, mtime time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO files (path, size, mtime, done_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, done_at = excluded.done_at`,
		clean(path), size, mtime, s.now())
	if err != nil {
		return fmt.Errorf("mark file done %s: %w", path, err)
	}
	return nil
}

// Quarantine keeps an unreadable input; a zero Time is set to now. Source
// and reason are cleaned like history strings, since they may quote the bad
// input; Raw is kept byte for byte.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined) error {
	if q.Time.IsZero() {
		q.Time = s.now()
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO quarantine (t, source, line, reason, raw) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, line, reason) DO NOTHING",
		q.Time, clean(q.Source), q.Line, clean(q.Reason), q.Raw)
	if err != nil {
		return fmt.Errorf("quarantine %s:%d: %w", q.Source, q.Line, err)
	}
	return nil
}

// ListQuarantined returns quarantined inputs newest first; limit <= 0 means
// all.
func (s *Store) ListQuarantined(ctx context.Context, limit int) ([]store.Quarantined, error) {
	query := "SELECT id, t, source, line, reason, raw FROM quarantine ORDER BY id DESC"
	var args []any
	if limit > 0 {
		query += " LIMIT $1"
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	defer rows.Close()
	var out []store.Quarantined
	for rows.Next() {
		var q store.Quarantined
		if err := rows.Scan(&q.ID, &q.Time, &q.Source, &q.Line, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("list quarantined: %w", err)
		}
		q.Time = utc(q.Time)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	return out, nil
}

// PutKV sets ns/key to value, replacing any previous value.
func (s *Store) PutKV(ctx context.Context, ns, key string, value []byte) error {
	if value == nil {
		value = []byte{} // stored as an empty value, not as NULL
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO kv (ns, key, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		ns, key, value, s.now())
	if err != nil {
		return fmt.Errorf("put kv %s/%s: %w", ns, key, err)
	}
	return nil
}

// GetKV returns the value of ns/key, or store.ErrNotFound.
func (s *Store) GetKV(ctx context.Context, ns, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM kv WHERE ns = $1 AND key = $2", ns, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get kv %s/%s: %w", ns, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get kv %s/%s: %w", ns, key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// CompareAndSwapKV writes ns/key only if it holds old (absent for a nil
// old). One statement decides: a concurrent swap of the same row makes this
// one wait for its commit and then re-check the condition against the new
// value, so of several swaps from one value exactly one wins, whichever
// replica runs them.
func (s *Store) CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error) {
	if new == nil {
		new = []byte{}
	}
	var err error
	var wrote int64
	if old == nil {
		tag, e := s.pool.Exec(ctx, `INSERT INTO kv (ns, key, value, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (ns, key) DO NOTHING`, ns, key, new, s.now())
		err, wrote = e, tag.RowsAffected()
	} else {
		tag, e := s.pool.Exec(ctx, `UPDATE kv SET value = $1, updated_at = $2 WHERE ns = $3 AND key = $4 AND value = $5`,
			new, s.now(), ns, key, old)
		err, wrote = e, tag.RowsAffected()
	}
	if err != nil {
		return false, fmt.Errorf("compare and swap kv %s/%s: %w", ns, key, err)
	}
	return wrote == 1, nil
}

// DeleteKV removes ns/key; an absent key is not an error.
func (s *Store) DeleteKV(ctx context.Context, ns, key string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM kv WHERE ns = $1 AND key = $2", ns, key); err != nil {
		return fmt.Errorf("delete kv %s/%s: %w", ns, key, err)
	}
	return nil
}

// ListKV returns the keys of ns starting with prefix and their values, in
// byte order of the keys: the "C" collation compares bytes, where the
// database's default one would order by language rules, differently from
// SQLite.
func (s *Store) ListKV(ctx context.Context, ns, prefix string) ([]store.KVEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value FROM kv WHERE ns = $1 AND starts_with(key, $2) ORDER BY key COLLATE "C"`,
		ns, prefix)
	if err != nil {
		return nil, fmt.Errorf("list kv %s/%s*: %w", ns, prefix, err)
	}
	defer rows.Close()
	var out []store.KVEntry
	for rows.Next() {
		var e store.KVEntry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, fmt.Errorf("list kv %s/%s*: %w", ns, prefix, err)
		}
		if e.Value == nil {
			e.Value = []byte{}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list kv %s/%s*: %w", ns, prefix, err)
	}
	return out, nil
}
