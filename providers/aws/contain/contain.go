// Package contain is the AWS side of containment: the catalogue of vetted
// actions (what each fits, the calls it makes, the permissions it needs) and
// the calls themselves, made in the target account with the credentials the
// account's role gives. It implements containment.Provider.
//
// Every action reads the current state first, so running it twice changes
// nothing the second time, and keeps that state as the before-state.
//
// Reading and changing use different credentials. State is read with the
// account's member role; each change (a confirmed run, an undo) gets a
// session of the write role of its own, limited by a session policy to the
// IAM actions of exactly the calls it is about to make on exactly its
// target's ARNs, with the confirming user as SourceIdentity and the record
// ID as session tag (awsclient.ForAction).
//
// Undo never puts back a whole saved state: it compares the state now with
// the state the run left, and re-adds only what the run removed (the
// removed statements into today's policy, the removed accounts into
// today's share list, the flags it set, the policy it added, the keys it
// deactivated), leaving every later change as it is. When the target
// changed since the run, Undo refuses with a containment.DriftError
// carrying the difference until the user confirms that very state.
package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// ConfigSource gives the AWS configuration to read in an account, and a
// write session limited to one change (awsclient.Clients).
type ConfigSource interface {
	For(ctx context.Context, accountID string) (aws.Config, error)
	ForAction(ctx context.Context, accountID string, s awsclient.Scope) (aws.Config, error)
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
			Summary:         "Turns on all four S3 Block Public Access settings on the bucket; the policy stays in place as evidence. Undo turns off only the settings it turned on.",
			Permissions:     []string{"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
			UndoPermissions: []string{"s3:PutBucketPublicAccessBlock"},
			Fit:             containment.FitBucket,
		},
		{
			ID:              containment.S3RemovePublicStatements,
			Title:           "Remove the public statements from the bucket policy",
			Summary:         "Rewrites the bucket policy without the statements that grant access to everyone. Undo adds those statements back to the policy as it is then, keeping later changes.",
			Permissions:     []string{"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"},
			UndoPermissions: []string{"s3:PutBucketPolicy"},
			Fit:             containment.FitBucketPolicy,
		},
		{
			ID:      containment.SnapshotUnshare,
			Title:   "Unshare the snapshot",
			Summary: "Removes the unknown accounts (or every account) from an RDS DB or cluster snapshot, an EBS snapshot or an AMI. Undo shares it again with the accounts it removed, and only those, and needs an admin.",
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
			ID:              containment.KMSRemoveAccount,
			Title:           "Take the accounts off the snapshot's key",
			Summary:         "Removes the accounts a snapshot is shared with from the key policy of the customer-managed key encrypting it, and revokes their grants, so the share cannot be copied or restored. Undo puts them back (grants get new IDs) and needs an admin.",
			Permissions:     []string{"kms:GetKeyPolicy", "kms:ListGrants", "kms:PutKeyPolicy", "kms:RevokeGrant"},
			UndoPermissions: []string{"kms:PutKeyPolicy", "kms:CreateGrant"},
			UndoAdminOnly:   true,
			Fit:             containment.FitKey,
		},
		{
			ID:              containment.IAMUserRestrictIP,
			Title:           "Lock the user to the corporate network",
			Summary:         "Adds an inline policy denying every action from outside the corporate ranges (AWS services acting for the user keep working). Undo removes it unless someone changed it since.",
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
			Summary:         "Adds an inline policy denying everything to sessions of the role issued before now, as the console's \"revoke active sessions\" does. Undo removes it unless someone changed it since.",
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
// the calls again and makes them in a write session limited to them, as
// the record's runner.
func (p *Provider) Apply(ctx context.Context, rec containment.Record) (containment.Outcome, error) {
	plan := rec.Plan
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
	w, err := p.writeConfig(ctx, c, plan.Target, fresh.Calls, rec.RanBy, rec.ID)
	if err != nil {
		return out, err
	}
	out.Calls, err = r.apply(ctx, w, plan.Target, st)
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

// PreviewUndo reads the target and works out what an undo would do now:
// its calls, what changed since the run, and what undo leaves alone.
func (p *Provider) PreviewUndo(ctx context.Context, rec containment.Record) (containment.UndoPlan, error) {
	u, err := p.reverse(ctx, rec)
	return u.plan, err
}

// undoing is an undo worked out: the reading configuration, the state now,
// the reversal and what it is shown as.
type undoing struct {
	c    aws.Config
	r    runner
	now  state
	rev  reversal
	plan containment.UndoPlan
}

// reverse reads the target now and works out the undo of a record's run.
func (p *Provider) reverse(ctx context.Context, rec containment.Record) (undoing, error) {
	r, err := p.runner(rec.Action)
	if err != nil {
		return undoing{}, err
	}
	if rec.Outcome == nil {
		return undoing{}, fmt.Errorf("undo %s: nothing was run", rec.ID)
	}
	c, err := p.config(ctx, rec.Target)
	if err != nil {
		return undoing{}, err
	}
	now, err := r.read(ctx, c, rec.Target)
	if err != nil {
		return undoing{}, err
	}
	u := undoing{c: c, r: r, now: now, plan: containment.UndoPlan{Current: now.json(), State: containment.Fingerprint(now.json())}}
	if !rec.Outcome.Changed {
		return u, nil
	}
	u.rev, err = r.reverse(rec.Target, rec.Outcome.Before, rec.Outcome.After, now)
	if err != nil {
		return undoing{}, fmt.Errorf("undo %s: %w", rec.ID, err)
	}
	u.plan.Calls, u.plan.Changes, u.plan.Notes = u.rev.calls, u.rev.changes, u.rev.kept
	return u, nil
}

// Undo re-adds what a record's run removed, in a write session limited to
// the calls it makes, as the user by. When the target changed since the
// run it acts only if state is the fingerprint of the state read now, the
// one the user saw and confirmed; otherwise it changes nothing and returns
// a *containment.DriftError with the difference.
func (p *Provider) Undo(ctx context.Context, rec containment.Record, by, state string) (containment.Outcome, error) {
	u, err := p.reverse(ctx, rec)
	if err != nil {
		return containment.Outcome{}, err
	}
	out := containment.Outcome{Before: u.now.json()}
	if !rec.Outcome.Changed {
		out.Summary = "the run changed nothing, so there is nothing to undo"
		out.After = out.Before
		return out, nil
	}
	if u.plan.Drifted() && u.plan.State != state {
		return out, &containment.DriftError{Plan: u.plan}
	}
	if len(u.rev.calls) == 0 {
		out.After = out.Before
		out.Summary = "nothing to put back: " + strings.Join(append(slices.Clone(u.rev.kept), "now "+u.now.String()), "; ")
		return out, nil
	}
	w, err := p.writeConfig(ctx, u.c, rec.Target, u.rev.calls, by, rec.ID)
	if err != nil {
		return out, err
	}
	out.Calls = u.rev.calls
	if err := u.rev.run(ctx, w); err != nil {
		return out, err
	}
	after, err := u.r.read(ctx, u.c, rec.Target)
	if err != nil {
		return out, fmt.Errorf("read back %s: %w", rec.Target, err)
	}
	out.After, out.Changed = after.json(), true
	parts := []string{u.rev.did}
	if len(u.rev.kept) > 0 {
		parts = append(parts, "left as changed since: "+strings.Join(u.rev.kept, "; "))
	}
	out.Summary = strings.Join(append(parts, "now "+after.String()), "; ")
	return out, nil
}

// state is an action's view of its target.
type state interface {
	json() json.RawMessage
	String() string
}

// runner is one action's calls. read gets the member role's
// configuration; apply and a reversal's run get a write session limited to
// the calls they make.
type runner interface {
	read(ctx context.Context, c aws.Config, t containment.Target) (state, error)
	plan(t containment.Target, st state) containment.Plan
	apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error)
	// reverse works out the undo of a run from the states before and
	// after it and the state now.
	reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error)
	summary(t containment.Target, before, after state) string
}

// reversal is what an undo does.
type reversal struct {
	// calls are made by run, in order; none when there is nothing left to
	// put back.
	calls []containment.Call
	run   func(ctx context.Context, c aws.Config) error
	// did says in words what run puts back.
	did string
	// changes are what changed in the target since the run; kept what
	// undo leaves alone because of them.
	changes, kept []string
}

func (p *Provider) runner(action string) (runner, error) {
	switch action {
	case containment.S3BlockPublicAccess:
		return pabRunner{p}, nil
	case containment.S3RemovePublicStatements:
		return policyRunner{p}, nil
	case containment.SnapshotUnshare:
		return unshareRunner{p}, nil
	case containment.KMSRemoveAccount:
		return keyRunner{p}, nil
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

// writeConfig opens the write session for calls on a target: the IAM
// actions of exactly those calls, on exactly the target's ARNs, in the
// region c reads in, as actor, tagged with the record ID.
func (p *Provider) writeConfig(ctx context.Context, c aws.Config, t containment.Target, calls []containment.Call, actor, recordID string) (aws.Config, error) {
	scope := awsclient.Scope{Actions: Permissions(calls), Resources: TargetARNs(t, c.Region), Actor: actor, ActionID: recordID}
	w, err := p.src.ForAction(ctx, t.AccountID, scope)
	if err != nil {
		if errors.Is(err, awsclient.ErrAssumeRole) {
			if pe, ok := awsErr(containment.APIAssumeWriteRole, t.AccountID, err).(*containment.ProviderError); ok {
				return aws.Config{}, fmt.Errorf("write session for account %s: %w", t.AccountID, pe)
			}
		}
		return aws.Config{}, fmt.Errorf("write session for account %s: %w", t.AccountID, err)
	}
	w = w.Copy()
	w.Region = c.Region
	return w, nil
}

// callPermission maps the calls whose IAM action is not named after them.
var callPermission = map[string]string{
	"s3:PutPublicAccessBlock":    "s3:PutBucketPublicAccessBlock",
	"s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
}

// Permissions are the IAM actions the calls need, sorted, once each.
func Permissions(calls []containment.Call) []string {
	var out []string
	for _, c := range calls {
		perm := c.API
		if p, ok := callPermission[c.API]; ok {
			perm = p
		}
		if !slices.Contains(out, perm) {
			out = append(out, perm)
		}
	}
	slices.Sort(out)
	return out
}

// TargetARNs are the ARNs a write session on the target may act on. An
// IAM user or role is named twice, without a path and with any path, since
// the finding does not always know the path and a name is unique in its
// account whatever the path.
func TargetARNs(t containment.Target, region string) []string {
	part := awsarn.PartitionOf(region)
	switch t.Type {
	case awsarn.TypeS3Bucket:
		return []string{awsarn.S3Bucket(part, t.ID).String()}
	case awsarn.TypeRDSSnapshot:
		return []string{awsarn.RDSSnapshot(part, region, t.AccountID, t.ID).String()}
	case awsarn.TypeRDSClusterSnapshot:
		return []string{awsarn.RDSClusterSnapshot(part, region, t.AccountID, t.ID).String()}
	case awsarn.TypeEC2Snapshot:
		return []string{awsarn.EC2Snapshot(part, region, t.ID).String()}
	case awsarn.TypeEC2Image:
		return []string{awsarn.EC2Image(part, region, t.ID).String()}
	case awsarn.TypeKMSKey:
		if t.ARN != "" {
			return []string{t.ARN}
		}
		return []string{awsarn.KMSKey(part, region, t.AccountID, t.ID).String()}
	case awsarn.TypeIAMUser:
		return []string{awsarn.IAMUser(part, t.AccountID, "", t.ID).String(), awsarn.IAMUser(part, t.AccountID, "/*/", t.ID).String()}
	case awsarn.TypeIAMRole:
		return []string{awsarn.IAMRole(part, t.AccountID, "", t.ID).String(), awsarn.IAMRole(part, t.AccountID, "/*/", t.ID).String()}
	}
	return nil
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
