package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// GetFinding returns the finding with id, or store.ErrNotFound.
func (s *Store) GetFinding(ctx context.Context, id string) (finding.Finding, error) {
	f, err := getFinding(ctx, s.pool, "SELECT doc FROM findings WHERE id = $1", id)
	if err != nil {
		return finding.Finding{}, fmt.Errorf("get finding %s: %w", id, err)
	}
	return f, nil
}

// GetFindingByKey returns the finding with key, or store.ErrNotFound.
func (s *Store) GetFindingByKey(ctx context.Context, key string) (finding.Finding, error) {
	f, err := getFinding(ctx, s.pool, "SELECT doc FROM findings WHERE key = $1", key)
	if err != nil {
		return finding.Finding{}, fmt.Errorf("get finding by key %s: %w", key, err)
	}
	return f, nil
}

func getFinding(ctx context.Context, q querier, query, arg string) (finding.Finding, error) {
	var doc []byte
	err := q.QueryRow(ctx, query, arg).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return finding.Finding{}, store.ErrNotFound
	}
	if err != nil {
		return finding.Finding{}, err
	}
	var f finding.Finding
	if err := json.Unmarshal(doc, &f); err != nil {
		return finding.Finding{}, fmt.Errorf("decode stored finding: %w", err)
	}
	return f, nil
}

// UpsertFinding creates or replaces f and appends ev to its history in one
// transaction. A different finding already holding f.Key is a conflict.
func (s *Store) UpsertFinding(ctx context.Context, f finding.Finding, ev store.FindingEvent) error {
	if f.ID == "" || f.Key == "" {
		return fmt.Errorf("upsert finding: id and key are required")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := putFinding(ctx, tx, f); err != nil {
			return err
		}
		return s.appendFindingEvent(ctx, tx, f.ID, ev)
	})
	if err != nil {
		return fmt.Errorf("upsert finding %s: %w", f.ID, err)
	}
	return nil
}

func putFinding(ctx context.Context, tx pgx.Tx, f finding.Finding) error {
	doc, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode finding: %w", err)
	}
	// The document goes as text: a json parameter given []byte would be
	// taken for a value to encode, not for JSON already encoded.
	_, err = tx.Exec(ctx, `INSERT INTO findings (id, key, status, team, rule, first_seen, last_seen, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::json)
		ON CONFLICT (id) DO UPDATE SET key = excluded.key, status = excluded.status, team = excluded.team,
			rule = excluded.rule, first_seen = excluded.first_seen, last_seen = excluded.last_seen, doc = excluded.doc`,
		f.ID, f.Key, string(f.Status), f.Team, f.Rule, f.FirstSeen, f.LastSeen, string(doc))
	if isCode(err, codeUniqueViolation) {
		return fmt.Errorf("key %s belongs to another finding: %w", f.Key, store.ErrConflict)
	}
	return err
}

func (s *Store) appendFindingEvent(ctx context.Context, tx pgx.Tx, id string, ev store.FindingEvent) error {
	for _, it := range ev.Outbox {
		if _, err := s.enqueue(ctx, tx, it); err != nil {
			return err
		}
	}
	if ev.Status == "" {
		return nil
	}
	t := ev.Time
	if t.IsZero() {
		t = s.now()
	}
	_, err := tx.Exec(ctx, "INSERT INTO finding_events (finding_id, t, status, actor, note) VALUES ($1, $2, $3, $4, $5)",
		id, t, string(ev.Status), ev.Actor, ev.Note)
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	return nil
}

// UpdateFinding applies fn to the stored finding in one transaction that
// holds the finding's row lock from the read to the commit, so concurrent
// updates, from this process or another replica, run one after another and
// none is lost. fn runs while the lock is held and should be quick.
func (s *Store) UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error) {
	var out finding.Finding
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, err := getFinding(ctx, tx, "SELECT doc FROM findings WHERE id = $1 FOR UPDATE", id)
		if err != nil {
			return err
		}
		ev, err := fn(&f)
		if err != nil {
			return err
		}
		if f.ID != id {
			return fmt.Errorf("update must not change the finding id (to %q)", f.ID)
		}
		if err := putFinding(ctx, tx, f); err != nil {
			return err
		}
		if err := s.appendFindingEvent(ctx, tx, id, ev); err != nil {
			return err
		}
		out = f
		return nil
	})
	if err != nil {
		return finding.Finding{}, fmt.Errorf("update finding %s: %w", id, err)
	}
	return out, nil
}

// ListFindings returns findings newest first by first sighting.
func (s *Store) ListFindings(ctx context.Context, ff store.FindingFilter) ([]finding.Finding, error) {
	var where []string
	var args []any
	if len(ff.Statuses) > 0 {
		statuses := make([]string, len(ff.Statuses))
		for i, st := range ff.Statuses {
			statuses[i] = string(st)
		}
		args = append(args, statuses)
		where = append(where, fmt.Sprintf("status = ANY($%d::text[])", len(args)))
	}
	if ff.Team != "" {
		args = append(args, ff.Team)
		where = append(where, fmt.Sprintf("team = $%d", len(args)))
	}
	if ff.Rule != "" {
		args = append(args, ff.Rule)
		where = append(where, fmt.Sprintf("rule = $%d", len(args)))
	}
	if !ff.Since.IsZero() {
		args = append(args, ff.Since)
		where = append(where, fmt.Sprintf("first_seen >= $%d", len(args)))
	}
	query := "SELECT doc FROM findings"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY first_seen DESC, id DESC"
	if ff.Limit > 0 {
		args = append(args, ff.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	defer rows.Close()
	var out []finding.Finding
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
		}
		var f finding.Finding
		if err := json.Unmarshal(doc, &f); err != nil {
			return nil, fmt.Errorf("list findings: decode stored finding: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	return out, nil
}

// FindingHistory returns the finding's status history, oldest first. An
// unknown finding has no history (and no error).
func (s *Store) FindingHistory(ctx context.Context, id string) ([]store.FindingEvent, error) {
	rows, err := s.pool.Query(ctx, "SELECT t, status, actor, note FROM finding_events WHERE finding_id = $1 ORDER BY id", id)
	if err != nil {
		return nil, fmt.Errorf("finding history %s: %w", id, err)
	}
	defer rows.Close()
	var out []store.FindingEvent
	for rows.Next() {
		ev := store.FindingEvent{FindingID: id}
		var status string
		if err := rows.Scan(&ev.Time, &status, &ev.Actor, &ev.Note); err != nil {
			return nil, fmt.Errorf("finding history %s: %w", id, err)
		}
		ev.Time = utc(ev.Time)
		ev.Status = finding.Status(status)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding history %s: %w", id, err)
	}
	return out, nil
}
