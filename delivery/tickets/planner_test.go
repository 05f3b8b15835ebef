package tickets

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
)

func TestPlan(t *testing.T) {
	open := storyOne()
	open.Version = 3
	resolved := open
	remediate(&resolved)
	suppressed := open
	suppressed.Status = finding.StatusSuppressed
	suppressed.Routes = nil
	slackOnly := open
	slackOnly.Routes = []string{"slack:#secops"}
	id := open.ID
	tests := []struct {
		name     string
		cfg      Config
		f        finding.Finding
		change   finding.ChangeKind
		by, note string
		wantKeys []string
		project  string
		comment  string // of the first item
	}{
		{"created opens a ticket in the routed project", Config{Enabled: true}, open, finding.ChangeCreated, "system", "",
			[]string{"jira.create|" + id + "|v3"}, "PAY", ""},
		{"disabled plans nothing", Config{}, open, finding.ChangeCreated, "system", "", nil, "", ""},
		{"suppressed findings get no ticket", Config{Enabled: true, SecOpsProject: "SEC"}, suppressed, finding.ChangeCreated, "system", "", nil, "", ""},
		{"no Jira route falls back to the SecOps project", Config{Enabled: true, SecOpsProject: "SEC"}, slackOnly, finding.ChangeCreated, "system", "",
			[]string{"jira.create|" + id + "|v3"}, "SEC", ""},
		{"acknowledged is a comment", Config{Enabled: true}, open, finding.ChangeAcknowledged, "U0ALICE", "",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Acknowledged by Slack user U0ALICE."},
		{"contained is a comment naming who", Config{Enabled: true}, open, finding.ChangeContained, "U0BOB", "inline deny policy attached to BackupManager",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Containment by Slack user U0BOB: inline deny policy attached to BackupManager."},
		{"an undone containment is a comment naming who", Config{Enabled: true}, open, finding.ChangeUncontained, "U0BOB", "removed the deny policy from BackupManager",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Containment undone by Slack user U0BOB: removed the deny policy from BackupManager."},
		{"updated is a comment", Config{Enabled: true}, open, finding.ChangeUpdated, "system", "partly remediated by DeletePublicAccessBlock",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Update: partly remediated by DeletePublicAccessBlock."},
		{"resolved by hand comments the reason, then resolves", Config{Enabled: true}, func() finding.Finding {
			f := open
			f.Status, f.ResolvedBy, f.ResolveReason, f.OpenFor = finding.StatusResolved, "U0ALICE", "bucket deleted", 2*time.Hour+5*time.Minute
			return f
		}(), finding.ChangeResolved, "U0ALICE", "bucket deleted",
			[]string{"jira.comment|" + id + "|v3", "jira.resolve|" + id + "|v3"}, "PAY",
			"Resolved by Slack user U0ALICE: bucket deleted. Open for 2h 5m (since 2026-11-26 14:12:09 UTC)."},
		{"marked expected closes the ticket", Config{Enabled: true}, open, finding.ChangeExpected, "U0ALICE", "vendor drop box",
			[]string{"jira.comment|" + id + "|v3", "jira.resolve|" + id + "|v3"}, "PAY", "Marked expected by Slack user U0ALICE: vendor drop box."},
		{"reopened moves the ticket back", Config{Enabled: true}, open, finding.ChangeReopened, "system", "reopened: PutBucketAcl by arn:aws:iam::1:user/bob",
			[]string{"jira.reopen|" + id + "|v3", "jira.comment|" + id + "|v3"}, "PAY", ""},
		{"reopened in new mode opens another ticket", Config{Enabled: true, ReopenMode: ReopenNew}, open, finding.ChangeReopened, "system", "",
			[]string{"jira.create|" + id + "|v3"}, "PAY", ""},
		{"the answer to who read it is a comment", Config{Enabled: true}, resolved, finding.ChangeReadsReviewed, "system", "2026-11-26 14:12:09 to 2026-11-26 14:29:43 UTC: an anonymous caller read it: 3 calls.",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Who read it while it was exposed: 2026-11-26 14:12:09 to 2026-11-26 14:29:43 UTC: an anonymous caller read it: 3 calls."},
		{"a closed exposure review is a comment with the answer", Config{Enabled: true}, resolved, finding.ChangeReviewClosed, "U0ALICE", "no reads by principals outside the organisation or anonymous.",
			[]string{"jira.comment|" + id + "|v3"}, "PAY", "Exposure review closed by Slack user U0ALICE on this answer: no reads by principals outside the organisation or anonymous."},
		{"repeats are not commented", Config{Enabled: true}, open, finding.ChangeRepeated, "system", "seen again", nil, "", ""},
		{"a resolved finding is not created", Config{Enabled: true}, resolved, finding.ChangeCreated, "system", "", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items := NewPlanner(tc.cfg).Plan(tc.f, tc.change, tc.by, tc.note)
			var keys []string
			for _, it := range items {
				keys = append(keys, it.Key)
				if !strings.HasPrefix(it.Kind, KindPrefix) || !strings.HasPrefix(it.Key, it.Kind+"|") {
					t.Errorf("item %s of kind %s", it.Key, it.Kind)
				}
			}
			if !slices.Equal(keys, tc.wantKeys) {
				t.Fatalf("keys = %q, want %q", keys, tc.wantKeys)
			}
			if len(items) == 0 {
				return
			}
			p, err := Decode(items[0])
			if err != nil {
				t.Fatal(err)
			}
			if p.Project != tc.project || p.FindingID != id || p.Version != 3 || !p.Period.Equal(tc.f.OpenedAt) {
				t.Fatalf("payload = %+v, want project %s, finding %s, version 3", p, tc.project, id)
			}
			if p.Comment != tc.comment {
				t.Fatalf("comment = %q\nwant      %q", p.Comment, tc.comment)
			}
		})
	}
}

// The pipeline takes one planner: delivery.Combined gives it Slack's and
// Jira's items together, in the order given.
func TestCombined(t *testing.T) {
	f := storyOne()
	items := delivery.Combined{delivery.Planner{}, NewPlanner(Config{Enabled: true})}.Plan(f, finding.ChangeAcknowledged, "U0ALICE", "")
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Kind)
	}
	want := []string{"slack.sync", "slack.reply", "slack.sync", "slack.reply", "jira.comment"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds = %q, want %q", kinds, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"disabled needs nothing", Config{}, nil},
		{"complete cloud", Config{Enabled: true, Flavor: "cloud", BaseURL: "https://acme.atlassian.net", Email: "a@b", Token: "t"}, nil},
		{"complete data center", Config{Enabled: true, Flavor: "datacenter", BaseURL: "https://jira.acme.internal", Token: "t", ReopenMode: "new",
			Priorities: map[string]string{"critical": "Blocker"}}, nil},
		{"everything wrong at once", Config{Enabled: true, Flavor: "server", BaseURL: "jira.acme", Labels: []string{"two words"},
			Priorities: map[string]string{"urgent": "P1"}, ReopenMode: "again"},
			[]string{"jira.flavor", "jira.base_url", "jira.api_token", "SECOPS_JIRA_API_TOKEN", "jira.priorities", "jira.labels", "jira.reopen_mode"}},
		{"cloud needs the email", Config{Enabled: true, Flavor: "cloud", BaseURL: "https://acme.atlassian.net", Token: "t"}, []string{"jira.email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, lacks %q", err, w)
				}
			}
		})
	}
}

func TestPriority(t *testing.T) {
	cfg := Config{Priorities: map[string]string{"critical": "Blocker"}}
	tests := []struct {
		sev  finding.Severity
		want string
	}{
		{finding.SeverityCritical, "Blocker"},
		{finding.SeverityHigh, "High"},
		{finding.SeverityMedium, "Medium"},
		{finding.SeverityLow, "Low"},
		{finding.SeverityUnknown, ""},
	}
	for _, tc := range tests {
		if got := cfg.priority(tc.sev); got != tc.want {
			t.Errorf("priority(%s) = %q, want %q", tc.sev, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{45 * time.Second, "45s"},
		{14*time.Minute + 31*time.Second, "14m"},
		{2 * time.Hour, "2h"},
		{2*time.Hour + 5*time.Minute, "2h 5m"},
		{3 * 24 * time.Hour, "3d"},
		{3*24*time.Hour + 4*time.Hour + 59*time.Minute, "3d 4h"},
	}
	for _, tc := range tests {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
