package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// FileDone reports whether path was processed with exactly this size and
// modification time; a file rewritten since then counts as not done.
func (s *Store) FileDone(ctx context.Context, path string, size int64, mtime time.Time) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM files WHERE path = ? AND size = ? AND mtime = ?",
		path, size, toMicros(mtime)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("file done %s: %w", path, err)
	}
	return n > 0, nil
}

// MarkFileDone records path as processed at this size and modification time.
func (s *Store) MarkFileDone(ctx context.Context, path string, size int64, mtime time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO files (path, size, mtime, done_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, done_at = excluded.done_at`,
		path, size, toMicros(mtime), toMicros(s.now()))
	if err != nil {
		return fmt.Errorf("mark file done %s: %w", path, err)
	}
	return nil
}

// Quarantine keeps an unreadable input; a zero Time is set to now.
func (s *Store) Quarantine(ctx context.Context, q store.Quarantined) error {
	if q.Time.IsZero() {
		q.Time = s.now()
	}
	_, err := s.w.ExecContext(ctx, "INSERT INTO quarantine (t, source, line, reason, raw) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, line, reason) DO NOTHING",
		toMicros(q.Time), q.Source, q.Line, q.Reason, q.Raw)
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
		query += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	defer rows.Close()
	var out []store.Quarantined
	for rows.Next() {
		var q store.Quarantined
		var t int64
		if err := rows.Scan(&q.ID, &t, &q.Source, &q.Line, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("list quarantined: %w", err)
		}
		q.Time = fromMicros(t)
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO kv (ns, key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		ns, key, value, toMicros(s.now()))
	if err != nil {
		return fmt.Errorf("put kv %s/%s: %w", ns, key, err)
	}
	return nil
}

// GetKV returns the value of ns/key, or store.ErrNotFound.
func (s *Store) GetKV(ctx context.Context, ns, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, "SELECT value FROM kv WHERE ns = ? AND key = ?", ns, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
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
// old). One statement decides, so no transaction is needed: the writer
// connection runs statements one at a time.
func (s *Store) CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error) {
	if new == nil {
		new = []byte{}
	}
	var res sql.Result
	var err error
	if old == nil {
		res, err = s.w.ExecContext(ctx, `INSERT INTO kv (ns, key, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (ns, key) DO NOTHING`, ns, key, new, toMicros(s.now()))
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE kv SET value = ?1, updated_at = ?2 WHERE ns = ?3 AND key = ?4
			AND (value = ?5 OR (value IS NULL AND length(?5) = 0))`,
			new, toMicros(s.now()), ns, key, old)
	}
	if err != nil {
		return false, fmt.Errorf("compare and swap kv %s/%s: %w", ns, key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("compare and swap kv %s/%s: %w", ns, key, err)
	}
	return n == 1, nil
}

// DeleteKV removes ns/key; an absent key is not an error.
func (s *Store) DeleteKV(ctx context.Context, ns, key string) error {
	if _, err := s.w.ExecContext(ctx, "DELETE FROM kv WHERE ns = ? AND key = ?", ns, key); err != nil {
		return fmt.Errorf("delete kv %s/%s: %w", ns, key, err)
	}
	return nil
}

// ListKV returns the keys of ns starting with prefix and their values, in
// byte order of the keys (SQLite's default BINARY collation compares the
// UTF-8 bytes). The prefix is compared with substr, not LIKE, whose
// wildcards and case folding would match other keys.
func (s *Store) ListKV(ctx context.Context, ns, prefix string) ([]store.KVEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key, value FROM kv WHERE ns = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key`,
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
