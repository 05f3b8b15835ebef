package awsfake

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "arn:aws:s3:::bucket/a/b", true},
		{"arn:aws:s3:::bucket", "arn:aws:s3:::bucket", true},
		{"arn:aws:s3:::bucket", "arn:aws:s3:::bucket2", false},
		{"arn:aws:s3:::bucket*", "arn:aws:s3:::bucket2", true},
		{"arn:aws:iam::*:role/*/secops", "arn:aws:iam::111122223333:role/a/b/secops", true},
		{"arn:aws:iam::*:role/*/secops", "arn:aws:iam::111122223333:role/secops", false},
		{"s3:get?ucketpolicy", "s3:getbucketpolicy", true},
		{"s3:Get*", "s3:PutBucketPolicy", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestPolicyDecides(t *testing.T) {
	const doc = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:PutBucketPolicy","s3:Get*"],"Resource":"arn:aws:s3:::exports"},
		{"Effect":"Allow","NotAction":"iam:*","Resource":"arn:aws:ec2:*::snapshot/*"},
		{"Effect":"Deny","Action":"iam:*","Resource":["arn:aws:iam::*:role/secops-bot*"]},
		{"Effect":"Allow","Action":"iam:*","NotResource":"arn:aws:iam::*:user/root-like"},
		{"Effect":"Deny","Action":"s3:PutBucketPolicy","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}
	]}`
	p, err := ParsePolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		access Access
		want   verdict
	}{
		{"named action on the named resource", Access{"s3:PutBucketPolicy", "arn:aws:s3:::exports"}, allowed},
		{"actions match case-insensitively", Access{"S3:GETBUCKETPOLICY", "arn:aws:s3:::exports"}, allowed},
		{"another bucket", Access{"s3:PutBucketPolicy", "arn:aws:s3:::other"}, notAllowed},
		{"an action not listed", Access{"s3:DeleteBucketPolicy", "arn:aws:s3:::exports"}, notAllowed},
		{"NotAction allows the rest", Access{"ec2:ModifySnapshotAttribute", "arn:aws:ec2:eu-west-1::snapshot/snap-1"}, allowed},
		{"explicit deny wins over an allow", Access{"iam:PutRolePolicy", "arn:aws:iam::111122223333:role/secops-bot-member"}, denied},
		{"NotResource allows every other user", Access{"iam:PutUserPolicy", "arn:aws:iam::111122223333:user/alice"}, allowed},
		{"NotResource leaves its resource out", Access{"iam:PutUserPolicy", "arn:aws:iam::111122223333:user/root-like"}, notAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.decide(tt.access); got != tt.want {
				t.Errorf("decide(%v) = %v, want %v", tt.access, got, tt.want)
			}
		})
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":          `{`,
		"no statement":      `{"Version":"2012-10-17"}`,
		"bad effect":        `{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}`,
		"no action":         `{"Statement":{"Effect":"Allow","Resource":"*"}}`,
		"action and not":    `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}}`,
		"no resource":       `{"Statement":{"Effect":"Allow","Action":"*"}}`,
		"action not string": `{"Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}`,
	} {
		if _, err := ParsePolicy(doc); err == nil {
			t.Errorf("%s: ParsePolicy accepted %s", name, doc)
		}
	}
}

// session assumes a role with a session policy through the real SDK and
// returns a configuration using the credentials STS issued.
func (w *world) session(t *testing.T, role, policy, sourceIdentity string, from aws.Config) aws.Config {
	t.Helper()
	in := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("containment-C-1")}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	if sourceIdentity != "" {
		in.SourceIdentity = aws.String(sourceIdentity)
		in.Tags = []ststypes.Tag{{Key: aws.String("secops-bot-action"), Value: aws.String("C-1")}}
	}
	out, err := sts.NewFromConfig(from).AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole %s: %v", role, err)
	}
	c := from.Copy()
	c.Credentials = credentials.NewStaticCredentialsProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	return c
}

func (w *world) s3client(c aws.Config) *s3.Client {
	return s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = true })
}

const onePutPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutBucketPolicy"],"Resource":["arn:aws:s3:::exports"]}]}`

// TestSessionPolicyLimitsTheSession: a session assumed with a session
// policy may do what that policy and the role's policies both allow, and
// nothing else; the refusal reaches the SDK as AWS words it.
func TestSessionPolicyLimitsTheSession(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	const role = "arn:aws:iam::" + acctA + ":role/secops-bot-member-write"
	for _, b := range []string{"exports", "other"} {
		w.s3.AddBucket(acctA, S3Bucket{Name: b, Policy: `{"Statement":[]}`})
	}
	const newPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}`

	scoped := w.s3client(w.session(t, role, onePutPolicy, "", w.base))
	if _, err := scoped.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("exports"), Policy: aws.String(newPolicy)}); err != nil {
		t.Fatalf("the allowed call on the named bucket: %v", err)
	}
	_, err := scoped.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("other"), Policy: aws.String(newPolicy)})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "no session policy allows the s3:PutBucketPolicy action") {
		t.Errorf("the same call on another bucket: %v, want AccessDenied naming the session policy", err)
	}
	if b, _ := w.s3.Bucket("other"); b.Policy != `{"Statement":[]}` {
		t.Errorf("the refused call changed the other bucket's policy to %s", b.Policy)
	}
	if _, err := scoped.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("exports")}); apiCode(err) != "AccessDenied" {
		t.Errorf("an action the session policy does not name: %v, want AccessDenied", err)
	}
	var denied []string
	for _, c := range w.srv.Calls() {
		if c.Denied != "" {
			denied = append(denied, c.Denied)
		}
	}
	if want := "s3:PutBucketPolicy on arn:aws:s3:::other"; len(denied) != 2 || denied[0] != want {
		t.Errorf("calls recorded as denied: %v, want %q first", denied, want)
	}

	// Without a session policy the role's own policy decides; with both,
	// their intersection.
	if err := w.srv.Identities().SetPolicies(role, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:PutBucketPolicy","s3:GetBucketPolicy"],"Resource":"*"},
		{"Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::exports"}]}`); err != nil {
		t.Fatal(err)
	}
	whole := w.s3client(w.session(t, role, "", "", w.base))
	if _, err := whole.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("other")}); err != nil {
		t.Errorf("the role's policy allows reading other: %v", err)
	}
	if _, err := whole.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("exports")}); apiCode(err) != "AccessDenied" ||
		!strings.Contains(err.Error(), "explicit deny in an identity-based policy") {
		t.Errorf("the role's deny on exports: %v, want AccessDenied by explicit deny", err)
	}
	if _, err := scoped.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("exports"), Policy: aws.String(newPolicy)}); apiCode(err) != "AccessDenied" {
		t.Errorf("the session allows exports but the role denies it: %v, want AccessDenied", err)
	}
}

func TestSessionPolicyOnIAMAndSTS(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.iam.AddUser(acctA, IAMUser{Name: "alice"})
	w.iam.AddUser(acctA, IAMUser{Name: "bob"})
	const write = "arn:aws:iam::" + acctA + ":role/write"
	const policy = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iam:PutUserPolicy","Resource":["arn:aws:iam::` + acctA + `:user/alice","arn:aws:iam::` + acctA + `:user/*/alice"]},
		{"Effect":"Allow","Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Resource":"arn:aws:iam::` + acctA + `:role/breakglass"}]}`
	c := w.session(t, write, policy, "U0RESPONDER", w.base)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`
	if _, err := iam.NewFromConfig(c).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("PutUserPolicy on alice: %v", err)
	}
	if _, err := iam.NewFromConfig(c).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)}); apiCode(err) != "AccessDenied" {
		t.Errorf("PutUserPolicy on bob: %v, want AccessDenied", err)
	}
	if u, _ := w.iam.User(acctA, "bob"); len(u.Policies) != 0 {
		t.Errorf("bob got policies %v", u.Policies)
	}

	// STS checks the chained AssumeRole against the session policy too,
	// and keeps the source identity of the first session.
	client := sts.NewFromConfig(c)
	if _, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/admin"), RoleSessionName: aws.String("s")}); apiCode(err) != "AccessDenied" {
		t.Errorf("assuming a role the session policy does not name: %v, want AccessDenied", err)
	}
	if _, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/breakglass"), RoleSessionName: aws.String("s"),
		SourceIdentity: aws.String("U0SOMEONEELSE")}); apiCode(err) != "AccessDenied" {
		t.Errorf("changing the source identity in a chain: %v, want AccessDenied", err)
	}
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/breakglass"), RoleSessionName: aws.String("s")})
	if err != nil {
		t.Fatalf("chained AssumeRole: %v", err)
	}
	if s, _ := w.srv.Identities().SessionOf(*out.Credentials.AccessKeyId); s.SourceIdentity != "U0RESPONDER" || s.Policy != "" {
		t.Errorf("chained session = %+v, want the first session's source identity and no session policy", s)
	}
	calls := w.sts.AssumeRoleCalls()
	if first := calls[0]; first.Policy != policy || first.Tags["secops-bot-action"] != "C-1" {
		t.Errorf("first AssumeRole recorded %+v, want its policy and tag", first)
	}
}

func TestSessionPolicyRefusedByAssumeRole(t *testing.T) {
	w := newWorld(t)
	client := sts.NewFromConfig(w.base)
	tests := []struct {
		name, policy, code string
	}{
		{"malformed", `{"Statement":{"Effect":"Allow"}}`, "MalformedPolicyDocument"},
		{"too large", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", MaxSessionPolicySize) + `"}]}`, "PackedPolicyTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{
				RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/write"), RoleSessionName: aws.String("s"), Policy: aws.String(tt.policy),
			})
			if apiCode(err) != tt.code {
				t.Errorf("AssumeRole: %v, want %s", err, tt.code)
			}
		})
	}
}
