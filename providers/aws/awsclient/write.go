package awsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// Scope is one confirmed change: what its write session may do.
type Scope struct {
	// Actions are IAM actions ("s3:PutBucketPolicy") and Resources the
	// ARNs they may act on; the session policy allows exactly these. Both
	// are required, and neither may hold a wildcard "*" on its own.
	Actions   []string
	Resources []string
	// Actor is who confirmed the change (a Slack user ID), the session's
	// SourceIdentity: CloudTrail records it on every call of the session
	// and of any session chained from it.
	Actor string
	// ActionID is the containment record or break-glass request the
	// change belongs to: the session's tag and part of its name.
	ActionID string
}

// Write sessions.
const (
	// TagAction is the session tag carrying Scope.ActionID.
	TagAction = "secops-bot-action"
	// writeSession is how long a write session lasts: the shortest STS
	// issues, as one change takes seconds.
	writeSession = 15 * time.Minute
)

var (
	// sourceIdentityRe is what STS accepts as a SourceIdentity and as a
	// session name: [\w+=,.@-], 2 to 64 of them.
	sourceIdentityRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	sessionUnsafe    = regexp.MustCompile(`[^\w+=,.@-]`)
)

// ErrScope is wrapped by every refusal to open a write session for a scope
// that does not name its actions, resources and actor.
var ErrScope = errors.New("write scope is incomplete")

// SessionPolicy is the inline session policy of a scope: one statement
// allowing exactly its actions on exactly its resources.
func SessionPolicy(s Scope) string {
	actions := slices.Clone(s.Actions)
	slices.Sort(actions)
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":      "ThisChangeOnly",
			"Effect":   "Allow",
			"Action":   slices.Compact(actions),
			"Resource": s.Resources,
		}},
	}
	raw, _ := json.Marshal(doc) // strings and lists of strings
	return string(raw)
}

func (s Scope) check() error {
	var problems []string
	if len(s.Actions) == 0 {
		problems = append(problems, "no action")
	}
	if len(s.Resources) == 0 {
		problems = append(problems, "no resource")
	}
	for _, v := range append(slices.Clone(s.Actions), s.Resources...) {
		if v == "*" || strings.HasSuffix(v, ":*") {
			problems = append(problems, fmt.Sprintf("%q is a wildcard", v))
		}
	}
	if !sourceIdentityRe.MatchString(s.Actor) {
		problems = append(problems, fmt.Sprintf("actor %q cannot be a source identity", s.Actor))
	}
	if s.ActionID == "" {
		problems = append(problems, "no action ID")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrScope, strings.Join(problems, "; "))
	}
	return nil
}

// ForAction returns a configuration for one change in an account: a fresh
// session of the account's write role limited by the scope's session
// policy, named after the action ID, with the actor as SourceIdentity and
// the action ID as the TagAction tag. When the write role is the member
// role itself (no write role configured), the session carries neither
// SourceIdentity nor tag, which that role's trust policy may not allow;
// without any member role the base credentials are returned, unlimited
// (see Warnings). Sessions are never cached: each change has its own.
func (c *Clients) ForAction(ctx context.Context, accountID string, s Scope) (aws.Config, error) {
	if !accountRe.MatchString(accountID) {
		return aws.Config{}, fmt.Errorf("account %q is not a 12-digit account ID", accountID)
	}
	if err := s.check(); err != nil {
		return aws.Config{}, fmt.Errorf("write session in %s: %w", accountID, err)
	}
	arn := c.WriteRoleARN(accountID)
	if arn == "" {
		return c.base.Copy(), nil
	}
	policy := SessionPolicy(s)
	name := sessionUnsafe.ReplaceAllString(c.opts.SessionName+"-"+s.ActionID, "_")
	if len(name) > 64 {
		name = name[:64]
	}
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(arn),
		RoleSessionName: aws.String(name),
		DurationSeconds: aws.Int32(int32(writeSession / time.Second)),
		Policy:          aws.String(policy),
	}
	if arn != c.RoleARN(accountID) {
		in.SourceIdentity = aws.String(s.Actor)
		in.Tags = []ststypes.Tag{{Key: aws.String(TagAction), Value: aws.String(s.ActionID)}}
	}
	if c.opts.ExternalID != "" {
		in.ExternalId = aws.String(c.opts.ExternalID)
	}
	out, err := sts.NewFromConfig(c.base).AssumeRole(ctx, in)
	if err != nil {
		return aws.Config{}, fmt.Errorf("account %s: assume role %s for %s: %w: %w", accountID, arn, s.ActionID, ErrAssumeRole, err)
	}
	if out.Credentials == nil {
		return aws.Config{}, fmt.Errorf("account %s: assume role %s for %s: %w: no credentials in the reply", accountID, arn, s.ActionID, ErrAssumeRole)
	}
	cfg := c.base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(credentials.StaticCredentialsProvider{Value: aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
		Source:          "secops-bot write session " + s.ActionID + " on " + arn,
		CanExpire:       true,
		Expires:         aws.ToTime(out.Credentials.Expiration),
	}})
	return cfg, nil
}
