package awsfake

import (
	"context"
	"net/http"
	"sync"

	"github.com/secops-bot/secops-bot/awsarn"
)

// DefaultAccount owns every access key nobody registered.
const DefaultAccount = "123456789012"

// Identity is the principal an access key belongs to.
type Identity struct {
	Account string
	ARN     string
}

// Identities maps access keys to principals, the way AWS resolves a
// signature to the account whose resources a call sees. The STS fake adds
// the keys it issues, so calls made with assumed-role credentials land in
// the role's account.
type Identities struct {
	mu   sync.Mutex
	def  string
	keys map[string]Identity
}

// NewIdentities returns a registry in which unknown keys belong to
// defaultAccount.
func NewIdentities(defaultAccount string) *Identities {
	return &Identities{def: defaultAccount, keys: map[string]Identity{}}
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
		return id
	}
	return Identity{Account: i.def, ARN: "arn:aws:iam::" + i.def + ":root"}
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
