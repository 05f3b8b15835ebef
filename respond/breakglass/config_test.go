package breakglass

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		ApproversChannel: "C0APPROVE",
		PortalURL:        "https://d-1234567890.awsapps.com/start",
		Accounts: []AccountPolicy{
			{ID: "111122223333", Mode: ModeAssumeRole, Levels: []Level{{Name: "responder", RoleARN: "arn:aws:iam::111122223333:role/BreakGlass"}}},
			{ID: "444455556666", Mode: ModeIdentityCenter, InstanceARN: "arn:aws:sso:::instance/ssoins-1", IdentityStoreID: "d-1",
				Levels: []Level{{Name: "admin", PermissionSetARN: "arn:aws:sso:::permissionSet/ssoins-1/ps-1"}}},
		},
	}
}

// TestConfigValidate checks the block's one validator: keys relative to
// the block, every problem at once, and a Config built in code with its
// zero fields defaulted.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string // lines of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"no approvers channel", func(c *Config) { c.ApproversChannel = "" }, []string{"breakglass: no approvers channel"}},
		{"self-approval without a channel to announce it", func(c *Config) { c.SelfApproveAfter = time.Minute },
			[]string{"breakglass: no SecOps channel, required with self_approve_after"}},
		{"too long a maximum", func(c *Config) { c.MaxDuration = 13 * time.Hour },
			[]string{"max_duration: 13h0m0s is longer than the 12 hours an AWS session can last"}},
		{"negative durations", func(c *Config) { c.RequestTTL = -time.Minute; c.DefaultDuration = -1 },
			[]string{"default_duration: must not be negative, got -1ns", "request_ttl: must not be negative, got -1m0s"}},
		{"default longer than the maximum", func(c *Config) { c.DefaultDuration = 2 * time.Hour },
			[]string{"default_duration: 2h0m0s is longer than max_duration 1h0m0s"}},
		{"self-approval after the request expired", func(c *Config) { c.SecOpsChannel = "C0SECOPS"; c.SelfApproveAfter = 15 * time.Minute },
			[]string{"self_approve_after: 15m0s is not shorter than request_ttl 15m0s"}},
		{"bad URLs", func(c *Config) { c.FederationURL = "signin"; c.PortalURL = "" },
			[]string{`federation_url: "signin" is not an http(s) URL`, "portal_url: required when an account uses identity-center mode (444455556666)"}},
		{"no accounts", func(c *Config) { c.Accounts = nil }, []string{"accounts: no account"}},
		{"every account problem at once", func(c *Config) {
			c.Accounts = append(c.Accounts,
				AccountPolicy{ID: "12345", Mode: "console"},
				AccountPolicy{ID: "777788889999", Mode: ModeAssumeRole, Levels: []Level{
					{Name: "a", RoleARN: "arn:aws:iam::111122223333:role/Other"}, {Name: "a", RoleARN: "x"}, {Name: "b/c", RoleARN: "arn:aws:iam::777788889999:role/B", MaxDuration: -1},
				}},
				AccountPolicy{ID: "888899990000", Mode: ModeIdentityCenter, Levels: []Level{{Name: "b"}}},
				AccountPolicy{ID: "111122223333", Mode: ModeAssumeRole, Levels: []Level{{Name: "x", RoleARN: "arn:aws:iam::111122223333:role/X"}}},
			)
		}, []string{
			`accounts[2].id: "12345" is not a 12-digit AWS account ID`,
			`accounts[2].mode: "console": use assume-role or identity-center`,
			"accounts[2].levels: at least one",
			"accounts[3].levels[0].role_arn: arn:aws:iam::111122223333:role/Other is not a role of account 777788889999",
			`accounts[3].levels[1].name: "a" is used twice`,
			`accounts[3].levels[1].role_arn: "x" is not an IAM role ARN`,
			`accounts[3].levels[2].name: "b/c" must not contain "/"`,
			"accounts[3].levels[2].max_duration: must not be negative",
			"accounts[4].instance_arn: required in identity-center mode",
			"accounts[4].identity_store_id: required in identity-center mode",
			`accounts[4].levels[0].permission_set_arn: "" is not a permission set ARN`,
			"accounts[5].id: account 111122223333 is listed twice (also breakglass.accounts[0])",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			_, err := New(c, Deps{})
			if len(tc.wants) == 0 {
				if err == nil || !strings.Contains(err.Error(), "store, authorizer, notifier and granter are required") {
					t.Fatalf("New = %v, want only the missing dependencies refused", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New = nil, want the configuration refused")
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tc.wants {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("no line starts with %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{DefaultDuration: 30 * time.Minute, MaxDuration: time.Hour, RequestTTL: 15 * time.Minute,
			TimerInterval: 5 * time.Second, FederationURL: "https://signin.aws.amazon.com/federation"}},
		{"default cut to a shorter maximum", Config{MaxDuration: 20 * time.Minute}, Config{DefaultDuration: 20 * time.Minute, MaxDuration: 20 * time.Minute,
			RequestTTL: 15 * time.Minute, TimerInterval: 5 * time.Second, FederationURL: "https://signin.aws.amazon.com/federation"}},
		{"negative left for Validate", Config{RequestTTL: -time.Minute}, Config{DefaultDuration: 30 * time.Minute, MaxDuration: time.Hour, RequestTTL: -time.Minute,
			TimerInterval: 5 * time.Second, FederationURL: "https://signin.aws.amazon.com/federation"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.withDefaults()
			if got.DefaultDuration != tc.want.DefaultDuration || got.MaxDuration != tc.want.MaxDuration || got.RequestTTL != tc.want.RequestTTL ||
				got.TimerInterval != tc.want.TimerInterval || got.FederationURL != tc.want.FederationURL {
				t.Fatalf("withDefaults = %+v, want %+v", got, tc.want)
			}
		})
	}
	d := Defaults()
	if d.Enabled || d.DefaultDuration != DefaultDuration || d.MaxDuration != DefaultMaxDuration || d.SweepInterval != 15*time.Minute {
		t.Errorf("Defaults = %+v", d)
	}
}

func TestLookup(t *testing.T) {
	c := validConfig()
	c.Accounts[0].Name = "payments-prod"
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"111122223333", "111122223333", true},
		{"Payments-Prod", "111122223333", true},
		{" 444455556666 ", "444455556666", true},
		{"999999999999", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := c.Lookup(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
