package config

import (
	"fmt"
	"regexp"
	"time"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/problem"
)

// Paging configures real pages, through PagerDuty or Opsgenie, beside the
// Slack mentions that Do Not Disturb silences at night. Without a provider
// the bot mentions the configured on-call rotations in Slack only.
type Paging struct {
	// Provider is pagerduty or opsgenie; empty turns paging off.
	Provider string `yaml:"provider"`
	// PollInterval is how often the bot asks the provider what became of
	// the incidents it opened (Socket Mode has no public endpoint for the
	// provider's webhooks).
	PollInterval time.Duration `yaml:"poll_interval"`
	PagerDuty    PagerDuty     `yaml:"pagerduty"`
	Opsgenie     Opsgenie      `yaml:"opsgenie"`
	// Teams say which findings page whom: "secops" and the teams of the
	// teams block.
	Teams []PagingTeam `yaml:"teams"`
}

// PagerDuty is the PagerDuty account. The REST token (read access is
// enough) comes from SECOPS_PAGING_PAGERDUTY_API_TOKEN or api_token_file.
type PagerDuty struct {
	APIToken     string `yaml:"api_token"`
	APITokenFile string `yaml:"api_token_file"`
	EventsURL    string `yaml:"events_url"`
	APIURL       string `yaml:"api_url"`
}

// Opsgenie is the Opsgenie account. The API key comes from
// SECOPS_PAGING_OPSGENIE_API_KEY or api_key_file; api_url is the EU
// endpoint (https://api.eu.opsgenie.com) for EU accounts.
type Opsgenie struct {
	APIKey     string `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	APIURL     string `yaml:"api_url"`
}

// PagingTeam is when and how one team is paged.
type PagingTeam struct {
	Name string `yaml:"name"`
	// Severities page; none means the team is never paged.
	Severities []string `yaml:"severities"`
	// OffHoursOnly pages only outside the team's business hours.
	OffHoursOnly bool `yaml:"off_hours_only"`
	// RoutingKeyFile holds the PagerDuty Events API v2 integration key of
	// the team's service (a secret: anyone holding it can page).
	RoutingKeyFile string `yaml:"routing_key_file"`
	RoutingKey     string `yaml:"routing_key"`
	// Schedule (PagerDuty or Opsgenie) or EscalationPolicy (PagerDuty)
	// says who is on call for the team.
	Schedule         string `yaml:"schedule"`
	EscalationPolicy string `yaml:"escalation_policy"`
	// OpsgenieTeam is the responder team of the alert (Opsgenie).
	OpsgenieTeam string `yaml:"opsgenie_team"`
}

// DefaultPaging polls every minute.
func DefaultPaging() Paging { return Paging{PollInterval: time.Minute} }

var pdIDRe = regexp.MustCompile(`^P[A-Z0-9]{5,}$`)

// Validate checks the block and its teams against the team names.
func (p Paging) validate(teams []Team) problem.List {
	var ps problem.List
	switch p.Provider {
	case "":
		return ps
	case "pagerduty", "opsgenie":
	default:
		ps.Addf("provider", "%q: use pagerduty or opsgenie, or leave empty for Slack mentions only", p.Provider)
		return ps
	}
	if p.PollInterval < 10*time.Second || p.PollInterval > time.Hour {
		ps.Addf("poll_interval", "must be between 10s and 1h (e.g. 1m)")
	}
	if p.Provider == "pagerduty" && p.PagerDuty.APIToken == "" {
		ps.Addf("pagerduty.api_token", "required with provider pagerduty (who is on call, what became of the incidents); set SECOPS_PAGING_PAGERDUTY_API_TOKEN or pagerduty.api_token_file")
	}
	if p.Provider == "opsgenie" && p.Opsgenie.APIKey == "" {
		ps.Addf("opsgenie.api_key", "required with provider opsgenie; set SECOPS_PAGING_OPSGENIE_API_KEY or opsgenie.api_key_file")
	}
	for _, u := range []struct{ key, v string }{{"pagerduty.events_url", p.PagerDuty.EventsURL}, {"pagerduty.api_url", p.PagerDuty.APIURL}, {"opsgenie.api_url", p.Opsgenie.APIURL}} {
		if u.v != "" && !httpURL(u.v) {
			ps.Addf(u.key, "%q is not an http(s) URL", u.v)
		}
	}
	known := map[string]bool{paging.SecOps: true}
	for _, t := range teams {
		known[t.Name] = true
	}
	if len(p.Teams) == 0 {
		ps.Addf("teams", "list at least the secops team, with the severities that page it (e.g. [critical])")
	}
	seen := map[string]bool{}
	for i, t := range p.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		switch {
		case !known[t.Name]:
			ps.Addf(key+".name", "%q is neither secops nor a team of the teams block", t.Name)
		case seen[t.Name]:
			ps.Addf(key+".name", "%q is listed twice", t.Name)
		}
		seen[t.Name] = true
		for j, s := range t.Severities {
			if _, err := finding.ParseSeverity(s); err != nil {
				ps.Addf(fmt.Sprintf("%s.severities[%d]", key, j), "%q: use low, medium, high or critical", s)
			}
		}
		if p.Provider == "pagerduty" {
			if t.RoutingKey == "" {
				ps.Addf(key+".routing_key_file", "required with provider pagerduty: a file holding the Events API v2 integration key of the team's service")
			}
			if t.Schedule != "" && t.EscalationPolicy != "" {
				ps.Addf(key+".escalation_policy", "set schedule or escalation_policy, not both")
			}
			for _, id := range []struct{ key, v string }{{".schedule", t.Schedule}, {".escalation_policy", t.EscalationPolicy}} {
				if id.v != "" && !pdIDRe.MatchString(id.v) {
					ps.Addf(key+id.key, "%q is not a PagerDuty ID (e.g. PABC123)", id.v)
				}
			}
		}
	}
	return ps
}

// PagingPolicy is the policy of the block: which severities page whom, and
// when.
func (c Config) PagingPolicy() paging.Policy {
	p := paging.Policy{Teams: map[string]paging.Rule{}}
	for _, t := range c.Paging.Teams {
		r := paging.Rule{OffHoursOnly: t.OffHoursOnly}
		for _, s := range t.Severities {
			if v, err := finding.ParseSeverity(s); err == nil {
				r.Severities = append(r.Severities, v)
			}
		}
		p.Teams[t.Name] = r
	}
	return p
}
