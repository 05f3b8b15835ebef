package app

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/ops/canary"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	awscanary "github.com/secops-bot/secops-bot/providers/aws/canary"
)

// canaryCaller makes the canary's call with the AWS tagger.
type canaryCaller struct{ t *awscanary.Tagger }

func (c canaryCaller) Call(ctx context.Context, account string, at time.Time) (canary.Call, error) {
	tg, err := c.t.Tag(ctx, account, at)
	if err != nil {
		return canary.Call{}, err
	}
	return canary.Call{
		Account: tg.Account, PrincipalARN: tg.ResourceARN, EventName: tg.EventName, CallerARN: tg.CallerARN, At: at,
	}, nil
}

// newCanary returns the canary when canary.enabled, nil otherwise. It
// checks often enough to judge a canary soon after its timeout: a
// twentieth of it, between 50ms (tests) and 10s.
func newCanary(cfg config.Config, st Store, p *pipeline.Pipeline, awsBase *aws.Config, clients *awsclient.Clients, owner string, clk clock.Clock, log zerolog.Logger) *canary.Canary {
	if !cfg.Canary.Enabled || awsBase == nil {
		return nil
	}
	var accounts awscanary.ConfigSource
	if clients != nil {
		accounts = clients
	}
	poll := min(max(cfg.Canary.Timeout/20, 50*time.Millisecond), 10*time.Second)
	log = log.With().Str("component", "canary").Logger()
	log.Info().Dur("interval", cfg.Canary.Interval).Dur("timeout", cfg.Canary.Timeout).Strs("accounts", cfg.Canary.Accounts).Msg("canary enabled")
	return canary.New(st, canaryCaller{awscanary.New(*awsBase, accounts)}, p, canary.Options{
		Owner: owner, Interval: cfg.Canary.Interval, Timeout: cfg.Canary.Timeout, Accounts: cfg.Canary.Accounts,
		Poll: poll, Clock: clk, Logger: log,
	})
}
