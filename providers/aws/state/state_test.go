package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

const (
	acct     = "111122223333" // the member account owning the resources
	unknown  = "444455556666" // an account outside the organization
	partner  = "777788889999" // a trusted partner
	baseKey  = "AKIDSECOPSBOT0000001"
	roleName = "secops-member"
	region   = "eu-west-1"
)

var t0 = time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)

const publicPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%[1]s/*"}]}`
const partnerPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PartnerRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::%[1]s/*"}]}`

type env struct {
	srv    *awsfake.Server
	clk    *clock.Fake
	sts    *awsfake.STS
	iam    *awsfake.IAM
	rds    *awsfake.RDS
	ec2    *awsfake.EC2
	s3     *awsfake.S3
	kms    *awsfake.KMS
	macie  *awsfake.Macie
	reader *Reader
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: awsfake.New(), clk: clock.NewFake(t0)}
	t.Cleanup(e.srv.Close)
	e.srv.Identities().Add(baseKey, "arn:aws:iam::999900001111:role/secops-bot")
	e.sts = awsfake.NewSTS(e.srv.Identities(), e.clk)
	e.iam = awsfake.NewIAM(e.clk)
	e.rds = awsfake.NewRDS(e.clk)
	e.ec2 = awsfake.NewEC2(e.clk)
	e.s3 = awsfake.NewS3()
	e.kms = awsfake.NewKMS(e.clk)
	e.macie = awsfake.NewMacie()
	e.srv.Handle("kms", e.kms)
	e.srv.Handle("macie2", e.macie)
	e.srv.Handle("sts", e.sts)
	e.srv.Handle("iam", e.iam)
	e.srv.Handle("rds", e.rds)
	e.srv.Handle("ec2", e.ec2)
	e.srv.Handle("s3", e.s3)
	base := aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(e.srv.URL()),
		HTTPClient:   e.srv.HTTPClient(),
		Credentials:  credentials.NewStaticCredentialsProvider(baseKey, "secret", ""),
	}
	clients, err := awsclient.New(context.Background(), base, awsclient.Options{MemberRoleName: roleName, Clock: e.clk})
	if err != nil {
		t.Fatalf("awsclient.New: %v", err)
	}
	e.reader = NewReader(clients, e.clk)
	return e
}

// findingFor builds the finding a detector would raise for a resource.
func findingFor(typ, id string, targets ...finding.Target) finding.Finding {
	return finding.Finding{AccountID: acct, Region: region, Resource: finding.Resource{Type: typ, ID: id}, Targets: targets}
}

var unknownTarget = finding.Target{Account: unknown, Class: finding.TargetUnknown}

func TestRead(t *testing.T) {
	yes := true
	tests := []struct {
		name        string
		seed        func(e *env)
		finding     finding.Finding
		wantExposed bool
		wantReason  string // substring
		wantGone    bool
		wantDetail  []string // substrings of the detail JSON
		wantTags    map[string]string
	}{
		{
			name: "bucket made public by its policy",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(publicPolicy, "assets"), Tags: map[string]string{"data": "internal"}})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "assets"),
			wantExposed: true, wantReason: `bucket policy is public (statement "PublicRead" grants s3:GetObject to everyone)`,
			wantDetail: []string{`"policy_status":{"IsPublic":true}`, `"Sid":"PublicRead"`},
			wantTags:   map[string]string{"data": "internal"},
		},
		{
			name: "bucket public through its ACL",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "logs", ACL: []awsfake.S3Grant{{Type: "Group", URI: awsfake.AllUsersURI, Permission: "READ"}}})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "logs"),
			wantExposed: true, wantReason: "ACL grants READ to AllUsers",
			wantDetail: []string{`{"grantee":"AllUsers","type":"Group","permission":"READ"}`},
		},
		{
			name: "S3's own verdict counts even when the policy reads private",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "odd", Policy: fmt.Sprintf(partnerPolicy, "odd"), PolicyPublic: &yes})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "odd"),
			wantExposed: true, wantReason: "bucket policy is public",
		},
		{
			name: "public policy neutralised by the account block",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(publicPolicy, "assets")})
				e.s3.SetAccountPublicAccessBlock(acct, &awsfake.S3PublicAccessBlock{RestrictPublicBuckets: true})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "assets"),
			wantExposed: false, wantReason: "public policy neutralised by the account public access block (RestrictPublicBuckets)",
			wantDetail: []string{`"account_public_access_block":{"BlockPublicAcls":false,"IgnorePublicAcls":false,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}`},
		},
		{
			name: "BlockPublicPolicy alone leaves an existing public policy in force",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(publicPolicy, "assets"), PublicAccessBlock: &awsfake.S3PublicAccessBlock{BlockPublicPolicy: true}})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "assets"),
			wantExposed: true, wantReason: "bucket policy is public",
		},
		{
			name: "public ACL neutralised by the bucket block",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "logs", ACL: []awsfake.S3Grant{{Type: "Group", URI: awsfake.AuthenticatedUsersURI, Permission: "READ"}}, PublicAccessBlock: &awsfake.S3PublicAccessBlock{IgnorePublicAcls: true}})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "logs"),
			wantExposed: false, wantReason: "public ACL grants neutralised by the bucket public access block (IgnorePublicAcls)",
		},
		{
			name: "bucket already fixed: policy for a partner only",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(partnerPolicy, "assets")})
			},
			finding:     findingFor(awsarn.TypeS3Bucket, "assets"),
			wantExposed: false, wantReason: "bucket is not public",
			wantDetail: []string{`"policy_status":{"IsPublic":false}`},
		},
		{
			name:     "bucket deleted",
			seed:     func(e *env) {},
			finding:  findingFor(awsarn.TypeS3Bucket, "assets"),
			wantGone: true, wantReason: ReasonGone,
		},
		{
			name: "DB snapshot shared with an unknown account",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "prod-customers-snap", Source: "prod-customers", Region: region, Encrypted: true, SharedWith: []string{unknown}, Tags: map[string]string{"data": "customer"}})
			},
			finding:     findingFor(awsarn.TypeRDSSnapshot, "prod-customers-snap", unknownTarget),
			wantExposed: true, wantReason: "shared with unknown account " + unknown,
			wantDetail: []string{`"shared_with":["444455556666"]`, `"encrypted":true`, `"source_instance":"prod-customers"`},
			wantTags:   map[string]string{"data": "customer"},
		},
		{
			name: "DB snapshot public",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "s", Source: "db", SharedWith: []string{"all", partner}})
			},
			finding:     findingFor(awsarn.TypeRDSSnapshot, "s", finding.Target{Account: "all", Class: finding.TargetPublic}),
			wantExposed: true, wantReason: "shared with everyone (all)",
		},
		{
			name: "DB snapshot already unshared from the unknown account",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "s", Source: "db", SharedWith: []string{partner}})
			},
			finding:     findingFor(awsarn.TypeRDSSnapshot, "s", unknownTarget, finding.Target{Account: partner, Class: finding.TargetTrusted}),
			wantExposed: false, wantReason: "no longer shared with " + unknown + "; still shared with " + partner,
		},
		{
			name:     "DB snapshot deleted",
			seed:     func(e *env) {},
			finding:  findingFor(awsarn.TypeRDSSnapshot, "s", unknownTarget),
			wantGone: true, wantReason: ReasonGone,
		},
		{
			name: "cluster snapshot shared with an unknown account",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "aurora-snap", Cluster: true, Source: "aurora-prod", SharedWith: []string{unknown}})
			},
			finding:     findingFor(awsarn.TypeRDSClusterSnapshot, "aurora-snap", unknownTarget),
			wantExposed: true, wantReason: "shared with unknown account " + unknown,
			wantDetail: []string{`"source_cluster":"aurora-prod"`},
		},
		{
			name: "EBS snapshot public",
			seed: func(e *env) {
				e.ec2.AddSnapshot(acct, awsfake.EC2Snapshot{ID: "snap-0abc", VolumeID: "vol-1", SharedWith: []string{"all"}, Tags: map[string]string{"Name": "db-data"}})
			},
			finding:     findingFor(awsarn.TypeEC2Snapshot, "snap-0abc"),
			wantExposed: true, wantReason: "shared with everyone (all)",
			wantDetail: []string{`"shared_with":["all"]`, `"source_volume":"vol-1"`},
			wantTags:   map[string]string{"Name": "db-data"},
		},
		{
			name:        "EBS snapshot not shared",
			seed:        func(e *env) { e.ec2.AddSnapshot(acct, awsfake.EC2Snapshot{ID: "snap-0abc"}) },
			finding:     findingFor(awsarn.TypeEC2Snapshot, "snap-0abc", unknownTarget),
			wantExposed: false, wantReason: "no longer shared with " + unknown,
			wantDetail: []string{`"shared_with":[]`},
		},
		{
			name: "AMI shared with an unknown account",
			seed: func(e *env) {
				e.ec2.AddImage(acct, awsfake.EC2Image{ID: "ami-0abc", Name: "golden", SharedWith: []string{unknown}})
			},
			finding:     findingFor(awsarn.TypeEC2Image, "ami-0abc", unknownTarget),
			wantExposed: true, wantReason: "shared with unknown account " + unknown,
			wantDetail: []string{`"name":"golden"`},
		},
		{
			name:     "AMI deregistered",
			seed:     func(e *env) {},
			finding:  findingFor(awsarn.TypeEC2Image, "ami-0abc", unknownTarget),
			wantGone: true, wantReason: ReasonGone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.seed(e)
			st, err := e.reader.Read(context.Background(), tc.finding)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if st.Exposed != tc.wantExposed || st.Gone != tc.wantGone || !strings.Contains(st.Reason, tc.wantReason) {
				t.Errorf("exposed=%v gone=%v reason=%q, want exposed=%v gone=%v reason containing %q", st.Exposed, st.Gone, st.Reason, tc.wantExposed, tc.wantGone, tc.wantReason)
			}
			for _, want := range tc.wantDetail {
				if !strings.Contains(string(st.Detail), want) {
					t.Errorf("detail %s lacks %s", st.Detail, want)
				}
			}
			if tc.wantTags != nil && !mapsEqual(st.Tags, tc.wantTags) {
				t.Errorf("tags = %v, want %v", st.Tags, tc.wantTags)
			}
			if st.Account != acct || st.Type != tc.finding.Resource.Type || !st.ReadAt.Equal(t0) || st.ID != tc.finding.Resource.ID {
				t.Errorf("state header = %s %s %s %v", st.Type, st.ID, st.Account, st.ReadAt)
			}
			if _, err := json.Marshal(st); err != nil {
				t.Errorf("state is not JSON-serialisable: %v", err)
			}
			// Every read is made with the member role's credentials.
			for _, c := range e.srv.Calls() {
				if c.Service != "sts" && c.Account != acct {
					t.Errorf("%s %s called in account %q, want %s", c.Service, c.Action, c.Account, acct)
				}
			}
		})
	}
}

func TestReadUnsupported(t *testing.T) {
	e := newEnv(t)
	_, err := e.reader.Read(context.Background(), findingFor("AWS::Lambda::Function", "f"))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error = %v, want ErrUnsupported", err)
	}
	if got := Classify(err); got != "unsupported type" {
		t.Errorf("Classify = %q", got)
	}
	if n := len(e.srv.Calls()); n != 0 {
		t.Errorf("%d AWS calls for an unsupported type", n)
	}
}

func TestReadFailures(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(e *env)
		finding      finding.Finding
		wantClass    string
		wantErr      string // substring
		wantExposed  bool
		wantAttempts int // calls to the faulted action, when set
		faultService string
		faultAction  string
	}{
		{
			name: "throttled twice, then read",
			setup: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "s", Source: "db", SharedWith: []string{unknown}})
				e.srv.Inject(awsfake.Fault{Service: "rds", Action: "DescribeDBSnapshotAttributes", Code: "Throttling", Status: 400, Times: 2})
			},
			finding:     findingFor(awsarn.TypeRDSSnapshot, "s", unknownTarget),
			wantExposed: true, faultService: "rds", faultAction: "DescribeDBSnapshotAttributes", wantAttempts: 3,
		},
		{
			name: "access denied on the ACL",
			setup: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets"})
				e.srv.Inject(awsfake.Fault{Service: "s3", Action: "GET ?acl", Code: "AccessDenied", Status: 403, Times: -1})
			},
			finding:   findingFor(awsarn.TypeS3Bucket, "assets"),
			wantClass: "access denied (AccessDenied)", wantErr: "read AWS::S3::Bucket assets: get bucket acl",
		},
		{
			name: "member role cannot be assumed",
			setup: func(e *env) {
				e.sts.Deny("arn:aws:iam::" + acct + ":role/" + roleName)
			},
			finding:   findingFor(awsarn.TypeEC2Snapshot, "snap-1"),
			wantClass: "role cannot be assumed", wantErr: "assume role arn:aws:iam::111122223333:role/secops-member",
		},
		{
			name: "member role throttled is not a role problem",
			setup: func(e *env) {
				e.srv.Inject(awsfake.Fault{Service: "sts", Action: "AssumeRole", Code: "Throttling", Status: 400, Times: -1})
			},
			finding:   findingFor(awsarn.TypeEC2Snapshot, "snap-1"),
			wantClass: "throttled", wantErr: "assume role arn:aws:iam::111122223333:role/secops-member",
		},
		{
			name: "throttled without end",
			setup: func(e *env) {
				e.ec2.AddImage(acct, awsfake.EC2Image{ID: "ami-1"})
				e.srv.Inject(awsfake.Fault{Service: "ec2", Code: "RequestLimitExceeded", Status: 503, Times: -1})
			},
			finding:   findingFor(awsarn.TypeEC2Image, "ami-1"),
			wantClass: "throttled", wantErr: "describe image",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			st, err := e.reader.Read(context.Background(), tc.finding)
			if tc.wantClass != "" {
				if err == nil {
					t.Fatalf("Read succeeded: %+v", st)
				}
				if got := Classify(err); got != tc.wantClass {
					t.Errorf("Classify(%v) = %q, want %q", err, got, tc.wantClass)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if st.Exposed != tc.wantExposed {
				t.Errorf("exposed = %v (%s)", st.Exposed, st.Reason)
			}
			if n := len(e.srv.CallsTo(tc.faultService, tc.faultAction)); tc.wantAttempts > 0 && n != tc.wantAttempts {
				t.Errorf("%s called %d times, want %d", tc.faultAction, n, tc.wantAttempts)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
