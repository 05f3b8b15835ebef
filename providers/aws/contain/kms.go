package contain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// keyState is a key's policy and grants; the runner takes the target's
// accounts out of both.
type keyState struct {
	// Policy is the key policy as compact JSON.
	Policy json.RawMessage `json:"policy"`
	Grants []keyGrant      `json:"grants"`
}

// keyGrant is a grant on the key, with what a re-created grant needs.
type keyGrant struct {
	ID         string   `json:"id"`
	Grantee    string   `json:"grantee"`
	Retiring   string   `json:"retiring,omitempty"`
	Name       string   `json:"name,omitempty"`
	Operations []string `json:"operations"`
}

func (s keyState) json() json.RawMessage {
	if s.Grants == nil {
		s.Grants = []keyGrant{}
	}
	return mustJSON(s)
}

func (s keyState) String() string {
	return fmt.Sprintf("key policy of %d statements, %s", len(policyStatements(s.Policy)), plural(len(s.Grants), "grant", "grants"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

type keyRunner struct{ p *Provider }

// maxGrantPages bounds the grant listing (100 a page).
const maxGrantPages = 20

func (r keyRunner) read(ctx context.Context, c aws.Config, t containment.Target) (state, error) {
	client := kms.NewFromConfig(c)
	key := keyRef(t)
	pol, err := client.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default")})
	if err != nil {
		return nil, awsErr("kms:GetKeyPolicy", t.AccountID, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(aws.ToString(pol.Policy))); err != nil {
		return nil, fmt.Errorf("key policy of %s is not JSON: %w", t.ID, err)
	}
	s := keyState{Policy: compact.Bytes()}
	var marker *string
	for range maxGrantPages {
		out, err := client.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(key), Limit: aws.Int32(100), Marker: marker})
		if err != nil {
			return nil, awsErr("kms:ListGrants", t.AccountID, err)
		}
		for _, g := range out.Grants {
			kg := keyGrant{ID: aws.ToString(g.GrantId), Grantee: aws.ToString(g.GranteePrincipal), Retiring: aws.ToString(g.RetiringPrincipal), Name: aws.ToString(g.Name)}
			for _, op := range g.Operations {
				kg.Operations = append(kg.Operations, string(op))
			}
			s.Grants = append(s.Grants, kg)
		}
		if !out.Truncated || out.NextMarker == nil {
			break
		}
		marker = out.NextMarker
	}
	return s, nil
}

// keyRef is what the calls name the key by: its ARN, which the write
// session's policy is scoped to.
func keyRef(t containment.Target) string {
	if t.ARN != "" {
		return t.ARN
	}
	return t.ID
}

// removal is what taking the accounts off one statement does: the
// principal values (or pinning condition values) it removes, or the whole
// statement when nothing of it is left.
type removal struct {
	Sid       string
	Index     int
	Original  map[string]any
	Values    []string
	Whole     bool
	Condition bool // the values were those of a kms:CallerAccount-like condition
}

func (rm removal) describe() string {
	name := fmt.Sprintf("statement #%d", rm.Index+1)
	if rm.Sid != "" {
		name = fmt.Sprintf("statement %q", rm.Sid)
	}
	if rm.Whole {
		return "removes " + name
	}
	return "removes " + strings.Join(rm.Values, ", ") + " from " + name
}

// accountKeys are the condition keys that pin a wildcard principal to
// accounts.
var accountKeys = []string{"kms:calleraccount", "aws:principalaccount"}

// withoutAccounts returns the policy without the accounts: their principal
// values (an account ID or any ARN in it) are taken off each Allow
// statement, and so are their values of a condition pinning a wildcard
// principal to accounts; a statement left without any is dropped.
func withoutAccounts(policy json.RawMessage, accounts []string) (json.RawMessage, []removal, error) {
	var doc map[string]any
	if err := json.Unmarshal(policy, &doc); err != nil {
		return nil, nil, fmt.Errorf("read key policy: %w", err)
	}
	stmts := policyStatementList(doc)
	var kept []any
	var out []removal
	for i, raw := range stmts {
		st, ok := raw.(map[string]any)
		if !ok || !strings.EqualFold(fmt.Sprint(st["Effect"]), "Allow") {
			kept = append(kept, raw)
			continue
		}
		orig := deepCopy(st)
		rm := removal{Index: i, Original: orig}
		rm.Sid, _ = st["Sid"].(string)
		if p, ok := st["Principal"].(map[string]any); ok {
			for k, v := range p {
				if !strings.EqualFold(k, "AWS") {
					continue
				}
				vals := stringsOf(v)
				var left []string
				for _, x := range vals {
					if slices.Contains(accounts, accountOfValue(x)) {
						rm.Values = append(rm.Values, x)
					} else {
						left = append(left, x)
					}
				}
				if len(rm.Values) > 0 {
					if len(left) == 0 && len(p) == 1 {
						rm.Whole = true
					} else if len(left) == 0 {
						delete(p, k)
					} else {
						p[k] = left
					}
				}
			}
		}
		if len(rm.Values) == 0 {
			if cond, ok := st["Condition"].(map[string]any); ok {
				for op, body := range cond {
					m, ok := body.(map[string]any)
					if !ok || !strings.HasPrefix(strings.ToLower(op), "stringequals") {
						continue
					}
					for k, v := range m {
						if !slices.Contains(accountKeys, strings.ToLower(k)) {
							continue
						}
						var left []string
						for _, x := range stringsOf(v) {
							if slices.Contains(accounts, x) {
								rm.Values = append(rm.Values, x)
							} else {
								left = append(left, x)
							}
						}
						if len(rm.Values) > 0 {
							rm.Condition = true
							if len(left) == 0 {
								rm.Whole = true
							} else {
								m[k] = left
							}
						}
					}
				}
			}
		}
		if len(rm.Values) > 0 {
			out = append(out, rm)
		}
		if !rm.Whole {
			kept = append(kept, st)
		}
	}
	if len(out) == 0 {
		return policy, nil, nil
	}
	if kept == nil {
		kept = []any{}
	}
	doc["Statement"] = kept
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("write key policy: %w", err)
	}
	return b, out, nil
}

// grantsOf are the grants whose grantee is in one of the accounts.
func grantsOf(gs []keyGrant, accounts []string) []keyGrant {
	var out []keyGrant
	for _, g := range gs {
		if slices.Contains(accounts, accountOfValue(g.Grantee)) {
			out = append(out, g)
		}
	}
	return out
}

// accountOfValue is the account an IAM principal value names: an account
// ID, or the account of an IAM or STS ARN.
func accountOfValue(v string) string {
	if awsarn.IsAccountID(v) {
		return v
	}
	if a, err := awsarn.Parse(v); err == nil && (a.Service == "iam" || a.Service == "sts") {
		return a.Account
	}
	return ""
}

func (r keyRunner) calls(t containment.Target, s keyState) ([]containment.Call, json.RawMessage, []removal, []keyGrant, error) {
	pol, removed, err := withoutAccounts(s.Policy, t.Accounts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	revoke := grantsOf(s.Grants, t.Accounts)
	var calls []containment.Call
	if len(removed) > 0 {
		calls = append(calls, putKeyPolicyCall(t, pol))
	}
	for _, g := range revoke {
		calls = append(calls, containment.Call{API: "kms:RevokeGrant", Params: []containment.Param{{Name: "KeyId", Value: keyRef(t)}, {Name: "GrantId", Value: g.ID}}})
	}
	return calls, pol, removed, revoke, nil
}

func putKeyPolicyCall(t containment.Target, pol json.RawMessage) containment.Call {
	return containment.Call{
		API:      "kms:PutKeyPolicy",
		Params:   []containment.Param{{Name: "KeyId", Value: keyRef(t)}, {Name: "PolicyName", Value: "default"}},
		Document: indent(pol),
	}
}

func (r keyRunner) plan(t containment.Target, st state) containment.Plan {
	s := st.(keyState)
	p := containment.Plan{Action: containment.KMSRemoveAccount, Target: t, Before: s.json()}
	calls, _, removed, revoke, err := r.calls(t, s)
	if err != nil {
		p.NoOp = true
		p.Notes = []string{"The key policy could not be read as JSON (" + err.Error() + "); nothing would change."}
		return p
	}
	p.Calls = calls
	if len(calls) == 0 {
		p.NoOp = true
		p.Notes = []string{"Neither the key policy nor a grant lets " + accountsWord(t.Accounts) + " use the key; nothing to remove."}
		return p
	}
	for _, rm := range removed {
		p.Notes = append(p.Notes, "The new policy "+rm.describe()+".")
	}
	if len(revoke) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("Revokes %s to %s.", plural(len(revoke), "grant", "grants"), accountsWord(t.Accounts)))
	}
	p.Notes = append(p.Notes, "A copy the other account already made under its own key is not affected. Undo puts the statements and grants back (grants get new IDs) and needs an admin.")
	return p
}

func (r keyRunner) apply(ctx context.Context, c aws.Config, t containment.Target, st state) ([]containment.Call, error) {
	calls, pol, removed, revoke, err := r.calls(t, st.(keyState))
	if err != nil {
		return nil, err
	}
	client := kms.NewFromConfig(c)
	if len(removed) > 0 {
		if _, err := client.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyRef(t)), PolicyName: aws.String("default"), Policy: aws.String(string(pol))}); err != nil {
			return calls, awsErr("kms:PutKeyPolicy", t.AccountID, err)
		}
	}
	for _, g := range revoke {
		if _, err := client.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: aws.String(keyRef(t)), GrantId: aws.String(g.ID)}); err != nil {
			return calls, awsErr("kms:RevokeGrant", t.AccountID, err)
		}
	}
	return calls, nil
}

// reverse puts back what the run took away that is still gone: the
// principals (or condition values) into their statements as they are now
// (a statement the run dropped, or that was deleted since, is added
// whole), and the grants it revoked, re-created with the same grantee and
// operations. Later changes stay.
func (r keyRunner) reverse(t containment.Target, before, after json.RawMessage, now state) (reversal, error) {
	var b, a keyState
	if err := json.Unmarshal(before, &b); err != nil {
		return reversal{}, fmt.Errorf("read saved key state: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return reversal{}, fmt.Errorf("read key state after the run: %w", err)
	}
	cur := now.(keyState)
	var rev reversal
	if !jsonEqual(cur.Policy, a.Policy) {
		rev.changes = append(rev.changes, "the key policy changed after the run")
	}
	if !slices.Equal(grantIDs(cur.Grants), grantIDs(a.Grants)) {
		rev.changes = append(rev.changes, "the key's grants changed after the run")
	}
	_, removed, err := withoutAccounts(b.Policy, t.Accounts)
	if err != nil {
		return reversal{}, err
	}
	pol, putBack, kept, err := restore(cur.Policy, removed)
	if err != nil {
		return reversal{}, err
	}
	rev.kept = kept
	var recreate []keyGrant
	for _, g := range grantsOf(b.Grants, t.Accounts) {
		if slices.ContainsFunc(cur.Grants, func(c keyGrant) bool { return c.Grantee == g.Grantee && slices.Equal(c.Operations, g.Operations) }) {
			rev.kept = append(rev.kept, "a grant to "+g.Grantee+" exists again")
			continue
		}
		recreate = append(recreate, g)
	}
	if len(putBack) == 0 && len(recreate) == 0 {
		return rev, nil
	}
	if len(putBack) > 0 {
		rev.calls = append(rev.calls, putKeyPolicyCall(t, pol))
	}
	for _, g := range recreate {
		params := []containment.Param{{Name: "KeyId", Value: keyRef(t)}, {Name: "GranteePrincipal", Value: g.Grantee}, {Name: "Operations", Value: strings.Join(g.Operations, ", ")}}
		if g.Retiring != "" {
			params = append(params, containment.Param{Name: "RetiringPrincipal", Value: g.Retiring})
		}
		rev.calls = append(rev.calls, containment.Call{API: "kms:CreateGrant", Params: params})
	}
	var did []string
	if len(putBack) > 0 {
		did = append(did, "put "+strings.Join(putBack, "; ")+" back into the key policy")
	}
	if len(recreate) > 0 {
		did = append(did, "re-created "+plural(len(recreate), "grant", "grants")+" (with new IDs)")
	}
	rev.did = strings.Join(did, " and ")
	rev.run = func(ctx context.Context, c aws.Config) error {
		client := kms.NewFromConfig(c)
		if len(putBack) > 0 {
			if _, err := client.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyRef(t)), PolicyName: aws.String("default"), Policy: aws.String(string(pol))}); err != nil {
				return awsErr("kms:PutKeyPolicy", t.AccountID, err)
			}
		}
		for _, g := range recreate {
			in := &kms.CreateGrantInput{KeyId: aws.String(keyRef(t)), GranteePrincipal: aws.String(g.Grantee)}
			if g.Retiring != "" {
				in.RetiringPrincipal = aws.String(g.Retiring)
			}
			if g.Name != "" {
				in.Name = aws.String(g.Name)
			}
			for _, op := range g.Operations {
				in.Operations = append(in.Operations, kmstypes.GrantOperation(op))
			}
			if _, err := client.CreateGrant(ctx, in); err != nil {
				return awsErr("kms:CreateGrant", t.AccountID, err)
			}
		}
		return nil
	}
	return rev, nil
}

// restore adds removed principals back into the policy as it is now.
func restore(policy json.RawMessage, removed []removal) (json.RawMessage, []string, []string, error) {
	var doc map[string]any
	if err := json.Unmarshal(policy, &doc); err != nil {
		return nil, nil, nil, fmt.Errorf("read key policy: %w", err)
	}
	stmts := policyStatementList(doc)
	var putBack, kept []string
	for _, rm := range removed {
		idx := -1
		if rm.Sid != "" {
			idx = slices.IndexFunc(stmts, func(s any) bool { m, ok := s.(map[string]any); return ok && m["Sid"] == rm.Sid })
		}
		switch {
		case idx >= 0 && rm.Whole:
			kept = append(kept, fmt.Sprintf("statement %q exists again, left as it is", rm.Sid))
			continue
		case idx < 0:
			// Back where it was, as far as the policy now allows.
			at := min(rm.Index, len(stmts))
			stmts = slices.Insert(stmts, at, any(rm.Original))
			putBack = append(putBack, strings.Join(rm.Values, ", "))
			continue
		}
		st := stmts[idx].(map[string]any)
		// The values go back where the run took them from: the principal,
		// or the condition pinning a wildcard principal to accounts.
		holder, key := principalSlot(st), "AWS"
		if rm.Condition {
			holder, key = conditionSlot(st, rm.Original)
		}
		if holder == nil {
			kept = append(kept, strings.Join(rm.Values, ", ")+" not put back: the statement changed shape")
			continue
		}
		vals := stringsOf(holder[key])
		var added []string
		for _, v := range rm.Values {
			if !slices.Contains(vals, v) {
				vals = append(vals, v)
				added = append(added, v)
			}
		}
		if len(added) == 0 {
			kept = append(kept, strings.Join(rm.Values, ", ")+" already back in the policy")
			continue
		}
		holder[key] = vals
		putBack = append(putBack, strings.Join(added, ", "))
	}
	doc["Statement"] = stmts
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("write key policy: %w", err)
	}
	return b, putBack, kept, nil
}

// principalSlot is a statement's Principal object, made when missing.
func principalSlot(st map[string]any) map[string]any {
	switch p := st["Principal"].(type) {
	case map[string]any:
		return p
	case nil:
		m := map[string]any{}
		st["Principal"] = m
		return m
	}
	return nil
}

// conditionSlot is the operator block and key of the statement's
// condition that pinned it to accounts in the original statement.
func conditionSlot(st, orig map[string]any) (map[string]any, string) {
	oc, _ := orig["Condition"].(map[string]any)
	cond, _ := st["Condition"].(map[string]any)
	for op, body := range oc {
		m, _ := body.(map[string]any)
		for k := range m {
			if !slices.Contains(accountKeys, strings.ToLower(k)) {
				continue
			}
			if cond == nil {
				return nil, ""
			}
			cur, _ := cond[op].(map[string]any)
			if cur == nil {
				return nil, ""
			}
			return cur, k
		}
	}
	return nil, ""
}

func (r keyRunner) summary(t containment.Target, before, after state) string {
	b, a := before.(keyState), after.(keyState)
	_, removed, _ := withoutAccounts(b.Policy, t.Accounts)
	revoked := len(b.Grants) - len(a.Grants)
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "the key policy no longer lets "+accountsWord(t.Accounts)+" use key "+t.ID)
	}
	if revoked > 0 {
		parts = append(parts, plural(revoked, "grant", "grants")+" revoked")
	}
	if len(parts) == 0 {
		return "nothing changed; " + a.String()
	}
	return strings.Join(parts, "; ") + "; now " + a.String()
}

func policyStatementList(doc map[string]any) []any {
	switch s := doc["Statement"].(type) {
	case []any:
		return s
	case map[string]any:
		return []any{s}
	}
	return nil
}

func policyStatements(raw json.RawMessage) []any {
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	return policyStatementList(doc)
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m) // decoded JSON re-encodes
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func grantIDs(gs []keyGrant) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.ID)
	}
	sort.Strings(out)
	return out
}
