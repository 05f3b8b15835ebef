package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// domain lists the packages of pure domain logic.
var domain = map[string]bool{
	"finding": true, "ingest/cloudtrail": true, "ingest/native": true,
	"detect": true, "detect/policy": true, "detect/sigma": true, "detect/sigma/catalogue": true,
	"enrich": true, "enrich/assess": true, "enrich/exposure": true,
	"pipeline": true, "commands": true, "playbooks": true,
	"delivery": true, "delivery/route": true, "delivery/tickets": true, "delivery/tickets/tracker": true, "delivery/paging": true,
	"respond/investigate": true, "respond/triage": true, "respond/breakglass": true, "respond/containment": true,
	"org": true, "org/authz": true, "org/oncall": true, "org/bizhours": true,
	"ops/report": true, "ops/canary": true, "ops/feedhealth": true, "internal/awsarn": true,
}

// TestImportBoundaries keeps the architecture honest: only bot/ talks to
// Slack, only providers/ talk to AWS, Jira, PagerDuty or Opsgenie, only
// the wiring reads the configuration, and domain types import nothing
// internal. Test files may import what their fakes need.
func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/secops-bot/secops-bot/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/secops-bot/secops-bot/"
	rules := []struct {
		name      string
		forbidden string
		allowed   func(pkg string) bool
	}{
		{"slack-go outside bot/", "github.com/slack-go/slack", func(p string) bool {
			return strings.HasPrefix(p, mod+"bot")
		}},
		{"the AWS SDK outside providers/", "github.com/aws/aws-sdk-go-v2", func(p string) bool {
			return strings.HasPrefix(p, mod+"providers/") || p == mod+"internal/app" || strings.HasPrefix(p, mod+"internal/testkit/awsfake") || p == mod+"internal/testkit/testserver"
		}},
		{"the PagerDuty client outside providers/pagerduty", "github.com/PagerDuty/", func(p string) bool {
			return p == mod+"providers/pagerduty"
		}},
		{"the Opsgenie SDK outside providers/opsgenie", "github.com/opsgenie/", func(p string) bool {
			return p == mod+"providers/opsgenie"
		}},
		// Services take their own options; config builds them.
		{"config outside the wiring", mod + "internal/config", func(p string) bool {
			return p == mod+"internal/app" || strings.HasPrefix(p, mod+"cmd/")
		}},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	listed := map[string]bool{}
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		listed[strings.TrimPrefix(p.ImportPath, mod)] = true
		for _, r := range rules {
			if r.allowed(p.ImportPath) {
				continue
			}
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, r.forbidden) {
					t.Errorf("%s: %s imports %s", r.name, p.ImportPath, imp)
				}
			}
		}
		// Domain packages stay testable without Slack or AWS, even
		// indirectly.
		if domain[strings.TrimPrefix(p.ImportPath, mod)] {
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, "github.com/slack-go/") || strings.HasPrefix(dep, "github.com/aws/") ||
					strings.HasPrefix(dep, mod+"bot") || strings.HasPrefix(dep, mod+"providers") || dep == mod+"internal/config" {
					t.Errorf("domain package %s depends on %s", p.ImportPath, dep)
				}
			}
		}
		// Domain types import nothing internal but the AWS vocabulary and
		// the JSON scanner, which import nothing internal themselves.
		if p.ImportPath == mod+"finding" || p.ImportPath == mod+"ingest/cloudtrail" || p.ImportPath == mod+"internal/awsarn" || p.ImportPath == mod+"internal/jsonscan" {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, mod) && imp != mod+"internal/awsarn" && imp != mod+"internal/jsonscan" {
					t.Errorf("domain package %s imports %s", p.ImportPath, imp)
				}
			}
		}
	}
	// A domain package that moved or was renamed must not drop out of
	// the check unnoticed.
	for pkg := range domain {
		if !listed[pkg] {
			t.Errorf("domain package %s is not in the module: update the list", pkg)
		}
	}
}
