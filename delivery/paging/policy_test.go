package paging

import (
	"slices"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
)

func TestRuleDecide(t *testing.T) {
	critical := finding.Finding{ID: "F-1", Severity: finding.SeverityCritical, Status: finding.StatusOpen}
	high := finding.Finding{ID: "F-2", Severity: finding.SeverityHigh, Status: finding.StatusOpen}
	with := func(f finding.Finding, edit func(*finding.Finding)) finding.Finding { edit(&f); return f }
	always := Rule{Severities: []finding.Severity{finding.SeverityCritical, finding.SeverityHigh}}
	nights := Rule{Severities: []finding.Severity{finding.SeverityCritical}, OffHoursOnly: true}
	tests := []struct {
		name     string
		rule     Rule
		f        finding.Finding
		offHours bool
		want     bool
	}{
		{"critical off hours pages", nights, critical, true, true},
		{"critical in business hours waits for the channel", nights, critical, false, false},
		{"high is not among the rule's severities", nights, high, true, false},
		{"always: business hours page too", always, high, false, true},
		{"always: off hours page", always, critical, true, true},
		{"no severities: never", Rule{}, critical, true, false},
		{"resolved findings never page", always, with(critical, func(f *finding.Finding) { f.Status = finding.StatusResolved }), true, false},
		{"suppressed findings never page", always, with(critical, func(f *finding.Finding) { f.Status = finding.StatusSuppressed }), true, false},
		{"someone acknowledged it already", always, with(critical, func(f *finding.Finding) { f.AckedBy = "U0ANNA" }), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Decide(tc.f, tc.offHours); got != tc.want {
				t.Errorf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyTargets(t *testing.T) {
	policy := Policy{Teams: map[string]Rule{
		SecOps:     {Severities: []finding.Severity{finding.SeverityCritical, finding.SeverityHigh}, OffHoursOnly: true},
		"payments": {Severities: []finding.Severity{finding.SeverityCritical}},
	}}
	f := func(team string, sev finding.Severity) finding.Finding {
		return finding.Finding{ID: "F-1", Team: team, Severity: sev, Status: finding.StatusOpen}
	}
	offIn := func(teams ...string) func(string) bool {
		return func(team string) bool { return slices.Contains(teams, team) }
	}
	tests := []struct {
		name     string
		f        finding.Finding
		offHours func(string) bool
		want     []string
	}{
		{"3 a.m. for both: SecOps first, then the owners", f("payments", finding.SeverityCritical), offIn("secops", "payments"), []string{"secops", "payments"}},
		{"SecOps in business hours, owners paged always", f("payments", finding.SeverityCritical), offIn(), []string{"payments"}},
		{"high pages SecOps off hours only, never payments", f("payments", finding.SeverityHigh), offIn("secops", "payments"), []string{"secops"}},
		{"a team without a rule is not paged", f("analytics", finding.SeverityCritical), offIn("secops", "analytics"), []string{"secops"}},
		{"a finding of no team pages SecOps alone", f("", finding.SeverityCritical), offIn("secops"), []string{"secops"}},
		{"a SecOps-owned finding pages SecOps once", f("secops", finding.SeverityCritical), offIn("secops"), []string{"secops"}},
		{"medium pages nobody", f("payments", finding.SeverityMedium), offIn("secops", "payments"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := policy.Targets(tc.f, tc.offHours); !slices.Equal(got, tc.want) {
				t.Errorf("Targets = %v, want %v", got, tc.want)
			}
		})
	}
}
