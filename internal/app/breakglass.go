package app

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/breakglass"
	"github.com/secops-bot/secops-bot/breakglass/stepup"
	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/grant"
)

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
	svc, err := breakglass.New(cfg.BreakGlassOptions(), deps)
	if err != nil {
		return nil, fmt.Errorf("break-glass: %w", err)
	}
	b.EnableBreakGlass(svc, slackSide)
	log.Info().Int("accounts", len(cfg.BreakGlass.Accounts)).Msg("break-glass access enabled")
	return svc, nil
}
