// Package route decides where a finding goes: high and critical findings to
// the SecOps channel, the owning team's channel and a ticket; medium and low
// to a backlog ticket only; suppressed findings nowhere.
package route

import (
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

// Kind is the kind of destination.
type Kind string

// Destination kinds.
const (
	Slack Kind = "slack"
	Jira  Kind = "jira"
)

// Destination is one place a finding is delivered to.
type Destination struct {
	Kind Kind
	// Name is a Slack channel (name or ID) or a Jira project key.
	Name string
	// Team is the team the destination belongs to ("secops" for SecOps).
	Team string
}

// String renders the destination as "slack:#secops" or "jira:PAY".
func (d Destination) String() string { return string(d.Kind) + ":" + d.Name }

// Router routes findings using the organisation directory.
type Router struct {
	dir *org.Directory
}

// New returns a router.
func New(dir *org.Directory) *Router { return &Router{dir: dir} }

// Route returns the destinations of a finding, SecOps first, without
// duplicates (a team may share the SecOps channel).
func (r *Router) Route(f *finding.Finding) []Destination {
	if f.Status == finding.StatusSuppressed {
		return nil
	}
	secops := r.dir.SecOps()
	team, owned := r.dir.OwnerOf(f.AccountID)
	var out []Destination
	add := func(d Destination) {
		if d.Name == "" {
			return
		}
		for _, x := range out {
			if x.Kind == d.Kind && x.Name == d.Name {
				return
			}
		}
		out = append(out, d)
	}
	if f.Severity >= finding.SeverityHigh {
		add(Destination{Kind: Slack, Name: secops.SlackChannel, Team: secops.Name})
		if owned {
			add(Destination{Kind: Slack, Name: team.SlackChannel, Team: team.Name})
		}
	}
	// Every routed finding gets one ticket: in the owning team's project,
	// or SecOps' when no team owns the account or the team has none.
	if owned && team.JiraProject != "" {
		add(Destination{Kind: Jira, Name: team.JiraProject, Team: team.Name})
	} else {
		add(Destination{Kind: Jira, Name: secops.JiraProject, Team: secops.Name})
	}
	return out
}

// Strings renders destinations for output and storage.
func Strings(ds []Destination) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}
