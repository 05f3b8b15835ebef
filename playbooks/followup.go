package playbooks

import (
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

// NextBusinessStart is the start of the team's next business day after t,
// skipping its holidays.
func NextBusinessStart(t org.Team, after time.Time) time.Time {
	loc := locOf(t)
	at := t.Hours.NextStart(after, loc)
	// A holiday is off hours all day; move on until a day that is not.
	for i := 0; i < 31 && t.OffHours(at); i++ {
		at = t.Hours.NextStart(at.Add(time.Minute), loc)
	}
	return at
}

// followUp works out when and where the morning follow-up goes and what it
// says.
func (r *Runner) followUp(run Run, f finding.Finding, now time.Time) (time.Time, string, string, error) {
	team := r.team(run.Team)
	if team.SlackChannel == "" {
		return time.Time{}, "", "", fmt.Errorf("team %s has no Slack channel for the follow-up", teamName(run.Team))
	}
	at := NextBusinessStart(team, now)
	thread := "the finding's thread"
	if run.Thread.Permalink != "" {
		thread = "<" + run.Thread.Permalink + "|the finding's thread>"
	}
	text := fmt.Sprintf(":sunrise: Good morning %s. Overnight, SecOps responded to *%s* (`%s`) on %s in account %s. "+
		"Please review what was contained and make the permanent fix; everything is in %s.",
		esc(teamName(run.Team)), esc(f.Title), f.ID, esc(f.Resource.ID), esc(f.AccountID), thread)
	return at, team.SlackChannel, text, nil
}
