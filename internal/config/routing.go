package config

import (
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/problem"
)

// Routing adds to the routes every finding gets (the SecOps channel and the
// owning team's channel for high and critical findings, one ticket).
type Routing struct {
	// OwnerTags are resource tag keys, in order of preference, whose value
	// names the team (a name under teams:) that owns the resource. Once
	// the resource's state is read, that team takes the finding over from
	// the account's team.
	OwnerTags []string `yaml:"owner_tags"`
	// Rules add channels to the findings of a rule, by rule ID.
	Rules map[string]Override `yaml:"rules"`
	// Severities add channels to the findings of a severity.
	Severities map[string]Override `yaml:"severities"`
}

// Override is a route that adds channels to the findings it matches. Rule
// overrides are tried before severity overrides, each in the order of the
// rule table and from critical down; a finding matches every one it fits
// unless one it matched has continue: false.
type Override struct {
	Channels []string `yaml:"channels"`
	// Continue, true unless set to false, lets a finding this override
	// matched also match the overrides after it.
	Continue *bool `yaml:"continue"`
}

// severityOrder is the order severity overrides are tried in.
var severityOrder = []string{"critical", "high", "medium", "low"}

// validate checks the block; a tag naming a team needs teams to name.
func (r Routing) validate(teams []Team) problem.List {
	var ps problem.List
	for i, k := range r.OwnerTags {
		key := problem.Index("owner_tags", i)
		switch {
		case strings.TrimSpace(k) == "":
			ps.Addf(key, "empty; give a tag key whose value names a team, such as owner")
		case len(k) > 128:
			ps.Addf(key, "%q is %d characters long; AWS tag keys have at most 128", k, len(k))
		case slices.Index(r.OwnerTags, k) < i:
			ps.Addf(key, "%q is listed twice", k)
		}
	}
	if len(r.OwnerTags) > 0 && len(teams) == 0 {
		ps.Addf("owner_tags", "no team is defined under teams:, so no tag value can name one; define the teams or remove owner_tags")
	}
	known := builtinRuleIDs()
	for _, id := range sortedKeys(r.Rules) {
		if !slices.Contains(known, id) {
			ps.Addf("rules."+id, "unknown rule; known rules: %s", strings.Join(known, ", "))
			continue
		}
		ps.Nest("rules."+id, r.Rules[id].validate("the findings of rule "+id))
	}
	for _, sev := range sortedKeys(r.Severities) {
		if !slices.Contains(severityOrder, sev) {
			ps.Addf("severities."+sev, "unknown severity; keys are low, medium, high, critical")
			continue
		}
		ps.Nest("severities."+sev, r.Severities[sev].validate(sev+" findings"))
	}
	return ps
}

func (o Override) validate(what string) problem.List {
	var ps problem.List
	if len(o.Channels) == 0 {
		ps.Addf("channels", "required: the Slack channels that also receive %s (e.g. [\"#data-incidents\"])", what)
	}
	for i, ch := range o.Channels {
		checkChannel(&ps, problem.Index("channels", i), ch)
	}
	return ps
}

// Channels lists every channel the overrides add, for the bot to resolve.
func (r Routing) Channels() []string {
	var out []string
	for _, m := range []map[string]Override{r.Rules, r.Severities} {
		for _, k := range sortedKeys(m) {
			for _, ch := range m[k].Channels {
				if !slices.Contains(out, ch) {
					out = append(out, ch)
				}
			}
		}
	}
	return out
}

// RoutingOptions is the routing block as the router takes it: the owner
// tags and the overrides as children of the routing tree's root, rule
// overrides first, then severities.
func (c Config) RoutingOptions() route.Options {
	o := route.Options{OwnerTags: append([]string(nil), c.Routing.OwnerTags...)}
	add := func(ov Override, r *route.Route) {
		r.Channels = append([]string(nil), ov.Channels...)
		r.Continue = ov.Continue == nil || *ov.Continue
		o.Routes = append(o.Routes, r)
	}
	for _, id := range builtinRuleIDs() {
		if ov, ok := c.Routing.Rules[id]; ok {
			add(ov, &route.Route{Rules: []string{id}})
		}
	}
	for _, s := range severityOrder {
		if ov, ok := c.Routing.Severities[s]; ok {
			sev, _ := finding.ParseSeverity(s)
			add(ov, &route.Route{Severities: []finding.Severity{sev}})
		}
	}
	return o
}
