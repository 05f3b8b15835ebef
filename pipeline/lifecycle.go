package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store"
)

const systemActor = "system"

// now is when rec is being processed: its own time when history is
// replayed, the clock's otherwise.
func (p *Pipeline) now(rec *cloudtrail.Record) time.Time {
	if p.opts.EventTime && !rec.EventTime.IsZero() {
		return rec.EventTime
	}
	return p.opts.Clock.Now()
}

func (p *Pipeline) create(ctx context.Context, rec *cloudtrail.Record, res detect.Result, key string) error {
	now := p.now(rec)
	f := finding.Finding{
		ID:         finding.IDFor(key),
		Key:        key,
		Rule:       res.Rule,
		Severity:   res.Severity,
		Status:     finding.StatusOpen,
		Title:      res.Title,
		Detail:     res.Detail,
		AccountID:  rec.Account(),
		Region:     rec.AWSRegion,
		Resource:   res.Resource,
		Event:      eventRef(rec),
		Signals:    []finding.Signal{},
		Vectors:    append([]string(nil), res.Vectors...),
		Targets:    append([]finding.Target(nil), res.Targets...),
		Change:     res.Change,
		RuleNotes:  res.Notes,
		Count:      1,
		FirstSeen:  rec.EventTime,
		LastSeen:   rec.EventTime,
		OpenedAt:   rec.EventTime,
		DetectedAt: now,
	}
	p.nameTargets(&f)
	f.History = p.history(ctx, f.Resource.ARN, rec.EventTime)
	if err := p.opts.Enricher.Enrich(ctx, &f, rec); err != nil {
		// The finding goes out without the baseline rather than not at all.
		p.log.Warn().Err(err).Str("finding_id", f.ID).Msg("enrichment incomplete")
	}
	reason, ok, err := p.expected(ctx, f)
	if err != nil {
		// Fail open: a finding nobody may have expected is raised.
		p.log.Warn().Err(err).Str("finding_id", f.ID).Msg("allowlist check failed; raising the finding")
	} else if ok {
		f.Status = finding.StatusSuppressed
		f.SuppressedReason = reason
	}
	f.Routes = route.Strings(p.opts.Router.Route(&f))
	f.MarkApplied(rec.EventID)
	note := fmt.Sprintf("%s by %s", rec.EventName, f.Actor.ARN)
	if f.Status == finding.StatusSuppressed {
		note += "; " + f.SuppressedReason
	}
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Status: f.Status, Actor: systemActor, Note: note}
	p.plan(&f, &ev, finding.ChangeCreated)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store new finding %s: %w", f.ID, err)
	}
	p.log.Info().Str("finding_id", f.ID).Str("rule", f.Rule).Str("severity", f.Severity.String()).Str("status", string(f.Status)).Str("resource", f.Resource.ARN).Msg("finding raised")
	p.notify(ctx, f, finding.ChangeCreated)
	return nil
}

// expected says whether people expect f's exposure: the account's
// expected_public_buckets for a public bucket, else a live allowlist
// entry (an expired or removed entry no longer counts).
func (p *Pipeline) expected(ctx context.Context, f finding.Finding) (reason string, ok bool, err error) {
	if f.Rule == detect.RuleS3BucketPublic {
		if pattern, ok := p.opts.Directory.ExpectedPublicBucket(f.AccountID, f.Resource.ID); ok {
			return fmt.Sprintf("bucket %s matches expected_public_buckets pattern %q of account %s", f.Resource.ID, pattern, f.AccountID), true, nil
		}
	}
	if p.opts.Suppressor == nil {
		return "", false, nil
	}
	return p.opts.Suppressor.Suppressed(ctx, f)
}

// stillExpected reports whether a suppressed finding seen again is still
// expected. One whose allowlist entry expired or was removed alerts again;
// when the allowlist cannot be read it stays as people left it.
func (p *Pipeline) stillExpected(ctx context.Context, f finding.Finding) bool {
	_, ok, err := p.expected(ctx, f)
	if err != nil {
		p.log.Warn().Err(err).Str("finding_id", f.ID).Msg("allowlist check failed; the finding stays suppressed")
		return true
	}
	return ok
}

// unsuppress opens a suppressed finding again because nothing expects it
// any more; the exposure never stopped, so it keeps its opening time.
func unsuppress(f *finding.Finding, ev *store.FindingEvent, what string) {
	f.Status = finding.StatusOpen
	f.SuppressedReason = ""
	f.AckedBy, f.AckedAt = "", time.Time{}
	ev.Status = finding.StatusOpen
	ev.Note = "alerts again: no allowlist entry covers it any more (" + what + ")"
}

func (p *Pipeline) repeat(ctx context.Context, rec *cloudtrail.Record, res detect.Result, f finding.Finding) error {
	now := p.now(rec)
	change := finding.ChangeRepeated
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Actor: systemActor}
	if f.Status == finding.StatusSuppressed && !p.stillExpected(ctx, f) {
		change = finding.ChangeReopened
		unsuppress(&f, &ev, fmt.Sprintf("%s by %s", rec.EventName, rec.ActorARN()))
	}
	if f.Status == finding.StatusResolved {
		if f.ResolvedEvent != nil && !rec.EventTime.After(f.ResolvedEvent.Time) {
			// An exposure older than the fix that was delivered late: it
			// belongs in history, not in a reopened finding.
			return nil
		}
		change = finding.ChangeReopened
		f.Status = finding.StatusOpen
		f.Vectors = nil
		f.Targets = nil
		f.OpenedAt = rec.EventTime
		f.ResolvedAt, f.ResolvedBy, f.ResolvedEvent, f.ResolveReason, f.OpenFor = time.Time{}, "", nil, "", 0
		f.AckedBy, f.AckedAt = "", time.Time{}
		ev.Status = finding.StatusOpen
		ev.Note = fmt.Sprintf("reopened: %s by %s", rec.EventName, rec.ActorARN())
	}
	f.Count++
	if rec.EventTime.After(f.LastSeen) {
		f.LastSeen = rec.EventTime
		f.Event = eventRef(rec)
		f.Detail = res.Detail
		if res.Change != nil {
			f.Change = res.Change
		}
		if res.Notes != nil {
			f.RuleNotes = res.Notes
		}
		if change == finding.ChangeReopened {
			if err := p.opts.Enricher.Enrich(ctx, &f, rec); err != nil {
				p.log.Warn().Err(err).Str("finding_id", f.ID).Msg("enrichment incomplete")
			}
		}
	}
	if res.Severity > f.Severity {
		f.Severity = res.Severity
	}
	f.Vectors = union(f.Vectors, res.Vectors)
	if res.AllTargets {
		// A policy written whole: whom it no longer grants is gone.
		f.Targets = append([]finding.Target(nil), res.Targets...)
	} else {
		f.Targets = mergeTargets(f.Targets, res.Targets)
	}
	p.nameTargets(&f)
	f.Routes = route.Strings(p.opts.Router.Route(&f))
	f.MarkApplied(rec.EventID)
	if change == finding.ChangeRepeated {
		ev.Note = fmt.Sprintf("seen again: %s by %s", rec.EventName, rec.ActorARN())
	}
	p.plan(&f, &ev, change)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store finding %s: %w", f.ID, err)
	}
	p.notify(ctx, f, change)
	return nil
}

func (p *Pipeline) remediate(ctx context.Context, rec *cloudtrail.Record, res detect.Result, f finding.Finding) error {
	if f.Status == finding.StatusResolved {
		return nil
	}
	if rec.EventTime.Before(f.Event.Time) {
		// A fix older than the latest exposure: it does not undo it.
		return nil
	}
	now := p.now(rec)
	share := len(f.Targets) > 0
	switch {
	case share && res.AllTargets:
		// A policy written whole or a permission list reset: what it
		// lists is all the resource is still shared with.
		f.Targets = append([]finding.Target(nil), res.Targets...)
	case share:
		f.Targets = removeTargets(f.Targets, res.Targets)
	}
	f.Vectors = minus(f.Vectors, res.Vectors)
	exposed := len(f.Vectors) > 0
	if share {
		exposed = len(f.UnknownTargets()) > 0
	}
	f.MarkApplied(rec.EventID)
	ev := store.FindingEvent{FindingID: f.ID, Time: now, Actor: systemActor}
	change := finding.ChangeUpdated
	if !exposed {
		change = finding.ChangeResolved
		f.Status = finding.StatusResolved
		f.ResolvedAt = rec.EventTime
		f.ResolvedBy = rec.ActorARN()
		ref := eventRef(rec)
		f.ResolvedEvent = &ref
		f.ResolveReason = res.Detail
		f.OpenFor = rec.EventTime.Sub(f.OpenedAt)
		ev.Status = finding.StatusResolved
		ev.Actor = f.ResolvedBy
		ev.Note = fmt.Sprintf("remediated by %s (%s)", rec.EventName, res.Detail)
	} else {
		ev.Note = fmt.Sprintf("partly remediated by %s by %s (%s)", rec.EventName, rec.ActorARN(), res.Detail)
	}
	p.plan(&f, &ev, change)
	if err := p.opts.Store.UpsertFinding(ctx, f, ev); err != nil {
		return fmt.Errorf("store finding %s: %w", f.ID, err)
	}
	if change == finding.ChangeResolved {
		p.log.Info().Str("finding_id", f.ID).Str("rule", f.Rule).Dur("open_for", f.OpenFor).Str("resolved_by", f.ResolvedBy).Msg("finding resolved")
	}
	p.notify(ctx, f, change)
	return nil
}

func (p *Pipeline) nameTargets(f *finding.Finding) {
	for i := range f.Targets {
		if f.Targets[i].Name == "" {
			f.Targets[i].Name = p.opts.Directory.TargetName(f.Targets[i].Account)
		}
	}
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, v := range b {
		if !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func mergeTargets(a, b []finding.Target) []finding.Target {
	out := append([]finding.Target(nil), a...)
	for _, t := range b {
		dup := false
		for _, x := range out {
			if x.Account == t.Account {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

func removeTargets(a, remove []finding.Target) []finding.Target {
	var out []finding.Target
	for _, t := range a {
		gone := false
		for _, r := range remove {
			if r.Account == t.Account {
				gone = true
				break
			}
		}
		if !gone {
			out = append(out, t)
		}
	}
	return out
}

// maxHistory bounds the earlier changes shown on a finding.
const maxHistory = 10

// history lists the resource's earlier changes (writes, including failed
// attempts), newest first.
func (p *Pipeline) history(ctx context.Context, resourceARN string, before time.Time) []finding.HistoryEntry {
	if resourceARN == "" {
		return nil
	}
	evs, err := p.opts.Store.QueryEvents(ctx, store.EventQuery{ResourceARN: resourceARN, Until: before, Limit: 200})
	if err != nil {
		p.log.Warn().Err(err).Str("resource", resourceARN).Msg("resource history unavailable")
		return nil
	}
	var out []finding.HistoryEntry
	for _, e := range evs {
		if e.ReadOnly {
			continue
		}
		out = append(out, finding.HistoryEntry{Time: e.Time, EventName: e.EventName, Actor: e.ActorARN, Failed: e.ErrorCode != "", ErrorCode: e.ErrorCode})
		if len(out) == maxHistory {
			break
		}
	}
	return out
}
