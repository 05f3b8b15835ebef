package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

// TestDecode checks how values are read: what the file may write and how
// the environment overrides it.
func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		ok   func(Config) bool
	}{
		{"keys in any case", "Slack:\n  SecOps_Channel: \"#sec\"\n",
			nil, func(c Config) bool { return c.Slack.SecOpsChannel == "#sec" }},
		{"an empty value keeps the default", "store:\n  dsn:\nslack: ~\n",
			nil, func(c Config) bool { return c.Store.DSN == "secops-bot.db" && c.Slack.SecOpsChannel == "#secops" }},
		{"an account ID keeps its leading zero unquoted", "accounts:\n  - id: 012345678901\n",
			nil, func(c Config) bool { return c.Accounts[0].ID == "012345678901" }},
		{"a list as one comma-separated value", "roles:\n  approvers: \"@a, @b\"\njira:\n  labels: \"\"\n",
			nil, func(c Config) bool {
				return slices.Equal(c.Roles.Approvers, []string{"@a", "@b"}) && c.Jira.Labels != nil && len(c.Jira.Labels) == 0
			}},
		{"a list replaces the default", "sensitivity:\n  environments: [prod]\n",
			nil, func(c Config) bool { return slices.Equal(c.Sensitivity.Environments, []string{"prod"}) }},
		{"tag keys keep their case", "sensitivity:\n  tag_values:\n    DataClassification: [pii]\n",
			nil, func(c Config) bool {
				return slices.Equal(c.Sensitivity.TagValues["DataClassification"], []string{"pii"})
			}},
		{"days and weeks", "baseline:\n  window: 2w\n  settle: 1d\n",
			nil, func(c Config) bool { return c.Baseline.Window == 14*24*time.Hour && c.Baseline.Settle == 24*time.Hour }},
		{"merge keys fill a block, its own keys win", "teams:\n  - &pay {name: payments, slack_channel: \"#pay\", timezone: Europe/Berlin}\n  - <<: *pay\n    name: data\n    slack_channel: \"#data\"\n",
			nil, func(c Config) bool {
				return len(c.Teams) == 2 && c.Teams[1].Name == "data" && c.Teams[1].Timezone == "Europe/Berlin" && c.Teams[1].SlackChannel == "#data"
			}},
		{"a block that merges itself", "log: &log\n  <<: *log\n  level: debug\n",
			nil, func(c Config) bool { return c.Log.Level == "debug" }},
		{"rule switches", "rules:\n  snapshot-public: {enabled: false}\n  s3-bucket-public: {enabled: true, severity: Critical}\n",
			nil, func(c Config) bool {
				return *c.Rules["snapshot-public"].Enabled == false && *c.Rules["s3-bucket-public"].Enabled && c.Rules["s3-bucket-public"].Severity == "Critical"
			}},
		{"every kind of value from the environment", "log: {level: info}\n",
			map[string]string{
				"SECOPS_AWS_ENABLED": "false", "SECOPS_INGEST_SQS_WORKERS": "8", "SECOPS_BASELINE_UNUSUAL_HOUR_SHARE": "0.05",
				"SECOPS_BREAKGLASS_MAX_DURATION": "2h", "SECOPS_METRICS_LISTEN": "", "SECOPS_JIRA_FLAVOR": "datacenter",
			}, func(c Config) bool {
				return !c.AWS.Enabled && c.Ingest.SQSWorkers == 8 && c.Baseline.UnusualHourShare == 0.05 &&
					c.BreakGlass.MaxDuration == 2*time.Hour && c.Metrics.Listen == "" && c.Jira.Flavor == "datacenter"
			}},
		{"an empty variable is the zero value", "log: {level: info}\n",
			map[string]string{"SECOPS_AWS_ENABLED": "", "SECOPS_BREAKGLASS_SELF_APPROVE_AFTER": ""},
			func(c Config) bool { return !c.AWS.Enabled && c.BreakGlass.SelfApproveAfter == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(tc.yaml, envMap(tc.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tc.ok(cfg) {
				t.Errorf("decoded %+v", cfg)
			}
		})
	}
}

// TestRulesAreDetects checks that rules.<id> accepts exactly the rules
// detect runs.
func TestRulesAreDetects(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for _, id := range detect.RuleIDs() {
		b.WriteString("  " + id + ": {severity: low}\n")
	}
	if _, err := Parse(b.String(), nil); err != nil {
		t.Fatalf("a rule detect runs is refused: %v", err)
	}
	_, err := Parse("rules:\n  s3-bucket-pub: {enabled: false}\n", nil)
	want := "rules.s3-bucket-pub (line 2): unknown rule; known rules: " + strings.Join(builtinRuleIDs(), ", ")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Parse = %v, want %q", err, want)
	}
}

// TestOptions checks what the services get from the example
// configuration.
func TestOptions(t *testing.T) {
	l, err := Load("../../config.example.yaml", envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := l.OrgOptions()
	if o.SecOps.SlackChannel != "#secops" || o.SecOps.JiraProject != "SEC" || o.SecOps.Timezone != "UTC" || o.SecOps.BusinessHours != "Mon-Fri 09:00-18:00" {
		t.Errorf("secops = %+v", o.SecOps)
	}
	wantTeam := org.TeamOptions{Name: "payments", SlackChannel: "#team-payments", JiraProject: "PAY", Timezone: "Europe/Berlin",
		BusinessHours: "Mon-Fri 09:00-18:00", Holidays: []string{"2026-12-25", "2026-12-26"}}
	if len(o.Teams) != 2 || !reflect.DeepEqual(o.Teams[0], wantTeam) {
		t.Errorf("teams = %+v", o.Teams)
	}
	wantAcct := org.Account{ID: "111122223333", Name: "payments-prod", Team: "payments", Environment: "production",
		ExpectedPublicBuckets: []string{"payments-public-assets", "payments-static-*"}}
	if len(o.Accounts) != 3 || !reflect.DeepEqual(o.Accounts[0], wantAcct) {
		t.Errorf("accounts = %+v", o.Accounts)
	}
	if !reflect.DeepEqual(o.Trusted, map[string]string{"777788889999": "backup-vendor"}) || len(o.Contractors) != 2 {
		t.Errorf("trusted = %v, contractors = %v", o.Trusted, o.Contractors)
	}
	e := l.EnrichOptions()
	if e.Baseline.Window != 30*24*time.Hour || e.Baseline.MinDays != 14 {
		t.Errorf("baseline = %+v", e.Baseline)
	}
	if !reflect.DeepEqual(e.Severities, map[string]finding.Severity{"s3-public-access-block-removed": finding.SeverityMedium}) {
		t.Errorf("severities = %v", e.Severities)
	}
	cfg, err := Parse("rules:\n  snapshot-public: {enabled: false}\n  s3-bucket-public: {enabled: true}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Rules.Disabled(); !reflect.DeepEqual(d, map[string]bool{"snapshot-public": true}) {
		t.Errorf("disabled = %v", d)
	}
}

// The native sources are rules too: they can be turned off and routed, but
// their severity is their detector's.
func TestNativeRules(t *testing.T) {
	ok := "rules:\n  guardduty: {enabled: false}\n  access-analyzer: {enabled: true}\nrouting:\n  rules:\n    securityhub: {channels: [\"#cloud-posture\"]}\n"
	cfg, err := Parse(ok, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !cfg.Rules.Disabled()["guardduty"] || cfg.Rules.Disabled()["access-analyzer"] {
		t.Errorf("disabled = %v", cfg.Rules.Disabled())
	}
	routes := cfg.RoutingOptions().Routes
	if len(routes) != 1 || routes[0].Rules[0] != "securityhub" || routes[0].Channels[0] != "#cloud-posture" {
		t.Errorf("routes = %+v", routes)
	}
	_, err = Parse("rules:\n  guardduty: {severity: high}\n", nil)
	want := "rules.guardduty.severity (line 2): the findings of guardduty take the severity their detector gives them"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Parse = %v, want %q", err, want)
	}
}
