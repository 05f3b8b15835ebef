package sigma

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	tests := []struct {
		pattern string
		cased   bool
		in      string
		want    bool
	}{
		{"abc", false, "ABC", true},
		{"abc", true, "ABC", false},
		{"", false, "", true},
		{"", false, "x", false},
		{"a*", false, "Abc", true},
		{"*c", false, "abC", true},
		{"*b*", false, "aBc", true},
		{"*", false, "", true},
		{"a?c", false, "abc", true},
		{"a?c", false, "ac", false},
		{"a?c", false, "aéc", true},
		{"a*b*c", false, "a-b-b-c", true},
		{"a*b*c", false, "a-b-b-d", false},
		{`a\*`, false, "a*", true},
		{`a\*`, false, "ab", false},
		{`a\?`, false, "ab", false},
		{`a\\*`, false, `a\bc`, true},
		{`C:\Windows`, false, `c:\windows`, true},
		{"*arn:aws:iam::*:root", false, "x arn:aws:iam::111122223333:root", true},
		{"é*", false, "É", false},
	}
	for _, tc := range tests {
		p := compilePattern(tc.pattern, tc.cased, false, false)
		if got := p.match(tc.in); got != tc.want {
			t.Errorf("%q (cased %v) on %q = %v, want %v", tc.pattern, tc.cased, tc.in, got, tc.want)
		}
	}
	// A value ending in a backslash keeps it when contains adds wildcards.
	if p := compilePattern(`dir\`, false, true, true); !p.match(`C:\dir\file`) {
		t.Error(`contains "dir\" misses C:\dir\file`)
	}
}

// TestPatternAgainstRegexp checks the wildcard matcher, including its
// special cases, against the same pattern as a regular expression.
func TestPatternAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "B", "c", "*", "?", "-", ":"}
	texts := []string{"", "a", "abc", "ABC-abc", "a:b:c", "cab-bac", "aaaa", "b-c", "ABCABCabc:", "-:-"}
	for range 3000 {
		var b strings.Builder
		for range rng.Intn(6) {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		pat := b.String()
		var expr strings.Builder
		expr.WriteString("(?is)^")
		for _, c := range pat {
			switch c {
			case '*':
				expr.WriteString(".*")
			case '?':
				expr.WriteString(".")
			default:
				expr.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		expr.WriteString("$")
		re := regexp.MustCompile(expr.String())
		p := compilePattern(pat, false, false, false)
		for _, s := range texts {
			if got, want := p.match(s), re.MatchString(s); got != want {
				t.Fatalf("%q on %q = %v, want %v", pat, s, got, want)
			}
		}
	}
}

func TestIndexRare(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	letters := "aAbBqQ-:"
	for range 5000 {
		s := randString(rng, letters, 30)
		needle := strings.ToLower(randString(rng, letters, 4))
		if got, want := indexFold(s, needle, rarest(needle)), strings.Index(strings.ToLower(s), needle); got != want {
			t.Fatalf("indexFold(%q, %q) = %d, want %d", s, needle, got, want)
		}
		if got, want := indexCased(s, needle, rarest(needle)), strings.Index(s, needle); got != want {
			t.Fatalf("indexCased(%q, %q) = %d, want %d", s, needle, got, want)
		}
	}
}

func randString(rng *rand.Rand, alphabet string, max int) string {
	b := make([]byte, rng.Intn(max+1))
	for i := range b {
		b[i] = alphabet[rng.Intn(len(alphabet))]
	}
	return string(b)
}

func TestRequiredLiteral(t *testing.T) {
	tests := []struct {
		expr string
		lit  string
		fold bool
	}{
		{`:assumed-role/aws:.+`, ":assumed-role/aws:", false},
		{`.+:assumed-role/(aws|AWS):[a-z]+/i-[0-9a-f]+$`, ":assumed-role/", false},
		{`(?i)python-requests/\d`, "python-requests/", true},
		{`(?i)python|curl`, "", false},
		{`a?`, "", false},
		{`(ab)+cd`, "ab", false},
	}
	for _, tc := range tests {
		lit, fold := requiredLiteral(tc.expr)
		if lit != tc.lit || fold != tc.fold {
			t.Errorf("requiredLiteral(%q) = %q, %v; want %q, %v", tc.expr, lit, fold, tc.lit, tc.fold)
		}
	}
}

func TestWalkMalformed(t *testing.T) {
	// Truncated or broken JSON never panics and never matches.
	inputs := []string{`{"a":`, `{"a":{"b":[1,`, `{"a" "b"}`, `[`, `{"a":"unterminated}`, ``, `{"a":{"b":"c"}`, `{"a":[{"b":"c"},]}`}
	for _, in := range inputs {
		for i := 0; i <= len(in); i++ {
			walk([]byte(in[:i]), 0, []string{"a", "b"}, func(leaf) bool { return false })
			var top [maxTopFields]topField
			indexTop([]byte(in[:i]), &top)
		}
	}
}

func TestLowerWord(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("xYz-09@[")
			b[pos] = byte(c)
			want := make([]byte, 8)
			for i := range b {
				want[i] = lowerByte(b[i])
			}
			if got := lowerWord(load64(string(b))); got != load64(string(want)) {
				t.Fatalf("lowerWord(%q) wrong at byte %d", b, pos)
			}
		}
	}
}
