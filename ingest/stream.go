package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// blockSize is how much of a JSON Lines file is decoded at a time. Reading
// large files in blocks keeps memory flat however big the file is, which
// matters more for throughput than any decoding trick: a replay of a
// multi-gigabyte export would otherwise spend its time faulting in pages.
const blockSize = 8 << 20

// streamFile parses the file at path, calling fn once per block of a JSON
// Lines file (records in file order, line numbers counted across blocks) or
// once for a single-document file. An error from fn stops the stream and is
// returned as is; other errors are I/O failures.
func streamFile(ctx context.Context, path string, fn func(Batch) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return stream(ctx, path, f, blockSize, fn)
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

// piece is one block read from the input; err is io.EOF after the last.
type piece struct {
	data []byte
	err  error
}

// readAhead reads (and decompresses) the input on its own goroutine, so
// that I/O and gzip overlap with decoding. Buffers come back through free.
func readAhead(in io.Reader, size int, done <-chan struct{}) (<-chan piece, chan<- []byte) {
	out := make(chan piece, 1)
	free := make(chan []byte, 3)
	go func() {
		defer close(out)
		for {
			var buf []byte
			select {
			case buf = <-free:
			default:
				buf = make([]byte, size)
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

func stream(ctx context.Context, source string, r io.Reader, size int, fn func(Batch) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var in io.Reader = br
	head := &prefixWriter{}
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		tee := io.TeeReader(br, head)
		zr, err := gzip.NewReader(tee)
		if err != nil {
			if !isDecompress(err) {
				return fmt.Errorf("read %s: %w", source, err)
			}
			_, _ = io.Copy(io.Discard, tee)
			return fn(Batch{Source: source, Problems: []Problem{
				problem(source, 0, gzipReason(err), head.buf)}})
		}
		in = gzipReader{zr}
	}

	done := make(chan struct{})
	defer close(done)
	pieces, free := readAhead(in, size, done)

	p := parser{source: source}
	var (
		whole []byte // a single-document payload, gathered
		carry []byte // the unfinished last line of the previous piece
		line  = 1
		mode  = 0 // 0 undecided, 1 JSON Lines, 2 single document
	)
	for pc := range pieces {
		if err := ctx.Err(); err != nil {
			return err
		}
		var b Batch
		b.Source = source
		var damaged error
		switch {
		case pc.err == nil, pc.err == io.EOF:
		case errors.As(pc.err, new(errDecompress)):
			damaged = pc.err
		default:
			return fmt.Errorf("read %s: %w", source, pc.err)
		}
		end := pc.err != nil
		data := pc.data
		if line == 1 && len(carry) == 0 && mode == 0 {
			data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
			mode = 2
			if isJSONLines(data, end) {
				mode = 1
			}
		}
		if mode == 2 {
			whole = append(whole, data...)
			free <- pc.data
			if !end {
				continue
			}
			if damaged != nil {
				// As in Parse: drop what the damage cut short.
				whole = whole[:bytes.LastIndexByte(whole, '\n')+1]
			}
			if units, bad := p.split(whole); bad != nil {
				b.Problems = append(b.Problems, *bad)
			} else {
				p.run(units, &b)
			}
			if damaged != nil {
				b.Problems = append(b.Problems, problem(source, 0, damaged.Error(), head.buf))
			}
			return emit(b, fn)
		}

		// JSON Lines: the first line of this piece completes the carried
		// one; the last, unless the input ended, waits for the next piece.
		var units []unit
		if len(carry) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 && !end {
				carry = append(carry, data...)
				free <- pc.data
				continue
			}
			if i < 0 {
				i = len(data)
			} else {
				i++
			}
			carry = append(carry, data[:i]...)
			data = data[i:]
			if damaged != nil && len(data) == 0 && !bytes.HasSuffix(carry, []byte{'\n'}) {
				carry = nil
			}
			units = append(units, p.lines(carry, line)...)
			line++
		}
		cut := len(data)
		if !end || damaged != nil {
			cut = bytes.LastIndexByte(data, '\n') + 1
		}
		units = append(units, p.lines(data[:cut], line)...)
		line += bytes.Count(data[:cut], []byte{'\n'})
		p.run(units, &b)
		carry = append(carry[:0], data[cut:]...)
		free <- pc.data
		if damaged != nil {
			carry = nil
			b.Problems = append(b.Problems, problem(source, 0, damaged.Error(), head.buf))
		}
		if err := emit(b, fn); err != nil {
			return err
		}
		if end {
			return nil
		}
	}
	return nil
}

func emit(b Batch, fn func(Batch) error) error {
	if len(b.Records) == 0 && len(b.Problems) == 0 && b.Ignored == 0 {
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

// isJSONLines decides from the start of a payload whether it is JSON Lines,
// the same way Parse does: its first line is a complete JSON value and more
// follows. end says whether buf is the whole payload.
func isJSONLines(buf []byte, end bool) bool {
	buf = bytes.TrimPrefix(buf, []byte("\xef\xbb\xbf"))
	start := skipSpace(buf, 0)
	i := bytes.IndexByte(buf[start:], '\n')
	if i < 0 {
		return false
	}
	first := bytes.TrimRight(buf[start:start+i], " \t\r")
	more := skipSpace(buf, start+len(first)) < len(buf) || !end
	return more && skipValue(first, 0) == len(first)
}
