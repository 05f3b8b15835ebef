package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// capRecord is a small valid record with the given event ID.
func capRecord(id string) string {
	return `{"eventID":"` + id + `","eventName":"ListBuckets","eventTime":"2024-03-05T00:00:00Z"}`
}

// padded is a valid record of about n bytes.
func padded(id string, n int) string {
	return `{"eventID":"` + id + `","eventName":"ListBuckets","eventTime":"2024-03-05T00:00:00Z","userAgent":"` + strings.Repeat("u", n) + `"}`
}

// TestStreamCaps feeds input that breaks each cap, plain and gzip, cut
// into blocks of every size, and checks that the cap is named with how
// far reading got, and that what can soundly be read around it is.
func TestStreamCaps(t *testing.T) {
	lim := Limits{MaxFileBytes: 2000, MaxRecordBytes: 200, MaxLineBytes: 300, MaxProblems: 3}
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	var many []string
	for i := range 40 {
		many = append(many, capRecord(fmt.Sprintf("m%02d", i)))
	}
	var manyIDs []string
	for i := range 40 {
		manyIDs = append(manyIDs, fmt.Sprintf("m%02d", i))
	}
	var bad []string
	for range 10 {
		bad = append(bad, "not json")
	}

	tests := []struct {
		name     string
		data     string
		gzip     bool
		ids      []string
		problems []wantProblem
		// prefix: the records are a non-empty prefix of ids.
		prefix bool
	}{
		{
			name: "JSON Lines: a line over the line cap is skipped, the lines after it read",
			data: lines(capRecord("a"), `{"eventID":"`+strings.Repeat("x", 1000)+`"}`, capRecord("b")),
			ids:  []string{"a", "b"}, problems: []wantProblem{{2, "max_line_bytes cap of 300 bytes"}},
		},
		{
			name: "JSON Lines: a record over the record cap is skipped, the lines after it read",
			data: lines(capRecord("a"), padded("big", 150), capRecord("b")),
			ids:  []string{"a", "b"}, problems: []wantProblem{{2, "max_record_bytes cap of 200 bytes"}},
		},
		{
			name: "JSON Lines: an endless last line",
			data: lines(capRecord("a")) + strings.Repeat("x", 5000),
			ids:  []string{"a"}, problems: []wantProblem{{2, "max_line_bytes"}},
		},
		{
			name: "log file: a record over the cap is skipped, the records after it read",
			data: "{\"Records\":[\n" + capRecord("a") + ",\n" + padded("big", 400) + ",\n" + capRecord("b") + "\n]}",
			ids:  []string{"a", "b"}, problems: []wantProblem{{3, "record 2 of the log file is larger than the max_record_bytes cap of 200 bytes"}},
		},
		{
			name: "log file: a record over the cap that is mostly a string",
			data: `{"Records":[` + capRecord("a") + `,{"eventID":"` + strings.Repeat(`x\"`, 400) + `"},` + capRecord("b") + `]}`,
			ids:  []string{"a", "b"}, problems: []wantProblem{{1, "record 2 of the log file is larger"}},
		},
		{
			name: "log file: a run of whitespace between records",
			data: `{"Records":[` + capRecord("a") + "," + strings.Repeat(" ", 500) + capRecord("b") + `]}`,
			ids:  []string{"a", "b"}, problems: []wantProblem{{1, "more whitespace than the max_record_bytes cap of 200 bytes before record 2"}},
		},
		{
			name: "log file of whitespace that never ends",
			data: `{"Records":[` + strings.Repeat(" ", 5000),
			problems: []wantProblem{
				{1, "more whitespace than the max_record_bytes cap of 200 bytes before record 1"},
				{0, "log file ends before it is closed, after 0 records"},
			},
		},
		{
			name: "gzip log file of whitespace beyond the file cap",
			data: `{"Records":[` + capRecord("a") + "," + strings.Repeat("\n", 5000), gzip: true,
			ids: []string{"a"},
			problems: []wantProblem{
				{1, "more whitespace than the max_record_bytes cap of 200 bytes before record 2"},
				{0, "decompressed data exceeds the max_file_bytes cap of 2000 bytes; stopped reading there, after 1 records"},
			},
		},
		{
			name: "gzip JSON Lines beyond the file cap keep the lines before it",
			data: lines(many...), gzip: true, ids: manyIDs, prefix: true,
			problems: []wantProblem{{0, "max_file_bytes cap of 2000 bytes"}},
		},
		{
			name:     "a document that is not a log file, over the line cap",
			data:     `{"detail-type":"AWS API Call via CloudTrail","detail":` + padded("big", 1000) + `}`,
			problems: []wantProblem{{0, "larger than the max_line_bytes cap of 300 bytes and is not a CloudTrail log file"}},
		},
		{
			name: "problems beyond the cap are counted",
			data: lines(append(bad, capRecord("a"))...),
			ids:  []string{"a"},
			problems: []wantProblem{
				{1, "malformed JSON"}, {2, "malformed JSON"}, {3, "malformed JSON"},
				{0, "7 more problems in this input were not kept (max_problems cap of 3)"},
			},
		},
		{
			name: "log file: a syntax error keeps the records before it",
			data: "{\"Records\":[\n" + capRecord("a") + ",\n{\"eventID\": nope},\n" + capRecord("b") + "\n]}",
			ids:  []string{"a"}, problems: []wantProblem{{3, "malformed JSON in record 2 of the log file"}},
		},
		{
			name: "a log file followed by JSON Lines",
			data: `{"Records":[` + capRecord("a") + "]}\n" + capRecord("b") + "\n",
			ids:  []string{"a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if tt.gzip {
				data = gz(t, data)
			}
			check := func(what string, b Batch) {
				t.Helper()
				w := want{ids: tt.ids, problems: tt.problems}
				if tt.prefix {
					if len(b.Records) == 0 || len(b.Records) >= len(tt.ids) {
						t.Fatalf("%s: got %d records, want a proper non-empty prefix of %d", what, len(b.Records), len(tt.ids))
					}
					w.ids = tt.ids[:len(b.Records)]
				}
				var ids []string
				for _, r := range b.Records {
					ids = append(ids, r.EventID)
				}
				if !reflect.DeepEqual(ids, w.ids) {
					t.Errorf("%s: record IDs = %q, want %q", what, ids, w.ids)
				}
				if len(b.Problems) != len(w.problems) {
					t.Fatalf("%s: got problems %+v, want %+v", what, problemLines(b), w.problems)
				}
				for i, p := range b.Problems {
					if p.Line != w.problems[i].line || !strings.Contains(p.Reason, w.problems[i].reason) || p.Source != "src" {
						t.Errorf("%s: problem %d = %s line %d %q, want src line %d containing %q", what, i, p.Source, p.Line, p.Reason, w.problems[i].line, w.problems[i].reason)
					}
					if len(p.Raw) > capProblemRaw && strings.Contains(p.Reason, "cap") {
						t.Errorf("%s: a cap problem keeps %d raw bytes", what, len(p.Raw))
					}
				}
				checkRaw(t, b.Records)
			}
			check("parse", ParseLimits("src", data, lim))
			for _, size := range []int{16, 100, 700, 4096, 1 << 20} {
				c := collector{out: Batch{Source: "src"}}
				if err := stream(context.Background(), "src", bytes.NewReader(data), size, lim, c.add); err != nil {
					t.Fatalf("block %d: %v", size, err)
				}
				check(fmt.Sprintf("block %d", size), c.batch())
			}
		})
	}
}

// endless reads n bytes: head, then fill repeated, then tail.
type endless struct {
	head, tail []byte
	fill       byte
	n          int64
	off        int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.off >= e.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.n-e.off)]
	fillFrom, tailFrom := int64(len(e.head)), e.n-int64(len(e.tail))
	for i := 0; i < len(p); {
		at := e.off + int64(i)
		switch {
		case at < fillFrom:
			i += copy(p[i:], e.head[at:])
		case at < tailFrom:
			fill := p[i:min(len(p), i+int(tailFrom-at))]
			fill[0] = e.fill
			for k := 1; k < len(fill); k *= 2 {
				copy(fill[k:], fill[:k])
			}
			i += len(fill)
		default:
			i += copy(p[i:], e.tail[at-tailFrom:])
		}
	}
	e.off += int64(len(p))
	return len(p), nil
}

// TestStreamMemoryDoesNotGrowWithInput streams 256 MiB of hostile input
// with the default limits and checks that it allocated far less than the
// input's size: nothing is gathered whole.
func TestStreamMemoryDoesNotGrowWithInput(t *testing.T) {
	if testing.Short() || raceDetector {
		t.Skip("reads 256 MiB per case, too slow with the race detector (and about memory, not concurrency)")
	}
	const size = 256 << 20
	rec := []byte(capRecord("after") + "\n")
	tests := []struct {
		name  string
		input *endless
		ids   []string
	}{
		{"an endless second line", &endless{head: []byte(capRecord("before") + "\n{\"eventID\":\""), fill: 'x', tail: append([]byte("\"}\n"), rec...), n: size}, []string{"before", "after"}},
		{"a log file of whitespace", &endless{head: []byte(`{"Records":[` + capRecord("before") + ","), fill: ' ', tail: []byte(capRecord("after") + "]}"), n: size}, []string{"before", "after"}},
		{"a record that is one endless string", &endless{head: []byte(`{"Records":[` + capRecord("before") + `,{"eventID":"`), fill: 'x', tail: []byte(`"},` + capRecord("after") + "]}"), n: size}, []string{"before", "after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var ids []string
			problems := 0
			err := Stream(context.Background(), "src", tt.input, Limits{}, func(b Batch) error {
				for _, r := range b.Records {
					ids = append(ids, r.EventID)
				}
				problems += len(b.Problems)
				return nil
			})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids, tt.ids) || problems != 1 {
				t.Errorf("records %q and %d problems, want %q and one problem", ids, problems, tt.ids)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			if limit := uint64(Limits{}.StreamMemory()); allocated > limit {
				t.Errorf("streaming %d MiB allocated %d MiB, more than StreamMemory's %d MiB", size>>20, allocated>>20, limit>>20)
			}
			t.Logf("allocated %d MiB for %d MiB of input", allocated>>20, size>>20)
		})
	}
}
