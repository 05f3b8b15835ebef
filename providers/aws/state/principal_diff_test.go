package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

func TestPrincipal(t *testing.T) {
	created := t0.Add(-400 * 24 * time.Hour)
	tests := []struct {
		name    string
		arn     string
		want    Principal
		wantErr string // Classify of the error
	}{
		{
			name: "user with keys",
			arn:  "arn:aws:iam::" + acct + ":user/BackupManager",
			want: Principal{
				ARN: "arn:aws:iam::" + acct + ":user/BackupManager", Account: acct, Type: "user", Name: "BackupManager", Path: "/",
				CreatedAt: created, Tags: map[string]string{"team": "data"},
				AccessKeys: []AccessKey{
					{ID: "AKIAFRESH", Status: "Active", CreatedAt: t0.Add(-24 * time.Hour), Age: 24 * time.Hour},
					{ID: "AKIAOLD", Status: "Active", CreatedAt: created, Age: 400 * 24 * time.Hour, LastUsed: t0.Add(-time.Hour), LastUsedService: "rds", LastUsedRegion: region},
				},
				ReadAt: t0,
			},
		},
		{
			name: "role",
			arn:  "arn:aws:iam::" + acct + ":role/contractors/deploy",
			want: Principal{
				ARN: "arn:aws:iam::" + acct + ":role/contractors/deploy", Account: acct, Type: "role", Name: "deploy", Path: "/contractors/",
				CreatedAt: created, Tags: map[string]string{"contractor": "true"}, MaxSessionDuration: 2 * time.Hour, ReadAt: t0,
			},
		},
		{
			name: "assumed-role session reads its role",
			arn:  "arn:aws:sts::" + acct + ":assumed-role/deploy/jane@example.com",
			want: Principal{
				ARN: "arn:aws:iam::" + acct + ":role/contractors/deploy", Account: acct, Type: "role", Name: "deploy", Path: "/contractors/",
				CreatedAt: created, Tags: map[string]string{"contractor": "true"}, MaxSessionDuration: 2 * time.Hour, ReadAt: t0,
			},
		},
		{name: "deleted user", arn: "arn:aws:iam::" + acct + ":user/gone", wantErr: "not found"},
		{name: "root is not a user or role", arn: "arn:aws:iam::" + acct + ":root", wantErr: "unsupported type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.iam.AddUser(acct, awsfake.IAMUser{Name: "BackupManager", Created: created, Tags: map[string]string{"team": "data"}})
			e.iam.AddAccessKey(acct, awsfake.IAMAccessKey{ID: "AKIAOLD", User: "BackupManager", Created: created, LastUsed: t0.Add(-time.Hour), Service: "rds", Region: region})
			e.iam.AddAccessKey(acct, awsfake.IAMAccessKey{ID: "AKIAFRESH", User: "BackupManager", Created: t0.Add(-24 * time.Hour)})
			e.iam.AddRole(acct, awsfake.IAMRole{Name: "deploy", Path: "/contractors/", Created: created, MaxSessionDuration: 7200, Tags: map[string]string{"contractor": "true"}})

			got, err := e.reader.Principal(context.Background(), "", tc.arn)
			if tc.wantErr != "" {
				if c := Classify(err); c != tc.wantErr {
					t.Fatalf("Classify(%v) = %q, want %q", err, c, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Principal: %v", err)
			}
			for i := range got.AccessKeys {
				got.AccessKeys[i].CreatedAt = got.AccessKeys[i].CreatedAt.UTC()
				got.AccessKeys[i].LastUsed = got.AccessKeys[i].LastUsed.UTC()
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", tc.want); g != w {
				t.Errorf("principal\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestDiff reads a resource, changes it the way a person would, reads it
// again and checks the lines a responder sees.
func TestDiff(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		seed   func(e *env)
		change func(t *testing.T, e *env)
		read   func(e *env) (State, error)
		want   []string
	}{
		{
			name: "policy made public",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(partnerPolicy, "assets")})
			},
			change: func(t *testing.T, e *env) {
				mustS3(t, e, func(c *s3.Client) error {
					_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(fmt.Sprintf(publicPolicy, "assets"))})
					return err
				})
			},
			read: readBucket("assets"),
			want: []string{
				"exposure: not exposed → exposed",
				"- statement PartnerRead: s3:GetObject, s3:ListBucket to arn:aws:iam::777788889999:root",
				"+ statement PublicRead: s3:GetObject to everyone",
				"policy status: not public → public",
			},
		},
		{
			name: "policy deleted",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(publicPolicy, "assets")})
			},
			change: func(t *testing.T, e *env) {
				mustS3(t, e, func(c *s3.Client) error {
					_, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("assets")})
					return err
				})
			},
			read: readBucket("assets"),
			want: []string{
				"exposure: exposed → not exposed",
				"- statement PublicRead: s3:GetObject to everyone",
				"policy status: public → no policy",
			},
		},
		{
			name: "ACL made public-read",
			seed: func(e *env) { e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "logs"}) },
			change: func(t *testing.T, e *env) {
				mustS3(t, e, func(c *s3.Client) error {
					_, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("logs"), ACL: s3types.BucketCannedACLPublicRead})
					return err
				})
			},
			read: readBucket("logs"),
			want: []string{"exposure: not exposed → exposed", "+ grant READ to AllUsers"},
		},
		{
			name: "public access block removed",
			seed: func(e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets", Policy: fmt.Sprintf(publicPolicy, "assets"), PublicAccessBlock: &awsfake.S3PublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}})
			},
			change: func(t *testing.T, e *env) {
				mustS3(t, e, func(c *s3.Client) error {
					_, err := c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("assets")})
					return err
				})
			},
			read: readBucket("assets"),
			want: []string{
				"exposure: not exposed → exposed",
				"public access block: BlockPublicAcls true → false",
				"public access block: IgnorePublicAcls true → false",
				"public access block: BlockPublicPolicy true → false",
				"public access block: RestrictPublicBuckets true → false",
			},
		},
		{
			name: "account block turned on",
			seed: func(e *env) { e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "assets"}) },
			change: func(t *testing.T, e *env) {
				e.s3.SetAccountPublicAccessBlock(acct, &awsfake.S3PublicAccessBlock{BlockPublicPolicy: true})
			},
			read: readBucket("assets"),
			want: []string{"account public access block: BlockPublicPolicy false → true"},
		},
		{
			name: "snapshot share replaced and tagged",
			seed: func(e *env) {
				e.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "s", Source: "db", SharedWith: []string{unknown}})
			},
			change: func(t *testing.T, e *env) {
				cfg := memberConfig(t, e)
				_, err := rds.NewFromConfig(cfg).ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{
					DBSnapshotIdentifier: aws.String("s"), AttributeName: aws.String("restore"),
					ValuesToAdd: []string{partner, "all"}, ValuesToRemove: []string{unknown},
				})
				if err != nil {
					t.Fatalf("modify: %v", err)
				}
				snap, _ := e.rds.Snapshot(acct, false, "s")
				snap.Tags = map[string]string{"env": "prod"}
				e.rds.AddSnapshot(acct, snap)
			},
			read: func(e *env) (State, error) {
				return e.reader.Read(context.Background(), findingFor(awsarn.TypeRDSSnapshot, "s", unknownTarget))
			},
			want: []string{"- shared with " + unknown, "+ shared with " + partner, "+ shared with all (everyone)", "+ tag env=prod"},
		},
		{
			name:   "image deregistered",
			seed:   func(e *env) { e.ec2.AddImage(acct, awsfake.EC2Image{ID: "ami-1", SharedWith: []string{"all"}}) },
			change: func(t *testing.T, e *env) { e.ec2.DeleteImage(acct, "ami-1") },
			read: func(e *env) (State, error) {
				return e.reader.Read(context.Background(), findingFor(awsarn.TypeEC2Image, "ami-1"))
			},
			want: []string{"resource deleted"},
		},
		{
			name: "nothing changed",
			seed: func(e *env) {
				e.ec2.AddSnapshot(acct, awsfake.EC2Snapshot{ID: "snap-1", SharedWith: []string{partner}})
			},
			change: func(t *testing.T, e *env) {},
			read: func(e *env) (State, error) {
				return e.reader.Read(context.Background(), findingFor(awsarn.TypeEC2Snapshot, "snap-1"))
			},
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.seed(e)
			before, err := tc.read(e)
			if err != nil {
				t.Fatalf("read before: %v", err)
			}
			tc.change(t, e)
			after, err := tc.read(e)
			if err != nil {
				t.Fatalf("read after: %v", err)
			}
			if got := Diff(before, after); !slices.Equal(got, tc.want) {
				t.Errorf("Diff =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if got := Diff(after, after); len(got) != 0 {
				t.Errorf("Diff of a state with itself = %v", got)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	api := func(code string) error {
		return fmt.Errorf("read x: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "S3 access denied", err: api("AccessDenied"), want: "access denied (AccessDenied)"},
		{name: "EC2 unauthorized", err: api("UnauthorizedOperation"), want: "access denied (UnauthorizedOperation)"},
		{name: "throttling", err: api("Throttling"), want: "throttled"},
		{name: "EC2 request limit", err: api("RequestLimitExceeded"), want: "throttled"},
		{name: "S3 slow down", err: api("SlowDown"), want: "throttled"},
		{name: "missing bucket", err: api("NoSuchBucket"), want: "not found"},
		{name: "missing snapshot", err: api("InvalidSnapshot.NotFound"), want: "not found"},
		{name: "missing IAM entity", err: api("NoSuchEntity"), want: "not found"},
		{name: "expired token", err: api("ExpiredToken"), want: "credentials rejected (ExpiredToken)"},
		{name: "other AWS error", err: api("InvalidParameterValue"), want: "AWS error (InvalidParameterValue)"},
		{name: "member role denied", err: fmt.Errorf("account 1: %w", fmt.Errorf("assume role r: %w: %w", awsclient.ErrAssumeRole, &smithy.GenericAPIError{Code: "AccessDenied"})), want: "role cannot be assumed"},
		{name: "member role malformed", err: fmt.Errorf("assume role r: %w: %w", awsclient.ErrAssumeRole, &smithy.GenericAPIError{Code: "ValidationError"}), want: "role cannot be assumed (ValidationError)"},
		{name: "deadline", err: fmt.Errorf("x: %w", context.DeadlineExceeded), want: "timed out"},
		{name: "plain error", err: errors.New("boom"), want: "unexpected error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify = %q, want %q", got, tc.want)
			}
		})
	}
}

func readBucket(name string) func(e *env) (State, error) {
	return func(e *env) (State, error) {
		return e.reader.Read(context.Background(), findingFor(awsarn.TypeS3Bucket, name))
	}
}

func memberConfig(t *testing.T, e *env) aws.Config {
	t.Helper()
	cfg, err := e.reader.clients.For(context.Background(), acct)
	if err != nil {
		t.Fatalf("member config: %v", err)
	}
	return cfg
}

func mustS3(t *testing.T, e *env, call func(c *s3.Client) error) {
	t.Helper()
	if err := call(s3.NewFromConfig(memberConfig(t, e))); err != nil {
		t.Fatalf("S3 change: %v", err)
	}
}
