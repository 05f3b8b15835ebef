package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExampleConfigIsValid(t *testing.T) {
	l, err := Load(filepath.Join("..", "..", "config.example.yaml"), envMap(nil))
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if len(l.Teams) != 2 || len(l.Accounts) != 3 {
		t.Fatalf("got %d teams and %d accounts, want 2 and 3", len(l.Teams), len(l.Accounts))
	}
	if l.Baseline.Window != 30*24*time.Hour {
		t.Fatalf("baseline.window = %v, want 720h", l.Baseline.Window)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := envMap(map[string]string{
		"SECOPS_SLACK_BOT_TOKEN":      "xoxb-123",
		"SECOPS_STORE_DSN":            "/var/lib/secops/bot.db",
		"SECOPS_INGEST_POLL_INTERVAL": "5s",
		"SECOPS_SLACK_SECOPS_CHANNEL": "C0123SECOPS",
	})
	cfg, err := Parse("store:\n  driver: sqlite\n", env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slack.BotToken != "xoxb-123" || cfg.Store.DSN != "/var/lib/secops/bot.db" || cfg.Ingest.PollInterval != 5*time.Second || cfg.Slack.SecOpsChannel != "C0123SECOPS" {
		t.Fatalf("environment not applied: %+v %+v %+v", cfg.Slack, cfg.Store, cfg.Ingest)
	}
}

func TestTokenFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(f, []byte("xapp-1-abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("slack:\n  app_token_file: "+f+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slack.AppToken != "xapp-1-abc" {
		t.Fatalf("app token = %q", cfg.Slack.AppToken)
	}
}

func TestProblemsAreAllReported(t *testing.T) {
	yaml := `
slack:
  secops_chanel: "#secops"
  network_timeout: 1s
teams:
  - name: payments
    slack_channel: "#team-payments"
    timezone: Europe/Berln
    business_hours: "Mon-Fri 9-18"
accounts:
  - id: 12345
    name: prod
    team: paymnts
  - id: "111122223333"
    name: other
    team: payments
    expected_public_buckets: ["[bad"]
principals:
  contractors: ["contractor-*"]
store:
  driver: mysql
  network_timeout: 0s
ingest:
  store_timeout: 1h
roles:
  approvers: ["bob"]
`
	_, err := Parse(yaml, nil)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	want := []string{
		"slack.secops_chanel (line 3): unknown key (did you mean secops_channel?)",
		"teams[0].timezone (line 8): unknown time zone \"Europe/Berln\"",
		"teams[0].business_hours (line 9):",
		"accounts[0].id (line 11): \"12345\" is not a 12-digit AWS account ID",
		"accounts[0].team (line 13): team \"paymnts\" is not defined",
		"accounts[1].expected_public_buckets[0] (line 17): bad glob pattern",
		"principals.contractors[0] (line 19):",
		"store.driver (line 21): \"mysql\" is not supported",
		"store.network_timeout (line 22): must be between 1s and 10m",
		"slack.network_timeout (line 4): must be between 5s and 10m",
		"ingest.store_timeout (line 24): must be between 1s and 10m",
		"roles.approvers[0] (line 26):",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error does not mention %q:\n%s", w, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"x", 0, true},
		{"-3d", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestMemberRolesAreNamesAndARNs(t *testing.T) {
	yaml := `
aws:
  member_role_name: secops-bot-member
  member_write_role_name: arn:aws:iam::111122223333:role/secops-bot-member-write
accounts:
  - id: "111122223333"
    name: prod
    write_role_arn: secops-bot-member-write
`
	_, err := Parse(yaml, nil)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	for _, w := range []string{
		`aws.member_write_role_name (line 4): "arn:aws:iam::111122223333:role/secops-bot-member-write" must be a role name, not an ARN (use accounts[].write_role_arn for full ARNs)`,
		`accounts[0].write_role_arn (line 8): "secops-bot-member-write" is not an IAM role ARN`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%s", w, err)
		}
	}
	cfg, err := Parse("aws:\n  member_write_role_name: secops-bot-member-write\naccounts:\n  - id: \"111122223333\"\n    name: prod\n    write_role_arn: arn:aws:iam::111122223333:role/w\n", nil)
	if err != nil || cfg.AWS.MemberWriteRoleName != "secops-bot-member-write" || cfg.Accounts[0].WriteRoleARN != "arn:aws:iam::111122223333:role/w" {
		t.Errorf("Parse = %+v, %v; want both write roles read", cfg.AWS, err)
	}
}
