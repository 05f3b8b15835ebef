package containment

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
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// State is where a containment record is in its life.
type State string

// States. A failed run keeps its record so it can be retried or inspected.
const (
	StatePreviewed State = "previewed"
	StateRunning   State = "running"
	StateApplied   State = "applied"
	StateFailed    State = "failed"
	StateUndone    State = "undone"
)

// Record is one containment from preview to undo. It is kept in the store so
// that a confirmation or an undo days later acts on exactly what was
// previewed and run, whatever a button carries.
type Record struct {
	ID        string `json:"id"`
	Action    string `json:"action"`
	FindingID string `json:"finding_id,omitempty"`
	Target    Target `json:"target"`
	Plan      Plan   `json:"plan"`
	State     State  `json:"state"`

	PreviewedBy string    `json:"previewed_by"`
	PreviewedAt time.Time `json:"previewed_at"`
	RanBy       string    `json:"ran_by,omitempty"`
	RanAt       time.Time `json:"ran_at,omitzero"`
	UndoneBy    string    `json:"undone_by,omitempty"`
	UndoneAt    time.Time `json:"undone_at,omitzero"`

	// Outcome is the run's result, holding the states before and after it
	// that undo works from.
	Outcome     *Outcome `json:"outcome,omitempty"`
	UndoOutcome *Outcome `json:"undo_outcome,omitempty"`
	// UndoReview is the last undo refused because the target had changed
	// since the run: what changed and what undo would do, for the user to
	// confirm.
	UndoReview *UndoPlan `json:"undo_review,omitempty"`
	// Error is the last failure in plain words.
	Error string `json:"error,omitempty"`
}

// Undoable reports whether the record can be undone now.
func (r Record) Undoable() bool { return r.State == StateApplied && r.Outcome != nil }

// Authorizer decides whether a user holds a role (authz.Authorizer).
type Authorizer interface {
	Check(ctx context.Context, who authz.Actor, role authz.Role) (authz.Decision, error)
}

// Store is the part of store.Store containment uses.
type Store interface {
	store.KV // records, as documents
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	ListFindings(ctx context.Context, f store.FindingFilter) ([]finding.Finding, error)
}

// KVNamespace holds containment records keyed by record ID.
const KVNamespace = "containment.record"

// Audit actions written by the service.
const (
	AuditPreview = "containment.preview"
	AuditRun     = "containment.run"
	AuditUndo    = "containment.undo"
	// AuditUndoReview records an undo held back because the target changed
	// since the run, with the changes the user is then shown.
	AuditUndoReview = "containment.undo_review"
)

// Service runs the preview → confirm → authorise → run → audit → undo flow.
type Service struct {
	provider Provider
	store    Store
	authz    Authorizer
	clk      clock.Clock
	log      zerolog.Logger
	actions  map[string]Action
	order    []string

	mu       sync.Mutex
	inFlight map[string]bool

	// recorder hears of every run that left the target contained and of
	// every undo; nil when nobody listens.
	recorder Recorder
}

// Recorder is told of containments once they are stored: Applied after a
// run left its target contained, Undone after an undo. It is how a
// containment reaches the rest of the bot, whichever path ran it (a
// checklist's Run button, the Contain… picker, a command): the finding
// shows it, its ticket is told, its state is read again and its playbook
// moves. A failure is logged; the change in AWS stands either way.
type Recorder interface {
	Applied(ctx context.Context, r Record) error
	Undone(ctx context.Context, r Record) error
}

// SetRecorder makes rec hear of every containment from now on. Call it
// before the service is used.
func (s *Service) SetRecorder(rec Recorder) { s.recorder = rec }

// record tells the recorder about a stored change.
func (s *Service) record(ctx context.Context, r Record, undone bool) {
	if s.recorder == nil {
		return
	}
	var err error
	if undone {
		err = s.recorder.Undone(ctx, r)
	} else {
		err = s.recorder.Applied(ctx, r)
	}
	if err != nil {
		s.log.Error().Err(err).Str("record", r.ID).Str("finding_id", r.FindingID).Bool("undone", undone).Msg("record containment on its finding")
	}
}

// New returns a Service over the provider's catalogue. A nil clock is the
// wall clock.
func New(p Provider, st Store, az Authorizer, clk clock.Clock, log zerolog.Logger) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	s := &Service{provider: p, store: st, authz: az, clk: clk, log: log, actions: map[string]Action{}, inFlight: map[string]bool{}}
	for _, a := range p.Catalogue() {
		s.actions[a.ID] = a
		s.order = append(s.order, a.ID)
	}
	return s
}

// Offer is an action that fits a finding, with the target it would act on.
type Offer struct {
	Action Action
	Target Target
}

// Offers lists the actions that fit the finding, in catalogue order. This
// is what the Contain… button shows.
func (s *Service) Offers(f finding.Finding) []Offer {
	var out []Offer
	for _, id := range s.order {
		a := s.actions[id]
		if a.Fit == nil {
			continue
		}
		if t, ok := a.Fit(f); ok {
			out = append(out, Offer{Action: a, Target: t})
		}
	}
	return out
}

// Action returns a catalogue entry.
func (s *Service) Action(id string) (Action, bool) {
	a, ok := s.actions[id]
	return a, ok
}

// Actions lists the catalogue in order.
func (s *Service) Actions() []Action {
	out := make([]Action, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.actions[id])
	}
	return out
}

// authorise re-checks the user at the moment of the action; a refusal is
// audited and returned wrapping ErrRefused with the reason in plain words.
func (s *Service) authorise(ctx context.Context, u authz.Actor, role authz.Role, action, target string) error {
	d, err := s.authz.Check(ctx, u, role)
	if err == nil && d.Allowed {
		return nil
	}
	reason := d.Reason
	if reason == "" {
		reason = "you are not allowed to do this"
	}
	s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: action, Target: target, Result: "refused", Reason: reason})
	if err != nil {
		return fmt.Errorf("%s: %w: %w", reason, ErrRefused, err)
	}
	return fmt.Errorf("%s: %w", reason, ErrRefused)
}

// Preview authorises the user, fits the action to the finding and asks the
// provider for the exact calls. The record it stores is what a confirmation
// later runs.
func (s *Service) Preview(ctx context.Context, u authz.Actor, actionID string, f finding.Finding) (Record, error) {
	a, ok := s.actions[actionID]
	if !ok {
		return Record{}, fmt.Errorf("%q: %w", actionID, ErrUnknownAction)
	}
	if err := s.authorise(ctx, u, authz.Responder, AuditPreview, f.ID); err != nil {
		return Record{}, err
	}
	t, ok := a.Fit(f)
	if !ok {
		return Record{}, fmt.Errorf("%s on finding %s (%s %s): %w", actionID, f.ID, f.Resource.Type, f.Resource.ID, ErrNotApplicable)
	}
	return s.preview(ctx, u, a, t, f.ID)
}

// PreviewTarget previews an action named in a command: target is a
// resource ID or ARN, or an IAM user or role name or ARN, and must belong
// to a finding, which supplies the account and region. Open findings come
// first, the newest winning; then resolved ones (the actor of an exposure
// fixed meanwhile, by the unshare just run say, may still need locking).
func (s *Service) PreviewTarget(ctx context.Context, u authz.Actor, actionID, target string) (Record, error) {
	a, ok := s.actions[actionID]
	if !ok {
		return Record{}, fmt.Errorf("%q: %w", actionID, ErrUnknownAction)
	}
	if err := s.authorise(ctx, u, authz.Responder, AuditPreview, target); err != nil {
		return Record{}, err
	}
	for _, filter := range []store.FindingFilter{
		{Statuses: []finding.Status{finding.StatusOpen}},
		{Statuses: []finding.Status{finding.StatusResolved}, Limit: recentResolved},
	} {
		fs, err := s.store.ListFindings(ctx, filter)
		if err != nil {
			return Record{}, fmt.Errorf("list %s findings: %w", filter.Statuses[0], err)
		}
		for _, f := range fs {
			t, ok := a.Fit(f)
			if ok && targetMatches(t, target) {
				return s.preview(ctx, u, a, t, f.ID)
			}
		}
	}
	return Record{}, fmt.Errorf("%s %q: no open or recently resolved finding names this target: %w", actionID, target, ErrNotApplicable)
}

// recentResolved is how many of the newest resolved findings a command's
// target is looked for in.
const recentResolved = 50

func targetMatches(t Target, text string) bool {
	text = strings.TrimSpace(text)
	if text == "" {
		return false
	}
	return strings.EqualFold(t.ID, text) || (t.ARN != "" && t.ARN == text)
}

func (s *Service) preview(ctx context.Context, u authz.Actor, a Action, t Target, findingID string) (Record, error) {
	p, err := s.provider.Preview(ctx, a.ID, t)
	if err != nil {
		s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditPreview, Target: targetRef(t), Result: "error", Reason: PlainError(err)})
		return Record{}, fmt.Errorf("preview %s on %s: %w", a.ID, t, err)
	}
	r := Record{
		ID: newID(), Action: a.ID, FindingID: findingID, Target: t, Plan: p,
		State: StatePreviewed, PreviewedBy: u.UserID, PreviewedAt: s.clk.Now().UTC(),
	}
	if err := s.records().Create(ctx, r.ID, r); err != nil {
		return Record{}, fmt.Errorf("save containment %s: %w", r.ID, err)
	}
	s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditPreview, Target: targetRef(t), Result: "ok", Detail: auditDetail(r, nil)})
	return r, nil
}

// records are the containment records, one document per record ID. Every
// change after the preview is an Update: it applies to the record as last
// stored, whichever replica stored it.
func (s *Service) records() *store.Doc[Record] { return store.NewDoc[Record](s.store, KVNamespace) }

// Get loads a record.
func (s *Service) Get(ctx context.Context, id string) (Record, error) {
	r, err := s.records().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("load containment %s: %w", id, err)
	}
	return r, nil
}

// save applies change to the record as stored and returns the result. r is
// the caller's copy, already changed the same way, returned with the error
// when the write fails so the caller can still report what happened.
func (s *Service) save(ctx context.Context, r Record, change func(*Record) error) (Record, error) {
	out, err := s.records().Update(ctx, r.ID, change)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("save containment %s: %w", r.ID, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("save containment %s: %w", r.ID, err)
	}
	return out, nil
}

// claim marks a record as being worked on in this process, so a double
// click runs it once.
func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight[id] {
		return false
	}
	s.inFlight[id] = true
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.inFlight, id)
	s.mu.Unlock()
}

// ErrBusy is returned when the same record is already being run or undone.
var ErrBusy = errors.New("this containment is already in progress")

// errApplied says a run found the record applied: there is nothing to do.
var errApplied = errors.New("already applied")

// Run re-checks the user's authorisation and runs a confirmed preview in the
// target account. Running an applied record again does nothing and returns
// it unchanged; a failed one is retried. An error from AWS leaves the record
// in StateFailed with the error in plain words, and is returned as well.
//
// The in-process claim stops a double click; a run started meanwhile on
// another replica is stopped by the record itself: moving it to running is
// a compare-and-set decided on the record as stored, and a record another
// run moved since it was read is left to that run (ErrBusy).
func (s *Service) Run(ctx context.Context, u authz.Actor, id string) (Record, error) {
	if !s.claim(id) {
		return Record{}, fmt.Errorf("run %s: %w", id, ErrBusy)
	}
	defer s.release(id)
	seen, err := s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if err := s.authorise(ctx, u, authz.Responder, AuditRun, targetRef(seen.Target)); err != nil {
		return seen, err
	}
	now := s.clk.Now().UTC()
	r, err := s.records().Update(ctx, id, func(r *Record) error {
		switch r.State {
		case StateApplied:
			return errApplied
		case StateRunning:
			// Only seen after a crash mid-run, when it is the run this
			// call read; the provider re-reads the state, so running
			// again is safe. Any other is a run under way elsewhere.
			if seen.State != StateRunning || !seen.RanAt.Equal(r.RanAt) || seen.RanBy != r.RanBy {
				return fmt.Errorf("run %s: %w", id, ErrBusy)
			}
		case StatePreviewed, StateFailed:
		default:
			return fmt.Errorf("run %s (%s): preview the action again: %w", id, r.State, ErrState)
		}
		r.State, r.RanBy, r.RanAt = StateRunning, u.UserID, now
		return nil
	})
	switch {
	case errors.Is(err, errApplied):
		return r, nil
	case errors.Is(err, ErrBusy), errors.Is(err, ErrState):
		return r, err
	case errors.Is(err, store.ErrNotFound):
		return seen, fmt.Errorf("%s: %w", id, ErrNotFound)
	case err != nil:
		return seen, fmt.Errorf("save containment %s: %w", id, err)
	}
	out, runErr := s.provider.Apply(ctx, r)
	if runErr != nil {
		fail := func(r *Record) error {
			r.State, r.Error = StateFailed, PlainError(runErr)
			return nil
		}
		_ = fail(&r)
		s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditRun, Target: targetRef(r.Target), Result: "error", Reason: r.Error, Detail: auditDetail(r, &out)})
		r, err := s.save(ctx, r, fail)
		if err != nil {
			return r, errors.Join(runErr, err)
		}
		return r, fmt.Errorf("run %s on %s: %w", r.Action, r.Target, runErr)
	}
	applied := func(r *Record) error {
		r.State, r.Error, r.Outcome = StateApplied, "", &out
		return nil
	}
	_ = applied(&r)
	s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditRun, Target: targetRef(r.Target), Result: "ok", Reason: out.Summary, Detail: auditDetail(r, &out)})
	saved, err := s.save(ctx, r, applied)
	if err == nil {
		s.record(ctx, saved, false)
	}
	return saved, err
}

// Undo re-adds what an applied record's run removed, leaving later changes
// to the target as they are. When the target changed since the run it
// changes nothing: the record keeps the difference in UndoReview, the
// refusal is audited, and a *DriftError says what changed, for the user to
// confirm with UndoReviewed. Undo of an action marked UndoAdminOnly needs
// the admin role. Undoing twice does nothing; of two undos racing on two
// replicas, the record keeps the first one stored.
func (s *Service) Undo(ctx context.Context, u authz.Actor, id string) (Record, error) {
	return s.undo(ctx, u, id, "")
}

// UndoReviewed undoes a record after the user confirmed the changes made
// to the target since the run: state is the fingerprint of the state they
// were shown (UndoPlan.State). Should the target have changed again since,
// it refuses as Undo does, with the new difference.
func (s *Service) UndoReviewed(ctx context.Context, u authz.Actor, id, state string) (Record, error) {
	if state == "" {
		return Record{}, fmt.Errorf("undo %s: no reviewed state: %w", id, ErrState)
	}
	return s.undo(ctx, u, id, state)
}

func (s *Service) undo(ctx context.Context, u authz.Actor, id, state string) (Record, error) {
	if !s.claim(id) {
		return Record{}, fmt.Errorf("undo %s: %w", id, ErrBusy)
	}
	defer s.release(id)
	r, err := s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	role := authz.Responder
	if a, ok := s.actions[r.Action]; ok && a.UndoAdminOnly {
		role = authz.Admin
	}
	if err := s.authorise(ctx, u, role, AuditUndo, targetRef(r.Target)); err != nil {
		return r, err
	}
	if r.State == StateUndone {
		return r, nil
	}
	if !r.Undoable() {
		return r, fmt.Errorf("undo %s (%s): only an applied containment can be undone: %w", id, r.State, ErrState)
	}
	out, undoErr := s.provider.Undo(ctx, r, u.UserID, state)
	var drift *DriftError
	if errors.As(undoErr, &drift) {
		review := func(r *Record) error {
			if r.State == StateUndone {
				return store.ErrUnchanged
			}
			plan := drift.Plan
			r.UndoReview, r.Error = &plan, ""
			return nil
		}
		_ = review(&r)
		s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditUndoReview, Target: targetRef(r.Target), Result: "changed",
			Reason: strings.Join(drift.Plan.Changes, "; "), Detail: undoReviewDetail(r, drift.Plan)})
		r, err := s.save(ctx, r, review)
		switch {
		case err != nil:
			return r, errors.Join(undoErr, err)
		case r.State == StateUndone:
			return r, nil // undone meanwhile elsewhere: the change seen was that undo's
		}
		return r, fmt.Errorf("undo %s on %s: %w", r.Action, r.Target, undoErr)
	}
	if undoErr != nil {
		failed := func(r *Record) error {
			if r.State == StateUndone {
				return store.ErrUnchanged // undone meanwhile elsewhere
			}
			r.Error = PlainError(undoErr)
			return nil
		}
		_ = failed(&r)
		s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditUndo, Target: targetRef(r.Target), Result: "error", Reason: r.Error, Detail: auditDetail(r, &out)})
		r, err := s.save(ctx, r, failed)
		if err != nil {
			return r, errors.Join(undoErr, err)
		}
		return r, fmt.Errorf("undo %s on %s: %w", r.Action, r.Target, undoErr)
	}
	now := s.clk.Now().UTC()
	undone := func(r *Record) error {
		if r.State == StateUndone {
			return store.ErrUnchanged // the first undo stored stays on record
		}
		r.State, r.Error, r.UndoOutcome, r.UndoReview = StateUndone, "", &out, nil
		r.UndoneBy, r.UndoneAt = u.UserID, now
		return nil
	}
	_ = undone(&r)
	s.audit(ctx, store.AuditRecord{Actor: u.UserID, Action: AuditUndo, Target: targetRef(r.Target), Result: "ok", Reason: out.Summary, Detail: auditDetail(r, &out)})
	saved, err := s.save(ctx, r, undone)
	if err == nil && saved.UndoneBy == u.UserID && saved.UndoneAt.Equal(now) {
		s.record(ctx, saved, true)
	}
	return saved, err
}

// undoReviewDetail is what the audit log keeps of an undo held back: the
// state the run left, the state found, and what changed in between.
func undoReviewDetail(r Record, p UndoPlan) []byte {
	d := struct {
		Record  string          `json:"record"`
		Action  string          `json:"action"`
		Target  Target          `json:"target"`
		Left    json.RawMessage `json:"left,omitempty"`
		Current json.RawMessage `json:"current,omitempty"`
		Changes []string        `json:"changes"`
		Calls   []Call          `json:"calls"`
		Notes   []string        `json:"notes,omitempty"`
	}{Record: r.ID, Action: r.Action, Target: r.Target, Current: p.Current, Changes: p.Changes, Calls: p.Calls, Notes: p.Notes}
	if r.Outcome != nil {
		d.Left = r.Outcome.After
	}
	raw, _ := json.Marshal(d) // plain structs of strings and raw JSON
	return raw
}

// audit appends to the audit log. A failure is logged, not returned: the
// change in AWS has happened and must still be reported to the responder.
func (s *Service) audit(ctx context.Context, rec store.AuditRecord) {
	rec.Time = s.clk.Now().UTC()
	if _, err := s.store.AppendAudit(ctx, rec); err != nil {
		s.log.Error().Err(err).Str("action", rec.Action).Str("target", rec.Target).Msg("append containment audit record")
	}
}

// auditDetail is what the audit log keeps of a containment: enough to
// answer "what exactly was changed, and what was it before?".
func auditDetail(r Record, out *Outcome) []byte {
	d := struct {
		Record    string          `json:"record"`
		Action    string          `json:"action"`
		FindingID string          `json:"finding_id,omitempty"`
		Target    Target          `json:"target"`
		Calls     []Call          `json:"calls"`
		Before    json.RawMessage `json:"before,omitempty"`
		After     json.RawMessage `json:"after,omitempty"`
		Changed   *bool           `json:"changed,omitempty"`
	}{Record: r.ID, Action: r.Action, FindingID: r.FindingID, Target: r.Target, Calls: r.Plan.Calls, Before: r.Plan.Before}
	if out != nil && (len(out.Calls) > 0 || len(out.Before) > 0) {
		d.Calls, d.Before, d.After, d.Changed = out.Calls, out.Before, out.After, &out.Changed
	}
	raw, _ := json.Marshal(d) // plain structs of strings and raw JSON
	return raw
}

func targetRef(t Target) string {
	if t.ARN != "" {
		return t.ARN
	}
	return t.AccountID + ":" + t.Type + ":" + t.ID
}

// newID returns an opaque record ID; buttons carry it, and it must not be
// guessable from the target.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "C-" + strings.ToUpper(hex.EncodeToString(b[:]))
}
