package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/postgres"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// ErrAuditBroken is returned by AuditVerify when the chain does not check
// out.
type ErrAuditBroken struct{ Seq int64 }

func (e ErrAuditBroken) Error() string {
	return fmt.Sprintf("audit log broken at record %d: its hash or its link to the record before does not match (edited, removed or inserted)", e.Seq)
}

// Store is the store as the commands use it: every store operation plus
// the audit chain check, for SQLite and PostgreSQL alike.
type Store interface {
	store.Store
	VerifyAudit(ctx context.Context) (brokenSeq int64, err error)
}

// openStore opens the configured store: SQLite (a file) or PostgreSQL (a
// DSN, usually from SECOPS_STORE_DSN), migrated to the current schema.
func openStore(ctx context.Context, cfg config.Config, clk clock.Clock, log zerolog.Logger) (Store, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	switch cfg.Store.Driver {
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Store.DSN, postgres.Options{Clock: clk, Logger: log, NetworkTimeout: cfg.Store.NetworkTimeout})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store (store.dsn / SECOPS_STORE_DSN): %w", err)
		}
		return st, nil
	default:
		st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{Clock: clk, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open SQLite store %s: %w", cfg.Store.DSN, err)
		}
		return st, nil
	}
}

// errNoDatabase is what the commands that only read the store (report,
// audit) say when there is nothing to read, instead of creating an empty
// database and reporting zeros.
func errNoDatabase(path string) error {
	return fmt.Errorf("no database at %s (store.dsn): serve and backfill create and fill it; replay keeps nothing, it runs in memory", path)
}

// openExistingStore opens the store for a command that only reads it: a
// SQLite file that does not exist is an error, not a new empty database.
func openExistingStore(ctx context.Context, cfg config.Config, log zerolog.Logger) (Store, error) {
	if cfg.Store.Driver != "postgres" {
		if _, err := os.Stat(cfg.Store.DSN); errors.Is(err, fs.ErrNotExist) {
			return nil, errNoDatabase(cfg.Store.DSN)
		}
	}
	return openStore(ctx, cfg, nil, log)
}

// AuditVerify checks the audit log's hash chain and says how many records
// it covers; a broken chain is an ErrAuditBroken naming the first bad
// record.
func AuditVerify(ctx context.Context, cfg config.Config, log zerolog.Logger, w io.Writer) error {
	st, err := openExistingStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	bad, err := st.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	if bad != 0 {
		return ErrAuditBroken{Seq: bad}
	}
	head, err := st.ListAudit(ctx, store.AuditFilter{Limit: 1})
	if err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	if len(head) == 0 {
		fmt.Fprintln(w, "audit log is empty")
		return nil
	}
	fmt.Fprintf(w, "audit log intact: %d records, head %s (keep this hash elsewhere to detect records cut from the end)\n", head[0].Seq, head[0].Hash)
	return nil
}

// auditLine is one exported record, for a SIEM.
type auditLine struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	Result   string          `json:"result"`
	Reason   string          `json:"reason,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// AuditExport writes audit records since a time as JSON Lines, oldest
// first.
func AuditExport(ctx context.Context, cfg config.Config, log zerolog.Logger, since time.Time, w io.Writer) error {
	st, err := openExistingStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{Since: since})
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	enc := json.NewEncoder(w)
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		line := auditLine{Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action, Target: r.Target, Result: r.Result, Reason: r.Reason, PrevHash: r.PrevHash, Hash: r.Hash}
		if json.Valid(r.Detail) {
			line.Detail = r.Detail
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("write audit record %d: %w", r.Seq, err)
		}
	}
	return nil
}
