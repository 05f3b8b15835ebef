package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// FuzzParse feeds arbitrary payloads to Parse. Beyond never panicking, it
// checks that what Parse returns is consistent: every record decodes from
// its Raw with encoding/json to the same value, every record has its
// required fields, problems point at real lines and keep at most MaxProblemRaw bytes, and
// the fast record decoder agrees with encoding/json on the payload itself.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"eventID":"1","eventName":"X","eventTime":"2024-03-05T00:00:00Z","resources":[{"ARN":"a"}],"readOnly":true}`))
	f.Add([]byte("{\"Records\":[{\"eventID\":\"1\"}]}\n{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{}}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		b := Parse("fuzz", data)
		lines := bytes.Count(data, []byte{'\n'}) + 1
		if bytes.HasPrefix(data, gzipMagic) {
			lines = -1 // line numbers refer to the decompressed text
		}
		for _, p := range b.Problems {
			if len(p.Raw) > MaxProblemRaw {
				t.Errorf("problem raw has %d bytes", len(p.Raw))
			}
			if p.Line < 0 || lines > 0 && p.Line > lines {
				t.Errorf("problem on line %d of a %d-line payload", p.Line, lines)
			}
			if p.Reason == "" {
				t.Error("problem without a reason")
			}
		}
		for _, r := range b.Records {
			if r.EventID == "" || r.EventName == "" || r.EventTime.IsZero() {
				t.Errorf("record without required fields: %+v", r)
			}
			var again cloudtrail.Record
			if err := json.Unmarshal(r.Raw, &again); err != nil {
				t.Fatalf("Raw %q does not decode: %v", r.Raw, err)
			}
			again.Raw = r.Raw
			if !reflect.DeepEqual(again, r) {
				t.Errorf("record differs from encoding/json's decoding of its Raw:\n got %+v\nwant %+v", r, again)
			}
		}

		var fast, std cloudtrail.Record
		errFast := decodeRecord(data, &fast)
		errStd := json.Unmarshal(data, &std)
		if (errFast == nil) != (errStd == nil) || errFast != nil && errFast.Error() != errStd.Error() {
			t.Fatalf("decodeRecord error %v, encoding/json %v", errFast, errStd)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("decodeRecord differs from encoding/json:\n got %+v\nwant %+v", fast, std)
		}
	})
}

// FuzzStreamMatchesParse cuts arbitrary payloads into blocks of arbitrary
// size under small caps, and checks that reading them as a stream never
// panics or loops and yields the records that parsing them whole does.
func FuzzStreamMatchesParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(64))
	}
	f.Add([]byte(`{"Records":[`+capRecord("a")+",  "+capRecord("b")+"]}\n"+capRecord("c")), uint16(7))
	lim := Limits{MaxFileBytes: 4096, MaxRecordBytes: 300, MaxLineBytes: 600, MaxProblems: 5}

	f.Fuzz(func(t *testing.T, data []byte, block uint16) {
		size := int(block%2048) + 1
		want := ParseLimits("fuzz", data, lim)
		c := collector{out: Batch{Source: "fuzz"}}
		if err := stream(context.Background(), "fuzz", bytes.NewReader(data), size, lim, c.add); err != nil {
			t.Fatal(err)
		}
		got := c.batch()
		if len(got.Problems) > lim.MaxProblems+2 {
			t.Errorf("%d problems kept, over the cap of %d", len(got.Problems), lim.MaxProblems)
		}
		if !reflect.DeepEqual(ids(got), ids(want)) {
			t.Errorf("block %d: stream gave records %q, Parse %q", size, ids(got), ids(want))
		}
	})
}
