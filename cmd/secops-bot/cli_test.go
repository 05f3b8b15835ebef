package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("accounts:\n  - id: 123\n    team: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(t.TempDir(), "mixed.jsonl")
	if err := os.WriteFile(malformed, []byte(`{"eventID":"a1","eventName":"DescribeInstances","eventTime":"2026-11-27T01:00:00Z","eventSource":"ec2.amazonaws.com","awsRegion":"eu-west-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x","accountId":"111122223333"}}`+"\n"+`{"eventID": "broken`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "secops-bot ", ""},
		{"manifest", []string{"manifest"}, 0, "socket_mode_enabled: true", ""},
		{"check-config ok", []string{"check-config", "--config", "../../config.example.yaml"}, 0, "configuration OK", ""},
		{"check-config bad", []string{"check-config", "--config", bad}, 1, "", "accounts[0].team (" + bad + ":3): team \"nope\" is not defined"},
		{"replay json", []string{"replay", "--config", "../../config.example.yaml", "--format", "json", "../../examples/story-two"}, 0, `"rule":"snapshot-shared-external"`, "replayed"},
		{"replay text names what it set aside", []string{"replay", "--config", "../../config.example.yaml", malformed}, 0, "", "set aside " + malformed + " line 2: malformed JSON"},
		{"replay text counts in words", []string{"replay", "--config", "../../config.example.yaml", malformed}, 0, "", "replayed 1 event from 1 file (0 duplicates"},
		{"replay native findings", []string{"replay", "--config", "../../config.example.yaml", "../../ingest/native/testdata/guardduty-iamuser-malicious-ip.json", "../../ingest/native/testdata/guardduty-iamuser-malicious-ip-archived.json"},
			0, "reported   by GuardDuty, its severity 5.0, archived", "replayed 0 events and 2 AWS-native finding updates from 2 files"},
		{"replay unknown format", []string{"replay", "--format", "xml", "../../examples"}, 1, "", "unknown format"},
		{"serve without tokens", []string{"serve", "--config", "../../config.example.yaml"}, 1, "", "SECOPS_SLACK_APP_TOKEN"},
		{"unknown command", []string{"frobnicate"}, 1, "", "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out.String())
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, errOut.String())
			}
		})
	}
}

// TestCheckConfig covers what check-config tells an operator: where a
// wrong value was set, file or variable, and that without a file only the
// defaults apply.
func TestCheckConfig(t *testing.T) {
	example, err := filepath.Abs("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	withCatalogue := filepath.Join(t.TempDir(), "config.yaml")
	raw = bytes.Replace(raw, []byte("  catalogue: []"), []byte("  catalogue: [root-account-use, vpc-flow-logs-deleted]"), 1)
	if err := os.WriteFile(withCatalogue, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantOut    []string
		wantStderr []string
	}{
		{
			name: "values from the environment", args: []string{"check-config", "--config", example},
			env:      map[string]string{"SECOPS_INGEST_SQS_WORKERS": "many", "SECOPS_INGEST_POLL_INTERVAL": "2"},
			wantCode: 1,
			wantStderr: []string{
				"invalid configuration (2 problems):",
				`ingest.poll_interval (from SECOPS_INGEST_POLL_INTERVAL): 2 has no unit; write 2s for seconds`,
				`ingest.sqs_workers (from SECOPS_INGEST_SQS_WORKERS): got "many", want a whole number, such as 4`,
			},
		},
		{
			name: "no file", args: []string{"check-config"},
			wantOut: []string{"configuration OK, but no file was read"},
			wantStderr: []string{
				"warning: no configuration file was read: --config was not given and none of ./config.yaml, /etc/secops-bot/config.yaml exists.",
				"high and critical findings go to #secops",
				"kept in SQLite at secops-bot.db, relative to the working directory",
				"reading state from AWS is on; Jira tickets are off, break-glass is off, the canary is off",
				"copy config.example.yaml to ./config.yaml",
			},
		},
		{
			name: "Sigma rules counted", args: []string{"check-config", "--config", withCatalogue},
			wantOut: []string{"configuration OK", "2 Sigma rules"},
		},
		{
			name: "no file, with variables", args: []string{"check-config"},
			env:        map[string]string{"SECOPS_SLACK_SECOPS_CHANNEL": "#sec-alerts", "SECOPS_JIRA_ENABLED": "true", "SECOPS_JIRA_API_TOKEN": "t0ken", "SECOPS_JIRA_BASE_URL": "https://example.atlassian.net", "SECOPS_JIRA_EMAIL": "bot@example.com"},
			wantOut:    []string{"configuration OK, but no file was read"},
			wantStderr: []string{"high and critical findings go to #sec-alerts", "Jira tickets are on"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat("/etc/secops-bot/config.yaml"); err == nil {
				t.Skip("this machine has /etc/secops-bot/config.yaml")
			}
			t.Chdir(t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errOut); code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

// The global flags may come from the environment, as in a container; a
// flag on the command line wins.
func TestGlobalFlagsFromTheEnvironment(t *testing.T) {
	t.Setenv("SECOPS_CONFIG", "../../config.example.yaml")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check-config"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "configuration OK") || !strings.Contains(out.String(), "config.example.yaml") {
		t.Errorf("check-config with SECOPS_CONFIG: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"check-config", "--config", missing}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "missing.yaml") {
		t.Errorf("--config did not win over SECOPS_CONFIG: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
