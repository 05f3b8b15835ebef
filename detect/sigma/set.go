package sigma

import (
	"fmt"
	"slices"
	"sort"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// Set is a compiled set of rules, ready to match records. It is read-only
// once built and safe for concurrent use.
type Set struct {
	rules Rules
	// byName and bySource hold the rules whose every branch pins the
	// event's name (or, failing that, its source), and byType those that
	// pin neither but the caller's identity type (root use, most often);
	// always holds the rest, tried on every record.
	byName   foldIndex
	bySource foldIndex
	byType   foldIndex
	always   Rules
	// pos is each rule's position in rules, so that matches come out in
	// a stable order. (A Rule may be compiled into several sets.)
	pos map[*Rule]int
}

// Compile indexes rules for matching. A rule whose id was already taken,
// by an earlier rule or by one of the reserved ids (the built-in rules'),
// is left out and reported: findings are keyed by rule id, so two rules
// with one id would share findings.
func Compile(rules Rules, reserved ...string) (*Set, []Problem) {
	s := &Set{pos: map[*Rule]int{}}
	byName, bySource, byType := map[string]Rules{}, map[string]Rules{}, map[string]Rules{}
	var problems []Problem
	taken := map[string]string{}
	for _, id := range reserved {
		taken[id] = "a built-in rule"
	}
	for _, r := range rules {
		if prev, ok := taken[r.ID]; ok {
			problems = append(problems, Problem{File: r.File, Line: r.Line, Rule: r.ID, Construct: "id",
				Message: fmt.Sprintf("%q is already the id of %s", r.ID, prev)})
			continue
		}
		taken[r.ID] = fmt.Sprintf("%s:%d", r.File, r.Line)
		if r.Name != "" {
			if prev, ok := taken["name:"+r.Name]; ok {
				problems = append(problems, Problem{File: r.File, Line: r.Line, Rule: r.ID, Construct: "name",
					Message: fmt.Sprintf("%q is already the name of the rule at %s", r.Name, prev)})
				continue
			}
			taken["name:"+r.Name] = fmt.Sprintf("%s:%d", r.File, r.Line)
		}
		s.pos[r] = len(s.rules)
		s.rules = append(s.rules, r)
		if names := r.pins("eventName"); !names.any {
			for _, n := range names.vals {
				byName[n] = append(byName[n], r)
			}
			continue
		}
		if sources := r.pins("eventSource"); !sources.any {
			for _, src := range sources.vals {
				bySource[src] = append(bySource[src], r)
			}
			continue
		}
		if types := r.pins("userIdentity.type"); !types.any {
			for _, typ := range types.vals {
				byType[typ] = append(byType[typ], r)
			}
			continue
		}
		s.always = append(s.always, r)
	}
	s.byName, s.bySource, s.byType = newFoldIndex(byName), newFoldIndex(bySource), newFoldIndex(byType)
	return s, problems
}

// Rules lists the set's rules in the order they were compiled.
func (s *Set) Rules() Rules {
	if s == nil {
		return nil
	}
	return s.rules
}

// Len is the number of rules in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Unindexed is the number of rules tried on every record because they pin
// neither the event's name, nor its source, nor the caller's identity
// type.
func (s *Set) Unindexed() int {
	if s == nil {
		return 0
	}
	return len(s.always)
}

// Match appends the rules that match rec to dst, in the set's order, and
// returns it. It allocates nothing when nothing matches (or dst has room).
func (s *Set) Match(rec *cloudtrail.Record, dst Rules) Rules {
	if s == nil || rec == nil || len(s.rules) == 0 {
		return dst
	}
	c := evalCtx{rec: rec}
	start := len(dst)
	dst = s.try(s.byName.get(rec.EventName), &c, dst)
	dst = s.try(s.bySource.get(rec.EventSource), &c, dst)
	dst = s.try(s.byType.get(rec.UserIdentity.Type), &c, dst)
	dst = s.try(s.always, &c, dst)
	if len(dst)-start > 1 {
		slices.SortFunc(dst[start:], func(a, b *Rule) int { return s.pos[a] - s.pos[b] })
	}
	return dst
}

func (s *Set) try(cand Rules, c *evalCtx, dst Rules) Rules {
	for _, r := range cand {
		if r.cond.eval(r, c) {
			dst = append(dst, r)
		}
	}
	return dst
}

// Matches reports whether the rule matches rec; it is Set.Match for one
// rule, without the index.
func (r *Rule) Matches(rec *cloudtrail.Record) bool {
	c := evalCtx{rec: rec}
	return r.cond.eval(r, &c)
}

// foldIndex maps names (event names, event sources) to rules ignoring the
// case of ASCII letters. It is looked up twice for every record, so it
// hashes the name as it folds it instead of making a lower-cased copy
// for a Go map.
type foldIndex struct {
	// slots is an open-addressing table, a power of two long and at most
	// half full; an empty key marks a free slot.
	slots []foldSlot
	mask  uint64
}

type foldSlot struct {
	key   string // lower-cased
	rules Rules
}

func newFoldIndex(m map[string]Rules) foldIndex {
	if len(m) == 0 {
		return foldIndex{}
	}
	n := 8
	for n < 2*len(m) {
		n *= 2
	}
	x := foldIndex{slots: make([]foldSlot, n), mask: uint64(n - 1)}
	for k, rules := range m {
		i := foldHash(k) & x.mask
		for x.slots[i].key != "" {
			i = (i + 1) & x.mask
		}
		x.slots[i] = foldSlot{key: k, rules: rules}
	}
	return x
}

func (x *foldIndex) get(name string) Rules {
	if len(x.slots) == 0 || name == "" {
		return nil
	}
	for i := foldHash(name) & x.mask; ; i = (i + 1) & x.mask {
		sl := &x.slots[i]
		if sl.key == "" {
			return nil
		}
		if len(sl.key) == len(name) && hasPrefixFold(name, sl.key) {
			return sl.rules
		}
	}
}

// foldHash hashes s's length and its first and last eight bytes, with
// ASCII letters lower-cased: enough to tell names apart (the slot's key is
// compared anyway) for a few instructions.
func foldHash(s string) uint64 {
	h := uint64(len(s)) * 0x9e3779b97f4a7c15
	if len(s) >= 8 {
		h ^= lowerWord(load64(s)) * 0xc2b2ae3d27d4eb4f
		h = (h<<31 | h>>33) * 0x9e3779b97f4a7c15
		h ^= lowerWord(load64(s[len(s)-8:])) * 0x165667b19e3779f9
	} else {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(lowerTable[s[i]])) * 0x100000001b3
		}
	}
	return h ^ h>>29
}

// lowerTable maps each byte to its ASCII lower case.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = lowerByte(byte(i))
	}
	return t
}()

// pinSet is what the condition requires of one field: one of vals, or
// anything (any).
type pinSet struct {
	any  bool
	vals []string
}

var anyPin = pinSet{any: true}

// pins is the set of values the named field must equal (ignoring case)
// for the rule to match: a rule that can only match when, say, eventName
// is one of a few names is only tried on records with those names.
func (r *Rule) pins(fieldName string) pinSet {
	return r.nodePins(&r.cond, fieldName)
}

func (r *Rule) nodePins(n *node, fieldName string) pinSet {
	switch n.op {
	case opSearch:
		return r.searches[n.search].pins(fieldName)
	case opAnd:
		out := anyPin
		for i := range n.kids {
			out = intersectPins(out, r.nodePins(&n.kids[i], fieldName))
		}
		return out
	case opOr:
		var out pinSet
		for i := range n.kids {
			k := r.nodePins(&n.kids[i], fieldName)
			if k.any {
				return anyPin
			}
			out = unionPins(out, k)
		}
		return out
	}
	// A negation pins nothing.
	return anyPin
}

func (s *search) pins(fieldName string) pinSet {
	if len(s.keywords) > 0 || len(s.maps) == 0 {
		return anyPin
	}
	var out pinSet
	for _, m := range s.maps {
		mp := anyPin
		for i := range m {
			mp = intersectPins(mp, m[i].pins(fieldName))
		}
		if mp.any {
			return anyPin
		}
		out = unionPins(out, mp)
	}
	return out
}

// pins is what the field entry requires of fieldName: equality with one
// of its plain values, when it names that field.
func (f *field) pins(fieldName string) pinSet {
	if f.name != fieldName || f.exists || f.null || len(f.values) == 0 || (f.all && len(f.values) > 1) {
		return anyPin
	}
	var out pinSet
	for i := range f.values {
		v := &f.values[i]
		if v.kind != valText {
			return anyPin
		}
		lit, ok := v.pat.plain()
		if !ok || lit == "" {
			return anyPin
		}
		out.vals = append(out.vals, lowerASCII(lit))
	}
	return unionPins(pinSet{}, out)
}

func intersectPins(a, b pinSet) pinSet {
	switch {
	case a.any:
		return b
	case b.any:
		return a
	}
	out := pinSet{vals: []string{}}
	for _, v := range a.vals {
		if slices.Contains(b.vals, v) {
			out.vals = append(out.vals, v)
		}
	}
	return out
}

func unionPins(a, b pinSet) pinSet {
	if a.any || b.any {
		return anyPin
	}
	out := pinSet{vals: append([]string{}, a.vals...)}
	for _, v := range b.vals {
		if !slices.Contains(out.vals, v) {
			out.vals = append(out.vals, v)
		}
	}
	sort.Strings(out.vals)
	return out
}
