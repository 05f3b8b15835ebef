package ingest

import "encoding/binary"

// A strict, allocation-free JSON scanner. It accepts exactly the grammar of
// RFC 8259 (as encoding/json does) so that anything it lets through would
// also be accepted by encoding/json; whatever it refuses is handed to
// encoding/json, which then reports the precise error.

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// scanString expects data[i] == '"' and returns the index just past the
// closing quote, and whether the string can be used without unescaping
// (no backslash and only printable ASCII). It returns -1 on a syntax error.
func scanString(data []byte, i int) (int, bool) {
	i++
	plain := true
	for {
		// Skip eight ordinary bytes at a time: strings are most of the
		// input, and almost all of their bytes need no attention.
		for i+8 <= len(data) && !hasSpecial(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		if i >= len(data) {
			return -1, false
		}
		c := data[i]
		switch {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			if i+1 >= len(data) {
				return -1, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return -1, false
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 6
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		default:
			if c >= 0x80 {
				plain = false
			}
			i++
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasSpecial reports whether any byte of the little-endian word w is a
// quote, a backslash, a control character or not ASCII.
func hasSpecial(w uint64) bool {
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	zeroQuote := (quote - ones) &^ quote
	zeroBackslash := (backslash - ones) &^ backslash
	control := (w - ones*0x20) &^ w
	return (zeroQuote|zeroBackslash|control|w)&highs != 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber expects data[i] to start a number and returns the index past it.
func scanNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return -1
	}
	switch {
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return -1
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return -1
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i
}

func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipValue validates the value starting at data[i] (no leading space) and
// returns the index just past it, or -1 if it is not valid JSON.
func skipValue(data []byte, i int) int { return skipDepth(data, i, 1) }

func skipDepth(data []byte, i, depth int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; c {
	case '"':
		end, _ := scanString(data, i)
		return end
	case '{':
		if depth > maxDepth {
			return -1
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return -1
			}
			if i, _ = scanString(data, i); i < 0 {
				return -1
			}
			i = skipSpace(data, i)
			if i >= len(data) || data[i] != ':' {
				return -1
			}
			i = skipSpace(data, i+1)
			if i = skipDepth(data, i, depth+1); i < 0 {
				return -1
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case ',':
				i = skipSpace(data, i+1)
			case '}':
				return i + 1
			default:
				return -1
			}
		}
	case '[':
		if depth > maxDepth {
			return -1
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1
		}
		for {
			if i = skipDepth(data, i, depth+1); i < 0 {
				return -1
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case ',':
				i = skipSpace(data, i+1)
			case ']':
				return i + 1
			default:
				return -1
			}
		}
	case 't':
		return scanLiteral(data, i, "true")
	case 'f':
		return scanLiteral(data, i, "false")
	case 'n':
		return scanLiteral(data, i, "null")
	default:
		if c == '-' || isDigit(c) {
			return scanNumber(data, i)
		}
		return -1
	}
}

// objectIter walks the members of an object whose opening brace is at
// data[start]. It stops at the first syntax error (err set).
type objectIter struct {
	data  []byte
	i     int
	first bool
	err   bool
	depth int
}

func newObjectIter(data []byte, start, depth int) objectIter {
	if start >= len(data) || data[start] != '{' || depth > maxDepth {
		return objectIter{err: true}
	}
	return objectIter{data: data, i: skipSpace(data, start+1), first: true, depth: depth}
}

// next returns the next member: the key's bytes (without quotes), whether
// the key is plain (usable without unescaping), and the value's start
// index. ok is false at the end of the object or on error.
func (it *objectIter) next() (key []byte, plainKey bool, valStart int, ok bool) {
	if it.err {
		return nil, false, 0, false
	}
	d := it.data
	i := it.i
	if i >= len(d) {
		it.err = true
		return nil, false, 0, false
	}
	if it.first {
		it.first = false
		if d[i] == '}' {
			it.i = i + 1
			return nil, false, 0, false
		}
	} else {
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			it.i = i + 1
			return nil, false, 0, false
		default:
			it.err = true
			return nil, false, 0, false
		}
	}
	if i >= len(d) || d[i] != '"' {
		it.err = true
		return nil, false, 0, false
	}
	end, plain := scanString(d, i)
	if end < 0 {
		it.err = true
		return nil, false, 0, false
	}
	key = d[i+1 : end-1]
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		it.err = true
		return nil, false, 0, false
	}
	i = skipSpace(d, i+1)
	it.i = i
	return key, plain, i, true
}

// advance records where the member's value ended (as returned by a skip or
// a decode) so the iterator can continue after it.
func (it *objectIter) advance(end int) {
	if end < 0 {
		it.err = true
		return
	}
	it.i = skipSpace(it.data, end)
}

// end is the index just past the closing brace once next reported the end.
func (it *objectIter) end() int { return it.i }
