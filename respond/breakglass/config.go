package breakglass

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/internal/problem"
)

// Defaults of the documented configuration; withDefaults also applies them
// to the zero fields of a Config built in code.
const (
	DefaultDuration      = 30 * time.Minute
	DefaultMaxDuration   = time.Hour
	DefaultRequestTTL    = 15 * time.Minute
	DefaultFederationURL = "https://signin.aws.amazon.com/federation"
	DefaultTimerInterval = 5 * time.Second
	DefaultSweepInterval = 15 * time.Minute
)

// Config is the breakglass block of the configuration and the service's
// options: there is no other definition of it. Requests are posted to
// ApproversChannel; the roles block names the approvers.
type Config struct {
	// Enabled turns on /secops breakglass and the approval buttons. The
	// block is not checked while it is off, so that one prepared in
	// advance does not stop the bot.
	Enabled bool `yaml:"enabled"`
	// DefaultDuration is the access window when the request names none;
	// MaxDuration caps every request (AWS sessions last 12 hours at most).
	DefaultDuration time.Duration `yaml:"default_duration"`
	MaxDuration     time.Duration `yaml:"max_duration"`
	// RequestTTL is how long a request waits for a decision; approvers
	// are reminded halfway.
	RequestTTL time.Duration `yaml:"request_ttl"`
	// SelfApproveAfter lets the requester approve their own request when
	// no approver answered within this time; zero never does. A
	// self-approval opens a review an approver must close.
	SelfApproveAfter time.Duration `yaml:"self_approve_after"`
	// FederationURL is the AWS sign-in federation endpoint that turns
	// temporary credentials into a console link.
	FederationURL string `yaml:"federation_url"`
	// ConsoleDestination is the console page the sign-in link opens.
	ConsoleDestination string `yaml:"console_destination"`
	// PortalURL is the IAM Identity Center access portal, linked in the
	// message sent to a requester granted a permission set.
	PortalURL string `yaml:"portal_url"`
	// IdentityCenterAccount is the account (management or delegated
	// administrator) whose credentials make Identity Center assignments;
	// empty uses the target account.
	IdentityCenterAccount string `yaml:"identity_center_account"`
	// TimerInterval is how often due timers (reminders, expiries) run;
	// SweepInterval how often stray Identity Center assignments are
	// removed (0 never).
	TimerInterval time.Duration `yaml:"timer_interval"`
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// Accounts are the accounts where break-glass access can be requested.
	Accounts []AccountPolicy `yaml:"accounts"`

	// ApproversChannel receives the request messages (required) and
	// SecOpsChannel the loud announcement of a self-approval. They are
	// configured in the slack block, not in this one.
	ApproversChannel string `yaml:"-"`
	SecOpsChannel    string `yaml:"-"`
}

// AccountPolicy is how break-glass access works in one account.
type AccountPolicy struct {
	ID string `yaml:"id"`
	// Name is shown beside the ID.
	Name string `yaml:"name"`
	Mode Mode   `yaml:"mode"`
	// TwoApprovers requires two distinct approvers, for production.
	TwoApprovers bool `yaml:"two_approvers"`
	// StepUp asks each approver for a one-time code (RFC 6238 TOTP) with
	// the approval, so a Slack login alone cannot grant access. Unset, it
	// is on for production accounts (set by the wiring from the account's
	// environment) and off for the others.
	StepUp *bool `yaml:"step_up"`
	// InstanceARN and IdentityStoreID locate the Identity Center instance
	// (identity-center mode).
	InstanceARN     string `yaml:"instance_arn"`
	IdentityStoreID string `yaml:"identity_store_id"`
	// Levels are the access levels a requester chooses from; the first is
	// the default.
	Levels []Level `yaml:"levels"`
}

// Level is one access level: a role to assume or a permission set to
// assign.
type Level struct {
	Name             string `yaml:"name"`
	RoleARN          string `yaml:"role_arn"`           // assume-role mode
	PermissionSetARN string `yaml:"permission_set_arn"` // identity-center mode
	// MaxDuration caps the window below the configuration's; for a role
	// it should not exceed the role's maximum session.
	MaxDuration time.Duration `yaml:"max_duration"`
}

// Defaults is the documented configuration: off, 30 minutes by default
// and one hour at most, 15 minutes to decide.
func Defaults() Config {
	return Config{
		DefaultDuration: DefaultDuration,
		MaxDuration:     DefaultMaxDuration,
		RequestTTL:      DefaultRequestTTL,
		FederationURL:   DefaultFederationURL,
		TimerInterval:   DefaultTimerInterval,
		SweepInterval:   DefaultSweepInterval,
	}
}

// withDefaults fills in the documented defaults of the fields a Config
// built in code leaves zero. A default duration left zero is cut to the
// maximum; one set longer is a problem Validate reports.
func (c Config) withDefaults() Config {
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.DefaultDuration == 0 {
		c.DefaultDuration = min(DefaultDuration, c.MaxDuration)
	}
	if c.RequestTTL == 0 {
		c.RequestTTL = DefaultRequestTTL
	}
	if c.TimerInterval == 0 {
		c.TimerInterval = DefaultTimerInterval
	}
	if c.FederationURL == "" {
		c.FederationURL = DefaultFederationURL
	}
	return c
}

var (
	accountIDRe        = regexp.MustCompile(`^[0-9]{12}$`)
	roleARNRe          = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	permissionSetARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::permissionSet/ssoins-[0-9a-f]+/ps-[0-9a-f]+$`)
	instanceARNRe      = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/ssoins-[0-9a-f]+$`)
)

// Validate reports every problem with the block at once, with keys
// relative to it (accounts[0].levels[1].role_arn). The channels are not
// part of the block and are checked by New.
func (c Config) Validate() problem.List {
	var ps problem.List
	c.validateDurations(&ps)
	for _, u := range []struct{ key, v string }{
		{"federation_url", c.FederationURL}, {"console_destination", c.ConsoleDestination}, {"portal_url", c.PortalURL},
	} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			ps.Addf(u.key, "%q is not an http(s) URL", u.v)
		}
	}
	if c.FederationURL == "" {
		ps.Addf("federation_url", "required for console sign-in links; use %s", DefaultFederationURL)
	}
	if c.IdentityCenterAccount != "" && !accountIDRe.MatchString(c.IdentityCenterAccount) {
		ps.Addf("identity_center_account", "%q is not a 12-digit AWS account ID; quote it in YAML", c.IdentityCenterAccount)
	}
	if len(c.Accounts) == 0 {
		ps.Addf("accounts", "no account is configured, so nobody can request access; add at least one with its levels")
	}
	seen := map[string]string{}
	var identityCenter []string
	for i, a := range c.Accounts {
		key := problem.Index("accounts", i)
		if !accountIDRe.MatchString(a.ID) {
			ps.Addf(key+".id", "%q is not a 12-digit AWS account ID; quote it in YAML (id: \"012345678901\")", a.ID)
		} else if prev, dup := seen[a.ID]; dup {
			ps.Addf(key+".id", "account %s is listed twice (also breakglass.%s)", a.ID, prev)
		}
		seen[a.ID] = key
		if a.Mode == ModeIdentityCenter {
			identityCenter = append(identityCenter, a.ID)
		}
		ps.Nest(key, a.validate())
	}
	if len(identityCenter) > 0 && c.PortalURL == "" {
		ps.Addf("portal_url", "required when an account uses identity-center mode (%s): the access portal link sent to the requester", strings.Join(identityCenter, ", "))
	}
	return ps
}

func (c Config) validateDurations(ps *problem.List) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"default_duration", c.DefaultDuration}, {"max_duration", c.MaxDuration},
		{"request_ttl", c.RequestTTL}, {"self_approve_after", c.SelfApproveAfter}, {"sweep_interval", c.SweepInterval},
	} {
		if d.v < 0 {
			ps.Addf(d.key, "must not be negative, got %v", d.v)
		}
	}
	if c.MaxDuration > 12*time.Hour {
		ps.Addf("max_duration", "%v is longer than the 12 hours an AWS session can last", c.MaxDuration)
	}
	if c.DefaultDuration > c.MaxDuration && c.MaxDuration > 0 {
		ps.Addf("default_duration", "%v is longer than max_duration %v", c.DefaultDuration, c.MaxDuration)
	}
	if c.SelfApproveAfter > 0 && c.RequestTTL > 0 && c.SelfApproveAfter >= c.RequestTTL {
		ps.Addf("self_approve_after", "%v is not shorter than request_ttl %v: the request would expire before its requester could approve it", c.SelfApproveAfter, c.RequestTTL)
	}
	if c.TimerInterval <= 0 || c.TimerInterval > time.Minute {
		ps.Addf("timer_interval", "must be positive and at most 1m (e.g. 5s): access ends at most this late")
	}
}

// validate checks one account, with keys relative to it.
func (a AccountPolicy) validate() problem.List {
	var ps problem.List
	switch a.Mode {
	case ModeAssumeRole:
	case ModeIdentityCenter:
		if !instanceARNRe.MatchString(a.InstanceARN) {
			ps.Addf("instance_arn", "required in identity-center mode: the Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)")
		}
		if a.IdentityStoreID == "" {
			ps.Addf("identity_store_id", "required in identity-center mode: the identity store ID (d-…)")
		}
	default:
		ps.Addf("mode", "%q: use %s or %s", a.Mode, ModeAssumeRole, ModeIdentityCenter)
	}
	if len(a.Levels) == 0 {
		ps.Addf("levels", "at least one access level is required")
	}
	names := map[string]bool{}
	for j, l := range a.Levels {
		key := problem.Index("levels", j)
		switch {
		case l.Name == "":
			ps.Addf(key+".name", "required; the name responders choose in the request form")
		case names[l.Name]:
			ps.Addf(key+".name", "%q is used twice in this account", l.Name)
		case strings.Contains(l.Name, "/"):
			ps.Addf(key+".name", "%q must not contain \"/\"", l.Name)
		}
		names[l.Name] = true
		switch a.Mode {
		case ModeAssumeRole:
			if !roleARNRe.MatchString(l.RoleARN) {
				ps.Addf(key+".role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", l.RoleARN)
			} else if !strings.Contains(l.RoleARN, "::"+a.ID+":") {
				ps.Addf(key+".role_arn", "%s is not a role of account %s", l.RoleARN, a.ID)
			}
		case ModeIdentityCenter:
			if !permissionSetARNRe.MatchString(l.PermissionSetARN) {
				ps.Addf(key+".permission_set_arn", "%q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…)", l.PermissionSetARN)
			}
		}
		if l.MaxDuration < 0 {
			ps.Addf(key+".max_duration", "must not be negative")
		}
	}
	return ps
}

// checkChannels reports the channels New needs: they come from outside
// the block.
func (c Config) checkChannels() error {
	if c.ApproversChannel == "" {
		return fmt.Errorf("breakglass: no approvers channel: approval requests are posted there")
	}
	if c.SelfApproveAfter > 0 && c.SecOpsChannel == "" {
		return fmt.Errorf("breakglass: no SecOps channel, required with self_approve_after: self-approvals are announced there")
	}
	return nil
}

// byID indexes the accounts by ID for the service.
func (c Config) byID() map[string]AccountPolicy {
	m := make(map[string]AccountPolicy, len(c.Accounts))
	for _, a := range c.Accounts {
		m[a.ID] = a
	}
	return m
}

// SortedAccounts returns the accounts in ID order, the order they are
// offered in.
func (c Config) SortedAccounts() []AccountPolicy {
	out := slices.Clone(c.Accounts)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a configured account by ID or by name (case-insensitive),
// for `/secops breakglass <account>`.
func (c Config) Lookup(nameOrID string) (string, bool) {
	nameOrID = strings.TrimSpace(nameOrID)
	accounts := c.SortedAccounts()
	for _, a := range accounts {
		if a.ID == nameOrID {
			return a.ID, true
		}
	}
	for _, a := range accounts {
		if a.Name != "" && strings.EqualFold(a.Name, nameOrID) {
			return a.ID, true
		}
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
