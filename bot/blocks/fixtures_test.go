package blocks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones; CI images may lack a zoneinfo database

	"github.com/secops-bot/secops-bot/finding"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// utc is a fixture time in UTC.
func utc(month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(2026, month, day, hour, min, sec, 0, time.UTC)
}

// storyOne is a bucket made public with a role assigned to a contractor.
func storyOne() finding.Finding {
	before := `{"Version":"2012-10-17","Statement":[{"Sid":"AnalyticsRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:role/analytics-reader"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::acme-analytics-exports","arn:aws:s3:::acme-analytics-exports/*"]}]}`
	after := `{"Version":"2012-10-17","Statement":[{"Sid":"AnalyticsRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:role/analytics-reader"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::acme-analytics-exports","arn:aws:s3:::acme-analytics-exports/*"]},{"Sid":"ShareWithVendor","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-analytics-exports/*"}]}`
	event := utc(time.November, 26, 14, 12, 9)
	key := finding.KeyFor("s3-bucket-public", "222233334444", "eu-west-1", "arn:aws:s3:::acme-analytics-exports")
	return finding.Finding{
		ID:          finding.IDFor(key),
		Key:         key,
		Rule:        "s3-bucket-public",
		Severity:    finding.SeverityHigh,
		Status:      finding.StatusOpen,
		Title:       "S3 bucket made public",
		Detail:      `The bucket policy of acme-analytics-exports grants s3:GetObject to Principal "*": anyone on the internet can read its objects.`,
		AccountID:   "222233334444",
		AccountName: "analytics-dev",
		Region:      "eu-west-1",
		Resource:    finding.Resource{Type: "AWS::S3::Bucket", ID: "acme-analytics-exports", ARN: "arn:aws:s3:::acme-analytics-exports"},
		Actor: finding.Actor{
			ARN:         "arn:aws:sts::222233334444:assumed-role/contractor-alice/alice@vendor.example",
			Type:        "AssumedRole",
			Name:        "contractor-alice",
			AccountID:   "222233334444",
			SessionName: "alice@vendor.example",
			MFA:         "no",
			Contractor:  true,
		},
		Event: finding.EventRef{
			ID: "6f1c0f3e-7d0a-4b8e-9a53-1f0e6c2b7a11", Name: "PutBucketPolicy", Source: "s3.amazonaws.com",
			Time: event, SourceIP: "198.51.100.23",
			UserAgent: "[aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off command/s3api.put-bucket-policy]",
		},
		Team:        "analytics",
		Environment: "dev",
		Signals:     []finding.Signal{},
		Routes:      []string{"secops", "team:analytics"},
		Vectors:     []string{"policy"},
		Change:      &finding.Change{Summary: "bucket policy replaced", Before: json.RawMessage(before), After: json.RawMessage(after)},
		Count:       1,
		FirstSeen:   event,
		LastSeen:    event,
		DetectedAt:  event.Add(41 * time.Second),
		OpenedAt:    event,
	}
}

// storyOneResolved is story one after the contractor fixed the policy.
func storyOneResolved() finding.Finding {
	f := storyOne()
	fixed := utc(time.November, 26, 14, 26, 40)
	f.Status = finding.StatusResolved
	f.Vectors = nil
	f.ResolvedAt = fixed
	f.ResolvedBy = f.Actor.ARN
	f.ResolvedEvent = &finding.EventRef{ID: "0b7e", Name: "PutBucketPolicy", Source: "s3.amazonaws.com", Time: fixed, SourceIP: "198.51.100.23"}
	f.ResolveReason = "the bucket policy no longer grants access to everyone"
	f.OpenFor = fixed.Sub(f.OpenedAt)
	return f
}

// storyTwo is a customer database snapshot shared with an unknown account
// at 3 a.m.
func storyTwo() finding.Finding {
	event := utc(time.November, 27, 3, 4, 0)
	arn := "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"
	key := finding.KeyFor("rds-snapshot-shared", "111122223333", "eu-central-1", arn)
	return finding.Finding{
		ID:          finding.IDFor(key),
		Key:         key,
		Rule:        "rds-snapshot-shared",
		Severity:    finding.SeverityCritical,
		Status:      finding.StatusOpen,
		Title:       "RDS snapshot shared with an unknown account",
		Detail:      "ModifyDBSnapshotAttribute added 444455556666 to the restore attribute; that account is neither in the organisation nor on the approved list.",
		AccountID:   "111122223333",
		AccountName: "payments-prod",
		Region:      "eu-central-1",
		Resource:    finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "prod-customers-2026-11-26", ARN: arn},
		Actor: finding.Actor{
			ARN:         "arn:aws:iam::111122223333:user/BackupManager",
			Type:        "IAMUser",
			Name:        "BackupManager",
			AccountID:   "111122223333",
			AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		},
		Event: finding.EventRef{
			ID: "c2a9d3b4-4f2e-4d61-8f0a-5a1e7e9b2c44", Name: "ModifyDBSnapshotAttribute", Source: "rds.amazonaws.com",
			Time: event, SourceIP: "203.0.113.77",
			UserAgent: "Boto3/1.34.2 md/Botocore#1.34.2 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.1 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.2",
		},
		Team:        "payments",
		Environment: "prod",
		OffHours:    true,
		Signals: []finding.Signal{
			{Name: "unusual-hour", Reason: "04:04 local (Europe/Berlin); 0% of this actor's calls are at this hour, 92% between 08:00 and 18:00"},
			{Name: "new-source-ip", Reason: "first call from 203.0.113.77 (network 203.0.113.0/24 never seen); usual 192.0.2.10 (1840 calls in 30 days)"},
			{Name: "new-user-agent", Reason: "first use of Boto3 (Boto3/1.34.2 md/Botocore#1.34.2 ua/2.0 os/linux#6.1.0 md/arch#x8…); usual aws-backup (1840 calls in 30 days)"},
		},
		Routes: []string{"secops", "team:payments"},
		Targets: []finding.Target{
			{Account: "555566667777", Class: finding.TargetKnown, Name: "payments-dr"},
			{Account: "444455556666", Class: finding.TargetUnknown},
		},
		Change: &finding.Change{
			Summary: "restore attribute: added 444455556666",
			Before:  json.RawMessage(`["555566667777"]`),
			After:   json.RawMessage(`["555566667777","444455556666"]`),
		},
		Count:      1,
		FirstSeen:  event,
		LastSeen:   event,
		DetectedAt: event.Add(38 * time.Second),
		OpenedAt:   event,
	}
}

func storyTwoOptions(t testing.TB) FindingOptions {
	return FindingOptions{
		Location:        mustZone(t, "Europe/Berlin"),
		TicketURL:       "https://jira.example.com/browse/SEC-812",
		TicketKey:       "SEC-812",
		ThreadPermalink: "https://example.slack.com/archives/C0PAYMENTS/p1764212680000100",
		Channel:         "C0PAYMENTS",
	}
}

// storyTwoAcked is story two after the on-call responder acknowledged it,
// with a repeat of the share.
func storyTwoAcked() finding.Finding {
	f := storyTwo()
	f.AckedBy = "U024BE7LH"
	f.AckedAt = utc(time.November, 27, 3, 9, 30)
	f.Count = 3
	f.LastSeen = utc(time.November, 27, 3, 21, 0)
	return f
}

// storyTwoContained is story two after the responder unshared the
// snapshot and locked the user: both actions shown on the message.
func storyTwoContained() finding.Finding {
	f := storyTwoAcked()
	f.Containments = []finding.Containment{
		{Record: "C-0A1B2C3D4E5F", Action: "snapshot-unshare", Title: "Unshare the snapshot", Target: "AWS::RDS::DBSnapshot prod-customers-2026-11-26 in 111122223333 (eu-central-1)",
			By: "U024BE7LH", At: utc(time.November, 27, 3, 14, 5), Summary: "removed 444455556666 from the snapshot's restore attribute"},
		{Record: "C-5F4E3D2C1B0A", Action: "iam-user-restrict-ip", Title: "Lock the user to the corporate network",
			By: "U024BE7LH", At: utc(time.November, 27, 3, 16, 40)},
	}
	return f
}

// suppressedBucket is a public bucket that matches the account's expected
// public bucket pattern.
func suppressedBucket() finding.Finding {
	f := storyOne()
	f.Resource = finding.Resource{Type: "AWS::S3::Bucket", ID: "acme-public-website", ARN: "arn:aws:s3:::acme-public-website"}
	f.ID = finding.IDFor(finding.KeyFor(f.Rule, f.AccountID, f.Region, f.Resource.ARN))
	f.Title = "S3 bucket made public"
	f.Detail = "The bucket policy of acme-public-website grants s3:GetObject to everyone."
	f.Status = finding.StatusSuppressed
	f.SuppressedReason = `bucket acme-public-website matches expected_public_buckets pattern "acme-public-*" of account 222233334444`
	f.Actor.Contractor = false
	f.Actor.ARN = "arn:aws:sts::222233334444:assumed-role/web-deploy/github-actions"
	f.Actor.Name = "web-deploy"
	f.Actor.SessionName, f.Actor.MFA = "github-actions", ""
	f.Change = &finding.Change{Summary: "bucket policy replaced", After: json.RawMessage(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`)}
	return f
}

// huge has everything too big: a policy of hundreds of statements, forty
// signals, dozens of targets, a long user agent and hostile text.
func huge() finding.Finding {
	f := storyTwo()
	f.Title = strings.Repeat("Very long rule title that keeps going ", 6)
	f.Detail = "Someone wrote <!channel> & <https://evil.example|click> into a tag; " + strings.Repeat("detail ", 600)
	f.Actor.Name = "<!here> automation"
	f.Actor.Contractor = true
	f.Event.UserAgent = strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 20)
	var stmts []string
	for i := 0; i < 200; i++ {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"Stmt%03d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%012d:root"},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::bucket-<%d>/*"}`, i, 100000000000+i, i))
	}
	policy := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	f.Change = &finding.Change{Summary: "bucket policy replaced", Before: json.RawMessage(policy), After: json.RawMessage(policy[:len(policy)-2] + `,{"Effect":"Allow","Principal":"*","Action":"s3:*"}]}`)}
	f.Signals = nil
	for i := 0; i < 40; i++ {
		f.Signals = append(f.Signals, finding.Signal{Name: fmt.Sprintf("signal-%02d", i), Reason: strings.Repeat(fmt.Sprintf("reason %d ", i), 12)})
	}
	f.Targets = nil
	for i := 0; i < 120; i++ {
		class := finding.TargetKnown
		if i%3 == 0 {
			class = finding.TargetUnknown
		}
		f.Targets = append(f.Targets, finding.Target{Account: fmt.Sprintf("%012d", 900000000000+i), Class: class, Name: fmt.Sprintf("account-%d", i)})
	}
	f.Targets = append(f.Targets, finding.Target{Account: "all", Class: finding.TargetPublic})
	f.Count = 17
	f.LastSeen = utc(time.November, 27, 5, 44, 0)
	return f
}
