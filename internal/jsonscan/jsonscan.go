// Package jsonscan is a strict, allocation-free JSON scanner for the hot
// paths that read CloudTrail records (the ingest decoder, the resource a
// record names). It accepts exactly the grammar of RFC 8259, as
// encoding/json does, so that anything it lets through would also be
// accepted by encoding/json; whatever it refuses its callers hand to
// encoding/json, which then decides and explains.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// MaxDepth matches encoding/json's nesting limit.
const MaxDepth = 10000

// IsSpace reports JSON whitespace. Most bytes asked about are not, and the
// first comparison says so.
func IsSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r') }

// Space returns the index of the first non-whitespace byte at or after i.
// It runs after every token, which in CloudTrail's compact JSON is almost
// never followed by space.
func Space(data []byte, i int) int {
	for i < len(data) && IsSpace(data[i]) {
		i++
	}
	return i
}

// String expects data[i] == '"' and returns the index just past the
// closing quote, and whether the string can be used without unescaping
// (no backslash and only printable ASCII). It returns -1 on a syntax error.
func String(data []byte, i int) (int, bool) {
	i++
	plain := true
	for {
		// Skip eight ordinary bytes at a time and land on the first byte
		// that needs attention: strings are most of the input, and almost
		// all of their bytes need none. (NextSpecial's loop, written out
		// because a call per string shows in profiles.)
		for i+8 <= len(data) {
			if m := special(binary.LittleEndian.Uint64(data[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
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

// NextSpecial returns the index of the first quote, backslash, control
// character or non-ASCII byte at or after i, or len(data) if there is
// none: the bytes a string's scan must stop at.
func NextSpecial(data []byte, i int) int {
	for i+8 <= len(data) {
		if m := special(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(data) {
		if c := data[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
		i++
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special marks, in the high bit of each byte of the little-endian word w,
// the quotes, backslashes, control characters and non-ASCII bytes. For an
// ASCII byte, subtracting one sets its high bit exactly when it was zero,
// and subtracting 0x20 exactly when it was below 0x20; a non-ASCII byte
// marks itself. A borrow can carry a mark only upwards from a byte that
// matched, so the lowest mark is always the first such byte.
func special(w uint64) uint64 {
	quote := (w ^ (ones * '"')) - ones
	backslash := (w ^ (ones * '\\')) - ones
	control := w - ones*0x20
	return (quote | backslash | control | w) & highs
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number expects data[i] to start a number and returns the index past it.
func number(data []byte, i int) int {
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

// Literal returns the index past lit if data holds it at i, and -1
// otherwise.
func Literal(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// Skip validates the value starting at data[i] (no leading space) and
// returns the index just past it, or -1 if it is not valid JSON.
func Skip(data []byte, i int) int { return SkipDepth(data, i, 1) }

// SkipDepth is Skip for a value nested depth levels deep, so that the
// nesting limit counts from the top of the document.
func SkipDepth(data []byte, i, depth int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; c {
	case '"':
		end, _ := String(data, i)
		return end
	case '{':
		if depth > MaxDepth {
			return -1
		}
		i = Space(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return -1
			}
			if i, _ = String(data, i); i < 0 {
				return -1
			}
			i = Space(data, i)
			if i >= len(data) || data[i] != ':' {
				return -1
			}
			i = Space(data, i+1)
			if i = SkipDepth(data, i, depth+1); i < 0 {
				return -1
			}
			i = Space(data, i)
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case ',':
				i = Space(data, i+1)
			case '}':
				return i + 1
			default:
				return -1
			}
		}
	case '[':
		if depth > MaxDepth {
			return -1
		}
		i = Space(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1
		}
		for {
			if i = SkipDepth(data, i, depth+1); i < 0 {
				return -1
			}
			i = Space(data, i)
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case ',':
				i = Space(data, i+1)
			case ']':
				return i + 1
			default:
				return -1
			}
		}
	case 't':
		return Literal(data, i, "true")
	case 'f':
		return Literal(data, i, "false")
	case 'n':
		return Literal(data, i, "null")
	default:
		if c == '-' || isDigit(c) {
			return number(data, i)
		}
		return -1
	}
}

// Object walks the members of an object whose opening brace is at
// data[start]. It stops at the first syntax error (Failed then reports
// it).
type Object struct {
	data  []byte
	i     int
	first bool
	err   bool
	depth int
}

// NewObject starts a walk over the object at data[start], which is depth
// levels deep in its document.
func NewObject(data []byte, start, depth int) Object {
	if start >= len(data) || data[start] != '{' || depth > MaxDepth {
		return Object{err: true}
	}
	return Object{data: data, i: Space(data, start+1), first: true, depth: depth}
}

// Next returns the next member: the key's bytes (without quotes), whether
// the key is plain (usable without unescaping), and the value's start
// index. ok is false at the end of the object or on error.
func (it *Object) Next() (key []byte, plainKey bool, valStart int, ok bool) {
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
			i = Space(d, i+1)
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
	end, plain := String(d, i)
	if end < 0 {
		it.err = true
		return nil, false, 0, false
	}
	key = d[i+1 : end-1]
	i = Space(d, end)
	if i >= len(d) || d[i] != ':' {
		it.err = true
		return nil, false, 0, false
	}
	i = Space(d, i+1)
	it.i = i
	return key, plain, i, true
}

// Advance records where the member's value ended (as returned by a skip or
// a decode, -1 for an error) so that the walk can go on after it.
func (it *Object) Advance(end int) {
	if end < 0 {
		it.err = true
		return
	}
	it.i = Space(it.data, end)
}

// SkipValue skips the value of the member Next last returned.
func (it *Object) SkipValue(valStart int) { it.Advance(SkipDepth(it.data, valStart, it.depth+1)) }

// Failed reports whether the walk stopped at a syntax error.
func (it *Object) Failed() bool { return it.err }

// End is the index just past the closing brace once Next reported the
// end.
func (it *Object) End() int { return it.i }
