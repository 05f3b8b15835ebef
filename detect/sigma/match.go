package sigma

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// evalCtx is what evaluating one record against the rules needs. It lives
// on the stack of Set.Match; the top-level keys of the raw JSON are indexed
// the first time a rule reads a field the decoded record does not hold.
type evalCtx struct {
	rec *cloudtrail.Record

	raw      []byte
	rawReady bool
	top      [maxTopFields]topField
	ntop     int
	topReady bool
	topFull  bool
	// scratch holds unescaped strings, one at a time.
	scratch []byte
}

// rawRecord is the record's JSON: as read, or for a record built in code
// (with no Raw) its encoding.
func (c *evalCtx) rawRecord() []byte {
	if !c.rawReady {
		c.rawReady = true
		c.raw = c.rec.Raw
		if len(c.raw) == 0 {
			c.raw, _ = json.Marshal(c.rec)
		}
	}
	return c.raw
}

// topFields indexes the raw JSON's top-level keys, once per record.
func (c *evalCtx) topFields() []topField {
	if !c.topReady {
		c.topReady = true
		c.ntop, c.topFull = indexTop(c.rawRecord(), &c.top)
	}
	return c.top[:c.ntop]
}

// root says where a field's path starts.
type root uint8

const (
	rootRecord root = iota
	rootRequest
	rootResponse
	rootAdditional
)

// decodedFields are the string fields the decoded record already holds;
// reading them there spares a scan of the raw JSON on every record.
var decodedFields = map[string]func(r *cloudtrail.Record) string{
	"eventVersion":             func(r *cloudtrail.Record) string { return r.EventVersion },
	"eventID":                  func(r *cloudtrail.Record) string { return r.EventID },
	"eventSource":              func(r *cloudtrail.Record) string { return r.EventSource },
	"eventName":                func(r *cloudtrail.Record) string { return r.EventName },
	"eventType":                func(r *cloudtrail.Record) string { return r.EventType },
	"awsRegion":                func(r *cloudtrail.Record) string { return r.AWSRegion },
	"sourceIPAddress":          func(r *cloudtrail.Record) string { return r.SourceIPAddress },
	"userAgent":                func(r *cloudtrail.Record) string { return r.UserAgent },
	"errorCode":                func(r *cloudtrail.Record) string { return r.ErrorCode },
	"errorMessage":             func(r *cloudtrail.Record) string { return r.ErrorMessage },
	"requestID":                func(r *cloudtrail.Record) string { return r.RequestID },
	"recipientAccountId":       func(r *cloudtrail.Record) string { return r.RecipientAccountID },
	"userIdentity.type":        func(r *cloudtrail.Record) string { return r.UserIdentity.Type },
	"userIdentity.principalId": func(r *cloudtrail.Record) string { return r.UserIdentity.PrincipalID },
	"userIdentity.arn":         func(r *cloudtrail.Record) string { return r.UserIdentity.ARN },
	"userIdentity.accountId":   func(r *cloudtrail.Record) string { return r.UserIdentity.AccountID },
	"userIdentity.accessKeyId": func(r *cloudtrail.Record) string { return r.UserIdentity.AccessKeyID },
	"userIdentity.userName":    func(r *cloudtrail.Record) string { return r.UserIdentity.UserName },
	"userIdentity.invokedBy":   func(r *cloudtrail.Record) string { return r.UserIdentity.InvokedBy },
	"userIdentity.sessionContext.sourceIdentity": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SourceIdentity
		}
		return ""
	},
	"userIdentity.sessionContext.sessionIssuer.type": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SessionIssuer.Type
		}
		return ""
	},
	"userIdentity.sessionContext.sessionIssuer.principalId": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SessionIssuer.PrincipalID
		}
		return ""
	},
	"userIdentity.sessionContext.sessionIssuer.arn": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SessionIssuer.ARN
		}
		return ""
	},
	"userIdentity.sessionContext.sessionIssuer.accountId": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SessionIssuer.AccountID
		}
		return ""
	},
	"userIdentity.sessionContext.sessionIssuer.userName": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.SessionIssuer.UserName
		}
		return ""
	},
	"userIdentity.sessionContext.attributes.creationDate": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.Attributes.CreationDate
		}
		return ""
	},
	"userIdentity.sessionContext.attributes.mfaAuthenticated": func(r *cloudtrail.Record) string {
		if s := r.UserIdentity.SessionContext; s != nil {
			return s.Attributes.MFAAuthenticated
		}
		return ""
	},
}

// fieldPath is where a field's values are read.
type fieldPath struct {
	name string
	path []string
	// get reads the field from the decoded record; nil when the raw JSON
	// must be read.
	get  func(r *cloudtrail.Record) string
	root root
	// rest is the path below root.
	rest []string
}

func newFieldPath(name string) fieldPath {
	p := fieldPath{name: name, path: strings.Split(name, "."), get: decodedFields[name]}
	p.rest = p.path
	switch p.path[0] {
	case "requestParameters":
		p.root, p.rest = rootRequest, p.path[1:]
	case "responseElements":
		p.root, p.rest = rootResponse, p.path[1:]
	case "additionalEventData":
		p.root, p.rest = rootAdditional, p.path[1:]
	}
	return p
}

// visit calls fn for every value the path reaches in the record. When raw
// is set the decoded record is not used, because the caller must tell an
// empty string from an absent field.
func (p *fieldPath) visit(c *evalCtx, raw bool, fn visitor) bool {
	if p.get != nil && !raw {
		s := p.get(c.rec)
		if s == "" {
			return false
		}
		return fn(leaf{kind: jsonString, decoded: true, str: s})
	}
	switch p.root {
	case rootRequest:
		return walk(c.rec.RequestParameters, 0, p.rest, fn)
	case rootResponse:
		return walk(c.rec.ResponseElements, 0, p.rest, fn)
	case rootAdditional:
		return walk(c.rec.AdditionalData, 0, p.rest, fn)
	}
	top := c.topFields()
	d := c.rawRecord()
	if !c.topFull {
		return walk(d, 0, p.path, fn)
	}
	for i := range top {
		t := &top[i]
		if keyEquals(d[t.keyStart:int(t.keyStart)+int(t.keyLen)], t.esc, p.path[0]) && walk(d, int(t.valueStart), p.path[1:], fn) {
			return true
		}
	}
	return false
}

type valueKind uint8

const (
	valText valueKind = iota + 1
	valNumber
	valBool
	valNull
	valRegex
	valCIDR
	valCompare
	valFieldRef
)

// value is one compiled value of a field (or one keyword).
type value struct {
	kind valueKind
	pat  pattern
	num  float64
	text string // a number's or boolean's text as written
	b    bool
	re   *regexp.Regexp
	// reLit is a literal every match of re contains (see requiredLiteral).
	reLit  string
	reFold bool
	reRare int
	prefix netip.Prefix
	op     string // gt, gte, lt, lte
	ref    *fieldPath
}

// matchesEmpty reports whether the value matches an empty string, which
// the decoded record cannot tell from an absent field.
func (v *value) matchesEmpty() bool {
	switch v.kind {
	case valText:
		return v.pat.matchesEmpty()
	case valRegex:
		return v.re.MatchString("")
	}
	return false
}

func (v *value) match(c *evalCtx, l *leaf) bool {
	switch v.kind {
	case valText:
		return v.pat.match(l.text(&c.scratch))
	case valNumber:
		switch l.kind {
		case jsonNumber:
			f, err := strconv.ParseFloat(l.text(&c.scratch), 64)
			return err == nil && f == v.num
		case jsonString:
			t := l.text(&c.scratch)
			if t == v.text {
				return true
			}
			f, err := strconv.ParseFloat(t, 64)
			return err == nil && f == v.num
		}
		return false
	case valBool:
		switch l.kind {
		case jsonTrue, jsonFalse:
			return (l.kind == jsonTrue) == v.b
		case jsonString:
			return strings.EqualFold(l.text(&c.scratch), v.text)
		}
		return false
	case valRegex:
		t := l.text(&c.scratch)
		if v.reLit != "" && !containsLiteral(t, v.reLit, v.reFold, v.reRare) {
			return false
		}
		return v.re.MatchString(t)
	case valCIDR:
		if l.kind != jsonString {
			return false
		}
		t := l.text(&c.scratch)
		if a, err := netip.ParseAddr(t); err == nil {
			return v.prefix.Contains(a.Unmap())
		}
		// A field holding a network (a security group rule's cidrIp) is
		// inside when all of it is.
		if p, err := netip.ParsePrefix(t); err == nil {
			return p.Bits() >= v.prefix.Bits() && v.prefix.Contains(p.Addr().Unmap())
		}
		return false
	case valCompare:
		if l.kind != jsonNumber && l.kind != jsonString {
			return false
		}
		f, err := strconv.ParseFloat(l.text(&c.scratch), 64)
		if err != nil {
			return false
		}
		switch v.op {
		case "gt":
			return f > v.num
		case "gte":
			return f >= v.num
		case "lt":
			return f < v.num
		default:
			return f <= v.num
		}
	case valFieldRef:
		return v.matchRef(c, l)
	}
	return false
}

// matchRef compares the leaf with every value of the referenced field,
// ignoring case as Sigma's equality does.
func (v *value) matchRef(c *evalCtx, l *leaf) bool {
	// The leaf's text must survive the walk of the other field, which may
	// unescape into the scratch buffer too.
	want := l.text(&c.scratch)
	if l.kind == jsonString && l.esc {
		want = strings.Clone(want)
	}
	return v.ref.visit(c, false, func(r leaf) bool {
		return !r.isNull() && strings.EqualFold(r.text(&c.scratch), want)
	})
}

// field is one "field|modifiers: values" entry of a search map.
type field struct {
	fieldPath
	line   int
	values []value
	all    bool
	// exists is set for field|exists; want is its value.
	exists bool
	want   bool
	// null is set when one of the values is null.
	null bool
	// raw forces reading the raw JSON (see value.matchesEmpty).
	raw bool
}

func (f *field) eval(c *evalCtx) bool {
	if f.get != nil && !f.raw {
		return f.evalString(c, f.get(c.rec))
	}
	if f.exists {
		found := f.visit(c, f.raw, func(l leaf) bool { return !l.isNull() })
		return found == f.want
	}
	if f.all {
		for i := range f.values {
			v := &f.values[i]
			if v.kind == valNull {
				if f.visit(c, f.raw, func(l leaf) bool { return !l.isNull() }) {
					return false
				}
				continue
			}
			if !f.visit(c, f.raw, func(l leaf) bool { return l.kind != jsonNull && v.match(c, &l) }) {
				return false
			}
		}
		return true
	}
	hasValue := false
	matched := f.visit(c, f.raw, func(l leaf) bool {
		if l.kind == jsonNull {
			return false
		}
		if !l.isNull() {
			hasValue = true
		}
		for i := range f.values {
			if v := &f.values[i]; v.kind != valNull && v.match(c, &l) {
				return true
			}
		}
		return false
	})
	return matched || f.null && !hasValue
}

// evalString is eval for a field the decoded record holds as a string,
// empty when absent: the common case, kept free of the walk.
func (f *field) evalString(c *evalCtx, s string) bool {
	if f.exists {
		return (s != "") == f.want
	}
	if s == "" {
		if f.all {
			for i := range f.values {
				if f.values[i].kind != valNull {
					return false
				}
			}
			return true
		}
		return f.null
	}
	for i := range f.values {
		v := &f.values[i]
		var ok bool
		switch v.kind {
		case valNull:
		case valText:
			ok = v.pat.match(s)
		default:
			l := leaf{kind: jsonString, decoded: true, str: s}
			ok = v.match(c, &l)
		}
		if ok != f.all {
			return ok
		}
	}
	return f.all
}

// search is one search identifier of the detection: maps of fields (any
// map, every field of it) or keywords.
type search struct {
	name     string
	line     int
	maps     [][]field
	keywords []value
}

func (s *search) eval(c *evalCtx) bool {
	if len(s.keywords) > 0 {
		text := bytesString(c.rawRecord())
		for i := range s.keywords {
			if s.keywords[i].pat.match(text) {
				return true
			}
		}
		return false
	}
next:
	for _, m := range s.maps {
		for i := range m {
			f := &m[i]
			// Decoded fields, most of them, skip a call.
			if f.get != nil && !f.raw {
				if !f.evalString(c, f.get(c.rec)) {
					continue next
				}
			} else if !f.eval(c) {
				continue next
			}
		}
		return true
	}
	return false
}

type nodeOp uint8

const (
	opSearch nodeOp = iota + 1
	opAnd
	opOr
	opNot
)

// node is the compiled condition.
type node struct {
	op     nodeOp
	search int
	kids   []node
}

func (n *node) eval(r *Rule, c *evalCtx) bool {
	switch n.op {
	case opSearch:
		return r.searches[n.search].eval(c)
	case opAnd:
		for i := range n.kids {
			if !n.kids[i].eval(r, c) {
				return false
			}
		}
		return true
	case opOr:
		for i := range n.kids {
			if n.kids[i].eval(r, c) {
				return true
			}
		}
		return false
	case opNot:
		return !n.kids[0].eval(r, c)
	}
	return false
}
