package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// queryer is what reads need from either a pool or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// GetFinding returns the finding with id, or store.ErrNotFound.
func (s *Store) GetFinding(ctx context.Context, id string) (finding.Finding, error) {
	f, err := getFinding(ctx, s.r, "id", id)
	if err != nil {
		return finding.Finding{}, fmt.Errorf("get finding %s: %w", id, err)
	}
	return f, nil
}

// GetFindingByKey returns the finding with key, or store.ErrNotFound.
func (s *Store) GetFindingByKey(ctx context.Context, key string) (finding.Finding, error) {
	f, err := getFinding(ctx, s.r, "key", key)
	if err != nil {
		return finding.Finding{}, fmt.Errorf("get finding by key %s: %w", key, err)
	}
	return f, nil
}

func getFinding(ctx context.Context, q queryer, column, value string) (finding.Finding, error) {
	var doc []byte
	err := q.QueryRowContext(ctx, "SELECT doc FROM findings WHERE "+column+" = ?", value).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return finding.Finding{}, store.ErrNotFound
	}
	if err != nil {
		return finding.Finding{}, err
	}
	return decodeFinding(doc)
}

func decodeFinding(doc []byte) (finding.Finding, error) {
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
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.putFinding(ctx, tx, f); err != nil {
			return err
		}
		return s.appendFindingEvent(ctx, tx, f.ID, ev)
	})
	if err != nil {
		return fmt.Errorf("upsert finding %s: %w", f.ID, err)
	}
	return nil
}

func (s *Store) putFinding(ctx context.Context, tx *sql.Tx, f finding.Finding) error {
	doc, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode finding: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO findings (id, key, status, team, rule, first_seen, last_seen, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET key = excluded.key, status = excluded.status, team = excluded.team,
			rule = excluded.rule, first_seen = excluded.first_seen, last_seen = excluded.last_seen, doc = excluded.doc`,
		f.ID, f.Key, string(f.Status), f.Team, f.Rule, toMicros(f.FirstSeen), toMicros(f.LastSeen), string(doc))
	if isUniqueViolation(err) {
		return fmt.Errorf("key %s belongs to another finding: %w", f.Key, store.ErrConflict)
	}
	return err
}

func (s *Store) appendFindingEvent(ctx context.Context, tx *sql.Tx, id string, ev store.FindingEvent) error {
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
	_, err := tx.ExecContext(ctx, "INSERT INTO finding_events (finding_id, t, status, actor, note) VALUES (?, ?, ?, ?, ?)",
		id, toMicros(t), string(ev.Status), ev.Actor, ev.Note)
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	return nil
}

// UpdateFinding applies fn to the stored finding inside an IMMEDIATE
// transaction: the write lock is taken before the read, so concurrent
// updates run one after another and none is lost. fn must not call the
// Store's write methods (the writer connection is held while it runs).
func (s *Store) UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error) {
	var out finding.Finding
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		f, err := getFinding(ctx, tx, "id", id)
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
		if err := s.putFinding(ctx, tx, f); err != nil {
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
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(ff.Statuses)-1)+")")
		for _, st := range ff.Statuses {
			args = append(args, string(st))
		}
	}
	if ff.Team != "" {
		where = append(where, "team = ?")
		args = append(args, ff.Team)
	}
	if ff.Rule != "" {
		where = append(where, "rule = ?")
		args = append(args, ff.Rule)
	}
	if !ff.Since.IsZero() {
		where = append(where, "first_seen >= ?")
		args = append(args, toMicros(ff.Since))
	}
	query := "SELECT doc FROM findings"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY first_seen DESC, id DESC"
	if ff.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, ff.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
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
		f, err := decodeFinding(doc)
		if err != nil {
			return nil, fmt.Errorf("list findings: %w", err)
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
	rows, err := s.r.QueryContext(ctx, "SELECT t, status, actor, note FROM finding_events WHERE finding_id = ? ORDER BY id", id)
	if err != nil {
		return nil, fmt.Errorf("finding history %s: %w", id, err)
	}
	defer rows.Close()
	var out []store.FindingEvent
	for rows.Next() {
		ev := store.FindingEvent{FindingID: id}
		var t int64
		var status string
		if err := rows.Scan(&t, &status, &ev.Actor, &ev.Note); err != nil {
			return nil, fmt.Errorf("finding history %s: %w", id, err)
		}
		ev.Time = fromMicros(t)
		ev.Status = finding.Status(status)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding history %s: %w", id, err)
	}
	return out, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
