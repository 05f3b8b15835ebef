package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/backfill"
	"github.com/secops-bot/secops-bot/store"
)

// historySink stores events in history only: backfilled events seed
// baselines and resource history; they do not raise findings about the
// past.
type historySink struct {
	st    Store
	clock clock.Clock
	n     int
}

func (h *historySink) Ingest(ctx context.Context, b ingest.Batch) error {
	for _, p := range b.Problems {
		if err := h.st.Quarantine(ctx, store.Quarantined{Time: h.clock.Now(), Source: p.Source, Line: p.Line, Reason: p.Reason, Raw: p.Raw}); err != nil {
			return err
		}
	}
	evs := make([]store.Event, len(b.Records))
	for i := range b.Records {
		evs[i] = pipeline.HistoryEvent(&b.Records[i])
	}
	isNew, err := h.st.AddEvents(ctx, evs)
	if err != nil {
		return err
	}
	for _, n := range isNew {
		if n {
			h.n++
		}
	}
	return nil
}

// BackfillOptions select what to backfill.
type BackfillOptions struct {
	Since    time.Duration
	Accounts []string // default: every configured account
	Regions  []string // default: aws.region
	Out      io.Writer
}

// Backfill seeds history from CloudTrail LookupEvents in every account and
// region, at CloudTrail's 2 requests per second per account and region.
func Backfill(ctx context.Context, cfg config.Config, log zerolog.Logger, opts BackfillOptions) error {
	base, err := loadAWS(ctx, cfg, nil)
	if err != nil {
		return err
	}
	// Credentials are checked before anything is created, so a first try
	// without them leaves no empty database behind.
	if err := checkCredentials(ctx, *base); err != nil {
		return err
	}
	clients, err := awsClients(ctx, cfg, *base, clock.Real{})
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, nil, log)
	if err != nil {
		return err
	}
	defer st.Close()
	accounts := opts.Accounts
	if len(accounts) == 0 {
		for _, a := range cfg.Accounts {
			accounts = append(accounts, a.ID)
		}
	}
	regions := opts.Regions
	if len(regions) == 0 {
		regions = []string{base.Region}
	}
	since := time.Now().Add(-opts.Since)
	sink := &historySink{st: st, clock: clock.Real{}}
	for _, acct := range accounts {
		acfg, err := clients.For(ctx, acct)
		if err != nil {
			// The error names the account already.
			return err
		}
		for _, region := range regions {
			acfg.Region = region
			before := sink.n
			err := backfill.New(backfill.Options{Logger: log}).Backfill(ctx, acfg, acct, region, since, sink, func(n int, at time.Time) {
				fmt.Fprintf(opts.Out, "\r%s %s: %d events, back to %s", acct, region, n, at.UTC().Format(time.RFC3339))
			})
			fmt.Fprintln(opts.Out)
			if err != nil {
				return fmt.Errorf("backfill %s %s: %w", acct, region, err)
			}
			fmt.Fprintf(opts.Out, "%s %s: %d new events stored\n", acct, region, sink.n-before)
		}
	}
	return nil
}

// errNoCredentials says what to set when the AWS credential chain finds
// nothing.
var errNoCredentials = errors.New("no AWS credentials found: set AWS_PROFILE (with a profile in ~/.aws/config), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance, container or web-identity role is available")

// checkCredentials asks the credential chain for credentials once, so that a
// command that needs AWS fails first with what to set rather than later
// with an SDK message about a request it could not sign.
func checkCredentials(ctx context.Context, c aws.Config) error {
	if c.Credentials == nil {
		return errNoCredentials
	}
	if _, err := c.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("%w (%v)", errNoCredentials, err)
	}
	return nil
}
