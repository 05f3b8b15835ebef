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

// StepUp checks one-time codes and enrols approvers.
type StepUp interface {
	Enrolled(ctx context.Context, user string) (bool, error)
	Verify(ctx context.Context, user, code, action string) error
	Confirm(ctx context.Context, user, code string) error
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

// Get returns a request.
func (s *Service) Get(ctx context.Context, id string) (Request, error) {
	r, err := s.load(ctx, id)
	return r, err
}

// AuditLog lists the break-glass audit records since a time, newest first.
func (s *Service) AuditLog(ctx context.Context, since time.Time, limit int) ([]store.AuditRecord, error) {
	recs, err := s.Store.ListAudit(ctx, store.AuditFilter{ActionPrefix: "breakglass.", Since: since, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("list break-glass audit: %w", err)
	}
	return recs, nil
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
