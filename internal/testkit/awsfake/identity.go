package awsfake

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// DefaultAccount owns every access key nobody registered.
const DefaultAccount = "123456789012"

// Identity is the principal an access key belongs to.
type Identity struct {
	Account string
	ARN     string
	// AccessKey is the key that signed the request, "" when unknown.
	AccessKey string
}

// Identities maps access keys to principals, the way AWS resolves a
// signature to the account whose resources a call sees. The STS fake adds
// the keys it issues, so calls made with assumed-role credentials land in
// the role's account.
//
// It also holds what governs each principal (see policy.go): the identity
// policies a test gave a role or user, and for each session the role it
// belongs to and the session policy passed to AssumeRole.
type Identities struct {
	mu       sync.Mutex
	def      string
	keys     map[string]Identity
	sessions map[string]Session  // by access key
	policies map[string][]Policy // by role or user ARN
}

// Session is what STS issued an access key for.
type Session struct {
	// ARN is the session's assumed-role ARN and Role the role's ARN.
	ARN  string
	Role string
	// Policy is the session policy passed to AssumeRole, "" for none.
	Policy         string
	SourceIdentity string
	Tags           map[string]string
}

// NewIdentities returns a registry in which unknown keys belong to
// defaultAccount.
func NewIdentities(defaultAccount string) *Identities {
	return &Identities{def: defaultAccount, keys: map[string]Identity{}, sessions: map[string]Session{}, policies: map[string][]Policy{}}
}

// AddSession registers an access key issued for a role session; the key
// then belongs to the session's ARN, and its calls are checked against the
// session policy and the role's policies.
func (i *Identities) AddSession(accessKey string, s Session) error {
	if s.Policy != "" {
		if _, err := ParsePolicy(s.Policy); err != nil {
			return fmt.Errorf("session policy: %w", err)
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[accessKey] = Identity{Account: accountOfARN(s.ARN), ARN: s.ARN}
	s.Tags = cloneMap(s.Tags)
	i.sessions[accessKey] = s
	return nil
}

// SessionOf returns the session an access key was issued for.
func (i *Identities) SessionOf(accessKey string) (Session, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	s, ok := i.sessions[accessKey]
	s.Tags = cloneMap(s.Tags)
	return s, ok
}

// SetPolicies gives a role or user (by ARN) its identity policies, which
// then govern every call made with its keys or its sessions' keys. No
// documents removes them.
func (i *Identities) SetPolicies(principalARN string, docs ...string) error {
	var ps []Policy
	for n, d := range docs {
		p, err := ParsePolicy(d)
		if err != nil {
			return fmt.Errorf("policy %d of %s: %w", n+1, principalARN, err)
		}
		ps = append(ps, p)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(ps) == 0 {
		delete(i.policies, principalARN)
		return nil
	}
	i.policies[principalARN] = ps
	return nil
}

// Refusal says why a request was refused.
type Refusal struct {
	Access Access
	// Explicit is set when a Deny statement refused it; Session when the
	// deciding policy was the session policy.
	Explicit, Session bool
}

// governed reports whether any policy applies to calls made with the key,
// so requests of ungoverned callers are not even parsed.
func (i *Identities) governed(accessKey string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if s, ok := i.sessions[accessKey]; ok {
		return s.Policy != "" || len(i.policies[s.Role]) > 0
	}
	id, ok := i.keys[accessKey]
	return ok && len(i.policies[id.ARN]) > 0
}

// Authorize decides the accesses a request made with the key needs: nil
// when every one is allowed, else the first refused.
func (i *Identities) Authorize(accessKey string, accesses []Access) *Refusal {
	i.mu.Lock()
	var identity []Policy
	var session *Policy
	if s, ok := i.sessions[accessKey]; ok {
		identity = i.policies[s.Role]
		if s.Policy != "" {
			p, _ := ParsePolicy(s.Policy) // checked by AddSession
			session = &p
		}
	} else if id, ok := i.keys[accessKey]; ok {
		identity = i.policies[id.ARN]
	}
	i.mu.Unlock()
	for _, a := range accesses {
		if r := decideAll(identity, session, a); r != nil {
			return r
		}
	}
	return nil
}

func decideAll(identity []Policy, session *Policy, a Access) *Refusal {
	anyAllow := false
	for _, p := range identity {
		switch p.decide(a) {
		case denied:
			return &Refusal{Access: a, Explicit: true}
		case allowed:
			anyAllow = true
		}
	}
	if session != nil {
		switch session.decide(a) {
		case denied:
			return &Refusal{Access: a, Explicit: true, Session: true}
		case notAllowed:
			return &Refusal{Access: a, Session: true}
		}
	}
	if len(identity) > 0 && !anyAllow {
		return &Refusal{Access: a}
	}
	return nil
}

// Add registers an access key for a principal ARN; the account is taken
// from the ARN.
func (i *Identities) Add(accessKey, arn string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[accessKey] = Identity{Account: accountOfARN(arn), ARN: arn}
}

// Lookup returns the principal of an access key.
func (i *Identities) Lookup(accessKey string) Identity {
	i.mu.Lock()
	defer i.mu.Unlock()
	if id, ok := i.keys[accessKey]; ok {
		id.AccessKey = accessKey
		return id
	}
	return Identity{Account: i.def, ARN: "arn:aws:iam::" + i.def + ":root", AccessKey: accessKey}
}

type callerKey struct{}

// CallerOf returns the principal that signed a request the Server routed,
// or the default account's root for a request that did not pass through a
// Server.
func CallerOf(r *http.Request) Identity {
	if id, ok := r.Context().Value(callerKey{}).(Identity); ok {
		return id
	}
	return Identity{Account: DefaultAccount, ARN: "arn:aws:iam::" + DefaultAccount + ":root"}
}

// WithCaller returns ctx carrying a caller identity, for handlers served
// outside a Server.
func WithCaller(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, callerKey{}, id)
}

func accountOfARN(arn string) string {
	a, _ := awsarn.Parse(arn)
	return a.Account
}
