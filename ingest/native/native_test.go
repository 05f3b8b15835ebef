package native

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeOne(t *testing.T, name string) Finding {
	t.Helper()
	fs, err := Decode(readEvent(t, name))
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	if len(fs) != 1 {
		t.Fatalf("Decode(%s) gave %d findings, want 1", name, len(fs))
	}
	return fs[0]
}

// TestDecodeGolden keeps the decoded form of every event under testdata in
// a reviewed golden file.
func TestDecodeGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events under testdata: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			fs, err := Decode(readEvent(t, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(fs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s (run go test -update and review the diff):\n%s", name, golden, got)
			}
		})
	}
}

// TestDecode checks what each source's events say, as a responder meets
// it: severity, lifecycle, the resource and the actor.
func TestDecode(t *testing.T) {
	tests := []struct {
		file     string
		rule     string
		severity finding.Severity
		active   bool
		resource finding.Resource
		actorARN string
		count    int
		targets  []string
	}{
		{"guardduty-iamuser-malicious-ip.json", RuleGuardDuty, finding.SeverityMedium, true,
			finding.Resource{Type: awsarn.TypeIAMUser, ID: "BackupManager", ARN: "arn:aws:iam::111122223333:user/BackupManager"},
			"arn:aws:iam::111122223333:user/BackupManager", 1, nil},
		{"guardduty-iamuser-malicious-ip-repeat.json", RuleGuardDuty, finding.SeverityMedium, true,
			finding.Resource{Type: awsarn.TypeIAMUser, ID: "BackupManager", ARN: "arn:aws:iam::111122223333:user/BackupManager"},
			"arn:aws:iam::111122223333:user/BackupManager", 3, nil},
		{"guardduty-iamuser-malicious-ip-archived.json", RuleGuardDuty, finding.SeverityMedium, false,
			finding.Resource{Type: awsarn.TypeIAMUser, ID: "BackupManager", ARN: "arn:aws:iam::111122223333:user/BackupManager"},
			"arn:aws:iam::111122223333:user/BackupManager", 3, nil},
		{"guardduty-s3-bucket-anonymous-access.json", RuleGuardDuty, finding.SeverityHigh, true,
			finding.Resource{Type: awsarn.TypeS3Bucket, ID: "acme-exports", ARN: "arn:aws:s3:::acme-exports"},
			"arn:aws:iam::222233334444:role/contractor-etl", 1, nil},
		{"securityhub-s3-public-read.json", RuleSecurityHub, finding.SeverityCritical, true,
			finding.Resource{Type: awsarn.TypeS3Bucket, ID: "acme-exports", ARN: "arn:aws:s3:::acme-exports"}, "", 0, nil},
		{"securityhub-s3-public-read-passed.json", RuleSecurityHub, finding.SeverityUnknown, false,
			finding.Resource{Type: awsarn.TypeS3Bucket, ID: "acme-exports", ARN: "arn:aws:s3:::acme-exports"}, "", 0, nil},
		{"access-analyzer-bucket-cross-account.json", RuleAccessAnalyzer, finding.SeverityMedium, true,
			finding.Resource{Type: awsarn.TypeS3Bucket, ID: "payments-statements", ARN: "arn:aws:s3:::payments-statements"}, "", 0, []string{"444455556666"}},
		{"access-analyzer-bucket-cross-account-resolved.json", RuleAccessAnalyzer, finding.SeverityMedium, false,
			finding.Resource{Type: awsarn.TypeS3Bucket, ID: "payments-statements", ARN: "arn:aws:s3:::payments-statements"}, "", 0, []string{"444455556666"}},
		{"access-analyzer-snapshot-public.json", RuleAccessAnalyzer, finding.SeverityCritical, true,
			finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod-customers-2026-11-26", ARN: "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"}, "", 0, []string{"all"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			n := decodeOne(t, tc.file)
			if n.Rule != tc.rule || n.Severity != tc.severity || n.Active != tc.active {
				t.Errorf("rule %s, severity %s, active %v; want %s, %s, %v", n.Rule, n.Severity, n.Active, tc.rule, tc.severity, tc.active)
			}
			if n.Resource != tc.resource {
				t.Errorf("resource = %+v, want %+v", n.Resource, tc.resource)
			}
			actor := ""
			if n.Actor != nil {
				actor = n.Actor.ARN
			}
			if actor != tc.actorARN {
				t.Errorf("actor = %q, want %q", actor, tc.actorARN)
			}
			if n.Count != tc.count {
				t.Errorf("count = %d, want %d", n.Count, tc.count)
			}
			var targets []string
			for _, tg := range n.Targets {
				targets = append(targets, tg.Account)
			}
			if strings.Join(targets, ",") != strings.Join(tc.targets, ",") {
				t.Errorf("targets = %v, want %v", targets, tc.targets)
			}
			if n.ID == "" || n.Account == "" || n.Region == "" || n.UpdatedAt.IsZero() || n.Title == "" || n.URL == "" {
				t.Errorf("incomplete finding: %+v", n)
			}
		})
	}
}

// Updates of one native finding share its key, so the pipeline updates one
// finding in place; each update (each event) is told apart.
func TestUpdatesShareTheKey(t *testing.T) {
	for _, files := range [][]string{
		{"guardduty-iamuser-malicious-ip.json", "guardduty-iamuser-malicious-ip-repeat.json", "guardduty-iamuser-malicious-ip-archived.json"},
		{"securityhub-s3-public-read.json", "securityhub-s3-public-read-passed.json"},
		{"access-analyzer-bucket-cross-account.json", "access-analyzer-bucket-cross-account-resolved.json"},
	} {
		first := decodeOne(t, files[0])
		for _, f := range files[1:] {
			n := decodeOne(t, f)
			if n.FindingKey() != first.FindingKey() {
				t.Errorf("%s key %q, %s key %q: updates of one finding must share it", files[0], first.FindingKey(), f, n.FindingKey())
			}
			if n.UpdateID() == first.UpdateID() {
				t.Errorf("%s and %s have the same update ID %q", files[0], f, n.UpdateID())
			}
		}
	}
	gd := decodeOne(t, "guardduty-s3-bucket-anonymous-access.json")
	sh := decodeOne(t, "securityhub-s3-public-read.json")
	if gd.FindingKey() == sh.FindingKey() {
		t.Error("two detectors' findings on one bucket share a key")
	}
}

func TestGuardDutySeverity(t *testing.T) {
	tests := []struct {
		value float64
		want  finding.Severity
	}{
		{0.1, finding.SeverityLow}, {2, finding.SeverityLow}, {3.9, finding.SeverityLow},
		{4, finding.SeverityMedium}, {5, finding.SeverityMedium}, {6.9, finding.SeverityMedium},
		{7, finding.SeverityHigh}, {8, finding.SeverityHigh}, {8.9, finding.SeverityHigh},
		{9, finding.SeverityCritical}, {10, finding.SeverityCritical},
	}
	for _, tc := range tests {
		if got := guardDutySeverity(tc.value); got != tc.want {
			t.Errorf("GuardDuty severity %.1f = %s, want %s", tc.value, got, tc.want)
		}
	}
}

func TestASFFSeverity(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name       string
		label      string
		normalized *float64
		want       finding.Severity
	}{
		{"critical", "CRITICAL", nil, finding.SeverityCritical},
		{"high", "HIGH", f(70), finding.SeverityHigh},
		{"medium in any case", "medium", nil, finding.SeverityMedium},
		{"low", "LOW", nil, finding.SeverityLow},
		{"informational raises nothing", "INFORMATIONAL", nil, finding.SeverityUnknown},
		{"label wins over normalized", "LOW", f(95), finding.SeverityLow},
		{"normalized 95 without a label", "", f(95), finding.SeverityCritical},
		{"normalized 40 without a label", "", f(40), finding.SeverityMedium},
		{"normalized 0 without a label", "", f(0), finding.SeverityUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := asffSeverity(tc.label, tc.normalized); got != tc.want {
				t.Errorf("severity = %s, want %s", got, tc.want)
			}
		})
	}
}

// ASFF lifecycle: resolved or suppressed workflows and archived records are
// no longer active.
func TestASFFActive(t *testing.T) {
	base := readEvent(t, "securityhub-s3-public-read.json")
	tests := []struct {
		workflow, record string
		active           bool
	}{
		{"NEW", "ACTIVE", true},
		{"NOTIFIED", "ACTIVE", true},
		{"RESOLVED", "ACTIVE", false},
		{"SUPPRESSED", "ACTIVE", false},
		{"NEW", "ARCHIVED", false},
	}
	for _, tc := range tests {
		t.Run(tc.workflow+"/"+tc.record, func(t *testing.T) {
			ev := strings.Replace(string(base), `"Status": "NEW"`, `"Status": "`+tc.workflow+`"`, 1)
			ev = strings.Replace(ev, `"RecordState": "ACTIVE"`, `"RecordState": "`+tc.record+`"`, 1)
			fs, err := Decode([]byte(ev))
			if err != nil {
				t.Fatal(err)
			}
			if fs[0].Active != tc.active {
				t.Errorf("active = %v, want %v (state %q)", fs[0].Active, tc.active, fs[0].State)
			}
		})
	}
}

func TestAccessSeverity(t *testing.T) {
	tests := []struct {
		typ    string
		public bool
		want   finding.Severity
	}{
		{awsarn.TypeS3Bucket, true, finding.SeverityHigh},
		{awsarn.TypeS3Bucket, false, finding.SeverityMedium},
		{awsarn.TypeIAMRole, true, finding.SeverityCritical},
		{awsarn.TypeIAMRole, false, finding.SeverityHigh},
		{awsarn.TypeEC2Snapshot, true, finding.SeverityCritical},
		{awsarn.TypeRDSClusterSnapshot, false, finding.SeverityHigh},
		{awsarn.TypeKMSKey, false, finding.SeverityMedium},
		{"AWS::Future::Thing", true, finding.SeverityHigh},
		{"AWS::Future::Thing", false, finding.SeverityMedium},
	}
	for _, tc := range tests {
		if got, _ := accessSeverity(tc.typ, tc.public); got != tc.want {
			t.Errorf("%s public=%v: %s, want %s", tc.typ, tc.public, got, tc.want)
		}
	}
}

// An access key finding names the user or role the key belongs to; an
// assumed role is named by its role (history is kept per role) with the
// session from the principal ID.
func TestGuardDutyActors(t *testing.T) {
	n := decodeOne(t, "guardduty-s3-bucket-anonymous-access.json")
	a := n.Actor
	if a == nil || a.Type != "AssumedRole" || a.Name != "contractor-etl" || a.SessionName != "jdoe@example.com" || a.AccessKeyID != "ASIAIOSFODNN7EXAMPLE" {
		t.Errorf("actor = %+v", a)
	}
	if n.SourceIP != "198.51.100.23" || n.API != "PutBucketPolicy" || n.APISource != "s3.amazonaws.com" {
		t.Errorf("action: ip %q api %q source %q", n.SourceIP, n.API, n.APISource)
	}
	root := strings.Replace(string(readEvent(t, "guardduty-iamuser-malicious-ip.json")), `"userType": "IAMUser"`, `"userType": "Root"`, 1)
	fs, err := Decode([]byte(root))
	if err != nil {
		t.Fatal(err)
	}
	if fs[0].Actor == nil || fs[0].Actor.ARN != "arn:aws:iam::111122223333:root" {
		t.Errorf("root actor = %+v", fs[0].Actor)
	}
	if fs[0].Resource != (finding.Resource{}) {
		t.Errorf("a root key finding names resource %+v; root is nothing containment can act on", fs[0].Resource)
	}
}

func TestDecodeErrors(t *testing.T) {
	gd := string(readEvent(t, "guardduty-iamuser-malicious-ip.json"))
	tests := []struct {
		name, event, want string
	}{
		{"not JSON", `{"detail-type":`, "EventBridge event"},
		{"detail not an object", `{"detail-type":"GuardDuty Finding","detail":"x"}`, "detail is not an object"},
		{"GuardDuty without id", strings.Replace(gd, `"id": "a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9"`, `"id": ""`, 1), "finding has no id"},
		{"GuardDuty without severity", strings.Replace(gd, `"severity": 5,`, ``, 1), "finding has no severity"},
		{"GuardDuty severity as text", strings.Replace(gd, `"severity": 5,`, `"severity": "high",`, 1), "cannot unmarshal"},
		{"ASFF without account", `{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"Id":"x","ProductArn":"p","UpdatedAt":"2026-11-26T15:01:58Z","Severity":{"Label":"HIGH"}}]}}`, "findings[0]: finding has no AwsAccountId"},
		{"Access Analyzer without resource", `{"detail-type":"Access Analyzer Finding","account":"111122223333","detail":{"id":"x","status":"ACTIVE"}}`, "finding has no resource"},
		{"another detail-type", `{"detail-type":"EC2 Instance State-change Notification","detail":{}}`, "carries no native finding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.event))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// An Access Analyzer error finding (the resource could not be analysed)
// reports no access, and a Security Hub event may carry no findings: both
// raise nothing, without being an error.
func TestDecodeNothing(t *testing.T) {
	for name, ev := range map[string]string{
		"analyzer error": `{"detail-type":"Access Analyzer Finding","account":"111122223333","resources":["arn:aws:access-analyzer:eu-central-1:111122223333:analyzer/a"],"detail":{"id":"x","status":"ACTIVE","error":"ACCESS_DENIED","resource":"arn:aws:s3:::b","resourceType":"AWS::S3::Bucket"}}`,
		"no findings":    `{"detail-type":"Security Hub Findings - Imported","detail":{"findings":[]}}`,
	} {
		fs, err := Decode([]byte(ev))
		if err != nil || len(fs) != 0 {
			t.Errorf("%s: Decode = %v, %v; want nothing", name, fs, err)
		}
	}
}

func TestReads(t *testing.T) {
	for _, s := range Sources() {
		if !Reads(s.DetailType) {
			t.Errorf("Reads(%q) = false", s.DetailType)
		}
	}
	if Reads("AWS API Call via CloudTrail") {
		t.Error("CloudTrail events are not native findings")
	}
}

// The README's rule table lists every native source.
func TestReadmeListsSources(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Sources() {
		if row := "| `" + s.Rule + "` |"; !strings.Contains(string(b), row) {
			t.Errorf("the README's rule table has no row %q", row)
		}
		if !strings.Contains(string(b), "`"+s.DetailType+"`") {
			t.Errorf("the README does not name the %q events", s.DetailType)
		}
	}
}
