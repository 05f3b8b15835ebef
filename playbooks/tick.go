package playbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// Steps tick themselves: a step whose containment ran by any path (its own
// Run button, a command, the Contain… picker) or whose exposure was fixed
// in AWS, as CloudTrail showed, is marked done with who and when, so the
// checklist says what happened without anyone ticking it by hand.

// Outbox kinds of the ticks, carried out by the playbook lane: the
// planner stores them with the finding change that tells of the action or
// the fix, so a tick is never lost to a restart and happens once across
// replicas.
const (
	KindRan   = "playbook.ran"
	KindFixed = "playbook.fixed"
)

// RanItem is the outbox item that ticks the steps of an action that ran;
// its key is per record, so an action ticks once.
func RanItem(ran Ran) store.OutboxItem {
	body, _ := json.Marshal(ran) // strings and a time
	return store.OutboxItem{Key: KindRan + "|" + ran.FindingID + "|" + ran.Record + "|" + ran.Action, Kind: KindRan, Payload: body}
}

// FixedItem is the outbox item that ticks the steps a fix seen in
// CloudTrail did; version is the finding's at its resolution.
func FixedItem(findingID string, version int) store.OutboxItem {
	body, _ := json.Marshal(Ran{FindingID: findingID}) // one string
	return store.OutboxItem{Key: fmt.Sprintf("%s|%s|v%d", KindFixed, findingID, version), Kind: KindFixed, Payload: body}
}

// Tick carries out a KindRan or KindFixed item.
func (r *Runner) Tick(ctx context.Context, it store.OutboxItem) error {
	var ran Ran
	if err := json.Unmarshal(it.Payload, &ran); err != nil || ran.FindingID == "" {
		return fmt.Errorf("decode %s %s: %w", it.Kind, it.Key, errors.Join(err, ErrNoRun))
	}
	switch it.Kind {
	case KindRan:
		_, err := r.ActionRan(ctx, ran)
		return err
	case KindFixed:
		f, err := r.d.Store.GetFinding(ctx, ran.FindingID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load finding %s: %w", ran.FindingID, err)
		}
		_, err = r.Fixed(ctx, f)
		return err
	}
	return fmt.Errorf("%s: not a tick: %w", it.Kind, ErrNoStep)
}

// Ran is a containment action that ran for a finding.
type Ran struct {
	FindingID string    `json:"finding_id"`
	Action    string    `json:"action"`
	Record    string    `json:"record,omitempty"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
	Note      string    `json:"note,omitempty"`
}

// ActionRan marks done every open step of the finding's run whose
// automation is the action that ran. The action was authorised when it
// ran, so nobody is asked again; each tick is audited as its runner's.
// A finding without a run, or a run without such a step, changes nothing.
func (r *Runner) ActionRan(ctx context.Context, ran Ran) (Run, error) {
	note := ran.Note
	if note == "" {
		note = "ran outside the checklist"
	}
	if ran.Record != "" {
		note += " (record " + ran.Record + ")"
	}
	return r.tick(ctx, ran.FindingID, ran.By, ran.At, note, ran.Record, func(s Step) bool {
		return s.Automation != nil && s.Automation.Kind == AutoContain && s.Automation.Action == ran.Action
	})
}

// Fixed marks done the contain steps that would have ended the exposure
// (an action on the finding's own resource) once the finding resolved
// through a change seen in CloudTrail: whoever made it, in the console or
// elsewhere, did what the step asks. f is the resolved finding.
func (r *Runner) Fixed(ctx context.Context, f finding.Finding) (Run, error) {
	if f.Status != finding.StatusResolved || f.ResolvedEvent == nil || r.d.Containment == nil {
		return Run{}, nil
	}
	fixes := map[string]bool{}
	for _, o := range r.d.Containment.Offers(f) {
		if (o.Target.ARN != "" && o.Target.ARN == f.Resource.ARN) || (o.Target.Type == f.Resource.Type && o.Target.ID == f.Resource.ID) {
			fixes[o.Action.ID] = true
		}
	}
	if len(fixes) == 0 {
		return Run{}, nil
	}
	note := "fixed outside the bot: " + f.ResolvedEvent.Name + " seen in CloudTrail"
	return r.tick(ctx, f.ID, f.ResolvedBy, f.ResolvedEvent.Time, note, "", func(s Step) bool {
		return s.Automation != nil && s.Automation.Kind == AutoContain && fixes[s.Automation.Action]
	})
}

// tick marks done, as by at at, the open steps of the finding's run that
// match. A step already closed keeps who closed it.
func (r *Runner) tick(ctx context.Context, findingID, by string, at time.Time, note, record string, match func(Step) bool) (Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, err := r.index().Get(ctx, findingID)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, nil
	}
	if err != nil {
		return Run{}, fmt.Errorf("look up run of finding %s: %w", findingID, err)
	}
	run, err := r.load(ctx, id)
	if err != nil {
		return Run{}, err
	}
	pb, ok := r.d.Library.Get(run.Playbook)
	if !ok {
		return run, nil
	}
	if at.IsZero() {
		at = r.d.Clock.Now()
	}
	for _, s := range pb.Steps {
		st, ok := run.Step(s.ID)
		if !ok || st.Closed() || !match(s) {
			continue
		}
		run, _, err = r.commit(ctx, pb, run, s.ID, by, func(_ *Run, st *StepState) error {
			if st.Closed() {
				return store.ErrUnchanged // ticked meanwhile on another replica
			}
			st.Status, st.By, st.At, st.Note = StepDone, by, at.UTC(), note
			if record != "" {
				st.Record = record
			}
			return nil
		})
		if err != nil {
			return run, err
		}
	}
	return run, nil
}
