package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodRule = `title: Trail stopped by a human
id: 3f2e1d0c-9b8a-4766-8554-433221100fed
status: test
description: A trail was stopped from the console.
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventName: StopLogging
        sessionCredentialFromConsole: 'true'
    condition: selection
level: high
`

func TestRulesCommands(t *testing.T) {
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "trail.yml"), []byte(goodRule), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	files := map[string]string{
		"aggregate.yml": strings.Replace(goodRule, "condition: selection", "condition: selection | count() by userIdentity.arn > 3", 1),
		"modifier.yml":  strings.Replace(strings.Replace(goodRule, "eventName: StopLogging", "eventName|base64: StopLogging", 1), "3f2e1d0c", "4f2e1d0c", 1),
		"windows.yml":   strings.Replace(strings.Replace(goodRule, "product: aws", "product: windows", 1), "3f2e1d0c", "5f2e1d0c", 1),
		"broken.yaml":   "title: [unclosed\n",
		"catalogue.yml": strings.Replace(goodRule, "3f2e1d0c-9b8a-4766-8554-433221100fed", "31767720-670c-4f19-a2e9-830088fbd793", 1),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(bad, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string
		wantStderr string
	}{
		{"list", []string{"rules", "list"}, 0, []string{"ID  ", "31767720-670c-4f19-a2e9-830088fbd793  root-account-use", "high", "Root user signed in or made a call", "catalogue"}, ""},
		{"list with a directory", []string{"rules", "list", good}, 0, []string{"Trail stopped by a human", filepath.Join(good, "trail.yml")}, ""},
		{"check good", []string{"rules", "check", good}, 0, []string{"1 rule read, no problems"}, ""},
		{"check bad", []string{"rules", "check", bad, filepath.Join(bad, "missing")}, 1, []string{
			filepath.Join(bad, "aggregate.yml") + ":12: aggregation: \"| count() by userIdentity.arn > 3\" needs counting across events",
			filepath.Join(bad, "modifier.yml") + ":10: modifier base64: not supported",
			filepath.Join(bad, "windows.yml") + ":6: logsource: product \"windows\", service \"cloudtrail\" is not supported",
			filepath.Join(bad, "broken.yaml") + ":1: yaml: ",
			filepath.Join(bad, "catalogue.yml") + ":1: id: \"31767720-670c-4f19-a2e9-830088fbd793\" is already the id of catalogue/root-account-use.yml:1",
			filepath.Join(bad, "missing") + ":0: rules directory: cannot stat",
		}, "1 rule read, 6 problems"},
		{"check needs a directory", []string{"rules", "check"}, 1, nil, "requires at least 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr: %s", code, tc.wantCode, out.String(), errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, errOut.String())
			}
		})
	}
}
