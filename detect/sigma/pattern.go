package sigma

import (
	"strings"
	"unicode/utf8"
)

// pattern is a Sigma string value compiled for matching. Sigma strings
// compare ignoring case and may hold the wildcards * (any run of
// characters) and ? (one character), written \* and \? when meant
// literally. Case is ignored for ASCII letters only: CloudTrail's names,
// sources and identifiers are ASCII, and folding only ASCII keeps matching
// free of allocations.
type pattern struct {
	mode patternMode
	// lit is the literal of exact, prefix, suffix and contains patterns,
	// lower-cased unless cased; orig is the same as written, tried first
	// because rules mostly spell names as CloudTrail does.
	lit, orig string
	// rare is the position of lit's least common byte (see indexFold).
	rare  int
	toks  []token
	cased bool
}

type patternMode uint8

const (
	patExact patternMode = iota + 1
	patPrefix
	patSuffix
	patContains
	patAny
	patGlob
)

type tokenKind uint8

const (
	tokLit tokenKind = iota + 1
	tokStar
	tokOne
)

type token struct {
	kind      tokenKind
	lit, orig string
}

// compilePattern compiles the Sigma string s; lead and trail add a
// wildcard before and after it (contains, startswith, endswith), after its
// escapes are read, so that a value ending in a backslash stays one.
func compilePattern(s string, cased, lead, trail bool) pattern {
	var toks []token
	star := func() {
		if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
			toks = append(toks, token{kind: tokStar})
		}
	}
	if lead {
		star()
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			v := lit.String()
			t := token{kind: tokLit, lit: v, orig: v}
			if !cased {
				t.lit = lowerASCII(v)
			}
			toks = append(toks, t)
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case c == '*':
			flush()
			star()
		case c == '?':
			flush()
			toks = append(toks, token{kind: tokOne})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if trail {
		star()
	}
	p := pattern{cased: cased, mode: patGlob, toks: toks}
	kinds := make([]tokenKind, len(toks))
	for i, t := range toks {
		kinds[i] = t.kind
	}
	var only token // the literal of a pattern with one
	switch {
	case len(toks) == 0:
		p.mode = patExact
	case len(toks) == 1 && kinds[0] == tokLit:
		p.mode, only = patExact, toks[0]
	case len(toks) == 1 && kinds[0] == tokStar:
		p.mode = patAny
	case len(toks) == 2 && kinds[0] == tokLit && kinds[1] == tokStar:
		p.mode, only = patPrefix, toks[0]
	case len(toks) == 2 && kinds[0] == tokStar && kinds[1] == tokLit:
		p.mode, only = patSuffix, toks[1]
	case len(toks) == 3 && kinds[0] == tokStar && kinds[1] == tokLit && kinds[2] == tokStar:
		p.mode, only = patContains, toks[1]
	}
	if p.mode != patGlob {
		p.toks = nil
		p.lit, p.orig, p.rare = only.lit, only.orig, rarest(only.lit)
	}
	return p
}

// plain reports whether the pattern is a plain string without wildcards,
// and returns it (lower-cased unless cased).
func (p *pattern) plain() (string, bool) {
	return p.lit, p.mode == patExact
}

// matchesEmpty reports whether the pattern matches the empty string.
func (p *pattern) matchesEmpty() bool { return p.match("") }

func (p *pattern) match(s string) bool {
	switch p.mode {
	case patExact:
		if s == p.orig {
			return true
		}
		return !p.cased && len(s) == len(p.lit) && hasPrefixFold(s, p.lit)
	case patPrefix:
		if strings.HasPrefix(s, p.orig) {
			return true
		}
		return !p.cased && hasPrefixFold(s, p.lit)
	case patSuffix:
		if p.cased {
			return strings.HasSuffix(s, p.lit)
		}
		return len(s) >= len(p.lit) && hasPrefixFold(s[len(s)-len(p.lit):], p.lit)
	case patContains:
		if p.cased {
			return indexCased(s, p.lit, p.rare) >= 0
		}
		return indexFold(s, p.lit, p.rare) >= 0
	case patAny:
		return true
	}
	return globMatch(p.toks, s, p.cased)
}

// globMatch matches s against the tokens, backtracking to the last star
// only: with literal runs and single-character wildcards between stars,
// moving the last star is enough to find any match there is.
func globMatch(toks []token, s string, cased bool) bool {
	ti, si := 0, 0
	starTok, starAt := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case tokStar:
				starTok, starAt = ti, si
				ti++
				continue
			case tokOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			case tokLit:
				if litAt(s[si:], t.lit, cased) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTok < 0 || starAt >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starAt:])
		starAt += n
		ti, si = starTok+1, starAt
	}
}

func litAt(s, lit string, cased bool) bool {
	if cased {
		return strings.HasPrefix(s, lit)
	}
	return hasPrefixFold(s, lit)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerASCII lower-cases the ASCII letters of s.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// hasPrefixFold reports whether s starts with lower (already lower-cased),
// ignoring the case of ASCII letters in s. It stays a plain loop so that it
// is inlined: most comparisons end at the first byte.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if lowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// load64 reads eight bytes of s (which has at least eight) as one word.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// lowerWord lower-cases the ASCII letters among the eight bytes of x, all
// at once: a byte is an upper-case letter when it is ASCII, at least 'A'
// and not above 'Z', each tested on the byte's high bit.
func lowerWord(x uint64) uint64 {
	const (
		high  = 0x8080808080808080
		low7  = 0x7f7f7f7f7f7f7f7f
		geA   = 0x3f3f3f3f3f3f3f3f // 0x80 - 'A'
		overZ = 0x2525252525252525 // 0x7f - 'Z'
	)
	b := x & low7
	upper := ^x & ((b + geA) ^ (b + overZ)) & high
	return x | upper>>2
}

// indexFold is strings.Index ignoring the case of ASCII letters in s;
// lower is already lower-cased. It scans for the needle's least common
// byte (in either case; at is its position, from rarest) rather than its
// first, which in a long text such as a whole record is often a letter
// that occurs everywhere.
func indexFold(s, lower string, at int) int {
	if lower == "" {
		return 0
	}
	if len(s) < len(lower) {
		return -1
	}
	rare := lower[at]
	other := rare
	if 'a' <= rare && rare <= 'z' {
		other = rare - ('a' - 'A')
	}
	// Candidates for the rare byte lie in window; nextA and nextB are
	// where each case of it next occurs (len(window) when nowhere), so the
	// text is scanned once for each.
	window := s[at : len(s)-len(lower)+at+1]
	nextA, nextB := -1, len(window)
	if other != rare {
		nextB = -1
	}
	for i := 0; i < len(window); i++ {
		if nextA < i {
			nextA = len(window)
			if k := strings.IndexByte(window[i:], rare); k >= 0 {
				nextA = i + k
			}
		}
		if nextB < i {
			nextB = len(window)
			if k := strings.IndexByte(window[i:], other); k >= 0 {
				nextB = i + k
			}
		}
		i = min(nextA, nextB)
		if i >= len(window) {
			return -1
		}
		if hasPrefixFold(s[i:], lower) {
			return i
		}
	}
	return -1
}

// indexCased is strings.Index, scanning for the needle's least common
// byte: strings.Index scans for the first, which in CloudTrail text (an
// ARN's ':', a user agent's '/') often occurs at every few bytes.
func indexCased(s, needle string, at int) int {
	if len(needle) < 2 {
		return strings.Index(s, needle)
	}
	rare := needle[at]
	for i := at; i+len(needle)-at <= len(s); {
		j := strings.IndexByte(s[i:len(s)-len(needle)+at+1], rare)
		if j < 0 {
			return -1
		}
		i += j
		if s[i-at:i-at+len(needle)] == needle {
			return i - at
		}
		i++
	}
	return -1
}

// rarest is the index of the needle's least common byte (0 for an empty
// needle).
func rarest(needle string) int {
	at := 0
	for i := 1; i < len(needle); i++ {
		if byteRank[needle[i]] < byteRank[needle[at]] {
			at = i
		}
	}
	return at
}

// byteRank orders bytes by how often they occur in CloudTrail JSON, most
// common highest; bytes not listed are rare (0).
var byteRank = func() [256]uint8 {
	var r [256]uint8
	// From most to least common in CloudTrail records, letters folded.
	const common = "\"e:,a-s/rto n.icm1l2d03{}pu4y5b_6g8w7f9hvk[]x=q;jz+()%&#!*\\@?<>$|~^`'"
	for i := 0; i < len(common); i++ {
		r[common[i]] = uint8(len(common) - i)
	}
	return r
}()
