package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// Principal is what IAM says about the identity behind a change.
type Principal struct {
	ARN       string            `json:"arn"`
	Account   string            `json:"account"`
	Type      string            `json:"type"` // "user" or "role"
	Name      string            `json:"name"`
	Path      string            `json:"path,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
	Tags      map[string]string `json:"tags,omitempty"`
	// AccessKeys are a user's long-term keys.
	AccessKeys []AccessKey `json:"access_keys,omitempty"`
	// MaxSessionDuration is a role's longest session.
	MaxSessionDuration time.Duration `json:"max_session_duration,omitempty"`
	ReadAt             time.Time     `json:"read_at"`
}

// AccessKey is one of a user's access keys.
type AccessKey struct {
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	CreatedAt time.Time     `json:"created_at"`
	Age       time.Duration `json:"age"`
	// LastUsed is zero for a key never used.
	LastUsed        time.Time `json:"last_used,omitzero"`
	LastUsedService string    `json:"last_used_service,omitempty"`
	LastUsedRegion  string    `json:"last_used_region,omitempty"`
}

// Principal reads an IAM user or role. An assumed-role session ARN reads
// its role, the identity that persists. account may be empty, in which
// case the ARN's account is used.
func (r *Reader) Principal(ctx context.Context, account, arn string) (Principal, error) {
	kind, name, path, arnAccount, err := parsePrincipalARN(arn)
	if err != nil {
		return Principal{}, err
	}
	if account == "" {
		account = arnAccount
	}
	cfg, err := r.clients.For(ctx, account)
	if err != nil {
		return Principal{}, fmt.Errorf("read principal %s: %w", arn, err)
	}
	client := iam.NewFromConfig(cfg)
	p := Principal{ARN: arn, Account: account, Type: kind, Name: name, Path: path}
	switch kind {
	case "user":
		err = r.readUser(ctx, client, &p)
	case "role":
		err = r.readRole(ctx, client, &p)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("read %s %s: %w", kind, name, err)
	}
	p.ReadAt = r.clk.Now()
	return p, nil
}

func (r *Reader) readUser(ctx context.Context, client *iam.Client, p *Principal) error {
	u, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(p.Name)})
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if u.User != nil {
		p.ARN, p.Path, p.CreatedAt = aws.ToString(u.User.Arn), aws.ToString(u.User.Path), aws.ToTime(u.User.CreateDate)
	}
	tags := iam.NewListUserTagsPaginator(client, &iam.ListUserTagsInput{UserName: aws.String(p.Name)})
	for tags.HasMorePages() {
		page, err := tags.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list user tags: %w", err)
		}
		for _, t := range page.Tags {
			setTag(&p.Tags, aws.ToString(t.Key), aws.ToString(t.Value))
		}
	}
	keys := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: aws.String(p.Name)})
	now := r.clk.Now()
	for keys.HasMorePages() {
		page, err := keys.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list access keys: %w", err)
		}
		for _, k := range page.AccessKeyMetadata {
			key := AccessKey{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status), CreatedAt: aws.ToTime(k.CreateDate)}
			key.Age = now.Sub(key.CreatedAt)
			lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
			if err != nil {
				return fmt.Errorf("get access key last used %s: %w", key.ID, err)
			}
			if l := lu.AccessKeyLastUsed; l != nil && l.LastUsedDate != nil {
				key.LastUsed = aws.ToTime(l.LastUsedDate)
				key.LastUsedService, key.LastUsedRegion = aws.ToString(l.ServiceName), aws.ToString(l.Region)
			}
			p.AccessKeys = append(p.AccessKeys, key)
		}
	}
	return nil
}

func (r *Reader) readRole(ctx context.Context, client *iam.Client, p *Principal) error {
	out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(p.Name)})
	if err != nil {
		return fmt.Errorf("get role: %w", err)
	}
	if out.Role != nil {
		p.ARN, p.Path, p.CreatedAt = aws.ToString(out.Role.Arn), aws.ToString(out.Role.Path), aws.ToTime(out.Role.CreateDate)
		p.MaxSessionDuration = time.Duration(aws.ToInt32(out.Role.MaxSessionDuration)) * time.Second
	}
	tags := iam.NewListRoleTagsPaginator(client, &iam.ListRoleTagsInput{RoleName: aws.String(p.Name)})
	for tags.HasMorePages() {
		page, err := tags.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list role tags: %w", err)
		}
		for _, t := range page.Tags {
			setTag(&p.Tags, aws.ToString(t.Key), aws.ToString(t.Value))
		}
	}
	return nil
}

// parsePrincipalARN reads arn:aws:iam::<acct>:user/<path>/<name>,
// …:role/<path>/<name> and arn:aws:sts::<acct>:assumed-role/<role>/<session>
// (whose role's path the ARN does not say).
func parsePrincipalARN(arn string) (kind, name, path, account string, err error) {
	p, err := awsarn.ParsePrincipal(arn)
	switch {
	case errors.Is(err, awsarn.ErrMalformed):
		return "", "", "", "", fmt.Errorf("read principal %q: not an ARN", arn)
	case err == nil && (p.Kind == awsarn.KindUser || p.Kind == awsarn.KindRole):
		return string(p.Kind), p.Name, p.Path, p.Account, nil
	case err == nil && p.Kind == awsarn.KindAssumedRole:
		return "role", p.Name, "", p.Account, nil
	default:
		return "", "", "", "", fmt.Errorf("read principal %s: %w (only IAM users and roles)", arn, ErrUnsupported)
	}
}

func setTag(m *map[string]string, k, v string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}
