package blocks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	cmds "github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/respond/investigate"
)

// storyTwoReport is `/secops investigate BackupManager` half an hour after
// the snapshot share.
func storyTwoReport() investigate.Report {
	until := utc(time.November, 27, 3, 30, 1)
	share := utc(time.November, 27, 3, 4, 0)
	return investigate.Report{
		Subject: investigate.Subject{
			Kind: cmds.TargetUser, Query: "BackupManager", ARN: "arn:aws:iam::111122223333:user/BackupManager",
			Type: "IAMUser", Name: "BackupManager", AccountID: "111122223333", AccountName: "payments-prod",
			Team: "payments", Environment: "production", AccessKeys: []string{"AKIAEXAMPLEBACKUP01"}, Found: true,
		},
		Window: investigate.Window{Since: until.Add(-7 * 24 * time.Hour), Until: until},
		Total:  82,
		APIs:   3,
		ByAPI: []investigate.APIGroup{
			{API: "ModifyDBSnapshotAttribute", Source: "rds.amazonaws.com", Count: 1, First: share, Last: share, Write: true},
			{API: "DescribeDBSnapshots", Source: "rds.amazonaws.com", Count: 41, First: utc(time.November, 20, 8, 10, 0), Last: share.Add(-2 * time.Minute)},
			{API: "CreateDBSnapshot", Source: "rds.amazonaws.com", Count: 40, First: utc(time.November, 20, 8, 15, 0), Last: utc(time.November, 26, 15, 15, 0), Write: true},
		},
		Unusual: []finding.Signal{
			{Name: "unusual-hour", Reason: "ModifyDBSnapshotAttribute: 04:04 local (Europe/Berlin); 0% of this actor's calls are at this hour, 100% between 09:00 and 17:00"},
			{Name: "new-source-ip", Reason: "ModifyDBSnapshotAttribute: first call from 198.51.100.77 (network 198.51.100.0/24 never seen); usual 203.0.113.10 (336 calls in 30 days)"},
			{Name: "new-user-agent", Reason: "ModifyDBSnapshotAttribute: first use of aws-cli (aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/rd…); usual boto3 (336 calls in 30 days)"},
			{Name: "new-api", Reason: "ModifyDBSnapshotAttribute: first call to ModifyDBSnapshotAttribute in 30 days (2 distinct APIs used before)"},
		},
		Resources: []investigate.ResourceTouch{
			{ARN: "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26", Writes: 1, Last: share},
			{ARN: "arn:aws:rds:eu-central-1:111122223333:snapshot:auto-2026-11-26-16", Writes: 1, Last: utc(time.November, 26, 15, 15, 0)},
		},
		Findings: []finding.Finding{storyTwo()},
	}
}

// unknownAccountReport is the account the snapshot was shared with.
func unknownAccountReport() investigate.Report {
	r := storyTwoReport()
	return investigate.Report{
		Subject:  investigate.Subject{Kind: cmds.TargetAccount, Query: "444455556666", AccountID: "444455556666", Name: "444455556666", Class: finding.TargetUnknown},
		Window:   r.Window,
		Findings: []finding.Finding{storyTwo()},
	}
}

// bucketReport is a resource investigation whose account sample was cut.
func bucketReport() investigate.Report {
	until := utc(time.November, 26, 15, 0, 0)
	put := utc(time.November, 26, 14, 12, 9)
	return investigate.Report{
		Subject: investigate.Subject{
			Kind: cmds.TargetResource, Query: "acme-analytics-exports", ARN: "arn:aws:s3:::acme-analytics-exports",
			Type: "AWS::S3::Bucket", Name: "acme-analytics-exports", AccountID: "222233334444", AccountName: "analytics-dev",
			Team: "analytics", Environment: "dev", Found: true,
		},
		Window: investigate.Window{Since: until.Add(-24 * time.Hour), Until: until},
		Total:  2000, APIs: 2,
		ByAPI: []investigate.APIGroup{
			{API: "PutBucketPolicy", Source: "s3.amazonaws.com", Count: 1, First: put, Last: put, Write: true},
			{API: "GetObject", Source: "s3.amazonaws.com", Count: 1999, First: until.Add(-23 * time.Hour), Last: put.Add(-time.Minute)},
		},
		Resources: []investigate.ResourceTouch{{ARN: "arn:aws:s3:::acme-analytics-exports", Writes: 1, Reads: 1999, Last: put}},
		Findings:  []finding.Finding{storyOne()},
		Truncated: true,
		Note:      "Counted from the most recent 2,000 events only; there are more in the window.",
	}
}

// hugeReport has every list far over what a message can hold, and hostile
// text from AWS in every field.
func hugeReport() investigate.Report {
	r := storyTwoReport()
	r.Subject.Name = "<!channel> " + strings.Repeat("very-long-name-", 20)
	r.Subject.ARN = "arn:aws:iam::111122223333:user/" + strings.Repeat("x", 200)
	r.Subject.Contractor = true
	r.Subject.AccessKeys = []string{"AKIA1", "AKIA2", "AKIA3", "AKIA4", "AKIA5"}
	r.Total, r.APIs = 9_876_543, 140
	r.ByAPI = nil
	for i := range 140 {
		at := r.Window.Until.Add(-time.Duration(i+1) * time.Hour)
		r.ByAPI = append(r.ByAPI, investigate.APIGroup{API: fmt.Sprintf("Api<%03d>`Name`%s", i, strings.Repeat("X", 40)), Source: "svc.amazonaws.com", Count: 1000 + i, First: at.Add(-time.Hour), Last: at, Write: i%2 == 0})
	}
	r.Unusual = nil
	for i := range 40 {
		r.Unusual = append(r.Unusual, finding.Signal{Name: fmt.Sprintf("signal-%02d", i), Reason: strings.Repeat(fmt.Sprintf("<@U%d> reason %d ", i, i), 20)})
	}
	r.Resources = nil
	for i := range 60 {
		r.Resources = append(r.Resources, investigate.ResourceTouch{ARN: fmt.Sprintf("arn:aws:s3:::bucket-%03d-%s", i, strings.Repeat("b", 50)), Writes: i % 3, Reads: i, Last: r.Window.Until.Add(-time.Duration(i) * time.Minute)})
	}
	r.Findings = nil
	for _, f := range manyFindings(30) {
		f.Title = strings.Repeat("<!here> title ", 20)
		r.Findings = append(r.Findings, f)
	}
	r.Truncated = true
	r.Note = strings.Repeat("Showing the 25 most recently called of 140 APIs. ", 60)
	return r
}

func TestInvestigateReportGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	london := mustZone(t, "Europe/London")
	tests := []struct {
		name string
		r    investigate.Report
		loc  *time.Location
	}{
		{"investigate-story-two", storyTwoReport(), berlin},
		{"investigate-unknown-account", unknownAccountReport(), berlin},
		{"investigate-bucket-sampled", bucketReport(), london},
		{"investigate-huge", hugeReport(), berlin},
		{"investigate-zero", investigate.Report{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := InvestigateReport(tc.r, tc.loc)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if text == "" {
				t.Error("empty fallback text; Slack needs it for notifications")
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

// reportText is every text of the payload, joined, as a reader sees it.
func reportText(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func reportButtons(blocks []slack.Block) map[string]*slack.ButtonBlockElement {
	out := map[string]*slack.ButtonBlockElement{}
	for _, b := range blocks {
		a, ok := b.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, e := range a.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok {
				out[btn.ActionID] = btn
			}
		}
	}
	return out
}

func TestInvestigateReportButtons(t *testing.T) {
	role := storyTwoReport()
	role.Subject = investigate.Subject{Kind: cmds.TargetARN, Query: "arn:aws:sts::111122223333:assumed-role/deploy/gh-42", ARN: "arn:aws:iam::111122223333:role/deploy", Type: "AssumedRole", Found: true}
	tests := []struct {
		name    string
		r       investigate.Report
		want    []string
		value   string
		console string
	}{
		{"user", storyTwoReport(), []string{ActionInvestigatePage, ActionInvestigateContain, ActionInvestigateConsole},
			"arn:aws:iam::111122223333:user/BackupManager", "https://console.aws.amazon.com/iam/home#/users/details/BackupManager"},
		{"role", role, []string{ActionInvestigatePage, ActionInvestigateContain, ActionInvestigateConsole},
			"arn:aws:iam::111122223333:role/deploy", "https://console.aws.amazon.com/iam/home#/roles/details/deploy"},
		{"account cannot be contained", unknownAccountReport(), []string{ActionInvestigatePage}, "444455556666", ""},
		{"bucket opens the bucket", bucketReport(), []string{ActionInvestigatePage, ActionInvestigateConsole},
			"arn:aws:s3:::acme-analytics-exports", "https://s3.console.aws.amazon.com/s3/buckets/acme-analytics-exports"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, blocks := InvestigateReport(tc.r, nil)
			btns := reportButtons(blocks)
			var got []string
			for id := range btns {
				got = append(got, id)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("buttons = %v, want %v", got, want)
			}
			if v := btns[ActionInvestigatePage].Value; v != tc.value {
				t.Errorf("page value = %q, want %q", v, tc.value)
			}
			if c, ok := btns[ActionInvestigateContain]; ok && c.Value != tc.value {
				t.Errorf("contain value = %q, want %q", c.Value, tc.value)
			}
			if c, ok := btns[ActionInvestigateConsole]; ok && c.URL != tc.console {
				t.Errorf("console = %q, want %q", c.URL, tc.console)
			}
		})
	}
}

func TestInvestigateReportContent(t *testing.T) {
	tests := []struct {
		name   string
		r      investigate.Report
		want   []string
		absent []string
	}{
		{"story two", storyTwoReport(), []string{
			"Investigation of BackupManager (payments-prod): 82 calls to 3 APIs in the last 7d, 4 unusual signals, 1 finding",
			"`ModifyDBSnapshotAttribute` rds :pencil2: write — 1 call at Fri 27 Nov 04:04 CET",
			"*new-source-ip*: ModifyDBSnapshotAttribute: first call from 198.51.100.77",
			"`arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26` — :pencil2: 1 write",
			"*CRITICAL* `" + storyTwo().ID + "`",
		}, nil},
		{"unknown account", unknownAccountReport(), []string{"*unknown account*", "_no activity recorded_", "Investigation of 444455556666: no activity"}, []string{"Nothing unusual"}},
		{"sampled bucket says so", bucketReport(), []string{":scissors: Counted from the most recent 2,000 events only"}, nil},
		{"huge counts what it leaves out", hugeReport(), []string{"more APIs_", "more signals_", "more resources_", "more findings_", "&lt;!channel&gt;"}, []string{"<!channel>", "<!here>", "<@U1>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := InvestigateReport(tc.r, mustZone(t, "Europe/Berlin"))
			all := text + "\n" + reportText(t, blocks)
			all = strings.ReplaceAll(all, `\n`, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("report lacks %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(all, a) {
					t.Errorf("report contains %q", a)
				}
			}
		})
	}
}

// TestInvestigateReportCountsHidden: APIs the report already left out are
// counted even when everything shown fits.
func TestInvestigateReportCountsHidden(t *testing.T) {
	r := storyTwoReport()
	r.APIs = 140
	_, blocks := InvestigateReport(r, nil)
	if got := reportText(t, blocks); !strings.Contains(got, "_… and 137 more APIs_") {
		t.Errorf("no count of the 137 APIs left out:\n%s", got)
	}
}
