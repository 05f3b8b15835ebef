package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/awsarn"
)

// pinningKey reports whether a condition key (in lower case, as IAM
// compares them), set to fixed values, limits a wildcard principal to known
// callers, networks or sources. The list follows S3's "meaning of public"
// and IAM Access Analyzer.
func pinningKey(k string) bool {
	switch k {
	case "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourcearn",
		"aws:sourceaccount", "aws:sourceowner", "aws:principalorgid",
		"aws:principalaccount", "aws:principalarn", "aws:userid",
		"s3:x-amz-server-side-encryption-aws-kms-key-id":
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

// conditionPins reports whether a Condition block limits the statement to
// fixed callers. Conditions are ANDed, so one pinning key is enough. When
// nothing pins, the returned text says why, for the finding's detail.
func conditionPins(c any) (bool, string, error) {
	block, ok := c.(map[string]any)
	if !ok {
		return false, "", fmt.Errorf("%w: Condition is a JSON %s, not an object", ErrMalformed, kind(c))
	}
	var loose []string
	for _, op := range sortedKeys(block) {
		keys, ok := block[op].(map[string]any)
		if !ok {
			return false, "", fmt.Errorf("%w: condition %s is a JSON %s, not an object", ErrMalformed, op, kind(block[op]))
		}
		for _, key := range sortedKeys(keys) {
			vals, err := stringList(keys[key])
			if err != nil {
				return false, "", fmt.Errorf("condition %s %s: %w", op, key, err)
			}
			pinned, why := pins(op, key, vals)
			if pinned {
				return true, "", nil
			}
			if why != "" {
				loose = append(loose, why)
			}
		}
	}
	if len(loose) == 0 {
		return false, "no condition limits who can call", nil
	}
	return false, "no condition limits who can call (" + strings.Join(loose, "; ") + ")", nil
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
	if key == "aws:userid" {
		// "AROLEID:*" is every session of one role: still a fixed caller.
		id, ok := strings.CutSuffix(v, ":*")
		return ok && id != "" && !hasWildcard(id)
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
