// Package ingest turns CloudTrail data in any of the shapes it arrives in
// (log files, EventBridge events, bare records, JSON Lines of any of these,
// plain or gzip) into cloudtrail.Records, and feeds the files that appear in
// a local directory to the pipeline exactly once. The findings AWS's own
// detectors publish to EventBridge (GuardDuty, Security Hub, IAM Access
// Analyzer) come through the same readers as a second kind of record,
// native.Findings, which the pipeline handles on their own path.
//
// Bad input never stops ingestion: each malformed line, file or record
// becomes a Problem and the rest of the input is still read. Nor can input
// exhaust the process: every payload is read within Limits (what a gzip
// stream may expand to, the largest record and line), and a log file is
// cut record by record rather than held whole, so memory does not grow
// with the size of the input.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

// MaxProblemRaw caps the bytes kept with a Problem, so one huge bad file
// cannot bloat the store. It is at least the largest SQS message body
// (1 MiB), so a malformed message is kept whole before it is deleted.
const MaxProblemRaw = 1 << 20

// Problem is input that could not be turned into a record.
type Problem struct {
	Source string // file path or message ID the input came from
	Line   int    // 1-based line of the bad input; 0 when it concerns the whole payload
	Reason string
	Raw    []byte // the offending input, at most MaxProblemRaw bytes
}

// Batch is what one payload yielded, records in input order.
type Batch struct {
	Source   string
	Records  []cloudtrail.Record
	Problems []Problem
	// Native are the findings of AWS's detectors the payload carried, in
	// input order.
	Native []native.Finding
	// Ignored counts well-formed input that is neither CloudTrail data nor
	// a native finding, such as other EventBridge events or CloudTrail
	// digest files.
	Ignored int

	// dropped counts problems found beyond what the input may keep.
	dropped int
}

// eventBridgeTypes are the EventBridge detail-types whose detail is a
// CloudTrail record.
var eventBridgeTypes = map[string]bool{
	"AWS API Call via CloudTrail":        true,
	"AWS Console Sign In via CloudTrail": true,
	"AWS Service Event via CloudTrail":   true,
}

var gzipMagic = []byte{0x1f, 0x8b}

// Parse reads every record in one payload: a file's contents or a queue
// message body, in any supported shape, gzip detected by its magic bytes,
// within the default Limits. Records' Raw and RawMessage fields may share
// memory with each other but never with data.
func Parse(source string, data []byte) Batch {
	return ParseLimits(source, data, Limits{})
}

// ParseLimits is Parse within the given limits. The payload is cut into
// records the way Stream cuts a file, so the two agree; a gzip payload is
// decompressed a block at a time, so it costs no more memory than its
// limits allow whatever it expands to.
func ParseLimits(source string, data []byte, lim Limits) Batch {
	c := collector{out: Batch{Source: source}}
	if bytes.HasPrefix(data, gzipMagic) {
		// add never fails and the reader is in memory: no error.
		_ = stream(context.Background(), source, bytes.NewReader(data), blockSize, lim, c.add)
		return c.batch()
	}
	s := newStreamer(source, lim, c.add)
	// The payload is in memory already: it may be decoded in batches as
	// large as it allows, which cost at most about twice its size, so
	// that it is rarely cut at all.
	s.maxUnits = max(maxBatchUnits, len(data)/256)
	_ = s.feed(bytes.TrimPrefix(data, bom), true, true)
	_ = s.finish()
	return c.batch()
}

// collector gathers the batches of one payload into one.
type collector struct {
	out   Batch
	parts [][]cloudtrail.Record
	n     int
}

func (c *collector) add(b Batch) error {
	if b.Records != nil {
		c.parts = append(c.parts, b.Records)
		c.n += len(b.Records)
	}
	c.out.Problems = append(c.out.Problems, b.Problems...)
	c.out.Native = append(c.out.Native, b.Native...)
	c.out.Ignored += b.Ignored
	return nil
}

// empty reports whether nothing was gathered.
func (c *collector) empty() bool {
	return c.n == 0 && len(c.out.Problems) == 0 && len(c.out.Native) == 0 && c.out.Ignored == 0
}

// take is everything gathered so far, which the collector then forgets.
func (c *collector) take() Batch {
	b := c.batch()
	*c = collector{out: Batch{Source: b.Source}}
	return b
}

// batch is everything gathered. Records are copied once, into a slice of
// the right size, and not at all when they came in one batch.
func (c *collector) batch() Batch {
	switch len(c.parts) {
	case 0:
	case 1:
		c.out.Records = c.parts[0]
	default:
		c.out.Records = make([]cloudtrail.Record, 0, c.n)
		for _, p := range c.parts {
			c.out.Records = append(c.out.Records, p...)
		}
	}
	c.parts = nil
	return c.out
}

var bom = []byte("\xef\xbb\xbf")

// capProblemRaw is what a problem about a broken cap keeps: enough to see
// what the input was, not the megabytes that broke the cap.
const capProblemRaw = 64 << 10

// head is at most the first n bytes of data.
func head(data []byte, n int) []byte { return data[:min(n, len(data))] }

func problem(source string, line int, reason string, raw []byte) Problem {
	if len(raw) > MaxProblemRaw {
		raw = raw[:MaxProblemRaw]
	}
	return Problem{Source: source, Line: line, Reason: reason, Raw: bytes.Clone(raw)}
}

// unitKind says how much is known about a unit before it is decoded.
type unitKind uint8

const (
	anyShape   unitKind = iota // a record, log file or EventBridge event
	logElement                 // an element of a log file's Records
)

// unit is one JSON value to turn into records.
type unit struct {
	data []byte
	line int // 1-based line the unit starts on
	kind unitKind
}

type parser struct {
	source string
	lim    Limits
	// keep is how many problems each chunk of a run may keep; the file's
	// remaining allowance.
	keep int
}

func newParser(source string, lim Limits) parser {
	return parser{source: source, lim: lim, keep: lim.MaxProblems}
}

// report adds a problem to b unless b already holds as many as it may
// keep, in which case it is only counted.
func (p *parser) report(b *Batch, line int, reason string, raw []byte) {
	if len(b.Problems) >= p.keep {
		b.dropped++
		return
	}
	b.Problems = append(b.Problems, problem(p.source, line, reason, raw))
}

// hasObjectLine reports whether any of the first non-blank lines is a
// complete JSON object by itself, the mark of JSON Lines.
func hasObjectLine(data []byte) bool {
	seen := 0
	for len(data) > 0 && seen < 16 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		seen++
		if line[0] == '{' && jsonscan.Skip(line, 0) == len(line) {
			return true
		}
	}
	return false
}

// lineOf is the 1-based line of data[off].
func lineOf(data []byte, off int) int { return 1 + bytes.Count(data[:off], []byte{'\n'}) }

type span struct{ start, end int }

// recordsArray finds the Records array of a log file: doc must be one
// valid object (and nothing else) with a Records array. It returns the
// index just past the array's opening bracket, and gives up on anything
// unusual (escaped keys, invalid JSON), which the general path then
// explains. As encoding/json would, it takes the last of repeated keys.
func recordsArray(doc []byte) (int, bool) {
	it := jsonscan.NewObject(doc, 0, 1)
	at := -1
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		if !plain {
			return 0, false
		}
		if string(key) == "Records" {
			at = -1
			if v < len(doc) && doc[v] == '[' {
				at = v + 1
			}
		}
		it.Advance(jsonscan.SkipDepth(doc, v, 2))
	}
	if it.Failed() || at < 0 || jsonscan.Space(doc, it.End()) != len(doc) {
		return 0, false
	}
	return at, true
}

// arrayElements returns the spans of the elements of the array at
// doc[start], a member of a top-level object, and the index past it (-1 if
// it is not valid JSON).
func arrayElements(doc []byte, start int) ([]span, int) {
	var out []span
	i := jsonscan.Space(doc, start+1)
	if i < len(doc) && doc[i] == ']' {
		return out, i + 1
	}
	for {
		e := jsonscan.SkipDepth(doc, i, 3)
		if e < 0 {
			return nil, -1
		}
		out = append(out, span{i, e})
		i = jsonscan.Space(doc, e)
		if i >= len(doc) {
			return nil, -1
		}
		switch doc[i] {
		case ',':
			i = jsonscan.Space(doc, i+1)
		case ']':
			return out, i + 1
		default:
			return nil, -1
		}
	}
}

// syntaxReason is encoding/json's description of what is wrong with data.
func syntaxReason(data []byte) string {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	case err != nil:
		return err.Error()
	}
	return "unsupported JSON"
}

// chunkBytes is roughly how much input one worker takes at a time: big
// enough to amortise the hand-off, small enough to balance the cores.
const chunkBytes = 256 << 10

// run decodes the units on all cores and appends the results to b in input
// order.
func (p *parser) run(units []unit, b *Batch) {
	var chunks [][]unit
	for lo := 0; lo < len(units); {
		size, hi := 0, lo
		for hi < len(units) && (size < chunkBytes || hi == lo) {
			size += len(units[hi].data)
			hi++
		}
		chunks = append(chunks, units[lo:hi])
		lo = hi
	}
	// Each chunk appends into its own window of one shared slice, so that
	// in the common case (at most one record per unit) the results need no
	// copying afterwards, only closing of the gaps.
	all := make([]cloudtrail.Record, len(units))
	out := make([]Batch, len(chunks))
	lo := 0
	for i, c := range chunks {
		out[i].Records = all[lo : lo : lo+len(c)]
		lo += len(c)
	}
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	if workers <= 1 {
		for i, c := range chunks {
			p.chunk(c, &out[i])
		}
	} else {
		var wg sync.WaitGroup
		next := make(chan int, len(chunks))
		for i := range chunks {
			next <- i
		}
		close(next)
		for range workers {
			wg.Go(func() {
				for i := range next {
					p.chunk(chunks[i], &out[i])
				}
			})
		}
		wg.Wait()
	}
	for i := range out {
		b.Problems = append(b.Problems, out[i].Problems...)
		b.Native = append(b.Native, out[i].Native...)
		b.Ignored += out[i].Ignored
		b.dropped += out[i].dropped
	}
	if len(b.Records) == 0 && inPlace(all, out) {
		n := 0
		for i := range out {
			n += copy(all[n:], out[i].Records)
		}
		clear(all[n:])
		b.Records = all[:n:n]
		return
	}
	n := len(b.Records)
	for i := range out {
		n += len(out[i].Records)
	}
	b.Records = append(make([]cloudtrail.Record, 0, n), b.Records...)
	for i := range out {
		b.Records = append(b.Records, out[i].Records...)
	}
}

// inPlace reports whether every chunk's records still live in all.
func inPlace(all []cloudtrail.Record, out []Batch) bool {
	lo := 0
	for i := range out {
		recs := out[i].Records
		if cap(recs) > 0 && &recs[:1][0] != &all[lo : lo+1][0] {
			return false
		}
		lo += cap(recs)
	}
	return true
}

func (p *parser) chunk(units []unit, b *Batch) {
	for _, u := range units {
		if u.kind == logElement {
			p.record(u.data, u.line, b)
			continue
		}
		p.value(u, b)
	}
}

// value handles a unit of unknown shape.
func (p *parser) value(u unit, b *Batch) {
	data := u.data
	// Most units are bare records: decode them in one pass, and probe the
	// shape only when that fails or finds a log file or EventBridge event.
	// Envelopes that announce themselves by their first key skip the try.
	if len(data) > 0 && data[0] == '{' && len(data) <= p.lim.MaxRecordBytes && !startsLikeEnvelope(data) {
		raw := own(data)
		d := newOwnedRecordDecoder(raw)
		r := b.next()
		if end, ok := d.record(0, r); ok && d.recordKey && !d.envelope && jsonscan.Space(raw, end) == len(raw) {
			r.Raw = raw
			p.validate(r, u.line, b)
			return
		}
		b.drop()
	}
	s, ok := probe(data)
	if !ok {
		s = probeSlow(data)
	}
	switch {
	case s.err != "":
		p.report(b, u.line, s.err, data)
	case s.records != nil:
		p.logFile(s.records, u.line, b)
	case s.digest:
		b.Ignored++
	case s.detailType != nil:
		p.eventBridge(s, u, b)
	case s.record:
		p.record(data, u.line, b)
	default:
		p.report(b, u.line, "not CloudTrail data: expected a record, a log file with Records or an EventBridge event", data)
	}
}

func (p *parser) eventBridge(s shape, u unit, b *Batch) {
	var dt string
	if err := json.Unmarshal(s.detailType, &dt); err != nil {
		p.report(b, u.line, "EventBridge event: detail-type is not a string", u.data)
		return
	}
	if !eventBridgeTypes[dt] {
		if native.Reads(dt) {
			p.native(u, b)
			return
		}
		b.Ignored++
		return
	}
	if len(s.detail) == 0 || s.detail[0] != '{' {
		p.report(b, u.line, fmt.Sprintf("EventBridge event %q: detail is not a CloudTrail record", dt), u.data)
		return
	}
	p.record(s.detail, u.line, b)
}

func (p *parser) logFile(recs []byte, line int, b *Batch) {
	if elems, end := arrayElements(recs, 0); end == len(recs) {
		for _, e := range elems {
			p.record(recs[e.start:e.end], line, b)
		}
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(recs, &elems); err != nil {
		p.report(b, line, "log file: Records: "+err.Error(), recs)
		return
	}
	for _, e := range elems {
		p.record(e, line, b)
	}
}

// record decodes one record candidate and checks it.
func (p *parser) record(data []byte, line int, b *Batch) {
	if len(data) == 0 || data[0] != '{' {
		p.report(b, line, "record is not a JSON object", data)
		return
	}
	if len(data) > p.lim.MaxRecordBytes {
		p.report(b, line, fmt.Sprintf("record is larger than the max_record_bytes cap of %d bytes; skipped", p.lim.MaxRecordBytes), head(data, capProblemRaw))
		return
	}
	raw := own(data)
	r := b.next()
	if err := decodeRecord(raw, r); err != nil {
		b.drop()
		p.report(b, line, "decode record: "+err.Error(), data)
		return
	}
	r.Raw = raw
	p.validate(r, line, b)
}

// next appends a zero record to decode into in place: records are large,
// and copying each one twice on its way into the batch shows in profiles.
func (b *Batch) next() *cloudtrail.Record {
	b.Records = append(b.Records, cloudtrail.Record{})
	return &b.Records[len(b.Records)-1]
}

// drop removes the record next added, which turned out not to be one.
func (b *Batch) drop() {
	b.Records[len(b.Records)-1] = cloudtrail.Record{}
	b.Records = b.Records[:len(b.Records)-1]
}

// validate keeps the record last added by next if it carries what every
// later stage relies on, and drops it as a problem otherwise.
func (p *parser) validate(r *cloudtrail.Record, line int, b *Batch) {
	var missing []string
	if r.EventID == "" {
		missing = append(missing, "eventID")
	}
	if r.EventName == "" {
		missing = append(missing, "eventName")
	}
	if r.EventTime.IsZero() {
		missing = append(missing, "eventTime")
	}
	if len(missing) > 0 {
		p.report(b, line, "record missing "+strings.Join(missing, ", "), r.Raw)
		b.drop()
	}
}

// startsLikeEnvelope reports whether an object's first key is one that
// EventBridge events, log files and digest files start with.
func startsLikeEnvelope(data []byte) bool {
	i := jsonscan.Space(data, 1)
	for _, k := range []string{`"version"`, `"Records"`, `"id"`, `"detail-type"`, `"awsAccountId"`} {
		if bytes.HasPrefix(data[i:], []byte(k)) {
			return true
		}
	}
	return false
}

// own copies a record's bytes. make+copy is compiled to an allocation
// without zeroing, which bytes.Clone's append does not get.
func own(data []byte) []byte {
	raw := make([]byte, len(data))
	copy(raw, data)
	return raw
}
