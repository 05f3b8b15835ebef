package tickets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/providers/jira"
)

// TestDescribeSigmaFinding: a ticket for a Sigma finding names the rule's
// file and shows when the rule is expected to fire and its references.
func TestDescribeSigmaFinding(t *testing.T) {
	event := time.Date(2026, 11, 27, 15, 21, 9, 0, time.UTC)
	f := finding.Finding{
		ID: "F-3C1A9E20B7", Rule: "5508b63f-3026-41b3-a928-53165de57a31", Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		Title:     "KMS key scheduled for deletion",
		Detail:    "A KMS key was scheduled for deletion. When the waiting period ends, the key and everything encrypted under it are lost for good; until then the deletion can be cancelled.",
		AccountID: "111122223333", AccountName: "payments-prod", Region: "eu-west-1", Team: "payments",
		Resource: finding.Resource{Type: "AWS::KMS::Key", ID: "1234abcd-12ab-34cd-56ef-1234567890ab", ARN: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:user/Mateo", Type: "IAMUser", Name: "Mateo"},
		Event:    finding.EventRef{Name: "ScheduleKeyDeletion", Time: event, SourceIP: "203.0.113.17"},
		RuleNotes: &finding.RuleNotes{
			Source: "sigma", File: "catalogue/kms-key-deletion-scheduled.yml", Status: "stable",
			FalsePositives: []string{"Retiring a key whose data was re-encrypted or deleted"},
			References:     []string{"https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html", "javascript:alert(1)"},
		},
	}
	wiki := jira.Wiki(Describe(f, "")) + "\n"
	path := filepath.Join("testdata", "description.sigma.datacenter.golden.txt")
	if *update {
		if err := os.WriteFile(path, []byte(wiki), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal([]byte(wiki), want) {
		t.Fatalf("%s differs (run with -update after review):\n%s", path, wiki)
	}
	if strings.Contains(wiki, "[javascript") {
		t.Error("a reference that is not a web address became a link")
	}
}
