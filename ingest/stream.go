package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

// blockSize is how much of a file is decoded at a time. Reading large
// files in blocks keeps memory flat however big the file is, which
// matters more for throughput than any decoding trick: a replay of a
// multi-gigabyte export would otherwise spend its time faulting in pages.
// Smaller blocks hold less in flight between reader, decoder and pipeline;
// 2 MiB (about 1,600 records) took a tenth off a replay's CPU time and
// two fifths off its peak memory against 8 MiB, by faulting in fewer
// pages, and smaller ones gained nothing more.
const blockSize = 2 << 20

// readAhead is how many blocks the reader may have filled beyond the one
// being decoded.
const readAhead = 2

// maxBatchUnits bounds the values decoded and handed over at once. A block
// of real records holds about 6,000; a block of tiny or broken lines would
// otherwise become millions of decoded records or problems at once.
const maxBatchUnits = 8192

// Stream reads one payload from r (a file or object, plain or gzip) and
// calls fn with its records and problems in input order, a batch at a
// time, within lim: memory stays within lim.StreamMemory whatever the
// input. Input that breaks a cap becomes a problem naming the cap, and the
// rest is still read where that is sound. An error from fn stops the
// stream and is returned as is; other errors are failures to read r.
func Stream(ctx context.Context, source string, r io.Reader, lim Limits, fn func(Batch) error) error {
	return stream(ctx, source, r, blockSize, lim, fn)
}

// streamFile streams the file at path.
func streamFile(ctx context.Context, path string, lim Limits, fn func(Batch) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return stream(ctx, path, f, blockSize, lim, fn)
}

// prefixWriter keeps the first MaxProblemRaw bytes written to it.
type prefixWriter struct{ buf []byte }

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := MaxProblemRaw - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// errDecompress marks a failure of the gzip stream rather than of the file.
type errDecompress struct{ err error }

func (e errDecompress) Error() string { return gzipReason(e.err) }
func (e errDecompress) Unwrap() error { return e.err }

// gzipReader reports decompression failures as errDecompress so that they
// become a Problem and not an I/O error.
type gzipReader struct{ zr *gzip.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = errDecompress{err}
	}
	return n, err
}

// errFileCap ends a gzip stream that expands beyond MaxFileBytes.
var errFileCap = errors.New("max_file_bytes reached")

// capReader passes on at most left bytes, then errFileCap if there is
// more.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		for {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, errFileCap
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// piece is one block read from the input; err is io.EOF after the last.
type piece struct {
	data []byte
	err  error
}

// readBlocks reads (and decompresses) the input on its own goroutine, so
// that I/O and gzip overlap with decoding. Buffers come back through free,
// and no more than readAhead+1 are ever made: once they are all out, the
// reader waits for one to come back.
func readBlocks(in io.Reader, size int, done <-chan struct{}) (<-chan piece, chan<- []byte) {
	out := make(chan piece, readAhead-1)
	free := make(chan []byte, readAhead+1)
	go func() {
		defer close(out)
		made := 0
		for {
			var buf []byte
			if made < readAhead+1 {
				select {
				case buf = <-free:
				default:
					buf = make([]byte, size)
					made++
				}
			} else {
				select {
				case buf = <-free:
				case <-done:
					return
				}
			}
			n, err := io.ReadFull(in, buf[:cap(buf)])
			if err == io.ErrUnexpectedEOF { // a short last block, not damage
				err = io.EOF
			}
			select {
			case out <- piece{buf[:n], err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, free
}

func stream(ctx context.Context, source string, r io.Reader, size int, lim Limits, fn func(Batch) error) error {
	lim = lim.withDefaults()
	br := bufio.NewReaderSize(r, 64<<10)
	var in io.Reader = br
	prefix := &prefixWriter{}
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		tee := io.TeeReader(br, prefix)
		zr, err := gzip.NewReader(tee)
		if err != nil {
			if !isDecompress(err) {
				return fmt.Errorf("read %s: %w", source, err)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(tee, MaxProblemRaw))
			return fn(Batch{Source: source, Problems: []Problem{
				problem(source, 0, gzipReason(err), prefix.buf)}})
		}
		in = &capReader{r: gzipReader{zr}, left: lim.MaxFileBytes}
	}

	done := make(chan struct{})
	defer close(done)
	pieces, free := readBlocks(in, size, done)

	s := newStreamer(source, lim, fn)
	first := true
	for pc := range pieces {
		if err := ctx.Err(); err != nil {
			return err
		}
		// cut says why the input ended before its end: damage or a cap.
		var cut *Problem
		switch {
		case pc.err == nil, pc.err == io.EOF:
		case errors.As(pc.err, new(errDecompress)):
			pr := problem(source, 0, pc.err.Error(), prefix.buf)
			cut = &pr
		case errors.Is(pc.err, errFileCap):
			pr := problem(source, 0, "", head(prefix.buf, capProblemRaw))
			cut = &pr
		default:
			return fmt.Errorf("read %s: %w", source, pc.err)
		}
		data := pc.data
		if first {
			data = bytes.TrimPrefix(data, bom)
			first = false
		}
		end := pc.err != nil
		err := s.feed(data, end, cut == nil)
		select {
		case free <- pc.data:
		default:
		}
		if err != nil {
			return err
		}
		if !end && !s.stopped {
			continue
		}
		// A stop found in the data comes before whatever cut the input
		// after it.
		if cut != nil && !s.stopped {
			if cut.Reason == "" {
				cut.Reason = fileCapReason(lim, s.records)
			}
			return s.finish(*cut)
		}
		return s.finish()
	}
	return nil
}

// mode is how a payload is being cut into units.
type mode uint8

const (
	modeNew      mode = iota // nothing read yet
	modeDocument             // one JSON document, gathered whole
	modeLines                // JSON Lines, cut line by line
	modeRecords              // a log file, cut record by record
)

// splitter cuts input into units as it arrives.
type splitter interface {
	// split cuts up to max units from data, which continues where the
	// last call stopped, and says how many bytes of data it is done
	// with. What it leaves is the start of an unfinished unit, to be
	// given again with more input; at the end of the input it leaves
	// nothing.
	split(data []byte, end bool, max int) (units []unit, consumed int)
	// take is how much of the next input to add to n carried bytes of
	// an unfinished unit for it either to end or to break its cap.
	take(n int, next []byte) int
	// maxCarry is the most an unfinished unit and what take adds to it
	// can come to.
	maxCarry() int
}

// streamer cuts a payload into units as it arrives, decodes them a batch
// at a time and hands the batches over. Parse feeds it a payload in one
// piece, Stream a block at a time, so that both cut input the same way.
type streamer struct {
	source string
	lim    Limits
	fn     func(Batch) error
	p      parser

	// maxUnits is how many values are decoded and handed over at once.
	maxUnits int

	mode  mode
	whole []byte // modeDocument: the document so far
	carry []byte // an unfinished unit from the previous piece
	lines lineSplitter
	recs  recordsSplitter

	// pending are problems found while cutting, handed over with the
	// next batch.
	pending []Problem
	records int // handed over so far
	kept    int // problems handed over
	dropped int // problems beyond MaxProblems, only counted
	// stopped is set when the rest of the input must not be read.
	stopped bool
}

func newStreamer(source string, lim Limits, fn func(Batch) error) *streamer {
	lim = lim.withDefaults()
	s := &streamer{source: source, lim: lim, fn: fn, p: newParser(source, lim), maxUnits: maxBatchUnits}
	s.lines = lineSplitter{lim: lim, line: 1, report: s.report}
	s.recs = recordsSplitter{lim: lim, line: 1, report: s.report}
	return s
}

func (s *streamer) report(line int, reason string, raw []byte) {
	s.pending = append(s.pending, problem(s.source, line, reason, raw))
}

// feed takes the next piece of input. end says it is the last; clean that
// the input really ended there, rather than being cut short by damage or
// a cap, in which case an unfinished last unit is dropped.
func (s *streamer) feed(data []byte, end, clean bool) error {
	switch s.mode {
	case modeNew:
		switch m, off := decide(data, end && clean); m {
		case modeLines:
			s.mode = modeLines
			return s.split(data, end, clean)
		case modeRecords:
			s.mode = modeRecords
			s.recs.line += bytes.Count(data[:off], []byte{'\n'})
			return s.split(data[off:], end, clean)
		}
		s.mode = modeDocument
		if end {
			// Nothing is to be added to it: no need for a copy.
			s.whole = data
		} else {
			s.whole = append(s.whole[:0], data...)
		}
		return s.gather(end, clean)
	case modeDocument:
		s.whole = append(s.whole, data...)
		return s.gather(end, clean)
	case modeLines, modeRecords:
		return s.split(data, end, clean)
	}
	return nil
}

// decide tells from the start of a payload how to cut it, as Parse always
// has: JSON Lines when its first line is a complete JSON value and more
// follows; a log file, cut record by record, when it opens with a Records
// array (off is then where its elements start); otherwise one document,
// possibly not yet complete.
func decide(buf []byte, end bool) (mode, int) {
	if isJSONLines(buf, end) {
		return modeLines, 0
	}
	if off, ok := logFileHead(buf); ok {
		return modeRecords, off
	}
	return modeDocument, 0
}

// logFileHead reports whether buf opens a log file as CloudTrail writes
// it, {"Records":[ with any whitespace, and where its first record may
// start.
func logFileHead(buf []byte) (int, bool) {
	i := jsonscan.Space(buf, 0)
	if i >= len(buf) || buf[i] != '{' {
		return 0, false
	}
	i = jsonscan.Space(buf, i+1)
	if !bytes.HasPrefix(buf[i:], []byte(`"Records"`)) {
		return 0, false
	}
	i = jsonscan.Space(buf, i+len(`"Records"`))
	if i >= len(buf) || buf[i] != ':' {
		return 0, false
	}
	i = jsonscan.Space(buf, i+1)
	if i >= len(buf) || buf[i] != '[' {
		return 0, false
	}
	return i + 1, true
}

// gather holds a document until it is complete, or until more is known
// about how to cut it.
func (s *streamer) gather(end, clean bool) error {
	switch m, off := decide(s.whole, end && clean); m {
	case modeLines:
		s.mode = modeLines
		whole := s.whole
		s.whole = nil
		return s.split(whole, end, clean)
	case modeRecords:
		s.mode = modeRecords
		whole := s.whole
		s.whole = nil
		s.recs.line += bytes.Count(whole[:off], []byte{'\n'})
		return s.split(whole[off:], end, clean)
	}
	if len(s.whole) > s.lim.MaxLineBytes {
		whole := s.whole
		s.whole = nil
		// Only lines within the cap count: how much has been gathered
		// past it depends on how the input happened to be cut.
		if hasObjectLine(whole[:s.lim.MaxLineBytes]) {
			// A bad first line in front of JSON Lines, as document
			// reads it too.
			s.mode = modeLines
			return s.split(whole, end, clean)
		}
		s.report(0, documentCapReason(s.lim), head(whole, capProblemRaw))
		s.stopped = true
		return s.flush()
	}
	if !end {
		return nil
	}
	whole := s.whole
	s.whole = nil
	if !clean {
		// Drop what the damage cut short: complete lines of a JSON
		// Lines payload are still good records.
		whole = whole[:bytes.LastIndexByte(whole, '\n')+1]
	}
	return s.document(whole)
}

// document cuts a whole payload that is not JSON Lines: a log file record
// by record, another document as one value. A document
// that is not valid JSON but has lines that are complete objects is still
// read as JSON Lines, so one bad first line does not lose the file.
func (s *streamer) document(data []byte) error {
	start := jsonscan.Space(data, 0)
	if start == len(data) {
		return nil
	}
	if off, ok := recordsArray(data[start:]); ok {
		s.mode = modeRecords
		s.recs.line = lineOf(data, start+off)
		return s.split(data[start+off:], true, true)
	}
	if end := jsonscan.Skip(data, start); end >= 0 && jsonscan.Space(data, end) == len(data) {
		return s.run([]unit{{data: data[start:end], line: lineOf(data, start)}})
	}
	if json.Valid(data) {
		// The fast scanner refused what encoding/json accepts; trust the
		// latter rather than lose the payload.
		return s.run([]unit{{data: bytes.TrimSpace(data[start:]), line: lineOf(data, start)}})
	}
	if hasObjectLine(data) {
		s.mode = modeLines
		return s.split(data, true, true)
	}
	s.report(0, "malformed JSON: "+syntaxReason(data), data)
	return s.flush()
}

// splitter is the one cutting the current mode's input.
func (s *streamer) splitter() splitter {
	if s.mode == modeRecords {
		return &s.recs
	}
	return &s.lines
}

// split cuts a piece in the current mode, completing the unit carried
// over from the last piece first. Only the carried unit is copied: the
// rest is cut where it lies.
func (s *streamer) split(data []byte, end, clean bool) error {
	last := end && clean
	if len(s.carry) > 0 {
		n := s.splitter().take(len(s.carry), data)
		s.carry = appendCarry(s.carry, data[:n], s.splitter().maxCarry())
		rest, err := s.cut(s.carry, last && n == len(data))
		if err != nil || s.stopped {
			return err
		}
		if len(rest) > n {
			// The piece ended before the carried unit did.
			s.carry = s.carry[:copy(s.carry, rest)]
			return s.ended(end)
		}
		data = data[n-len(rest):]
		s.carry = s.carry[:0]
		if len(data) == 0 {
			return s.ended(end)
		}
	}
	rest, err := s.cut(data, last)
	if err != nil || s.stopped {
		return err
	}
	s.carry = append(s.carry[:0], rest...)
	return s.ended(end)
}

// appendCarry adds to an unfinished unit. A unit growing over many blocks
// (a long line, a large record) doubles its buffer rather than growing it
// by a quarter, as append does for large slices: the buffers it leaves
// behind then add up to its size at most, not several times it. It never
// grows past limit, the most a unit can carry before it breaks its cap.
func appendCarry(carry, more []byte, limit int) []byte {
	if need := len(carry) + len(more); need > cap(carry) {
		grown := make([]byte, len(carry), max(need, min(2*cap(carry), limit)))
		copy(grown, carry)
		carry = grown
	}
	return append(carry, more...)
}

// ended drops an unfinished unit once the input is over: at a clean end
// the splitter has taken everything, so only damage leaves one.
func (s *streamer) ended(end bool) error {
	if end {
		s.carry = nil
	}
	return nil
}

// cut hands over the units of data a batch at a time and returns what is
// left unfinished. A log file followed by more data goes on as JSON
// Lines, the way a log file on a line of its own is read.
func (s *streamer) cut(data []byte, end bool) ([]byte, error) {
	for {
		sp := s.splitter()
		units, n := sp.split(data, end, s.maxUnits)
		if err := s.run(units); err != nil {
			return nil, err
		}
		data = data[n:]
		switch {
		case s.mode == modeRecords && s.recs.stopped:
			s.stopped = true
			return nil, nil
		case s.mode == modeRecords && s.recs.trailing:
			s.mode = modeLines
			s.lines.line = s.recs.line
			continue
		case len(units) == s.maxUnits && len(data) > 0:
			continue
		}
		return data, nil
	}
}

// run decodes units and hands the batch over with the problems found
// while cutting, in line order.
func (s *streamer) run(units []unit) error {
	b := Batch{Source: s.source}
	if len(units) > 0 {
		s.p.keep = max(s.lim.MaxProblems-s.kept, 0)
		s.p.run(units, &b)
	}
	if len(s.pending) > 0 {
		b.Problems = append(s.pending, b.Problems...)
		s.pending = nil
		sort.SliceStable(b.Problems, func(i, j int) bool { return lineBefore(b.Problems[i].Line, b.Problems[j].Line) })
	}
	if room := max(s.lim.MaxProblems-s.kept, 0); len(b.Problems) > room {
		s.dropped += len(b.Problems) - room
		clear(b.Problems[room:])
		b.Problems = b.Problems[:room]
	}
	s.dropped += b.dropped
	b.dropped = 0
	s.kept += len(b.Problems)
	s.records += len(b.Records)
	return emit(b, s.fn)
}

// lineBefore orders problems by line, those about the whole input (line
// 0) last.
func lineBefore(a, b int) bool {
	if a == 0 || b == 0 {
		return b == 0 && a != 0
	}
	return a < b
}

// flush hands over problems found while cutting that no batch took.
func (s *streamer) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	return s.run(nil)
}

// finish hands over what is left, then the problems that end the input
// (damage, the file cap) and a count of the problems not kept, which
// MaxProblems does not hold back.
func (s *streamer) finish(final ...Problem) error {
	if err := s.flush(); err != nil {
		return err
	}
	if s.dropped > 0 {
		final = append(final, problem(s.source, 0, problemsCapReason(s.lim, s.dropped), nil))
		s.dropped = 0
	}
	if len(final) == 0 {
		return nil
	}
	return s.fn(Batch{Source: s.source, Problems: final})
}

func emit(b Batch, fn func(Batch) error) error {
	if len(b.Records) == 0 && len(b.Problems) == 0 && len(b.Native) == 0 && b.Ignored == 0 {
		return nil
	}
	return fn(b)
}

// gzipReason words a decompression failure the same for both readers.
func gzipReason(err error) string {
	return "gzip: " + strings.TrimPrefix(err.Error(), "gzip: ")
}

func isDecompress(err error) bool {
	return !errors.As(err, new(*os.PathError)) && !errors.As(err, new(*os.SyscallError))
}

// isJSONLines decides from the start of a payload whether it is JSON Lines:
// its first line is a complete JSON value and more follows. end says
// whether buf is the whole payload.
func isJSONLines(buf []byte, end bool) bool {
	buf = bytes.TrimPrefix(buf, bom)
	start := jsonscan.Space(buf, 0)
	i := bytes.IndexByte(buf[start:], '\n')
	if i < 0 {
		return false
	}
	first := bytes.TrimRight(buf[start:start+i], " \t\r")
	more := jsonscan.Space(buf, start+len(first)) < len(buf) || !end
	return more && jsonscan.Skip(first, 0) == len(first)
}
