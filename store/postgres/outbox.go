package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/store"
)

// Enqueue adds it unless an item with the same key was ever enqueued,
// completed ones included. A zero NotBefore means due now.
func (s *Store) Enqueue(ctx context.Context, it store.OutboxItem) (bool, error) {
	return s.enqueue(ctx, s.pool, it)
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
	tag, err := db.Exec(ctx, `INSERT INTO outbox (key, kind, payload, not_before, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING`,
		it.Key, it.Kind, it.Payload, nb, now)
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", it.Key, err)
	}
	return tag.RowsAffected() == 1, nil
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

// claimSQL leases due items in one statement. Rows another replica is
// claiming at the same moment are skipped rather than waited for (SKIP
// LOCKED), and a row claimed and committed by another replica since this
// statement's snapshot is re-checked against the due condition when locked,
// so it drops out: no item is ever leased to two owners at once.
const claimSQL = `WITH due AS (
	SELECT id FROM outbox
	WHERE done_at IS NULL AND not_before <= $3 AND (owner IS NULL OR lease_until <= $3)
		AND ($5::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($5::text[]) AS p(prefix) WHERE starts_with(kind, p.prefix)))
	ORDER BY id
	LIMIT $4
	FOR UPDATE SKIP LOCKED
)
UPDATE outbox o SET owner = $1, lease_until = $2, attempts = o.attempts + 1
FROM due WHERE o.id = due.id
RETURNING o.id, o.key, o.kind, o.payload, o.attempts, o.not_before, o.last_error`

// claim leases due items; nil kinds means any kind.
func (s *Store) claim(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	if owner == "" {
		return nil, fmt.Errorf("claim: owner is required")
	}
	if n <= 0 {
		return nil, nil
	}
	// Every worker polls here; bounded, so that a poll stuck on a
	// connection to a vanished server fails and the next one dials anew.
	ctx, cancel := context.WithTimeout(ctx, s.netTimeout)
	defer cancel()
	now := s.now()
	rows, err := s.pool.Query(ctx, claimSQL, owner, now.Add(lease), now, n, kinds)
	if err != nil {
		return nil, fmt.Errorf("claim outbox items for %s: %w", owner, err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var it store.OutboxItem
		if err := rows.Scan(&it.ID, &it.Key, &it.Kind, &it.Payload, &it.Attempts, &it.NotBefore, &it.LastError); err != nil {
			return nil, fmt.Errorf("claim outbox items for %s: %w", owner, err)
		}
		it.NotBefore = utc(it.NotBefore)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim outbox items for %s: %w", owner, err)
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(out, func(a, b store.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Complete marks a claimed item done. The row stays (payload dropped) so
// its key keeps deduplicating.
func (s *Store) Complete(ctx context.Context, id int64, owner string) error {
	err := s.settle(ctx, id, owner, `UPDATE outbox SET done_at = $3, payload = NULL, owner = NULL, lease_until = NULL
		WHERE id = $1 AND owner = $2 AND lease_until > $3 AND done_at IS NULL`)
	if err != nil {
		return fmt.Errorf("complete outbox item %d: %w", id, err)
	}
	return nil
}

// Retry releases a claimed item to be claimed again from notBefore on.
func (s *Store) Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error {
	err := s.settle(ctx, id, owner, `UPDATE outbox SET owner = NULL, lease_until = NULL, not_before = $4, last_error = $5
		WHERE id = $1 AND owner = $2 AND lease_until > $3 AND done_at IS NULL`, notBefore, clean(errMsg))
	if err != nil {
		return fmt.Errorf("retry outbox item %d: %w", id, err)
	}
	return nil
}

// settle runs an update guarded by the lease (parameters $1 id, $2 owner,
// $3 now, then extra) and tells a lost lease from an unknown item. The
// update alone decides: rows are never deleted, so the existence check that
// follows a miss cannot be fooled by a concurrent change.
func (s *Store) settle(ctx context.Context, id int64, owner, update string, extra ...any) error {
	tag, err := s.pool.Exec(ctx, update, append([]any{id, owner, s.now()}, extra...)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	err = s.pool.QueryRow(ctx, "SELECT 1 FROM outbox WHERE id = $1", id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s does not hold the lease: %w", owner, store.ErrConflict)
}

// OutboxDepth counts items not yet completed, leased or not.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE done_at IS NULL").Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}

// PendingOutboxKeys lists the keys of items not yet completed whose key
// starts with prefix. It reads the pending rows only, which are few.
func (s *Store) PendingOutboxKeys(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT key FROM outbox WHERE done_at IS NULL AND left(key, length($1)) = $1 ORDER BY id", prefix)
	if err != nil {
		return nil, fmt.Errorf("pending outbox keys %q: %w", prefix, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pending outbox keys %q: %w", prefix, err)
	}
	return keys, nil
}
