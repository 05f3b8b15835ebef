package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/ingest/native"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// want describes what a payload must yield.
type want struct {
	ids      []string // record event IDs, in order
	problems []wantProblem
	ignored  int
}

type wantProblem struct {
	line   int
	reason string // substring of the reason
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var logFileIDs = []string{
	"e755e09c-42f9-4c5c-9064-EXAMPLE228c7",
	"ba0801a1-87ec-4d26-be87-EXAMPLE75bbb",
	"2e0d94a6-0b37-4b54-a7ef-EXAMPLE2b8a4",
}

const (
	putBucketPolicyID = "0f7d0e1c-5b6a-4c36-9d8e-3a1f2b4c5d6e"
	snapshotShareID   = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
)

func TestParseTestdata(t *testing.T) {
	tests := []struct {
		file string
		want want
	}{
		{"logfile.json", want{ids: logFileIDs}},
		{"logfile.json.gz", want{ids: logFileIDs}},
		{"logfile-pretty.json", want{ids: logFileIDs}},
		{"logfile-pretty-missing-time.json", want{
			ids:      []string{logFileIDs[0], logFileIDs[2]},
			problems: []wantProblem{{82, "record missing eventTime"}},
		}},
		{"eventbridge-putbucketpolicy.json", want{ids: []string{putBucketPolicyID}}},
		{"eventbridge-ec2-state-change.json", want{ignored: 1}},
		{"record-modifydbsnapshotattribute.json", want{ids: []string{snapshotShareID}}},
		{"digest.json", want{ignored: 1}},
		{"mixed.jsonl", want{
			ids: append([]string{snapshotShareID, putBucketPolicyID}, logFileIDs...),
			problems: []wantProblem{
				{3, "malformed JSON"},
				{7, "record missing eventTime"},
			},
			ignored: 1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			checkBatch(t, b, tt.want)
			checkGolden(t, tt.file, b)
		})
	}
}

func checkBatch(t *testing.T, b Batch, w want) {
	t.Helper()
	var ids []string
	for _, r := range b.Records {
		ids = append(ids, r.EventID)
	}
	if !reflect.DeepEqual(ids, w.ids) {
		t.Errorf("record IDs = %q, want %q", ids, w.ids)
	}
	if len(b.Problems) != len(w.problems) {
		t.Errorf("got %d problems %+v, want %d", len(b.Problems), summarise(b.Problems), len(w.problems))
	} else {
		for i, p := range b.Problems {
			if p.Line != w.problems[i].line || !strings.Contains(p.Reason, w.problems[i].reason) {
				t.Errorf("problem %d = line %d %q, want line %d containing %q", i, p.Line, p.Reason, w.problems[i].line, w.problems[i].reason)
			}
			if p.Source != b.Source {
				t.Errorf("problem %d source = %q, want %q", i, p.Source, b.Source)
			}
			if len(p.Raw) == 0 {
				t.Errorf("problem %d has no raw bytes", i)
			}
		}
	}
	if b.Ignored != w.ignored {
		t.Errorf("ignored = %d, want %d", b.Ignored, w.ignored)
	}
	checkRaw(t, b.Records)
}

// checkRaw asserts that each record's Raw is the record's own JSON: decoding
// it with encoding/json gives the same record.
func checkRaw(t *testing.T, recs []cloudtrail.Record) {
	t.Helper()
	for i, r := range recs {
		var again cloudtrail.Record
		if err := json.Unmarshal(r.Raw, &again); err != nil {
			t.Errorf("record %d: Raw does not decode: %v", i, err)
			continue
		}
		again.Raw = r.Raw
		if !reflect.DeepEqual(again, r) {
			t.Errorf("record %d differs from its Raw decoded by encoding/json:\n got %+v\nwant %+v", i, r, again)
		}
	}
}

func summarise(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Reason)
	}
	return out
}

// golden is the reviewed form of a batch: the decoded records as JSON and
// the problems without their raw bytes.
type golden struct {
	Records  []cloudtrail.Record `json:"records"`
	Problems []goldenProblem     `json:"problems"`
	Native   []native.Finding    `json:"native,omitempty"`
	Ignored  int                 `json:"ignored"`
}

type goldenProblem struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	RawLen int    `json:"rawLen"`
}

func checkGolden(t *testing.T, name string, b Batch) {
	t.Helper()
	g := golden{Records: b.Records, Native: b.Native, Ignored: b.Ignored}
	for _, p := range b.Problems {
		g.Problems = append(g.Problems, goldenProblem{p.Line, p.Reason, len(p.Raw)})
	}
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("batch differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lineIDs(t *testing.T, data []byte) []string {
	t.Helper()
	var ids []string
	for line := range bytes.Lines(data) {
		var r struct{ EventID string }
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.EventID)
	}
	return ids
}

func TestParseShapes(t *testing.T) {
	corpus := genCorpus(t, 40)
	ids := lineIDs(t, corpus)
	lines := bytes.SplitAfter(corpus, []byte{'\n'})
	withBadLine := bytes.Join([][]byte{
		bytes.Join(lines[:20], nil),
		[]byte("{\"eventVersion\":\"1.09\",\"eventID\":\"x\",}\n"),
		bytes.Join(lines[20:], nil),
	}, nil)
	logFile := []byte(`{"Records":[` + strings.TrimSuffix(strings.ReplaceAll(string(bytes.Join(lines[:3], nil)), "\n", ","), ",") + `]}`)
	bigBad := append([]byte(`{"eventID":"`), bytes.Repeat([]byte("a"), MaxProblemRaw+(100<<10))...)
	noTime := []byte(`{"eventID":"1","eventName":"ListBuckets"}`)
	zeroLines := gz(t, corpus)
	truncated := zeroLines[:len(zeroLines)/2]

	tests := []struct {
		name string
		data []byte
		want want
		// prefix: the records must be a non-empty prefix of ids, and
		// only the listed problems reported.
		prefix bool
	}{
		{name: "empty", data: nil},
		{name: "only whitespace", data: []byte(" \n\n\t\r\n")},
		{name: "JSON Lines", data: corpus, want: want{ids: ids}},
		{name: "JSON Lines without final newline", data: bytes.TrimSuffix(corpus, []byte("\n")), want: want{ids: ids}},
		{name: "JSON Lines with CRLF and blank lines", data: bytes.ReplaceAll(corpus, []byte("\n"), []byte("\r\n\r\n")), want: want{ids: ids}},
		{name: "gzip JSON Lines", data: gz(t, corpus), want: want{ids: ids}},
		{name: "malformed line in the middle", data: withBadLine, want: want{
			ids:      ids,
			problems: []wantProblem{{21, "malformed JSON: invalid character '}'"}},
		}},
		{name: "log file on one line", data: logFile, want: want{ids: ids[:3]}},
		{name: "log file gzip", data: gz(t, logFile), want: want{ids: ids[:3]}},
		{name: "truncated gzip keeps complete lines", data: truncated, prefix: true,
			want: want{ids: ids, problems: []wantProblem{{0, "gzip: unexpected EOF"}}}},
		{name: "gzip magic but garbage", data: []byte("\x1f\x8bnot really gzip"),
			want: want{problems: []wantProblem{{0, "gzip: "}}}},
		{name: "not JSON", data: []byte("hello world"),
			want: want{problems: []wantProblem{{0, "malformed JSON: invalid character 'h'"}}}},
		{name: "JSON but not an object", data: []byte(`[1,2,3]`),
			want: want{problems: []wantProblem{{1, "not a JSON object"}}}},
		{name: "unrelated object", data: []byte(`{"hello":"world"}`),
			want: want{problems: []wantProblem{{1, "not CloudTrail data"}}}},
		{name: "record missing eventTime", data: noTime,
			want: want{problems: []wantProblem{{1, "record missing eventTime"}}}},
		{name: "record with wrong type", data: []byte(`{"eventID":"1","eventName":"X","eventTime":"2024-03-05T00:00:00Z","readOnly":"yes"}`),
			want: want{problems: []wantProblem{{1, "decode record: json: cannot unmarshal string into Go struct field Record.readOnly of type bool"}}}},
		{name: "Records not an array", data: []byte(`{"Records":{}}`),
			want: want{problems: []wantProblem{{1, "Records is not an array"}}}},
		{name: "CloudTrail EventBridge event without detail", data: []byte(`{"detail-type":"AWS API Call via CloudTrail","source":"aws.s3"}`),
			want: want{problems: []wantProblem{{1, "detail is not a CloudTrail record"}}}},
		{name: "huge bad line keeps MaxProblemRaw bytes", data: bigBad,
			want: want{problems: []wantProblem{{0, "malformed JSON"}}}},
		{name: "byte order mark", data: append([]byte("\xef\xbb\xbf"), lines[0]...), want: want{ids: ids[:1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Parse("payload", tt.data)
			if b.Source != "payload" {
				t.Errorf("source = %q", b.Source)
			}
			w := tt.want
			if tt.prefix {
				if len(b.Records) == 0 || len(b.Records) >= len(ids) {
					t.Fatalf("got %d records, want a proper non-empty prefix of %d", len(b.Records), len(ids))
				}
				w.ids = ids[:len(b.Records)]
			}
			checkBatch(t, b, w)
			for _, p := range b.Problems {
				if len(p.Raw) > MaxProblemRaw {
					t.Errorf("problem raw is %d bytes, over the %d cap", len(p.Raw), MaxProblemRaw)
				}
			}
		})
	}
}

// TestParseRawIsOriginalBytes checks that Raw keeps the input byte for byte,
// including formatting that re-encoding would lose.
func TestParseRawIsOriginalBytes(t *testing.T) {
	rec := `{ "eventVersion" : "1.08", "eventID":"a\u00e9", "eventName":"X", "eventTime":"2024-03-05T00:00:00Z", "requestParameters" : {"b": [1, 2.5e3]} }`
	tests := []struct {
		name, data string
	}{
		{"bare record", rec},
		{"log file", `{"Records": [` + rec + `]}`},
		{"EventBridge", `{"detail-type": "AWS API Call via CloudTrail", "detail": ` + rec + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Parse("x", []byte(tt.data))
			if len(b.Records) != 1 {
				t.Fatalf("got %d records, problems %v", len(b.Records), summarise(b.Problems))
			}
			r := b.Records[0]
			if string(r.Raw) != rec {
				t.Errorf("Raw = %s, want %s", r.Raw, rec)
			}
			if r.EventID != "aé" || string(r.RequestParameters) != `{"b": [1, 2.5e3]}` {
				t.Errorf("decoded eventID %q, requestParameters %s", r.EventID, r.RequestParameters)
			}
		})
	}
}

// TestDecodeRecordMatchesEncodingJSON checks the fast decoder against
// encoding/json on realistic records and on the inputs it hands over.
func TestDecodeRecordMatchesEncodingJSON(t *testing.T) {
	var inputs [][]byte
	for line := range bytes.Lines(genCorpus(t, 500)) {
		inputs = append(inputs, bytes.TrimSpace(line))
	}
	for _, s := range []string{
		`{"eventID":"1","EventName":"folded key","eventTime":"2024-03-05T00:00:00Z"}`,
		`{"eventID":"1","eventID":"duplicate","eventTime":"2024-03-05T00:00:00Z"}`,
		`{"eventID":"esc\"aped\u0041","userAgent":"caf\u00e9 \ud83d\ude00","userIdentity":{"type":"Root"}}`,
		`{"userAgent":"invalid \xff utf8","readOnly":null,"resources":null}`,
		`{"resources":[],"readOnly":true,"userIdentity":null}`,
		`{"resources":[null,{"ARN":"a","extra":[1,{"x":null}]}],"readOnly":false}`,
		`{"userIdentity":{"sessionContext":null}}`,
		`{"userIdentity":{"sessionContext":{"sessionIssuer":null,"attributes":{"mfaAuthenticated":"true"}}}}`,
		`{"eventTime":null,"requestParameters":null,"responseElements":"text"}`,
		`{"eventTime":"not a time"}`,
		`{"eventTime":12}`,
		`{"eventVersion":1.08}`,
		`{"\u0065ventID":"escaped key"}`,
		`{"eventID":"1"} trailing`,
		`{"eventID":"1",}`,
		`{"eventID":"tab	inside"}`,
		`{"requestParameters":{"deep":[[[[[[]]]]]]},"x":-0.5e-3}`,
		`{"requestParameters":01}`,
		`{"userIdentity":{"type":"AssumedRole","TYPE":"folded"}}`,
	} {
		inputs = append(inputs, []byte(s))
	}
	// Byte-level damage to real records reaches the corners a hand-written
	// decoder gets wrong: cut strings, stray bytes, broken numbers.
	rng := rand.New(rand.NewSource(7))
	replacements := []byte("\"\\{}[],:0-.eE+ntfu\x00\x1f\x7f\xc3\xff aZ")
	for n := 0; n < 20000; n++ {
		in := bytes.Clone(inputs[rng.Intn(500)])
		for k := 0; k <= rng.Intn(3); k++ {
			i := rng.Intn(len(in))
			switch rng.Intn(3) {
			case 0:
				in[i] = replacements[rng.Intn(len(replacements))]
			case 1:
				in = append(in[:i], in[i+1:]...)
			default:
				in = append(in[:i], append([]byte{replacements[rng.Intn(len(replacements))]}, in[i:]...)...)
			}
		}
		inputs = append(inputs, in)
	}
	for i, in := range inputs {
		var fast, std cloudtrail.Record
		errFast := decodeRecord(in, &fast)
		errStd := json.Unmarshal(in, &std)
		if (errFast == nil) != (errStd == nil) || errFast != nil && errFast.Error() != errStd.Error() {
			t.Errorf("input %d %s: error %v, encoding/json %v", i, in, errFast, errStd)
			continue
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("input %d %s:\n got %+v\nwant %+v", i, in, fast, std)
		}
	}
}
