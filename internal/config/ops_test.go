package config

import (
	"errors"
	"strings"
	"testing"
)

// TestOpsProblems checks that containment, playbooks and on_call problems
// are reported with the key at fault, and that good values pass.
func TestOpsProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		keys []string // wanted problem keys; none means valid
	}{
		{"valid", `
containment: {corporate_cidrs: ["198.51.100.0/24", "2001:db8::/32"], vpc_endpoints: [vpce-0abc]}
on_call:
  rotations:
    - {team: secops, members: [U0ALICE01], handoff: daily, timezone: Europe/Berlin}
`, nil},
		{"bad ranges and endpoints", `
containment: {corporate_cidrs: ["198.51.100.0", "corp"], vpc_endpoints: [endpoint-1]}
`, []string{"containment.corporate_cidrs[0]", "containment.corporate_cidrs[1]", "containment.vpc_endpoints[0]"}},
		{"missing playbooks dir", `
playbooks: {dir: /nonexistent/playbooks}
`, []string{"playbooks.dir"}},
		{"bad rotations", `
on_call:
  rotations:
    - {team: nobody, members: [alice], handoff: monthly}
`, []string{"on_call.rotations[0].members[0]", "on_call.rotations[0].handoff", "on_call.rotations[0].team"}},
		{"unknown key", `
containment: {corporate_cidr: ["198.51.100.0/24"]}
`, []string{"containment.corporate_cidr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.yaml, nil)
			var ce *Error
			if len(tc.keys) == 0 {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
				return
			}
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want problems", err)
			}
			got := map[string]bool{}
			for _, p := range ce.Problems {
				got[p.Key] = true
			}
			for _, k := range tc.keys {
				if !got[k] {
					t.Errorf("no problem for %s in:\n%s", k, err)
				}
			}
			if n := len(ce.Problems); n != len(tc.keys) {
				t.Errorf("%d problems, want %d:\n%s", n, len(tc.keys), strings.TrimSpace(err.Error()))
			}
		})
	}
}
