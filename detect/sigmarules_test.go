package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// teamRules are rules a team might bring, in the SigmaHQ shape.
const teamRules = `title: Trail logging stopped, any outcome
id: 2c9e4f1a-8b7d-4c3e-9a6f-5d4e3c2b1a09
status: test
description: Someone tried to stop a trail, whether or not it worked.
references:
    - https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: cloudtrail.amazonaws.com
        eventName: StopLogging
    condition: selection
falsepositives:
    - Trail maintenance
tags:
    - attack.t1562.008
level: critical
---
title: Console sign-in by root
id: 8d7c6b5a-4e3f-4a2b-9c1d-0e9f8a7b6c5d
status: experimental
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventName: ConsoleLogin
        userIdentity.type: Root
    condition: selection
level: informational
`

func sigmaEngine(t *testing.T) *Engine {
	t.Helper()
	rules, problems := sigma.Parse("team/rules.yml", []byte(teamRules))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	set, problems := CompileSigma(rules)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	return NewEngine(nil, WithSigma(set))
}

func stopLogging(errorCode string) *cloudtrail.Record {
	return &cloudtrail.Record{
		EventID: "e1", EventTime: time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC), EventSource: "cloudtrail.amazonaws.com",
		EventName: "StopLogging", AWSRegion: "eu-west-1", RecipientAccountID: "111122223333", ErrorCode: errorCode,
		RequestParameters: json.RawMessage(`{"name":"arn:aws:cloudtrail:eu-west-1:111122223333:trail/management"}`),
		UserIdentity:      cloudtrail.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/mallory", AccountID: "111122223333", UserName: "mallory"},
	}
}

func TestSigmaResults(t *testing.T) {
	e := sigmaEngine(t)
	res, errs := e.Evaluate(stopLogging(""))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	// The built-in rule and the team's rule both raise.
	if len(res) != 2 || res[0].Rule != RuleLoggingDisabled {
		t.Fatalf("results %s", dump(res))
	}
	got := res[1]
	want := Result{
		Kind: Exposure, Rule: "2c9e4f1a-8b7d-4c3e-9a6f-5d4e3c2b1a09", Severity: finding.SeverityCritical,
		Title: "Trail logging stopped, any outcome", Detail: "Someone tried to stop a trail, whether or not it worked.",
		Resource: finding.Resource{Type: awsarn.TypeCloudTrailTrail, ID: "management", ARN: "arn:aws:cloudtrail:eu-west-1:111122223333:trail/management"},
		Notes: &finding.RuleNotes{Source: "sigma", File: "team/rules.yml", Status: "test", FalsePositives: []string{"Trail maintenance"},
			References: []string{"https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html"}, Tags: []string{"attack.t1562.008"}},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("result\n got %s\nwant %s", g, w)
	}

	// A refused call is never a built-in finding, but the Sigma rule has
	// no filter on errorCode, so it raises.
	res, _ = e.Evaluate(stopLogging("AccessDenied"))
	if len(res) != 1 || res[0].Rule != "2c9e4f1a-8b7d-4c3e-9a6f-5d4e3c2b1a09" {
		t.Errorf("failed call: results %s", dump(res))
	}
}

func TestSigmaResultKeyedOnActor(t *testing.T) {
	e := sigmaEngine(t)
	rec := &cloudtrail.Record{
		EventID: "e2", EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", AWSRegion: "us-east-1",
		ResponseElements: json.RawMessage(`{"ConsoleLogin":"Success"}`),
		UserIdentity:     cloudtrail.UserIdentity{Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root", AccountID: "111122223333"},
	}
	res, _ := e.Evaluate(rec)
	if len(res) != 1 {
		t.Fatalf("results %s", dump(res))
	}
	if r := res[0]; r.Resource != (finding.Resource{}) || r.Subject != "arn:aws:iam::111122223333:root" || r.Severity != finding.SeverityLow {
		t.Errorf("resource %+v subject %q severity %s; want no resource, the root ARN, low (informational)", r.Resource, r.Subject, r.Severity)
	}
}

func TestCompileSigmaRejectsBuiltinIDs(t *testing.T) {
	rules, problems := sigma.Parse("r.yml", []byte(strings.Replace(teamRules, "2c9e4f1a-8b7d-4c3e-9a6f-5d4e3c2b1a09", RuleLoggingDisabled, 1)))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	set, problems := CompileSigma(rules)
	if set.Len() != 1 || len(problems) != 1 || !strings.Contains(problems[0].String(), "r.yml:1: id: \"cloudtrail-logging-disabled\" is already the id of a built-in rule") {
		t.Errorf("%d rules compiled, problems %v", set.Len(), problems)
	}
}

// TestSigmaCostsNoAllocations: the Sigma rules run on every record, so a
// record none of them matches must cost no allocation.
func TestSigmaCostsNoAllocations(t *testing.T) {
	e := sigmaEngine(t)
	rec := &cloudtrail.Record{
		EventID: "e3", EventSource: "ec2.amazonaws.com", EventName: "DescribeInstances", AWSRegion: "us-east-1",
		Raw:          []byte(`{"eventID":"e3","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","userIdentity":{"type":"IAMUser"}}`),
		UserIdentity: cloudtrail.UserIdentity{Type: "IAMUser"},
	}
	if n := testing.AllocsPerRun(100, func() { e.Evaluate(rec) }); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadSigma(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "team.yml"), []byte(teamRules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "count.yml"), []byte(strings.Replace(strings.SplitN(teamRules, "---\n", 2)[0], "condition: selection\n", "condition: selection | count() > 5\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	set, problems, err := LoadSigma([]string{dir}, []string{"root-account-use", "kms-key-deletion-scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 4 || len(problems) != 1 || problems[0].Construct != "aggregation" || problems[0].File != filepath.Join(dir, "count.yml") {
		t.Errorf("%d rules, problems %v; want the two catalogue rules, the two team rules and the aggregation", set.Len(), problems)
	}
	if _, _, err := LoadSigma(nil, []string{"root-acount-use"}); err == nil || !strings.Contains(err.Error(), `unknown catalogue rule "root-acount-use"`) {
		t.Errorf("unknown catalogue name: %v", err)
	}
	if set, problems, err := LoadSigma(nil, nil); err != nil || set.Len() != 0 || len(problems) != 0 {
		t.Errorf("nothing configured: %d rules, %v, %v", set.Len(), problems, err)
	}
}
