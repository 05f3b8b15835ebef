package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/providers/opsgenie"
	"github.com/secops-bot/secops-bot/providers/pagerduty"
)

// pagingParts are the pieces paging adds to serve: the planner that turns
// finding changes into pages, and the service that sends them and follows
// them up.
type pagingParts struct {
	planner paging.Planner
	service *paging.Service
}

// newPaging builds paging from the configuration; nil when no provider is
// configured (the bot then mentions the configured rotations in Slack
// only).
func newPaging(cfg config.Config, st paging.Store, dir *org.Directory, users paging.SlackUsers, clk clock.Clock, log zerolog.Logger) (*pagingParts, error) {
	if cfg.Paging.Provider == "" {
		return nil, nil
	}
	var (
		pager   paging.Pager
		tracker paging.Tracker
		source  paging.OnCallSource
		name    string
	)
	switch cfg.Paging.Provider {
	case "pagerduty":
		teams := map[string]pagerduty.Team{}
		for _, t := range cfg.Paging.Teams {
			teams[t.Name] = pagerduty.Team{RoutingKey: t.RoutingKey, Schedule: t.Schedule, EscalationPolicy: t.EscalationPolicy}
		}
		c, err := pagerduty.New(pagerduty.Config{Token: cfg.Paging.PagerDuty.APIToken, Teams: teams, EventsURL: cfg.Paging.PagerDuty.EventsURL, APIURL: cfg.Paging.PagerDuty.APIURL, Clock: clk})
		if err != nil {
			return nil, fmt.Errorf("paging: %w", err)
		}
		pager, tracker, source, name = c, c, c, pagerduty.Name
	case "opsgenie":
		teams := map[string]opsgenie.Team{}
		for _, t := range cfg.Paging.Teams {
			teams[t.Name] = opsgenie.Team{Responder: t.OpsgenieTeam, Schedule: t.Schedule}
		}
		c, err := opsgenie.New(opsgenie.Config{APIKey: cfg.Paging.Opsgenie.APIKey, Teams: teams, APIURL: cfg.Paging.Opsgenie.APIURL, Clock: clk})
		if err != nil {
			return nil, fmt.Errorf("paging: %w", err)
		}
		pager, tracker, source, name = c, c, c, opsgenie.Name
	default:
		return nil, fmt.Errorf("paging.provider %q: use pagerduty or opsgenie", cfg.Paging.Provider)
	}
	sources := paging.Sources{source}
	if len(cfg.OnCall.Rotations) > 0 {
		sched, err := oncall.New(cfg.OnCall)
		if err != nil {
			return nil, fmt.Errorf("on_call: %w", err)
		}
		sources = append(sources, paging.FromRotations(sched))
	}
	svc := paging.NewService(st, paging.Options{
		Provider: name, Pager: pager, Tracker: tracker, OnCall: sources, SlackUsers: users,
		Clock: clk, Logger: log.With().Str("component", "paging").Logger(),
	})
	planner := paging.Planner{
		Policy: cfg.PagingPolicy(),
		OffHours: func(team string, at time.Time) bool {
			t, ok := dir.Team(team)
			if team == paging.SecOps || !ok {
				t = dir.SecOps()
			}
			return t.OffHours(at)
		},
		Links: func(f finding.Finding) []paging.Link {
			if u := blocks.ConsoleURL(f); u != "" {
				return []paging.Link{{Href: u, Text: "The resource in the AWS console"}}
			}
			return nil
		},
	}
	return &pagingParts{planner: planner, service: svc}, nil
}

// rotationsOnCall answers /secops oncall from the configured rotations
// when no paging provider is configured.
type rotationsOnCall struct {
	src   paging.OnCallSource
	users paging.SlackUsers
	clock clock.Clock
}

func (r rotationsOnCall) OnCall(ctx context.Context, team string) (paging.OnCall, error) {
	oc, err := r.src.OnCall(ctx, team, r.clock.Now())
	if err != nil {
		return oc, err
	}
	return paging.MatchSlack(ctx, oc, r.users)
}

// onCallSource is what answers /secops oncall: the paging service, else
// the configured rotations, else nothing.
func onCallSource(cfg config.Config, pg *pagingParts, users paging.SlackUsers, clk clock.Clock) (interface {
	OnCall(ctx context.Context, team string) (paging.OnCall, error)
}, error) {
	if pg != nil {
		return pg.service, nil
	}
	if len(cfg.OnCall.Rotations) == 0 {
		return nil, nil
	}
	sched, err := oncall.New(cfg.OnCall)
	if err != nil {
		return nil, fmt.Errorf("on_call: %w", err)
	}
	return rotationsOnCall{src: paging.FromRotations(sched), users: users, clock: clk}, nil
}
