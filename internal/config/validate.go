package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/internal/problem"
	"github.com/secops-bot/secops-bot/org/bizhours"
)

// Validate checks the configuration and returns every problem found. Each
// block checks itself; the few rules that join two blocks (an account's
// team must be defined, break-glass needs approvers) are checked next to
// the block they concern.
func (c *Config) Validate() []Problem {
	var ps problem.List
	for _, b := range c.blocks() {
		ps.Nest(b.key, b.check())
	}
	return fromList(ps)
}

// block is a part of the configuration and its check; an empty key is a
// rule across blocks, whose problems carry full keys.
type block struct {
	key   string
	check func() problem.List
}

func (c *Config) blocks() []block {
	return []block{
		{"slack", c.Slack.Validate},
		{"secops", c.SecOps.Validate},
		{"teams", func() problem.List { return validateTeams(c.Teams) }},
		{"accounts", func() problem.List { return validateAccounts(c.Accounts) }},
		{"", c.checkAccountTeams},
		{"trusted_accounts", func() problem.List { return validateList(c.TrustedAccounts, TrustedAcct.Validate) }},
		{"principals", c.Principals.Validate},
		{"roles", c.Roles.Validate},
		{"store", c.Store.Validate},
		{"ingest", c.Ingest.Validate},
		{"baseline", c.Baseline.Validate},
		{"aws", c.AWS.Validate},
		{"jira", c.Jira.Validate},
		{"", c.checkBreakGlassApprovers},
		{"breakglass", c.validateBreakGlass},
		{"containment", c.Containment.Validate},
		{"playbooks", c.Playbooks.Validate},
		{"on_call", c.OnCall.Validate},
		{"", c.checkRotationTeams},
		{"sensitivity", c.Sensitivity.Validate},
		{"sigma", c.Sigma.Validate},
		{"rules", func() problem.List { return c.Rules.validate(c.ruleIDs()) }},
		{"log", c.Log.Validate},
		{"metrics", c.Metrics.Validate},
		{"feed_health", c.FeedHealth.Validate},
		{"", c.checkCanaryCredentials},
		{"canary", c.Canary.Validate},
		{"audit", c.Audit.Validate},
		{"step_up", c.StepUp.Validate},
		{"paging", func() problem.List { return c.Paging.validate(c.Teams) }},
		{"routing", func() problem.List { return c.Routing.validate(c.Teams) }},
	}
}

// validateList checks every item of a list, with keys [0], [1], ….
func validateList[T any](items []T, check func(T) problem.List) problem.List {
	var ps problem.List
	for i, it := range items {
		ps.Nest(fmt.Sprintf("[%d]", i), check(it))
	}
	return ps
}

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	roleARNRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	dateRe      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	// channelIDRe is a channel ID as the bot tells one from a name.
	channelIDRe = regexp.MustCompile(`^[CG][A-Z0-9]{8,}$`)
	idLikeRe    = regexp.MustCompile(`^[CG][A-Z0-9]*[0-9][A-Z0-9]*$`)
)

// Validate checks the slack block.
func (s Slack) Validate() problem.List {
	var ps problem.List
	if s.APIURL != "" && !httpURL(s.APIURL) {
		ps.Addf("api_url", "%q is not an http(s) URL; use e.g. https://slack.com/api/", s.APIURL)
	}
	// A token's value is never repeated: a wrong one may still be a
	// secret.
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		ps.Addf("app_token", "an app-level token starts with xapp-; create one with the connections:write scope under Basic Information → App-Level Tokens")
	}
	if s.BotToken != "" && !strings.HasPrefix(s.BotToken, "xoxb-") {
		ps.Addf("bot_token", "a bot token starts with xoxb-; copy it from OAuth & Permissions → Bot User OAuth Token")
	}
	if s.SecOpsChannel == "" {
		ps.Addf("secops_channel", "required; set the SecOps channel name (e.g. \"#secops\") or ID")
	} else {
		checkChannel(&ps, "secops_channel", s.SecOpsChannel)
	}
	if s.ApproversChannel != "" {
		checkChannel(&ps, "approvers_channel", s.ApproversChannel)
	}
	if s.NetworkTimeout < 5*time.Second || s.NetworkTimeout > 10*time.Minute {
		ps.Addf("network_timeout", "must be between 5s and 10m (e.g. 20s)")
	}
	return ps
}

// checkChannel applies Slack's rules for channel names, so that a name
// Slack would never have is refused before the bot connects: "#" and then
// at most 80 lowercase letters, digits, hyphens and underscores, or a
// channel ID (C0123ABCD).
func checkChannel(ps *problem.List, key, ch string) {
	if channelIDRe.MatchString(ch) {
		return
	}
	name := strings.TrimPrefix(ch, "#")
	const rule = "a channel name is lowercase letters, digits, hyphens and underscores, at most 80 characters (e.g. \"#secops\"); a channel ID looks like C0123ABCD"
	switch {
	case name == "":
		ps.Addf(key, "%q names no channel; %s", ch, rule)
	case name == ch && idLikeRe.MatchString(ch):
		ps.Addf(key, "%q is too short for a channel ID (C or G and at least 8 more capital letters or digits, such as C0123ABCD); for a channel name write it in lowercase with #", ch)
	case len([]rune(name)) > 80:
		ps.Addf(key, "%q is %d characters long; Slack channel names have at most 80", ch, len([]rune(name)))
	case strings.ToLower(name) != name && validChannelName(strings.ToLower(name)):
		ps.Addf(key, "%q has capital letters, which Slack channel names never have; write %q", ch, "#"+strings.ToLower(name))
	case !validChannelName(name):
		ps.Addf(key, "%q is not a Slack channel; %s", ch, rule)
	}
}

// validChannelName reports whether name has only the characters Slack
// allows: letters without case (as in Japanese) count as lowercase.
func validChannelName(name string) bool {
	for _, r := range name {
		if !(unicode.IsLetter(r) && !unicode.IsUpper(r)) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// Validate checks the secops block.
func (s SecOps) Validate() problem.List {
	return validateSchedule(s.Timezone, s.BusinessHours, nil)
}

// Validate checks one team.
func (t Team) Validate() problem.List {
	var ps problem.List
	if t.Name == "" {
		ps.Addf("name", "required; give the team a name that accounts[].team can refer to")
	}
	if t.SlackChannel == "" {
		ps.Addf("slack_channel", "required; the channel where team %q receives its findings (e.g. \"#team-%s\")", t.Name, t.Name)
	} else {
		checkChannel(&ps, "slack_channel", t.SlackChannel)
	}
	return append(ps, validateSchedule(t.Timezone, t.BusinessHours, t.Holidays)...)
}

func validateSchedule(tz, hours string, holidays []string) problem.List {
	var ps problem.List
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			ps.Addf("timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin or America/New_York", tz)
		}
	}
	if hours != "" {
		if _, err := bizhours.Parse(hours); err != nil {
			ps.Addf("business_hours", "%s", err.Error())
		}
	}
	for i, h := range holidays {
		if _, err := time.Parse("2006-01-02", h); err != nil || !dateRe.MatchString(h) {
			ps.Addf(problem.Index("holidays", i), "%q is not a date; use YYYY-MM-DD", h)
		}
	}
	return ps
}

func validateTeams(teams []Team) problem.List {
	ps := validateList(teams, Team.Validate)
	seen := map[string]bool{}
	for i, t := range teams {
		if t.Name != "" && seen[t.Name] {
			ps.Addf(fmt.Sprintf("[%d].name", i), "duplicate team %q; team names must be unique", t.Name)
		}
		seen[t.Name] = true
	}
	return ps
}

func validateAccounts(accounts []Account) problem.List {
	ps := validateList(accounts, Account.Validate)
	seen := map[string]int{}
	for i, a := range accounts {
		if !accountIDRe.MatchString(a.ID) {
			continue
		}
		if prev, dup := seen[a.ID]; dup {
			ps.Addf(fmt.Sprintf("[%d].id", i), "account %s is listed twice (also accounts[%d])", a.ID, prev)
		} else {
			seen[a.ID] = i
		}
	}
	return ps
}

// Validate checks one account.
func (a Account) Validate() problem.List {
	var ps problem.List
	if !accountIDRe.MatchString(a.ID) {
		ps.Addf("id", "%q is not a 12-digit AWS account ID; quote it in YAML (id: \"012345678901\") so leading zeros are kept", a.ID)
	}
	for j, p := range a.ExpectedPublicBuckets {
		if _, err := path.Match(p, ""); err != nil {
			ps.Addf(problem.Index("expected_public_buckets", j), "bad glob pattern %q: %v", p, err)
		}
	}
	if a.RoleARN != "" && !roleARNRe.MatchString(a.RoleARN) {
		ps.Addf("role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", a.RoleARN)
	}
	if a.WriteRoleARN != "" && !roleARNRe.MatchString(a.WriteRoleARN) {
		ps.Addf("write_role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", a.WriteRoleARN)
	}
	return ps
}

// teamNames are the names a team reference may use: the teams' and
// secops.
func (c *Config) teamNames() []string {
	names := []string{"secops"}
	for _, t := range c.Teams {
		if t.Name != "" && !slices.Contains(names, t.Name) {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	return names
}

// checkAccountTeams checks that every account's team is defined.
func (c *Config) checkAccountTeams() problem.List {
	var ps problem.List
	var defined []string
	for _, n := range c.teamNames() {
		if n != "secops" {
			defined = append(defined, n)
		}
	}
	for i, a := range c.Accounts {
		if a.Team != "" && !slices.Contains(defined, a.Team) {
			ps.Addf(fmt.Sprintf("accounts[%d].team", i), "team %q is not defined; add it under teams: or fix the name (defined: %s)", a.Team, strings.Join(defined, ", "))
		}
	}
	return ps
}

// Validate checks one trusted account.
func (a TrustedAcct) Validate() problem.List {
	var ps problem.List
	if !accountIDRe.MatchString(a.ID) {
		ps.Addf("id", "%q is not a 12-digit AWS account ID; quote it in YAML", a.ID)
	}
	if a.Name == "" {
		ps.Addf("name", "required; say who the trusted account belongs to")
	}
	return ps
}

// Validate checks the principals block.
func (p Principals) Validate() problem.List {
	var ps problem.List
	for i, pat := range p.Contractors {
		key := problem.Index("contractors", i)
		if !strings.HasPrefix(pat, "arn:") {
			ps.Addf(key, "%q is not an ARN pattern; use e.g. arn:aws:iam::*:role/contractor-*", pat)
		} else if _, err := path.Match(pat, ""); err != nil {
			ps.Addf(key, "bad glob pattern %q: %v", pat, err)
		}
	}
	return ps
}

// Validate checks the store block.
func (s Store) Validate() problem.List {
	var ps problem.List
	switch s.Driver {
	case "sqlite", "postgres":
	default:
		ps.Addf("driver", "%q is not supported; use sqlite or postgres", s.Driver)
	}
	if s.DSN == "" {
		ps.Addf("dsn", "required; a file path for sqlite, or set SECOPS_STORE_DSN to a postgres:// URL")
	}
	if s.NetworkTimeout < time.Second || s.NetworkTimeout > 10*time.Minute {
		ps.Addf("network_timeout", "must be between 1s and 10m (e.g. 30s)")
	}
	return ps
}

// Validate checks the ingest block.
func (in Ingest) Validate() problem.List {
	var ps problem.List
	if in.PollInterval <= 0 {
		ps.Addf("poll_interval", "must be positive (e.g. 2s)")
	}
	if in.SQSQueueURL != "" {
		if u, err := url.Parse(in.SQSQueueURL); err != nil || u.Host == "" {
			ps.Addf("sqs_queue_url", "%q is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)", in.SQSQueueURL)
		}
	}
	if in.SQSWorkers < 1 {
		ps.Addf("sqs_workers", "must be at least 1")
	}
	// SQS hides a message for whole seconds, at most 12 hours.
	if in.RetryBackoff < time.Second {
		ps.Addf("retry_backoff", "must be at least 1s (e.g. 5s)")
	}
	if in.MaxRetryBackoff > 12*time.Hour {
		ps.Addf("max_retry_backoff", "must be at most 12h, the longest SQS can hide a message")
	}
	if in.MaxRetryBackoff < in.RetryBackoff {
		ps.Addf("max_retry_backoff", "must be at least ingest.retry_backoff (%s), e.g. 5m", in.RetryBackoff)
	}
	if in.StoreTimeout < time.Second || in.StoreTimeout > 10*time.Minute {
		ps.Addf("store_timeout", "must be between 1s and 10m (e.g. 30s)")
	}
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	if in.MaxFileBytes < mib || in.MaxFileBytes > 16*gib {
		ps.Addf("max_file_bytes", "must be between 1 MiB and 16 GiB (default %d, 1 GiB): CloudTrail log files are far smaller, and a bomb is refused at this size", int64(ingest.DefaultMaxFileBytes))
	}
	if in.MaxRecordBytes < 256*kib || in.MaxRecordBytes > 64*mib {
		ps.Addf("max_record_bytes", "must be between 256 KiB and 64 MiB (default %d, 2 MiB): a CloudTrail event is at most 1 MB", ingest.DefaultMaxRecordBytes)
	}
	if in.MaxLineBytes < in.MaxRecordBytes || in.MaxLineBytes > 256*mib {
		ps.Addf("max_line_bytes", "must be at least ingest.max_record_bytes and at most 256 MiB (default %d, 8 MiB)", ingest.DefaultMaxLineBytes)
	}
	if in.MaxProblems < 1 || in.MaxProblems > 100_000 {
		ps.Addf("max_problems", "must be between 1 and 100000 (default %d)", ingest.DefaultMaxProblems)
	}
	if in.SQSMaxMemory < 32*mib || in.SQSMaxMemory > 64*gib {
		ps.Addf("sqs_max_memory", "must be between 32 MiB and 64 GiB (default %d, 256 MiB): it bounds what all SQS workers hold at once", int64(sqsMaxMemory))
	}
	return ps
}

// sqsMaxMemory is the default of ingest.sqs_max_memory (the SQS source's own
// default, which config cannot import).
const sqsMaxMemory = 256 << 20

// Validate checks the aws block.
func (a AWS) Validate() problem.List {
	var ps problem.List
	if a.RecheckInterval < time.Minute {
		ps.Addf("recheck_interval", "must be at least 1m (e.g. 5m)")
	}
	if a.MemberRoleName != "" && strings.ContainsAny(a.MemberRoleName, ":/ ") {
		ps.Addf("member_role_name", "%q must be a role name, not an ARN (use accounts[].role_arn for full ARNs)", a.MemberRoleName)
	}
	if a.MemberWriteRoleName != "" && strings.ContainsAny(a.MemberWriteRoleName, ":/ ") {
		ps.Addf("member_write_role_name", "%q must be a role name, not an ARN (use accounts[].write_role_arn for full ARNs)", a.MemberWriteRoleName)
	}
	for i, b := range a.AccessLogBuckets {
		if !bucketRe.MatchString(b) {
			ps.Addf(problem.Index("access_log_buckets", i), "%q is not an S3 bucket name (3–63 lowercase letters, digits, dots and hyphens)", b)
		}
	}
	return ps
}

// Validate checks the jira block; nothing is checked while it is off.
func (j Jira) Validate() problem.List {
	var ps problem.List
	if !j.Enabled {
		return nil
	}
	if !httpURL(j.BaseURL) {
		ps.Addf("base_url", "%q is not a URL; use e.g. https://example.atlassian.net", j.BaseURL)
	}
	switch j.Flavor {
	case "cloud":
		if j.Email == "" {
			ps.Addf("email", "required for Jira Cloud (the account the API token belongs to)")
		}
	case "datacenter":
	default:
		ps.Addf("flavor", "%q: use cloud or datacenter", j.Flavor)
	}
	if j.APIToken == "" {
		ps.Addf("api_token", "required when jira.enabled is true; set SECOPS_JIRA_API_TOKEN (an API token for Cloud, a personal access token for Data Center) or jira.api_token_file")
	}
	switch j.ReopenMode {
	case "reopen", "new":
	default:
		ps.Addf("reopen_mode", "%q: use reopen or new", j.ReopenMode)
	}
	for _, sev := range sortedKeys(j.Priorities) {
		if !isSeverity(sev) {
			ps.Addf("priorities."+sev, "unknown severity; keys are low, medium, high, critical")
		}
	}
	return ps
}

// checkBreakGlassApprovers checks what break-glass needs from other
// blocks: a channel to post requests in and someone to approve them.
func (c *Config) checkBreakGlassApprovers() problem.List {
	var ps problem.List
	if !c.BreakGlass.Enabled {
		return nil
	}
	if c.Slack.ApproversChannel == "" {
		ps.Addf("slack.approvers_channel", "required when breakglass.enabled is true: break-glass requests are posted there for approval (e.g. \"#secops-approvals\")")
	}
	if len(c.Roles.Approvers) == 0 && len(c.Roles.Admins) == 0 {
		ps.Addf("roles.approvers", "nobody could approve a break-glass request; list the managers who may (user IDs or @user-group handles)")
	}
	return ps
}

// validateBreakGlass checks the breakglass block; nothing is checked while
// it is off, so a block prepared in advance does not stop the bot.
func (c *Config) validateBreakGlass() problem.List {
	if !c.BreakGlass.Enabled {
		return nil
	}
	ps := c.BreakGlass.Validate()
	for i, a := range c.BreakGlassOptions().Accounts {
		if a.StepUp != nil && *a.StepUp && c.StepUp.Keys == "" {
			why := "step_up is on"
			if c.BreakGlass.Accounts[i].StepUp == nil {
				why = "the account is production, where step_up is on unless set to false"
			}
			ps.Addf(fmt.Sprintf("accounts[%d].step_up", i), "%s, so approvers give a one-time code, whose secrets are sealed with step_up.keys: set SECOPS_STEP_UP_KEYS (\"ID:BASE64\", generate with openssl rand -base64 32) or step_up.keys_file, or set step_up: false", why)
		}
	}
	return ps
}

// checkRotationTeams checks that every rotation is for a defined team.
func (c *Config) checkRotationTeams() problem.List {
	var ps problem.List
	names := c.teamNames()
	for i, r := range c.OnCall.Rotations {
		if r.Team != "" && !slices.Contains(names, r.Team) {
			ps.Addf(fmt.Sprintf("on_call.rotations[%d].team", i), "team %q is not defined; use secops or a name under teams: (defined: %s)", r.Team, strings.Join(names, ", "))
		}
	}
	return ps
}

// Validate checks the sensitivity block.
func (s Sensitivity) Validate() problem.List {
	var ps problem.List
	for i, p := range s.NamePatterns {
		if _, err := path.Match(p, ""); err != nil {
			ps.Addf(problem.Index("name_patterns", i), "bad glob pattern %q: %v", p, err)
		}
	}
	return ps
}

// Validate checks that every rule exists and every severity is one.
func (r Rules) Validate() problem.List { return r.validate(builtinRuleIDs()) }

// validate checks the rules block against the known rule ids.
func (r Rules) validate(known []string) problem.List {
	var ps problem.List
	for _, id := range sortedKeys(r) {
		if !slices.Contains(known, id) {
			ps.Addf(id, "unknown rule; known rules: %s", strings.Join(known, ", "))
			continue
		}
		if s := r[id].Severity; s != "" && slices.Contains(native.RuleIDs(), id) {
			ps.Addf(id+".severity", "the findings of %s take the severity their detector gives them; remove severity (route them with routing.rules.%s, or turn them off with enabled: false)", id, id)
		} else if s != "" && !isSeverity(strings.ToLower(s)) {
			ps.Addf(id+".severity", "%q is not a severity; use low, medium, high or critical", s)
		}
	}
	return ps
}

// Validate checks the log block.
func (l Log) Validate() problem.List {
	var ps problem.List
	switch l.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		ps.Addf("level", "%q is not a level; use debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "json", "console":
	default:
		ps.Addf("format", "%q is not a format; use json or console", l.Format)
	}
	return ps
}

func isSeverity(s string) bool {
	return slices.Contains([]string{"low", "medium", "high", "critical"}, s)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
