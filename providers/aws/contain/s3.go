package contain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/respond/containment"
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

// pabFlags names the four settings, in the order AWS lists them.
var pabFlags = []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"}

func (b *pabConfig) flags() []*bool {
	return []*bool{&b.BlockPublicAcls, &b.IgnorePublicAcls, &b.BlockPublicPolicy, &b.RestrictPublicBuckets}
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// reverse turns off the settings the run turned on and that are still on;
// settings it found on, and any changed since, stay as they are. When the
// bucket had no block before and undo leaves every setting off, the block
// is deleted, as it was.
func (r pabRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	var b, a pabState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved public access block: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read public access block after the run: %w", err)
	}
	n := now.(pabState)
	var rev reversal
	var was, left, cur pabConfig
	if b.Block != nil {
		was = *b.Block
	}
	if a.Block != nil {
		left = *a.Block
	}
	if n.Block != nil {
		cur = *n.Block
	}
	switch {
	case a.Block != nil && n.Block == nil:
		rev.changes = append(rev.changes, "the bucket's public access block was deleted after the run")
	default:
		for i, name := range pabFlags {
			if l, c := *left.flags()[i], *cur.flags()[i]; l != c {
				rev.changes = append(rev.changes, fmt.Sprintf("%s is %s now; the run left it %s", name, onOff(c), onOff(l)))
			}
		}
	}
	want := cur
	var off []string
	for i, name := range pabFlags {
		setByRun := !*was.flags()[i] && *left.flags()[i]
		switch {
		case setByRun && *cur.flags()[i]:
			*want.flags()[i] = false
			off = append(off, name)
		case setByRun:
			rev.kept = append(rev.kept, name+" is already off")
		case *left.flags()[i] != *cur.flags()[i]:
			rev.kept = append(rev.kept, fmt.Sprintf("%s stays %s", name, onOff(*cur.flags()[i])))
		}
	}
	if len(off) == 0 {
		return rev, nil
	}
	rev.did = "turned off " + strings.Join(off, ", ")
	if b.Block == nil && want == (pabConfig{}) {
		rev.calls = []containment.Call{{API: "s3:DeletePublicAccessBlock", Params: []containment.Param{{Name: "Bucket", Value: t.ID}}}}
		rev.did = "deleted the public access block, as the bucket had none before the run"
		rev.run = func(ctx context.Context, c aws.Config) error {
			_, err := r.p.s3(c).DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(t.ID)})
			return awsErr("s3:DeletePublicAccessBlock", t.AccountID, err)
		}
		return rev, nil
	}
	rev.calls = []containment.Call{putPABCall(t.ID, want)}
	rev.run = func(ctx context.Context, c aws.Config) error { return r.put(ctx, c, t, want) }
	return rev, nil
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
	s, err := parseStatements(doc)
	if err != nil {
		return "", err
	}
	var keep []json.RawMessage
	for i, st := range s.list {
		if !drop[i] {
			keep = append(keep, st)
		}
	}
	if len(keep) == 0 {
		return "", nil
	}
	return withStatements(s.top, keep)
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

// reverse adds the statements the run removed back into the policy as it
// is now: statements added since stay, statements removed since stay
// removed, a removed statement already back is not added twice, and one
// whose Sid another statement has taken since is left out rather than
// overwrite it.
func (r policyRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	var b, a policyState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved bucket policy: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read bucket policy after the run: %w", err)
	}
	n := now.(policyState)
	was, err := parseStatements(b.Policy)
	if err != nil {
		return reversal{}, fmt.Errorf("read saved bucket policy: %w", err)
	}
	left, err := parseStatements(a.Policy)
	if err != nil {
		return reversal{}, fmt.Errorf("read bucket policy after the run: %w", err)
	}
	cur, err := parseStatements(n.Policy)
	if err != nil {
		return reversal{}, fmt.Errorf("read bucket policy of %s: %w", t.ID, err)
	}
	var rev reversal
	for _, st := range cur.list {
		if !left.has(st) {
			rev.changes = append(rev.changes, "statement "+statementLabel(st)+" was added after the run")
		}
	}
	for _, st := range left.list {
		if !cur.has(st) {
			rev.changes = append(rev.changes, "statement "+statementLabel(st)+" was removed after the run")
		}
	}
	if a.Policy != "" && n.Policy == "" {
		rev.changes = append(rev.changes, "the bucket policy was deleted after the run")
	}
	var readd []json.RawMessage
	var names []string
	for _, st := range was.list {
		if left.has(st) {
			continue // not removed by the run
		}
		switch sid := statementSid(st); {
		case cur.has(st):
			rev.kept = append(rev.kept, "statement "+statementLabel(st)+" is already back")
		case sid != "" && cur.sidTaken(sid):
			rev.kept = append(rev.kept, "statement "+statementLabel(st)+" is not added back: a statement with its Sid was added since")
		default:
			readd = append(readd, st)
			names = append(names, statementLabel(st))
		}
	}
	if len(readd) == 0 {
		return rev, nil
	}
	top := cur.top
	if n.Policy == "" {
		top = was.top // no policy now: start from the saved one's Version and Id
	}
	doc, err := withStatements(top, append(slices.Clone(cur.list), readd...))
	if err != nil {
		return reversal{}, fmt.Errorf("rewrite policy of bucket %s: %w", t.ID, err)
	}
	rev.did = "added back statement(s) " + strings.Join(names, ", ")
	if len(cur.list) > 0 {
		rev.did += fmt.Sprintf(" to the policy's %d current statement(s)", len(cur.list))
	}
	rev.calls = []containment.Call{{API: "s3:PutBucketPolicy", Params: []containment.Param{{Name: "Bucket", Value: t.ID}}, Document: indent([]byte(doc))}}
	rev.run = func(ctx context.Context, c aws.Config) error {
		_, err := r.p.s3(c).PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(t.ID), Policy: aws.String(doc)})
		return awsErr("s3:PutBucketPolicy", t.AccountID, err)
	}
	return rev, nil
}

// statements is a policy document taken apart: its top-level members and
// its statements in order.
type statements struct {
	top  map[string]json.RawMessage
	list []json.RawMessage
}

// parseStatements reads a policy; "" is no policy, with no statements.
func parseStatements(doc string) (statements, error) {
	if doc == "" {
		return statements{top: map[string]json.RawMessage{}}, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return statements{}, err
	}
	var list []json.RawMessage
	raw := bytes.TrimSpace(top["Statement"])
	if len(raw) > 0 && raw[0] == '{' {
		list = []json.RawMessage{raw}
	} else if len(raw) > 0 {
		if err := json.Unmarshal(raw, &list); err != nil {
			return statements{}, err
		}
	}
	return statements{top: top, list: list}, nil
}

// has reports whether the policy holds a statement equal to st, whatever
// the order of its keys and its white space.
func (s statements) has(st json.RawMessage) bool {
	return slices.ContainsFunc(s.list, func(x json.RawMessage) bool { return sameJSON(string(x), string(st)) })
}

func (s statements) sidTaken(sid string) bool {
	return slices.ContainsFunc(s.list, func(x json.RawMessage) bool { return statementSid(x) == sid })
}

func statementSid(st json.RawMessage) string {
	var v struct{ Sid string }
	_ = json.Unmarshal(st, &v) // a statement without a readable Sid has none
	return v.Sid
}

// statementLabel names a statement for people: its Sid, else its effect
// and principal.
func statementLabel(st json.RawMessage) string {
	if sid := statementSid(st); sid != "" {
		return `"` + clipLabel(sid) + `"`
	}
	var v struct {
		Effect    string
		Principal json.RawMessage
	}
	_ = json.Unmarshal(st, &v) // best effort, for a label
	return fmt.Sprintf("(%s for %s)", v.Effect, clipLabel(string(v.Principal)))
}

// clipLabel keeps a label short: a Sid or a principal can be long, and
// labels are listed in a modal.
func clipLabel(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// withStatements writes a policy with the given top-level members and
// statements.
func withStatements(top map[string]json.RawMessage, list []json.RawMessage) (string, error) {
	out := make(map[string]json.RawMessage, len(top)+1)
	for k, v := range top {
		out[k] = v
	}
	out["Statement"] = mustJSON(list)
	raw, err := json.Marshal(out)
	return string(raw), err
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
