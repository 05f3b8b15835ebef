package awsfake

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

func TestIAMTagging(t *testing.T) {
	tag := func(k, v string) iamtypes.Tag { return iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name     string
		call     func(context.Context, *iam.Client) error
		wantCode string
		read     func(*IAM) map[string]string
		want     map[string]string
	}{
		{
			name: "TagRole adds and overwrites",
			call: func(ctx context.Context, c *iam.Client) error {
				_, err := c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("deploy"), Tags: []iamtypes.Tag{tag("owner", "platform"), tag("team", "secops")}})
				return err
			},
			read: func(f *IAM) map[string]string { r, _ := f.Role(acctA, "deploy"); return r.Tags },
			want: map[string]string{"team": "secops", "owner": "platform"},
		},
		{
			name: "TagUser adds",
			call: func(ctx context.Context, c *iam.Client) error {
				_, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("BackupManager"), Tags: []iamtypes.Tag{tag("secops-bot:canary", "2024-05-01T03:00:00Z")}})
				return err
			},
			read: func(f *IAM) map[string]string { u, _ := f.User(acctA, "BackupManager"); return u.Tags },
			want: map[string]string{"secops-bot:canary": "2024-05-01T03:00:00Z"},
		},
		{
			name: "aws: keys are reserved",
			call: func(ctx context.Context, c *iam.Client) error {
				_, err := c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("deploy"), Tags: []iamtypes.Tag{tag("aws:cloudformation:stack-name", "x")}})
				return err
			},
			wantCode: "InvalidInput",
			read:     func(f *IAM) map[string]string { r, _ := f.Role(acctA, "deploy"); return r.Tags },
			want:     map[string]string{"team": "data"},
		},
		{
			name: "unknown role",
			call: func(ctx context.Context, c *iam.Client) error {
				_, err := c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("missing"), Tags: []iamtypes.Tag{tag("k", "v")}})
				return err
			},
			wantCode: "NoSuchEntity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.iam.AddRole(acctA, IAMRole{Name: "deploy", Tags: map[string]string{"team": "data"}})
			w.iam.AddUser(acctA, IAMUser{Name: "BackupManager"})
			err := tt.call(context.Background(), iam.NewFromConfig(w.base))
			if apiCode(err) != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Fatalf("error = %v, want code %q", err, tt.wantCode)
			}
			if tt.read == nil {
				return
			}
			got := tt.read(w.iam)
			if len(got) != len(tt.want) {
				t.Fatalf("tags = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("tags = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
