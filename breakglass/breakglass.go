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
	"regexp"
	"slices"
	"sort"
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

// Defaults applied by Config.withDefaults.
const (
	DefaultDuration    = 30 * time.Minute
	DefaultMaxDuration = time.Hour
	DefaultRequestTTL  = 15 * time.Minute
)

// Config is the break-glass configuration.
type Config struct {
	// ApproversChannel receives the request messages (required).
	ApproversChannel string
	// SecOpsChannel receives the loud announcement of a self-approval.
	SecOpsChannel string
	// DefaultDuration is the access window when the request names none
	// (30 minutes); MaxDuration caps every request (1 hour).
	DefaultDuration, MaxDuration time.Duration
	// RequestTTL is how long a request waits for a decision (15 minutes);
	// approvers are reminded halfway.
	RequestTTL time.Duration
	// SelfApproveAfter lets the requester approve their own request when
	// no approver answered within this time; zero (the default) never
	// does. A self-approval opens a review an approver must close.
	SelfApproveAfter time.Duration
	// PortalURL is the IAM Identity Center access portal, linked in the
	// message sent to a requester granted a permission set.
	PortalURL string
	// Accounts are the accounts where break-glass access can be requested,
	// by account ID.
	Accounts map[string]AccountPolicy
}

// AccountPolicy is how break-glass access works in one account.
type AccountPolicy struct {
	Name string // shown beside the ID
	Mode Mode
	// Levels are the access levels a requester chooses from; the first is
	// the default.
	Levels []Level
	// InstanceARN and IdentityStoreID locate the Identity Center instance
	// (identity-center mode).
	InstanceARN, IdentityStoreID string
	// TwoApprovers requires two distinct approvers, for production.
	TwoApprovers bool
}

// Level is one access level: a role to assume or a permission set to
// assign.
type Level struct {
	Name             string
	RoleARN          string // assume-role mode
	PermissionSetARN string // identity-center mode
	// MaxDuration caps the window below the configuration's; for a role
	// it should not exceed the role's maximum session.
	MaxDuration time.Duration
}

var accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)

// withDefaults fills in the documented defaults.
func (c Config) withDefaults() Config {
	if c.DefaultDuration <= 0 {
		c.DefaultDuration = DefaultDuration
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.RequestTTL <= 0 {
		c.RequestTTL = DefaultRequestTTL
	}
	if c.DefaultDuration > c.MaxDuration {
		c.DefaultDuration = c.MaxDuration
	}
	return c
}

// Validate reports every problem with the configuration at once, each
// naming the key at fault as config/ maps it (breakglass.…).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("breakglass.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.ApproversChannel == "" {
		bad("approvers_channel", "is required: approval requests are posted there")
	}
	if c.SelfApproveAfter > 0 && c.SecOpsChannel == "" {
		bad("secops_channel", "is required when self_approve_after is set: self-approvals are announced there")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"default_duration", c.DefaultDuration}, {"max_duration", c.MaxDuration}, {"request_ttl", c.RequestTTL}, {"self_approve_after", c.SelfApproveAfter}} {
		if d.v < 0 {
			bad(d.key, "must not be negative, got %v", d.v)
		}
	}
	if c.MaxDuration > 12*time.Hour {
		bad("max_duration", "%v is longer than the 12 hours an AWS session can last", c.MaxDuration)
	}
	if len(c.Accounts) == 0 {
		bad("accounts", "no account is configured, so nobody can request access")
	}
	for _, id := range sortedKeys(c.Accounts) {
		p := c.Accounts[id]
		key := "accounts." + id
		if !accountIDRe.MatchString(id) {
			bad(key, "is not a 12-digit AWS account ID")
		}
		switch p.Mode {
		case ModeAssumeRole:
		case ModeIdentityCenter:
			if p.InstanceARN == "" {
				bad(key+".instance_arn", "is required in identity-center mode")
			}
			if p.IdentityStoreID == "" {
				bad(key+".identity_store_id", "is required in identity-center mode")
			}
		default:
			bad(key+".mode", "must be %q or %q, got %q", ModeAssumeRole, ModeIdentityCenter, p.Mode)
		}
		if len(p.Levels) == 0 {
			bad(key+".levels", "at least one access level is required")
		}
		seen := map[string]bool{}
		for i, l := range p.Levels {
			lkey := fmt.Sprintf("%s.levels[%d]", key, i)
			if l.Name == "" {
				bad(lkey+".name", "is required")
			}
			if seen[l.Name] {
				bad(lkey+".name", "%q is used twice", l.Name)
			}
			seen[l.Name] = true
			switch {
			case p.Mode == ModeAssumeRole && !strings.HasPrefix(l.RoleARN, "arn:aws"):
				bad(lkey+".role_arn", "a role ARN is required in assume-role mode")
			case p.Mode == ModeAssumeRole && !strings.Contains(l.RoleARN, ":"+id+":"):
				bad(lkey+".role_arn", "%s is not a role of account %s", l.RoleARN, id)
			case p.Mode == ModeIdentityCenter && !strings.HasPrefix(l.PermissionSetARN, "arn:aws"):
				bad(lkey+".permission_set_arn", "a permission set ARN is required in identity-center mode")
			}
			if l.MaxDuration < 0 {
				bad(lkey+".max_duration", "must not be negative")
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

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

// Where a message of the request is shown.
const (
	PlaceApprovers = "approvers" // the request message in the approvers' channel
	PlaceFinding   = "finding"   // its copy in the finding's thread
	PlaceDM        = "dm"        // the access message sent to the requester
)

// MessageRef locates a posted message so that it can be edited in place.
type MessageRef struct {
	Place   string `json:"place"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Message returns the reference of the message at place, if posted.
func (r Request) Message(place string) (MessageRef, bool) {
	for _, m := range r.Messages {
		if m.Place == place {
			return m, true
		}
	}
	return MessageRef{}, false
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

// Summary is what the session did, from the event history by
// SourceIdentity.
type Summary struct {
	Events int `json:"events"`
	// ByAPI counts events per "service:EventName", e.g. "ec2:DescribeInstances".
	ByAPI map[string]int `json:"by_api,omitempty"`
	// Writes lists the non-read-only calls, oldest first (at most
	// maxSummaryWrites).
	Writes     []Call    `json:"writes,omitempty"`
	MoreWrites int       `json:"more_writes,omitempty"`
	Errors     int       `json:"errors,omitempty"`
	FirstUse   time.Time `json:"first_use,omitzero"`
	// Partial is set when the history could not be read.
	Partial bool `json:"partial,omitempty"`
}

// Call is one write call of a session.
type Call struct {
	Time      time.Time `json:"time"`
	API       string    `json:"api"`
	Resource  string    `json:"resource,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"`
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

// Lookup finds a configured account by ID or by name (case-insensitive),
// for `/secops breakglass <account>`.
func (c Config) Lookup(nameOrID string) (string, bool) {
	nameOrID = strings.TrimSpace(nameOrID)
	if _, ok := c.Accounts[nameOrID]; ok {
		return nameOrID, true
	}
	for _, id := range sortedKeys(c.Accounts) {
		if n := c.Accounts[id].Name; n != "" && strings.EqualFold(n, nameOrID) {
			return id, true
		}
	}
	return "", false
}
