// Package triage carries out what responders do to a finding from Slack:
// acknowledge it, resolve it by hand, or mark it expected so that the same
// exposure stops alerting. It is independent of Slack: the buttons and the
// /secops ack and resolve commands in bot/ call the same Service.
//
// Every call is authorised at the moment it runs (never from what a button
// carried), moves the finding by compare-and-set in one store transaction
// together with its Slack updates (outbox items), and leaves exactly one
// audit record, whether it was allowed, refused, a no-op or failed.
package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of store.Store triage uses.
type Store interface {
	UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error)
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	store.KV // the allowlist, as documents
}

// Checker authorises an action (an *authz.Authorizer).
type Checker interface {
	Check(ctx context.Context, who authz.Actor, role authz.Role) (authz.Decision, error)
}

// Planner turns a finding change into outbox items (Slack message updates,
// thread replies), stored in the same transaction as the change.
type Planner interface {
	Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem
}

// Audit actions.
const (
	ActionAck            = "finding.ack"
	ActionResolve        = "finding.resolve"
	ActionExpected       = "finding.expected"
	ActionExpectedRemove = "finding.expected.remove"
)

// Audit results.
const (
	ResultOK      = "ok"
	ResultRefused = "refused"
	ResultError   = "error"
	ResultNoop    = "noop"
)

// Sentinel errors; every error a person caused is an *Error wrapping one of
// them, with a message they can read.
var (
	// ErrForbidden: the user may not do this (see the message for why).
	ErrForbidden = errors.New("forbidden")
	// ErrAlready: someone already did it; nothing changed.
	ErrAlready = errors.New("already done")
	// ErrState: the finding's status does not allow it (acknowledging a
	// resolved finding, say).
	ErrState = errors.New("not possible in the finding's state")
	// ErrInvalid: the request itself is incomplete or malformed (no
	// reason, a bad pattern).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound is store.ErrNotFound, so either matches with errors.Is.
	ErrNotFound = store.ErrNotFound
)

// Error is an outcome to show the person who asked: Error() is the message,
// in plain words, and Unwrap gives the sentinel.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

// Service performs triage actions.
type Service struct {
	st    Store
	authz Checker
	plan  Planner
	clk   clock.Clock
}

// New returns a Service. A nil clock means the wall clock.
func New(st Store, authz Checker, plan Planner, clk clock.Clock) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Service{st: st, authz: authz, plan: plan, clk: clk}
}

// Limits on what people type, so that a pasted novel does not end up in
// every Slack update and audit record.
const (
	maxReason  = 2000 // runes
	maxPattern = 255  // bytes
	maxID      = 64   // bytes of a finding or entry ID
)

// Ack records that the actor is looking at the finding. Acknowledging an
// acknowledged finding changes nothing and returns ErrAlready naming who
// was first, with the finding as stored; a resolved or suppressed finding
// cannot be acknowledged (ErrState). origin says where the action came from,
// for the audit log ("button C123/1700000000.000100", "command").
func (s *Service) Ack(ctx context.Context, a authz.Actor, findingID string, origin string) (finding.Finding, error) {
	var out finding.Finding
	err := s.run(ctx, a, ActionAck, findingID, origin, func(dec authz.Decision, rec *auditNote) error {
		rec.reason = dec.Reason
		f, err := s.update(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
			switch {
			case f.Status == finding.StatusResolved:
				return store.FindingEvent{}, &Error{ErrState, fmt.Sprintf("%s is already resolved; there is nothing to acknowledge", f.ID)}
			case f.Status == finding.StatusSuppressed:
				return store.FindingEvent{}, &Error{ErrState, fmt.Sprintf("%s is marked expected; there is nothing to acknowledge", f.ID)}
			case f.AckedBy != "":
				return store.FindingEvent{}, &Error{ErrAlready, fmt.Sprintf("%s was already acknowledged by %s at %s", f.ID, mention(f.AckedBy), stamp(f.AckedAt))}
			}
			now := s.clk.Now()
			f.AckedBy, f.AckedAt = a.UserID, now
			f.Version++
			note := "acknowledged by " + mention(a.UserID)
			ev := store.FindingEvent{Time: now, Status: f.Status, Actor: a.UserID, Note: note}
			ev.Outbox = s.plan.Plan(*f, finding.ChangeAcknowledged, a.UserID, "")
			return ev, nil
		})
		out = f
		rec.finding(f)
		return err
	})
	return out, err
}

// Resolve closes the finding by hand with a reason, which is required.
// Resolving a resolved finding changes nothing and returns ErrAlready
// saying who resolved it and when.
func (s *Service) Resolve(ctx context.Context, a authz.Actor, findingID, reason, origin string) (finding.Finding, error) {
	var out finding.Finding
	err := s.run(ctx, a, ActionResolve, findingID, origin, func(dec authz.Decision, rec *auditNote) error {
		reason = strings.TrimSpace(reason)
		rec.reason = reason
		if err := checkReason(reason, "resolving"); err != nil {
			return err
		}
		f, err := s.update(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
			if f.Status == finding.StatusResolved {
				return store.FindingEvent{}, &Error{ErrAlready, alreadyResolved(*f)}
			}
			now := s.clk.Now()
			f.Status = finding.StatusResolved
			f.ResolvedBy, f.ResolvedAt, f.ResolveReason = a.UserID, now, reason
			// A manual resolution has no remediating event; one left from
			// an earlier resolution would describe the wrong fix.
			f.ResolvedEvent = nil
			f.OpenFor = 0
			if !f.OpenedAt.IsZero() && now.After(f.OpenedAt) {
				f.OpenFor = now.Sub(f.OpenedAt)
			}
			f.Version++
			ev := store.FindingEvent{Time: now, Status: f.Status, Actor: a.UserID, Note: "resolved by " + mention(a.UserID) + ": " + reason}
			ev.Outbox = s.plan.Plan(*f, finding.ChangeResolved, a.UserID, reason)
			return ev, nil
		})
		out = f
		rec.finding(f)
		return err
	})
	return out, err
}

// alreadyResolved says who resolved f and how, for the second person to try.
func alreadyResolved(f finding.Finding) string {
	msg := fmt.Sprintf("%s was already resolved", f.ID)
	if f.ResolvedBy != "" {
		msg += " by " + mention(f.ResolvedBy)
	}
	if f.ResolvedEvent != nil && f.ResolvedEvent.Name != "" {
		msg += " with " + f.ResolvedEvent.Name
	}
	if !f.ResolvedAt.IsZero() {
		msg += " at " + stamp(f.ResolvedAt)
	}
	if f.ResolveReason != "" {
		msg += ": " + f.ResolveReason
	}
	return msg
}

// update runs a compare-and-set on the finding and turns the store's
// not-found into a message. On an *Error from fn the finding is returned as
// it was read, so the caller can show the current state.
func (s *Service) update(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error) {
	if id == "" || len(id) > maxID {
		return finding.Finding{}, &Error{ErrNotFound, fmt.Sprintf("there is no finding %q", clip(id, maxID))}
	}
	var current finding.Finding
	f, err := s.st.UpdateFinding(ctx, id, func(f *finding.Finding) (store.FindingEvent, error) {
		current = *f
		return fn(f)
	})
	var e *Error
	switch {
	case err == nil:
		return f, nil
	case errors.As(err, &e):
		return current, e
	case errors.Is(err, store.ErrNotFound):
		return finding.Finding{}, &Error{ErrNotFound, fmt.Sprintf("there is no finding %s", id)}
	}
	return finding.Finding{}, err
}

func checkReason(reason, doing string) error {
	if reason == "" {
		return &Error{ErrInvalid, "a reason is required for " + doing}
	}
	if n := utf8.RuneCountInString(reason); n > maxReason {
		return &Error{ErrInvalid, fmt.Sprintf("the reason is too long (%d characters; at most %d)", n, maxReason)}
	}
	return nil
}

// auditNote collects what the audit record of one call says besides who,
// what and the result.
type auditNote struct {
	reason string
	detail auditDetail
}

// auditDetail is the JSON detail of triage audit records.
type auditDetail struct {
	Origin  string       `json:"origin"`
	Authz   string       `json:"authz,omitempty"`
	Roles   []authz.Role `json:"roles,omitempty"`
	Status  string       `json:"status,omitempty"`
	Version int          `json:"version,omitempty"`
	Entry   *AllowEntry  `json:"entry,omitempty"`
}

func (n *auditNote) finding(f finding.Finding) {
	if f.ID == "" {
		return
	}
	n.detail.Status, n.detail.Version = string(f.Status), f.Version
}

// run authorises the actor as a responder, runs body, and writes the one
// audit record of the call from its outcome.
func (s *Service) run(ctx context.Context, a authz.Actor, action, target, origin string, body func(authz.Decision, *auditNote) error) error {
	rec := &auditNote{detail: auditDetail{Origin: origin}}
	dec, err := s.authz.Check(ctx, a, authz.Responder)
	rec.detail.Authz, rec.detail.Roles = dec.Reason, dec.Roles
	switch {
	case err != nil:
		err = fmt.Errorf("%s %s: authorise %s: %w", action, clip(target, maxID), a, err)
		rec.reason = "authorisation failed: " + err.Error()
	case !dec.Allowed:
		err = &Error{ErrForbidden, dec.Reason}
		rec.reason = dec.Reason
	default:
		err = body(dec, rec)
	}

	result := ResultOK
	var e *Error
	switch {
	case err == nil:
	case errors.Is(err, ErrAlready):
		result = ResultNoop
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrState), errors.Is(err, ErrInvalid):
		result = ResultRefused
	default:
		result = ResultError
	}
	if err != nil && errors.As(err, &e) {
		rec.reason = e.Msg
	} else if err != nil && result == ResultError && rec.reason == "" {
		rec.reason = err.Error()
	}
	detail, _ := json.Marshal(rec.detail) // strings, ints and a flat struct cannot fail
	_, aerr := s.st.AppendAudit(ctx, store.AuditRecord{
		Time:   s.clk.Now(),
		Actor:  a.String(),
		Action: action,
		Target: clip(target, maxID),
		Result: result,
		Reason: clip(rec.reason, maxReason),
		Detail: detail,
	})
	if aerr != nil {
		aerr = fmt.Errorf("%s %s (%s) not audited: %w", action, clip(target, maxID), result, aerr)
		if err == nil {
			return aerr
		}
		return errors.Join(err, aerr)
	}
	return err
}

// mention renders a stored actor for a message: Slack users as mentions,
// the bot by name, AWS principals as they are.
func mention(who string) string {
	switch {
	case who == "":
		return "someone"
	case who == "system":
		return "secops-bot"
	case isUserID(who):
		return "<@" + who + ">"
	}
	return who
}

func isUserID(s string) bool {
	if len(s) < 3 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// stamp is a time in messages and notes: UTC, to the second, readable in
// any time zone.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
