package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/secops-bot/secops-bot/respond/containment"
)

// inlineState is one inline policy of a user or role; "" when absent.
type inlineState struct {
	PolicyName string `json:"policy_name"`
	Document   string `json:"document"`
	// want is the document the action would put now.
	want string
}

func (s inlineState) json() json.RawMessage { return mustJSON(s) }

func (s inlineState) String() string {
	if s.Document == "" {
		return "no inline policy " + s.PolicyName
	}
	return "inline policy " + s.PolicyName + " in place"
}

// RestrictIPPolicy is the deny policy iam-user-restrict-ip puts on a user:
// every action is denied unless the request comes from a corporate range,
// through one of the corporate VPC endpoints, or from an AWS service acting
// for the user (aws:ViaAWSService), which would otherwise break, say, S3
// calls made by CloudFormation on the user's behalf.
func RestrictIPPolicy(cidrs, vpcEndpoints []string) string {
	cond := map[string]any{
		"NotIpAddress": map[string]any{"aws:SourceIp": cidrs},
		"Bool":         map[string]any{"aws:ViaAWSService": "false"},
	}
	if len(vpcEndpoints) > 0 {
		// Requests through a VPC endpoint carry no aws:SourceIp, so
		// NotIpAddress alone would deny them.
		cond["StringNotEquals"] = map[string]any{"aws:SourceVpce": vpcEndpoints}
	}
	return policyDoc(map[string]any{
		"Sid": "SecOpsBotRestrictToCorporateNetwork", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond,
	})
}

// RevokeSessionsPolicy denies everything to sessions issued before the
// given time, as the console's "revoke active sessions" does. Sessions
// started later are unaffected.
func RevokeSessionsPolicy(before time.Time) string {
	return policyDoc(map[string]any{
		"Sid": "SecOpsBotRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{"DateLessThan": map[string]any{"aws:TokenIssueTime": before.UTC().Format(time.RFC3339)}},
	})
}

func policyDoc(stmt map[string]any) string {
	raw, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{stmt}}) // plain maps of strings
	return string(raw)
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// iamDoc decodes a policy document as IAM returns it (URL-encoded).
func iamDoc(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

type restrictRunner struct{ p *Provider }

func (r restrictRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	if len(r.p.cfg.CorporateCIDRs) == 0 {
		// An empty range list would deny the user everything from
		// everywhere: a lockout, not a restriction.
		return nil, fmt.Errorf("iam-user-restrict-ip needs containment.corporate_cidrs in the configuration: %w", containment.ErrNotApplicable)
	}
	cl := iam.NewFromConfig(c)
	if _, err := cl.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(t.ID)}); err != nil {
		return nil, awsErr("iam:GetUser", t.AccountID, err)
	}
	s := inlineState{PolicyName: RestrictIPPolicyName, want: RestrictIPPolicy(r.p.cfg.CorporateCIDRs, r.p.cfg.VPCEndpoints)}
	out, err := cl.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(t.ID), PolicyName: aws.String(RestrictIPPolicyName)})
	switch {
	case apiCode(err) == "NoSuchEntity":
	case err != nil:
		return nil, awsErr("iam:GetUserPolicy", t.AccountID, err)
	default:
		s.Document = iamDoc(aws.ToString(out.PolicyDocument))
	}
	return s, nil
}

func putUserPolicyCall(user, name, doc string) containment.Call {
	return containment.Call{API: "iam:PutUserPolicy", Params: []containment.Param{{Name: "UserName", Value: user}, {Name: "PolicyName", Value: name}}, Document: indent([]byte(doc))}
}

func (r restrictRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(inlineState)
	p := containment.Plan{Action: containment.IAMUserRestrictIP, Target: t, Before: s.json(), NoOp: sameJSON(s.Document, s.want)}
	if !p.NoOp {
		p.Calls = []containment.Call{putUserPolicyCall(t.ID, RestrictIPPolicyName, s.want)}
	}
	p.Notes = []string{
		"Allowed ranges: " + strings.Join(r.p.cfg.CorporateCIDRs, ", ") + ".",
		"IAM changes take from seconds to a few minutes to apply everywhere.",
	}
	if len(r.p.cfg.VPCEndpoints) == 0 {
		p.Notes = append(p.Notes, "Requests through VPC endpoints carry no source IP and are denied too; list the corporate endpoints in containment.vpc_endpoints to exempt them.")
	}
	return p
}

func (r restrictRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	s := st.(inlineState)
	_, err := iam.NewFromConfig(c).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(t.ID), PolicyName: aws.String(RestrictIPPolicyName), PolicyDocument: aws.String(s.want)})
	return []containment.Call{putUserPolicyCall(t.ID, RestrictIPPolicyName, s.want)}, awsErr("iam:PutUserPolicy", t.AccountID, err)
}

// reverse removes the policy the run put, or puts back the version of it
// found before the run; a policy changed or deleted since is left as it is.
func (r restrictRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	return reverseInline(t, before, after, now, "user", func(ctx context.Context, c aws.Config, doc string) error {
		cl := iam.NewFromConfig(c)
		if doc == "" {
			_, err := cl.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(t.ID), PolicyName: aws.String(RestrictIPPolicyName)})
			if apiCode(err) == "NoSuchEntity" {
				return nil // removed meanwhile
			}
			return awsErr("iam:DeleteUserPolicy", t.AccountID, err)
		}
		_, err := cl.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(t.ID), PolicyName: aws.String(RestrictIPPolicyName), PolicyDocument: aws.String(doc)})
		return awsErr("iam:PutUserPolicy", t.AccountID, err)
	})
}

// reverseInline is the undo of an action that put one inline policy on a
// user or role: when the policy is still the one the run put, it is
// deleted (or the version found before the run is put back); when it was
// changed or deleted since, it is left as it is.
func reverseInline(t containment.Target, before, after json.RawMessage, now state, kind string,
	put func(ctx context.Context, c aws.Config, doc string) error) (reversal, error) {
	var b, a inlineState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved %s policy: %w", kind, err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read %s policy after the run: %w", kind, err)
	}
	n := now.(inlineState)
	name := a.PolicyName
	var rev reversal
	switch {
	case n.Document == "" && a.Document != "":
		rev.changes = append(rev.changes, "the inline policy "+name+" of "+kind+" "+t.ID+" was deleted after the run")
		rev.kept = append(rev.kept, name+" stays deleted")
		return rev, nil
	case !sameJSON(n.Document, a.Document):
		rev.changes = append(rev.changes, "the inline policy "+name+" of "+kind+" "+t.ID+" was changed after the run")
		rev.kept = append(rev.kept, name+" stays as changed; remove it by hand if it should go")
		return rev, nil
	}
	params := []containment.Param{{Name: titleKind(kind) + "Name", Value: t.ID}, {Name: "PolicyName", Value: name}}
	api := "iam:Delete" + titleKind(kind) + "Policy"
	rev.did = "deleted the inline policy " + name
	call := containment.Call{API: api, Params: params}
	if b.Document != "" {
		api = "iam:Put" + titleKind(kind) + "Policy"
		rev.did = "put back the version of " + name + " found before the run"
		call = containment.Call{API: api, Params: params, Document: indent([]byte(b.Document))}
	}
	doc := b.Document
	rev.calls = []containment.Call{call}
	rev.run = func(ctx context.Context, c aws.Config) error { return put(ctx, c, doc) }
	return rev, nil
}

func titleKind(kind string) string {
	if kind == "role" {
		return "Role"
	}
	return "User"
}

func (r restrictRunner) summary(t containment.Target, _, after state) string {
	if after.(inlineState).Document == "" {
		return "user " + t.ID + " has no IP restriction"
	}
	return "user " + t.ID + " can act only from " + strings.Join(r.p.cfg.CorporateCIDRs, ", ") + " (policy " + RestrictIPPolicyName + ")"
}

// keysState lists a user's access keys and their status.
type keysState struct {
	Keys []keyStatus `json:"keys"`
	// deactivate are the Active keys the action would deactivate now.
	deactivate []string
}

type keyStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func (s keysState) json() json.RawMessage {
	if s.Keys == nil {
		s.Keys = []keyStatus{}
	}
	return mustJSON(s)
}

func (s keysState) String() string {
	var parts []string
	for _, k := range s.Keys {
		parts = append(parts, k.ID+" "+k.Status)
	}
	if len(parts) == 0 {
		return "no access keys"
	}
	return strings.Join(parts, ", ")
}

type keysRunner struct{ p *Provider }

func (r keysRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	out, err := iam.NewFromConfig(c).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(t.ID)})
	if err != nil {
		return nil, awsErr("iam:ListAccessKeys", t.AccountID, err)
	}
	var s keysState
	found := false
	for _, k := range out.AccessKeyMetadata {
		id := aws.ToString(k.AccessKeyId)
		s.Keys = append(s.Keys, keyStatus{ID: id, Status: string(k.Status)})
		if t.AccessKeyID != "" && id != t.AccessKeyID {
			continue
		}
		found = found || id == t.AccessKeyID
		if k.Status == iamtypes.StatusTypeActive {
			s.deactivate = append(s.deactivate, id)
		}
	}
	if t.AccessKeyID != "" && !found {
		return nil, fmt.Errorf("user %s has no access key %s: %w", t.ID, t.AccessKeyID, containment.ErrNotApplicable)
	}
	return s, nil
}

func updateKeyCall(user, id string, status iamtypes.StatusType) containment.Call {
	return containment.Call{API: "iam:UpdateAccessKey", Params: []containment.Param{{Name: "UserName", Value: user}, {Name: "AccessKeyId", Value: id}, {Name: "Status", Value: string(status)}}}
}

func (r keysRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(keysState)
	p := containment.Plan{Action: containment.IAMUserDeactivateKeys, Target: t, Before: s.json(), NoOp: len(s.deactivate) == 0}
	for _, id := range s.deactivate {
		p.Calls = append(p.Calls, updateKeyCall(t.ID, id, iamtypes.StatusTypeInactive))
	}
	p.Notes = []string{"Anything using these keys (scripts, backups) stops working until they are reactivated. Sessions already started with them are not ended."}
	return p
}

func (r keysRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	cl := iam.NewFromConfig(c)
	var calls []containment.Call
	for _, id := range st.(keysState).deactivate {
		calls = append(calls, updateKeyCall(t.ID, id, iamtypes.StatusTypeInactive))
		if _, err := cl.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(t.ID), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
			return calls, awsErr("iam:UpdateAccessKey", t.AccountID, err)
		}
	}
	return calls, nil
}

// reverse reactivates the keys the run deactivated that are still
// inactive; a key reactivated or deleted since, and every other key, is
// left as it is.
func (r keysRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	var b, a keysState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved keys: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read keys after the run: %w", err)
	}
	cur := now.(keysState)
	status := func(s keysState, id string) string {
		for _, k := range s.Keys {
			if k.ID == id {
				return k.Status
			}
		}
		return ""
	}
	var rev reversal
	for _, k := range cur.Keys {
		switch left := status(a, k.ID); {
		case left == "":
			rev.changes = append(rev.changes, "key "+k.ID+" was created after the run ("+k.Status+")")
		case left != k.Status:
			rev.changes = append(rev.changes, "key "+k.ID+" is "+k.Status+" now; the run left it "+left)
		}
	}
	for _, k := range a.Keys {
		if status(cur, k.ID) == "" {
			rev.changes = append(rev.changes, "key "+k.ID+" was deleted after the run")
		}
	}
	var ids []string
	for _, k := range b.Keys {
		if k.Status != string(iamtypes.StatusTypeActive) || status(a, k.ID) != string(iamtypes.StatusTypeInactive) {
			continue // not deactivated by the run
		}
		switch status(cur, k.ID) {
		case string(iamtypes.StatusTypeInactive):
			ids = append(ids, k.ID)
		case "":
			rev.kept = append(rev.kept, "key "+k.ID+" is gone")
		default:
			rev.kept = append(rev.kept, "key "+k.ID+" is already active")
		}
	}
	if len(ids) == 0 {
		return rev, nil
	}
	for _, id := range ids {
		rev.calls = append(rev.calls, updateKeyCall(t.ID, id, iamtypes.StatusTypeActive))
	}
	rev.did = "reactivated " + strings.Join(ids, ", ")
	rev.run = func(ctx context.Context, c aws.Config) error {
		cl := iam.NewFromConfig(c)
		for _, id := range ids {
			if _, err := cl.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(t.ID), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeActive}); err != nil {
				return awsErr("iam:UpdateAccessKey", t.AccountID, err)
			}
		}
		return nil
	}
	return rev, nil
}

func (r keysRunner) summary(t containment.Target, _, after state) string {
	return "access keys of user " + t.ID + ": " + after.String()
}

type revokeRunner struct{ p *Provider }

func (r revokeRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	cl := iam.NewFromConfig(c)
	if _, err := cl.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(t.ID)}); err != nil {
		return nil, awsErr("iam:GetRole", t.AccountID, err)
	}
	// The cut-off is taken when the state is read, so Apply revokes the
	// sessions issued up to the moment it runs, not up to the preview.
	s := inlineState{PolicyName: RevokeSessionsPolicyName, want: RevokeSessionsPolicy(r.p.clk.Now())}
	out, err := cl.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(t.ID), PolicyName: aws.String(RevokeSessionsPolicyName)})
	switch {
	case apiCode(err) == "NoSuchEntity":
	case err != nil:
		return nil, awsErr("iam:GetRolePolicy", t.AccountID, err)
	default:
		s.Document = iamDoc(aws.ToString(out.PolicyDocument))
	}
	return s, nil
}

func putRolePolicyCall(role, doc string) containment.Call {
	return containment.Call{API: "iam:PutRolePolicy", Params: []containment.Param{{Name: "RoleName", Value: role}, {Name: "PolicyName", Value: RevokeSessionsPolicyName}}, Document: indent([]byte(doc))}
}

func (r revokeRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(inlineState)
	return containment.Plan{
		Action: containment.IAMRoleRevokeSessions, Target: t, Before: s.json(),
		NoOp:  sameJSON(s.Document, s.want),
		Calls: []containment.Call{putRolePolicyCall(t.ID, s.want)},
		Notes: []string{
			"aws:TokenIssueTime is set to the moment the action runs; sessions started after it keep working.",
			"Long-term access keys are not affected; deactivate them as well if the role's users have any.",
		},
	}
}

func (r revokeRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	s := st.(inlineState)
	_, err := iam.NewFromConfig(c).PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(t.ID), PolicyName: aws.String(RevokeSessionsPolicyName), PolicyDocument: aws.String(s.want)})
	return []containment.Call{putRolePolicyCall(t.ID, s.want)}, awsErr("iam:PutRolePolicy", t.AccountID, err)
}

// reverse removes the revocation policy the run put, unless it was
// changed or deleted since.
func (r revokeRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	return reverseInline(t, before, after, now, "role", func(ctx context.Context, c aws.Config, doc string) error {
		cl := iam.NewFromConfig(c)
		if doc == "" {
			_, err := cl.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(t.ID), PolicyName: aws.String(RevokeSessionsPolicyName)})
			if apiCode(err) == "NoSuchEntity" {
				return nil
			}
			return awsErr("iam:DeleteRolePolicy", t.AccountID, err)
		}
		_, err := cl.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(t.ID), PolicyName: aws.String(RevokeSessionsPolicyName), PolicyDocument: aws.String(doc)})
		return awsErr("iam:PutRolePolicy", t.AccountID, err)
	})
}

func (r revokeRunner) summary(t containment.Target, _, after state) string {
	if after.(inlineState).Document == "" {
		return "role " + t.ID + " has no session revocation policy"
	}
	return "sessions of role " + t.ID + " issued before now are denied everything (policy " + RevokeSessionsPolicyName + ")"
}
