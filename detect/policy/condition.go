package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// pinningKey reports whether a condition key (in lower case, as IAM
// compares them), set to fixed values, limits a wildcard principal to known
// callers, networks or sources. The list follows S3's "meaning of public"
// and the condition keys IAM Access Analyzer reads when it decides that a
// statement is not public (the condition.* criteria of
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-filter-keys.html).
// kms:ViaService is not among them: it names the AWS service a request came
// through, and any account can call that service, so only with
// kms:CallerAccount beside it (which pins on its own) is a key statement
// limited to a caller.
func pinningKey(k string) bool {
	switch k {
	case "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourcearn",
		"aws:sourceaccount", "aws:sourceowner", "aws:principalorgid",
		"aws:principalorgpaths", "aws:principalaccount", "aws:principalarn",
		"aws:userid", "aws:username", "kms:calleraccount",
		"s3:x-amz-server-side-encryption-aws-kms-key-id":
		return true
	default:
		return false
	}
}

// accountKey reports whether a key's values are account IDs: a statement
// pinned by one is granted to those accounts.
func accountKey(k string) bool {
	switch k {
	case "aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "kms:calleraccount":
		return true
	default:
		return false
	}
}

// arnKey reports whether a key holds ARNs, whose wildcards matter only in
// the account field.
func arnKey(k string) bool { return k == "aws:sourcearn" || k == "aws:principalarn" }

// Shortest prefixes that still count as a fixed network. A wider range, like
// 0.0.0.0/0 or 10.0.0.0/7, is the internet for this purpose.
const (
	minIPv4Bits = 8
	minIPv6Bits = 32
)

// pinning is what a Condition block does to a wildcard principal.
type pinning struct {
	// pinned is true when some key limits the statement to fixed callers,
	// networks or sources.
	pinned bool
	// why says, when nothing pins, why not (for the finding's detail).
	why string
	// accounts are the accounts the statement is limited to, when a key
	// names them (kms:CallerAccount, aws:PrincipalAccount, the account of
	// aws:PrincipalArn...); nil when no key does. Conditions are ANDed, so
	// with several such keys only the accounts every one allows remain.
	accounts []string
	// via names the key (and values) that limit the statement to accounts.
	via string
}

// conditionPins reports whether a Condition block limits the statement to
// fixed callers. Conditions are ANDed, so one pinning key is enough. When
// nothing pins, the result says why, for the finding's detail.
func conditionPins(c any) (pinning, error) {
	block, ok := c.(map[string]any)
	if !ok {
		return pinning{}, fmt.Errorf("%w: Condition is a JSON %s, not an object", ErrMalformed, kind(c))
	}
	var (
		res   pinning
		loose []string
		named bool
	)
	for _, op := range sortedKeys(block) {
		keys, ok := block[op].(map[string]any)
		if !ok {
			return pinning{}, fmt.Errorf("%w: condition %s is a JSON %s, not an object", ErrMalformed, op, kind(block[op]))
		}
		for _, key := range sortedKeys(keys) {
			vals, err := stringList(keys[key])
			if err != nil {
				return pinning{}, fmt.Errorf("condition %s %s: %w", op, key, err)
			}
			pinned, why := pins(op, key, vals)
			if !pinned {
				if why != "" {
					loose = append(loose, why)
				}
				continue
			}
			res.pinned = true
			accts, ok := accountsOf(strings.ToLower(key), vals)
			if !ok {
				continue
			}
			if !named {
				res.accounts, res.via, named = accts, key+" "+strings.Join(vals, ", "), true
				continue
			}
			res.accounts = slices.DeleteFunc(res.accounts, func(a string) bool { return !slices.Contains(accts, a) })
			res.via += " and " + key + " " + strings.Join(vals, ", ")
		}
	}
	if res.pinned {
		return res, nil
	}
	res.why = "no condition limits who can call"
	if len(loose) > 0 {
		res.why += " (" + strings.Join(loose, "; ") + ")"
	}
	return res, nil
}

// accountsOf returns the accounts a pinning key's values name, and false
// when the key names none (a network, an organisation, a user ID) or one
// of its values has no account (an S3 bucket's ARN).
func accountsOf(key string, vals []string) ([]string, bool) {
	var out []string
	for _, v := range vals {
		var acct string
		switch {
		case accountKey(key):
			acct = v
		case arnKey(key):
			a, err := awsarn.Parse(v)
			if err != nil {
				return nil, false
			}
			acct = a.Account
		default:
			return nil, false
		}
		if !awsarn.IsAccountID(acct) {
			return nil, false
		}
		if !slices.Contains(out, acct) {
			out = append(out, acct)
		}
	}
	return out, len(out) > 0
}

// pins judges one operator/key/values triple. The reason is empty when the
// key is not one that could pin the caller at all.
func pins(op, key string, vals []string) (bool, string) {
	k := strings.ToLower(key)
	if !pinningKey(k) {
		return false, ""
	}
	base := strings.ToLower(op)
	if set, rest, ok := strings.Cut(base, ":"); ok {
		// ForAllValues is true when the key is absent, so it pins nothing;
		// ForAnyValue behaves like the plain operator for these keys.
		if set == "forallvalues" {
			return false, key + " is tested with ForAllValues, which also matches when the key is missing"
		}
		base = rest
	}
	if strings.HasSuffix(base, "ifexists") {
		return false, key + " is tested with " + op + ", which also matches when the key is missing"
	}
	if len(vals) == 0 {
		return false, key + " has no values"
	}

	if k == "aws:sourceip" {
		if base != "ipaddress" {
			return false, key + " is tested with " + op
		}
		for _, v := range vals {
			if !narrowCIDR(v) {
				return false, fmt.Sprintf("%s %s is too broad", key, v)
			}
		}
		return true, ""
	}

	switch base {
	case "stringequals", "stringequalsignorecase":
		for _, v := range vals {
			if strings.Contains(v, "${") {
				// A policy variable is the caller's own value, so it
				// limits nothing.
				return false, fmt.Sprintf("%s %q names no fixed caller", key, v)
			}
		}
		return true, ""
	case "stringlike", "arnequals", "arnlike":
		for _, v := range vals {
			if !fixedPattern(k, v) {
				return false, fmt.Sprintf("%s %s matches any value", key, v)
			}
		}
		return true, ""
	default:
		return false, key + " is tested with " + op
	}
}

// fixedPattern reports whether a (possibly wildcarded) value still names a
// fixed set of callers.
func fixedPattern(key, v string) bool {
	if strings.Contains(v, "${") {
		return false
	}
	if !hasWildcard(v) {
		return v != ""
	}
	if arnKey(key) {
		a, err := awsarn.Parse(v)
		if err != nil {
			return false
		}
		if a.Account != "" {
			return !hasWildcard(a.Account)
		}
		// ARNs without an account (S3 buckets) are fixed only by name.
		return !hasWildcard(a.Resource)
	}
	switch key {
	case "aws:userid":
		// "AROLEID:*" is every session of one role: still a fixed caller.
		id, ok := strings.CutSuffix(v, ":*")
		return ok && id != "" && !hasWildcard(id)
	case "aws:principalorgpaths":
		// "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*" is everything under one
		// organisational unit: fixed as long as the organisation is.
		org, _, _ := strings.Cut(v, "/")
		return strings.HasPrefix(org, "o-") && !hasWildcard(org)
	}
	return false
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// narrowCIDR reports whether an aws:SourceIp value names a fixed network: a
// single address, or a prefix no wider than /8 (IPv4) or /32 (IPv6).
func narrowCIDR(v string) bool {
	v = strings.TrimSpace(v)
	if p, err := netip.ParsePrefix(v); err == nil {
		if p.Addr().Is4() || p.Addr().Is4In6() {
			bits := p.Bits()
			if p.Addr().Is4In6() {
				bits -= 96
			}
			return bits >= minIPv4Bits
		}
		return p.Bits() >= minIPv6Bits
	}
	_, err := netip.ParseAddr(v)
	return err == nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
