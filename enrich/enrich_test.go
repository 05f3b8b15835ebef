package enrich

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// fakeHistory answers ActorStats from a fixed summary, recording the window
// it was asked for.
type fakeHistory struct {
	stats        store.ActorStats
	since, until time.Time
}

func (h *fakeHistory) ActorStats(_ context.Context, _ string, since, until time.Time) (store.ActorStats, error) {
	h.since, h.until = since, until
	return h.stats, nil
}

func backupManagerBaseline() store.ActorStats {
	st := store.ActorStats{
		Total: 412, Days: 22,
		SourceIPs:  map[string]store.ValueStats{"203.0.113.10": {Count: 412}},
		UserAgents: map[string]store.ValueStats{"Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.6": {Count: 400}, "Boto3/1.33.0 Python/3.11": {Count: 12}},
		Regions:    map[string]store.ValueStats{"eu-west-1": {Count: 412}},
		APIs:       map[string]store.ValueStats{"CreateDBSnapshot": {Count: 200}, "DescribeDBSnapshots": {Count: 200}, "ModifyDBSnapshotAttribute": {Count: 12}},
	}
	// 08:00–16:00 UTC is 09:00–17:00 in Berlin in winter.
	for h := 8; h < 16; h++ {
		st.ByHourUTC[h] = 50
	}
	st.ByHourUTC[16] = 12
	return st
}

func storyTwoRecord(t *testing.T) *cloudtrail.Record {
	t.Helper()
	raw := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEBACKUP","arn":"arn:aws:iam::111122223333:user/BackupManager","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEBACKUP01","userName":"BackupManager"},
	"eventTime":"2026-11-27T03:04:00Z","eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","awsRegion":"eu-west-1",
	"sourceIPAddress":"198.51.100.77","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/rds.modify-db-snapshot-attribute",
	"requestParameters":{"dBSnapshotIdentifier":"prod-customers-2026-11-26","attributeName":"restore","valuesToAdd":["444455556666"]},
	"eventID":"4d2b1c2e-8f51-4f0e-9a55-0c1d2e3f4a5b","recipientAccountId":"111122223333"}`
	var r cloudtrail.Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func newEnricher(t *testing.T, h History) *Enricher {
	t.Helper()
	return newEnricherWith(t, h, Options{Baseline: DefaultBaseline()})
}

func newEnricherWith(t *testing.T, h History, opts Options) *Enricher {
	t.Helper()
	dir, err := org.New(org.Options{
		SecOps: org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Teams: []org.TeamOptions{
			{Name: "payments", SlackChannel: "#team-payments", Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00"},
			{Name: "data", SlackChannel: "#team-data", Timezone: "Asia/Tokyo", BusinessHours: "Mon-Fri 09:00-18:00"},
		},
		Accounts: []org.Account{{ID: "111122223333", Name: "payments-prod", Team: "payments", Environment: "production"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(dir, h, opts)
}

// TestTeamFromTagsStays checks that enriching a finding again (on reopen)
// keeps the team its resource's tags named, and judges off hours by that
// team's schedule.
func TestTeamFromTagsStays(t *testing.T) {
	tests := []struct {
		name         string
		team, tag    string
		wantTeam     string
		wantOffHours bool
	}{
		{"the account's team", "", "", "payments", true},
		{"a team named by a tag stays", "data", "owner=data", "data", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnricher(t, &fakeHistory{stats: backupManagerBaseline()})
			f := finding.Finding{AccountID: "111122223333", Rule: "snapshot-shared-external", Team: tc.team, TeamTag: tc.tag}
			// Story two happens at 03:04 in Berlin, 11:04 in Tokyo.
			if err := e.Enrich(context.Background(), &f, storyTwoRecord(t)); err != nil {
				t.Fatal(err)
			}
			if f.Team != tc.wantTeam || f.OffHours != tc.wantOffHours {
				t.Errorf("team %q off hours %v, want %q %v", f.Team, f.OffHours, tc.wantTeam, tc.wantOffHours)
			}
		})
	}
}

func TestSeverityOverride(t *testing.T) {
	tests := []struct {
		name       string
		severities map[string]finding.Severity
		want       finding.Severity
	}{
		{"the rule's default", nil, finding.SeverityCritical},
		{"overridden", map[string]finding.Severity{"snapshot-shared-external": finding.SeverityLow}, finding.SeverityLow},
		{"another rule overridden", map[string]finding.Severity{"snapshot-public": finding.SeverityLow}, finding.SeverityCritical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnricherWith(t, &fakeHistory{stats: backupManagerBaseline()}, Options{Baseline: DefaultBaseline(), Severities: tc.severities})
			f := finding.Finding{AccountID: "111122223333", Rule: "snapshot-shared-external", Severity: finding.SeverityCritical}
			if err := e.Enrich(context.Background(), &f, storyTwoRecord(t)); err != nil {
				t.Fatal(err)
			}
			if f.Severity != tc.want {
				t.Errorf("severity = %s, want %s", f.Severity, tc.want)
			}
		})
	}
}

func TestBaselineValidate(t *testing.T) {
	if ps := DefaultBaseline().Validate(); len(ps) > 0 {
		t.Fatalf("the default baseline is refused: %v", ps)
	}
	ps := Baseline{UnusualHourShare: 1}.Validate().Err()
	for _, want := range []string{"window: must be positive", "min_days: must be at least 1", "unusual_hour_share: must be between 0 and 1 (e.g. 0.03 for 3%)"} {
		if ps == nil || !strings.Contains(ps.Error(), want) {
			t.Errorf("problems %v lack %q", ps, want)
		}
	}
}

func TestStoryTwoSignals(t *testing.T) {
	h := &fakeHistory{stats: backupManagerBaseline()}
	e := newEnricher(t, h)
	rec := storyTwoRecord(t)
	f := finding.Finding{AccountID: "111122223333", Rule: "snapshot-shared-external"}
	if err := e.Enrich(context.Background(), &f, rec); err != nil {
		t.Fatal(err)
	}
	if f.Team != "payments" || f.Environment != "production" || !f.OffHours {
		t.Fatalf("team=%q env=%q off_hours=%v", f.Team, f.Environment, f.OffHours)
	}
	got := map[string]string{}
	for _, s := range f.Signals {
		got[s.Name] = s.Reason
	}
	want := map[string]string{
		SignalUnusualHour:  "04:04 local (Europe/Berlin); 0% of this actor's calls are at this hour",
		SignalNewSourceIP:  "first call from 198.51.100.77 (network 198.51.100.0/24 never seen); usual 203.0.113.10 (412 calls in 30 days)",
		SignalNewUserAgent: "first use of aws-cli",
	}
	for name, reason := range want {
		if !strings.Contains(got[name], reason) {
			t.Errorf("signal %s = %q, want it to contain %q", name, got[name], reason)
		}
	}
	if _, ok := got[SignalNewAPI]; ok {
		t.Errorf("ModifyDBSnapshotAttribute is in the baseline, but new-api was raised: %q", got[SignalNewAPI])
	}
	if _, ok := got[SignalNewRegion]; ok {
		t.Errorf("eu-west-1 is in the baseline, but new-region was raised")
	}
	if want := rec.EventTime.Add(-24 * time.Hour); !h.until.Equal(want) {
		t.Errorf("baseline ends at %v, want %v (settle period excluded)", h.until, want)
	}
}

func TestNoSignalWithoutBaseline(t *testing.T) {
	st := backupManagerBaseline()
	st.Days = 3
	e := newEnricher(t, &fakeHistory{stats: st})
	f := finding.Finding{AccountID: "111122223333"}
	if err := e.Enrich(context.Background(), &f, storyTwoRecord(t)); err != nil {
		t.Fatal(err)
	}
	if len(f.Signals) != 0 {
		t.Fatalf("signals with only 3 days of history: %+v", f.Signals)
	}
}

func TestUAFamily(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64", "aws-cli"},
		{"aws-cli/1.18.69 Python/3.8", "aws-cli"},
		{"Boto3/1.34.11 md/Botocore#1.34.11", "boto3"},
		{"console.amazonaws.com", "console"},
		{"[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]", "console"},
		{"APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0", "terraform"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "browser"},
		{"cloudtrail.amazonaws.com", "aws-service"},
		{"", "unknown"},
	}
	for _, tc := range tests {
		if got := UAFamily(tc.ua); got != tc.want {
			t.Errorf("UAFamily(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}
