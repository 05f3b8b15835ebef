// Package canary makes the bot's canary call in AWS: it asks STS who the
// bot is and tags that very principal (its role, or its IAM user) with the
// time of the call. Tagging itself is harmless, needs no resource of its
// own, and is an IAM write, so CloudTrail records it in us-east-1 and the
// event has to cross the same trail, EventBridge forwarding and queue as
// every event the bot relies on.
package canary

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// TagKey is the tag written on the bot's principal; its value is the time
// of the call (RFC 3339, UTC).
const TagKey = "secops-bot:canary"

// ConfigSource hands out the AWS configuration to act in a member account
// (awsclient.Clients).
type ConfigSource interface {
	For(ctx context.Context, accountID string) (aws.Config, error)
}

// Tagger makes canary calls.
type Tagger struct {
	base     aws.Config
	accounts ConfigSource
}

// New returns a tagger acting with base (the bot's own credentials) and,
// for member accounts, with accounts, which may be nil when there are
// none.
func New(base aws.Config, accounts ConfigSource) *Tagger {
	return &Tagger{base: base, accounts: accounts}
}

// Tagged is a canary call that was made.
type Tagged struct {
	Account string
	// Kind is "role" or "user"; Name is the role's or user's name.
	Kind string
	Name string
	// ResourceARN is the tagged principal as CloudTrail history names the
	// call's resource: arn:PARTITION:iam::ACCOUNT:role/NAME, without a
	// path.
	ResourceARN string
	// EventName is the CloudTrail event the call produces: TagRole or
	// TagUser.
	EventName string
	// CallerARN is who signed the call (the role session, or the user).
	CallerARN string
	// Value is the tag value written.
	Value string
}

// Tag tags the principal the bot acts as, in account (empty for the bot's
// own credentials; otherwise the role the bot assumes there, which must
// then be in that account).
func (t *Tagger) Tag(ctx context.Context, account string, at time.Time) (Tagged, error) {
	cfg := t.base
	if account != "" {
		if t.accounts == nil {
			return Tagged{}, fmt.Errorf("canary in account %s: no member-account access configured (aws.enabled)", account)
		}
		c, err := t.accounts.For(ctx, account)
		if err != nil {
			return Tagged{}, fmt.Errorf("canary in account %s: %w", account, err)
		}
		cfg = c
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Tagged{}, fmt.Errorf("canary: who am I (sts:GetCallerIdentity): %w", err)
	}
	out, err := principal(aws.ToString(id.Arn))
	if err != nil {
		return Tagged{}, err
	}
	if account != "" && out.Account != account {
		return Tagged{}, fmt.Errorf("canary in account %s: the bot acts there as %s, of account %s; configure a member role (aws.member_role_name or accounts[].role_arn) for it",
			account, out.CallerARN, out.Account)
	}
	out.Value = at.UTC().Format(time.RFC3339)
	tags := []iamtypes.Tag{{Key: aws.String(TagKey), Value: aws.String(out.Value)}}
	client := iam.NewFromConfig(cfg)
	switch out.Kind {
	case "role":
		_, err = client.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(out.Name), Tags: tags})
	default:
		_, err = client.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(out.Name), Tags: tags})
	}
	if err != nil {
		return Tagged{}, fmt.Errorf("canary: tag %s %s (iam:%s): %w%s", out.Kind, out.Name, out.EventName, err, hint(err))
	}
	return out, nil
}

// principal reads who the caller is from its ARN:
// arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION is role NAME, and
// arn:aws:iam::ACCOUNT:user/PATH/NAME is user NAME. Other identities
// (root, federated users) cannot be tagged.
func principal(arn string) (Tagged, error) {
	p, err := awsarn.ParsePrincipal(arn)
	if errors.Is(err, awsarn.ErrMalformed) {
		return Tagged{}, fmt.Errorf("canary: caller %q is not an ARN", arn)
	}
	out := Tagged{Account: p.Account, CallerARN: arn}
	switch {
	case err == nil && p.Kind == awsarn.KindAssumedRole:
		out.Kind, out.Name, out.EventName = "role", p.Name, "TagRole"
		out.ResourceARN = awsarn.IAMRole(p.Partition, p.Account, "", p.Name).String()
	case err == nil && p.Kind == awsarn.KindUser:
		out.Kind, out.Name, out.EventName = "user", p.Name, "TagUser"
		out.ResourceARN = awsarn.IAMUser(p.Partition, p.Account, "", p.Name).String()
	default:
		return Tagged{}, fmt.Errorf("canary: the bot runs as %s, which cannot be tagged; run it with an IAM role (or user)", arn)
	}
	return out, nil
}

// hint says how to fix the errors an operator can fix.
func hint(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException":
		return " (allow iam:TagRole and iam:TagUser on the bot's own principal: secops-bot iam-policy prints the statement)"
	case "NoSuchEntity":
		return " (the principal is gone; was the role deleted?)"
	}
	return ""
}
