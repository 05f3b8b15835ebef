package breakglass

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		ApproversChannel: "C0APPROVE",
		Accounts: map[string]AccountPolicy{
			"111122223333": {Mode: ModeAssumeRole, Levels: []Level{{Name: "responder", RoleARN: "arn:aws:iam::111122223333:role/BreakGlass"}}},
			"444455556666": {Mode: ModeIdentityCenter, InstanceARN: "arn:aws:sso:::instance/ssoins-1", IdentityStoreID: "d-1",
				Levels: []Level{{Name: "admin", PermissionSetARN: "arn:aws:sso:::permissionSet/ssoins-1/ps-1"}}},
		},
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"no approvers channel", func(c *Config) { c.ApproversChannel = "" }, []string{"breakglass.approvers_channel"}},
		{"self-approval without a channel to announce it", func(c *Config) { c.SelfApproveAfter = time.Minute }, []string{"breakglass.secops_channel"}},
		{"too long a maximum", func(c *Config) { c.MaxDuration = 13 * time.Hour }, []string{"breakglass.max_duration"}},
		{"negative durations", func(c *Config) { c.RequestTTL = -time.Minute; c.DefaultDuration = -1 },
			[]string{"breakglass.request_ttl", "breakglass.default_duration"}},
		{"no accounts", func(c *Config) { c.Accounts = nil }, []string{"breakglass.accounts: no account"}},
		{"every account problem at once", func(c *Config) {
			c.Accounts["12345"] = AccountPolicy{Mode: "console"}
			c.Accounts["777788889999"] = AccountPolicy{Mode: ModeAssumeRole, Levels: []Level{
				{Name: "a", RoleARN: "arn:aws:iam::111122223333:role/Other"}, {Name: "a", RoleARN: "x"},
			}}
			c.Accounts["888899990000"] = AccountPolicy{Mode: ModeIdentityCenter, Levels: []Level{{Name: "b"}}}
		}, []string{
			"breakglass.accounts.12345: is not a 12-digit",
			"breakglass.accounts.12345.mode",
			"breakglass.accounts.12345.levels: at least one",
			"breakglass.accounts.777788889999.levels[0].role_arn: arn:aws:iam::111122223333:role/Other is not a role of account 777788889999",
			"breakglass.accounts.777788889999.levels[1].name: \"a\" is used twice",
			"breakglass.accounts.777788889999.levels[1].role_arn: a role ARN is required",
			"breakglass.accounts.888899990000.instance_arn",
			"breakglass.accounts.888899990000.identity_store_id",
			"breakglass.accounts.888899990000.levels[0].permission_set_arn",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want errors")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{MaxDuration: 20 * time.Minute}.withDefaults()
	if c.DefaultDuration != 20*time.Minute || c.RequestTTL != 15*time.Minute {
		t.Fatalf("defaults = %v default, %v ttl; want the default cut to the 20m maximum and 15m", c.DefaultDuration, c.RequestTTL)
	}
	c = Config{}.withDefaults()
	if c.DefaultDuration != 30*time.Minute || c.MaxDuration != time.Hour {
		t.Fatalf("defaults = %v default, %v max; want 30m and 1h", c.DefaultDuration, c.MaxDuration)
	}
}

func TestLookup(t *testing.T) {
	c := validConfig()
	p := c.Accounts["111122223333"]
	p.Name = "payments-prod"
	c.Accounts["111122223333"] = p
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
		if got, ok := c.Lookup(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
