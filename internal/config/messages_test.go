package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProblemText pins the lines an operator reads: the key, where it was
// set (line, file and line, or variable), the value, what was wanted and
// how to fix it; every problem at once.
func TestProblemText(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		env    map[string]string
		want   []string // every line of the error after the heading, in order
		absent []string // text that must not appear (secrets)
	}{
		{
			name: "wrong types in the file, all at once",
			yaml: "ingest:\n  sqs_workers: many\nbaseline:\n  min_days: lots\n  unusual_hour_share: abc\nbreakglass:\n  enabled: maybe\n",
			want: []string{
				`ingest.sqs_workers (line 2): got "many", want a whole number, such as 4`,
				`baseline.min_days (line 4): got "lots", want a whole number, such as 4`,
				`baseline.unusual_hour_share (line 5): got "abc", want a number, such as 0.03`,
				`breakglass.enabled (line 7): got "maybe", want true or false`,
			},
		},
		{
			name: "wrong types from the environment",
			yaml: "log: {level: info}\n",
			env:  map[string]string{"SECOPS_INGEST_SQS_WORKERS": "4x", "SECOPS_CANARY_ENABLED": "yes", "SECOPS_BASELINE_WINDOW": "a month"},
			want: []string{
				`ingest.sqs_workers (from SECOPS_INGEST_SQS_WORKERS): got "4x", want a whole number, such as 4`,
				`baseline.window (from SECOPS_BASELINE_WINDOW): got "a month", want a duration with a unit, such as 30s, 5m, 12h or 30d`,
				`canary.enabled (from SECOPS_CANARY_ENABLED): got "yes", want true or false`,
			},
		},
		{
			name: "the environment wins over the file, and is named",
			yaml: "store:\n  driver: sqlite\n",
			env:  map[string]string{"SECOPS_STORE_DRIVER": "mysql"},
			want: []string{`store.driver (from SECOPS_STORE_DRIVER): "mysql" is not supported; use sqlite or postgres`},
		},
		{
			name: "a duration without a unit",
			yaml: "ingest:\n  poll_interval: 2\nbreakglass:\n  max_duration: 1.5\n",
			env:  map[string]string{"SECOPS_AWS_RECHECK_INTERVAL": "300"},
			want: []string{
				"ingest.poll_interval (line 2): 2 has no unit; write 2s for seconds (or 2m, 2h, 2d): a bare number is not read as seconds",
				"breakglass.max_duration (line 4): 1.5 has no unit; write 1.5s for seconds (or 1.5m, 1.5h, 1.5d): a bare number is not read as seconds",
				"aws.recheck_interval (from SECOPS_AWS_RECHECK_INTERVAL): 300 has no unit; write 300s for seconds (or 300m, 300h, 300d): a bare number is not read as seconds",
			},
		},
		{
			name: "zero needs no unit",
			yaml: "breakglass:\n  self_approve_after: 0\nfeed_health:\n  max_silence: 0\n",
		},
		{
			name: "the wrong shape",
			yaml: "slack: \"#secops\"\nteams: {payments: {slack_channel: \"#payments\"}}\naccounts:\n  - id: \"111122223333\"\n    expected_public_buckets: {a: b}\n    name: [a, b]\n",
			want: []string{
				`slack (line 1): got "#secops", want a block of keys (app_token, app_token_file, bot_token, bot_token_file, api_url, secops_channel, approvers_channel, network_timeout)`,
				"teams (line 2): got a block of keys, want a list such as [a, b] or one \"- item\" per line",
				"accounts[0].expected_public_buckets (line 5): got a block of keys, want a list such as [a, b] or one \"- item\" per line",
				"accounts[0].name (line 6): got a list, want a single value (text)",
			},
		},
		{
			name: "unknown and repeated keys",
			yaml: "slack:\n  secops_chanel: \"#secops\"\n  x: 1\nlog:\n  level: info\n  level: debug\n",
			want: []string{
				"slack.secops_chanel (line 2): unknown key (did you mean secops_channel?); remove it or check its spelling against config.example.yaml",
				"slack.x (line 3): unknown key; remove it or check its spelling against config.example.yaml",
				"log.level (line 6): set twice in this block (first at line 5); keep one",
			},
		},
		{
			name: "a key that was never set points at its block",
			yaml: "teams:\n  - name: payments\n    timezone: UTC\n",
			want: []string{`teams[0].slack_channel (not set; its block is at line 2): required; the channel where team "payments" receives its findings (e.g. "#team-payments")`},
		},
		{
			name: "channel names Slack would refuse",
			yaml: "slack:\n  secops_channel: \"secops channel!\"\n  approvers_channel: \"#SecOps-Approvals\"\nteams:\n  - {name: a, slack_channel: \"#" + strings.Repeat("a", 81) + "\"}\n  - {name: b, slack_channel: C0SEC}\n  - {name: c, slack_channel: \"#\"}\n",
			want: []string{
				`slack.secops_channel (line 2): "secops channel!" is not a Slack channel; a channel name is lowercase letters, digits, hyphens and underscores, at most 80 characters (e.g. "#secops"); a channel ID looks like C0123ABCD`,
				`slack.approvers_channel (line 3): "#SecOps-Approvals" has capital letters, which Slack channel names never have; write "#secops-approvals"`,
				`teams[0].slack_channel (line 5): "#` + strings.Repeat("a", 81) + `" is 81 characters long; Slack channel names have at most 80`,
				`teams[1].slack_channel (line 6): "C0SEC" is too short for a channel ID (C or G and at least 8 more capital letters or digits, such as C0123ABCD); for a channel name write it in lowercase with #`,
				`teams[2].slack_channel (line 7): "#" names no channel; a channel name is lowercase letters, digits, hyphens and underscores, at most 80 characters (e.g. "#secops"); a channel ID looks like C0123ABCD`,
			},
		},
		{
			name: "channel names and IDs Slack allows",
			yaml: "slack:\n  secops_channel: C0123ABCD\n  approvers_channel: \"#sec_ops-2\"\nteams:\n  - {name: a, slack_channel: \"セキュリティ\"}\n  - {name: b, slack_channel: G01234567}\n",
		},
		{
			name:   "a secret is named, never shown",
			yaml:   "jira:\n  enabled: true\n  api_token: [s3cr3t-in-a-list]\n  base_url: https://example.atlassian.net\n  email: bot@example.com\n",
			env:    map[string]string{"SECOPS_SLACK_BOT_TOKEN": "hunter2-not-a-token", "SECOPS_JIRA_API_TOKEN": ""},
			absent: []string{"s3cr3t-in-a-list", "hunter2"},
			want: []string{
				"jira.api_token (line 3): got a list, want a single value (text)",
				"slack.bot_token (from SECOPS_SLACK_BOT_TOKEN): a bot token starts with xoxb-; copy it from OAuth & Permissions → Bot User OAuth Token",
			},
		},
		{
			name: "an unclosed quote points at its line",
			yaml: "slack:\n  secops_channel: \"#secops\nteams:\n  - name: payments\n",
			want: []string{"line 2, column 19: not valid YAML: this quoted value is never closed; add the closing quote"},
		},
		{
			name: "bad indentation points at the line, not the block",
			yaml: "slack:\n  secops_channel: \"#secops\"\nteams:\n  - name: payments\n  slack_channel: \"#payments\"\n",
			want: []string{"line 5, column 3: not valid YAML: did not find expected '-' indicator (in the list that starts at line 4); check the indentation and quotes"},
		},
		{
			name: "a key indented too far",
			yaml: "slack:\n  secops_channel: \"#secops\"\n   api_url: https://slack.com/api/\n",
			want: []string{"line 3, column 4: not valid YAML: did not find expected key (in the block of keys that starts at line 2); check the indentation and quotes"},
		},
		{
			name: "a tab",
			yaml: "log:\n\tlevel: info\n",
			want: []string{"line 2, column 1: not valid YAML: found character that cannot start any token; YAML indents with spaces, never tabs"},
		},
		{
			name: "not a block of keys",
			yaml: "- slack\n- teams\n",
			want: []string{"line 1: the configuration is a list; it must be a block of keys such as slack:, teams: and accounts: (see config.example.yaml)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.yaml, envMap(tc.env))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse = %v, want no problems", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			lines := strings.Split(err.Error(), "\n  - ")[1:]
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, a := range tc.absent {
				if strings.Contains(err.Error(), a) {
					t.Errorf("the error shows %q", a)
				}
			}
		})
	}
}

// TestLoadNamesTheFile checks that a problem in a file names the file and
// line, so that an editor can jump to it.
func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("slack:\n  secops_channel: \"#secops\"\ningest:\n  poll_interval: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, envMap(nil))
	want := "ingest.poll_interval (" + path + ":4): 2 has no unit"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load = %v, want %q", err, want)
	}
	if err := os.WriteFile(path, []byte("slack:\n  secops_channel: \"#secops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path, envMap(nil))
	want = path + ":2:19: not valid YAML: this quoted value is never closed"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load = %v, want %q", err, want)
	}
}
