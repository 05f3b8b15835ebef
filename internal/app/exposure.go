package app

import (
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/tickets"
	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/datareads"
	"github.com/secops-bot/secops-bot/store"
)

// serveReads builds the review of who read an exposed resource: over the
// reads the feed keeps, and, with AWS clients, the trails, access logs and
// key events of the resource's account. Its answers are delivered by
// planners (Slack, tickets); a closed review reaches the ticket.
func serveReads(cfg config.Config, st store.Store, dir *org.Directory, clients *awsclient.Clients, planners delivery.Combined, clk clock.Clock, log zerolog.Logger) *exposure.Service {
	var src exposure.Sources
	if clients != nil {
		src = datareads.New(clients, clk, datareads.Options{LogBuckets: cfg.AWS.AccessLogBuckets})
	}
	opts := exposure.Options{
		Delivery: append(delivery.Combined(nil), planners...),
		Clock:    clk, Logger: log.With().Str("component", "exposure").Logger(),
	}
	if cfg.Jira.Enabled {
		opts.Tickets = tickets.NewPlanner(TicketConfig(cfg))
	}
	return exposure.NewService(st, exposure.NewReviewer(st, dir, src), opts)
}
