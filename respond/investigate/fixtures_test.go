package investigate

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones; CI images may lack a zoneinfo database

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// Story two: BackupManager in payments-prod shares a customer snapshot at
// 03:04 UTC (04:04 in Berlin) on Friday 27 November 2026.
const (
	payments       = "111122223333"
	analytics      = "999988887777"
	unknownAcct    = "444455556666"
	backupManager  = "arn:aws:iam::111122223333:user/BackupManager"
	backupKey      = "AKIAEXAMPLEBACKUP01"
	deployRole     = "arn:aws:iam::111122223333:role/deploy"
	deploySession  = "arn:aws:sts::111122223333:assumed-role/deploy/gh-run-42"
	contractorRole = "arn:aws:iam::999988887777:role/contractor-alice"
	exportsBucket  = "arn:aws:s3:::acme-analytics-exports"
	snapshotID     = "snap-0123456789abcdef0"
	snapshotARN    = "arn:aws:ec2:eu-central-1::snapshot/snap-0123456789abcdef0"
	customerSnap   = "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"
	boto3          = "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.6"
	awsCLI         = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/rds.modify-db-snapshot-attribute"
)

var (
	shareTime = time.Date(2026, time.November, 27, 3, 4, 0, 0, time.UTC)
	// now is when the responder runs the command.
	now = time.Date(2026, time.November, 27, 3, 30, 0, 0, time.UTC)
)

func testOrg() org.Options {
	return org.Options{
		SecOps: org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Teams: []org.TeamOptions{
			{Name: "payments", SlackChannel: "#team-payments", Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00"},
			{Name: "analytics", SlackChannel: "#team-analytics", Timezone: "Europe/London", BusinessHours: "Mon-Fri 09:00-18:00"},
		},
		Accounts: []org.Account{
			{ID: payments, Name: "payments-prod", Team: "payments", Environment: "production"},
			{ID: analytics, Name: "analytics-dev", Team: "analytics", Environment: "dev"},
		},
		Trusted:     map[string]string{"777788889999": "backup-vendor"},
		Contractors: []string{"arn:aws:iam::*:role/contractor-*"},
	}
}

// env is an investigator over a real SQLite store.
type env struct {
	st  *sqlite.Store
	inv *Investigator
	clk *clock.Fake
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(now)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "history.db"), sqlite.Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir, err := org.New(testOrg())
	if err != nil {
		t.Fatal(err)
	}
	enr := enrich.New(dir, st, enrich.Options{Baseline: enrich.DefaultBaseline()})
	return &env{st: st, inv: New(st, dir, enr, clk), clk: clk}
}

func (e *env) add(t testing.TB, evs ...store.Event) {
	t.Helper()
	if _, err := e.st.AddEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

var seq int

// ev builds an event; ids are unique across a test binary.
func ev(at time.Time, actor, actorType, api, resource string, readOnly bool) store.Event {
	seq++
	source, name := splitAPI(api)
	return store.Event{
		EventID: fmt.Sprintf("ev-%06d", seq), Time: at, Account: accountOf(actor), Region: "eu-central-1",
		ActorARN: actor, ActorType: actorType, EventSource: source, EventName: name,
		ResourceARN: resource, ReadOnly: readOnly,
	}
}

// backupManagerHistory is BackupManager's baseline: on the 22 weekdays
// before the share, every hour from 09:00 to 17:00 Berlin time, a
// snapshot listing and a snapshot, from 203.0.113.10 with Boto3; then the
// share and a listing at 03:02 from 198.51.100.77 with the AWS CLI.
func backupManagerHistory() []store.Event {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	var out []store.Event
	days := 0
	for d := shareTime.AddDate(0, 0, -1); days < 22; d = d.AddDate(0, 0, -1) {
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		days++
		y, m, dd := d.In(berlin).Date()
		for h := 9; h < 17; h++ {
			at := time.Date(y, m, dd, h, 10, 0, 0, berlin).UTC()
			snap := fmt.Sprintf("arn:aws:rds:eu-central-1:111122223333:snapshot:auto-%04d-%02d-%02d-%02d", y, m, dd, h)
			for _, e := range []store.Event{
				ev(at, backupManager, "IAMUser", "rds.amazonaws.com:DescribeDBSnapshots", "", true),
				ev(at.Add(5*time.Minute), backupManager, "IAMUser", "rds.amazonaws.com:CreateDBSnapshot", snap, false),
			} {
				e.SourceIP, e.UserAgent, e.AccessKeyID = "203.0.113.10", boto3, backupKey
				out = append(out, e)
			}
		}
	}
	for _, e := range []store.Event{
		ev(shareTime.Add(-2*time.Minute), backupManager, "IAMUser", "rds.amazonaws.com:DescribeDBSnapshots", "", true),
		ev(shareTime, backupManager, "IAMUser", "rds.amazonaws.com:ModifyDBSnapshotAttribute", customerSnap, false),
	} {
		e.SourceIP, e.UserAgent, e.AccessKeyID = "198.51.100.77", awsCLI, backupKey
		out = append(out, e)
	}
	return out
}

// storyTwoFinding is the finding the share raised.
func storyTwoFinding() finding.Finding {
	key := finding.KeyFor("rds-snapshot-shared", payments, "eu-central-1", customerSnap)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "rds-snapshot-shared", Severity: finding.SeverityCritical,
		Status: finding.StatusOpen, Title: "RDS snapshot shared with an unknown account",
		AccountID: payments, AccountName: "payments-prod", Region: "eu-central-1",
		Resource: finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "prod-customers-2026-11-26", ARN: customerSnap},
		Actor:    finding.Actor{ARN: backupManager, Type: "IAMUser", Name: "BackupManager", AccountID: payments, AccessKeyID: backupKey},
		Event:    finding.EventRef{ID: "share", Name: "ModifyDBSnapshotAttribute", Time: shareTime, SourceIP: "198.51.100.77", UserAgent: awsCLI},
		Team:     "payments", OffHours: true, Signals: []finding.Signal{}, Routes: []string{"secops", "team:payments"},
		Targets: []finding.Target{{Account: unknownAcct, Class: finding.TargetUnknown}},
		Count:   1, FirstSeen: shareTime, LastSeen: shareTime, DetectedAt: shareTime.Add(38 * time.Second), OpenedAt: shareTime,
	}
}

// otherFinding involves neither BackupManager nor its snapshot.
func otherFinding() finding.Finding {
	key := finding.KeyFor("s3-bucket-public", analytics, "eu-west-1", exportsBucket)
	at := shareTime.Add(-20 * time.Hour)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "s3-bucket-public", Severity: finding.SeverityHigh,
		Status: finding.StatusOpen, Title: "S3 bucket made public", AccountID: analytics, Region: "eu-west-1",
		Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: "acme-analytics-exports", ARN: exportsBucket},
		Actor:    finding.Actor{ARN: contractorRole, Type: "AssumedRole", Name: "contractor-alice", AccountID: analytics, Contractor: true},
		Event:    finding.EventRef{ID: "policy", Name: "PutBucketPolicy", Time: at},
		Signals:  []finding.Signal{}, Routes: []string{"secops"}, Count: 1, FirstSeen: at, LastSeen: at, OpenedAt: at,
	}
}

// seedStory fills history with story two and a few other actors.
func seedStory(t testing.TB, e *env) {
	t.Helper()
	e.add(t, backupManagerHistory()...)
	var more []store.Event
	for i := range 6 {
		at := now.Add(-time.Duration(i+1) * 7 * time.Hour)
		d := ev(at, deployRole, "AssumedRole", "ecs.amazonaws.com:UpdateService", "arn:aws:ecs:eu-central-1:111122223333:service/web", false)
		d.AccessKeyID = fmt.Sprintf("ASIADEPLOY%010d", i)
		more = append(more, d)
	}
	for i := range 4 {
		at := shareTime.Add(-time.Duration(i+19) * time.Hour)
		c := ev(at, contractorRole, "AssumedRole", "s3.amazonaws.com:GetBucketPolicy", exportsBucket, true)
		if i == 0 {
			c = ev(at, contractorRole, "AssumedRole", "s3.amazonaws.com:PutBucketPolicy", exportsBucket, false)
		}
		c.Account = analytics
		more = append(more, c)
	}
	s := ev(now.Add(-3*24*time.Hour), "arn:aws:iam::999988887777:user/ops", "IAMUser", "ec2.amazonaws.com:ModifySnapshotAttribute", snapshotARN, false)
	more = append(more, s)
	e.add(t, more...)
	ctx := context.Background()
	for _, f := range []finding.Finding{storyTwoFinding(), otherFinding()} {
		if err := e.st.UpsertFinding(ctx, f, store.FindingEvent{Status: f.Status, Actor: "system"}); err != nil {
			t.Fatal(err)
		}
	}
}
