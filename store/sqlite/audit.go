package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// AppendAudit assigns r the next sequence number and links it to the last
// record's hash. It runs in a write transaction on the single writer
// connection, so two appends can never share a predecessor (no forks).
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond) // as stored and hashed
	if len(r.Detail) == 0 {
		r.Detail = nil
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var last int64
		var prev string
		err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last, &prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read chain head: %w", err)
		}
		r.Seq = last + 1
		r.PrevHash = prev
		r.Hash = s.sealer.Seal(r)
		_, err = tx.ExecContext(ctx, `INSERT INTO audit (seq, t, actor, action, target, result, reason, detail, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Seq, toMicros(r.Time), r.Actor, r.Action, r.Target, r.Result, r.Reason, r.Detail, r.PrevHash, r.Hash)
		return err
	})
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("append audit %s: %w", r.Action, err)
	}
	return r, nil
}

const auditColumns = "seq, t, actor, action, target, result, reason, detail, prev_hash, hash"

func scanAudit(rows *sql.Rows) (store.AuditRecord, error) {
	var r store.AuditRecord
	var t int64
	err := rows.Scan(&r.Seq, &t, &r.Actor, &r.Action, &r.Target, &r.Result, &r.Reason, &r.Detail, &r.PrevHash, &r.Hash)
	r.Time = fromMicros(t)
	if len(r.Detail) == 0 {
		r.Detail = nil
	}
	return r, err
}

// ListAudit returns records newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var where []string
	var args []any
	if f.ActionPrefix != "" {
		// substr and length both count characters, so this is an exact
		// prefix test for any text.
		where = append(where, "substr(action, 1, length(?)) = ?")
		args = append(args, f.ActionPrefix, f.ActionPrefix)
	}
	if !f.Since.IsZero() {
		where = append(where, "t >= ?")
		args = append(args, toMicros(f.Since))
	}
	query := "SELECT " + auditColumns + " FROM audit"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq DESC"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// VerifyAudit walks the chain from the first record and returns the
// sequence number of the first record that does not check out: its hash does
// not match its content, it does not link to its predecessor's hash, or a
// record before it is missing. It returns 0 when the chain is intact.
// Records cut from the end leave a shorter valid chain; catching that needs
// the head hash kept elsewhere (ListAudit with Limit 1 gives it).
func (s *Store) VerifyAudit(ctx context.Context) (brokenSeq int64, err error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq")
	if err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	defer rows.Close()
	var prev store.AuditRecord // zero: the first record links to ""
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return 0, fmt.Errorf("verify audit: %w", err)
		}
		if r.Seq != prev.Seq+1 || r.PrevHash != prev.Hash || !s.sealer.Valid(r) {
			return r.Seq, nil
		}
		prev = r
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	return 0, nil
}
