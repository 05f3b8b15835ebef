package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSkipAgreesWithEncodingJSON checks that the scanner accepts exactly
// what encoding/json accepts, around the eight-byte steps of String in
// particular: a special byte at each position of a word, and strings that
// end in the middle of one.
func TestSkipAgreesWithEncodingJSON(t *testing.T) {
	cases := []string{
		`""`, `"a"`, `"abcdefg"`, `"abcdefgh"`, `"abcdefghi"`,
		`"abc\"defghijk"`, `"abcdefgh\\"`, `"\u00e9t\u00E9"`, `"\u00g9"`, `"\x"`,
		"\"caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet\"", "\"tab\there\"", "\"ctl\x01\"", "\"del\x7f ok\"",
		`"unterminated`, `"ends in a backslash\`,
		`{"a":1,"b":[true,false,null],"c":{"d":-1.5e+3}}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`,
		`{"a" 1}`, `{"a":1,}`, `[1,2,]`, `[]`, `{}`, `tru`, `nul`, `falsey`,
		strings.Repeat("[", 100) + strings.Repeat("]", 100),
	}
	// A quote, backslash, control or non-ASCII byte at every offset of
	// the first two words.
	for i := range 17 {
		pad := strings.Repeat("x", i)
		cases = append(cases, `"`+pad+`"`, `"`+pad+`\n"`, `"`+pad+"\x1f\"", `"`+pad+"\xe2\x82\xac\"", `"`+pad+`\"x"`)
	}
	for _, c := range cases {
		data := []byte(c)
		end := Skip(data, 0)
		got := end == len(data)
		if want := json.Valid(data); got != want {
			t.Errorf("Skip(%q) = %d of %d bytes, encoding/json valid = %v", c, end, len(data), want)
		}
		if len(c) > 0 && c[0] == '"' && got {
			_, plain := String(data, 0)
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatal(err)
			}
			if plain && s != c[1:len(c)-1] {
				t.Errorf("String(%q) says plain, but it decodes to %q", c, s)
			}
		}
	}
}

// TestObjectMembers walks an object's members, skipping their values.
func TestObjectMembers(t *testing.T) {
	data := []byte(` {"a" : "x", "b\u0041":{"c":[1]} ,"d":null} `[1:])
	it := NewObject(data, 0, 1)
	var keys []string
	var plain []bool
	for {
		k, p, v, ok := it.Next()
		if !ok {
			break
		}
		keys = append(keys, string(k))
		plain = append(plain, p)
		it.SkipValue(v)
	}
	if it.Failed() || Space(data, it.End()) != len(data) {
		t.Fatalf("walk failed at %d", it.End())
	}
	if strings.Join(keys, ",") != `a,b\u0041,d` || plain[1] || !plain[0] {
		t.Errorf("keys %q, plain %v", keys, plain)
	}
	bad := NewObject([]byte(`{"a":1 "b":2}`), 0, 1)
	for {
		_, _, v, ok := bad.Next()
		if !ok {
			break
		}
		bad.SkipValue(v)
	}
	if !bad.Failed() {
		t.Error("a missing comma went unnoticed")
	}
}

// FuzzSkip checks that Skip accepts exactly the documents encoding/json
// accepts.
func FuzzSkip(f *testing.F) {
	f.Add([]byte(`{"eventID":"1","x":[1,2,{"y":"\u00e9"}]}`))
	f.Add([]byte(`"abcdefgh\"ij"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		i := Space(data, 0)
		end := Skip(data, i)
		got := end >= 0 && Space(data, end) == len(data)
		if want := json.Valid(data); got != want {
			t.Errorf("Skip(%q) = %d, encoding/json valid = %v", data, end, want)
		}
	})
}
