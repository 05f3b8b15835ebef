// Package containment runs vetted containment actions on the resources and
// identities behind findings: preview (the exact API calls and policy
// documents), confirmation, authorisation (re-checked at the moment of the
// action), the run itself in the target account, an audit record holding the
// state before and after the change, and undo, which re-adds only what the
// run removed and, when the target changed since the run, acts only after
// the user confirmed the difference (DriftError, UndoReviewed).
//
// The package knows neither Slack nor the AWS SDK. The actions and their
// calls come from a Provider (providers/aws/contain implements it); the bot
// shows previews and results.
package containment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/problem"
)

// Action IDs of the catalogue. They appear in commands, buttons, playbooks
// and the audit log, so they never change.
const (
	S3BlockPublicAccess      = "s3-block-public-access"
	S3RemovePublicStatements = "s3-remove-public-statements"
	SnapshotUnshare          = "snapshot-unshare"
	IAMUserRestrictIP        = "iam-user-restrict-ip"
	IAMUserDeactivateKeys    = "iam-user-deactivate-keys"
	IAMRoleRevokeSessions    = "iam-role-revoke-sessions"
	// KMSRemoveAccount takes the accounts a snapshot is shared with off the
	// customer-managed key that encrypts it (key policy and grants).
	KMSRemoveAccount = "kms-remove-external-account"
)

// Config is the containment section of the configuration.
type Config struct {
	// CorporateCIDRs are the ranges iam-user-restrict-ip keeps a user to.
	CorporateCIDRs []string `yaml:"corporate_cidrs"`
	// VPCEndpoints (vpce-…) are exempted from the IP lock: requests through
	// them carry no aws:SourceIp.
	VPCEndpoints []string `yaml:"vpc_endpoints"`
}

// Validate reports every problem with the block at once, with keys
// relative to it (corporate_cidrs[1]).
func (c Config) Validate() problem.List {
	var ps problem.List
	for i, cidr := range c.CorporateCIDRs {
		if !validCIDR(cidr) {
			ps.Addf(problem.Index("corporate_cidrs", i), "%q is not a CIDR range; use e.g. 198.51.100.0/24", cidr)
		}
	}
	for i, v := range c.VPCEndpoints {
		if !strings.HasPrefix(v, "vpce-") {
			ps.Addf(problem.Index("vpc_endpoints", i), "%q is not a VPC endpoint ID (vpce-…)", v)
		}
	}
	return ps
}

// Action describes one action of the catalogue.
type Action struct {
	ID    string
	Title string
	// Summary says in one sentence what the action does and what undo does.
	Summary string
	// Permissions are the IAM actions the bot's role in the target account
	// needs to preview and run the action; UndoPermissions those for undo.
	Permissions     []string
	UndoPermissions []string
	// UndoAdminOnly restricts undo to admins: re-sharing a snapshot with an
	// unknown account is not a responder's decision.
	UndoAdminOnly bool
	// Fit returns the target the action would act on for a finding, or
	// false when the action does not apply to it.
	Fit func(f finding.Finding) (Target, bool)
}

// Target is what an action acts on.
type Target struct {
	AccountID string `json:"account"`
	Region    string `json:"region"`
	Type      string `json:"type"`
	// ID is the bucket, snapshot, image, user or role name.
	ID  string `json:"id"`
	ARN string `json:"arn,omitempty"`
	// AccessKeyID limits iam-user-deactivate-keys to one key; empty means
	// every key of the user.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// Accounts are the accounts snapshot-unshare removes ("all" for a
	// public share); empty means every account the resource is shared with.
	Accounts []string `json:"accounts,omitempty"`
}

// String names the target for people: "AWS::IAM::User BackupManager in
// 111122223333 (eu-central-1)".
func (t Target) String() string {
	s := t.Type + " " + t.ID + " in " + t.AccountID
	if t.Region != "" {
		s += " (" + t.Region + ")"
	}
	return s
}

// Param is one parameter of an API call, in the order the preview shows it.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Call is one API call an action makes, exactly as it will be sent.
type Call struct {
	// API is "service:Operation", e.g. "iam:PutUserPolicy".
	API    string  `json:"api"`
	Params []Param `json:"params,omitempty"`
	// Document is a policy or configuration document sent with the call,
	// as indented JSON.
	Document string `json:"document,omitempty"`
}

// Plan is a preview: the calls an action would make, from the state read
// when it was previewed.
type Plan struct {
	Action string `json:"action"`
	Target Target `json:"target"`
	Calls  []Call `json:"calls"`
	// Before is the state read at preview time.
	Before json.RawMessage `json:"before,omitempty"`
	// NoOp is set when the target is already contained; running it is
	// harmless and changes nothing.
	NoOp bool `json:"no_op,omitempty"`
	// Notes are caveats a responder should read before confirming.
	Notes []string `json:"notes,omitempty"`
}

// Outcome is what a run or an undo did.
type Outcome struct {
	Calls []Call `json:"calls"`
	// Before is the state read just before the change and After the state
	// it left; undo re-adds what is in Before and not in After.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Changed is false when the target was already in the wanted state.
	Changed bool `json:"changed"`
	// Summary says in plain words what changed.
	Summary string `json:"summary"`
}

// UndoPlan is what an undo would do now, worked out from the state the run
// left and the state read now.
type UndoPlan struct {
	Calls []Call `json:"calls"`
	// Changes say in plain words what changed in the target since the run;
	// none when it is as the run left it.
	Changes []string `json:"changes,omitempty"`
	// Notes are the later changes undo leaves as they are.
	Notes []string `json:"notes,omitempty"`
	// Current is the state read now and State its fingerprint: a user's
	// confirmation of the changes holds for this state only.
	Current json.RawMessage `json:"current,omitempty"`
	State   string          `json:"state"`
}

// Drifted reports whether the target changed since the run.
func (p UndoPlan) Drifted() bool { return len(p.Changes) > 0 }

// Fingerprint identifies a state document, so that a confirmation given
// for one state is not taken for another.
func Fingerprint(state json.RawMessage) string {
	sum := sha256.Sum256(state)
	return hex.EncodeToString(sum[:8])
}

// ErrDrift is wrapped by DriftError.
var ErrDrift = errors.New("the target changed since the containment ran")

// DriftError refuses an undo because the target changed since the run and
// the user has not confirmed the state it is in now. Plan says what
// changed and what undo would do.
type DriftError struct {
	Plan UndoPlan
}

func (e *DriftError) Error() string {
	return ErrDrift.Error() + ": " + strings.Join(e.Plan.Changes, "; ")
}

func (e *DriftError) Unwrap() error { return ErrDrift }

// Provider runs the catalogue against a cloud. Preview only reads; Apply
// re-reads the state (it may have moved since the preview) and changes it
// as the record's runner; PreviewUndo reads and says what Undo would do;
// Undo re-adds what the run removed, as the user by, and when the target
// changed since the run only with state, the fingerprint of the state the
// user confirmed (else a *DriftError).
type Provider interface {
	Catalogue() []Action
	Preview(ctx context.Context, action string, t Target) (Plan, error)
	Apply(ctx context.Context, r Record) (Outcome, error)
	PreviewUndo(ctx context.Context, r Record) (UndoPlan, error)
	Undo(ctx context.Context, r Record, by, state string) (Outcome, error)
}

// ProviderError is an error from the cloud, kept in a form that can be told
// to a responder.
type ProviderError struct {
	API     string // "iam:PutUserPolicy"
	Account string
	Code    string // "AccessDenied"
	Message string
	Err     error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("%s in %s: %s: %s", e.API, e.Account, e.Code, e.Message)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// APIAssumeRole is the API of a ProviderError raised when the bot could not
// assume its role in the target account, so nothing was called there.
const APIAssumeRole = "sts:AssumeRole"

// APIAssumeWriteRole is the API of a ProviderError raised when the bot
// could not open the write session of a change: it read the account, but
// nothing was changed there.
const APIAssumeWriteRole = "sts:AssumeRole (write session)"

// deniedHint is the likely cause of an access denied; %s is the API, which
// is also the IAM permission's name.
const deniedHint = "the bot's role in that account lacks this permission (%s); add it to the role (see the action's permissions)"

// hints turn the commonest AWS error codes into what to do about them.
var hints = map[string]string{
	"AccessDenied":                   deniedHint,
	"AccessDeniedException":          deniedHint,
	"UnauthorizedOperation":          deniedHint,
	"NoSuchEntity":                   "the user or role no longer exists",
	"NoSuchBucket":                   "the bucket no longer exists",
	"DBSnapshotNotFound":             "the snapshot no longer exists",
	"DBClusterSnapshotNotFoundFault": "the cluster snapshot no longer exists",
	"InvalidSnapshot.NotFound":       "the snapshot no longer exists",
	"InvalidAMIID.NotFound":          "the image no longer exists",
	"LimitExceeded":                  "the user or role has too many inline policies; remove one and try again",
	"MalformedPolicyDocument":        "AWS rejected the policy document; check the corporate ranges in the configuration",
	"ExpiredToken":                   "the bot's credentials for that account expired; try again",
}

// PlainError says what went wrong in words fit for the thread.
func PlainError(err error) string {
	if err == nil {
		return ""
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		switch {
		case throttled(pe.Code):
			return fmt.Sprintf("AWS is throttling the bot in account %s (%s answered %s); try again in a minute", pe.Account, pe.API, pe.Code)
		case pe.API == APIAssumeWriteRole:
			return fmt.Sprintf("the bot cannot assume its write role in account %s (the member role where none is configured; AWS answered %s), so nothing was changed there. "+
				"Likely cause: the role is missing in that account or its trust policy does not allow the bot (a write role's must also allow sts:SetSourceIdentity and sts:TagSession); fix the role, then try again", pe.Account, pe.Code)
		case pe.API == APIAssumeRole:
			return fmt.Sprintf("the bot cannot assume its role in account %s (AWS answered %s), so nothing was changed there. "+
				"Likely cause: the member role is missing in that account or its trust policy does not allow the bot; fix the role, then try again", pe.Account, pe.Code)
		}
		s := fmt.Sprintf("AWS refused %s in account %s: %s", pe.API, pe.Account, pe.Code)
		if pe.Message != "" {
			s += " (" + pe.Message + ")"
		}
		if h := hints[pe.Code]; h != "" {
			if strings.Contains(h, "%s") {
				h = fmt.Sprintf(h, pe.API)
			}
			s += ". Likely cause: " + h + "."
		}
		return s
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "AWS did not answer in time; nothing is known to have changed, so check the state before trying again"
	case errors.Is(err, ErrNotApplicable), errors.Is(err, ErrUnknownAction), errors.Is(err, ErrState), errors.Is(err, ErrNotFound), errors.Is(err, ErrRefused), errors.Is(err, ErrDrift):
		return err.Error()
	}
	return "the action failed: " + err.Error()
}

// throttled reports whether an AWS error code means the call was
// throttled (the codes the SDK itself treats as throttling).
func throttled(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
		"TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "ProvisionedThroughputExceededException",
		"BandwidthLimitExceeded", "LimitExceededException", "PriorRequestNotComplete", "EC2ThrottledException":
		return true
	}
	return false
}

// Sentinel errors.
var (
	ErrUnknownAction = errors.New("no such containment action")
	ErrNotApplicable = errors.New("action does not apply")
	ErrNotFound      = errors.New("no such containment record")
	ErrState         = errors.New("containment record is not in a state that allows this")
	ErrRefused       = errors.New("not authorised")
)

// validCIDR accepts an IPv4 or IPv6 prefix.
func validCIDR(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}
