package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/providers/aws/contain"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
)

// playbookPlanner starts the playbook of every open high or critical
// finding: the item waits in the outbox until the finding's Slack message
// exists, so the checklist lands in its thread. The key is per finding, so
// a finding starts at most once whatever changes follow. A containment
// recorded on the finding, or a fix seen in CloudTrail, ticks the steps
// that asked for it.
//
// An off-hours high or critical finding also schedules its morning
// follow-up when it is raised: the timer is due at the owning team's next
// business morning after the bot saw the event.
type playbookPlanner struct {
	teams playbooks.Teams
}

func (p playbookPlanner) Plan(f finding.Finding, change finding.ChangeKind, _, _ string) []store.OutboxItem {
	switch {
	case change == finding.ChangeContained && f.Contained():
		// The containment just recorded is the last one: its steps tick.
		c := f.Containments[len(f.Containments)-1]
		return []store.OutboxItem{playbooks.RanItem(playbooks.Ran{FindingID: f.ID, Action: c.Action, Record: c.Record, By: c.By, At: c.At, Note: c.Summary})}
	case change == finding.ChangeResolved && f.ResolvedEvent != nil:
		// Fixed in AWS, as CloudTrail showed: the steps that would have
		// fixed it tick.
		return []store.OutboxItem{playbooks.FixedItem(f.ID, f.Version)}
	}
	if f.Status != finding.StatusOpen || f.Severity < finding.SeverityHigh {
		return nil
	}
	switch change {
	case finding.ChangeCreated, finding.ChangeUpdated, finding.ChangeReopened, finding.ChangeRepeated:
	default:
		return nil
	}
	payload, _ := json.Marshal(bot.PlaybookStart{FindingID: f.ID}) // one string
	items := []store.OutboxItem{{Key: bot.KindPlaybookStart + "|" + f.ID, Kind: bot.KindPlaybookStart, Payload: payload}}
	if (change == finding.ChangeCreated || change == finding.ChangeReopened) && playbooks.NeedsFollowUp(f) && p.teams != nil {
		team, ok := p.teams.Team(f.Team)
		if ok && team.SlackChannel != "" {
			raised := f.DetectedAt
			if raised.IsZero() {
				raised = f.LastSeen
			}
			items = append(items, playbooks.FollowUpItems(f.ID, playbooks.NextBusinessStart(team, raised))...)
		}
	}
	return items
}

// containmentRecorder records each containment on its finding. The one
// finding change carries everything that follows from it, planned with
// the change and stored with it: the finding's message in every channel
// shows "contained by … at … (…)", its ticket gets a comment, the
// resource's state is read again (the finding resolves once AWS shows the
// exposure gone) and its playbook's steps tick. An undo takes its
// containment off the finding the same way.
type containmentRecorder struct {
	st      store.Store
	plan    pipeline.Planner
	actions interface {
		Action(id string) (containment.Action, bool)
	}
	clock clock.Clock
	wake  func()
}

func (c containmentRecorder) Applied(ctx context.Context, r containment.Record) error {
	if r.FindingID == "" {
		return nil
	}
	entry := finding.Containment{Record: r.ID, Action: r.Action, Target: r.Target.String(), By: r.RanBy, At: c.clock.Now().UTC()}
	if a, ok := c.actions.Action(r.Action); ok {
		entry.Title = a.Title
	}
	if r.Outcome != nil {
		entry.Summary = r.Outcome.Summary
	}
	return c.update(ctx, r.FindingID, finding.ChangeContained, r.RanBy, entry.Summary, func(f *finding.Finding) bool {
		if _, ok := f.ContainedBy(r.ID); ok {
			return false
		}
		f.Containments = append(f.Containments, entry)
		return true
	})
}

func (c containmentRecorder) Undone(ctx context.Context, r containment.Record) error {
	if r.FindingID == "" {
		return nil
	}
	note := "undid " + r.Action
	if r.UndoOutcome != nil && r.UndoOutcome.Summary != "" {
		note = r.UndoOutcome.Summary
	}
	return c.update(ctx, r.FindingID, finding.ChangeUncontained, r.UndoneBy, note, func(f *finding.Finding) bool {
		if _, ok := f.ContainedBy(r.ID); !ok {
			return false
		}
		f.Containments = slices.DeleteFunc(f.Containments, func(x finding.Containment) bool { return x.Record == r.ID })
		return true
	})
}

// update applies change to the finding and plans its deliveries, unless
// change says there is nothing to do (the same record told twice).
func (c containmentRecorder) update(ctx context.Context, id string, kind finding.ChangeKind, by, note string, change func(*finding.Finding) bool) error {
	_, err := c.st.UpdateFinding(ctx, id, func(f *finding.Finding) (store.FindingEvent, error) {
		if !change(f) {
			return store.FindingEvent{}, errUnchanged
		}
		f.Version++
		return store.FindingEvent{Time: c.clock.Now(), Actor: by, Note: note, Outbox: c.plan.Plan(*f, kind, by, note)}, nil
	})
	switch {
	case errors.Is(err, errUnchanged), errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("record %s on finding %s: %w", kind, id, err)
	}
	if c.wake != nil {
		c.wake()
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

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
	// planners plan the deliveries of a finding change (containment
	// recorded on a finding).
	planners pipeline.Planner
}

// enableOps builds the containment service over AWS, the on-call schedule
// and the playbook runner, and hands them to the bot. The returned outbox
// lane starts playbooks and fires escalations.
func enableOps(d opsDeps) (outbox.Lane, error) {
	provider := contain.New(d.aws, d.cfg.Containment, d.clock, contain.Options{})
	svc := containment.New(provider, d.store, d.authz, d.clock, d.logger.With().Str("component", "containment").Logger())
	svc.SetRecorder(containmentRecorder{st: d.store, plan: d.planners, actions: svc, clock: d.clock, wake: d.bot.Wake})
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
