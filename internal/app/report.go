package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/ops/report"
	"github.com/secops-bot/secops-bot/store"
)

// Report prints time to detect, acknowledge and resolve per team and rule
// for findings first seen within since.
func Report(ctx context.Context, cfg config.Config, log zerolog.Logger, since time.Duration, format string, w io.Writer) error {
	st, err := openExistingStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	from := time.Now().Add(-since)
	fs, err := st.ListFindings(ctx, store.FindingFilter{Since: from})
	if err != nil {
		return fmt.Errorf("list findings: %w", err)
	}
	r := report.Compute(fs, from)
	if format == "csv" {
		return report.WriteCSV(w, r)
	}
	if err := report.WriteText(w, r); err != nil {
		return err
	}
	if len(fs) == 0 {
		_, err = fmt.Fprintf(w, "\nThe store (%s) holds no findings first seen in this window. Findings are stored by serve; replay keeps nothing, it runs in memory.\n", storeName(cfg))
	}
	return err
}

// storeName names the store for people without printing a PostgreSQL
// DSN, which may carry a password.
func storeName(cfg config.Config) string {
	if cfg.Store.Driver == "postgres" {
		return "PostgreSQL, store.dsn"
	}
	return cfg.Store.DSN
}
