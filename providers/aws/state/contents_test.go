package state

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

const (
	cmkID      = "0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
	awsKeyID   = "7d6e5f40-aaaa-4bbb-8ccc-0d1e2f3a4b5c"
	memberRole = "arn:aws:iam::" + acct + ":role/" + roleName
)

// denyPolicy allows everything but the named actions, as a member role
// whose policy lacks them.
func denyPolicy(actions ...string) string {
	list, _ := json.Marshal(actions)
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":%s,"Resource":"*"}]}`, list)
}

func cmkARN(id string) string { return "arn:aws:kms:" + region + ":" + acct + ":key/" + id }

// keyPolicyFor lets the account use the key through its root, and the
// other account decrypt and grant.
const keyPolicyFor = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"AllowCopyByPartner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"}]}`

func TestContents(t *testing.T) {
	lastWeek := t0.Add(-7 * 24 * time.Hour)
	tests := []struct {
		name    string
		seed    func(e *env)
		finding finding.Finding
		check   func(t *testing.T, c *finding.Contents)
	}{
		{
			name: "bucket: objects, encryption and Macie findings",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports", Encryption: &awsfake.S3Encryption{Algorithm: "aws:kms", KMSKeyID: cmkARN(cmkID)}})
				for i := range 7 {
					must(t, e.s3.PutObject("payments-exports", awsfake.S3Object{Key: fmt.Sprintf("exports/2026-11-%02d.csv", 20+i), Size: 1000, LastModified: lastWeek.Add(time.Duration(i) * time.Hour)}))
				}
				e.macie.Enable(acct, region)
				e.macie.AddFinding(acct, awsfake.MacieFinding{ID: "m1", Region: region, Bucket: "payments-exports", Key: "exports/2026-11-26.csv", Type: "SensitiveData:S3Object/Financial", Severity: "High", Detections: map[string]int{"CREDIT_CARD_NUMBER": 120}})
				e.macie.AddFinding(acct, awsfake.MacieFinding{ID: "m2", Region: region, Bucket: "payments-exports", Key: "exports/2026-11-25.csv", Type: "SensitiveData:S3Object/Personal", Severity: "Medium", Detections: map[string]int{"EMAIL_ADDRESS": 40, "CREDIT_CARD_NUMBER": 3}})
				e.macie.AddFinding(acct, awsfake.MacieFinding{ID: "m3", Region: region, Bucket: "other", Key: "x", Type: "SensitiveData:S3Object/Personal", Severity: "High", Detections: map[string]int{"NAME": 1}})
			},
			finding: findingFor(awsarn.TypeS3Bucket, "payments-exports"),
			check: func(t *testing.T, c *finding.Contents) {
				o := c.Objects
				if o == nil || o.Count != 7 || o.Bytes != 7000 || !o.Complete || !o.Newest.Equal(lastWeek.Add(6*time.Hour)) {
					t.Fatalf("objects = %+v", o)
				}
				if want := []string{"exports/2026-11-26.csv", "exports/2026-11-25.csv", "exports/2026-11-24.csv", "exports/2026-11-23.csv", "exports/2026-11-22.csv"}; !slices.Equal(o.Examples, want) {
					t.Errorf("examples = %v, want the newest %v", o.Examples, want)
				}
				if c.Encryption != "SSE-KMS with key "+cmkARN(cmkID) {
					t.Errorf("encryption = %q", c.Encryption)
				}
				m := c.Macie
				if m == nil || !m.Enabled || m.Findings != 2 || m.Highest != "High" || !slices.Equal(m.Types, []string{"CREDIT_CARD_NUMBER ×123", "EMAIL_ADDRESS ×40"}) {
					t.Errorf("macie = %+v", m)
				}
				if len(c.Unreadable) != 0 {
					t.Errorf("unreadable = %v", c.Unreadable)
				}
			},
		},
		{
			name: "bucket: a large listing is summarised from its first pages",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "big"})
				for i := range listPages*listPageSize + 1 {
					must(t, e.s3.PutObject("big", awsfake.S3Object{Key: fmt.Sprintf("k%06d", i), Size: 1, LastModified: t0}))
				}
			},
			finding: findingFor(awsarn.TypeS3Bucket, "big"),
			check: func(t *testing.T, c *finding.Contents) {
				if o := c.Objects; o == nil || o.Complete || o.Count != listPages*listPageSize {
					t.Errorf("objects = %+v, want the first %d, incomplete", o, listPages*listPageSize)
				}
				if c.Encryption != "none" || c.Macie == nil || c.Macie.Enabled {
					t.Errorf("encryption %q, macie %+v: want none and not enabled", c.Encryption, c.Macie)
				}
			},
		},
		{
			name: "bucket: each missing permission costs its part only",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "locked", Encryption: &awsfake.S3Encryption{Algorithm: "AES256"}})
				must(t, e.srv.Identities().SetPolicies(memberRole, denyPolicy("s3:ListBucket", "macie2:GetMacieSession")))
			},
			finding: findingFor(awsarn.TypeS3Bucket, "locked"),
			check: func(t *testing.T, c *finding.Contents) {
				want := []string{"object listing: not readable: missing permission s3:ListBucket", "Macie findings: not readable: missing permission macie2:GetMacieSession"}
				if !slices.Equal(c.Unreadable, want) {
					t.Errorf("unreadable = %q, want %q", c.Unreadable, want)
				}
				if c.Objects != nil || c.Macie != nil || c.Encryption != "SSE-S3 (AES256)" {
					t.Errorf("objects %+v, macie %+v, encryption %q: want only the encryption", c.Objects, c.Macie, c.Encryption)
				}
			},
		},
		{
			name: "unencrypted DB snapshot: anyone it is shared with can restore it",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "prod-db", Region: region, Source: "prod-customers", Engine: "postgres", SizeGiB: 500, SharedWith: []string{unknown}})
			},
			finding: findingFor(awsarn.TypeRDSSnapshot, "prod-db", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				if c.Source != "DB instance prod-customers" || c.Engine != "postgres" || c.SizeGiB != 500 {
					t.Errorf("contents = %+v", c)
				}
				if c.Key == nil || c.Key.Case != finding.KeyUnencrypted {
					t.Errorf("key = %+v, want unencrypted", c.Key)
				}
			},
		},
		{
			name: "DB snapshot under an AWS-managed key: no other account can use it",
			seed: func(e *env) {
				e.kms.AddKey(acct, awsfake.KMSKey{ID: awsKeyID, Region: region, Manager: "AWS"})
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "prod-db", Region: region, Encrypted: true, KMSKeyID: cmkARN(awsKeyID), SharedWith: []string{unknown}})
			},
			finding: findingFor(awsarn.TypeRDSSnapshot, "prod-db", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				if c.Key == nil || c.Key.Case != finding.KeyAWSManaged || c.Key.Manager != "AWS" || c.Key.KeyARN != cmkARN(awsKeyID) {
					t.Errorf("key = %+v, want AWS managed", c.Key)
				}
			},
		},
		{
			name: "customer key whose policy lets the unknown account use it",
			seed: func(e *env) {
				e.kms.AddKey(acct, awsfake.KMSKey{ID: cmkID, Region: region, Policy: fmt.Sprintf(keyPolicyFor, unknown)})
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "prod-db", Region: region, Encrypted: true, KMSKeyID: cmkARN(cmkID), SharedWith: []string{unknown}})
			},
			finding: findingFor(awsarn.TypeRDSSnapshot, "prod-db", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				k := c.Key
				if k == nil || k.Case != finding.KeyCustomerUsable || !k.Usable() {
					t.Fatalf("key = %+v, want usable", k)
				}
				if len(k.Users) != 1 || k.Users[0].Account != unknown || !slices.Equal(k.Users[0].Via, []string{`key policy statement "AllowCopyByPartner" (kms:Decrypt, kms:DescribeKey, kms:CreateGrant)`}) {
					t.Errorf("users = %+v", k.Users)
				}
			},
		},
		{
			name: "customer key with a grant to the unknown account",
			seed: func(e *env) {
				e.kms.AddKey(acct, awsfake.KMSKey{ID: cmkID, Region: region, Grants: []awsfake.KMSGrant{
					{ID: "aaaabbbbccccdddd0001", GranteePrincipal: "arn:aws:iam::" + unknown + ":role/restore", Operations: []string{"Decrypt", "DescribeKey"}},
					{ID: "aaaabbbbccccdddd0002", GranteePrincipal: "rds." + region + ".amazonaws.com", Operations: []string{"Decrypt"}},
					{ID: "aaaabbbbccccdddd0003", GranteePrincipal: "arn:aws:iam::" + partner + ":root", Operations: []string{"DescribeKey"}},
				}})
				e.ec2.AddSnapshot(acct, awsfake.EC2Snapshot{ID: "snap-0123456789abcdef0", VolumeID: "vol-0aa", SizeGiB: 100, Encrypted: true, KMSKeyID: cmkARN(cmkID), SharedWith: []string{unknown}})
			},
			finding: findingFor(awsarn.TypeEC2Snapshot, "snap-0123456789abcdef0", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				if c.Source != "volume vol-0aa" || c.SizeGiB != 100 {
					t.Errorf("contents = %+v", c)
				}
				k := c.Key
				if k == nil || k.Case != finding.KeyCustomerUsable || len(k.Users) != 1 || !slices.Equal(k.Users[0].GrantIDs, []string{"aaaabbbbccccdddd0001"}) {
					t.Errorf("key = %+v, want usable through one grant", k)
				}
			},
		},
		{
			name: "customer key nobody outside may use",
			seed: func(e *env) {
				e.kms.AddKey(acct, awsfake.KMSKey{ID: cmkID, Region: region})
				e.ec2.AddImage(acct, awsfake.EC2Image{ID: "ami-0123456789abcdef0", Name: "base", SharedWith: []string{unknown}, Devices: []awsfake.EC2ImageDevice{
					{Name: "/dev/xvda", SnapshotID: "snap-1", SizeGiB: 8, Encrypted: true, KMSKeyID: cmkARN(cmkID)},
					{Name: "/dev/xvdb", SnapshotID: "snap-2", SizeGiB: 20, Encrypted: true, KMSKeyID: cmkARN(cmkID)},
				}})
			},
			finding: findingFor(awsarn.TypeEC2Image, "ami-0123456789abcdef0", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				if c.Source != "image base" || c.SizeGiB != 28 {
					t.Errorf("contents = %+v", c)
				}
				if c.Key == nil || c.Key.Case != finding.KeyCustomerNotUsable || len(c.Key.Users) != 0 {
					t.Errorf("key = %+v, want not usable", c.Key)
				}
			},
		},
		{
			name: "customer key whose policy cannot be read",
			seed: func(e *env) {
				e.kms.AddKey(acct, awsfake.KMSKey{ID: cmkID, Region: region})
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "prod-db", Region: region, Encrypted: true, KMSKeyID: cmkARN(cmkID), SharedWith: []string{unknown}})
				must(t, e.srv.Identities().SetPolicies(memberRole, denyPolicy("kms:GetKeyPolicy")))
			},
			finding: findingFor(awsarn.TypeRDSSnapshot, "prod-db", unknownTarget),
			check: func(t *testing.T, c *finding.Contents) {
				if c.Key == nil || c.Key.Case != finding.KeyUnknown {
					t.Errorf("key = %+v, want unknown", c.Key)
				}
				if !slices.Equal(c.Unreadable, []string{"key policy: not readable: missing permission kms:GetKeyPolicy"}) {
					t.Errorf("unreadable = %q", c.Unreadable)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.seed(e)
			ctx := context.Background()
			st, err := e.reader.Read(ctx, tt.finding)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			c, err := e.reader.Contents(ctx, tt.finding, st)
			if err != nil {
				t.Fatalf("contents: %v", err)
			}
			if !c.ReadAt.Equal(t0) {
				t.Errorf("read at %v, want the clock's %v", c.ReadAt, t0)
			}
			tt.check(t, c)
		})
	}
}

func TestContentsUnsupported(t *testing.T) {
	e := newEnv(t)
	_, err := e.reader.Contents(context.Background(), findingFor(awsarn.TypeIAMUser, "bob"), State{})
	if err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("err = %v, want unsupported", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
