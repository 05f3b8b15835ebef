package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// BreakGlass configures time-boxed emergency access to AWS accounts,
// requested and approved in Slack. Requests are posted to
// slack.approvers_channel; approvers are roles.approvers. The keys mirror
// breakglass.Config, which checks them again when the bot starts.
type BreakGlass struct {
	// Enabled turns on /secops breakglass and the approval buttons.
	Enabled bool `mapstructure:"enabled"`
	// DefaultDuration is the window when the request names none;
	// MaxDuration caps every request (AWS sessions last 12 hours at most).
	DefaultDuration time.Duration `mapstructure:"default_duration"`
	MaxDuration     time.Duration `mapstructure:"max_duration"`
	// RequestTTL is how long a request waits for a decision.
	RequestTTL time.Duration `mapstructure:"request_ttl"`
	// SelfApproveAfter lets a requester approve their own request when no
	// approver answered within it; zero never does.
	SelfApproveAfter time.Duration `mapstructure:"self_approve_after"`
	// FederationURL is the AWS sign-in federation endpoint that turns
	// temporary credentials into a console link.
	FederationURL string `mapstructure:"federation_url"`
	// ConsoleDestination is the console page the sign-in link opens.
	ConsoleDestination string `mapstructure:"console_destination"`
	// PortalURL is the IAM Identity Center access portal, sent to
	// requesters granted a permission set.
	PortalURL string `mapstructure:"portal_url"`
	// IdentityCenterAccount is the account (management or delegated
	// administrator) whose credentials make Identity Center assignments;
	// empty uses the target account.
	IdentityCenterAccount string `mapstructure:"identity_center_account"`
	// TimerInterval is how often due timers (reminders, expiries) run;
	// SweepInterval how often stray Identity Center assignments are
	// removed (0 never).
	TimerInterval time.Duration `mapstructure:"timer_interval"`
	SweepInterval time.Duration `mapstructure:"sweep_interval"`
	// Accounts are where break-glass access can be requested.
	Accounts []BreakGlassAccount `mapstructure:"accounts"`
}

// BreakGlassAccount is how break-glass access works in one account.
type BreakGlassAccount struct {
	ID string `mapstructure:"id"`
	// Name is shown beside the ID; accounts[].name when empty.
	Name string `mapstructure:"name"`
	// Mode is assume-role or identity-center.
	Mode string `mapstructure:"mode"`
	// TwoApprovers requires two distinct approvers.
	TwoApprovers bool `mapstructure:"two_approvers"`
	// InstanceARN and IdentityStoreID locate Identity Center
	// (identity-center mode).
	InstanceARN     string `mapstructure:"instance_arn"`
	IdentityStoreID string `mapstructure:"identity_store_id"`
	// Levels are the access levels offered; the first is the default.
	Levels []BreakGlassLevel `mapstructure:"levels"`
}

// BreakGlassLevel is one access level: a role to assume or a permission
// set to assign.
type BreakGlassLevel struct {
	Name             string        `mapstructure:"name"`
	RoleARN          string        `mapstructure:"role_arn"`
	PermissionSetARN string        `mapstructure:"permission_set_arn"`
	MaxDuration      time.Duration `mapstructure:"max_duration"`
}

// Break-glass modes, as written in the configuration.
const (
	BreakGlassAssumeRole     = "assume-role"
	BreakGlassIdentityCenter = "identity-center"
)

// defaultBreakGlass are the documented defaults.
func defaultBreakGlass() BreakGlass {
	return BreakGlass{
		DefaultDuration: 30 * time.Minute,
		MaxDuration:     time.Hour,
		RequestTTL:      15 * time.Minute,
		FederationURL:   "https://signin.aws.amazon.com/federation",
		TimerInterval:   5 * time.Second,
		SweepInterval:   15 * time.Minute,
	}
}

var (
	permissionSetARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::permissionSet/ssoins-[0-9a-f]+/ps-[0-9a-f]+$`)
	instanceARNRe      = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/ssoins-[0-9a-f]+$`)
)

// validateBreakGlass checks the breakglass block; nothing is checked while
// it is disabled, so a block prepared in advance does not stop the bot.
func (c *Config) validateBreakGlass() []Problem {
	bg := c.BreakGlass
	if !bg.Enabled {
		return nil
	}
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Slack.ApproversChannel == "" {
		add("slack.approvers_channel", "required when breakglass.enabled is true: break-glass requests are posted there for approval (e.g. \"#secops-approvals\")")
	}
	if len(c.Roles.Approvers) == 0 && len(c.Roles.Admins) == 0 {
		add("roles.approvers", "nobody could approve a break-glass request; list the managers who may (user IDs or @user-group handles)")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"default_duration", bg.DefaultDuration}, {"max_duration", bg.MaxDuration},
		{"request_ttl", bg.RequestTTL}, {"self_approve_after", bg.SelfApproveAfter}, {"sweep_interval", bg.SweepInterval},
	} {
		if d.v < 0 {
			add("breakglass."+d.key, "must not be negative, got %v", d.v)
		}
	}
	if bg.MaxDuration > 12*time.Hour {
		add("breakglass.max_duration", "%v is longer than the 12 hours an AWS session can last", bg.MaxDuration)
	}
	if bg.DefaultDuration > bg.MaxDuration && bg.MaxDuration > 0 {
		add("breakglass.default_duration", "%v is longer than max_duration %v", bg.DefaultDuration, bg.MaxDuration)
	}
	if bg.SelfApproveAfter > 0 && bg.RequestTTL > 0 && bg.SelfApproveAfter >= bg.RequestTTL {
		add("breakglass.self_approve_after", "%v is not shorter than request_ttl %v: the request would expire before its requester could approve it", bg.SelfApproveAfter, bg.RequestTTL)
	}
	if bg.TimerInterval <= 0 || bg.TimerInterval > time.Minute {
		add("breakglass.timer_interval", "must be positive and at most 1m (e.g. 5s): access ends at most this late")
	}
	for _, u := range []struct{ key, v string }{
		{"federation_url", bg.FederationURL}, {"console_destination", bg.ConsoleDestination}, {"portal_url", bg.PortalURL},
	} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			add("breakglass."+u.key, "%q is not an http(s) URL", u.v)
		}
	}
	if bg.FederationURL == "" {
		add("breakglass.federation_url", "required for console sign-in links; use https://signin.aws.amazon.com/federation")
	}
	if bg.IdentityCenterAccount != "" && !accountIDRe.MatchString(bg.IdentityCenterAccount) {
		add("breakglass.identity_center_account", "%q is not a 12-digit AWS account ID; quote it in YAML", bg.IdentityCenterAccount)
	}
	if len(bg.Accounts) == 0 {
		add("breakglass.accounts", "no account is configured, so nobody can request access; add at least one with its levels")
	}
	seen := map[string]string{}
	var identityCenter []string
	for i, a := range bg.Accounts {
		key := fmt.Sprintf("breakglass.accounts[%d]", i)
		if !accountIDRe.MatchString(a.ID) {
			add(key+".id", "%q is not a 12-digit AWS account ID; quote it in YAML (id: \"012345678901\")", a.ID)
		} else if prev, dup := seen[a.ID]; dup {
			add(key+".id", "account %s is listed twice (also %s)", a.ID, prev)
		}
		seen[a.ID] = key
		switch a.Mode {
		case BreakGlassAssumeRole:
		case BreakGlassIdentityCenter:
			if !instanceARNRe.MatchString(a.InstanceARN) {
				add(key+".instance_arn", "required in identity-center mode: the Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)")
			}
			if a.IdentityStoreID == "" {
				add(key+".identity_store_id", "required in identity-center mode: the identity store ID (d-…)")
			}
			identityCenter = append(identityCenter, a.ID)
		default:
			add(key+".mode", "%q: use %s or %s", a.Mode, BreakGlassAssumeRole, BreakGlassIdentityCenter)
		}
		if len(a.Levels) == 0 {
			add(key+".levels", "at least one access level is required")
		}
		names := map[string]bool{}
		for j, l := range a.Levels {
			lkey := fmt.Sprintf("%s.levels[%d]", key, j)
			switch {
			case l.Name == "":
				add(lkey+".name", "required; the name responders choose in the request form")
			case names[l.Name]:
				add(lkey+".name", "%q is used twice in this account", l.Name)
			case strings.Contains(l.Name, "/"):
				add(lkey+".name", "%q must not contain \"/\"", l.Name)
			}
			names[l.Name] = true
			switch a.Mode {
			case BreakGlassAssumeRole:
				if !roleARNRe.MatchString(l.RoleARN) {
					add(lkey+".role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", l.RoleARN)
				} else if !strings.Contains(l.RoleARN, "::"+a.ID+":") {
					add(lkey+".role_arn", "%s is not a role of account %s", l.RoleARN, a.ID)
				}
			case BreakGlassIdentityCenter:
				if !permissionSetARNRe.MatchString(l.PermissionSetARN) {
					add(lkey+".permission_set_arn", "%q is not a permission set ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…)", l.PermissionSetARN)
				}
			}
			if l.MaxDuration < 0 {
				add(lkey+".max_duration", "must not be negative")
			}
		}
	}
	if len(identityCenter) > 0 && bg.PortalURL == "" {
		add("breakglass.portal_url", "required when an account uses identity-center mode (%s): the access portal link sent to the requester", strings.Join(identityCenter, ", "))
	}
	return ps
}
