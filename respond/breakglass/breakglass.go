// Package breakglass gives a responder time-boxed emergency access to an AWS
// account once an approver agrees: requests, approvals, grants, expiry and
// revocation, with every step audited.
//
// The package is the state machine only. Requests live in the store's KV as
// JSON and move with compare-and-set, so exactly one decision wins however
// many approvers click at once. Timers (reminders, undecided expiry, the end
// of a grant) are outbox items whose NotBefore is the due time, so they fire
// on time across restarts and replicas. Slack is reached through Notifier and
// AWS through Granter; the bot and providers/aws/grant implement them.
package breakglass

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Mode is how access is granted in an account.
type Mode string

// Modes.
const (
	// ModeAssumeRole issues STS credentials for the account's break-glass
	// role, tagged with the request and carrying the requester as
	// SourceIdentity.
	ModeAssumeRole Mode = "assume-role"
	// ModeIdentityCenter assigns a permission set to the requester's IAM
	// Identity Center user for the duration.
	ModeIdentityCenter Mode = "identity-center"
)

// State is where a request stands.
type State string

// States. Pending and Approved move on by themselves; Active ends; the rest
// are final.
const (
	StatePending   State = "pending"  // waiting for approval
	StateApproved  State = "approved" // approved, access being granted
	StateActive    State = "active"   // access granted until EndsAt
	StateDenied    State = "denied"
	StateWithdrawn State = "withdrawn" // withdrawn by the requester before a decision
	StateTimedOut  State = "timed_out" // nobody decided in time
	StateFailed    State = "failed"    // the grant failed
	StateExpired   State = "expired"   // the window ended
	StateRevoked   State = "revoked"   // ended early by someone
)

// Final reports whether nothing more happens to a request in state s.
func (s State) Final() bool {
	return !slices.Contains([]State{StatePending, StateApproved, StateActive}, s)
}

// Request is one break-glass request and everything that happened to it.
type Request struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	State   State  `json:"state"`

	Requester string `json:"requester"` // Slack user ID
	TeamID    string `json:"team_id"`
	// Email is the requester's address, used to find their Identity
	// Center user.
	Email       string        `json:"email,omitempty"`
	Account     string        `json:"account"`
	AccountName string        `json:"account_name,omitempty"`
	Mode        Mode          `json:"mode"`
	Level       string        `json:"level"`
	Duration    time.Duration `json:"duration"`
	// CappedFrom is the duration asked for when it was cut to the limit.
	CappedFrom   time.Duration `json:"capped_from,omitempty"`
	Reason       string        `json:"reason"`
	FindingID    string        `json:"finding_id,omitempty"`
	TwoApprovers bool          `json:"two_approvers,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	// DecideBy is when an undecided request expires.
	DecideBy time.Time `json:"decide_by"`
	Reminded bool      `json:"reminded,omitempty"`

	Approvals  []Approval `json:"approvals,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	DecidedAt  time.Time  `json:"decided_at,omitzero"`
	DenyReason string     `json:"deny_reason,omitempty"`
	// SelfApproved requests carry an open review until an approver
	// closes it.
	SelfApproved bool   `json:"self_approved,omitempty"`
	ReviewOpen   bool   `json:"review_open,omitempty"`
	ReviewedBy   string `json:"reviewed_by,omitempty"`

	StartedAt time.Time `json:"started_at,omitzero"`
	EndsAt    time.Time `json:"ends_at,omitzero"`
	// PrincipalID is the Identity Center user the permission set was
	// assigned to, kept so that the assignment can be deleted.
	PrincipalID string    `json:"principal_id,omitempty"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	EndedBy     string    `json:"ended_by,omitempty"` // "system" for expiry
	// AccessKeys are the access key IDs of the sessions issued (never the
	// secrets): CloudTrail names a session's calls by them.
	AccessKeys []string `json:"access_keys,omitempty"`
	// CleanupPending is set while access could not yet be taken back in
	// AWS; the worker retries until it can.
	CleanupPending bool     `json:"cleanup_pending,omitempty"`
	Error          string   `json:"error,omitempty"`
	Summary        *Summary `json:"summary,omitempty"`

	// Messages are the Slack messages that show this request.
	Messages []MessageRef `json:"messages,omitempty"`
}

// Approval is one approver's yes.
type Approval struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// ApprovalsNeeded is how many distinct approvers the request needs.
func (r Request) ApprovalsNeeded() int {
	if r.TwoApprovers {
		return 2
	}
	return 1
}

// ApprovedBy reports whether user already approved.
func (r Request) ApprovedBy(user string) bool {
	return slices.ContainsFunc(r.Approvals, func(a Approval) bool { return a.User == user })
}

// Errors a caller can tell apart to answer the user.
var (
	ErrNotFound        = errors.New("no such break-glass request")
	ErrSelfApproval    = errors.New("you cannot approve your own request")
	ErrAlreadyApproved = errors.New("you already approved this request; a second, different approver is needed")
	ErrNotActive       = errors.New("this access is not active")
	ErrReasonRequired  = errors.New("a reason is required")
	ErrUnknownAccount  = errors.New("break-glass access is not configured for this account")
	ErrUnknownLevel    = errors.New("no such access level for this account")
	ErrSelfApproveOff  = errors.New("self-approval is not possible for this request")
)

// ErrStepUpRequired is returned by Approve for a request whose account asks
// approvers for a one-time code: ApproveWithCode must be used.
var ErrStepUpRequired = errors.New("this account asks approvers for a one-time code")

// RefusedError is an authorisation refusal, with the reason in plain words
// for the user.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "not allowed: " + e.Reason }

// DecidedError is the answer to a click on a request someone already
// decided: who decided, what and when.
type DecidedError struct {
	State State
	By    string
	At    time.Time
}

func (e *DecidedError) Error() string {
	if e.By == "" {
		return fmt.Sprintf("this request is already %s", strings.ReplaceAll(string(e.State), "_", " "))
	}
	return fmt.Sprintf("this request was already %s by %s at %s", strings.ReplaceAll(string(e.State), "_", " "), e.By, e.At.UTC().Format("15:04:05 UTC"))
}

// DuplicateError refuses a request while the same requester has one for
// the same account and level that is not final: approvers would see two
// requests for one need, and approving both would grant the access twice.
type DuplicateError struct {
	Existing Request
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("you already have break-glass request %s for %s in %s, %s", e.Existing.ID, e.Existing.Level, e.Existing.Account, strings.ReplaceAll(string(e.Existing.State), "_", " "))
}
