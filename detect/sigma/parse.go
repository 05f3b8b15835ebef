package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads the rules of one file: YAML, one rule per document. Rules
// with a problem are left out and each problem is reported.
func Parse(file string, data []byte) (Rules, []Problem) {
	var (
		rules    Rules
		problems []Problem
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, msg := yamlError(err)
			problems = append(problems, Problem{File: file, Line: line, Construct: "yaml", Message: msg})
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		p := &ruleParser{file: file}
		if r := p.rule(doc.Content[0]); r != nil && len(p.problems) == 0 {
			rules = append(rules, r)
		}
		problems = append(problems, p.problems...)
	}
	return rules, problems
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError splits yaml.v3's "yaml: line N: message" into line and message.
func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 1, strings.TrimPrefix(msg, "yaml: ")
}

// ruleParser collects the problems of one rule.
type ruleParser struct {
	file     string
	id       string
	problems []Problem
}

func (p *ruleParser) problem(line int, construct, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Rule: p.id, Construct: construct, Message: fmt.Sprintf(format, args...)})
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns a mapping's keys and values, reporting keys given twice.
func (p *ruleParser) pairs(n *yaml.Node, construct string) (keys []*yaml.Node, values []*yaml.Node) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if seen[k.Value] {
			p.problem(k.Line, construct, "%q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		keys = append(keys, k)
		values = append(values, v)
	}
	return keys, values
}

func (p *ruleParser) str(n *yaml.Node, construct string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.problem(n.Line, construct, "must be a string")
		return ""
	}
	return n.Value
}

// strings reads a list of strings; a single string is a list of one.
func (p *ruleParser) strings(n *yaml.Node, construct string) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				p.problem(c.Line, construct, "must be a list of strings")
				return nil
			}
			out = append(out, c.Value)
		}
		return out
	}
	p.problem(n.Line, construct, "must be a list of strings")
	return nil
}

func (p *ruleParser) rule(n *yaml.Node) *Rule {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.problem(n.Line, "rule", "a rule is a YAML mapping with title, id, logsource and detection")
		return nil
	}
	r := &Rule{File: p.file, Line: n.Line}
	keys, values := p.pairs(n, "rule")
	// The id first, so that every problem can name the rule.
	for i, k := range keys {
		if k.Value == "id" {
			r.ID = strings.TrimSpace(p.str(values[i], "id"))
			p.id = r.ID
		}
	}
	var logsource, detection *yaml.Node
	r.Level = LevelMedium
	for i, k := range keys {
		v := values[i]
		switch k.Value {
		case "id":
		case "title":
			r.Title = p.str(v, "title")
		case "name":
			r.Name = p.str(v, "name")
		case "status":
			r.Status = p.str(v, "status")
		case "description":
			r.Description = strings.TrimSpace(p.str(v, "description"))
		case "author":
			r.Author = p.str(v, "author")
		case "level":
			lv, ok := levelNames[strings.ToLower(p.str(v, "level"))]
			if !ok {
				p.problem(v.Line, "level", "%q is not a level (informational, low, medium, high or critical)", v.Value)
			}
			r.Level = lv
		case "references":
			r.References = p.strings(v, "references")
		case "falsepositives":
			r.FalsePositives = p.strings(v, "falsepositives")
		case "tags":
			r.Tags = p.strings(v, "tags")
		case "logsource":
			logsource = v
		case "detection":
			detection = v
		case "action":
			p.problem(k.Line, "action", "rule collections (action: %s) are not supported; write each rule as a whole document", v.Value)
		case "correlation":
			p.problem(k.Line, "correlation", "correlation rules need state across events and are not supported")
		case "filter":
			p.problem(k.Line, "filter", "Sigma filter documents are not supported; put the exclusion in the rule's condition")
		}
	}
	if r.ID == "" {
		p.problem(n.Line, "id", "missing; findings are keyed by the rule's id, so every rule needs one")
	}
	if strings.TrimSpace(r.Title) == "" {
		p.problem(n.Line, "title", "missing")
	}
	if logsource == nil {
		p.problem(n.Line, "logsource", "missing")
	} else {
		p.logsource(logsource)
	}
	if detection == nil {
		p.problem(n.Line, "detection", "missing")
	} else {
		p.detection(r, detection)
	}
	return r
}

func (p *ruleParser) logsource(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.problem(n.Line, "logsource", "must be a mapping of product, service and category")
		return
	}
	var product, service, category string
	keys, values := p.pairs(n, "logsource")
	for i, k := range keys {
		switch k.Value {
		case "product":
			product = p.str(values[i], "logsource")
		case "service":
			service = p.str(values[i], "logsource")
		case "category":
			category = p.str(values[i], "logsource")
		}
	}
	if !strings.EqualFold(product, "aws") || !strings.EqualFold(service, "cloudtrail") || category != "" {
		desc := fmt.Sprintf("product %q, service %q", product, service)
		if category != "" {
			desc += fmt.Sprintf(", category %q", category)
		}
		p.problem(n.Line, "logsource", "%s is not supported; only CloudTrail (product aws, service cloudtrail) is evaluated", desc)
	}
}

func (p *ruleParser) detection(r *Rule, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.problem(n.Line, "detection", "must be a mapping of search identifiers and a condition")
		return
	}
	var cond *yaml.Node
	keys, values := p.pairs(n, "detection")
	for i, k := range keys {
		switch k.Value {
		case "condition":
			cond = values[i]
		case "timeframe":
			p.problem(k.Line, "timeframe", "needs state across events and is not supported")
		default:
			if s, ok := p.search(k, values[i]); ok {
				r.searches = append(r.searches, s)
			}
		}
	}
	if cond == nil {
		p.problem(n.Line, "condition", "missing")
		return
	}
	var conds []string
	switch cond.Kind {
	case yaml.ScalarNode:
		conds = []string{cond.Value}
	case yaml.SequenceNode:
		conds = p.strings(cond, "condition")
	default:
		p.problem(cond.Line, "condition", "must be a string or a list of strings")
		return
	}
	if len(p.problems) > 0 {
		// Identifiers that failed to parse would be reported again as
		// unknown.
		return
	}
	var kids []node
	for _, c := range conds {
		nd, err := parseCondition(c, r.searches)
		if err != nil {
			var ce *condError
			if errors.As(err, &ce) {
				p.problem(cond.Line, ce.construct, "%s", ce.msg)
			}
			return
		}
		kids = append(kids, nd)
	}
	switch len(kids) {
	case 0:
		p.problem(cond.Line, "condition", "empty")
	case 1:
		r.cond = kids[0]
	default:
		// A list of conditions matches when any of them does.
		r.cond = node{op: opOr, kids: kids}
	}
}

func (p *ruleParser) search(k, v *yaml.Node) (search, bool) {
	s := search{name: k.Value, line: k.Line}
	construct := "search " + k.Value
	n := len(p.problems)
	switch v.Kind {
	case yaml.MappingNode:
		s.maps = [][]field{p.fieldMap(v)}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.problem(v.Line, construct, "is an empty list")
			return s, false
		}
		maps, scalars := 0, 0
		for _, c := range v.Content {
			switch deref(c).Kind {
			case yaml.MappingNode:
				maps++
			case yaml.ScalarNode:
				scalars++
			}
		}
		switch {
		case maps == len(v.Content):
			for _, c := range v.Content {
				s.maps = append(s.maps, p.fieldMap(deref(c)))
			}
		case scalars == len(v.Content):
			for _, c := range v.Content {
				s.keywords = append(s.keywords, p.keyword(deref(c), construct))
			}
		default:
			p.problem(v.Line, construct, "a list must hold either field maps or keywords, not both or nested lists")
		}
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			p.problem(v.Line, construct, "is empty")
			return s, false
		}
		s.keywords = []value{p.keyword(v, construct)}
	}
	return s, len(p.problems) == n
}

// keyword compiles a keyword: a string searched for anywhere in the
// record.
func (p *ruleParser) keyword(v *yaml.Node, construct string) value {
	if v.Tag == "!!null" {
		p.problem(v.Line, construct, "a keyword cannot be null")
		return value{}
	}
	return value{kind: valText, pat: compilePattern(v.Value, false, true, true)}
}

func (p *ruleParser) fieldMap(n *yaml.Node) []field {
	keys, values := p.pairs(n, "detection")
	if len(keys) == 0 {
		p.problem(n.Line, "detection", "an empty field map matches everything; name at least one field")
	}
	out := make([]field, 0, len(keys))
	for i, k := range keys {
		if f, ok := p.field(k, values[i]); ok {
			out = append(out, f)
		}
	}
	return out
}

// modifiers are the value modifiers this package runs.
var modifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true,
	"re": true, "i": true, "m": true, "s": true, "cidr": true, "exists": true,
	"cased": true, "fieldref": true, "gt": true, "gte": true, "lt": true, "lte": true,
}

// unsupportedModifiers are Sigma modifiers for encodings and platforms
// CloudTrail records do not use.
var unsupportedModifiers = map[string]bool{
	"base64": true, "base64offset": true, "utf16le": true, "utf16be": true, "utf16": true,
	"wide": true, "windash": true, "expand": true, "minute": true, "hour": true, "day": true,
	"week": true, "month": true, "year": true,
}

func (p *ruleParser) field(k, v *yaml.Node) (field, bool) {
	n := len(p.problems)
	parts := strings.Split(k.Value, "|")
	name := parts[0]
	if name == "" {
		p.problem(k.Line, "keyword modifiers", "%q: keywords with modifiers are not supported; name the field", k.Value)
		return field{}, false
	}
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			p.problem(k.Line, "field "+name, "an empty path segment")
			return field{}, false
		}
	}
	f := field{fieldPath: newFieldPath(name), line: k.Line}
	mods := map[string]bool{}
	for _, m := range parts[1:] {
		switch {
		case modifiers[m]:
			if mods[m] {
				p.problem(k.Line, "modifier "+m, "given twice")
			}
			mods[m] = true
		case unsupportedModifiers[m]:
			p.problem(k.Line, "modifier "+m, "not supported: CloudTrail records carry no encoded or platform-specific values that need it")
		default:
			p.problem(k.Line, "modifier "+m, "unknown modifier")
		}
	}
	if len(p.problems) > n {
		return field{}, false
	}
	transform := ""
	for _, t := range []string{"contains", "startswith", "endswith"} {
		if mods[t] {
			if transform != "" {
				p.problem(k.Line, "modifier "+t, "cannot be combined with %s", transform)
				return field{}, false
			}
			transform = t
		}
	}
	special := ""
	for _, s := range []string{"re", "cidr", "exists", "fieldref", "gt", "gte", "lt", "lte"} {
		if mods[s] {
			if special != "" {
				p.problem(k.Line, "modifier "+s, "cannot be combined with %s", special)
				return field{}, false
			}
			special = s
		}
	}
	if special != "" && (transform != "" || mods["cased"]) {
		other := transform
		if other == "" {
			other = "cased"
		}
		p.problem(k.Line, "modifier "+special, "cannot be combined with %s", other)
		return field{}, false
	}
	for _, flag := range []string{"i", "m", "s"} {
		if mods[flag] && special != "re" {
			p.problem(k.Line, "modifier "+flag, "only applies to re")
			return field{}, false
		}
	}
	if mods["all"] && (special == "exists" || special == "fieldref") {
		p.problem(k.Line, "modifier all", "cannot be combined with %s", special)
		return field{}, false
	}
	f.all = mods["all"]

	var vals []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		vals = []*yaml.Node{v}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.problem(v.Line, "field "+name, "an empty list of values matches nothing")
			return field{}, false
		}
		for _, c := range v.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				p.problem(c.Line, "field "+name, "a value is a string, number, boolean or null, or a list of them")
				return field{}, false
			}
			vals = append(vals, c)
		}
	default:
		p.problem(v.Line, "field "+name, "a value is a string, number, boolean or null, or a list of them")
		return field{}, false
	}

	if special == "exists" {
		if len(vals) != 1 || vals[0].Tag != "!!bool" {
			p.problem(v.Line, "modifier exists", "takes true or false")
			return field{}, false
		}
		f.exists, f.want = true, strings.EqualFold(vals[0].Value, "true")
		return f, true
	}
	for _, vn := range vals {
		val, ok := p.value(vn, name, special, transform, mods)
		if !ok {
			return field{}, false
		}
		if val.kind == valNull {
			f.null = true
		}
		if f.get != nil && val.matchesEmpty() {
			f.raw = true
		}
		f.values = append(f.values, val)
	}
	return f, true
}

func (p *ruleParser) value(vn *yaml.Node, name, special, transform string, mods map[string]bool) (value, bool) {
	null := vn.Tag == "!!null"
	if null && (special != "" || transform != "") {
		construct := "modifier " + special
		if special == "" {
			construct = "modifier " + transform
		}
		p.problem(vn.Line, construct, "cannot apply to null")
		return value{}, false
	}
	switch special {
	case "re":
		flags := ""
		for _, f := range []string{"i", "m", "s"} {
			if mods[f] {
				flags += f
			}
		}
		expr := vn.Value
		if flags != "" {
			expr = "(?" + flags + ")" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			p.problem(vn.Line, "modifier re", "%q is not a regular expression this engine runs (RE2 syntax: no lookaround or backreferences): %v", vn.Value, err)
			return value{}, false
		}
		lit, fold := requiredLiteral(expr)
		return value{kind: valRegex, re: re, reLit: lit, reFold: fold, reRare: rarest(lit)}, true
	case "cidr":
		prefix, err := netip.ParsePrefix(vn.Value)
		if err != nil {
			p.problem(vn.Line, "modifier cidr", "%q is not a network such as 10.0.0.0/8: %v", vn.Value, err)
			return value{}, false
		}
		return value{kind: valCIDR, prefix: prefix.Masked()}, true
	case "fieldref":
		if vn.Value == "" || strings.Contains(vn.Value, "|") {
			p.problem(vn.Line, "modifier fieldref", "%q is not a field name", vn.Value)
			return value{}, false
		}
		ref := newFieldPath(vn.Value)
		return value{kind: valFieldRef, ref: &ref}, true
	case "gt", "gte", "lt", "lte":
		f, err := strconv.ParseFloat(vn.Value, 64)
		if err != nil || (vn.Tag != "!!int" && vn.Tag != "!!float") {
			p.problem(vn.Line, "modifier "+special, "%q is not a number", vn.Value)
			return value{}, false
		}
		return value{kind: valCompare, num: f, op: special}, true
	}
	if null {
		return value{kind: valNull}, true
	}
	if transform == "" && !mods["cased"] {
		switch vn.Tag {
		case "!!bool":
			b := strings.EqualFold(vn.Value, "true")
			return value{kind: valBool, b: b, text: strconv.FormatBool(b)}, true
		case "!!int", "!!float":
			if f, err := strconv.ParseFloat(vn.Value, 64); err == nil {
				return value{kind: valNumber, num: f, text: vn.Value}, true
			}
		}
	}
	lead := transform == "contains" || transform == "endswith"
	trail := transform == "contains" || transform == "startswith"
	return value{kind: valText, pat: compilePattern(vn.Value, mods["cased"], lead, trail)}, true
}
