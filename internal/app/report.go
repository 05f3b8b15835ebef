package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/report"
	"github.com/secops-bot/secops-bot/store"
)

// Report prints time to detect, acknowledge and resolve per team and rule
// for findings first seen within since.
func Report(ctx context.Context, cfg config.Config, log zerolog.Logger, since time.Duration, format string, w io.Writer) error {
	st, err := openStore(ctx, cfg, nil, log)
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
	return report.WriteText(w, r)
}
