package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// System findings are what the bot finds out about itself (its event feed
// went quiet, say) rather than in an event. They take the same road as
// every other finding, planned deliveries included, so they are posted,
// ticketed and resolved the way responders already know.

// RaiseSystemFinding opens f unless a finding with its key is open already
// (or was marked expected), so one outage gives one finding however often
// it is raised; a resolved one is reopened. f must carry Key, Rule, Title
// and Severity; ID, status and times are filled in. Without Routes the
// finding goes to SecOps only (its channel and Jira project): the bot's own
// health is SecOps' business, not the account owners'.
func (p *Pipeline) RaiseSystemFinding(ctx context.Context, f finding.Finding) error {
	if f.Key == "" || f.Rule == "" {
		return errors.New("raise system finding: key and rule are required")
	}
	cur, err := p.opts.Store.GetFindingByKey(ctx, f.Key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load finding %s: %w", f.Key, err)
	}
	if found && cur.Status != finding.StatusResolved {
		return nil
	}
	now := p.opts.Clock.Now()
	seen := f.Event.Time
	if seen.IsZero() {
		seen = now
	}
	if f.Signals == nil {
		f.Signals = []finding.Signal{}
	}
	if dir := p.opts.Directory; dir != nil {
		if len(f.Routes) == 0 {
			f.Routes = secopsRoutes(dir.SecOps())
		}
		if a, ok := dir.Account(f.AccountID); ok && f.AccountName == "" {
			f.AccountName = a.Name
		}
		f.OffHours = dir.SecOps().OffHours(now)
	}
	f.Status = finding.StatusOpen
	f.OpenedAt, f.LastSeen, f.DetectedAt = seen, seen, now
	change, note := finding.ChangeCreated, "raised by the bot: "+f.Title
	if found {
		// Reopen: keep the finding's identity, its first sighting, its
		// count and its delivery state (version, applied events).
		change, note = finding.ChangeReopened, "reopened by the bot: "+f.Title
		f.ID, f.Version, f.FirstSeen, f.Count, f.EventIDs = cur.ID, cur.Version, cur.FirstSeen, cur.Count+1, cur.EventIDs
	} else {
		f.ID, f.Version, f.FirstSeen, f.Count = finding.IDFor(f.Key), 0, seen, 1
	}
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Status: finding.StatusOpen, Actor: systemActor, Note: note}
	p.plan(&f, &ev, change)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store system finding %s: %w", f.ID, err)
	}
	p.log.Warn().Str("finding_id", f.ID).Str("rule", f.Rule).Str("account", f.AccountID).Str("change", string(change)).Msg("system finding raised")
	p.notify(ctx, f, change)
	return nil
}

// ResolveSystemFinding resolves the open finding with key as the system,
// with note saying why. A finding that is absent, resolved already or
// marked expected is left alone.
func (p *Pipeline) ResolveSystemFinding(ctx context.Context, key, note string) error {
	f, err := p.opts.Store.GetFindingByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", key, err)
	}
	if f.Status != finding.StatusOpen {
		return nil
	}
	now := p.opts.Clock.Now()
	f.Status = finding.StatusResolved
	f.ResolvedAt, f.ResolvedBy, f.ResolveReason = now, systemActor, note
	f.ResolvedEvent = nil
	f.OpenFor = now.Sub(f.OpenedAt)
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Status: finding.StatusResolved, Actor: systemActor, Note: note}
	p.plan(&f, &ev, finding.ChangeResolved)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store finding %s: %w", f.ID, err)
	}
	p.log.Info().Str("finding_id", f.ID).Str("rule", f.Rule).Dur("open_for", f.OpenFor).Msg("system finding resolved")
	p.notify(ctx, f, finding.ChangeResolved)
	return nil
}

// secopsRoutes are SecOps' channel and, when it has one, its Jira project.
func secopsRoutes(s org.Team) []string {
	ds := []route.Destination{{Kind: route.Slack, Name: s.SlackChannel, Team: s.Name}}
	if s.JiraProject != "" {
		ds = append(ds, route.Destination{Kind: route.Jira, Name: s.JiraProject, Team: s.Name})
	}
	return route.Strings(ds)
}
