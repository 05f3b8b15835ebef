package contain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/secops-bot/secops-bot/containment"
	"github.com/secops-bot/secops-bot/detect/policy"
)

func (p *Provider) s3(c aws.Config) *s3.Client {
	return s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = p.opts.S3PathStyle })
}

// pabState is a bucket's public access block; nil means none is set.
type pabState struct {
	Block *pabConfig `json:"public_access_block"`
}

type pabConfig struct {
	BlockPublicAcls       bool
	IgnorePublicAcls      bool
	BlockPublicPolicy     bool
	RestrictPublicBuckets bool
}

func (s pabState) json() json.RawMessage { return mustJSON(s) }

func (s pabState) full() bool {
	b := s.Block
	return b != nil && b.BlockPublicAcls && b.IgnorePublicAcls && b.BlockPublicPolicy && b.RestrictPublicBuckets
}

type pabRunner struct{ p *Provider }

func (r pabRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	out, err := r.p.s3(c).GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(t.ID)})
	if apiCode(err) == "NoSuchPublicAccessBlockConfiguration" {
		return pabState{}, nil
	}
	if err != nil {
		return nil, awsErr("s3:GetBucketPublicAccessBlock", t.AccountID, err)
	}
	b := out.PublicAccessBlockConfiguration
	if b == nil {
		return pabState{}, nil
	}
	return pabState{Block: &pabConfig{
		BlockPublicAcls: aws.ToBool(b.BlockPublicAcls), IgnorePublicAcls: aws.ToBool(b.IgnorePublicAcls),
		BlockPublicPolicy: aws.ToBool(b.BlockPublicPolicy), RestrictPublicBuckets: aws.ToBool(b.RestrictPublicBuckets),
	}}, nil
}

var fullBlock = pabConfig{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}

func putPABCall(bucket string, b pabConfig) containment.Call {
	return containment.Call{
		API:      "s3:PutPublicAccessBlock",
		Params:   []containment.Param{{Name: "Bucket", Value: bucket}},
		Document: indent(mustJSON(map[string]any{"PublicAccessBlockConfiguration": b})),
	}
}

func (r pabRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(pabState)
	p := containment.Plan{Action: containment.S3BlockPublicAccess, Target: t, Before: s.json(), NoOp: s.full()}
	if !p.NoOp {
		p.Calls = []containment.Call{putPABCall(t.ID, fullBlock)}
	}
	p.Notes = []string{"The bucket policy and ACLs are left as they are, as evidence; Block Public Access overrides them."}
	return p
}

func (r pabRunner) put(ctx context.Context, c aws.Config, t containment.Target, b pabConfig) error {
	_, err := r.p.s3(c).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(t.ID),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(b.BlockPublicAcls), IgnorePublicAcls: aws.Bool(b.IgnorePublicAcls),
			BlockPublicPolicy: aws.Bool(b.BlockPublicPolicy), RestrictPublicBuckets: aws.Bool(b.RestrictPublicBuckets),
		},
	})
	return awsErr("s3:PutPublicAccessBlock", t.AccountID, err)
}

func (r pabRunner) apply(ctx context.Context, c aws.Config, t containment.Target, _ state) ([]containment.Call, error) {
	call := putPABCall(t.ID, fullBlock)
	return []containment.Call{call}, r.put(ctx, c, t, fullBlock)
}

func (r pabRunner) undo(ctx context.Context, c aws.Config, t containment.Target, before, _ json.RawMessage, _ state) ([]containment.Call, error) {
	var s pabState
	if err := json.Unmarshal(before, &s); err != nil {
		return nil, fmt.Errorf("read saved public access block: %w", err)
	}
	if s.Block == nil {
		call := containment.Call{API: "s3:DeletePublicAccessBlock", Params: []containment.Param{{Name: "Bucket", Value: t.ID}}}
		_, err := r.p.s3(c).DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(t.ID)})
		return []containment.Call{call}, awsErr("s3:DeletePublicAccessBlock", t.AccountID, err)
	}
	return []containment.Call{putPABCall(t.ID, *s.Block)}, r.put(ctx, c, t, *s.Block)
}

func (r pabRunner) summary(t containment.Target, _, after state) string {
	s := after.(pabState)
	if s.full() {
		return "public access to bucket " + t.ID + " is blocked (all four settings on)"
	}
	if s.Block == nil {
		return "bucket " + t.ID + " has no public access block"
	}
	return fmt.Sprintf("bucket %s public access block: %+v", t.ID, *s.Block)
}

// policyState is a bucket's policy, "" when it has none.
type policyState struct {
	Policy string `json:"policy"`
	// Public are the public statements' descriptions, for the preview.
	Public []string `json:"public,omitempty"`
	// Without is the policy without its public statements ("" to delete).
	Without string `json:"-"`
}

func (s policyState) json() json.RawMessage { return mustJSON(s) }

type policyRunner struct{ p *Provider }

func (r policyRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	out, err := r.p.s3(c).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(t.ID)})
	if apiCode(err) == "NoSuchBucketPolicy" {
		return policyState{}, nil
	}
	if err != nil {
		return nil, awsErr("s3:GetBucketPolicy", t.AccountID, err)
	}
	s := policyState{Policy: aws.ToString(out.Policy)}
	res, err := policy.Evaluate(json.RawMessage(s.Policy))
	if err != nil {
		return nil, fmt.Errorf("read policy of bucket %s: %w", t.ID, err)
	}
	idx := map[int]bool{}
	for _, st := range res.Public {
		s.Public = append(s.Public, st.Describe()+" ("+st.Why+")")
		idx[st.Index] = true
	}
	if len(idx) > 0 {
		s.Without, err = withoutStatements(s.Policy, idx)
		if err != nil {
			return nil, fmt.Errorf("rewrite policy of bucket %s: %w", t.ID, err)
		}
	}
	return s, nil
}

// withoutStatements returns the policy without the statements at the given
// indexes, or "" when none is left (S3 refuses a policy with no statement).
func withoutStatements(doc string, drop map[int]bool) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return "", err
	}
	var list []json.RawMessage
	raw := bytes.TrimSpace(top["Statement"])
	if len(raw) > 0 && raw[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return "", err
	}
	var keep []json.RawMessage
	for i, st := range list {
		if !drop[i] {
			keep = append(keep, st)
		}
	}
	if len(keep) == 0 {
		return "", nil
	}
	top["Statement"] = mustJSON(keep)
	out, err := json.Marshal(top)
	return string(out), err
}

func (r policyRunner) calls(t containment.Target, s policyState) []containment.Call {
	bucket := []containment.Param{{Name: "Bucket", Value: t.ID}}
	if s.Without == "" {
		return []containment.Call{{API: "s3:DeleteBucketPolicy", Params: bucket}}
	}
	return []containment.Call{{API: "s3:PutBucketPolicy", Params: bucket, Document: indent([]byte(s.Without))}}
}

func (r policyRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(policyState)
	p := containment.Plan{Action: containment.S3RemovePublicStatements, Target: t, Before: s.json(), NoOp: len(s.Public) == 0}
	if p.NoOp {
		p.Notes = []string{"The bucket policy grants nothing to everyone; there is nothing to remove."}
		return p
	}
	p.Calls = r.calls(t, s)
	p.Notes = append(p.Notes, "Removed: "+strings.Join(s.Public, "; "))
	if s.Without == "" {
		p.Notes = append(p.Notes, "Every statement is public, so the whole policy is deleted.")
	}
	return p
}

func (r policyRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	s := st.(policyState)
	calls := r.calls(t, s)
	if s.Without == "" {
		_, err := r.p.s3(c).DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(t.ID)})
		return calls, awsErr("s3:DeleteBucketPolicy", t.AccountID, err)
	}
	_, err := r.p.s3(c).PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(t.ID), Policy: aws.String(s.Without)})
	return calls, awsErr("s3:PutBucketPolicy", t.AccountID, err)
}

func (r policyRunner) undo(ctx context.Context, c aws.Config, t containment.Target, before, _ json.RawMessage, _ state) ([]containment.Call, error) {
	var s policyState
	if err := json.Unmarshal(before, &s); err != nil {
		return nil, fmt.Errorf("read saved bucket policy: %w", err)
	}
	bucket := []containment.Param{{Name: "Bucket", Value: t.ID}}
	if s.Policy == "" {
		_, err := r.p.s3(c).DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(t.ID)})
		return []containment.Call{{API: "s3:DeleteBucketPolicy", Params: bucket}}, awsErr("s3:DeleteBucketPolicy", t.AccountID, err)
	}
	_, err := r.p.s3(c).PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(t.ID), Policy: aws.String(s.Policy)})
	return []containment.Call{{API: "s3:PutBucketPolicy", Params: bucket, Document: indent([]byte(s.Policy))}}, awsErr("s3:PutBucketPolicy", t.AccountID, err)
}

func (r policyRunner) summary(t containment.Target, before, after state) string {
	b, a := before.(policyState), after.(policyState)
	switch {
	case len(a.Public) > 0:
		return fmt.Sprintf("bucket %s policy still has %d public statement(s)", t.ID, len(a.Public))
	case len(b.Public) > 0:
		return fmt.Sprintf("removed %d public statement(s) from the policy of bucket %s", len(b.Public), t.ID)
	default:
		return "the policy of bucket " + t.ID + " was put back"
	}
}

func (s pabState) String() string {
	if s.Block == nil {
		return "no public access block"
	}
	b := *s.Block
	return fmt.Sprintf("BlockPublicAcls=%t IgnorePublicAcls=%t BlockPublicPolicy=%t RestrictPublicBuckets=%t",
		b.BlockPublicAcls, b.IgnorePublicAcls, b.BlockPublicPolicy, b.RestrictPublicBuckets)
}

func (s policyState) String() string {
	switch {
	case s.Policy == "":
		return "no bucket policy"
	case len(s.Public) > 0:
		return fmt.Sprintf("a bucket policy with %d public statement(s)", len(s.Public))
	default:
		return "a bucket policy with no public statement"
	}
}
