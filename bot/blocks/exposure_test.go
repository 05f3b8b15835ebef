package blocks

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/respond/investigate"
)

// storyOneHolds is story one with what the bucket holds: exports, no
// sensitive data found by Macie yet.
func storyOneHolds() finding.Finding {
	f := storyOne()
	f.Contents = &finding.Contents{
		ReadAt:     utc(time.November, 26, 14, 12, 52),
		Objects:    &finding.Objects{Count: 1204, Bytes: 3_435_973_837, Newest: utc(time.November, 26, 13, 58, 2), Complete: true, Examples: []string{"exports/2026-11-26/sessions.parquet", "exports/2026-11-25/sessions.parquet"}},
		Encryption: "SSE-S3 (AES256)",
		Macie:      &finding.Macie{Enabled: true},
	}
	return f
}

// storyOneRead is story one resolved, and read from outside while it was
// public.
func storyOneRead() finding.Finding {
	f := storyOneResolved()
	f.Contents = storyOneHolds().Contents
	f.Reads = &finding.ReadReview{
		Seq: 1, Since: f.OpenedAt, Until: f.ResolvedEvent.Time.Add(time.Second), ReviewedAt: f.ResolvedAt.Add(5 * time.Minute), Requested: "system",
		Answer: finding.ReadsFound, Summary: "2 principals outside the organisation (anonymous included) read it: 14 calls",
		Readers: []finding.Reader{
			{Principal: "anonymous", Anonymous: true, Count: 12, Actions: map[string]int{"GetObject": 11, "ListObjects": 1},
				SourceIPs: []string{"198.51.100.23", "198.51.100.24"}, Keys: []string{"exports/2026-11-26/sessions.parquet"},
				First: utc(time.November, 26, 14, 15, 2), Last: utc(time.November, 26, 14, 21, 40), Sources: []string{"CloudTrail"}},
			{Principal: "AIDAZ7EXAMPLEOUTSIDE1", Account: "444455556666", Class: finding.TargetUnknown, Count: 2, Actions: map[string]int{"HeadObject": 2},
				SourceIPs: []string{"203.0.113.77"}, First: utc(time.November, 26, 14, 20, 0), Last: utc(time.November, 26, 14, 20, 0), Sources: []string{"CloudTrail"}},
		},
		InsideReads: 312,
		Sources:     []string{"CloudTrail data events of trail org-trail"},
		Notes:       []string{"CloudTrail event history (LookupEvents) keeps management events only, so it cannot show object reads."},
	}
	return f
}

// storyOneUnrecorded is story one resolved where nothing records reads.
func storyOneUnrecorded() finding.Finding {
	f := storyOneResolved()
	f.Contents = &finding.Contents{
		ReadAt: utc(time.November, 26, 14, 12, 52), Encryption: "none",
		Unreadable: []string{"object listing: not readable: missing permission s3:ListBucket", "Macie findings: not readable: missing permission macie2:GetMacieSession"},
	}
	f.Reads = &finding.ReadReview{
		Seq: 2, Since: f.OpenedAt, Until: f.ResolvedEvent.Time.Add(time.Second), ReviewedAt: f.ResolvedAt.Add(time.Hour), Requested: "U024BE7LH",
		Answer: finding.ReadsUnknown, Summary: "cannot tell: data events are not recorded for this bucket",
		Gaps: []string{
			"No trail records data events for s3://acme-analytics-exports: add an event selector on AWS::S3::Object with arn:aws:s3:::acme-analytics-exports/ (read events included) and forward the events to the bot's queue.",
			"Server access logging is off for s3://acme-analytics-exports.",
		},
		Notes: []string{"CloudTrail event history (LookupEvents) keeps management events only, so it cannot show object reads."},
	}
	return f
}

// storyTwoKey is story two with the snapshot's key usable by the unknown
// account.
func storyTwoKey() finding.Finding {
	f := storyTwo()
	f.Contents = &finding.Contents{
		ReadAt: utc(time.November, 27, 3, 4, 41), Source: "DB instance prod-customers", Engine: "postgres", SizeGiB: 500,
		Key: &finding.KeyAccess{
			Case: finding.KeyCustomerUsable, KeyARN: "arn:aws:kms:eu-central-1:111122223333:key/0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50", Manager: "CUSTOMER",
			Users: []finding.KeyUser{{Account: "444455556666", Target: true, Via: []string{`key policy statement "AllowCopyByPartner" (kms:Decrypt, kms:DescribeKey, kms:CreateGrant)`}}},
		},
	}
	return f
}

func TestExposureGolden(t *testing.T) {
	london := mustZone(t, "Europe/London")
	tests := []struct {
		name  string
		build func() (string, []slack.Block)
	}{
		{"finding_bucket_holds", func() (string, []slack.Block) {
			return FindingMessage(storyOneHolds(), FindingOptions{Location: london})
		}},
		{"finding_bucket_read_from_outside", func() (string, []slack.Block) {
			return FindingMessage(storyOneRead(), FindingOptions{Location: london})
		}},
		{"finding_snapshot_key_usable", func() (string, []slack.Block) {
			return FindingMessage(storyTwoKey(), storyTwoOptions(t))
		}},
		{"reply_reads_found", func() (string, []slack.Block) {
			return ThreadReply(finding.ChangeReadsReviewed, storyOneRead(), "system", "", london)
		}},
		{"reply_reads_cannot_tell", func() (string, []slack.Block) {
			return ThreadReply(finding.ChangeReadsReviewed, storyOneUnrecorded(), "U024BE7LH", "", london)
		}},
		{"investigate-bucket-exposure", func() (string, []slack.Block) {
			r := bucketReport()
			read := storyOneRead()
			r.Findings = []finding.Finding{read}
			r.Exposure = investigate.Exposure{Holds: read.Contents, HoldsFrom: read.ID, Reads: read.Reads, ReadsFrom: read.ID}
			return InvestigateReport(r, london)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, blocks := tt.build()
			golden(t, tt.name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

// TestExposureText: each case says what a responder must see, in words.
func TestExposureText(t *testing.T) {
	tests := []struct {
		name string
		f    finding.Finding
		want []string
		not  []string
	}{
		{"an empty bucket says so", func() finding.Finding {
			f := storyOne()
			f.Contents = &finding.Contents{Objects: &finding.Objects{Complete: true}, Macie: &finding.Macie{}}
			return f
		}(), []string{"empty (no objects)", "Amazon Macie is not enabled"}, nil},
		{"a bucket listed in part says at least", func() finding.Finding {
			f := storyOne()
			f.Contents = &finding.Contents{Objects: &finding.Objects{Count: 5000, Bytes: 2048}}
			return f
		}(), []string{"at least 5,000 objects, 2.0 KiB"}, nil},
		{"Macie's findings", func() finding.Finding {
			f := storyOne()
			f.Contents = &finding.Contents{Macie: &finding.Macie{Enabled: true, Findings: 2, Highest: "High", Types: []string{"CREDIT_CARD_NUMBER ×123"}, Objects: []string{"a.csv"}}}
			return f
		}(), []string{"2 sensitive-data findings (highest High): CREDIT_CARD_NUMBER ×123 in `a.csv`"}, []string{"no sensitive-data finding"}},
		{"an unencrypted snapshot is urgent", func() finding.Finding {
			f := storyTwo()
			f.Contents = &finding.Contents{Key: &finding.KeyAccess{Case: finding.KeyUnencrypted}}
			return f
		}(), []string{"*Not encrypted:* whoever it is shared with can copy or restore it."}, nil},
		{"an AWS-managed key makes the share unusable", func() finding.Finding {
			f := storyTwo()
			f.Contents = &finding.Contents{Key: &finding.KeyAccess{Case: finding.KeyAWSManaged, KeyARN: "arn:aws:kms:eu-central-1:111122223333:key/abc"}}
			return f
		}(), []string{"*Not usable outside this account:* AWS-managed key"}, nil},
		{"no contents read, no section", storyTwo(), nil, []string{"What it holds", "Who read it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, blocks := FindingMessage(tt.f, FindingOptions{})
			text := shownText(t, blocks)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("message lacks %q:\n%s", w, text)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(text, n) {
					t.Errorf("message has %q:\n%s", n, text)
				}
			}
		})
	}
}
