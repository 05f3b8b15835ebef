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
		{"check-config bad", []string{"check-config", "--config", bad}, 1, "", "accounts[0].team"},
		{"replay json", []string{"replay", "--config", "../../config.example.yaml", "--format", "json", "../../examples/story-two"}, 0, `"rule":"snapshot-shared-external"`, "replayed"},
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
