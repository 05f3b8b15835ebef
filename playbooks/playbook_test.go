package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

func TestSelect(t *testing.T) {
	lib, err := Load("", CatalogueIDs())
	if err != nil {
		t.Fatal(err)
	}
	snap := finding.Finding{Rule: "snapshot-shared-external", Severity: finding.SeverityCritical, OffHours: true}
	tests := []struct {
		name   string
		mutate func(f *finding.Finding)
		want   string
	}{
		{"story two: critical share off hours", func(*finding.Finding) {}, "data-exposure-off-hours"},
		{"share during business hours", func(f *finding.Finding) { f.OffHours = false }, "data-exposure-business-hours"},
		{"public snapshot off hours", func(f *finding.Finding) { f.Rule = "snapshot-public" }, "data-exposure-off-hours"},
		{"story one: public bucket", func(f *finding.Finding) { f.Rule, f.Severity = "s3-bucket-public", finding.SeverityHigh }, "public-exposure"},
		{"public bucket off hours", func(f *finding.Finding) { f.Rule = "s3-bucket-public" }, "public-exposure"},
		{"medium share: no playbook", func(f *finding.Finding) { f.Severity = finding.SeverityMedium }, ""},
		{"logging disabled: no playbook", func(f *finding.Finding) { f.Rule = "cloudtrail-logging-disabled" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := snap
			tc.mutate(&f)
			pb, ok := lib.Select(f)
			if pb.ID != tc.want || ok != (tc.want != "") {
				t.Errorf("selected %q (%t), want %q", pb.ID, ok, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "public.yaml", `
id: public-exposure
title: Our own public exposure playbook
match: {rules: [s3-bucket-public], min_severity: medium}
steps:
  - {id: fix, title: Fix it, owner: team, automation: {kind: contain, action: s3-remove-public-statements}}
`)
	writeFile(t, dir, "keys.yml", `
id: leaked-keys
title: Leaked access keys
priority: 50
match: {rules: [access-key-leaked]}
steps:
  - {id: deactivate, title: Deactivate the keys, owner: secops, automation: {kind: contain, action: iam-user-deactivate-keys}}
`)
	writeFile(t, dir, "off.yaml", "id: data-exposure-business-hours\ntitle: off\nenabled: false\n")
	writeFile(t, dir, "README.md", "not a playbook")
	lib, err := Load(dir, CatalogueIDs())
	if err != nil {
		t.Fatal(err)
	}
	if pb, _ := lib.Select(finding.Finding{Rule: "s3-bucket-public", Severity: finding.SeverityMedium}); pb.Title != "Our own public exposure playbook" {
		t.Errorf("override not used: %q", pb.Title)
	}
	if pb, _ := lib.Select(finding.Finding{Rule: "access-key-leaked", Severity: finding.SeverityLow}); pb.ID != "leaked-keys" {
		t.Errorf("extension not used: %q", pb.ID)
	}
	if pb, ok := lib.Select(finding.Finding{Rule: "snapshot-shared-external", Severity: finding.SeverityHigh}); ok {
		t.Errorf("disabled playbook still selected: %q", pb.ID)
	}
	if _, ok := lib.Get("data-exposure-business-hours"); !ok {
		t.Error("a disabled playbook must still be found for runs already started")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.yaml", `
id: Bad_ID
title: ""
steps:
  - {id: a, title: A, owner: manager}
  - {id: a, title: B, owner: secops, automation: {kind: contain, action: rm-rf}}
  - {id: c, title: C, owner: team, escalation: {after: 0s}}
  - {id: d, title: D, owner: team, automation: {kind: teleport}}
`)
	writeFile(t, dir, "typo.yaml", "id: typo\ntitle: T\nstepz: []\n")
	_, err := Load(dir, CatalogueIDs())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"bad.yaml: id:", "title: required", "steps[0].owner", "steps[1].id: \"a\" is used twice",
		"steps[1].automation.action: \"rm-rf\"", "steps[2].escalation.after", "steps[3].automation.kind", "typo.yaml", "stepz",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestAbuseReport(t *testing.T) {
	f := storyTwo()
	rep, ok := AbuseReport(f, time.Date(2026, 11, 27, 3, 16, 0, 0, time.UTC))
	if !ok {
		t.Fatal("no report for an unknown account")
	}
	for _, want := range []string{
		"444455556666", "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26",
		"Shared at: 2026-11-27 03:04:00 UTC", "ModifyDBSnapshotAttribute (CloudTrail event ID c2a9d3b4",
		"arn:aws:iam::111122223333:user/BackupManager with access key AKIAIOSFODNN7EXAMPLE",
		"Source IP: 203.0.113.77", `Share list after: ["555566667777","444455556666"]`,
	} {
		if !strings.Contains(rep.Body+rep.Subject, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.Body)
		}
	}
	if strings.Contains(rep.Body, "555566667777 ") || strings.Contains(rep.Subject, "555566667777") {
		t.Error("the known partner account is reported")
	}
	msg := rep.Message()
	if !strings.Contains(msg, "<"+AbuseFormURL+"|AWS's abuse form>") {
		t.Errorf("message lacks the form link: %s", msg)
	}
	public := f
	public.Targets = []finding.Target{{Account: "all", Class: finding.TargetPublic}}
	if _, ok := AbuseReport(public, time.Now()); ok {
		t.Error("a public share names no account to report")
	}
}

func TestNextBusinessStart(t *testing.T) {
	dir, err := org.New(org.Options{Teams: []org.TeamOptions{{
		Name: "payments", SlackChannel: "C0PAY", Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00",
		Holidays: []string{"2026-11-30"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	team, _ := dir.Team("payments")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"thursday night", time.Date(2026, 11, 26, 3, 4, 0, 0, berlin), time.Date(2026, 11, 26, 9, 0, 0, 0, berlin)},
		{"friday night skips the weekend and monday's holiday", time.Date(2026, 11, 27, 23, 0, 0, 0, berlin), time.Date(2026, 12, 1, 9, 0, 0, 0, berlin)},
		{"during the day is the next morning", time.Date(2026, 12, 2, 11, 0, 0, 0, berlin), time.Date(2026, 12, 3, 9, 0, 0, 0, berlin)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextBusinessStart(team, tc.at); !got.Equal(tc.want) {
				t.Errorf("next start = %s, want %s", got, tc.want)
			}
		})
	}
}

func storyTwo() finding.Finding {
	event := time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC)
	arn := "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"
	return finding.Finding{
		ID: "F-BADE51783D", Key: finding.KeyFor("snapshot-shared-external", "111122223333", "eu-central-1", arn),
		Rule: "snapshot-shared-external", Severity: finding.SeverityCritical, Status: finding.StatusOpen,
		Title:     "RDS snapshot shared with an unknown account",
		AccountID: "111122223333", AccountName: "payments-prod", Region: "eu-central-1",
		Resource: finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "prod-customers-2026-11-26", ARN: arn},
		Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:user/BackupManager", Type: "IAMUser", Name: "BackupManager", AccountID: "111122223333", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		Event: finding.EventRef{ID: "c2a9d3b4-4f2e-4d61-8f0a-5a1e7e9b2c44", Name: "ModifyDBSnapshotAttribute", Source: "rds.amazonaws.com",
			Time: event, SourceIP: "203.0.113.77", UserAgent: "Boto3/1.34.2"},
		Team: "payments", Environment: "prod", OffHours: true,
		Targets: []finding.Target{
			{Account: "555566667777", Class: finding.TargetKnown, Name: "payments-dr"},
			{Account: "444455556666", Class: finding.TargetUnknown},
		},
		Change:    &finding.Change{Summary: "restore attribute: added 444455556666", Before: []byte(`["555566667777"]`), After: []byte(`["555566667777","444455556666"]`)},
		Count:     1,
		FirstSeen: event, LastSeen: event, DetectedAt: event.Add(38 * time.Second), OpenedAt: event,
	}
}
