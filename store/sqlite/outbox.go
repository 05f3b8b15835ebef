package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// Enqueue adds it unless an item with the same key was ever enqueued,
// completed ones included. A zero NotBefore means due now.
func (s *Store) Enqueue(ctx context.Context, it store.OutboxItem) (bool, error) {
	return s.enqueue(ctx, s.w, it)
}

// execer is what a connection and a transaction share, so items can be
// enqueued inside the transaction that stores their cause.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) enqueue(ctx context.Context, db execer, it store.OutboxItem) (bool, error) {
	if it.Key == "" {
		return false, fmt.Errorf("enqueue %s: key is required", it.Kind)
	}
	now := s.now()
	nb := it.NotBefore
	if nb.IsZero() {
		nb = now
	}
	res, err := db.ExecContext(ctx, `INSERT INTO outbox (key, kind, payload, not_before, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		it.Key, it.Kind, it.Payload, toMicros(nb), toMicros(now))
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", it.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", it.Key, err)
	}
	return n == 1, nil
}

// Claim leases up to n due items, oldest first, to owner. An item is due
// when its NotBefore has passed and nobody holds an unexpired lease on it.
func (s *Store) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	return s.claim(ctx, owner, nil, n, lease)
}

// ClaimKinds is Claim for items whose kind starts with one of the prefixes.
// Prefixes are compared literally (not as LIKE patterns), so a "_" or "%"
// in a kind means itself.
func (s *Store) ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	if len(kinds) == 0 {
		if owner == "" {
			return nil, fmt.Errorf("claim: owner is required")
		}
		return nil, nil
	}
	return s.claim(ctx, owner, kinds, n, lease)
}

// claim leases due items; nil kinds means any kind.
func (s *Store) claim(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	if owner == "" {
		return nil, fmt.Errorf("claim: owner is required")
	}
	if n <= 0 {
		return nil, nil
	}
	t := s.now()
	now, until := toMicros(t), toMicros(t.Add(lease))
	args := []any{owner, until, now, n}
	filter := ""
	if len(kinds) > 0 {
		var ors []string
		for _, k := range kinds {
			args = append(args, k)
			ors = append(ors, fmt.Sprintf("substr(kind, 1, length(?%d)) = ?%d", len(args), len(args)))
		}
		filter = " AND (" + strings.Join(ors, " OR ") + ")"
	}
	var out []store.OutboxItem
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET owner = ?1, lease_until = ?2, attempts = attempts + 1
			WHERE id IN (
				SELECT id FROM outbox
				WHERE done_at IS NULL AND not_before <= ?3 AND (owner IS NULL OR lease_until <= ?3)`+filter+`
				ORDER BY id LIMIT ?4
			)
			RETURNING id, key, kind, payload, attempts, not_before, last_error`,
			args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it store.OutboxItem
			var nb int64
			if err := rows.Scan(&it.ID, &it.Key, &it.Kind, &it.Payload, &it.Attempts, &nb, &it.LastError); err != nil {
				return err
			}
			it.NotBefore = fromMicros(nb)
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox items for %s: %w", owner, err)
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(out, func(a, b store.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Complete marks a claimed item done. The row stays (payload dropped) so
// its key keeps deduplicating.
func (s *Store) Complete(ctx context.Context, id int64, owner string) error {
	now := toMicros(s.now())
	err := s.settle(ctx, id, owner, `UPDATE outbox SET done_at = ?3, payload = NULL, owner = NULL, lease_until = NULL
		WHERE id = ?1 AND owner = ?2 AND lease_until > ?3 AND done_at IS NULL`, now)
	if err != nil {
		return fmt.Errorf("complete outbox item %d: %w", id, err)
	}
	return nil
}

// Retry releases a claimed item to be claimed again from notBefore on.
func (s *Store) Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error {
	now := toMicros(s.now())
	err := s.settle(ctx, id, owner, `UPDATE outbox SET owner = NULL, lease_until = NULL, not_before = ?4, last_error = ?5
		WHERE id = ?1 AND owner = ?2 AND lease_until > ?3 AND done_at IS NULL`, now, toMicros(notBefore), errMsg)
	if err != nil {
		return fmt.Errorf("retry outbox item %d: %w", id, err)
	}
	return nil
}

// settle runs an update guarded by the lease (parameters ?1 id, ?2 owner,
// ?3 now, then extra) and tells a lost lease from an unknown item.
func (s *Store) settle(ctx context.Context, id int64, owner, update string, now int64, extra ...any) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, update, append([]any{id, owner, now}, extra...)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM outbox WHERE id = ?", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%s does not hold the lease: %w", owner, store.ErrConflict)
	})
}

// OutboxDepth counts items not yet completed, leased or not.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM outbox WHERE done_at IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}

// PendingOutboxKeys lists the keys of items not yet completed whose key
// starts with prefix. It reads the pending rows only, which are few.
func (s *Store) PendingOutboxKeys(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT key FROM outbox WHERE done_at IS NULL AND substr(key, 1, length(?1)) = ?1 ORDER BY id", prefix)
	if err != nil {
		return nil, fmt.Errorf("pending outbox keys %q: %w", prefix, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("pending outbox keys %q: %w", prefix, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending outbox keys %q: %w", prefix, err)
	}
	return keys, nil
}
