package config

import (
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/respond/breakglass"
)

// OrgOptions describe the organisation to org: the SecOps team (its
// channel is slack.secops_channel), the teams, the accounts, the trusted
// accounts and the contractors.
func (c Config) OrgOptions() org.Options {
	o := org.Options{
		SecOps: org.TeamOptions{
			Name: "secops", SlackChannel: c.Slack.SecOpsChannel, JiraProject: c.SecOps.JiraProject,
			Timezone: c.SecOps.Timezone, BusinessHours: c.SecOps.BusinessHours,
		},
		Trusted:     map[string]string{},
		Contractors: c.Principals.Contractors,
	}
	for _, t := range c.Teams {
		o.Teams = append(o.Teams, org.TeamOptions{
			Name: t.Name, SlackChannel: t.SlackChannel, JiraProject: t.JiraProject,
			Timezone: t.Timezone, BusinessHours: t.BusinessHours, Holidays: t.Holidays,
		})
	}
	for _, a := range c.Accounts {
		o.Accounts = append(o.Accounts, org.Account{
			ID: a.ID, Name: a.Name, Team: a.Team, Environment: a.Environment,
			ExpectedPublicBuckets: a.ExpectedPublicBuckets, RoleARN: a.RoleARN,
		})
	}
	for _, a := range c.TrustedAccounts {
		o.Trusted[a.ID] = a.Name
	}
	return o
}

// EnrichOptions are the baseline and the severities that rules.<id>
// overrides.
func (c Config) EnrichOptions() enrich.Options {
	o := enrich.Options{Baseline: c.Baseline, Severities: map[string]finding.Severity{}}
	for id, r := range c.Rules {
		if s, err := finding.ParseSeverity(r.Severity); err == nil {
			o.Severities[id] = s
		}
	}
	return o
}

// Disabled lists the rules turned off with rules.<id>.enabled: false.
func (r Rules) Disabled() map[string]bool {
	out := map[string]bool{}
	for id, rule := range r {
		if rule.Enabled != nil && !*rule.Enabled {
			out[id] = true
		}
	}
	return out
}

// BreakGlassOptions is the breakglass block with what the service needs
// from the others: the channels it posts to, and account names defaulting
// to the names under accounts:.
func (c Config) BreakGlassOptions() breakglass.Config {
	bg := c.BreakGlass
	bg.ApproversChannel = c.Slack.ApproversChannel
	bg.SecOpsChannel = c.Slack.SecOpsChannel
	names, envs := map[string]string{}, map[string]string{}
	for _, a := range c.Accounts {
		names[a.ID], envs[a.ID] = a.Name, a.Environment
	}
	bg.Accounts = append([]breakglass.AccountPolicy(nil), bg.Accounts...)
	for i, a := range bg.Accounts {
		if a.Name == "" {
			bg.Accounts[i].Name = names[a.ID]
		}
		if a.StepUp == nil {
			// Production accounts ask approvers for a one-time code
			// unless the configuration says otherwise.
			on := envs[a.ID] == "production"
			bg.Accounts[i].StepUp = &on
		}
	}
	return bg
}
