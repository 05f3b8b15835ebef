package paging

import (
	"slices"

	"github.com/secops-bot/secops-bot/finding"
)

// SecOps is the team name of the security team, as in the rest of the
// configuration.
const SecOps = "secops"

// Rule says when findings page one team.
type Rule struct {
	// Severities are the severities that page; none means never.
	Severities []finding.Severity
	// OffHoursOnly pages only outside the team's business hours: during
	// them people read the channel, and the Slack mention is enough.
	OffHoursOnly bool
}

// Decide reports whether f pages the team the rule belongs to, given
// whether it is off hours for that team now. Only open findings that
// nobody has acknowledged yet page: an acknowledged finding already has
// someone on it.
func (r Rule) Decide(f finding.Finding, offHours bool) bool {
	if f.Status != finding.StatusOpen || f.AckedBy != "" {
		return false
	}
	if !slices.Contains(r.Severities, f.Severity) {
		return false
	}
	return offHours || !r.OffHoursOnly
}

// Policy holds the rule of every team that can be paged: SecOps and the
// teams owning accounts. A team without a rule is never paged.
type Policy struct {
	Teams map[string]Rule
}

// Targets lists the teams a finding pages: SecOps first, then the team
// owning the finding's account, each by its own rule and its own hours.
// offHours answers, for a team, whether it is off hours there now (teams
// keep different time zones).
func (p Policy) Targets(f finding.Finding, offHours func(team string) bool) []string {
	var out []string
	for _, team := range []string{SecOps, f.Team} {
		if team == "" || slices.Contains(out, team) {
			continue
		}
		if r, ok := p.Teams[team]; ok && r.Decide(f, offHours(team)) {
			out = append(out, team)
		}
	}
	return out
}
