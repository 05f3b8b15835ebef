package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

var newline = []byte{'\n'}

// lineSplitter cuts JSON Lines. A line over MaxLineBytes is reported and
// skipped to its end without being held; the lines after it are read,
// since a newline always ends a line.
type lineSplitter struct {
	lim  Limits
	line int // the line data starts on
	// skipping is set inside a line over the cap.
	skipping bool
	report   func(line int, reason string, raw []byte)
}

func (l *lineSplitter) take(n int, next []byte) int {
	room := max(l.lim.MaxLineBytes+1-n, 1)
	if i := bytes.IndexByte(next, '\n'); i >= 0 && i < room {
		return i + 1
	}
	return min(len(next), room)
}

func (l *lineSplitter) maxCarry() int { return l.lim.MaxLineBytes + 1 }

func (l *lineSplitter) split(data []byte, end bool, max int) ([]unit, int) {
	var units []unit
	i := 0
	for i < len(data) && len(units) < max {
		nl := bytes.IndexByte(data[i:], '\n')
		if l.skipping {
			if nl < 0 {
				return units, len(data)
			}
			i += nl + 1
			l.line++
			l.skipping = false
			continue
		}
		var line []byte
		if nl < 0 {
			if len(data)-i > l.lim.MaxLineBytes {
				l.report(l.line, lineCapReason(l.lim), head(data[i:], capProblemRaw))
				l.skipping = true
				return units, len(data)
			}
			if !end {
				return units, i
			}
			line, nl = data[i:], len(data)-i-1
		} else {
			line = data[i : i+nl]
		}
		if len(line) > l.lim.MaxLineBytes {
			l.report(l.line, lineCapReason(l.lim), head(line, capProblemRaw))
		} else if t := bytes.TrimSpace(line); len(t) > 0 {
			units = addUnit(units, unit{data: t, line: l.line}, max, len(data)-i)
		}
		l.line++
		i += nl + 1
	}
	return units, i
}

// addUnit appends u to units, making room at the first one for as many as
// the rest of the input (left bytes) may hold, at about half a kilobyte a
// record. Input that yields no unit (a line being skipped) costs nothing.
func addUnit(units []unit, u unit, max, left int) []unit {
	if units == nil {
		units = make([]unit, 0, min(max, left/512+1))
	}
	return append(units, u)
}

// recState is where a recordsSplitter is in a log file.
type recState uint8

const (
	recElement recState = iota // before a record: after [ or ,
	recAfter                   // after a record: , or ] next
	recTail                    // after the Records array: , "key": value or }
	recEnd                     // after the log file's closing brace
	recSkip                    // inside a record over the cap
	recDone                    // the rest is not read
)

// recordsSplitter cuts a log file, {"Records":[...]}, record by record, so
// that no more than one record is ever held. A record over MaxRecordBytes
// is reported and skipped without being held: the records after it are
// read, since the file's structure is followed through it. A syntax error
// ends the file, as nothing after it can be trusted to be cut right.
type recordsSplitter struct {
	lim   Limits
	line  int // the line data starts on
	state recState
	n     int  // records begun
	comma bool // a comma came last, so ] may not
	// space is the whitespace since the last token; a run over the
	// record cap is reported once.
	space         int
	spaceLine     int // where the run began
	spaceReported bool
	skip          skipper
	// trailing is set when the log file ended and more follows: the
	// rest is JSON Lines, as when a log file is a line of its own.
	trailing bool
	// stopped is set when the rest of the input must not be read.
	stopped bool
	report  func(line int, reason string, raw []byte)
}

// take gives a carried unfinished record enough of the next input to
// either end or break the cap.
func (r *recordsSplitter) take(_ int, next []byte) int {
	return min(len(next), r.lim.MaxRecordBytes+1)
}

// maxCarry is a record just within the cap and the most take adds.
func (r *recordsSplitter) maxCarry() int { return 2*r.lim.MaxRecordBytes + 1 }

func (r *recordsSplitter) split(data []byte, end bool, max int) ([]unit, int) {
	var units []unit
	i, counted := 0, 0
	// lineAt is the line of data[at], counted as the cut moves on.
	lineAt := func(at int) int {
		r.line += bytes.Count(data[counted:at], newline)
		counted = at
		return r.line
	}
	done := func(at int) ([]unit, int) {
		lineAt(at)
		return units, at
	}
	for len(units) < max {
		switch r.state {
		case recDone:
			return done(len(data))
		case recSkip:
			n, ok := r.skip.feed(data[i:])
			i += n
			if !ok {
				if end {
					r.truncated()
				}
				return done(len(data))
			}
			r.state = recAfter
			continue
		}
		j := jsonscan.Space(data, i)
		if r.space == 0 && j > i {
			r.spaceLine = lineAt(i)
		}
		r.space += j - i
		if r.space > r.lim.MaxRecordBytes && !r.spaceReported {
			r.spaceReported = true
			r.report(r.spaceLine, r.spaceReason(), nil)
		}
		i = j
		if i == len(data) {
			if end && r.state != recEnd {
				r.truncated()
			}
			return done(i)
		}
		r.space, r.spaceReported = 0, false
		switch r.state {
		case recElement:
			if data[i] == ']' && !r.comma {
				r.state = recTail
				i++
				continue
			}
			e, status, why := element(data, i, r.lim.MaxRecordBytes)
			switch status {
			case elemComplete:
				r.n++
				if e-i > r.lim.MaxRecordBytes {
					r.report(lineAt(i), recordCapReason(r.lim, r.n), head(data[i:e], capProblemRaw))
				} else {
					units = addUnit(units, unit{data: data[i:e], line: lineAt(i), kind: logElement}, max, len(data)-i)
				}
				i = e
				r.state, r.comma = recAfter, false
			case elemIncomplete:
				if len(data)-i > r.lim.MaxRecordBytes {
					r.n++
					r.report(lineAt(i), recordCapReason(r.lim, r.n), head(data[i:], capProblemRaw))
					r.skip = skipper{}
					r.state = recSkip
					continue
				}
				if end {
					r.truncated()
					return done(len(data))
				}
				return done(i)
			default:
				r.broken(lineAt(i), fmt.Sprintf("malformed JSON in record %d of the log file: %s", r.n+1, why), data[i:])
				return done(len(data))
			}
		case recAfter:
			switch data[i] {
			case ',':
				r.state, r.comma = recElement, true
			case ']':
				r.state = recTail
			default:
				r.broken(lineAt(i), fmt.Sprintf("malformed JSON in the log file after record %d: expected , or ]", r.n), data[i:])
				return done(len(data))
			}
			i++
		case recTail:
			switch data[i] {
			case '}':
				r.state = recEnd
				i++
			case ',':
				// Other members of the log file carry nothing to read.
				e := member(data, i+1)
				if e >= 0 {
					i = e
					continue
				}
				if end || len(data)-i > r.lim.MaxRecordBytes {
					r.broken(lineAt(i), "malformed JSON in the log file after its Records array: "+syntaxReason(head(data[i+1:], r.lim.MaxRecordBytes)), data[i:])
					return done(len(data))
				}
				return done(i)
			default:
				r.broken(lineAt(i), "malformed JSON in the log file after its Records array: expected , or }", data[i:])
				return done(len(data))
			}
		case recEnd:
			r.trailing = true
			return done(i)
		}
	}
	return done(i)
}

func (r *recordsSplitter) spaceReason() string {
	if r.state == recElement {
		return spaceCapReason(r.lim, fmt.Sprintf("before record %d", r.n+1))
	}
	return spaceCapReason(r.lim, fmt.Sprintf("after record %d", r.n))
}

// truncated reports a log file that ends before it is closed, which
// concerns the whole file (line 0).
func (r *recordsSplitter) truncated() {
	r.report(0, fmt.Sprintf("log file ends before it is closed, after %d records", r.n), nil)
	r.state = recDone
}

// broken reports a syntax error and stops the file.
func (r *recordsSplitter) broken(line int, reason string, raw []byte) {
	r.report(line, reason, head(raw, capProblemRaw))
	r.state = recDone
	r.stopped = true
}

type elemStatus uint8

const (
	elemComplete elemStatus = iota
	elemIncomplete
	elemInvalid
)

// element finds the end of the record starting at data[i]. The fast
// scanner stops alike at the end of the data and at a syntax error;
// encoding/json tells the two apart, and is asked only then, which is
// once per block for the record the block cuts. What is already over the
// cap is not asked about: it is skipped whatever it holds.
func element(data []byte, i, limit int) (int, elemStatus, string) {
	if e := jsonscan.SkipDepth(data, i, 3); e >= 0 {
		return e, elemComplete, ""
	}
	if len(data)-i > limit {
		return 0, elemIncomplete, ""
	}
	dec := json.NewDecoder(bytes.NewReader(data[i:]))
	var v json.RawMessage
	err := dec.Decode(&v)
	switch {
	case err == nil:
		return i + int(dec.InputOffset()), elemComplete, ""
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return 0, elemIncomplete, ""
	}
	return 0, elemInvalid, err.Error()
}

// member skips one "key": value member of an object, starting after its
// comma, and returns the index past it, or -1 if data does not hold a
// complete, valid one.
func member(data []byte, i int) int {
	i = jsonscan.Space(data, i)
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i, _ = jsonscan.String(data, i); i < 0 {
		return -1
	}
	i = jsonscan.Space(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return jsonscan.SkipDepth(data, jsonscan.Space(data, i+1), 2)
}

// skipper finds where a JSON value ends without holding it. It follows
// strings and nesting only, which is all it takes to find the end of a
// valid value; an invalid one ends somewhere, and the syntax after it
// decides what happens next.
type skipper struct {
	depth                     int
	inString, escaped, scalar bool
}

// feed reads on through data and returns how much of it belongs to the
// value and whether the value ended there.
func (k *skipper) feed(data []byte) (int, bool) {
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case k.escaped:
			k.escaped = false
		case k.inString:
			j := bytes.IndexAny(data[i:], `"\`)
			if j < 0 {
				return len(data), false
			}
			i += j
			if data[i] == '\\' {
				k.escaped = true
				continue
			}
			k.inString = false
			if k.depth == 0 {
				return i + 1, true
			}
		case k.scalar:
			if jsonscan.IsSpace(c) || c == ',' || c == ']' || c == '}' {
				return i, true
			}
		case c == '"':
			k.inString = true
		case c == '{' || c == '[':
			k.depth++
		case c == '}' || c == ']':
			k.depth--
			if k.depth <= 0 {
				return i + 1, true
			}
		case jsonscan.IsSpace(c):
		default:
			if k.depth == 0 {
				k.scalar = true
			}
		}
	}
	return len(data), false
}
