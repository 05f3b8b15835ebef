package config

import (
	"errors"
	"strings"
	"testing"
)

func TestBreakGlassProblems(t *testing.T) {
	const base = `
slack:
  approvers_channel: "#secops-approvals"
roles:
  approvers: ["@secops-managers"]
breakglass:
  enabled: true
`
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		wants []string // problem keys and words; none means valid
		names map[string]string
	}{
		{name: "valid", yaml: base + `
  accounts:
    - id: "111122223333"
      mode: assume-role
      levels: [{name: responder, role_arn: "arn:aws:iam::111122223333:role/breakglass"}]
`},
		{name: "enabled from the environment without accounts", yaml: "slack:\n  approvers_channel: \"#a\"\nroles:\n  approvers: [U0MANAGER1]\n",
			env:   map[string]string{"SECOPS_BREAKGLASS_ENABLED": "true"},
			wants: []string{"breakglass.accounts: no account"}},
		{name: "account names default to those under accounts", yaml: base + `
  accounts:
    - {id: "111122223333", mode: assume-role, levels: [{name: responder, role_arn: "arn:aws:iam::111122223333:role/bg"}]}
    - {id: "444455556666", name: own-name, mode: assume-role, levels: [{name: responder, role_arn: "arn:aws:iam::444455556666:role/bg"}]}
accounts:
  - {id: "111122223333", name: payments-prod}
  - {id: "444455556666", name: data-prod}
`, names: map[string]string{"111122223333": "payments-prod", "444455556666": "own-name"}},
		{name: "disabled block is not checked", yaml: "breakglass:\n  enabled: false\n  accounts: [{id: \"1\", mode: console}]\n"},
		{name: "every problem at once", yaml: `
breakglass:
  enabled: true
  max_duration: 13h
  request_ttl: 10m
  self_approve_after: 10m
  federation_url: "signin"
  accounts:
    - id: "12345"
      mode: console
    - id: "444455556666"
      mode: assume-role
      levels:
        - {name: admin, role_arn: "arn:aws:iam::111122223333:role/other"}
        - {name: admin, role_arn: "x"}
    - id: "777788889999"
      mode: identity-center
      levels: [{name: a/b}]
`, wants: []string{
			"slack.approvers_channel: required when breakglass.enabled",
			"roles.approvers: nobody could approve",
			"breakglass.max_duration (line 4): 13h0m0s is longer than the 12 hours",
			"breakglass.self_approve_after (line 6): 10m0s is not shorter than request_ttl",
			`breakglass.federation_url (line 7): "signin" is not an http(s) URL`,
			`breakglass.accounts[0].id (line 9): "12345" is not a 12-digit`,
			`breakglass.accounts[0].mode (line 10): "console"`,
			"breakglass.accounts[0].levels (not set; its block is at line 9): at least one",
			"breakglass.accounts[1].levels[0].role_arn (line 14): arn:aws:iam::111122223333:role/other is not a role of account 444455556666",
			`breakglass.accounts[1].levels[1].name (line 15): "admin" is used twice`,
			`breakglass.accounts[1].levels[1].role_arn (line 15): "x" is not an IAM role ARN`,
			"breakglass.accounts[2].instance_arn (not set; its block is at line 16): required in identity-center mode",
			"breakglass.accounts[2].identity_store_id (not set; its block is at line 16): required",
			`breakglass.accounts[2].levels[0].name (line 18): "a/b" must not contain`,
			"breakglass.accounts[2].levels[0].permission_set_arn (not set; its block is at line 18)",
			"breakglass.portal_url (not set; its block is at line 2): required when an account uses identity-center mode (777788889999)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(tc.yaml, envMap(tc.env))
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Parse = %v, want no problems", err)
				}
				opts := cfg.BreakGlassOptions()
				if cfg.BreakGlass.Enabled && opts.ApproversChannel != "#secops-approvals" || opts.SecOpsChannel != "#secops" {
					t.Errorf("channels = %q, %q; want slack.approvers_channel and slack.secops_channel", opts.ApproversChannel, opts.SecOpsChannel)
				}
				for _, a := range opts.Accounts {
					if want, ok := tc.names[a.ID]; ok && a.Name != want {
						t.Errorf("account %s is named %q, want %q", a.ID, a.Name, want)
					}
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
		})
	}
}
