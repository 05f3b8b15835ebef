package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/store"
)

// AppendAudit assigns r the next sequence number and links it to the last
// record's hash. The transaction locks the chain-head row first, so appends
// from every replica take turns: two can never read the same head and fork
// the chain.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond) // as stored and hashed
	if len(r.Detail) == 0 {
		r.Detail = nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var last int64
		var prev string
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head FOR UPDATE").Scan(&last, &prev); err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		r.Seq = last + 1
		r.PrevHash = prev
		r.Hash = s.sealer.Seal(r)
		if _, err := tx.Exec(ctx, `INSERT INTO audit (seq, t, actor, action, target, result, reason, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.Seq, r.Time, r.Actor, r.Action, r.Target, r.Result, r.Reason, r.Detail, r.PrevHash, r.Hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE audit_head SET seq = $1, hash = $2", r.Seq, r.Hash)
		return err
	})
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("append audit %s: %w", r.Action, err)
	}
	return r, nil
}

const auditColumns = "seq, t, actor, action, target, result, reason, detail, prev_hash, hash"

func scanAudit(rows pgx.Rows) (store.AuditRecord, error) {
	var r store.AuditRecord
	err := rows.Scan(&r.Seq, &r.Time, &r.Actor, &r.Action, &r.Target, &r.Result, &r.Reason, &r.Detail, &r.PrevHash, &r.Hash)
	r.Time = utc(r.Time)
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
		args = append(args, f.ActionPrefix)
		where = append(where, fmt.Sprintf("starts_with(action, $%d)", len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since)
		where = append(where, fmt.Sprintf("t >= $%d", len(args)))
	}
	query := "SELECT " + auditColumns + " FROM audit"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, query, args...)
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
// record before it is missing. Unlike the SQLite store it also compares the
// end of the chain with the recorded head, so records cut from the end are
// caught too (the first missing one is reported). It returns 0 when the
// chain is intact. The walk runs in one repeatable-read snapshot, so appends
// made meanwhile by other replicas do not disturb it.
func (s *Store) VerifyAudit(ctx context.Context) (brokenSeq int64, err error) {
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		var prev store.AuditRecord // zero: the first record links to ""
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				return err
			}
			if r.Seq != prev.Seq+1 || r.PrevHash != prev.Hash || !s.sealer.Valid(r) {
				brokenSeq = r.Seq
				return nil
			}
			prev = r
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var head store.AuditRecord
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head").Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		switch {
		case head.Seq > prev.Seq:
			brokenSeq = prev.Seq + 1 // cut from the end
		case head.Seq < prev.Seq:
			brokenSeq = head.Seq + 1 // added past the head, not by AppendAudit
		case head.Hash != prev.Hash:
			brokenSeq = prev.Seq // the last record was replaced
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	return brokenSeq, nil
}
