package breakglass

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/org/authz"
)

// Grant is what a Granter needs to give or take back access.
type Grant struct {
	RequestID string
	Requester string // SourceIdentity of the session
	Email     string
	Account   string
	Policy    AccountPolicy
	Level     Level
	// Until is the end of the window.
	Until time.Time
	// PrincipalID is the Identity Center user of an earlier Grant, for
	// Revoke.
	PrincipalID string
	// Now is the revocation instant: sessions issued before it end.
	Now time.Time
	// Actor is who decided the change: the approver of a grant, whoever
	// revoked it ("system" at expiry). The provider names them in AWS
	// (the source identity of its write session) where it can.
	Actor string
}

// Credentials are temporary AWS credentials.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expires                                    time.Time
}

// Access is what a grant gives the requester.
type Access struct {
	Credentials *Credentials // assume-role
	ConsoleURL  string       // federation sign-in link or access portal
	// PrincipalID is the Identity Center user assigned (identity-center).
	PrincipalID string
}

// Granter gives and takes back access in AWS (providers/aws/grant).
// Revoke must be idempotent: it is retried until it succeeds.
type Granter interface {
	Grant(ctx context.Context, g Grant) (Access, error)
	Revoke(ctx context.Context, g Grant) error
}

// SessionLimiter is an optional Granter capability: the longest session the
// level allows (the role's MaxSessionDuration).
type SessionLimiter interface {
	MaxSession(ctx context.Context, account string, l Level) (time.Duration, error)
}

// Sweeper is an optional Granter capability: the principals currently
// assigned a level's permission set, so that assignments no active grant
// explains can be removed.
type Sweeper interface {
	Assigned(ctx context.Context, account string, p AccountPolicy, l Level) ([]string, error)
}

// Emails maps a Slack user to their email address, which identifies them
// in IAM Identity Center.
type Emails interface {
	Email(ctx context.Context, userID string) (string, error)
}

// activate grants access to an approved request. The expiry timer is
// stored before AWS is called, so a grant is never left without its end.
func (s *Service) activate(ctx context.Context, r Request) Request {
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, r.ID, func(r *Request) error {
		if r.State != StateApproved {
			return &DecidedError{State: r.State, By: r.DecidedBy, At: r.DecidedAt}
		}
		if r.EndsAt.IsZero() {
			r.StartedAt, r.EndsAt = now, now.Add(r.Duration)
		}
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("start break-glass window")
		return r
	}
	s.schedule(ctx, r.ID, kindExpire, r.EndsAt)
	acc, gerr := s.Granter.Grant(ctx, s.grantOf(r))
	if gerr != nil {
		s.Log.Error().Err(gerr).Str("request", r.ID).Str("account", r.Account).Msg("grant break-glass access")
		// Whatever part of the grant happened is taken back.
		out, err := s.end(ctx, r.ID, StateFailed, "system", "the grant failed: "+gerr.Error())
		if err != nil {
			return r
		}
		return out
	}
	r, err = s.update(ctx, r.ID, func(r *Request) error {
		if r.State != StateApproved {
			return &DecidedError{State: r.State, By: r.EndedBy, At: r.EndedAt}
		}
		r.State, r.PrincipalID = StateActive, acc.PrincipalID
		r.AccessKeys = withKey(r.AccessKeys, acc)
		return nil
	})
	if err != nil {
		// Revoked while the grant was under way: the revocation may have
		// run before the grant landed, so take it back again.
		g := s.grantOf(r)
		g.PrincipalID = acc.PrincipalID
		if rerr := s.Granter.Revoke(ctx, g); rerr != nil {
			s.Log.Error().Err(rerr).Str("request", r.ID).Msg("take back a grant that raced its revocation")
			if out, err := s.update(ctx, r.ID, func(r *Request) error { r.CleanupPending = true; return nil }); err == nil {
				s.scheduleCleanup(ctx, out, now)
			}
		}
		return r
	}
	s.audit(ctx, "system", ActGrant, r.ID, "ok", fmt.Sprintf("%s in %s until %s", r.Level, r.Account, r.EndsAt.Format(time.RFC3339)), map[string]any{
		"mode": r.Mode, "level": r.Level, "account": r.Account, "ends_at": r.EndsAt, "principal_id": acc.PrincipalID,
	})
	if err := s.sendAccess(ctx, r, acc, false); err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("send break-glass access")
	} else {
		r, _ = s.Get(ctx, r.ID)
	}
	s.sync(ctx, r)
	return r
}

// sendAccess sends (or replaces) the private access message.
func (s *Service) sendAccess(ctx context.Context, r Request, acc Access, cli bool) error {
	msg := Message{Kind: KindAccess, Request: r, Access: &acc, ShowCLI: cli}
	if ref, ok := r.Message(PlaceDM); ok {
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, msg); err != nil {
			return fmt.Errorf("update access message: %w", err)
		}
		return nil
	}
	ch, ts, err := s.Notify.DM(ctx, r.Requester, msg)
	if err != nil {
		return fmt.Errorf("send access message: %w", err)
	}
	_, err = s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, MessageRef{Place: PlaceDM, Channel: ch, TS: ts})
		return nil
	})
	return err
}

// withKey adds the access key of a session issued to keys; the secret is
// never kept.
func withKey(keys []string, acc Access) []string {
	if acc.Credentials == nil || acc.Credentials.AccessKeyID == "" || slices.Contains(keys, acc.Credentials.AccessKeyID) {
		return keys
	}
	return append(keys, acc.Credentials.AccessKeyID)
}

// Revoke ends active access now. The requester, approvers and admins may.
func (s *Service) Revoke(ctx context.Context, a authz.Actor, id string) (Request, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return Request{}, err
	}
	role := authz.Approver // admins hold it too
	if a.UserID == r.Requester {
		role = authz.Responder
	}
	if err := s.authorize(ctx, a, ActRevoke, id, role); err != nil {
		return Request{}, err
	}
	r, err = s.end(ctx, id, StateRevoked, a.UserID)
	if err != nil {
		s.refused(ctx, a.UserID, ActRevoke, id, err)
	}
	return r, err
}

// Deliver sends the requester a fresh sign-in link, with CLI credentials
// when cli is set, for the time left in the window. Only the requester may
// ask, and only while access is active.
func (s *Service) Deliver(ctx context.Context, a authz.Actor, id string, cli bool) error {
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if a.UserID != r.Requester {
		err := &RefusedError{Reason: "only the requester receives the access"}
		s.refused(ctx, a.UserID, ActDeliver, id, err)
		return err
	}
	if err := s.authorize(ctx, a, ActDeliver, id, authz.Responder); err != nil {
		return err
	}
	if r.State != StateActive || !s.Clock.Now().Before(r.EndsAt) {
		return ErrNotActive
	}
	// An Identity Center assignment is already in place: only the portal
	// link is sent again. A role's credentials are not kept anywhere, so
	// a fresh session is issued for the time left.
	acc := Access{ConsoleURL: s.cfg.PortalURL, PrincipalID: r.PrincipalID}
	if r.Mode == ModeAssumeRole {
		acc, err = s.Granter.Grant(ctx, s.grantOf(r))
		if err != nil {
			s.audit(ctx, a.UserID, ActDeliver, id, "error", err.Error(), nil)
			return fmt.Errorf("deliver access of %s: %w", id, err)
		}
	}
	if acc.Credentials != nil {
		if nr, err := s.update(ctx, id, func(r *Request) error {
			r.AccessKeys = withKey(r.AccessKeys, acc)
			return nil
		}); err == nil {
			r = nr
		}
	}
	s.audit(ctx, a.UserID, ActDeliver, id, "ok", map[bool]string{true: "sign-in link and CLI credentials", false: "sign-in link"}[cli], nil)
	return s.sendAccess(ctx, r, acc, cli)
}

// end moves an active (or being granted) request to a final state and
// takes the access back. Of an expiry and a revocation racing, one wins;
// the other gets ErrNotActive.
func (s *Service) end(ctx context.Context, id string, final State, by string, why ...string) (Request, error) {
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, id, func(r *Request) error {
		if r.State != StateActive && r.State != StateApproved {
			return fmt.Errorf("%w (it is %s)", ErrNotActive, strings.ReplaceAll(string(r.State), "_", " "))
		}
		r.State, r.EndedAt, r.EndedBy, r.CleanupPending = final, now, by, true
		if len(why) > 0 {
			r.Error = clipText(strings.Join(why, "; "), 500)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	switch final {
	case StateFailed:
		s.audit(ctx, by, ActGrant, id, "error", r.Error, nil)
	case StateRevoked:
		s.audit(ctx, by, ActRevoke, id, "ok", "", map[string]any{"started_at": r.StartedAt, "ends_at": r.EndsAt})
	default:
		s.audit(ctx, by, ActExpire, id, "ok", "", map[string]any{"started_at": r.StartedAt, "ends_at": r.EndsAt})
	}
	out, ok := s.cleanup(ctx, r)
	if !ok {
		s.scheduleCleanup(ctx, out, now)
	}
	return out, nil
}

// cleanup takes access back in AWS, then closes the request's messages.
// It reports false when AWS refused; the caller arranges a retry. The
// request is already final by then, so nobody can use the bot to extend
// it while the retries run.
func (s *Service) cleanup(ctx context.Context, r Request) (Request, bool) {
	if err := s.Granter.Revoke(ctx, s.grantOf(r)); err != nil {
		s.audit(ctx, "system", ActCleanup, r.ID, "error", err.Error(), nil)
		s.Log.Error().Err(err).Str("request", r.ID).Str("account", r.Account).Msg("take back break-glass access; will retry")
		s.sync(ctx, r)
		return r, false
	}
	var sum *Summary
	if r.Mode == ModeAssumeRole && !r.StartedAt.IsZero() && r.State != StateFailed {
		sum = s.summarise(ctx, r)
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.CleanupPending, r.Summary = false, sum
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record break-glass cleanup")
		return r, true
	}
	if sum != nil && !sum.FirstUse.IsZero() {
		s.audit(ctx, r.Requester, ActUse, r.ID, "ok", fmt.Sprintf("%d events, first at %s", sum.Events, sum.FirstUse.Format(time.RFC3339)), nil)
	}
	s.forget(ctx, r.ID)
	if ref, ok := out.Message(PlaceDM); ok {
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, Message{Kind: KindAccessEnded, Request: out}); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Msg("mark the access message ended")
		}
	}
	if ref, ok := out.Message(PlaceApprovers); ok && out.Summary != nil {
		if ts, err := s.Notify.Post(ctx, ref.Channel, ref.TS, Message{Kind: KindSummary, Request: out}); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Msg("post break-glass session summary")
		} else if o, err := s.update(ctx, r.ID, func(r *Request) error {
			r.Messages = append(r.Messages, MessageRef{Place: PlaceSummary, Channel: ref.Channel, TS: ts})
			return nil
		}); err == nil {
			out = o
		}
	}
	if out.Summary != nil {
		// CloudTrail delivers the last calls late: the summary is read
		// again once they are in, and edited in place.
		s.schedule(ctx, r.ID, kindSummary, s.Clock.Now().Add(summaryDelay))
	}
	s.sync(ctx, out)
	return out, true
}

func (s *Service) grantOf(r Request) Grant {
	pol := s.cfg.Accounts[r.Account]
	lvl, _ := level(pol, r.Level)
	return Grant{
		RequestID:   r.ID,
		Requester:   r.Requester,
		Email:       r.Email,
		Account:     r.Account,
		Policy:      pol,
		Level:       lvl,
		Until:       r.EndsAt,
		PrincipalID: r.PrincipalID,
		Now:         s.Clock.Now().UTC(),
		Actor:       actorOf(r),
	}
}

// actorOf is who decided a request's latest change: whoever ended it, else
// whoever approved it.
func actorOf(r Request) string {
	if r.EndedBy != "" {
		return r.EndedBy
	}
	return r.DecidedBy
}
