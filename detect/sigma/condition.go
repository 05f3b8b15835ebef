package sigma

import (
	"fmt"
	"strings"
)

// The condition grammar, loosest binding first:
//
//	expr    = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | primary
//	primary = "(" expr ")" | ("1" | "any" | "all") "of" (pattern | "them") | identifier
//
// A "|" after the expression starts an aggregation, which needs state
// across events and is reported as unsupported.

type condToken struct {
	text string
	pos  int
}

func tokenize(s string) []condToken {
	var out []condToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '|':
			out = append(out, condToken{text: s[i : i+1], pos: i})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			out = append(out, condToken{text: s[i:j], pos: i})
			i = j
		}
	}
	return out
}

// condError is a problem with a condition: the construct that cannot be
// run and why.
type condError struct {
	construct string
	msg       string
}

func (e *condError) Error() string { return e.construct + ": " + e.msg }

type condParser struct {
	toks     []condToken
	i        int
	searches []search
}

// parseCondition compiles a condition over the rule's search identifiers.
func parseCondition(s string, searches []search) (node, error) {
	p := &condParser{toks: tokenize(s), searches: searches}
	if len(p.toks) == 0 {
		return node{}, &condError{"condition", "empty"}
	}
	n, err := p.expr()
	if err != nil {
		return node{}, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		if t.text == "|" {
			return node{}, &condError{"aggregation", fmt.Sprintf("%q needs counting across events, which is not supported", strings.TrimSpace(s[t.pos:]))}
		}
		return node{}, &condError{"condition", fmt.Sprintf("unexpected %q at offset %d", t.text, t.pos)}
	}
	return n, nil
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return strings.ToLower(p.toks[p.i].text)
	}
	return ""
}

func (p *condParser) expr() (node, error) {
	left, err := p.and()
	if err != nil {
		return node{}, err
	}
	kids := []node{left}
	for p.peek() == "or" {
		p.i++
		right, err := p.and()
		if err != nil {
			return node{}, err
		}
		kids = append(kids, right)
	}
	if len(kids) == 1 {
		return left, nil
	}
	return node{op: opOr, kids: kids}, nil
}

func (p *condParser) and() (node, error) {
	left, err := p.not()
	if err != nil {
		return node{}, err
	}
	kids := []node{left}
	for p.peek() == "and" {
		p.i++
		right, err := p.not()
		if err != nil {
			return node{}, err
		}
		kids = append(kids, right)
	}
	if len(kids) == 1 {
		return left, nil
	}
	return node{op: opAnd, kids: kids}, nil
}

func (p *condParser) not() (node, error) {
	if p.peek() == "not" {
		p.i++
		n, err := p.not()
		if err != nil {
			return node{}, err
		}
		return node{op: opNot, kids: []node{n}}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (node, error) {
	if p.i >= len(p.toks) {
		return node{}, &condError{"condition", "ends where a search identifier was expected"}
	}
	t := p.toks[p.i]
	word := strings.ToLower(t.text)
	switch {
	case word == "(":
		p.i++
		n, err := p.expr()
		if err != nil {
			return node{}, err
		}
		if p.peek() != ")" {
			return node{}, &condError{"condition", fmt.Sprintf("the parenthesis at offset %d is not closed", t.pos)}
		}
		p.i++
		return n, nil
	case p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].text, "of"):
		return p.quantifier(t)
	case word == ")" || word == "|" || word == "and" || word == "or" || word == "of" || word == "them":
		return node{}, &condError{"condition", fmt.Sprintf("unexpected %q at offset %d", t.text, t.pos)}
	}
	p.i++
	for i, s := range p.searches {
		if s.name == t.text {
			return node{op: opSearch, search: i}, nil
		}
	}
	return node{}, &condError{"condition", fmt.Sprintf("%q is not a search identifier of the detection", t.text)}
}

// quantifier compiles "1 of X", "all of X" ("any of" is the older
// spelling of "1 of").
func (p *condParser) quantifier(q condToken) (node, error) {
	op := opOr
	switch strings.ToLower(q.text) {
	case "1", "any":
	case "all":
		op = opAnd
	default:
		return node{}, &condError{"condition", fmt.Sprintf("%q of: only \"1 of\" and \"all of\" are supported", q.text)}
	}
	p.i += 2
	if p.i >= len(p.toks) || p.toks[p.i].text == "(" || p.toks[p.i].text == ")" || p.toks[p.i].text == "|" {
		return node{}, &condError{"condition", fmt.Sprintf("%q of: a search identifier pattern or \"them\" must follow", q.text)}
	}
	target := p.toks[p.i].text
	p.i++
	var kids []node
	for i, s := range p.searches {
		var ok bool
		if strings.EqualFold(target, "them") {
			// "them" leaves out identifiers starting with an underscore,
			// as Sigma specifies.
			ok = !strings.HasPrefix(s.name, "_")
		} else {
			ok = starMatch(target, s.name)
		}
		if ok {
			kids = append(kids, node{op: opSearch, search: i})
		}
	}
	if len(kids) == 0 {
		return node{}, &condError{"condition", fmt.Sprintf("%s of %s: no search identifier matches %q", q.text, target, target)}
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return node{op: op, kids: kids}, nil
}

// starMatch matches an identifier pattern where * stands for any run of
// characters.
func starMatch(pat, s string) bool {
	toks := []token{}
	for i, part := range strings.Split(pat, "*") {
		if i > 0 {
			toks = append(toks, token{kind: tokStar})
		}
		if part != "" {
			toks = append(toks, token{kind: tokLit, lit: part})
		}
	}
	return globMatch(toks, s, true)
}
