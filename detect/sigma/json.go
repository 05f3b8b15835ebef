package sigma

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The scanner reads just enough of a record's raw JSON to reach the values
// a rule names, without decoding the record into maps: most rules stop at
// their first field, and a decoded record would cost more than all the
// rules together. The input has already been decoded once by ingestion, so
// the scanner only has to be safe on malformed input (it stops, it never
// panics), not to report why.

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota + 1
	jsonString
	jsonNumber
	jsonTrue
	jsonFalse
	jsonObject
	jsonArray
)

// leaf is one value reached by a field path. For a string, raw is the text
// between the quotes, still escaped when esc is set; for anything else it is
// the value's JSON text.
type leaf struct {
	kind jsonKind
	raw  []byte
	esc  bool
	// decoded marks a string read from the decoded record rather than the
	// raw JSON; str holds it.
	decoded bool
	str     string
}

// isNull reports whether the leaf counts as no value: null, or an empty
// string (CloudTrail omits what it has no value for, and the decoded
// record cannot tell an omitted field from an empty one).
func (l *leaf) isNull() bool {
	switch l.kind {
	case jsonNull:
		return true
	case jsonString:
		return len(l.raw) == 0 && l.str == ""
	}
	return false
}

// text is the leaf as the text Sigma values are compared with: a string's
// unescaped value, a number's or literal's JSON text, an object's or
// array's raw JSON. scratch holds unescaped strings; the result is valid
// until the next call with the same scratch.
func (l *leaf) text(scratch *[]byte) string {
	switch {
	case l.decoded:
		return l.str
	case l.kind == jsonString && l.esc:
		*scratch = unescape((*scratch)[:0], l.raw)
		return bytesString(*scratch)
	default:
		return bytesString(l.raw)
	}
}

// bytesString views b as a string without copying. The record's raw JSON
// is never written to (cloudtrail.Record.Raw is read-only), and scratch
// buffers are only written between uses, so the strings made here are
// only ever read while their bytes stay the same; none is kept.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string whose opening quote is at
// i, and whether it holds escapes; -1 when it is not terminated.
func skipString(d []byte, i int) (int, bool) {
	esc := false
	i++
	for {
		j := bytes.IndexByte(d[i:], '"')
		if j < 0 {
			return -1, esc
		}
		end := i + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := end - 1; k >= i && d[k] == '\\'; k-- {
			n++
		}
		if !esc && bytes.IndexByte(d[i:end], '\\') >= 0 {
			esc = true
		}
		if n%2 == 0 {
			return end + 1, esc
		}
		i = end + 1
	}
}

// skipValue returns the index after the value starting at i (after any
// space), or -1 when the input ends first.
func skipValue(d []byte, i int) int {
	i = skipSpace(d, i)
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		end, _ := skipString(d, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				end, _ := skipString(d, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		// A number or a literal runs to the next delimiter.
		for i < len(d) {
			switch d[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// leafAt describes the value starting at i; ok is false on malformed input.
func leafAt(d []byte, i int) (leaf, int, bool) {
	i = skipSpace(d, i)
	if i >= len(d) {
		return leaf{}, -1, false
	}
	switch c := d[i]; {
	case c == '"':
		end, esc := skipString(d, i)
		if end < 0 {
			return leaf{}, -1, false
		}
		return leaf{kind: jsonString, raw: d[i+1 : end-1 : end-1], esc: esc}, end, true
	case c == '{' || c == '[':
		end := skipValue(d, i)
		if end < 0 {
			return leaf{}, -1, false
		}
		k := jsonObject
		if c == '[' {
			k = jsonArray
		}
		return leaf{kind: k, raw: d[i:end:end]}, end, true
	default:
		end := skipValue(d, i)
		if end <= i {
			return leaf{}, -1, false
		}
		l := leaf{kind: jsonNumber, raw: d[i:end:end]}
		switch string(l.raw) {
		case "null":
			l.kind = jsonNull
		case "true":
			l.kind = jsonTrue
		case "false":
			l.kind = jsonFalse
		}
		return l, end, true
	}
}

// keyEquals reports whether the JSON string key (between its quotes,
// escaped when esc) is name.
func keyEquals(key []byte, esc bool, name string) bool {
	if !esc {
		return string(key) == name
	}
	var buf [64]byte
	return string(unescape(buf[:0], key)) == name
}

// visitor is told about every value a path reaches; returning true stops
// the walk. The leaf is passed by value: a pointer passed to a function
// value would be moved to the heap on every call.
type visitor func(l leaf) bool

// walk visits the values that path reaches from the value at d[i]. Arrays
// along the way are entered element by element, so a path crosses lists of
// objects (CloudTrail's items) and reaches every match; an array at the end
// of the path is visited element by element too. It reports whether the
// visitor stopped the walk.
func walk(d []byte, i int, path []string, visit visitor) bool {
	i = skipSpace(d, i)
	if i >= len(d) {
		return false
	}
	switch d[i] {
	case '[':
		return walkArray(d, i, path, visit)
	case '{':
		if len(path) == 0 {
			break
		}
		return walkObject(d, i, path, visit)
	default:
		if len(path) > 0 {
			// A scalar has no fields.
			return false
		}
	}
	l, _, ok := leafAt(d, i)
	return ok && visit(l)
}

func walkObject(d []byte, i int, path []string, visit visitor) bool {
	i++
	for {
		i = skipSpace(d, i)
		if i >= len(d) || d[i] == '}' || d[i] != '"' {
			return false
		}
		end, esc := skipString(d, i)
		if end < 0 {
			return false
		}
		key := d[i+1 : end-1]
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return false
		}
		i++
		if keyEquals(key, esc, path[0]) {
			if walk(d, i, path[1:], visit) {
				return true
			}
		}
		if i = skipValue(d, i); i < 0 {
			return false
		}
		i = skipSpace(d, i)
		if i >= len(d) || d[i] != ',' {
			return false
		}
		i++
	}
}

func walkArray(d []byte, i int, path []string, visit visitor) bool {
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		return false
	}
	for i < len(d) {
		if walk(d, i, path, visit) {
			return true
		}
		if i = skipValue(d, i); i < 0 {
			return false
		}
		i = skipSpace(d, i)
		if i >= len(d) || d[i] != ',' {
			return false
		}
		i++
	}
	return false
}

// topField is one key of a record's top-level object: its text (between
// the quotes, escaped when esc) and where its value starts, as offsets
// into the record. It is small because Set.Match keeps an array of them on
// its stack, zeroed for every record.
type topField struct {
	keyStart, valueStart int32
	keyLen               uint16
	esc                  bool
}

// maxTopFields bounds the top-level keys indexed; CloudTrail records have
// about twenty. Past it, and for records over 2 GB, fields are found by
// scanning.
const maxTopFields = 32

// indexTop lists the top-level keys of the object in d into dst, and
// reports whether it read the whole object.
func indexTop(d []byte, dst *[maxTopFields]topField) (int, bool) {
	i := skipSpace(d, 0)
	if i >= len(d) || d[i] != '{' || len(d) > 1<<31-1 {
		return 0, false
	}
	n := 0
	i++
	for {
		i = skipSpace(d, i)
		if i >= len(d) {
			return n, false
		}
		if d[i] == '}' {
			return n, true
		}
		if d[i] != '"' {
			return n, false
		}
		end, esc := skipString(d, i)
		if end < 0 {
			return n, false
		}
		key := d[i+1 : end-1]
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return n, false
		}
		i++
		if n == len(dst) || len(key) > 1<<16-1 {
			return n, false
		}
		dst[n] = topField{keyStart: int32(end - 1 - len(key)), keyLen: uint16(len(key)), valueStart: int32(i), esc: esc}
		n++
		if i = skipValue(d, i); i < 0 {
			return n, false
		}
		i = skipSpace(d, i)
		if i < len(d) && d[i] == ',' {
			i++
		}
	}
}

// unescape appends the value of the escaped JSON string body s to dst.
// Invalid escapes are kept as they are: the text is only compared, never
// trusted.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hexRune(s[i+2:])
			if n == 0 {
				dst = append(dst, c)
				i++
				continue
			}
			i += 2 + n
			if utf16.IsSurrogate(r) {
				if len(s) >= i+6 && s[i] == '\\' && s[i+1] == 'u' {
					if r2, n2 := hexRune(s[i+2:]); n2 > 0 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 2 + n2
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			dst = append(dst, c, s[i+1])
		}
		i += 2
	}
	return dst
}

// hexRune reads four hex digits; n is 0 when there are not four.
func hexRune(s []byte) (rune, int) {
	if len(s) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}
