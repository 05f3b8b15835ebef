// Package contain is the AWS side of containment: the catalogue of vetted
// actions (what each fits, the calls it makes, the permissions it needs) and
// the calls themselves, made in the target account with the credentials the
// account's role gives. It implements containment.Provider.
//
// Every action reads the current state first, so running it twice changes
// nothing the second time, and keeps that state as the before-state undo
// restores.
package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/containment"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

// ConfigSource gives the AWS configuration for an account (the awsclient
// package assumes the account's role).
type ConfigSource interface {
	For(ctx context.Context, accountID string) (aws.Config, error)
}

// Options tune the provider.
type Options struct {
	// S3PathStyle addresses buckets by path, which local S3 servers need.
	S3PathStyle bool
}

// Provider runs the catalogue against AWS.
type Provider struct {
	src  ConfigSource
	cfg  containment.Config
	clk  clock.Clock
	opts Options
}

var _ containment.Provider = (*Provider)(nil)

// New returns a provider. A nil clock is the wall clock.
func New(src ConfigSource, cfg containment.Config, clk clock.Clock, opts Options) *Provider {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Provider{src: src, cfg: cfg, clk: clk, opts: opts}
}

// Inline policy names the IAM actions write. They are fixed so that a
// second run finds the first one's policy and undo knows what to remove.
const (
	RestrictIPPolicyName     = "secops-bot-restrict-ip"
	RevokeSessionsPolicyName = "secops-bot-revoke-older-sessions"
)

// Catalogue lists the actions with the permissions each needs. The
// permissions are what the bot's role in every account must allow.
func (p *Provider) Catalogue() []containment.Action {
	return []containment.Action{
		{
			ID:              containment.S3BlockPublicAccess,
			Title:           "Block public access to the bucket",
			Summary:         "Turns on all four S3 Block Public Access settings on the bucket; the policy stays in place as evidence. Undo restores the previous settings.",
			Permissions:     []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
			UndoPermissions: []string{"s3:PutBucketPublicAccessBlock"},
			Fit:             containment.FitBucket,
		},
		{
			ID:              containment.S3RemovePublicStatements,
			Title:           "Remove the public statements from the bucket policy",
			Summary:         "Rewrites the bucket policy without the statements that grant access to everyone. Undo puts the saved policy back.",
			Permissions:     []string{"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"},
			UndoPermissions: []string{"s3:PutBucketPolicy"},
			Fit:             containment.FitBucketPolicy,
		},
		{
			ID:      containment.SnapshotUnshare,
			Title:   "Unshare the snapshot",
			Summary: "Removes the unknown accounts (or every account) from an RDS DB or cluster snapshot, an EBS snapshot or an AMI. Undo shares it with them again and needs an admin.",
			Permissions: []string{
				"rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute",
				"rds:DescribeDBClusterSnapshotAttributes", "rds:ModifyDBClusterSnapshotAttribute",
				"ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute",
				"ec2:DescribeImageAttribute", "ec2:ModifyImageAttribute",
			},
			UndoPermissions: []string{"rds:ModifyDBSnapshotAttribute", "rds:ModifyDBClusterSnapshotAttribute", "ec2:ModifySnapshotAttribute", "ec2:ModifyImageAttribute"},
			UndoAdminOnly:   true,
			Fit:             containment.FitSnapshot,
		},
		{
			ID:              containment.IAMUserRestrictIP,
			Title:           "Lock the user to the corporate network",
			Summary:         "Adds an inline policy denying every action from outside the corporate ranges (AWS services acting for the user keep working). Undo removes it.",
			Permissions:     []string{"iam:GetUser", "iam:GetUserPolicy", "iam:PutUserPolicy"},
			UndoPermissions: []string{"iam:DeleteUserPolicy", "iam:PutUserPolicy"},
			Fit:             containment.FitUser,
		},
		{
			ID:              containment.IAMUserDeactivateKeys,
			Title:           "Deactivate the user's access keys",
			Summary:         "Sets the access key used in the event (or every key of the user) to Inactive. Undo reactivates the keys it deactivated.",
			Permissions:     []string{"iam:ListAccessKeys", "iam:UpdateAccessKey"},
			UndoPermissions: []string{"iam:UpdateAccessKey"},
			Fit:             containment.FitUserKeys,
		},
		{
			ID:              containment.IAMRoleRevokeSessions,
			Title:           "Revoke the role's active sessions",
			Summary:         "Adds an inline policy denying everything to sessions of the role issued before now, as the console's \"revoke active sessions\" does. Undo removes it.",
			Permissions:     []string{"iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"},
			UndoPermissions: []string{"iam:DeleteRolePolicy", "iam:PutRolePolicy"},
			Fit:             containment.FitRole,
		},
	}
}

// RequiredPermissions is every IAM action the catalogue needs, sorted: the
// statement to grant the bot's containment role in each account.
func (p *Provider) RequiredPermissions() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range p.Catalogue() {
		for _, perm := range append(append([]string(nil), a.Permissions...), a.UndoPermissions...) {
			if !seen[perm] {
				seen[perm] = true
				out = append(out, perm)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Preview reads the target's state and returns the calls the action would
// make.
func (p *Provider) Preview(ctx context.Context, action string, t containment.Target) (containment.Plan, error) {
	r, err := p.runner(action)
	if err != nil {
		return containment.Plan{}, err
	}
	c, err := p.config(ctx, t)
	if err != nil {
		return containment.Plan{}, err
	}
	st, err := r.read(ctx, c, t)
	if err != nil {
		return containment.Plan{}, err
	}
	return r.plan(t, st), nil
}

// Apply re-reads the state (it may have moved since the preview), works out
// the calls again and makes them.
func (p *Provider) Apply(ctx context.Context, plan containment.Plan) (containment.Outcome, error) {
	r, err := p.runner(plan.Action)
	if err != nil {
		return containment.Outcome{}, err
	}
	c, err := p.config(ctx, plan.Target)
	if err != nil {
		return containment.Outcome{}, err
	}
	st, err := r.read(ctx, c, plan.Target)
	if err != nil {
		return containment.Outcome{}, err
	}
	fresh := r.plan(plan.Target, st)
	out := containment.Outcome{Before: fresh.Before}
	if fresh.NoOp {
		out.Summary = "already contained; nothing was changed"
		out.After = fresh.Before
		return out, nil
	}
	out.Calls, err = r.apply(ctx, c, plan.Target, st)
	if err != nil {
		return out, err
	}
	after, err := r.read(ctx, c, plan.Target)
	if err != nil {
		return out, fmt.Errorf("read back %s: %w", plan.Target, err)
	}
	out.After = after.json()
	out.Changed = true
	out.Summary = r.summary(plan.Target, st, after)
	return out, nil
}

// Undo restores the before-state of a record's run.
func (p *Provider) Undo(ctx context.Context, rec containment.Record) (containment.Outcome, error) {
	r, err := p.runner(rec.Action)
	if err != nil {
		return containment.Outcome{}, err
	}
	if rec.Outcome == nil {
		return containment.Outcome{}, fmt.Errorf("undo %s: nothing was run", rec.ID)
	}
	c, err := p.config(ctx, rec.Target)
	if err != nil {
		return containment.Outcome{}, err
	}
	now, err := r.read(ctx, c, rec.Target)
	if err != nil {
		return containment.Outcome{}, err
	}
	out := containment.Outcome{Before: now.json()}
	if !rec.Outcome.Changed {
		out.Summary = "the run changed nothing, so there is nothing to undo"
		out.After = out.Before
		return out, nil
	}
	out.Calls, err = r.undo(ctx, c, rec.Target, rec.Outcome.Before, rec.Outcome.After, now)
	if err != nil {
		return out, err
	}
	after, err := r.read(ctx, c, rec.Target)
	if err != nil {
		return out, fmt.Errorf("read back %s: %w", rec.Target, err)
	}
	out.After, out.Changed = after.json(), len(out.Calls) > 0
	out.Summary = "put back the state saved before the run: " + describe(after)
	return out, nil
}

// state is an action's view of its target.
type state interface {
	json() json.RawMessage
	String() string
}

func describe(s state) string { return s.String() }

// runner is one action's calls.
type runner interface {
	read(ctx context.Context, c aws.Config, t containment.Target) (state, error)
	plan(t containment.Target, st state) containment.Plan
	apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error)
	undo(ctx context.Context, c aws.Config, t containment.Target, before, after json.RawMessage, now state) ([]containment.Call, error)
	summary(t containment.Target, before, after state) string
}

func (p *Provider) runner(action string) (runner, error) {
	switch action {
	case containment.S3BlockPublicAccess:
		return pabRunner{p}, nil
	case containment.S3RemovePublicStatements:
		return policyRunner{p}, nil
	case containment.SnapshotUnshare:
		return unshareRunner{p}, nil
	case containment.IAMUserRestrictIP:
		return restrictRunner{p}, nil
	case containment.IAMUserDeactivateKeys:
		return keysRunner{p}, nil
	case containment.IAMRoleRevokeSessions:
		return revokeRunner{p}, nil
	}
	return nil, fmt.Errorf("%q: %w", action, containment.ErrUnknownAction)
}

func (p *Provider) config(ctx context.Context, t containment.Target) (aws.Config, error) {
	if t.AccountID == "" {
		return aws.Config{}, fmt.Errorf("target %s names no account", t.ID)
	}
	c, err := p.src.For(ctx, t.AccountID)
	if err != nil {
		// A refused or throttled AssumeRole is told to the responder like
		// any other AWS answer, naming the account, not as the SDK's dump.
		if errors.Is(err, awsclient.ErrAssumeRole) {
			if pe, ok := awsErr(containment.APIAssumeRole, t.AccountID, err).(*containment.ProviderError); ok {
				return aws.Config{}, fmt.Errorf("credentials for account %s: %w", t.AccountID, pe)
			}
		}
		return aws.Config{}, fmt.Errorf("credentials for account %s: %w", t.AccountID, err)
	}
	c = c.Copy()
	if t.Region != "" {
		c.Region = t.Region
	}
	return c, nil
}

// awsErr turns an SDK error into a containment.ProviderError, which the
// thread shows in plain words.
func awsErr(api, account string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &containment.ProviderError{API: api, Account: account, Code: ae.ErrorCode(), Message: ae.ErrorMessage(), Err: err}
	}
	return fmt.Errorf("%s in %s: %w", api, account, err)
}

// apiCode is the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// indent renders a document for the preview; invalid JSON is shown as is.
func indent(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	out, _ := json.MarshalIndent(v, "", "  ") // re-encoding decoded JSON cannot fail
	return string(out)
}

func mustJSON(v any) json.RawMessage {
	raw, _ := json.Marshal(v) // only plain structs of strings, bools and slices
	return raw
}
