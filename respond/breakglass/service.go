package breakglass

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of store.Store break-glass uses.
type Store interface {
	store.KV // requests and the open index, as documents
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error)
	Enqueue(ctx context.Context, it store.OutboxItem) (bool, error)
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
}

// Authorizer decides whether a Slack user holds a role; *authz.Authorizer
// implements it.
type Authorizer interface {
	Check(ctx context.Context, who authz.Actor, role authz.Role) (authz.Decision, error)
}

// MessageKind says which message to render.
type MessageKind string

// Message kinds.
const (
	// KindRequest is the request's own message, in the approvers' channel
	// and in the finding's thread, edited in place as the state moves.
	KindRequest MessageKind = "request"
	// KindReminder is a thread reply nudging approvers halfway through.
	KindReminder MessageKind = "reminder"
	// KindSummary is the thread reply at the end: what the session did.
	KindSummary MessageKind = "summary"
	// KindAccess is the private message with the sign-in link and, when
	// asked for, CLI credentials; KindAccessEnded replaces it at the end.
	KindAccess      MessageKind = "access"
	KindAccessEnded MessageKind = "access_ended"
	// KindSelfApproved is the announcement of a self-approval in the
	// SecOps channel.
	KindSelfApproved MessageKind = "self_approved"
	// KindRequesterNote is the requester's private note about their
	// request: waiting (with a Withdraw button), then who decided what
	// and why.
	KindRequesterNote MessageKind = "requester_note"
)

// Message is what to show; the notifier renders it (bot/blocks).
type Message struct {
	Kind    MessageKind
	Request Request
	// Mentions are the approvers to notify (user or user-group IDs).
	Mentions []string
	// Access is set for KindAccess only. It holds secrets: render it, never
	// log or store it.
	Access *Access
	// ShowCLI asks KindAccess to include the CLI credentials.
	ShowCLI bool
	// SelfApproveAt is when the requester may approve their own request
	// (zero when self-approval is off).
	SelfApproveAt time.Time
}

// Notifier posts and edits Slack messages; the bot implements it.
type Notifier interface {
	// Post posts to a channel, in the thread of threadTS when set, and
	// returns the message's ts.
	Post(ctx context.Context, channel, threadTS string, m Message) (string, error)
	Update(ctx context.Context, channel, ts string, m Message) error
	// DM sends a private message to user and returns where it landed.
	DM(ctx context.Context, user string, m Message) (channel, ts string, err error)
}

// Threads finds a finding's Slack thread, so a request made for a finding
// shows up there too.
type Threads interface {
	FindingThread(ctx context.Context, findingID string) (channel, ts string, err error)
}

// OnCall names the approvers to mention on a new request.
type OnCall interface {
	Approvers(ctx context.Context) ([]string, error)
}

// Emails maps a Slack user to their email address, which identifies them
// in IAM Identity Center.
type Emails interface {
	Email(ctx context.Context, userID string) (string, error)
}

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

// Trail reads what an access key did in an account from CloudTrail
// directly (LookupEvents), for the calls not yet in the event history.
type Trail interface {
	ByAccessKey(ctx context.Context, account, accessKeyID string, since, until time.Time) ([]store.Event, error)
}

// Deps are the Service's collaborators. Threads, OnCall and Emails are
// optional; Emails is required for identity-center accounts.
type Deps struct {
	Store   Store
	Auth    Authorizer
	Notify  Notifier
	Granter Granter
	Threads Threads
	OnCall  OnCall
	Emails  Emails
	// StepUp checks approvers' one-time codes (stepup.Service); accounts
	// with step_up on cannot be approved without it.
	StepUp StepUp
	// Trail completes session summaries from CloudTrail; nil leaves them
	// to the event history.
	Trail Trail
	Clock clock.Clock
	Log   zerolog.Logger
}

// StepUp checks one-time codes and enrols approvers.
type StepUp interface {
	Enrolled(ctx context.Context, user string) (bool, error)
	Verify(ctx context.Context, user, code, action string) error
	Confirm(ctx context.Context, user, code string) error
}

// ErrStepUpRequired is returned by Approve for a request whose account asks
// approvers for a one-time code: ApproveWithCode must be used.
var ErrStepUpRequired = errors.New("this account asks approvers for a one-time code")

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

// Service runs break-glass requests.
type Service struct {
	cfg settings
	Deps
}

// settings is the effective configuration with the accounts indexed by ID,
// as the service looks them up.
type settings struct {
	Config
	Accounts map[string]AccountPolicy
}

// New returns a Service, or every problem with the configuration at once.
func New(cfg Config, d Deps) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate().Err(); err != nil {
		return nil, fmt.Errorf("breakglass configuration:\n%w", err)
	}
	if err := cfg.checkChannels(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Auth == nil || d.Notify == nil || d.Granter == nil {
		return nil, errors.New("breakglass: store, authorizer, notifier and granter are required")
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	return &Service{cfg: settings{Config: cfg, Accounts: cfg.byID()}, Deps: d}, nil
}

// Config returns the effective configuration, defaults filled in, for
// building the request modal.
func (s *Service) Config() Config { return s.cfg.Config }

// KV namespace and keys.
const (
	kvNS    = "breakglass"
	openKey = "open" // IDs of requests that are not final
)

// Audit actions, all under "breakglass.".
const (
	ActRequest     = "breakglass.request"
	ActRemind      = "breakglass.remind"
	ActApprove     = "breakglass.approve"
	ActSelfApprove = "breakglass.self_approve"
	ActDeny        = "breakglass.deny"
	ActWithdraw    = "breakglass.withdraw"
	ActTimeout     = "breakglass.expire_undecided"
	ActGrant       = "breakglass.grant"
	ActDeliver     = "breakglass.deliver"
	ActUse         = "breakglass.use"
	ActRevoke      = "breakglass.revoke"
	ActExpire      = "breakglass.expire"
	ActCleanup     = "breakglass.cleanup"
	ActReview      = "breakglass.review"
	ActSweep       = "breakglass.sweep"
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

// noteRequester sends the requester the private note about their request
// and records where, so that every decision edits it (sync). A failure is
// logged: the request stands, and the approvers' message still shows it.
func (s *Service) noteRequester(ctx context.Context, r Request) Request {
	if _, ok := r.Message(PlaceRequester); ok {
		return r
	}
	ch, ts, err := s.Notify.DM(ctx, r.Requester, Message{Kind: KindRequesterNote, Request: r})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("send the requester the note about the request")
		return r
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, MessageRef{Place: PlaceRequester, Channel: ch, TS: ts})
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record the requester's note")
		return r
	}
	// Decided between the note and its record: bring the note up to date.
	if out.State != StatePending {
		s.sync(ctx, out)
	}
	return out
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

// postRequest posts the request message to the approvers' channel and the
// finding's thread and records where. Failing to post is logged: the
// request stands, and the reminder posts again.
func (s *Service) postRequest(ctx context.Context, r Request) Request {
	msg := Message{Kind: KindRequest, Request: r, Mentions: s.approvers(ctx), SelfApproveAt: s.selfApproveAt(r)}
	var refs []MessageRef
	if ts, err := s.Notify.Post(ctx, s.cfg.ApproversChannel, "", msg); err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("post break-glass request to approvers")
	} else {
		refs = append(refs, MessageRef{Place: PlaceApprovers, Channel: s.cfg.ApproversChannel, TS: ts})
	}
	if r.FindingID != "" && s.Threads != nil {
		ch, thread, err := s.Threads.FindingThread(ctx, r.FindingID)
		if err == nil && ch != "" {
			ts, err := s.Notify.Post(ctx, ch, thread, msg)
			if err == nil {
				refs = append(refs, MessageRef{Place: PlaceFinding, Channel: ch, TS: ts})
			}
		}
		if err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Str("finding_id", r.FindingID).Msg("post break-glass request to the finding thread")
		}
	}
	if len(refs) == 0 {
		return r
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, refs...)
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record break-glass message references")
		return r
	}
	// A decision taken between posting and recording where we posted found
	// no message to update: bring the messages up to date now.
	if out.State != StatePending {
		s.sync(ctx, out)
	}
	return out
}

func (s *Service) approvers(ctx context.Context) []string {
	if s.OnCall == nil {
		return nil
	}
	ids, err := s.OnCall.Approvers(ctx)
	if err != nil {
		s.Log.Warn().Err(err).Msg("find approvers on call")
	}
	return ids
}

func (s *Service) selfApproveAt(r Request) time.Time {
	if s.cfg.SelfApproveAfter <= 0 {
		return time.Time{}
	}
	return r.CreatedAt.Add(s.cfg.SelfApproveAfter)
}

// Get returns a request.
func (s *Service) Get(ctx context.Context, id string) (Request, error) {
	r, err := s.load(ctx, id)
	return r, err
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

// AuditLog lists the break-glass audit records since a time, newest first.
func (s *Service) AuditLog(ctx context.Context, since time.Time, limit int) ([]store.AuditRecord, error) {
	recs, err := s.Store.ListAudit(ctx, store.AuditFilter{ActionPrefix: "breakglass.", Since: since, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("list break-glass audit: %w", err)
	}
	return recs, nil
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

// authorize checks role and audits a refusal.
func (s *Service) authorize(ctx context.Context, a authz.Actor, action, target string, role authz.Role) error {
	d, err := s.Auth.Check(ctx, a, role)
	if err != nil {
		s.Log.Warn().Err(err).Str("user", a.UserID).Str("action", action).Msg("authorisation lookup failed; refusing")
	}
	if d.Allowed && err == nil {
		return nil
	}
	ref := &RefusedError{Reason: d.Reason}
	if ref.Reason == "" {
		ref.Reason = "your permissions could not be checked"
	}
	s.audit(ctx, a.UserID, action, target, "refused", ref.Reason, nil)
	return ref
}

// refused audits a decision the state machine turned down.
func (s *Service) refused(ctx context.Context, user, action, target string, err error) {
	if errors.Is(err, ErrNotFound) {
		return
	}
	s.audit(ctx, user, action, target, "refused", err.Error(), nil)
}

// audit appends an audit record; a failure is logged, because the action
// already happened and must not be reported as failed.
func (s *Service) audit(ctx context.Context, actor, action, target, result, reason string, detail any) {
	rec := store.AuditRecord{Time: s.Clock.Now().UTC(), Actor: actor, Action: action, Target: target, Result: result, Reason: reason}
	if detail != nil {
		raw, err := json.Marshal(detail)
		if err == nil {
			rec.Detail = raw
		}
	}
	if _, err := s.Store.AppendAudit(ctx, rec); err != nil {
		s.Log.Error().Err(err).Str("action", action).Str("request", target).Msg("append break-glass audit record")
	}
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

// newID returns an opaque request ID such as "BG-3F9A1C2E0B7D".
func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return "BG-" + strings.ToUpper(hex.EncodeToString(b))
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
