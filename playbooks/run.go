package playbooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
)

// StepStatus is where a step of a run is.
type StepStatus string

// Step statuses. Running means an automation was started and awaits its end
// (a confirmation, an approval); Failed keeps the error for a retry.
const (
	StepPending StepStatus = "pending"
	StepRunning StepStatus = "running"
	StepDone    StepStatus = "done"
	StepSkipped StepStatus = "skipped"
	StepFailed  StepStatus = "failed"
)

// StepState is a step's progress in a run.
type StepState struct {
	ID     string     `json:"id"`
	Status StepStatus `json:"status"`
	By     string     `json:"by,omitempty"`
	At     time.Time  `json:"at,omitzero"`
	// Note says what happened, in plain words (an error, a schedule).
	Note string `json:"note,omitempty"`
	// Record is the containment record of a contain step.
	Record string `json:"record,omitempty"`
	// Escalated is set when the step's escalation fired.
	Escalated bool `json:"escalated,omitempty"`
}

// Closed reports whether the step needs nothing more.
func (s StepState) Closed() bool { return s.Status == StepDone || s.Status == StepSkipped }

// Thread is where a run is posted: the finding's thread.
type Thread struct {
	Channel   string `json:"channel"`
	TS        string `json:"ts"`
	Permalink string `json:"permalink,omitempty"`
}

// Run is one playbook being worked through for one finding.
type Run struct {
	ID        string    `json:"id"`
	Playbook  string    `json:"playbook"`
	FindingID string    `json:"finding_id"`
	Title     string    `json:"title"` // the finding's title, for the checklist
	Team      string    `json:"team,omitempty"`
	OffHours  bool      `json:"off_hours"`
	Thread    Thread    `json:"thread"`
	MessageTS string    `json:"message_ts,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// OnCallSecOps and OnCallTeam are who was on call when the run started.
	OnCallSecOps []string    `json:"on_call_secops,omitempty"`
	OnCallTeam   []string    `json:"on_call_team,omitempty"`
	Steps        []StepState `json:"steps"`
	// Emergency is set once an escalation fired.
	Emergency   bool      `json:"emergency,omitempty"`
	EmergencyAt time.Time `json:"emergency_at,omitzero"`
}

// Step returns the state of a step.
func (r *Run) Step(id string) (*StepState, bool) {
	for i := range r.Steps {
		if r.Steps[i].ID == id {
			return &r.Steps[i], true
		}
	}
	return nil, false
}

// Complete reports whether every step is done or skipped.
func (r Run) Complete() bool {
	for _, s := range r.Steps {
		if !s.Closed() {
			return false
		}
	}
	return true
}

// Notifier posts runs in Slack; bot/ implements it with the blocks of
// bot/blocks (PlaybookChecklist).
type Notifier interface {
	// PostChecklist posts the run's checklist in its thread and returns
	// the message's ts.
	PostChecklist(ctx context.Context, pb Playbook, run Run) (string, error)
	// UpdateChecklist edits the checklist (run.MessageTS) in place.
	UpdateChecklist(ctx context.Context, pb Playbook, run Run) error
	// Reply posts mrkdwn text in a thread.
	Reply(ctx context.Context, channel, threadTS, text string) error
	// FollowUp posts a finding's morning follow-up in fu.Channel, saying
	// what the finding and its run (nil without one) show now, and
	// returns the message's ts.
	FollowUp(ctx context.Context, fu FollowUp, f finding.Finding, run *Run) (string, error)
}

// OnCall says who is on call for a team ("secops" for SecOps); oncall.Schedule
// implements it.
type OnCall interface {
	OnCall(ctx context.Context, team string, at time.Time) ([]string, error)
}

// Teams resolves teams and their schedules (org.Directory).
type Teams interface {
	Team(name string) (org.Team, bool)
	SecOps() org.Team
}

// Containment previews and runs containment actions (containment.Service);
// Offers says which fit a finding, and on what.
type Containment interface {
	Preview(ctx context.Context, u authz.Actor, action string, f finding.Finding) (containment.Record, error)
	Run(ctx context.Context, u authz.Actor, id string) (containment.Record, error)
	Offers(f finding.Finding) []containment.Offer
}

// Authorizer decides whether a user holds a role (authz.Authorizer).
type Authorizer interface {
	Check(ctx context.Context, who authz.Actor, role authz.Role) (authz.Decision, error)
}

// Store is the part of store.Store runs use.
type Store interface {
	store.KV // runs and the finding → run index, as documents
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	Enqueue(ctx context.Context, it store.OutboxItem) (bool, error)
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
}

// KV namespaces and the outbox kind of escalation timers. KVRuns holds one
// JSON document per run; KVFindingRun maps a finding ID to its run's ID, as
// plain text.
const (
	KVRuns        = "playbook.run"
	KVFindingRun  = "playbook.finding"
	KindEscalate  = "playbook.escalate"
	AuditStart    = "playbook.start"
	AuditStep     = "playbook.step"
	AuditEscalate = "playbook.escalate"
)

// Deps are what a Runner works with.
type Deps struct {
	Library     *Library
	Store       Store
	Notifier    Notifier
	OnCall      OnCall // nil: nobody is mentioned
	Teams       Teams
	Containment Containment
	Authz       Authorizer
	Clock       clock.Clock
	Log         zerolog.Logger
}

// Runner starts runs and moves their steps.
type Runner struct {
	d Deps
	// mu keeps this process from running a step's automation twice at
	// once (a double click). Runs themselves change with compare-and-set
	// (commit), so replicas keep each other's changes.
	mu sync.Mutex
}

// NewRunner returns a Runner. A nil clock is the wall clock.
func NewRunner(d Deps) *Runner {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	return &Runner{d: d}
}

// Sentinel errors.
var (
	ErrNoPlaybook = errors.New("no playbook matches the finding")
	ErrNoRun      = errors.New("no such playbook run")
	ErrNoStep     = errors.New("no such step")
	ErrRefused    = errors.New("not authorised")
	ErrStepState  = errors.New("step cannot do this now")
)

// Start selects the playbook for the finding and posts its run in the
// thread, mentioning who is on call (paging them when it is off hours) and
// arming the escalation timers. A finding has one run: starting again
// returns the existing one.
func (r *Runner) Start(ctx context.Context, f finding.Finding, th Thread) (Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, err := r.index().Get(ctx, f.ID); err == nil {
		return r.load(ctx, id)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("look up run of finding %s: %w", f.ID, err)
	}
	pb, ok := r.d.Library.Select(f)
	if !ok {
		return Run{}, fmt.Errorf("finding %s (%s, %s): %w", f.ID, f.Rule, f.Severity, ErrNoPlaybook)
	}
	now := r.d.Clock.Now().UTC()
	run := Run{
		ID: newID(), Playbook: pb.ID, FindingID: f.ID, Title: f.Title, Team: f.Team, OffHours: f.OffHours,
		Thread: th, StartedAt: now,
	}
	for _, s := range pb.Steps {
		run.Steps = append(run.Steps, StepState{ID: s.ID, Status: StepPending})
	}
	if r.d.OnCall != nil {
		run.OnCallSecOps = r.onCall(ctx, "secops", now)
		if f.Team != "" {
			run.OnCallTeam = r.onCall(ctx, f.Team, now)
		}
	}
	ts, err := r.d.Notifier.PostChecklist(ctx, pb, run)
	if err != nil {
		return Run{}, fmt.Errorf("post checklist of run %s: %w", run.ID, err)
	}
	run.MessageTS = ts
	if err := r.runs().Create(ctx, run.ID, run); err != nil {
		return Run{}, fmt.Errorf("save run %s: %w", run.ID, err)
	}
	if err := r.index().Create(ctx, f.ID, run.ID); errors.Is(err, store.ErrConflict) {
		// Another replica started the finding's run meanwhile: that one is
		// the run, with its timers; this one is never armed.
		id, err := r.index().Get(ctx, f.ID)
		if err != nil {
			return Run{}, fmt.Errorf("look up run of finding %s: %w", f.ID, err)
		}
		r.d.Log.Warn().Str("run", run.ID).Str("finding", f.ID).Str("winner", id).Msg("the finding's run was started on another replica at the same time")
		return r.load(ctx, id)
	} else if err != nil {
		return Run{}, fmt.Errorf("index run %s: %w", run.ID, err)
	}
	if text := onCallText(run, f); text != "" {
		if err := r.d.Notifier.Reply(ctx, th.Channel, th.TS, text); err != nil {
			r.d.Log.Error().Err(err).Str("run", run.ID).Msg("mention on-call")
		}
	}
	for _, s := range pb.Steps {
		if s.Escalation == nil {
			continue
		}
		payload, _ := json.Marshal(escalation{Run: run.ID, Step: s.ID}) // two strings
		if _, err := r.d.Store.Enqueue(ctx, store.OutboxItem{
			Key: KindEscalate + "/" + run.ID + "/" + s.ID, Kind: KindEscalate, Payload: payload,
			NotBefore: now.Add(s.Escalation.After),
		}); err != nil {
			return run, fmt.Errorf("arm escalation of step %s: %w", s.ID, err)
		}
	}
	r.audit(ctx, store.AuditRecord{Actor: "system", Action: AuditStart, Target: f.ID, Result: "ok",
		Reason: "playbook " + pb.ID, Detail: mustJSON(map[string]any{"run": run.ID, "playbook": pb.ID, "on_call_secops": run.OnCallSecOps, "on_call_team": run.OnCallTeam})})
	return run, nil
}

func (r *Runner) onCall(ctx context.Context, team string, at time.Time) []string {
	ids, err := r.d.OnCall.OnCall(ctx, team, at)
	if err != nil {
		r.d.Log.Warn().Err(err).Str("team", team).Msg("on-call lookup")
	}
	return ids
}

// onCallText mentions who is on call. Off hours it is a page: Slack
// notifies a mentioned user even when they are away.
func onCallText(run Run, f finding.Finding) string {
	var parts []string
	if len(run.OnCallSecOps) > 0 {
		parts = append(parts, "SecOps "+mentions(run.OnCallSecOps))
	}
	if len(run.OnCallTeam) > 0 {
		parts = append(parts, esc(run.Team)+" "+mentions(run.OnCallTeam))
	}
	if len(parts) == 0 {
		return ""
	}
	if run.OffHours {
		return fmt.Sprintf(":rotating_light: Paging on-call: %s. A %s finding arrived outside %s's business hours; the playbook has started below.",
			strings.Join(parts, ", "), f.Severity, esc(teamName(run.Team)))
	}
	return "On call: " + strings.Join(parts, ", ") + "."
}

func teamName(t string) string {
	if t == "" {
		return "the owning team"
	}
	return t
}

func mentions(ids []string) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, "<@"+id+">")
	}
	return strings.Join(out, " ")
}

// Get loads a run.
func (r *Runner) Get(ctx context.Context, id string) (Run, error) { return r.load(ctx, id) }

// RunFor returns the run of a finding.
func (r *Runner) RunFor(ctx context.Context, findingID string) (Run, error) {
	id, err := r.index().Get(ctx, findingID)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("finding %s: %w", findingID, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("look up run of finding %s: %w", findingID, err)
	}
	return r.load(ctx, id)
}

// Playbook returns the playbook of a run.
func (r *Runner) Playbook(run Run) (Playbook, bool) { return r.d.Library.Get(run.Playbook) }

// Done marks a step done; Skip marks it skipped. Steps owned by the team
// may be acknowledged by anyone in the workspace (the bot has checked the
// user is a member); every other step needs a responder.
func (r *Runner) Done(ctx context.Context, u authz.Actor, runID, stepID, note string) (Run, error) {
	return r.close(ctx, u, runID, stepID, StepDone, note)
}

// Skip marks a step skipped.
func (r *Runner) Skip(ctx context.Context, u authz.Actor, runID, stepID string) (Run, error) {
	return r.close(ctx, u, runID, stepID, StepSkipped, "")
}

func (r *Runner) close(ctx context.Context, u authz.Actor, runID, stepID string, to StepStatus, note string) (Run, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, pb, step, st, err := r.step(ctx, runID, stepID)
	if err != nil {
		return run, err
	}
	if step.Owner != OwnerTeam || to != StepDone {
		if err := r.authorise(ctx, u, runID+"/"+stepID); err != nil {
			return run, err
		}
	}
	if st.Closed() {
		return run, nil // a second click changes nothing
	}
	now := r.d.Clock.Now().UTC()
	run, _, err = r.commit(ctx, pb, run, stepID, u.UserID, func(_ *Run, st *StepState) error {
		if st.Closed() {
			return store.ErrUnchanged // closed meanwhile on another replica
		}
		st.Status, st.By, st.At = to, u.UserID, now
		if note != "" {
			st.Note = note
		}
		return nil
	})
	return run, err
}

// StepResult tells the bot what a Run button started.
type StepResult struct {
	Kind string
	// Preview is the containment to confirm (kind contain): the bot shows
	// the confirmation dialog and then calls Confirm.
	Preview *containment.Record
	// Actor is who to investigate (kind investigate): the bot posts the
	// investigation in the thread, ending at Until (the incident).
	Actor string
	Until time.Time
	// Text is what was posted or scheduled, for the bot's ephemeral reply.
	Text string
}

// RunStep runs a step's automation. Containment and break-glass need more
// from the bot (a confirmation dialog, an approval); the others finish here.
func (r *Runner) RunStep(ctx context.Context, u authz.Actor, runID, stepID string) (StepResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, pb, step, st, err := r.step(ctx, runID, stepID)
	if err != nil {
		return StepResult{}, err
	}
	if step.Automation == nil {
		return StepResult{}, fmt.Errorf("step %s has nothing to run: %w", stepID, ErrStepState)
	}
	if err := r.authorise(ctx, u, runID+"/"+stepID); err != nil {
		return StepResult{}, err
	}
	if st.Closed() && step.Automation.Kind != AutoInvestigate {
		return StepResult{Kind: step.Automation.Kind}, fmt.Errorf("step %s is already %s: %w", stepID, st.Status, ErrStepState)
	}
	f, err := r.d.Store.GetFinding(ctx, run.FindingID)
	if err != nil {
		return StepResult{}, fmt.Errorf("load finding %s: %w", run.FindingID, err)
	}
	now := r.d.Clock.Now().UTC()
	res := StepResult{Kind: step.Automation.Kind}
	switch step.Automation.Kind {
	case AutoContain:
		rec, err := r.d.Containment.Preview(ctx, u, step.Automation.Action, f)
		if errors.Is(err, containment.ErrRefused) {
			return res, err
		}
		if err != nil {
			st.Status, st.Note, st.By, st.At = StepFailed, containment.PlainError(err), u.UserID, now
			_, _, cerr := r.commit(ctx, pb, run, stepID, u.UserID, outcome(*st))
			return res, errors.Join(err, cerr)
		}
		res.Preview = &rec
		st.Status, st.Record, st.By, st.At, st.Note = StepRunning, rec.ID, u.UserID, now, "previewed; awaiting confirmation"
	case AutoInvestigate:
		res.Actor, res.Until = f.Actor.ARN, f.InvestigateUntil()
		st.Status, st.By, st.At, st.Note = StepDone, u.UserID, now, "investigation posted in the thread"
	case AutoAbuseReport:
		rep, ok := AbuseReport(f, now)
		if !ok {
			st.Status, st.By, st.At, st.Note = StepSkipped, u.UserID, now, "no unknown account to report"
			break
		}
		res.Text = rep.Message()
		if err := r.d.Notifier.Reply(ctx, run.Thread.Channel, run.Thread.TS, res.Text); err != nil {
			return res, fmt.Errorf("post abuse report: %w", err)
		}
		st.Status, st.By, st.At, st.Note = StepDone, u.UserID, now, "report for "+strings.Join(rep.Accounts, ", ")+" posted in the thread"
	case AutoBreakGlass:
		st.Status, st.By, st.At, st.Note = StepRunning, u.UserID, now, "break-glass requested; awaiting approval"
	case AutoFollowUp:
		// The same timer as the one set when the finding was raised:
		// rescheduled to the next morning, or confirmed, never doubled.
		fu, err := r.scheduleFollowUp(ctx, f, u.UserID)
		if err != nil {
			return res, err
		}
		when := fu.At.In(locOf(r.team(run.Team))).Format("Mon 2 Jan 15:04 MST") + " in " + fu.Channel
		switch fu.State {
		case FollowUpPosted:
			res.Text = "the morning follow-up was already posted in " + fu.Channel
		default:
			res.Text = "the morning follow-up goes out " + when + ", saying what was done by then"
		}
		st.Status, st.By, st.At = StepDone, u.UserID, now
		st.Note = "follow-up scheduled for " + when
		if fu.State == FollowUpPosted {
			st.Note = "follow-up already posted in " + fu.Channel
		}
	}
	_, _, err = r.commit(ctx, pb, run, stepID, u.UserID, outcome(*st))
	return res, err
}

// Confirm runs the containment a contain step previewed, after the
// responder confirmed it. An AWS error fails the step with the error in
// plain words and leaves every other step as it was; the step can be run
// again.
func (r *Runner) Confirm(ctx context.Context, u authz.Actor, runID, stepID string) (containment.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, pb, _, st, err := r.step(ctx, runID, stepID)
	if err != nil {
		return containment.Record{}, err
	}
	if st.Record == "" {
		return containment.Record{}, fmt.Errorf("step %s has no previewed containment: %w", stepID, ErrStepState)
	}
	rec, runErr := r.d.Containment.Run(ctx, u, st.Record)
	if errors.Is(runErr, containment.ErrRefused) {
		return rec, runErr
	}
	st.By, st.At = u.UserID, r.d.Clock.Now().UTC()
	if runErr != nil {
		st.Status, st.Note = StepFailed, containment.PlainError(runErr)
	} else {
		st.Status = StepDone
		if rec.Outcome != nil {
			st.Note = rec.Outcome.Summary
		}
	}
	_, _, err = r.commit(ctx, pb, run, stepID, u.UserID, outcome(*st))
	return rec, errors.Join(runErr, err)
}

// escalation is the payload of an escalation timer.
type escalation struct {
	Run  string `json:"run"`
	Step string `json:"step"`
}

// Escalate handles a due escalation timer (an outbox item of KindEscalate).
// If the step was acknowledged (done or skipped) nothing happens; otherwise
// the run switches to the emergency path, SecOps on-call is mentioned, and
// the checklist shows it. Handling the same timer twice posts once.
func (r *Runner) Escalate(ctx context.Context, payload []byte) error {
	var e escalation
	if err := json.Unmarshal(payload, &e); err != nil {
		return fmt.Errorf("decode escalation: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	run, pb, step, st, err := r.step(ctx, e.Run, e.Step)
	if err != nil {
		return err
	}
	if st.Closed() || st.Escalated || step.Escalation == nil {
		return nil
	}
	now := r.d.Clock.Now().UTC()
	run, changed, err := r.commit(ctx, pb, run, e.Step, "system", func(run *Run, st *StepState) error {
		if st.Closed() || st.Escalated {
			return store.ErrUnchanged // acknowledged, or escalated, meanwhile elsewhere
		}
		st.Escalated = true
		run.Emergency, run.EmergencyAt = true, now
		return nil
	})
	if err != nil || !changed {
		return err
	}
	var next []string
	for _, s := range pb.Steps {
		if s.Path == PathEmergency {
			next = append(next, s.Title)
		}
	}
	text := fmt.Sprintf(":rotating_light: *%s* was not acknowledged within %s. %s", esc(step.Title), step.Escalation.After, esc(step.Escalation.Then))
	if len(run.OnCallSecOps) > 0 {
		text += " " + mentions(run.OnCallSecOps) + ", please take over."
	}
	if len(next) > 0 {
		text += "\nEmergency path: " + esc(strings.Join(next, " → ")) + "."
	}
	if err := r.d.Notifier.Reply(ctx, run.Thread.Channel, run.Thread.TS, text); err != nil {
		return fmt.Errorf("post escalation of run %s: %w", run.ID, err)
	}
	r.audit(ctx, store.AuditRecord{Actor: "system", Action: AuditEscalate, Target: run.FindingID, Result: "ok",
		Reason: "step " + step.ID + " not acknowledged within " + step.Escalation.After.String(), Detail: mustJSON(e)})
	return nil
}

// step loads a run, its playbook and a step.
func (r *Runner) step(ctx context.Context, runID, stepID string) (Run, Playbook, Step, *StepState, error) {
	run, err := r.load(ctx, runID)
	if err != nil {
		return Run{}, Playbook{}, Step{}, nil, err
	}
	pb, ok := r.d.Library.Get(run.Playbook)
	if !ok {
		return run, Playbook{}, Step{}, nil, fmt.Errorf("run %s: playbook %s is no longer defined", runID, run.Playbook)
	}
	step, ok := pb.Step(stepID)
	st, ok2 := run.Step(stepID)
	if !ok || !ok2 {
		return run, pb, Step{}, nil, fmt.Errorf("run %s step %q: %w", runID, stepID, ErrNoStep)
	}
	// st points into a copy the caller holds through run; hand back the
	// same copy so changes to st are seen in run.
	return run, pb, step, st, nil
}

// commit applies change to the run as stored and to its step stepID, then
// refreshes the checklist and audits the step. The change is made with
// compare-and-set, so what another replica stored meanwhile (another
// step, an escalation) is kept, and change may be called again on the
// newer run. change returns store.ErrUnchanged when the run as stored needs
// nothing; commit then reports false and neither refreshes nor audits. A
// failed checklist update is logged: the state is saved and the next update
// shows it. read is the run as the caller read it, returned with an error.
func (r *Runner) commit(ctx context.Context, pb Playbook, read Run, stepID, actor string, change func(*Run, *StepState) error) (Run, bool, error) {
	var changed bool
	run, err := r.runs().Update(ctx, read.ID, func(run *Run) error {
		st, ok := run.Step(stepID)
		if !ok {
			return fmt.Errorf("run %s step %q: %w", run.ID, stepID, ErrNoStep)
		}
		err := change(run, st)
		changed = err == nil
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return read, false, fmt.Errorf("run %s: %w", read.ID, ErrNoRun)
	}
	if err != nil {
		return read, false, fmt.Errorf("save run %s: %w", read.ID, err)
	}
	if !changed {
		return run, false, nil
	}
	st, _ := run.Step(stepID)
	if err := r.d.Notifier.UpdateChecklist(ctx, pb, run); err != nil {
		r.d.Log.Error().Err(err).Str("run", run.ID).Msg("update checklist")
	}
	r.audit(ctx, store.AuditRecord{Actor: actor, Action: AuditStep + "." + string(st.Status), Target: run.FindingID, Result: "ok",
		Reason: st.Note, Detail: mustJSON(map[string]any{"run": run.ID, "playbook": run.Playbook, "step": st.ID, "record": st.Record})})
	return run, true, nil
}

// outcome is the change that gives a step the result of an action (its
// status, who, when, the note and the containment record), leaving the
// rest of the run, and whether the step escalated, as stored.
func outcome(res StepState) func(*Run, *StepState) error {
	return func(_ *Run, st *StepState) error {
		st.Status, st.By, st.At, st.Note, st.Record = res.Status, res.By, res.At, res.Note, res.Record
		return nil
	}
}

func (r *Runner) authorise(ctx context.Context, u authz.Actor, target string) error {
	d, err := r.d.Authz.Check(ctx, u, authz.Responder)
	if err == nil && d.Allowed {
		return nil
	}
	reason := d.Reason
	if reason == "" {
		reason = "you are not allowed to do this"
	}
	r.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditStep, Target: target, Result: "refused", Reason: reason})
	return fmt.Errorf("%s: %w", reason, ErrRefused)
}

// runs are the playbook runs, one JSON document per run ID.
func (r *Runner) runs() *store.Doc[Run] { return store.NewDoc[Run](r.d.Store, KVRuns) }

// index maps a finding ID to its run's ID.
func (r *Runner) index() *store.Doc[string] { return store.NewTextDoc(r.d.Store, KVFindingRun) }

func (r *Runner) load(ctx context.Context, id string) (Run, error) {
	run, err := r.runs().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Run{}, fmt.Errorf("run %s: %w", id, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("load run %s: %w", id, err)
	}
	return run, nil
}

func (r *Runner) audit(ctx context.Context, rec store.AuditRecord) {
	rec.Time = r.d.Clock.Now().UTC()
	if _, err := r.d.Store.AppendAudit(ctx, rec); err != nil {
		r.d.Log.Error().Err(err).Str("action", rec.Action).Msg("append playbook audit record")
	}
}

func (r *Runner) team(name string) org.Team {
	if r.d.Teams == nil {
		return org.Team{Location: time.UTC}
	}
	if t, ok := r.d.Teams.Team(name); ok {
		return t
	}
	return r.d.Teams.SecOps()
}

func locOf(t org.Team) *time.Location {
	if t.Location == nil {
		return time.UTC
	}
	return t.Location
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "P-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func mustJSON(v any) []byte {
	raw, _ := json.Marshal(v) // maps and structs of strings
	return raw
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc makes text from AWS or configuration safe in mrkdwn.
func esc(s string) string { return mrkdwnEscaper.Replace(s) }
