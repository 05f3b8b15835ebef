package awsarn

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotPrincipal is wrapped by ParsePrincipal's error for an ARN that
// names no IAM or STS identity.
var ErrNotPrincipal = errors.New("not an IAM or STS principal")

// PrincipalKind says which kind of identity a principal ARN names.
type PrincipalKind string

// Principal kinds, as their ARNs spell them.
const (
	KindRoot          PrincipalKind = "root"           // arn:aws:iam::ACCOUNT:root
	KindUser          PrincipalKind = "user"           // arn:aws:iam::ACCOUNT:user/PATH/NAME
	KindRole          PrincipalKind = "role"           // arn:aws:iam::ACCOUNT:role/PATH/NAME
	KindAssumedRole   PrincipalKind = "assumed-role"   // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
	KindFederatedUser PrincipalKind = "federated-user" // arn:aws:sts::ACCOUNT:federated-user/NAME
)

// Principal is an IAM or STS identity read from its ARN.
type Principal struct {
	Partition string
	Account   string
	Kind      PrincipalKind
	// Path is the IAM path of a user or role, "/" when it has none, and
	// empty for other kinds: session ARNs do not carry the role's path.
	Path string
	// Name is the user's or role's name, the role of an assumed-role
	// session, or the federated user's name; empty for root.
	Name string
	// Session is the session name of an assumed role.
	Session string
}

// ParsePrincipal reads an IAM user, role or root ARN, or an STS
// assumed-role or federated-user ARN. Anything else gives an error: one
// wrapping ErrMalformed for what is not an ARN, ErrNotPrincipal for other
// ARNs.
func ParsePrincipal(s string) (Principal, error) {
	a, err := Parse(s)
	if err != nil {
		return Principal{}, err
	}
	return a.Principal()
}

// Principal reads the identity the ARN names; see ParsePrincipal.
func (a ARN) Principal() (Principal, error) {
	p := Principal{Partition: a.Partition, Account: a.Account}
	segs := strings.Split(a.Resource, "/")
	last := segs[len(segs)-1]
	switch {
	case a.Service == "iam" && a.Resource == "root":
		p.Kind = KindRoot
		return p, nil
	case a.Service == "iam" && (segs[0] == "user" || segs[0] == "role") && len(segs) >= 2 && last != "":
		p.Kind, p.Name = PrincipalKind(segs[0]), last
		p.Path = "/"
		if mid := segs[1 : len(segs)-1]; len(mid) > 0 {
			p.Path += strings.Join(mid, "/") + "/"
		}
		return p, nil
	case a.Service == "sts" && segs[0] == "assumed-role" && len(segs) == 3 && segs[1] != "":
		p.Kind, p.Name, p.Session = KindAssumedRole, segs[1], segs[2]
		return p, nil
	case a.Service == "sts" && segs[0] == "federated-user" && len(segs) == 2 && last != "":
		p.Kind, p.Name = KindFederatedUser, last
		return p, nil
	}
	return Principal{}, fmt.Errorf("%w: %s", ErrNotPrincipal, clip(a.String()))
}

// ARN formats the principal's ARN.
func (p Principal) ARN() ARN {
	switch p.Kind {
	case KindRoot:
		return ARN{Partition: p.Partition, Service: "iam", Account: p.Account, Resource: "root"}
	case KindUser:
		return IAMUser(p.Partition, p.Account, p.Path, p.Name)
	case KindRole:
		return IAMRole(p.Partition, p.Account, p.Path, p.Name)
	case KindAssumedRole:
		return AssumedRole(p.Partition, p.Account, p.Name, p.Session)
	default:
		return ARN{Partition: p.Partition, Service: "sts", Account: p.Account, Resource: string(p.Kind) + "/" + p.Name}
	}
}

// Identity is the ARN of the identity that outlives a session: an
// assumed-role session's role (as "/" path, since session ARNs do not
// carry it), otherwise the principal itself. History and baselines key on
// it.
func (p Principal) Identity() ARN {
	if p.Kind == KindAssumedRole {
		return IAMRole(p.Partition, p.Account, "", p.Name)
	}
	return p.ARN()
}
