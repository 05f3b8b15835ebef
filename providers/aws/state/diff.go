package state

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// Diff describes, one readable line each, what changed between two reads
// of the same resource: "+ statement PublicRead: s3:GetObject to everyone",
// "+ shared with 444455556666", "public access block: BlockPublicPolicy
// true → false". Lines starting with + or - are things granted or taken
// away. Identical states give no lines.
func Diff(before, after State) []string {
	var out []string
	switch {
	case after.Gone && !before.Gone:
		return []string{"resource deleted"}
	case before.Gone && !after.Gone:
		out = append(out, "resource exists again")
	}
	if before.Exposed != after.Exposed && !before.Gone {
		out = append(out, "exposure: "+exposedWord(before.Exposed)+" → "+exposedWord(after.Exposed))
	}
	typ := after.Type
	if typ == "" {
		typ = before.Type
	}
	switch typ {
	case awsarn.TypeS3Bucket:
		var b, a S3Detail
		decodeDetail(before.Detail, &b)
		decodeDetail(after.Detail, &a)
		out = append(out, diffBucket(b, a)...)
	case awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot, awsarn.TypeEC2Snapshot, awsarn.TypeEC2Image:
		var b, a ShareDetail
		decodeDetail(before.Detail, &b)
		decodeDetail(after.Detail, &a)
		out = append(out, diffShares(b.SharedWith, a.SharedWith)...)
		if b.Encrypted != a.Encrypted && before.Detail != nil && after.Detail != nil {
			out = append(out, fmt.Sprintf("encrypted: %t → %t", b.Encrypted, a.Encrypted))
		}
	}
	return append(out, diffTags(before.Tags, after.Tags)...)
}

func exposedWord(e bool) string {
	if e {
		return "exposed"
	}
	return "not exposed"
}

// decodeDetail leaves v zero for a missing or unreadable detail: a diff
// then shows everything as added or removed rather than failing.
func decodeDetail(raw json.RawMessage, v any) {
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, v)
	}
}

func diffBucket(b, a S3Detail) []string {
	var out []string
	d, err := policy.Compare(b.Policy, a.Policy)
	if err != nil {
		out = append(out, "policy changed (unreadable: "+err.Error()+")")
	} else {
		for _, s := range d.Removed {
			out = append(out, "- "+describeStatement(s))
		}
		for _, s := range d.Added {
			out = append(out, "+ "+describeStatement(s))
		}
	}
	if bs, as := statusWord(b.PolicyStatus), statusWord(a.PolicyStatus); bs != as {
		out = append(out, "policy status: "+bs+" → "+as)
	}

	grantLine := func(g Grant) string { return "grant " + g.Permission + " to " + g.Grantee }
	for _, g := range b.ACL {
		if !slices.Contains(a.ACL, g) {
			out = append(out, "- "+grantLine(g))
		}
	}
	for _, g := range a.ACL {
		if !slices.Contains(b.ACL, g) {
			out = append(out, "+ "+grantLine(g))
		}
	}
	out = append(out, diffPAB("public access block", b.PublicAccessBlock, a.PublicAccessBlock)...)
	out = append(out, diffPAB("account public access block", b.AccountPublicAccessBlock, a.AccountPublicAccessBlock)...)
	return out
}

func statusWord(s *PolicyStatus) string {
	switch {
	case s == nil:
		return "no policy"
	case s.IsPublic:
		return "public"
	default:
		return "not public"
	}
}

// diffPAB reports each setting that changed; a missing block counts as
// every setting off, which is how S3 treats it.
func diffPAB(label string, b, a *PublicAccessBlock) []string {
	var bv, av PublicAccessBlock
	if b != nil {
		bv = *b
	}
	if a != nil {
		av = *a
	}
	fields := []struct {
		name string
		b, a bool
	}{
		{"BlockPublicAcls", bv.BlockPublicAcls, av.BlockPublicAcls},
		{"IgnorePublicAcls", bv.IgnorePublicAcls, av.IgnorePublicAcls},
		{"BlockPublicPolicy", bv.BlockPublicPolicy, av.BlockPublicPolicy},
		{"RestrictPublicBuckets", bv.RestrictPublicBuckets, av.RestrictPublicBuckets},
	}
	var out []string
	for _, f := range fields {
		if f.b != f.a {
			out = append(out, fmt.Sprintf("%s: %s %t → %t", label, f.name, f.b, f.a))
		}
	}
	return out
}

func diffShares(b, a []string) []string {
	word := func(t string) string {
		if t == shareAll {
			return "all (everyone)"
		}
		return t
	}
	var out []string
	for _, t := range b {
		if !slices.Contains(a, t) {
			out = append(out, "- shared with "+word(t))
		}
	}
	for _, t := range a {
		if !slices.Contains(b, t) {
			out = append(out, "+ shared with "+word(t))
		}
	}
	return out
}

func diffTags(b, a map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(b) {
		if v, ok := a[k]; !ok {
			out = append(out, "- tag "+k+"="+b[k])
		} else if v != b[k] {
			out = append(out, "tag "+k+": "+b[k]+" → "+v)
		}
	}
	for _, k := range sortedKeys(a) {
		if _, ok := b[k]; !ok {
			out = append(out, "+ tag "+k+"="+a[k])
		}
	}
	return out
}

// describeStatement words one canonical policy statement:
// `statement PublicRead: s3:GetObject to everyone`.
func describeStatement(raw json.RawMessage) string {
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		return "statement " + string(raw)
	}
	name := "(no Sid)"
	if sid, _ := st["Sid"].(string); sid != "" {
		name = sid
	}
	var b strings.Builder
	b.WriteString("statement " + name + ": ")
	if e, _ := st["Effect"].(string); strings.EqualFold(e, "Deny") {
		b.WriteString("deny ")
	}
	if na, ok := st["NotAction"]; ok {
		b.WriteString("every action except " + strings.Join(words(na), ", "))
	} else if acts := words(st["Action"]); len(acts) == 0 || slices.Contains(acts, "*") {
		b.WriteString("every action")
	} else {
		b.WriteString(strings.Join(acts, ", "))
	}
	b.WriteString(" to " + principalWords(raw, st))
	if _, ok := st["Condition"]; ok {
		b.WriteString(" (with conditions)")
	}
	return b.String()
}

// principalWords names who a statement applies to. "everyone" is kept for
// principals the policy evaluator judges public, so a wildcard pinned by a
// condition does not read as public.
func principalWords(raw json.RawMessage, st map[string]any) string {
	if _, ok := st["NotPrincipal"]; ok {
		return "everyone except " + strings.Join(principalValues(st["NotPrincipal"]), ", ")
	}
	p, ok := st["Principal"]
	if !ok {
		return "the policy's holder"
	}
	doc, _ := json.Marshal(map[string]any{"Statement": []json.RawMessage{raw}})
	if res, err := policy.Evaluate(doc); err == nil && res.IsPublic() {
		return "everyone"
	}
	vals := principalValues(p)
	if slices.Contains(vals, "*") {
		return "everyone"
	}
	return strings.Join(vals, ", ")
}

func principalValues(p any) []string {
	if s, ok := p.(string); ok {
		return []string{s}
	}
	m, _ := p.(map[string]any)
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, words(m[k])...)
	}
	return out
}

func words(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
		return out
	case nil:
		return nil
	default:
		return []string{fmt.Sprint(t)}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
