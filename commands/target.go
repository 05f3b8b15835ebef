package commands

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// TargetKind says what a target of investigate or contain is.
type TargetKind int

// Target kinds. The zero value is no target.
const (
	TargetNone TargetKind = iota
	// TargetUser is an IAM user name.
	TargetUser
	// TargetARN is the ARN of an IAM or STS principal (user, role,
	// assumed-role session, federated user, root).
	TargetARN
	// TargetAccessKey is an access key ID (AKIA… long-term, ASIA…
	// temporary).
	TargetAccessKey
	// TargetAccount is a 12-digit AWS account ID.
	TargetAccount
	// TargetResource is a resource name or ID (bucket, snapshot, AMI) or
	// the ARN of a resource that is not a principal.
	TargetResource
)

var targetKindNames = [...]string{"none", "user", "arn", "access-key", "account", "resource"}

func (k TargetKind) String() string {
	if k < 0 || int(k) >= len(targetKindNames) {
		return "unknown"
	}
	return targetKindNames[k]
}

// Target is what to investigate or contain, classified by its shape.
type Target struct {
	Kind  TargetKind
	Value string
}

// Prefixes that force a classification, for the names whose shape is
// ambiguous: "user:backup-bot" or "resource:customer-db-final".
const (
	userPrefix     = "user:"
	resourcePrefix = "resource:"
)

var (
	accessKeyRe = regexp.MustCompile(`^(?:AKIA|ASIA)[A-Z0-9]{16}$`)
	// IAM user names: letters, digits and +=,.@_- up to 64 characters.
	iamUserRe = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
	// EC2-style resource IDs: a type prefix and 8 or 17 hex digits.
	resourceIDRe = regexp.MustCompile(`^(?:ami|snap|vol|i|eni|sg|vpc|subnet|igw|rtb|acl|eipalloc|nat|lt)-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
)

// ParseTarget classifies a target. A 12-digit number is an account, AKIA…
// and ASIA… are access keys, an ARN is a principal (IAM user or role, STS
// session) or else a resource, an EC2-style ID (snap-…, ami-…) is a
// resource, and any other valid IAM user name is a user: that is what
// responders investigate most. "user:" or "resource:" in front overrides
// the guess; a value that cannot be a user name (it has a slash or colon)
// is a resource.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, fmt.Errorf("the target is empty")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return Target{}, fmt.Errorf("%q is not a target: targets have no spaces", clip(s))
	}
	if len(s) > 2048 {
		return Target{}, fmt.Errorf("the target is too long (%d bytes)", len(s))
	}
	if v, ok := cutPrefixFold(s, userPrefix); ok {
		if !iamUserRe.MatchString(v) {
			return Target{}, fmt.Errorf("%q is not an IAM user name", clip(v))
		}
		return Target{Kind: TargetUser, Value: v}, nil
	}
	if v, ok := cutPrefixFold(s, resourcePrefix); ok {
		if v == "" {
			return Target{}, fmt.Errorf("name the resource after %q", resourcePrefix)
		}
		return Target{Kind: TargetResource, Value: v}, nil
	}
	switch {
	case accountIDRe.MatchString(s):
		return Target{Kind: TargetAccount, Value: s}, nil
	case accessKeyRe.MatchString(strings.ToUpper(s)):
		return Target{Kind: TargetAccessKey, Value: strings.ToUpper(s)}, nil
	case strings.HasPrefix(s, "arn:"):
		return parseARN(s)
	case resourceIDRe.MatchString(s):
		return Target{Kind: TargetResource, Value: s}, nil
	case iamUserRe.MatchString(s):
		return Target{Kind: TargetUser, Value: s}, nil
	}
	return Target{Kind: TargetResource, Value: s}, nil
}

// parseARN checks the six fields of an ARN and tells principals from
// resources.
func parseARN(s string) (Target, error) {
	a, err := awsarn.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q is not a valid ARN (arn:partition:service:region:account:resource)", clip(s))
	}
	if _, err := a.Principal(); err == nil {
		return Target{Kind: TargetARN, Value: s}, nil
	}
	return Target{Kind: TargetResource, Value: s}, nil
}

// String renders the target as typed, with a prefix when its value alone
// would be classified otherwise.
func (t Target) String() string {
	if got, err := ParseTarget(t.Value); err == nil && got == t {
		return t.Value
	}
	switch t.Kind {
	case TargetUser:
		return userPrefix + t.Value
	case TargetResource:
		return resourcePrefix + t.Value
	}
	return t.Value
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}
