package breakglass

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/org/authz"
)

// NewRequest is what a requester asks for.
type NewRequest struct {
	Requester authz.Actor
	Account   string
	Level     string        // "" for the account's first level
	Duration  time.Duration // 0 for the default
	Reason    string
	FindingID string
}

// Request files a request, posts it for approval and starts its timers.
func (s *Service) Request(ctx context.Context, in NewRequest) (Request, error) {
	now := s.Clock.Now().UTC()
	if err := s.authorize(ctx, in.Requester, ActRequest, in.Account, authz.Responder); err != nil {
		return Request{}, err
	}
	pol, ok := s.cfg.Accounts[in.Account]
	if !ok {
		return Request{}, fmt.Errorf("request access to %s: %w", in.Account, ErrUnknownAccount)
	}
	lvl, ok := level(pol, in.Level)
	if !ok {
		return Request{}, fmt.Errorf("request %q in %s: %w", in.Level, in.Account, ErrUnknownLevel)
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	r := Request{
		ID:           newID(),
		State:        StatePending,
		Requester:    in.Requester.UserID,
		TeamID:       in.Requester.TeamID,
		Account:      in.Account,
		AccountName:  pol.Name,
		Mode:         pol.Mode,
		Level:        lvl.Name,
		Reason:       clipText(reason, 2000),
		FindingID:    in.FindingID,
		TwoApprovers: pol.TwoApprovers,
		CreatedAt:    now,
		DecideBy:     now.Add(s.cfg.RequestTTL),
	}
	r.Duration, r.CappedFrom = s.window(ctx, in.Account, lvl, in.Duration)
	if pol.Mode == ModeIdentityCenter {
		if s.Emails == nil {
			return Request{}, errors.New("request access: identity-center accounts need an email directory")
		}
		email, err := s.Emails.Email(ctx, in.Requester.UserID)
		if err != nil || email == "" {
			return Request{}, fmt.Errorf("request access: find the email of %s for Identity Center: %w", in.Requester.UserID, errors.Join(err, errors.New("no email")))
		}
		r.Email = email
	}
	if err := s.create(ctx, r); err != nil {
		var dup *DuplicateError
		if errors.As(err, &dup) {
			s.audit(ctx, r.Requester, ActRequest, r.ID, "refused", "duplicate of "+dup.Existing.ID, r)
		}
		return Request{}, err
	}
	s.audit(ctx, r.Requester, ActRequest, r.ID, "ok", r.Reason, r)
	// Timers first, so that a request is never left without its expiry.
	s.schedule(ctx, r.ID, kindRemind, r.CreatedAt.Add(s.cfg.RequestTTL/2))
	s.schedule(ctx, r.ID, kindTimeout, r.DecideBy)
	r = s.postRequest(ctx, r)
	return s.noteRequester(ctx, r), nil
}

// window picks the access duration: the default when none is asked, cut
// to the configured and the role's maximum.
func (s *Service) window(ctx context.Context, account string, l Level, asked time.Duration) (d, cappedFrom time.Duration) {
	d = asked
	if d <= 0 {
		d = s.cfg.DefaultDuration
	}
	limit := s.cfg.MaxDuration
	if l.MaxDuration > 0 && l.MaxDuration < limit {
		limit = l.MaxDuration
	}
	if sl, ok := s.Granter.(SessionLimiter); ok {
		max, err := sl.MaxSession(ctx, account, l)
		if err != nil {
			s.Log.Warn().Err(err).Str("account", account).Str("level", l.Name).Msg("role maximum session unknown; using the configured limit")
		} else if max > 0 && max < limit {
			limit = max
		}
	}
	if d > limit {
		return limit, d
	}
	return d, 0
}

func level(p AccountPolicy, name string) (Level, bool) {
	if len(p.Levels) == 0 {
		return Level{}, false
	}
	if name == "" {
		return p.Levels[0], true
	}
	for _, l := range p.Levels {
		if l.Name == name {
			return l, true
		}
	}
	return Level{}, false
}

// ActOpenForm is opening the request form, which lists the accounts and
// levels that can be requested: refused to those who may not request.
const ActOpenForm = "breakglass.form"

// MayRequest reports whether the actor may request access at all, before the
// request form shows them what could be requested. A refusal is audited
// and returned as a *RefusedError.
func (s *Service) MayRequest(ctx context.Context, a authz.Actor) error {
	return s.authorize(ctx, a, ActOpenForm, "request form", authz.Responder)
}

// MayApprove reports whether the actor may approve request id at all, before a
// one-time code is asked for (or a secret issued): refused like Approve,
// and audited the same way.
func (s *Service) MayApprove(ctx context.Context, a authz.Actor, id string) error {
	if err := s.authorize(ctx, a, ActApprove, id, authz.Approver); err != nil {
		return err
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.Requester == a.UserID {
		s.refused(ctx, a.UserID, ActApprove, id, ErrSelfApproval)
		return ErrSelfApproval
	}
	return nil
}

// NeedsStepUp reports whether approving request id needs a one-time code.
func (s *Service) NeedsStepUp(ctx context.Context, id string) (bool, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return s.stepUp(r.Account), nil
}

func (s *Service) stepUp(account string) bool {
	p, ok := s.cfg.Accounts[account]
	return ok && p.StepUp != nil && *p.StepUp
}

// ApproveWithCode approves request id after checking the approver's
// one-time code: the approver's first code also completes their
// enrolment. A wrong code is refused (and audited by the step-up service)
// before anything about the request changes.
func (s *Service) ApproveWithCode(ctx context.Context, a authz.Actor, id, code string) (Request, error) {
	if err := s.authorize(ctx, a, ActApprove, id, authz.Approver); err != nil {
		return Request{}, err
	}
	if s.StepUp == nil {
		return Request{}, errors.New("one-time codes are not configured (breakglass step-up keys)")
	}
	enrolled, err := s.StepUp.Enrolled(ctx, a.UserID)
	if err != nil {
		return Request{}, err
	}
	if enrolled {
		err = s.StepUp.Verify(ctx, a.UserID, code, "approve "+id)
	} else {
		err = s.StepUp.Confirm(ctx, a.UserID, code)
	}
	if err != nil {
		return Request{}, &RefusedError{Reason: err.Error()}
	}
	return s.approve(ctx, a, id, true)
}

// Approve records the actor's approval, re-checking at click time that they may
// approve. The decision is a compare-and-set: of two approvers clicking at
// once, one wins and the other gets a *DecidedError naming the winner. Once
// enough approvers agreed, access is granted.
func (s *Service) Approve(ctx context.Context, a authz.Actor, id string) (Request, error) {
	if err := s.authorize(ctx, a, ActApprove, id, authz.Approver); err != nil {
		return Request{}, err
	}
	return s.approve(ctx, a, id, false)
}

// approve records the actor's approval; stepped says the approver gave a good
// one-time code, which accounts with step_up on require.
func (s *Service) approve(ctx context.Context, a authz.Actor, id string, stepped bool) (Request, error) {
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, id, func(r *Request) error {
		if err := decidable(r, now); err != nil {
			return err
		}
		if s.stepUp(r.Account) && !stepped {
			return ErrStepUpRequired
		}
		switch {
		case r.Requester == a.UserID:
			return ErrSelfApproval
		case r.ApprovedBy(a.UserID):
			return ErrAlreadyApproved
		}
		r.Approvals = append(r.Approvals, Approval{User: a.UserID, At: now})
		if len(r.Approvals) >= r.ApprovalsNeeded() {
			// The window is fixed with the decision, so that a restart
			// before the grant still knows when it would have ended.
			r.State, r.DecidedBy, r.DecidedAt = StateApproved, a.UserID, now
			r.StartedAt, r.EndsAt = now, now.Add(r.Duration)
		}
		return nil
	})
	if err != nil {
		s.refused(ctx, a.UserID, ActApprove, id, err)
		return r, err
	}
	s.audit(ctx, a.UserID, ActApprove, id, "ok", fmt.Sprintf("approval %d of %d", len(r.Approvals), r.ApprovalsNeeded()), nil)
	if r.State == StatePending {
		s.sync(ctx, r)
		return r, nil
	}
	return s.activate(ctx, r), nil
}

// SelfApprove lets the requester approve their own request once nobody
// answered within SelfApproveAfter. It is announced in the SecOps channel
// and opens a review an approver must close.
func (s *Service) SelfApprove(ctx context.Context, a authz.Actor, id string) (Request, error) {
	if err := s.authorize(ctx, a, ActSelfApprove, id, authz.Responder); err != nil {
		return Request{}, err
	}
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, id, func(r *Request) error {
		if err := decidable(r, now); err != nil {
			return err
		}
		at := s.selfApproveAt(*r)
		// Where approvers must give a one-time code, the requester's own
		// say-so is not enough either.
		if r.Requester != a.UserID || at.IsZero() || now.Before(at) || r.TwoApprovers || s.stepUp(r.Account) {
			return ErrSelfApproveOff
		}
		r.Approvals = append(r.Approvals, Approval{User: a.UserID, At: now})
		r.State, r.DecidedBy, r.DecidedAt = StateApproved, a.UserID, now
		r.StartedAt, r.EndsAt = now, now.Add(r.Duration)
		r.SelfApproved, r.ReviewOpen = true, true
		return nil
	})
	if err != nil {
		s.refused(ctx, a.UserID, ActSelfApprove, id, err)
		return r, err
	}
	s.audit(ctx, a.UserID, ActSelfApprove, id, "ok", "no approver answered within "+s.cfg.SelfApproveAfter.String(), nil)
	if _, err := s.Notify.Post(ctx, s.cfg.SecOpsChannel, "", Message{Kind: KindSelfApproved, Request: r, Mentions: s.approvers(ctx)}); err != nil {
		s.Log.Error().Err(err).Str("request", id).Msg("announce self-approval")
	}
	return s.activate(ctx, r), nil
}

// CloseReview closes the review a self-approval opened; only an approver
// other than the requester may.
func (s *Service) CloseReview(ctx context.Context, a authz.Actor, id, note string) (Request, error) {
	if err := s.authorize(ctx, a, ActReview, id, authz.Approver); err != nil {
		return Request{}, err
	}
	r, err := s.update(ctx, id, func(r *Request) error {
		switch {
		case !r.ReviewOpen:
			return errors.New("this request has no open review")
		case r.Requester == a.UserID:
			return errors.New("you cannot review your own self-approval")
		}
		r.ReviewOpen, r.ReviewedBy = false, a.UserID
		return nil
	})
	if err != nil {
		s.refused(ctx, a.UserID, ActReview, id, err)
		return r, err
	}
	s.audit(ctx, a.UserID, ActReview, id, "ok", note, nil)
	s.sync(ctx, r)
	return r, nil
}

// Deny refuses a pending request, with a reason.
func (s *Service) Deny(ctx context.Context, a authz.Actor, id, reason string) (Request, error) {
	if err := s.authorize(ctx, a, ActDeny, id, authz.Approver); err != nil {
		return Request{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Request{}, ErrReasonRequired
	}
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, id, func(r *Request) error {
		if err := decidable(r, now); err != nil {
			return err
		}
		r.State, r.DecidedBy, r.DecidedAt, r.DenyReason = StateDenied, a.UserID, now, clipText(reason, 2000)
		return nil
	})
	if err != nil {
		s.refused(ctx, a.UserID, ActDeny, id, err)
		return r, err
	}
	s.audit(ctx, a.UserID, ActDeny, id, "ok", r.DenyReason, nil)
	s.forget(ctx, id)
	s.sync(ctx, r)
	return r, nil
}

// Withdraw takes back a pending request: only its requester may, so that
// a request filed with a mistake can be filed again at once (a second open
// request for the same access is refused). An approver denies instead.
func (s *Service) Withdraw(ctx context.Context, a authz.Actor, id string) (Request, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Request{}, err
	}
	if a.UserID != r.Requester {
		ref := &RefusedError{Reason: "only the requester may withdraw a request; an approver can deny it"}
		s.audit(ctx, a.UserID, ActWithdraw, id, "refused", ref.Reason, nil)
		return Request{}, ref
	}
	// Still a member in good standing (not deactivated, not a guest, not
	// another workspace).
	if err := s.authorize(ctx, a, ActWithdraw, id, authz.Responder); err != nil {
		return Request{}, err
	}
	now := s.Clock.Now().UTC()
	r, err = s.update(ctx, id, func(r *Request) error {
		if err := decidable(r, now); err != nil {
			return err
		}
		r.State, r.DecidedBy, r.DecidedAt = StateWithdrawn, a.UserID, now
		return nil
	})
	if err != nil {
		s.refused(ctx, a.UserID, ActWithdraw, id, err)
		return r, err
	}
	s.audit(ctx, a.UserID, ActWithdraw, id, "ok", "", nil)
	s.forget(ctx, id)
	s.sync(ctx, r)
	return r, nil
}

// decidable refuses a decision on a request that is no longer pending, or
// whose time to decide has passed (the timeout item may not have run yet).
func decidable(r *Request, now time.Time) error {
	if r.State != StatePending {
		return &DecidedError{State: r.State, By: r.DecidedBy, At: r.DecidedAt}
	}
	if !now.Before(r.DecideBy) {
		return &DecidedError{State: StateTimedOut, At: r.DecideBy}
	}
	return nil
}
