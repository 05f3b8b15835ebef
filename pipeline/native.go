package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/store"
)

// Native findings are what AWS's own detectors found (GuardDuty, Security
// Hub, IAM Access Analyzer). They take the road every finding takes
// (ownership, routing, the allowlist, planned deliveries), but their
// lifecycle is the detector's: one finding per native finding, keyed by its
// native ID, updated in place with every update the detector publishes and
// resolved when the detector archives, resolves or suppresses it.

// ingestNative applies native findings in the order their detectors
// updated them.
func (p *Pipeline) ingestNative(ctx context.Context, ns []native.Finding, st *Stats) error {
	if len(ns) == 0 {
		return nil
	}
	order := make([]int, len(ns))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ns[order[a]].UpdatedAt.Before(ns[order[b]].UpdatedAt) })
	for _, i := range order {
		n := &ns[i]
		if p.opts.DisabledRules[n.Rule] {
			continue
		}
		applied, err := p.applyNative(ctx, n)
		if err != nil {
			return fmt.Errorf("apply %s finding %s: %w", n.Product, n.ID, err)
		}
		if applied {
			st.Native++
		} else {
			st.Duplicates++
		}
	}
	return nil
}

// applyNative creates, updates or resolves the finding of one update. It
// reports false for an update already applied.
func (p *Pipeline) applyNative(ctx context.Context, n *native.Finding) (bool, error) {
	key := n.FindingKey()
	f, err := p.opts.Store.GetFindingByKey(ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("load finding: %w", err)
	}
	switch {
	case found && f.Applied(n.UpdateID()):
		return false, nil
	case found:
		return true, p.updateNative(ctx, n, f)
	case !n.Active, n.Severity == finding.SeverityUnknown:
		// Nothing to raise: the detector closed it before the bot heard
		// of it, or calls it informational.
		return true, nil
	}
	return true, p.createNative(ctx, n, key)
}

// nativeNow is when an update is processed: the detector's update time
// when history is replayed, the clock's otherwise.
func (p *Pipeline) nativeNow(n *native.Finding) time.Time {
	if p.opts.EventTime && !n.UpdatedAt.IsZero() {
		return n.UpdatedAt
	}
	return p.opts.Clock.Now()
}

// nativeEvent is the update as the finding's event: the detector's finding
// type, and the caller's address when the detector names one.
func nativeEvent(n *native.Finding) finding.EventRef {
	return finding.EventRef{ID: n.UpdateID(), Name: n.Type, Source: n.APISource, Time: n.UpdatedAt, SourceIP: n.SourceIP}
}

// nativeTargets classifies the accounts a detector says a resource is open
// to, and the severity that follows: access given only to accounts that
// are ours or trusted is low, however the detector rates the resource.
func (p *Pipeline) nativeTargets(n *native.Finding) ([]finding.Target, finding.Severity) {
	if len(n.Targets) == 0 {
		return nil, n.Severity
	}
	out := make([]finding.Target, len(n.Targets))
	foreign := false
	for i, t := range n.Targets {
		if t.Class == "" && p.opts.Directory != nil {
			t.Class = p.opts.Directory.Classify(t.Account)
		}
		if t.Class == "" {
			t.Class = finding.TargetUnknown
		}
		foreign = foreign || t.Class == finding.TargetUnknown || t.Class == finding.TargetPublic
		out[i] = t
	}
	if !foreign {
		return out, finding.SeverityLow
	}
	return out, n.Severity
}

// fill sets what every update of a native finding says on f.
func (p *Pipeline) fill(f *finding.Finding, n *native.Finding) {
	f.Title, f.Detail = n.Title, n.Description
	targets, sev := p.nativeTargets(n)
	f.Targets = targets
	if sev != finding.SeverityUnknown {
		// A detector that calls a closed finding informational (a
		// control that passes) does not make it less than it was.
		f.Severity = sev
	}
	if n.Actor != nil {
		f.Actor = *n.Actor
		if p.opts.Directory != nil && f.Actor.ARN != "" {
			f.Actor.Contractor = p.opts.Directory.IsContractor(f.Actor.ARN)
		}
	}
	f.Native = n.Native()
	f.Event = nativeEvent(n)
	if n.UpdatedAt.After(f.LastSeen) {
		f.LastSeen = n.UpdatedAt
	}
	p.nameTargets(f)
	f.MarkApplied(n.UpdateID())
}

func (p *Pipeline) createNative(ctx context.Context, n *native.Finding, key string) error {
	now := p.nativeNow(n)
	f := finding.Finding{
		ID:         finding.IDFor(key),
		Key:        key,
		Rule:       n.Rule,
		Status:     finding.StatusOpen,
		AccountID:  n.Account,
		Region:     n.Region,
		Resource:   n.Resource,
		Signals:    []finding.Signal{},
		Count:      max(n.Count, 1),
		FirstSeen:  n.FirstSeen,
		OpenedAt:   n.FirstSeen,
		DetectedAt: now,
	}
	if f.FirstSeen.IsZero() || f.FirstSeen.After(n.UpdatedAt) {
		f.FirstSeen, f.OpenedAt = n.UpdatedAt, n.UpdatedAt
	}
	p.fill(&f, n)
	f.History = p.history(ctx, f.Resource.ARN, n.UpdatedAt)
	p.opts.Enricher.Own(&f, n.UpdatedAt)
	reason, ok, err := p.expected(ctx, f)
	if err != nil {
		// Fail open, as for the bot's own rules.
		p.log.Warn().Err(err).Str("finding_id", f.ID).Msg("allowlist check failed; raising the finding")
	} else if ok {
		f.Status = finding.StatusSuppressed
		f.SuppressedReason = reason
	}
	f.Routes = route.Strings(p.opts.Router.Route(&f))
	note := fmt.Sprintf("%s finding %s (severity %s)", n.Product, n.Type, n.SourceSeverity)
	if f.Status == finding.StatusSuppressed {
		note += "; " + f.SuppressedReason
	}
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Status: f.Status, Actor: systemActor, Note: note}
	p.plan(&f, &ev, finding.ChangeCreated)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store new finding %s: %w", f.ID, err)
	}
	p.log.Info().Str("finding_id", f.ID).Str("rule", f.Rule).Str("native_id", n.ID).Str("severity", f.Severity.String()).
		Str("status", string(f.Status)).Str("account", f.AccountID).Msg("native finding raised")
	p.notify(ctx, f, finding.ChangeCreated)
	return nil
}

func (p *Pipeline) updateNative(ctx context.Context, n *native.Finding, f finding.Finding) error {
	if f.Native != nil && n.UpdatedAt.Before(f.Native.UpdatedAt) {
		// An older update delivered late: the finding already says more.
		return nil
	}
	now := p.nativeNow(n)
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Actor: systemActor}
	before := f
	count := f.Count + 1
	if n.Count > 0 {
		count = max(f.Count, n.Count)
	}
	change := finding.ChangeRefreshed
	switch {
	case f.Status == finding.StatusResolved && n.Active:
		change = finding.ChangeReopened
		f.Status = finding.StatusOpen
		f.OpenedAt = n.UpdatedAt
		f.ResolvedAt, f.ResolvedBy, f.ResolvedEvent, f.ResolveReason, f.OpenFor = time.Time{}, "", nil, "", 0
		f.AckedBy, f.AckedAt = "", time.Time{}
		ev.Status = finding.StatusOpen
		ev.Note = fmt.Sprintf("reopened: %s reports it active again", n.Product)
	case f.Status == finding.StatusResolved:
		// Still closed at the source: only the counters move.
	case !n.Active:
		change = finding.ChangeResolved
		f.Status = finding.StatusResolved
		f.ResolvedAt = n.UpdatedAt
		f.ResolvedBy = n.Product
		ref := nativeEvent(n)
		f.ResolvedEvent = &ref
		f.ResolveReason = fmt.Sprintf("no longer active in %s (%s)", n.Product, n.State)
		f.OpenFor = max(n.UpdatedAt.Sub(f.OpenedAt), 0)
		ev.Status = finding.StatusResolved
		ev.Actor = n.Product
		ev.Note = "resolved: " + f.ResolveReason
	case f.Status == finding.StatusSuppressed && !p.stillExpected(ctx, f):
		change = finding.ChangeReopened
		unsuppress(&f, &ev, n.Product+" update")
	case count > f.Count && n.Count > 0:
		change = finding.ChangeRepeated
		ev.Note = fmt.Sprintf("seen again: %s counts %d occurrences", n.Product, n.Count)
	}
	f.Count = count
	p.fill(&f, n)
	if change == finding.ChangeReopened {
		p.opts.Enricher.Own(&f, n.UpdatedAt)
	}
	if change == finding.ChangeRefreshed && (f.Severity != before.Severity || f.Title != before.Title) {
		change = finding.ChangeUpdated
		ev.Note = fmt.Sprintf("%s changed it: severity %s, %q", n.Product, f.Severity, f.Title)
	}
	f.Routes = route.Strings(p.opts.Router.Route(&f))
	if ev.Note == "" {
		ev.Note = fmt.Sprintf("%s update: %s", n.Product, n.State)
	}
	p.plan(&f, &ev, change)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store finding %s: %w", f.ID, err)
	}
	if change == finding.ChangeResolved {
		p.log.Info().Str("finding_id", f.ID).Str("rule", f.Rule).Str("native_id", n.ID).Dur("open_for", f.OpenFor).Msg("native finding resolved at its source")
	}
	p.notify(ctx, f, change)
	return nil
}
