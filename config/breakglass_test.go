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
			"breakglass.max_duration: 13h0m0s is longer than the 12 hours",
			"breakglass.self_approve_after: 10m0s is not shorter than request_ttl",
			`breakglass.federation_url: "signin" is not an http(s) URL`,
			`breakglass.accounts[0].id: "12345" is not a 12-digit`,
			`breakglass.accounts[0].mode: "console"`,
			"breakglass.accounts[0].levels: at least one",
			"breakglass.accounts[1].levels[0].role_arn: arn:aws:iam::111122223333:role/other is not a role of account 444455556666",
			`breakglass.accounts[1].levels[1].name: "admin" is used twice`,
			`breakglass.accounts[1].levels[1].role_arn: "x" is not an IAM role ARN`,
			"breakglass.accounts[2].instance_arn: required in identity-center mode",
			"breakglass.accounts[2].identity_store_id: required",
			`breakglass.accounts[2].levels[0].name: "a/b" must not contain`,
			"breakglass.accounts[2].levels[0].permission_set_arn",
			"breakglass.portal_url: required when an account uses identity-center mode (777788889999)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.yaml, envMap(tc.env))
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Parse = %v, want no problems", err)
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
