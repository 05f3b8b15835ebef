package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/backfill"
	"github.com/secops-bot/secops-bot/providers/aws/grant"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/respond/breakglass/stepup"
	"github.com/secops-bot/secops-bot/store"
)

// sessionTrail reads a break-glass session's calls from CloudTrail's
// LookupEvents with the account's member role, in the bot's region and in
// us-east-1, where the calls to global services (IAM, STS) are logged.
type sessionTrail struct {
	clients *awsclient.Clients
	regions []string
	lookups *backfill.Backfiller
}

func (t sessionTrail) ByAccessKey(ctx context.Context, account, accessKeyID string, since, until time.Time) ([]store.Event, error) {
	cfg, err := t.clients.For(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", account, err)
	}
	var out []store.Event
	var errs []error
	for _, region := range t.regions {
		recs, err := t.lookups.ByAccessKey(ctx, cfg, account, region, accessKeyID, since, until)
		if err != nil {
			errs = append(errs, err)
		}
		for i := range recs {
			out = append(out, pipeline.HistoryEvent(&recs[i]))
		}
	}
	return out, errors.Join(errs...)
}

// trailRegions are the regions a session's calls are looked up in: the
// bot's (aws.region, else that of its AWS configuration) and us-east-1.
func trailRegions(configured, base string) []string {
	r := configured
	if r == "" {
		r = base
	}
	if r == "" || r == "us-east-1" {
		return []string{"us-east-1"}
	}
	return []string{r, "us-east-1"}
}

// serveBreakGlass builds the break-glass service on the bot's Slack side
// and the AWS grant provider, and registers its commands, buttons and
// modals. Grants and revocations act through write sessions of each
// account's member write role (the member role when none is configured);
// the clients are built here when aws.enabled is off. The
// returned service's Timers lane runs the timers (reminders, expiry,
// cleanup).
func serveBreakGlass(ctx context.Context, cfg config.Config, st Store, az *authz.Authorizer, b *bot.Bot,
	clients *awsclient.Clients, base aws.Config, clk clock.Clock, log zerolog.Logger) (*breakglass.Service, error) {
	if clients == nil {
		var err error
		if clients, err = awsClients(ctx, cfg, base, clk); err != nil {
			return nil, fmt.Errorf("break-glass: %w", err)
		}
		warnAWS(clients, log)
	}
	slackSide := b.BreakGlassSlack(bot.BreakGlassOptions{SecOpsChannel: cfg.Slack.SecOpsChannel, Approvers: cfg.Roles.Approvers})
	provider := grant.New(clients, clk, grant.Options{
		FederationURL:         cfg.BreakGlass.FederationURL,
		Destination:           cfg.BreakGlass.ConsoleDestination,
		PortalURL:             cfg.BreakGlass.PortalURL,
		IdentityCenterAccount: cfg.BreakGlass.IdentityCenterAccount,
		Logger:                log.With().Str("component", "breakglass").Logger(),
	})
	var su *stepup.Service
	if cfg.StepUp.Keys != "" {
		keys, err := stepup.ParseKeys(cfg.StepUp.Keys)
		if err != nil {
			return nil, fmt.Errorf("step_up.keys: %w", err)
		}
		su = stepup.New(st, st, keys, clk, "secops-bot")
		b.EnableStepUp(su)
	}
	deps := breakglass.Deps{
		Store:   st,
		Auth:    az,
		Notify:  slackSide,
		Granter: provider,
		Threads: slackSide,
		OnCall:  slackSide,
		Emails:  slackSide,
		Clock:   clk,
		Log:     log.With().Str("component", "breakglass").Logger(),
	}
	if su != nil {
		deps.StepUp = su
	}
	deps.Trail = sessionTrail{clients: clients, regions: trailRegions(cfg.AWS.Region, base.Region), lookups: backfill.New(backfill.Options{Clock: clk, Logger: log.With().Str("component", "breakglass").Logger()})}
	svc, err := breakglass.New(cfg.BreakGlassOptions(), deps)
	if err != nil {
		return nil, fmt.Errorf("break-glass: %w", err)
	}
	b.EnableBreakGlass(svc, slackSide)
	log.Info().Int("accounts", len(cfg.BreakGlass.Accounts)).Msg("break-glass access enabled")
	return svc, nil
}
