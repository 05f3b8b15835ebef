package iampolicy

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

// TestGuardsHoldWithoutASessionPolicy gives the fakes the write role's
// printed policy and assumes that role as someone holding the bot's own
// credentials would: without a session policy. The role still cannot
// change the bot's roles or a break-glass role's trust; it can change
// other principals, as docs/threat-model.md says.
func TestGuardsHoldWithoutASessionPolicy(t *testing.T) {
	const acct = "111122223333"
	opts := allFeatures()
	opts.BotARN = "arn:aws:iam::" + acct + ":role/secops-bot"
	opts.BreakGlassRoleARNs = []string{"arn:aws:iam::" + acct + ":role/secops-breakglass"}
	_, member, write := Policies(opts)

	srv := awsfake.New()
	t.Cleanup(srv.Close)
	srv.Identities().Add("AKIDBOT", opts.BotARN)
	srv.Handle("sts", awsfake.NewSTS(srv.Identities(), nil))
	fake := awsfake.NewIAM(nil)
	srv.Handle("iam", fake)
	for _, r := range []string{"secops-bot", "secops-bot-member", "secops-bot-member-write", "secops-breakglass", "payments-deploy"} {
		fake.AddRole(acct, awsfake.IAMRole{Name: r})
	}
	roles := map[string]Document{"secops-bot-member": member, "secops-bot-member-write": write}
	for name, d := range roles {
		if err := srv.Identities().SetPolicies("arn:aws:iam::"+acct+":role/"+name, string(d.JSON())); err != nil {
			t.Fatal(err)
		}
	}
	base := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBOT", "secret", "")}
	session := func(role string) *iam.Client {
		out, err := sts.NewFromConfig(base).AssumeRole(context.Background(), &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + acct + ":role/" + role), RoleSessionName: aws.String("stolen")})
		if err != nil {
			t.Fatal(err)
		}
		c := base.Copy()
		c.Credentials = credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
		return iam.NewFromConfig(c)
	}
	allowAll := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	code := func(err error) string {
		var ae smithy.APIError
		if err == nil {
			return ""
		}
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return err.Error()
	}
	tests := []struct {
		name, role string
		call       func(c *iam.Client) error
		want       string // the error code, "" for success
	}{
		{"the write role puts an admin policy on itself", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("secops-bot-member-write"), PolicyName: aws.String("x"), PolicyDocument: allowAll})
			return err
		}, "AccessDenied"},
		{"the write role widens the member role", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("secops-bot-member"), PolicyName: aws.String("x"), PolicyDocument: allowAll})
			return err
		}, "AccessDenied"},
		{"the write role widens the bot's own role", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("secops-bot"), PolicyName: aws.String("x"), PolicyDocument: allowAll})
			return err
		}, "AccessDenied"},
		{"the write role opens a break-glass role's trust", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.UpdateAssumeRolePolicy(context.Background(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("secops-breakglass"), PolicyDocument: allowAll})
			return err
		}, "AccessDenied"},
		{"the member role changes anything", "secops-bot-member", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("payments-deploy"), PolicyName: aws.String("x"), PolicyDocument: allowAll})
			return err
		}, "AccessDenied"},
		{"the write role revokes a break-glass session, as it must", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("secops-breakglass"), PolicyName: aws.String("secops-breakglass-revoke-U0A-t1"), PolicyDocument: allowAll})
			return err
		}, ""},
		{"but it can put a policy on another principal (docs/threat-model.md)", "secops-bot-member-write", func(c *iam.Client) error {
			_, err := c.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("payments-deploy"), PolicyName: aws.String("x"), PolicyDocument: allowAll})
			return err
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.call(session(tc.role))); got != tc.want {
				t.Errorf("error code %q, want %q", got, tc.want)
			}
		})
	}
}
