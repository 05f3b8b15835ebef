package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/bizhours"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Error lists every problem found; it is returned instead of stopping at the
// first one so an operator can fix a file in one go.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	slackRoleRe = regexp.MustCompile(`^(?:[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]*)$`)
	roleARNRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	dateRe      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// KnownRules is the list of rule IDs that rules.<id> may name.
var KnownRules = []string{
	"s3-bucket-public", "s3-public-access-block-removed", "resource-policy-public",
	"snapshot-shared-external", "snapshot-public", "cloudtrail-logging-disabled",
}

// Validate checks the configuration and returns every problem found.
func (c *Config) Validate() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if c.Slack.APIURL != "" {
		if u, err := url.Parse(c.Slack.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("slack.api_url", "%q is not an http(s) URL; use e.g. https://slack.com/api/", c.Slack.APIURL)
		}
	}
	if c.Slack.AppToken != "" && !strings.HasPrefix(c.Slack.AppToken, "xapp-") {
		add("slack.app_token", "an app-level token starts with xapp-; create one with the connections:write scope under Basic Information → App-Level Tokens")
	}
	if c.Slack.BotToken != "" && !strings.HasPrefix(c.Slack.BotToken, "xoxb-") {
		add("slack.bot_token", "a bot token starts with xoxb-; copy it from OAuth & Permissions → Bot User OAuth Token")
	}
	if c.Slack.SecOpsChannel == "" {
		add("slack.secops_channel", "required; set the SecOps channel name (e.g. \"#secops\") or ID")
	}

	ps = append(ps, validateSchedule("secops", c.SecOps.Timezone, c.SecOps.BusinessHours, nil)...)

	teams := map[string]bool{}
	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		if t.Name == "" {
			add(key+".name", "required; give the team a name that accounts[].team can refer to")
		} else if teams[t.Name] {
			add(key+".name", "duplicate team %q; team names must be unique", t.Name)
		}
		teams[t.Name] = true
		if t.SlackChannel == "" {
			add(key+".slack_channel", "required; the channel where team %q receives its findings (e.g. \"#team-%s\")", t.Name, t.Name)
		}
		ps = append(ps, validateSchedule(key, t.Timezone, t.BusinessHours, t.Holidays)...)
	}

	seen := map[string]string{}
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		if !accountIDRe.MatchString(a.ID) {
			add(key+".id", "%q is not a 12-digit AWS account ID; quote it in YAML (id: \"012345678901\") so leading zeros are kept", a.ID)
		} else if prev, dup := seen[a.ID]; dup {
			add(key+".id", "account %s is listed twice (also %s)", a.ID, prev)
		}
		seen[a.ID] = key
		if a.Team != "" && !teams[a.Team] {
			add(key+".team", "team %q is not defined; add it under teams: or fix the name (defined: %s)", a.Team, strings.Join(sortedKeys(teams), ", "))
		}
		for j, p := range a.ExpectedPublicBuckets {
			if _, err := path.Match(p, ""); err != nil {
				add(fmt.Sprintf("%s.expected_public_buckets[%d]", key, j), "bad glob pattern %q: %v", p, err)
			}
		}
		if a.RoleARN != "" && !roleARNRe.MatchString(a.RoleARN) {
			add(key+".role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", a.RoleARN)
		}
	}
	for i, a := range c.TrustedAccounts {
		key := fmt.Sprintf("trusted_accounts[%d]", i)
		if !accountIDRe.MatchString(a.ID) {
			add(key+".id", "%q is not a 12-digit AWS account ID; quote it in YAML", a.ID)
		}
		if a.Name == "" {
			add(key+".name", "required; say who the trusted account belongs to")
		}
	}
	for i, p := range c.Principals.Contractors {
		key := fmt.Sprintf("principals.contractors[%d]", i)
		if !strings.HasPrefix(p, "arn:") {
			add(key, "%q is not an ARN pattern; use e.g. arn:aws:iam::*:role/contractor-*", p)
		} else if _, err := path.Match(p, ""); err != nil {
			add(key, "bad glob pattern %q: %v", p, err)
		}
	}
	for name, list := range map[string][]string{"roles.responders": c.Roles.Responders, "roles.approvers": c.Roles.Approvers, "roles.admins": c.Roles.Admins} {
		for i, r := range list {
			if !slackRoleRe.MatchString(r) {
				add(fmt.Sprintf("%s[%d]", name, i), "%q is neither a Slack user ID (U…), a user-group ID (S…) nor a user-group handle (@handle)", r)
			}
		}
	}

	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		add("store.driver", "%q is not supported; use sqlite or postgres", c.Store.Driver)
	}
	if c.Store.DSN == "" {
		add("store.dsn", "required; a file path for sqlite, or set SECOPS_STORE_DSN to a postgres:// URL")
	}
	if c.Ingest.PollInterval <= 0 {
		add("ingest.poll_interval", "must be positive (e.g. 2s)")
	}
	if c.Ingest.SQSQueueURL != "" {
		if u, err := url.Parse(c.Ingest.SQSQueueURL); err != nil || u.Host == "" {
			add("ingest.sqs_queue_url", "%q is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)", c.Ingest.SQSQueueURL)
		}
	}
	if c.Ingest.SQSWorkers < 1 {
		add("ingest.sqs_workers", "must be at least 1")
	}
	// SQS hides a message for whole seconds, at most 12 hours.
	if c.Ingest.RetryBackoff < time.Second {
		add("ingest.retry_backoff", "must be at least 1s (e.g. 5s)")
	}
	if c.Ingest.MaxRetryBackoff > 12*time.Hour {
		add("ingest.max_retry_backoff", "must be at most 12h, the longest SQS can hide a message")
	}
	if c.Ingest.MaxRetryBackoff < c.Ingest.RetryBackoff {
		add("ingest.max_retry_backoff", "must be at least ingest.retry_backoff (%s), e.g. 5m", c.Ingest.RetryBackoff)
	}
	if c.Ingest.StoreTimeout < time.Second || c.Ingest.StoreTimeout > 10*time.Minute {
		add("ingest.store_timeout", "must be between 1s and 10m (e.g. 30s)")
	}
	if c.Slack.NetworkTimeout < 5*time.Second || c.Slack.NetworkTimeout > 10*time.Minute {
		add("slack.network_timeout", "must be between 5s and 10m (e.g. 20s)")
	}
	if c.Store.NetworkTimeout < time.Second || c.Store.NetworkTimeout > 10*time.Minute {
		add("store.network_timeout", "must be between 1s and 10m (e.g. 30s)")
	}
	if c.Baseline.Window <= 0 {
		add("baseline.window", "must be positive (e.g. 30d)")
	}
	if c.Baseline.MinDays < 1 {
		add("baseline.min_days", "must be at least 1")
	}
	if c.Baseline.UnusualHourShare <= 0 || c.Baseline.UnusualHourShare >= 1 {
		add("baseline.unusual_hour_share", "must be between 0 and 1 (e.g. 0.03 for 3%%)")
	}
	if c.AWS.RecheckInterval < time.Minute {
		add("aws.recheck_interval", "must be at least 1m (e.g. 5m)")
	}
	if c.AWS.MemberRoleName != "" && strings.ContainsAny(c.AWS.MemberRoleName, ":/ ") {
		add("aws.member_role_name", "%q must be a role name, not an ARN (use accounts[].role_arn for full ARNs)", c.AWS.MemberRoleName)
	}
	for i, p := range c.Sensitivity.NamePatterns {
		if _, err := path.Match(p, ""); err != nil {
			add(fmt.Sprintf("sensitivity.name_patterns[%d]", i), "bad glob pattern %q: %v", p, err)
		}
	}
	if c.Jira.Enabled {
		if u, err := url.Parse(c.Jira.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("jira.base_url", "%q is not a URL; use e.g. https://example.atlassian.net", c.Jira.BaseURL)
		}
		switch c.Jira.Flavor {
		case "cloud":
			if c.Jira.Email == "" {
				add("jira.email", "required for Jira Cloud (the account the API token belongs to)")
			}
		case "datacenter":
		default:
			add("jira.flavor", "%q: use cloud or datacenter", c.Jira.Flavor)
		}
		if c.Jira.APIToken == "" {
			add("jira.api_token", "required when jira.enabled is true; set SECOPS_JIRA_API_TOKEN (an API token for Cloud, a personal access token for Data Center) or jira.api_token_file")
		}
		switch c.Jira.ReopenMode {
		case "reopen", "new":
		default:
			add("jira.reopen_mode", "%q: use reopen or new", c.Jira.ReopenMode)
		}
		for sev := range c.Jira.Priorities {
			switch sev {
			case "low", "medium", "high", "critical":
			default:
				add("jira.priorities."+sev, "unknown severity; keys are low, medium, high, critical")
			}
		}
	}
	known := map[string]bool{}
	for _, r := range KnownRules {
		known[r] = true
	}
	for id, r := range c.Rules {
		if !known[id] {
			add("rules."+id, "unknown rule; known rules: %s", strings.Join(KnownRules, ", "))
			continue
		}
		if r.Severity != "" {
			switch strings.ToLower(r.Severity) {
			case "low", "medium", "high", "critical":
			default:
				add("rules."+id+".severity", "%q is not a severity; use low, medium, high or critical", r.Severity)
			}
		}
	}
	ps = append(ps, c.validateBreakGlass()...)
	ps = append(ps, c.validateOps()...)
	ps = append(ps, c.validateObserve()...)
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not a level; use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add("log.format", "%q is not a format; use json or console", c.Log.Format)
	}
	return ps
}

func validateSchedule(key, tz, hours string, holidays []string) []Problem {
	var ps []Problem
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			ps = append(ps, Problem{Key: key + ".timezone", Msg: fmt.Sprintf("unknown time zone %q; use an IANA name such as Europe/Berlin or America/New_York", tz)})
		}
	}
	if hours != "" {
		if _, err := bizhours.Parse(hours); err != nil {
			ps = append(ps, Problem{Key: key + ".business_hours", Msg: err.Error()})
		}
	}
	for i, h := range holidays {
		if _, err := time.Parse("2006-01-02", h); err != nil || !dateRe.MatchString(h) {
			ps = append(ps, Problem{Key: fmt.Sprintf("%s.holidays[%d]", key, i), Msg: fmt.Sprintf("%q is not a date; use YYYY-MM-DD", h)})
		}
	}
	return ps
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
