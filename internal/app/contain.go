package app

import (
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/containment"
	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/oncall"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/outbox"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/providers/aws/contain"
	"github.com/secops-bot/secops-bot/store"
)

// playbookPlanner starts the playbook of every open high or critical
// finding: the item waits in the outbox until the finding's Slack message
// exists, so the checklist lands in its thread. The key is per finding, so
// a finding starts at most once whatever changes follow.
type playbookPlanner struct{}

func (playbookPlanner) Plan(f finding.Finding, change, _, _ string) []store.OutboxItem {
	if f.Status != finding.StatusOpen || f.Severity < finding.SeverityHigh {
		return nil
	}
	switch change {
	case delivery.ChangeCreated, delivery.ChangeUpdated, delivery.ChangeReopened, delivery.ChangeRepeated:
	default:
		return nil
	}
	payload, _ := json.Marshal(bot.PlaybookStart{FindingID: f.ID}) // one string
	return []store.OutboxItem{{Key: bot.KindPlaybookStart + "|" + f.ID, Kind: bot.KindPlaybookStart, Payload: payload}}
}

// opsDeps are what containment and playbooks are built from.
type opsDeps struct {
	cfg    config.Config
	aws    contain.ConfigSource
	store  store.Store
	authz  *authz.Authorizer
	teams  *org.Directory
	bot    *bot.Bot
	clock  clock.Clock
	logger zerolog.Logger
}

// enableOps builds the containment service over AWS, the on-call schedule
// and the playbook runner, and hands them to the bot. The returned outbox
// lane starts playbooks and fires escalations.
func enableOps(d opsDeps) (outbox.Lane, error) {
	provider := contain.New(d.aws, d.cfg.Containment, d.clock, contain.Options{})
	svc := containment.New(provider, d.store, d.authz, d.clock, d.logger.With().Str("component", "containment").Logger())
	var ids []string
	for _, a := range svc.Actions() {
		ids = append(ids, a.ID)
	}
	lib, err := playbooks.Load(d.cfg.Playbooks.Dir, ids)
	if err != nil {
		return outbox.Lane{}, fmt.Errorf("playbooks: %w", err)
	}
	sched, err := oncall.New(d.cfg.OnCall)
	if err != nil {
		return outbox.Lane{}, fmt.Errorf("on_call: %w", err)
	}
	deps := playbooks.Deps{
		Library: lib, Store: d.store, Notifier: d.bot.PlaybookNotifier(), Teams: d.teams,
		Containment: svc, Authz: d.authz, Clock: d.clock, Log: d.logger.With().Str("component", "playbooks").Logger(),
	}
	if len(d.cfg.OnCall.Rotations) > 0 {
		deps.OnCall = sched // without rotations nobody is mentioned
	}
	runner := playbooks.NewRunner(deps)
	d.bot.EnableContainment(svc)
	return d.bot.EnablePlaybooks(runner), nil
}
