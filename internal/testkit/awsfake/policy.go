package awsfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The fakes evaluate IAM policies as far as tests need to show what a
// principal may do: Allow and Deny statements, Action and NotAction,
// Resource and NotResource, with * and ? wildcards. An explicit Deny in any
// policy wins; otherwise every policy that governs the caller must allow
// the request: the principal's identity policies (when a test set any with
// Identities.SetPolicies) and the session policy passed to AssumeRole. A
// caller no policy governs may do anything, as every fake did before
// policies existed.
//
// Conditions are not evaluated: they depend on request context the fakes
// do not model (source IP, tag keys, token issue time). A statement with a
// Condition is left out, so neither its Allow nor its Deny counts.

// Access is one permission a request needs: an IAM action on a resource
// ARN ("*" for actions without resource-level permissions).
type Access struct {
	Action   string
	Resource string
}

func (a Access) String() string { return a.Action + " on " + a.Resource }

// Policy is a parsed IAM policy document.
type Policy struct {
	statements []statement
}

type statement struct {
	deny                  bool
	actions, notActions   []string
	resources, notRes     []string
	hasNotAction, hasNotR bool
}

// stringList reads a policy element that is a string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = []string{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = list
	return nil
}

// ParsePolicy reads a policy document as IAM accepts it: a Statement that
// is one object or a list, each with an Effect of Allow or Deny, Action or
// NotAction, and Resource or NotResource.
func ParsePolicy(doc string) (Policy, error) {
	var top struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return Policy{}, fmt.Errorf("policy is not a JSON object: %w", err)
	}
	raw := bytes.TrimSpace(top.Statement)
	if len(raw) == 0 {
		return Policy{}, errors.New("policy has no Statement")
	}
	var list []json.RawMessage
	if raw[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return Policy{}, fmt.Errorf("Statement: %w", err)
	}
	var p Policy
	for i, r := range list {
		var s struct {
			Effect      string          `json:"Effect"`
			Action      *stringList     `json:"Action"`
			NotAction   *stringList     `json:"NotAction"`
			Resource    *stringList     `json:"Resource"`
			NotResource *stringList     `json:"NotResource"`
			Condition   json.RawMessage `json:"Condition"`
		}
		if err := json.Unmarshal(r, &s); err != nil {
			return Policy{}, fmt.Errorf("Statement[%d]: %w", i, err)
		}
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return Policy{}, fmt.Errorf("Statement[%d]: Effect %q is neither Allow nor Deny", i, s.Effect)
		}
		if (s.Action == nil) == (s.NotAction == nil) {
			return Policy{}, fmt.Errorf("Statement[%d]: needs exactly one of Action and NotAction", i)
		}
		if (s.Resource == nil) == (s.NotResource == nil) {
			return Policy{}, fmt.Errorf("Statement[%d]: needs exactly one of Resource and NotResource", i)
		}
		if len(bytes.TrimSpace(s.Condition)) > 0 && string(bytes.TrimSpace(s.Condition)) != "null" {
			continue // see the package's note on conditions
		}
		st := statement{deny: s.Effect == "Deny", hasNotAction: s.NotAction != nil, hasNotR: s.NotResource != nil}
		if s.Action != nil {
			st.actions = *s.Action
		} else {
			st.notActions = *s.NotAction
		}
		if s.Resource != nil {
			st.resources = *s.Resource
		} else {
			st.notRes = *s.NotResource
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

// verdict is one policy's answer for one access.
type verdict int

const (
	notAllowed verdict = iota // no statement matches: implicitly denied
	allowed
	denied // an explicit Deny
)

func (p Policy) decide(a Access) verdict {
	v := notAllowed
	for _, s := range p.statements {
		if !s.matches(a) {
			continue
		}
		if s.deny {
			return denied
		}
		v = allowed
	}
	return v
}

func (s statement) matches(a Access) bool {
	actionIn := func(list []string) bool {
		for _, p := range list {
			if globMatch(strings.ToLower(p), strings.ToLower(a.Action)) {
				return true
			}
		}
		return false
	}
	resourceIn := func(list []string) bool {
		for _, p := range list {
			if globMatch(p, a.Resource) {
				return true
			}
		}
		return false
	}
	if s.hasNotAction {
		if actionIn(s.notActions) {
			return false
		}
	} else if !actionIn(s.actions) {
		return false
	}
	if s.hasNotR {
		return !resourceIn(s.notRes)
	}
	return resourceIn(s.resources)
}

// globMatch matches IAM's wildcards: * is any run of characters (slashes
// and colons included) and ? one character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
