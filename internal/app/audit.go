package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ops/audit"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/providers/aws/auditanchor"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/postgres"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// ErrAuditBroken is returned by AuditVerify when the chain does not check
// out.
type ErrAuditBroken struct {
	Seq      int64
	Problems []string
}

func (e ErrAuditBroken) Error() string {
	if len(e.Problems) == 0 {
		return fmt.Sprintf("audit log broken at record %d: its hash or its link to the record before does not match (edited, removed or inserted)", e.Seq)
	}
	return "audit log broken: " + strings.Join(e.Problems, "; ")
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
	sealer, err := auditSealer(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.Store.Driver {
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Store.DSN, postgres.Options{Clock: clk, Logger: log, NetworkTimeout: cfg.Store.NetworkTimeout, AuditSealer: sealer})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store (store.dsn / SECOPS_STORE_DSN): %w", err)
		}
		return st, nil
	default:
		st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{Clock: clk, Logger: log, AuditSealer: sealer})
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

// AuditVerifyOptions say what the log is checked against besides its own
// links.
type AuditVerifyOptions struct {
	// Anchor is a head people kept (the Slack anchor message's N:HASH);
	// the S3 anchors of audit.s3_bucket are read as well.
	Anchor *audit.Anchor
	// AWS overrides the AWS configuration (tests).
	AWS *aws.Config
}

// AuditVerify checks every link of the audit log's chain (with the keys of
// audit.keys), that no unkeyed record follows a keyed one, and the end of
// the log against the newest anchor. Anything wrong is an ErrAuditBroken
// listing the problems.
func AuditVerify(ctx context.Context, cfg config.Config, log zerolog.Logger, opts AuditVerifyOptions, w io.Writer) error {
	st, err := openExistingStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var sources []audit.Source
	if cfg.Audit.S3Bucket != "" {
		base, err := loadAWS(ctx, cfg, opts.AWS)
		if err != nil {
			return err
		}
		sources = append(sources, anchorStore(cfg, *base, nil, log))
	}
	rep, err := audit.Verify(ctx, st, sources, opts.Anchor)
	if err != nil {
		return fmt.Errorf("verify audit log: %w", err)
	}
	if !rep.OK() {
		return ErrAuditBroken{Seq: rep.Broken, Problems: rep.Problems}
	}
	if rep.Records == 0 {
		fmt.Fprintln(w, "audit log is empty")
		return nil
	}
	fmt.Fprintf(w, "audit log intact: %d records, head %d:%s\n", rep.Records, rep.Records, rep.HeadHash)
	switch {
	case rep.Anchor != nil:
		where := rep.Anchor.Where
		if where == "" {
			where = "the given anchor"
		}
		fmt.Fprintf(w, "the log matches %s (record %d)\n", where, rep.Anchor.Seq)
	default:
		fmt.Fprintln(w, "no anchor was checked: records cut from the end would not show (configure audit.s3_bucket or audit.slack_channel, or pass --anchor N:HASH)")
	}
	if rep.Unkeyed > 0 {
		fmt.Fprintf(w, "%d records were sealed without a key (before audit keys were configured): their links check out, but anyone with the database could have rewritten them consistently\n", rep.Unkeyed)
	}
	return nil
}

// anchorStore is the S3 anchor store of the configuration.
func anchorStore(cfg config.Config, base aws.Config, clk clock.Clock, log zerolog.Logger) *auditanchor.Store {
	return auditanchor.New(base, auditanchor.Options{
		Bucket: cfg.Audit.S3Bucket, Prefix: cfg.Audit.S3Prefix, Retention: cfg.Audit.S3Retention,
		Clock: clk, Logger: log.With().Str("component", "audit-anchor").Logger(),
	})
}

// auditSealer is the chain's sealer: keyed when audit keys are configured.
func auditSealer(cfg config.Config) (store.AuditSealer, error) {
	if cfg.Audit.Keys == "" {
		return nil, nil
	}
	keys, err := audit.ParseKeys(cfg.Audit.Keys)
	if err != nil {
		return nil, fmt.Errorf("audit.keys: %w", err)
	}
	return audit.NewSealer(keys), nil
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
