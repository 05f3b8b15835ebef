package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// merge folds the batches a stream hands over into one.
func merge(bs []Batch) Batch {
	var out Batch
	for _, b := range bs {
		out.Source = b.Source
		out.Records = append(out.Records, b.Records...)
		out.Problems = append(out.Problems, b.Problems...)
		out.Ignored += b.Ignored
	}
	return out
}

// TestStreamMatchesParse checks that reading a file block by block yields
// exactly what parsing it whole does, whatever the block size: lines cut
// across blocks, lines longer than a block, damage in any block.
func TestStreamMatchesParse(t *testing.T) {
	corpus := genCorpus(t, 60)
	lines := bytes.SplitAfter(corpus, []byte{'\n'})
	bad := bytes.Join([][]byte{
		bytes.Join(lines[:7], nil), []byte("not json\n"), bytes.Join(lines[7:30], nil),
		[]byte("{\"eventID\":\"no-name\",\"eventTime\":\"2024-03-05T00:00:00Z\"}\n\n"), bytes.Join(lines[30:], nil),
	}, nil)
	compressed := gz(t, bad)
	payloads := map[string][]byte{
		"corpus":          corpus,
		"with problems":   bad,
		"gzip":            compressed,
		"truncated gzip":  compressed[:len(compressed)*2/3],
		"no final eol":    bytes.TrimSuffix(corpus, []byte("\n")),
		"pretty log file": readTestdata(t, "logfile-pretty-missing-time.json"),
		"mixed":           readTestdata(t, "mixed.jsonl"),
		"single record":   readTestdata(t, "record-modifydbsnapshotattribute.json"),
		"empty":           nil,
	}
	for name, data := range payloads {
		want := Parse("src", data)
		for _, size := range []int{16, 700, 4096, 1 << 20} {
			var got []Batch
			err := stream(context.Background(), "src", bytes.NewReader(data), size, Limits{}, func(b Batch) error {
				got = append(got, b)
				return nil
			})
			if err != nil {
				t.Fatalf("%s, block %d: %v", name, size, err)
			}
			m := merge(got)
			m.Source = want.Source
			if !reflect.DeepEqual(ids(m), ids(want)) || !reflect.DeepEqual(problemLines(m), problemLines(want)) || m.Ignored != want.Ignored {
				t.Errorf("%s, block %d: stream gave %v %v ignored %d; Parse gave %v %v ignored %d", name, size,
					len(m.Records), problemLines(m), m.Ignored, len(want.Records), problemLines(want), want.Ignored)
			}
		}
	}
}

func ids(b Batch) []string {
	var out []string
	for _, r := range b.Records {
		out = append(out, r.EventID+" "+string(r.Raw))
	}
	return out
}

type lineReason struct {
	Line   int
	Reason string
}

func problemLines(b Batch) []lineReason {
	var out []lineReason
	for _, p := range b.Problems {
		out = append(out, lineReason{p.Line, p.Reason})
	}
	return out
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	rec := readTestdata(t, "record-modifydbsnapshotattribute.json")
	logFile := readTestdata(t, "logfile.json.gz")
	files := map[string][]byte{
		"b/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T0310Z_x.json.gz": logFile,
		"b/2024/03/05/a.json":           rec,
		"a/events.ndjson":               readTestdata(t, "mixed.jsonl"),
		"a/z.jsonl":                     rec,
		"a/notes.txt":                   []byte("not events"),
		"a/.hidden.json":                rec,
		".git/objects/x.json":           rec,
		"c/.partial/upload.json":        rec,
		"c/eventbridge.json":            readTestdata(t, "eventbridge-ec2-state-change.json"),
		"extra/explicitly-named.txt":    rec,
		"extra/not-walked/skipped.json": rec,
	}
	for name, data := range files {
		writeFile(t, filepath.Join(root, name), data)
	}
	if err := os.Symlink(filepath.Join(root, "a/z.jsonl"), filepath.Join(root, "b/link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		paths []string
		want  []string // sources handed over, in order
	}{
		{
			name:  "directory recursion in sorted order, hidden and other files skipped, links to directories not followed",
			paths: []string{root},
			want: []string{
				"a/events.ndjson", "a/z.jsonl",
				"b/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T0310Z_x.json.gz", "b/2024/03/05/a.json",
				"b/link.json",
				"c/eventbridge.json",
				"extra/not-walked/skipped.json",
			},
		},
		{
			name:  "paths sorted, a named file read whatever its name",
			paths: []string{filepath.Join(root, "extra/explicitly-named.txt"), filepath.Join(root, "a")},
			want:  []string{"a/events.ndjson", "a/z.jsonl", "extra/explicitly-named.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := Walk(context.Background(), tt.paths, Limits{}, func(b Batch) error {
				rel, err := filepath.Rel(root, b.Source)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rel)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sources = %q\nwant %q", got, tt.want)
			}
		})
	}

	t.Run("error from fn stops the walk", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := Walk(context.Background(), []string{root}, Limits{}, func(Batch) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("err = %v after %d calls, want stop after 1", err, calls)
		}
	})
	t.Run("missing path is an error", func(t *testing.T) {
		err := Walk(context.Background(), []string{filepath.Join(root, "nope")}, Limits{}, func(Batch) error { return nil })
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want not exist", err)
		}
	})
	t.Run("ReadFile reports I/O errors only", func(t *testing.T) {
		if _, err := ReadFile(filepath.Join(root, "nope.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want not exist", err)
		}
		b, err := ReadFile(filepath.Join(root, "a/notes.txt"))
		if err != nil || len(b.Problems) != 1 {
			t.Errorf("bad content: err %v, problems %v; want one problem and no error", err, summarise(b.Problems))
		}
	})
}
