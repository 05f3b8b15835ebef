package playbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// The morning follow-up: an off-hours high or critical finding reminds its
// owning team, at the start of the team's next business day, to make the
// permanent fix. It is scheduled when the finding is raised (the planner
// stores the timer with the finding), not only when someone runs the
// checklist's step, and it is posted by the bot's own durable timer (an
// outbox item whose NotBefore is the morning) rather than by Slack's
// scheduled messages, so that what it says is the state at posting time:
// contained or resolved, who did what, the ticket. A responder can cancel
// it from the thread; running the step reschedules or confirms the same
// timer. A finding has one follow-up document, which decides: a timer
// whose time is no longer the document's, or whose follow-up was posted or
// cancelled, does nothing, so the follow-up is never posted twice.

// Outbox kinds and KV namespace of the follow-up.
const (
	// KindFollowUp is the timer; its payload is a FollowUpTimer.
	KindFollowUp = "playbook.followup"
	// KindFollowUpNote posts, in the finding's thread, when the follow-up
	// will go out, with the Cancel button.
	KindFollowUpNote = "playbook.followupnote"
	// KVFollowUps holds one FollowUp document per finding ID.
	KVFollowUps   = "playbook.followup"
	AuditFollowUp = "playbook.followup"
)

// Follow-up states.
const (
	FollowUpScheduled = "scheduled"
	FollowUpPosted    = "posted"
	FollowUpCancelled = "cancelled"
)

// FollowUp is a finding's morning follow-up.
type FollowUp struct {
	FindingID string    `json:"finding_id"`
	Team      string    `json:"team,omitempty"`
	Channel   string    `json:"channel"`
	At        time.Time `json:"at"`
	State     string    `json:"state"`
	// By is who scheduled it ("system" when the finding was raised), or
	// who cancelled it.
	By string    `json:"by"`
	On time.Time `json:"on,omitzero"` // when it was cancelled or posted
	TS string    `json:"ts,omitempty"`
}

// FollowUpTimer is the payload of the follow-up's timer and note.
type FollowUpTimer struct {
	FindingID string    `json:"finding_id"`
	At        time.Time `json:"at"`
}

// FollowUpItems are the outbox items that schedule a finding's follow-up
// for at: the timer, due then, and the note in the thread, due now. Their
// keys hold the time, so scheduling the same morning twice stores them
// once.
func FollowUpItems(findingID string, at time.Time) []store.OutboxItem {
	body, _ := json.Marshal(FollowUpTimer{FindingID: findingID, At: at.UTC()}) // a string and a time
	key := fmt.Sprintf("%s|%d", findingID, at.Unix())
	return []store.OutboxItem{
		{Key: KindFollowUp + "|" + key, Kind: KindFollowUp, Payload: body, NotBefore: at},
		{Key: KindFollowUpNote + "|" + key, Kind: KindFollowUpNote, Payload: body},
	}
}

// NeedsFollowUp reports whether a finding gets a morning follow-up when it
// is raised: high or critical, open, and outside its team's hours.
func NeedsFollowUp(f finding.Finding) bool {
	return f.Status == finding.StatusOpen && f.OffHours && f.Severity >= finding.SeverityHigh
}

// NextBusinessStart is the start of the team's next business day after t,
// skipping its holidays.
func NextBusinessStart(t org.Team, after time.Time) time.Time {
	loc := locOf(t)
	at := t.Hours.NextStart(after, loc)
	// A holiday is off hours all day; move on until a day that is not.
	for i := 0; i < 31 && t.OffHours(at); i++ {
		at = t.Hours.NextStart(at.Add(time.Minute), loc)
	}
	return at
}

// followUps are the follow-up documents, one per finding.
func (r *Runner) followUps() *store.Doc[FollowUp] {
	return store.NewDoc[FollowUp](r.d.Store, KVFollowUps)
}

// FollowUpOf returns a finding's follow-up, if one was scheduled.
func (r *Runner) FollowUpOf(ctx context.Context, findingID string) (FollowUp, bool, error) {
	fu, err := r.followUps().Get(ctx, findingID)
	if errors.Is(err, store.ErrNotFound) {
		return FollowUp{}, false, nil
	}
	if err != nil {
		return FollowUp{}, false, fmt.Errorf("load follow-up of %s: %w", findingID, err)
	}
	return fu, true, nil
}

// scheduleFollowUp (re)schedules the finding's follow-up for the team's
// next business morning as by: a cancelled one is scheduled again, one
// already posted is left alone. It returns the follow-up as stored.
func (r *Runner) scheduleFollowUp(ctx context.Context, f finding.Finding, by string) (FollowUp, error) {
	team := r.team(f.Team)
	if team.SlackChannel == "" {
		return FollowUp{}, fmt.Errorf("team %s has no Slack channel for the follow-up", teamName(f.Team))
	}
	at := NextBusinessStart(team, r.d.Clock.Now())
	fu, err := r.followUps().Upsert(ctx, f.ID, func(fu *FollowUp) error {
		if fu.State == FollowUpPosted {
			return store.ErrUnchanged
		}
		if fu.State == FollowUpScheduled && fu.At.Equal(at) {
			return store.ErrUnchanged // the same morning: confirmed
		}
		*fu = FollowUp{FindingID: f.ID, Team: f.Team, Channel: team.SlackChannel, At: at.UTC(), State: FollowUpScheduled, By: by}
		return nil
	})
	if err != nil {
		return fu, fmt.Errorf("schedule follow-up of %s: %w", f.ID, err)
	}
	if fu.State != FollowUpScheduled {
		return fu, nil
	}
	for _, it := range FollowUpItems(f.ID, fu.At) {
		if it.Kind != KindFollowUp {
			continue // the step's own answer says when; no note needed
		}
		if _, err := r.d.Store.Enqueue(ctx, it); err != nil {
			return fu, fmt.Errorf("arm follow-up of %s: %w", f.ID, err)
		}
	}
	return fu, nil
}

// CancelFollowUp cancels a finding's follow-up; a responder may, and it is
// audited either way.
func (r *Runner) CancelFollowUp(ctx context.Context, u authz.Actor, findingID string) (FollowUp, error) {
	if err := r.authorise(ctx, u, findingID+"/follow-up"); err != nil {
		return FollowUp{}, err
	}
	now := r.d.Clock.Now().UTC()
	var posted bool
	fu, err := r.followUps().Upsert(ctx, findingID, func(fu *FollowUp) error {
		switch fu.State {
		case FollowUpPosted:
			posted = true
			return store.ErrUnchanged
		case FollowUpCancelled:
			return store.ErrUnchanged
		}
		fu.FindingID, fu.State, fu.By, fu.On = findingID, FollowUpCancelled, u.UserID, now
		return nil
	})
	if err != nil {
		return fu, fmt.Errorf("cancel follow-up of %s: %w", findingID, err)
	}
	if posted {
		return fu, fmt.Errorf("the follow-up was already posted at %s: %w", fu.On.Format(time.RFC3339), ErrStepState)
	}
	r.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditFollowUp + ".cancel", Target: findingID, Result: "ok",
		Reason: "morning follow-up cancelled", Detail: mustJSON(fu)})
	return fu, nil
}

// PostFollowUp carries out a due follow-up timer: it posts the follow-up,
// rendered from the finding as it is now, unless it was cancelled, already
// posted, or rescheduled to another time. A timer of a finding whose
// follow-up was never recorded (scheduled when the finding was raised)
// records it first.
func (r *Runner) PostFollowUp(ctx context.Context, payload []byte) error {
	var tm FollowUpTimer
	if err := json.Unmarshal(payload, &tm); err != nil || tm.FindingID == "" {
		return fmt.Errorf("decode follow-up timer: %w", errors.Join(err, ErrNoRun))
	}
	f, err := r.d.Store.GetFinding(ctx, tm.FindingID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", tm.FindingID, err)
	}
	team := r.team(f.Team)
	fu, err := r.followUps().Upsert(ctx, f.ID, func(fu *FollowUp) error {
		if fu.State != "" {
			return store.ErrUnchanged
		}
		*fu = FollowUp{FindingID: f.ID, Team: f.Team, Channel: team.SlackChannel, At: tm.At, State: FollowUpScheduled, By: "system"}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record follow-up of %s: %w", f.ID, err)
	}
	if fu.State != FollowUpScheduled || !fu.At.Equal(tm.At) || fu.Channel == "" {
		return nil // cancelled, posted, or rescheduled to another timer
	}
	var run *Run
	if rn, err := r.RunFor(ctx, f.ID); err == nil {
		run = &rn
	}
	ts, err := r.d.Notifier.FollowUp(ctx, fu, f, run)
	if err != nil {
		return fmt.Errorf("post follow-up of %s: %w", f.ID, err)
	}
	now := r.d.Clock.Now().UTC()
	if _, err := r.followUps().Update(ctx, f.ID, func(fu *FollowUp) error {
		fu.State, fu.On, fu.TS = FollowUpPosted, now, ts
		return nil
	}); err != nil {
		return fmt.Errorf("record follow-up of %s as posted: %w", f.ID, err)
	}
	r.audit(ctx, store.AuditRecord{Actor: "system", Action: AuditFollowUp + ".post", Target: f.ID, Result: "ok",
		Reason: "morning follow-up posted in " + fu.Channel, Detail: mustJSON(fu)})
	return nil
}
