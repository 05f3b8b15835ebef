// Package route decides where a finding goes: high and critical findings to
// the SecOps channel, the owning team's channel and a ticket; medium and low
// to a backlog ticket only; suppressed findings nowhere. The owning team is
// the one a resource tag names (routing.owner_tags), else the account's.
// Overrides per rule and per severity add channels to those routes; they
// form a routing tree matched as Alertmanager matches its routes.
package route

import (
	"fmt"
	"slices"
	"strings"

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
	// Team is the team the destination belongs to ("secops" for SecOps,
	// empty for a channel an override adds).
	Team string
}

// String renders the destination as "slack:#secops" or "jira:PAY".
func (d Destination) String() string { return string(d.Kind) + ":" + d.Name }

// Route is a node of the routing tree. A finding that a route matches is
// also sent to the route's channels; its child routes are tried in order
// and, as in Alertmanager's tree, the first child that matches ends the
// search among its siblings unless it has Continue.
type Route struct {
	// Rules and Severities the route takes; empty takes any.
	Rules      []string
	Severities []finding.Severity
	// Channels are Slack channels added to the finding's routes.
	Channels []string
	// Continue lets a finding this route matched go on to the next
	// sibling routes.
	Continue bool
	Routes   []*Route
}

// matches reports whether the route itself takes the finding.
func (r *Route) matches(f *finding.Finding) bool {
	if len(r.Rules) > 0 && !slices.Contains(r.Rules, f.Rule) {
		return false
	}
	if len(r.Severities) > 0 && !slices.Contains(r.Severities, f.Severity) {
		return false
	}
	return true
}

// Match returns the routes the finding ends at, depth first: the deepest
// matching routes, or the route itself when none of its children matches.
func (r *Route) Match(f *finding.Finding) []*Route {
	if !r.matches(f) {
		return nil
	}
	var all []*Route
	for _, child := range r.Routes {
		matches := child.Match(f)
		all = append(all, matches...)
		if matches != nil && !child.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// Options configure the router beyond the organisation's teams.
type Options struct {
	// OwnerTags are resource tag keys, in order of preference, whose value
	// names the team that owns the resource.
	OwnerTags []string
	// Routes are the overrides, children of a root that takes every
	// finding and adds no channel of its own.
	Routes []*Route
}

// Router routes findings using the organisation directory.
type Router struct {
	dir       *org.Directory
	root      *Route
	ownerTags []string
}

// New returns a router with the default routes only.
func New(dir *org.Directory) *Router { return NewTree(dir, Options{}) }

// NewTree returns a router that adds the channels of the override routes
// to the default routes, and takes the owning team from resource tags.
func NewTree(dir *org.Directory, opts Options) *Router {
	return &Router{dir: dir, root: &Route{Routes: opts.Routes}, ownerTags: opts.OwnerTags}
}

// Route returns the destinations of a finding, SecOps first, then the
// owning team's, then those the overrides add, without duplicates (a team
// may share the SecOps channel).
func (r *Router) Route(f *finding.Finding) []Destination {
	if f.Status == finding.StatusSuppressed {
		return nil
	}
	secops := r.dir.SecOps()
	team, owned := r.owner(f)
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
	for _, m := range r.root.Match(f) {
		for _, ch := range m.Channels {
			add(Destination{Kind: Slack, Name: ch})
		}
	}
	return out
}

// owner is the team that owns the finding: the one its resource's tags
// named (kept in Team), else the account's.
func (r *Router) owner(f *finding.Finding) (org.Team, bool) {
	if f.TeamTag != "" {
		if t, ok := r.dir.Team(f.Team); ok {
			return t, true
		}
	}
	return r.dir.OwnerOf(f.AccountID)
}

// Reroute decides the finding's owner again from its resource's tags (as
// read with the resource's state) and records which tag named it. When the
// owning team changes it also sets the finding's routes and reports the
// change, with a note for the finding's threads that says why. A tag naming
// no team changes nothing; a resource that lost its owner tag goes back to
// its account's team.
func (r *Router) Reroute(f *finding.Finding, tags map[string]string) (note string, changed bool) {
	if len(r.ownerTags) == 0 {
		return "", false
	}
	was := f.Team
	team, tag, ok := r.tagOwner(tags)
	switch {
	case ok:
		f.Team, f.TeamTag = team.Name, tag
		note = fmt.Sprintf("Owned by team %s: the resource's tag %s names it", team.Name, tag)
		if acct, _ := r.dir.Account(f.AccountID); acct.Team != "" && acct.Team != team.Name {
			note += fmt.Sprintf(" (the account's team is %s)", acct.Team)
		}
	case f.TeamTag != "":
		gone := f.TeamTag
		f.Team, f.TeamTag = "", ""
		if a, ok := r.dir.Account(f.AccountID); ok {
			f.Team = a.Team
		}
		note = fmt.Sprintf("The resource no longer has tag %s naming a team", gone)
		if f.Team != "" {
			note += "; owned by the account's team " + f.Team
		}
	}
	if f.Team == was {
		return "", false
	}
	before := f.Routes
	f.Routes = Strings(r.Route(f))
	if added := slackOnly(f.Routes, before); len(added) > 0 {
		note += "; now routed to " + strings.Join(added, ", ")
	}
	return note + ".", true
}

// tagOwner returns the team the first owner tag present names, and the tag
// as "key=value".
func (r *Router) tagOwner(tags map[string]string) (org.Team, string, bool) {
	for _, k := range r.ownerTags {
		v, ok := tags[k]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if t, ok := r.dir.TeamNamed(v); ok {
			return t, k + "=" + v, true
		}
	}
	return org.Team{}, "", false
}

// slackOnly lists the Slack channels of routes that are not in other.
func slackOnly(routes, other []string) []string {
	var out []string
	for _, r := range routes {
		if ch, ok := strings.CutPrefix(r, string(Slack)+":"); ok && !slices.Contains(other, r) {
			out = append(out, ch)
		}
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
