package investigate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// countIn counts the fixture events in [since, until) that keep returns
// true for.
func countIn(evs []store.Event, since, until time.Time, keep func(store.Event) bool) int {
	n := 0
	for _, e := range evs {
		if !e.Time.Before(since) && e.Time.Before(until) && keep(e) {
			n++
		}
	}
	return n
}

func findingIDs(fs []finding.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestInvestigateTargets(t *testing.T) {
	e := newEnv(t)
	seedStory(t, e)
	history := backupManagerHistory()
	windowStart := now.Truncate(time.Second).Add(time.Second).Add(-commands.DefaultSince)
	windowEnd := now.Add(time.Second)
	bmInWindow := countIn(history, windowStart, windowEnd, func(store.Event) bool { return true })
	storyID, otherID := storyTwoFinding().ID, otherFinding().ID

	tests := []struct {
		name string
		q    Query
		// want
		arn         string
		typ         string
		account     string
		accountName string
		found       bool
		total       int
		firstAPI    string
		findings    []string
		contractor  bool
		class       finding.TargetClass
		note        string
	}{
		{
			name: "user name resolves to the account with history",
			q:    Query{Kind: commands.TargetUser, Value: "BackupManager"},
			arn:  backupManager, typ: "IAMUser", account: payments, accountName: "payments-prod", found: true,
			total: bmInWindow, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
		},
		{
			name: "user ARN",
			q:    Query{Kind: commands.TargetARN, Value: backupManager},
			arn:  backupManager, typ: "IAMUser", account: payments, accountName: "payments-prod", found: true,
			total: bmInWindow, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
		},
		{
			name: "session ARN maps to its role",
			q:    Query{Kind: commands.TargetARN, Value: deploySession},
			arn:  deployRole, typ: "AssumedRole", account: payments, accountName: "payments-prod", found: true,
			total: 6, firstAPI: "UpdateService", findings: []string{},
			note: "every session of " + deployRole,
		},
		{
			name: "contractor role is flagged",
			q:    Query{Kind: commands.TargetARN, Value: "arn:aws:sts::999988887777:assumed-role/contractor-alice/alice@vendor.example"},
			arn:  contractorRole, typ: "AssumedRole", account: analytics, accountName: "analytics-dev", found: true,
			total: 4, firstAPI: "PutBucketPolicy", findings: []string{otherID}, contractor: true,
		},
		{
			name: "access key resolves to its user",
			q:    Query{Kind: commands.TargetAccessKey, Value: backupKey},
			arn:  backupManager, typ: "IAMUser", account: payments, accountName: "payments-prod", found: true,
			total: bmInWindow, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
		},
		{
			name:    "own account",
			q:       Query{Kind: commands.TargetAccount, Value: payments},
			account: payments, accountName: "payments-prod", found: true,
			total: bmInWindow + 6, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
			class: finding.TargetKnown,
		},
		{
			name:    "unknown account a snapshot was shared with",
			q:       Query{Kind: commands.TargetAccount, Value: unknownAcct},
			account: unknownAcct, found: false, findings: []string{storyID}, class: finding.TargetUnknown,
		},
		{
			name: "bucket name maps to the bucket ARN",
			q:    Query{Kind: commands.TargetResource, Value: "acme-analytics-exports"},
			arn:  exportsBucket, typ: "AWS::S3::Bucket", account: analytics, accountName: "analytics-dev", found: true,
			total: 4, firstAPI: "PutBucketPolicy", findings: []string{otherID},
		},
		{
			name: "snapshot ID maps to its EC2 ARN in the right region",
			q:    Query{Kind: commands.TargetResource, Value: snapshotID},
			arn:  snapshotARN, typ: "AWS::EC2::Snapshot", account: analytics, accountName: "analytics-dev", found: true,
			total: 1, firstAPI: "ModifySnapshotAttribute", findings: []string{},
		},
		{
			name: "resource ARN",
			q:    Query{Kind: commands.TargetResource, Value: customerSnap},
			arn:  customerSnap, typ: "AWS::RDS::DBSnapshot", account: payments, accountName: "payments-prod", found: true,
			total: 1, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
		},
		{
			name: "unknown user",
			q:    Query{Kind: commands.TargetUser, Value: "Nobody"},
			arn:  "arn:aws:iam::111122223333:user/Nobody", typ: "IAMUser", account: payments, accountName: "payments-prod",
			found: false, findings: []string{}, note: "No IAM user Nobody has any history in the 2 configured accounts",
		},
		{
			name: "a shorter window",
			q:    Query{Kind: commands.TargetUser, Value: "BackupManager", Since: 12 * time.Hour},
			arn:  backupManager, typ: "IAMUser", account: payments, accountName: "payments-prod", found: true,
			total: 2, firstAPI: "ModifyDBSnapshotAttribute", findings: []string{storyID},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.inv.Investigate(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			s := r.Subject
			if s.ARN != tc.arn || s.Type != tc.typ || s.AccountID != tc.account || s.AccountName != tc.accountName || s.Found != tc.found {
				t.Errorf("subject = %+v\nwant ARN %q, type %q, account %q (%q), found %v", s, tc.arn, tc.typ, tc.account, tc.accountName, tc.found)
			}
			if s.Contractor != tc.contractor {
				t.Errorf("contractor = %v, want %v", s.Contractor, tc.contractor)
			}
			if s.Class != tc.class {
				t.Errorf("class = %q, want %q", s.Class, tc.class)
			}
			if r.Total != tc.total {
				t.Errorf("total = %d, want %d", r.Total, tc.total)
			}
			if tc.firstAPI != "" && (len(r.ByAPI) == 0 || r.ByAPI[0].API != tc.firstAPI) {
				t.Errorf("APIs = %+v, want %s first", r.ByAPI, tc.firstAPI)
			}
			sum := 0
			for _, g := range r.ByAPI {
				sum += g.Count
			}
			if !r.Truncated && sum != r.Total {
				t.Errorf("API counts add up to %d, total is %d", sum, r.Total)
			}
			if got := findingIDs(r.Findings); !slices.Equal(got, tc.findings) {
				t.Errorf("findings = %v, want %v", got, tc.findings)
			}
			if !strings.Contains(r.Note, tc.note) {
				t.Errorf("note = %q, want it to mention %q", r.Note, tc.note)
			}
			if tc.q.Since > 0 && r.Window.Duration() != tc.q.Since {
				t.Errorf("window = %v, want %v", r.Window.Duration(), tc.q.Since)
			}
		})
	}
}

func TestInvestigateStoryTwo(t *testing.T) {
	e := newEnv(t)
	seedStory(t, e)
	r, err := e.inv.Investigate(context.Background(), Query{Kind: commands.TargetUser, Value: "BackupManager"})
	if err != nil {
		t.Fatal(err)
	}

	reasons := map[string]string{}
	for _, s := range r.Unusual {
		if _, dup := reasons[s.Name]; dup {
			t.Errorf("signal %s reported twice: %+v", s.Name, r.Unusual)
		}
		reasons[s.Name] = s.Reason
	}
	for name, want := range map[string][]string{
		enrich.SignalUnusualHour:  {"ModifyDBSnapshotAttribute", "04:04 local (Europe/Berlin)", "0% of this actor's calls are at this hour"},
		enrich.SignalNewSourceIP:  {"198.51.100.77", "usual 203.0.113.10"},
		enrich.SignalNewUserAgent: {"first use of aws-cli", "usual boto3"},
		enrich.SignalNewAPI:       {"first call to ModifyDBSnapshotAttribute"},
	} {
		got, ok := reasons[name]
		if !ok {
			t.Errorf("no %s signal; got %+v", name, r.Unusual)
			continue
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s reason %q does not say %q", name, got, w)
			}
		}
	}
	if _, ok := reasons[enrich.SignalNewRegion]; ok {
		t.Errorf("eu-central-1 is BackupManager's usual region, yet flagged: %+v", r.Unusual)
	}
	if strings.Contains(reasons[enrich.SignalNewAPI], "DescribeDBSnapshots") {
		t.Errorf("DescribeDBSnapshots is in the baseline, yet flagged new: %q", reasons[enrich.SignalNewAPI])
	}

	var share *APIGroup
	for i := range r.ByAPI {
		if r.ByAPI[i].API == "ModifyDBSnapshotAttribute" {
			share = &r.ByAPI[i]
		}
	}
	if share == nil || !share.Write || share.Count != 1 || !share.First.Equal(shareTime) || share.Source != "rds.amazonaws.com" {
		t.Errorf("share in timeline = %+v, want one write at %v", share, shareTime)
	}
	for _, g := range r.ByAPI {
		if g.API == "DescribeDBSnapshots" && g.Write {
			t.Errorf("DescribeDBSnapshots listed as a write")
		}
	}
	if len(r.Resources) == 0 || r.Resources[0].ARN != customerSnap || r.Resources[0].Writes != 1 || !r.Resources[0].Last.Equal(shareTime) {
		t.Errorf("resources = %+v, want the shared snapshot first as a write", r.Resources)
	}
	for i, res := range r.Resources {
		if res.Writes == 0 && i+1 < len(r.Resources) && r.Resources[i+1].Writes > 0 {
			t.Errorf("resource %s (read only) listed before a written one", res.ARN)
		}
	}
	if got := findingIDs(r.Findings); !slices.Equal(got, []string{storyTwoFinding().ID}) {
		t.Errorf("findings = %v, want the share", got)
	}
	if !slices.Equal(r.Subject.AccessKeys, []string{backupKey}) {
		t.Errorf("access keys = %v", r.Subject.AccessKeys)
	}
}

// TestInvestigateQuietActor: an actor whose baseline fits its recent calls
// raises nothing.
func TestInvestigateQuietActor(t *testing.T) {
	e := newEnv(t)
	hist := backupManagerHistory()
	e.add(t, hist[:len(hist)-2]...) // without the 03:xx calls
	// Friday 27 November, 10:10 Berlin: a usual call.
	e.clk.Set(time.Date(2026, time.November, 27, 9, 30, 0, 0, time.UTC))
	usual := ev(time.Date(2026, time.November, 27, 9, 10, 0, 0, time.UTC), backupManager, "IAMUser", "rds.amazonaws.com:DescribeDBSnapshots", "", true)
	usual.SourceIP, usual.UserAgent, usual.AccessKeyID = "203.0.113.10", boto3, backupKey
	e.add(t, usual)
	r, err := e.inv.Investigate(context.Background(), Query{Kind: commands.TargetUser, Value: "BackupManager"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Unusual) != 0 {
		t.Errorf("unusual = %+v, want none", r.Unusual)
	}
	if r.Unusual == nil {
		t.Errorf("unusual is nil; want an empty list")
	}
}

func TestInvestigateTruncates(t *testing.T) {
	e := newEnv(t)
	const busy = "arn:aws:iam::111122223333:role/busy"
	var evs []store.Event
	apis, resources := MaxAPIs+15, MaxResources+10
	for i := range sampleLimit + 100 {
		at := now.Add(-time.Duration(i+1) * time.Minute)
		api := fmt.Sprintf("ec2.amazonaws.com:Describe%02d", i%apis)
		res := fmt.Sprintf("arn:aws:ec2:eu-central-1:111122223333:instance/i-%02d", i%resources)
		evs = append(evs, ev(at, busy, "AssumedRole", api, res, i%3 != 0))
	}
	e.add(t, evs...)

	t.Run("principal counts are exact, lists are cut with a note", func(t *testing.T) {
		r, err := e.inv.Investigate(context.Background(), Query{Kind: commands.TargetARN, Value: busy})
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != len(evs) || r.APIs != apis || len(r.ByAPI) != MaxAPIs || len(r.Resources) != MaxResources || !r.Truncated {
			t.Errorf("total %d APIs %d/%d resources %d truncated %v", r.Total, len(r.ByAPI), r.APIs, len(r.Resources), r.Truncated)
		}
		for _, want := range []string{
			fmt.Sprintf("Showing the %d most recently called of %d APIs.", MaxAPIs, apis),
			fmt.Sprintf("Showing %d of %d resources touched.", MaxResources, resources),
			"Resources are from the most recent 2,000 of 2,100 events.",
		} {
			if !strings.Contains(r.Note, want) {
				t.Errorf("note %q lacks %q", r.Note, want)
			}
		}
	})
	t.Run("account counts say they are a sample", func(t *testing.T) {
		r, err := e.inv.Investigate(context.Background(), Query{Kind: commands.TargetAccount, Value: payments})
		if err != nil {
			t.Fatal(err)
		}
		if r.Total != sampleLimit || !r.Truncated || !strings.Contains(r.Note, "Counted from the most recent 2,000 events only") {
			t.Errorf("total %d truncated %v note %q", r.Total, r.Truncated, r.Note)
		}
	})
}

func TestInvestigateNoTarget(t *testing.T) {
	e := newEnv(t)
	if _, err := e.inv.Investigate(context.Background(), Query{}); !errors.Is(err, ErrNoTarget) {
		t.Errorf("err = %v, want ErrNoTarget", err)
	}
}

func TestPrincipalARN(t *testing.T) {
	tests := []struct{ in, want string }{
		{deploySession, deployRole},
		{"arn:aws-us-gov:sts::111122223333:assumed-role/ops/jane", "arn:aws-us-gov:iam::111122223333:role/ops"},
		{backupManager, backupManager},
		{"arn:aws:sts::111122223333:federated-user/bob", "arn:aws:sts::111122223333:federated-user/bob"},
		{"arn:aws:sts::111122223333:assumed-role/", "arn:aws:sts::111122223333:assumed-role/"},
		{"not an arn", "not an arn"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := PrincipalARN(tc.in); got != tc.want {
				t.Errorf("PrincipalARN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestResourceCandidates(t *testing.T) {
	tests := []struct {
		name, in  string
		first     string
		last      string
		count     int
		notBucket bool
	}{
		{"arn as is", customerSnap, customerSnap, customerSnap, 1, false},
		{"bucket", "acme-analytics-exports", exportsBucket, "acme-analytics-exports", 2, false},
		{"snapshot", snapshotID, "arn:aws:ec2:us-east-1::snapshot/" + snapshotID, snapshotID, len(regions) + 1, false},
		{"image", "ami-0abc1234", "arn:aws:ec2:us-east-1::image/ami-0abc1234", "ami-0abc1234", len(regions) + 1, false},
		{"not a bucket name", "Customer_DB", "Customer_DB", "Customer_DB", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ResourceCandidates(tc.in)
			if len(got) != tc.count || got[0] != tc.first || got[len(got)-1] != tc.last {
				t.Errorf("candidates = %v", got)
			}
		})
	}
}
