// Package policy decides whether an IAM resource policy (bucket, queue,
// topic, key, secret or repository policy) makes its resource public, using
// AWS's documented meaning of "public": an Allow statement whose principal is
// everyone and that no condition pins to fixed callers, networks or sources.
// It also lists the accounts a policy grants access to by name (an account
// principal, or everyone pinned to accounts by a condition such as
// kms:CallerAccount), so that a grant to an account outside the
// organisation is seen even though it is not public.
//
// Policies are read the way CloudTrail records them: as a JSON object, as a
// JSON string holding the object (sometimes encoded twice), with Statement,
// Action, Resource and principal lists written either as one value or as a
// list. Input is never trusted: a malformed policy is an error, never a panic.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// ErrMalformed is wrapped by every error about a policy that cannot be read.
var ErrMalformed = errors.New("malformed policy")

// maxEncodings bounds how many times a policy may be wrapped in JSON strings
// before it is refused; CloudTrail nests it at most twice in practice.
const maxEncodings = 4

// Statement is one statement of a policy that grants access to everyone.
type Statement struct {
	// Index is the statement's position in the policy, from 0.
	Index int `json:"index"`
	// Sid is the statement ID, if the policy gave one.
	Sid string `json:"sid,omitempty"`
	// Actions are the statement's Action values, or its NotAction values
	// when NotAction is set.
	Actions   []string `json:"actions"`
	NotAction bool     `json:"not_action,omitempty"`
	// Accounts are, for a statement that grants named accounts rather than
	// everyone, those accounts.
	Accounts []string `json:"accounts,omitempty"`
	// Why says in plain words what makes the statement public, or what
	// names its accounts.
	Why string `json:"why"`
}

// Describe says what the statement grants, for people: `statement
// "PublicRead" grants s3:GetObject to everyone`, `statement #2 grants
// kms:Decrypt to account 444455556666`.
func (s Statement) Describe() string {
	name := fmt.Sprintf("statement #%d", s.Index+1)
	if s.Sid != "" {
		name = fmt.Sprintf("statement %q", s.Sid)
	}
	who := "everyone"
	switch len(s.Accounts) {
	case 0:
	case 1:
		who = "account " + s.Accounts[0]
	default:
		who = "accounts " + strings.Join(s.Accounts, ", ")
	}
	return name + " grants " + s.actionWords() + " to " + who
}

func (s Statement) actionWords() string {
	list := strings.Join(s.Actions, ", ")
	switch {
	case s.NotAction && list == "":
		return "every action"
	case s.NotAction:
		return "every action except " + list
	case list == "" || list == "*":
		return "every action"
	default:
		return list
	}
}

// Result is the verdict on one policy.
type Result struct {
	// Statements is how many statements the policy has.
	Statements int `json:"statements"`
	// Public lists the statements that make the resource public, in policy
	// order. It is empty for a private (or empty) policy.
	Public []Statement `json:"public,omitempty"`
	// Shared lists the statements that grant access to named accounts, in
	// policy order, each with its accounts. Whose those accounts are is
	// for the caller to judge.
	Shared []Statement `json:"shared,omitempty"`
}

// IsPublic reports whether any statement grants access to everyone.
func (r Result) IsPublic() bool { return len(r.Public) > 0 }

// Accounts lists every account the shared statements name, once each, in
// policy order.
func (r Result) Accounts() []string {
	var out []string
	for _, s := range r.Shared {
		for _, a := range s.Accounts {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Summary describes every public statement and why, in one sentence per
// statement, or returns "" for a private policy.
func (r Result) Summary() string {
	parts := make([]string, 0, len(r.Public))
	for _, s := range r.Public {
		parts = append(parts, s.Describe()+" ("+s.Why+")")
	}
	return strings.Join(parts, "; ")
}

// Evaluate reads a policy and returns its public statements. An empty
// policy (null, "" or an empty object) is private, not an error: that is how
// CloudTrail records a policy being removed.
func Evaluate(raw json.RawMessage) (Result, error) {
	stmts, err := statements(raw)
	if err != nil {
		return Result{}, err
	}
	res := Result{Statements: len(stmts)}
	for i, st := range stmts {
		s, grant, err := evalStatement(i, st)
		if err != nil {
			return Result{}, err
		}
		switch grant {
		case grantEveryone:
			res.Public = append(res.Public, s)
		case grantAccounts:
			res.Shared = append(res.Shared, s)
		}
	}
	return res, nil
}

// Canonical returns the policy decoded from any of its encodings and
// written back as compact JSON with sorted keys, or nil for an empty policy.
// It is what findings keep as the before/after of a policy change.
func Canonical(raw json.RawMessage) (json.RawMessage, error) {
	doc, err := decode(raw)
	if err != nil || doc == nil {
		return nil, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return out, nil
}

// Diff is the statement-level difference between two versions of a policy.
// Statements are compared by their canonical JSON, so reordering keys or
// statements is not a change.
type Diff struct {
	Added   []json.RawMessage `json:"added,omitempty"`
	Removed []json.RawMessage `json:"removed,omitempty"`
}

// Empty reports whether the two policies hold the same statements.
func (d Diff) Empty() bool { return len(d.Added) == 0 && len(d.Removed) == 0 }

// Compare returns the statements added to and removed from before to give
// after. Either side may be empty (policy created or deleted).
func Compare(before, after json.RawMessage) (Diff, error) {
	b, err := canonicalStatements(before)
	if err != nil {
		return Diff{}, fmt.Errorf("before: %w", err)
	}
	a, err := canonicalStatements(after)
	if err != nil {
		return Diff{}, fmt.Errorf("after: %w", err)
	}
	// Counts make duplicates behave: a statement present twice before and
	// once after counts as one removal.
	count := make(map[string]int, len(b))
	for _, s := range b {
		count[string(s)]++
	}
	var d Diff
	for _, s := range a {
		if count[string(s)] > 0 {
			count[string(s)]--
			continue
		}
		d.Added = append(d.Added, s)
	}
	for _, s := range b {
		if count[string(s)] > 0 {
			count[string(s)]--
			d.Removed = append(d.Removed, s)
		}
	}
	return d, nil
}

func canonicalStatements(raw json.RawMessage) ([]json.RawMessage, error) {
	stmts, err := statements(raw)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(stmts))
	for _, st := range stmts {
		b, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// decode unwraps the policy document from its JSON (string) encodings. It
// returns nil for an empty policy.
func decode(raw json.RawMessage) (map[string]any, error) {
	data := bytes.TrimSpace(raw)
	for range maxEncodings + 1 {
		if len(data) == 0 || bytes.Equal(data, []byte("null")) {
			return nil, nil
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: trailing data after the policy", ErrMalformed)
		}
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				return nil, nil
			}
			return t, nil
		case string:
			data = bytes.TrimSpace([]byte(t))
		default:
			return nil, fmt.Errorf("%w: policy is a JSON %s, not an object", ErrMalformed, kind(v))
		}
	}
	return nil, fmt.Errorf("%w: policy is encoded more than %d times", ErrMalformed, maxEncodings)
}

// statements returns the policy's statements as decoded objects.
func statements(raw json.RawMessage) ([]map[string]any, error) {
	doc, err := decode(raw)
	if err != nil || doc == nil {
		return nil, err
	}
	v, ok := field(doc, "Statement")
	if !ok || v == nil {
		return nil, nil
	}
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	case map[string]any:
		items = []any{t}
	default:
		return nil, fmt.Errorf("%w: Statement is a JSON %s", ErrMalformed, kind(v))
	}
	out := make([]map[string]any, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: statement %d is a JSON %s, not an object", ErrMalformed, i, kind(it))
		}
		out = append(out, m)
	}
	return out, nil
}

// grant is whom a statement gives access to.
type grant int

const (
	grantNone grant = iota
	grantEveryone
	grantAccounts
)

func evalStatement(i int, st map[string]any) (Statement, grant, error) {
	s := Statement{Index: i}
	if sid, ok := field(st, "Sid"); ok {
		s.Sid, _ = sid.(string)
	}
	effect, _ := field(st, "Effect")
	if e, _ := effect.(string); !strings.EqualFold(e, "Allow") {
		// Deny statements only ever take access away.
		return s, grantNone, nil
	}

	var who string
	if np, ok := field(st, "NotPrincipal"); ok && np != nil {
		who = "NotPrincipal with Allow: everyone except the listed principals"
	} else if p, ok := field(st, "Principal"); ok {
		everyone, err := principalIsEveryone(p)
		if err != nil {
			return s, grantNone, fmt.Errorf("statement %d: %w", i, err)
		}
		if !everyone {
			// A statement naming accounts grants them whatever its
			// conditions say: they narrow the grant, never widen it.
			accts, arns := principalAccounts(p)
			if len(accts) == 0 {
				return s, grantNone, nil
			}
			s.Accounts, s.Why = accts, "principal "+strings.Join(arns, ", ")
			return s, grantAccounts, actions(&s, st)
		}
		who = principalWords(p)
	} else {
		// Identity policies have no principal; they are not resource
		// policies and cannot make anything public.
		return s, grantNone, nil
	}

	if cond, ok := field(st, "Condition"); ok && cond != nil {
		pin, err := conditionPins(cond)
		if err != nil {
			return s, grantNone, fmt.Errorf("statement %d: %w", i, err)
		}
		if pin.pinned {
			if len(pin.accounts) == 0 {
				return s, grantNone, nil
			}
			s.Accounts, s.Why = pin.accounts, who+" limited by "+pin.via
			return s, grantAccounts, actions(&s, st)
		}
		who += ", " + pin.why
	} else {
		who += ", no condition"
	}
	s.Why = who
	return s, grantEveryone, actions(&s, st)
}

// actions reads the statement's Action (or NotAction) into s.
func actions(s *Statement, st map[string]any) error {
	acts, ok := field(st, "Action")
	if !ok {
		if na, nok := field(st, "NotAction"); nok {
			acts, s.NotAction = na, true
		}
	}
	list, err := stringList(acts)
	if err != nil {
		return fmt.Errorf("statement %d: Action: %w", s.Index, err)
	}
	s.Actions = list
	if s.Actions == nil {
		s.Actions = []string{}
	}
	return nil
}

// principalAccounts returns the accounts an AWS principal names (an
// account ID, or the ARN of an account's root, user or role) and the
// principal values that named them. Service, federated and canonical-user
// principals, and unique IDs left by deleted principals, name none.
func principalAccounts(p any) (accounts, values []string) {
	m, ok := p.(map[string]any)
	if !ok {
		return nil, nil
	}
	for k, v := range m {
		if !strings.EqualFold(k, "AWS") {
			continue
		}
		vals, _ := stringList(v)
		for _, x := range vals {
			acct := x
			if strings.HasPrefix(x, "arn:") {
				a, err := awsarn.Parse(x)
				if err != nil {
					continue
				}
				acct = a.Account
			}
			if !awsarn.IsAccountID(acct) {
				continue
			}
			values = append(values, x)
			if !slices.Contains(accounts, acct) {
				accounts = append(accounts, acct)
			}
		}
	}
	return accounts, values
}

// principalIsEveryone reports whether a Principal element names everyone:
// "*", {"AWS":"*"} or an AWS list containing "*". Service, federated and
// canonical-user principals are never public.
func principalIsEveryone(p any) (bool, error) {
	switch t := p.(type) {
	case string:
		return t == "*", nil
	case map[string]any:
		for k, v := range t {
			if !strings.EqualFold(k, "AWS") {
				continue
			}
			vals, err := stringList(v)
			if err != nil {
				return false, fmt.Errorf("principal AWS: %w", err)
			}
			for _, x := range vals {
				if x == "*" {
					return true, nil
				}
			}
		}
		return false, nil
	case nil:
		return false, nil
	default:
		return false, fmt.Errorf("%w: Principal is a JSON %s", ErrMalformed, kind(p))
	}
}

func principalWords(p any) string {
	if _, ok := p.(string); ok {
		return `Principal "*"`
	}
	return `Principal {"AWS":"*"}`
}

func field(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	// Policy element names are case-sensitive for AWS, but hand-written
	// policies in events sometimes differ; a lenient read errs toward
	// evaluating the statement rather than ignoring it.
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// stringList reads a value that may be one string or a list of strings.
// Numbers and booleans are accepted as their text, as IAM does.
func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case json.Number:
		return []string{t.String()}, nil
	case bool:
		if t {
			return []string{"true"}, nil
		}
		return []string{"false"}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			s, err := stringList(x)
			if err != nil {
				return nil, err
			}
			if len(s) != 1 {
				return nil, fmt.Errorf("%w: nested list", ErrMalformed)
			}
			out = append(out, s[0])
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: expected a string or a list, got a JSON %s", ErrMalformed, kind(v))
	}
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return fmt.Sprintf("%T", v)
	}
}
