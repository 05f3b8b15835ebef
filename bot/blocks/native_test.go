package blocks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// nativeGuardDuty is a GuardDuty finding about a user's access key used
// from an address on a threat list, seen three times.
func nativeGuardDuty() finding.Finding {
	key := finding.KeyFor("guardduty", "111122223333", "eu-central-1", "arn:aws:guardduty:eu-central-1:111122223333:detector/12c9/finding/a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9")
	seen := utc(time.November, 27, 2, 43, 55)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "guardduty", Severity: finding.SeverityMedium, Status: finding.StatusOpen,
		Title:     "ModifyDBSnapshotAttribute was invoked from an IP address on a custom threat list.",
		Detail:    "An API was used to access a resource from an IP address that is on a custom threat list.",
		AccountID: "111122223333", AccountName: "payments-prod", Region: "eu-central-1", Team: "payments", Environment: "production",
		Resource: finding.Resource{Type: awsarn.TypeIAMUser, ID: "BackupManager", ARN: "arn:aws:iam::111122223333:user/BackupManager"},
		Actor: finding.Actor{ARN: "arn:aws:iam::111122223333:user/BackupManager", Type: "IAMUser", Name: "BackupManager",
			AccountID: "111122223333", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		Event: finding.EventRef{ID: "GuardDuty:3f0e8a5c-6b7d-4f21-9c3e-8d2a1b4c5e6f", Name: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
			Source: "rds.amazonaws.com", Time: seen, SourceIP: "203.0.113.77"},
		Signals: []finding.Signal{}, Count: 3,
		FirstSeen: utc(time.November, 27, 2, 3, 41), LastSeen: seen, OpenedAt: utc(time.November, 27, 2, 3, 41),
		Native: &finding.Native{Product: "GuardDuty", ID: "a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9",
			Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Severity: "5.0", State: "active", Count: 3, UpdatedAt: seen,
			URL: "https://eu-central-1.console.aws.amazon.com/guardduty/home?region=eu-central-1#/findings?search=id%3Da4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9"},
	}
}

// nativeAccessAnalyzer is a bucket Access Analyzer found shared with an
// unknown account: a resource to contain, nobody to investigate.
func nativeAccessAnalyzer() finding.Finding {
	key := finding.KeyFor("access-analyzer", "111122223333", "eu-central-1", "analyzer|a5018b39")
	at := utc(time.November, 26, 3, 22, 22)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "access-analyzer", Severity: finding.SeverityMedium, Status: finding.StatusOpen,
		Title:     "S3 bucket shared with another account",
		Detail:    "IAM Access Analyzer found that AWS 444455556666 can s3:GetObject, s3:GetObjectVersion.",
		AccountID: "111122223333", AccountName: "payments-prod", Region: "eu-central-1", Team: "payments",
		Resource: finding.Resource{Type: awsarn.TypeS3Bucket, ID: "payments-statements", ARN: "arn:aws:s3:::payments-statements"},
		Event:    finding.EventRef{ID: "IAM Access Analyzer:22222222-dcba-4444-dcba-333333333333", Name: "ExternalAccess AWS::S3::Bucket", Time: at},
		Targets:  []finding.Target{{Account: "444455556666", Class: finding.TargetUnknown}},
		Signals:  []finding.Signal{}, Count: 1, FirstSeen: at, LastSeen: at, OpenedAt: at,
		Native: &finding.Native{Product: "IAM Access Analyzer", ID: "a5018b39-a5ce-46ec-b6ff-0c7f6a1d8c1e", Type: "ExternalAccess AWS::S3::Bucket",
			Severity: "cross-account", State: "active", UpdatedAt: at,
			URL: "https://eu-central-1.console.aws.amazon.com/access-analyzer/home?region=eu-central-1#/findings?resource=arn%3Aaws%3As3%3A%3A%3Apayments-statements"},
	}
}

// nativeInstanceResolved is a Security Hub finding about an EC2 instance
// that Security Hub resolved: nothing left to act on.
func nativeInstanceResolved() finding.Finding {
	key := finding.KeyFor("securityhub", "222233334444", "eu-central-1", "product|finding")
	opened, resolved := utc(time.November, 26, 9, 0, 0), utc(time.November, 26, 16, 20, 31)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "securityhub", Severity: finding.SeverityHigh, Status: finding.StatusResolved,
		Title:     "EC2 instances should not have a public IPv4 address",
		AccountID: "222233334444", AccountName: "data-prod", Region: "eu-central-1", Team: "data",
		Resource: finding.Resource{Type: "AWS::EC2::Instance", ID: "i-0abcd1234ef567890", ARN: "arn:aws:ec2:eu-central-1:222233334444:instance/i-0abcd1234ef567890"},
		Event:    finding.EventRef{Name: "security-control/EC2.9", Time: resolved},
		Signals:  []finding.Signal{}, Count: 4, FirstSeen: opened, LastSeen: resolved, OpenedAt: opened,
		ResolvedAt: resolved, ResolvedBy: "Security Hub", ResolveReason: "no longer active in Security Hub (workflow RESOLVED, record ACTIVE)", OpenFor: resolved.Sub(opened),
		Native: &finding.Native{Product: "Security Hub", ID: "arn:aws:securityhub:eu-central-1:222233334444:security-control/EC2.9/finding/0d1e2f3a",
			Type: "security-control/EC2.9", Severity: "INFORMATIONAL", State: "workflow RESOLVED, record ACTIVE", UpdatedAt: resolved},
	}
}

func TestNativeMessagesGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	for name, f := range map[string]finding.Finding{
		"finding_native_guardduty":         nativeGuardDuty(),
		"finding_native_access_analyzer":   nativeAccessAnalyzer(),
		"finding_native_instance_resolved": nativeInstanceResolved(),
	} {
		t.Run(name, func(t *testing.T) {
			text, blocks := FindingMessage(f, FindingOptions{Location: berlin})
			golden(t, name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

// A detector's finding offers Investigate when it names an actor and
// Contain when it names a resource containment acts on.
func TestNativeFindingButtons(t *testing.T) {
	instance := nativeInstanceResolved()
	instance.Status, instance.ResolvedAt, instance.ResolvedBy = finding.StatusOpen, time.Time{}, ""
	keyOnly := nativeGuardDuty()
	keyOnly.Actor.ARN, keyOnly.Resource = "", finding.Resource{}
	tests := []struct {
		name string
		f    finding.Finding
		want []string
	}{
		{"actor and IAM user", nativeGuardDuty(), []string{ActionAck, ActionInvestigate, ActionContain, ActionExpected, ActionResolve}},
		{"bucket without actor", nativeAccessAnalyzer(), []string{ActionAck, ActionContain, ActionExpected, ActionResolve}},
		{"only an access key", keyOnly, []string{ActionAck, ActionInvestigate, ActionExpected, ActionResolve}},
		{"instance without actor", instance, []string{ActionAck, ActionExpected, ActionResolve}},
		{"resolved with nothing to act on has no buttons", nativeInstanceResolved(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, blocks := FindingMessage(tc.f, FindingOptions{})
			var got []string
			for _, b := range buttons(blocks) {
				got = append(got, b.actionID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("buttons = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNativeTextEscapes(t *testing.T) {
	f := nativeGuardDuty()
	f.Native.Type, f.Native.State = "<!channel> `x`", "<https://evil.example|click>"
	text := nativeText(f, time.UTC)
	if strings.Contains(text, "<!channel>") || strings.Contains(text, "<https://evil") {
		t.Errorf("detector text reaches mrkdwn unescaped: %s", text)
	}
}
