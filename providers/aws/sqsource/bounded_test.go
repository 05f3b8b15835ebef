package sqsource

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

// gzipOf compresses head followed by n copies of fill.
func gzipOf(t *testing.T, head string, fill byte, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{fill}, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := zw.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSourceQuarantinesLogFilesThatBreakACap(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	s3srv := startS3(t)
	const bucket = "org-cloudtrail"
	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/"
	objects := map[string][]byte{
		"whitespace.json.gz": gzipOf(t, `{"Records":[`, ' ', 8<<20),
		"endless.json.gz":    gzipOf(t, `{"eventID":"`, 'A', 8<<20),
		"good.json.gz":       gzipBytes(t, readTestdata(t, "logfile.json")),
	}
	queueURL := sqsSrv.CreateQueue(t, "bombs", 30)
	for name, data := range objects {
		s3srv.put(t, bucket, prefix+name, data)
		sqsSrv.Send(t, queueURL, s3Event(t, "ObjectCreated:Put", bucket, url.QueryEscape(prefix+name)))
	}
	sink := &testSink{}
	opts := testOptions(s3srv)
	opts.Limits = ingest.Limits{MaxFileBytes: 4 << 20, MaxRecordBytes: 64 << 10, MaxLineBytes: 256 << 10}
	stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))
	waitEmpty(t, sqsSrv, queueURL, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	reasons := map[string][]string{}
	for _, p := range sink.problems() {
		reasons[path.Base(p.Source)] = append(reasons[path.Base(p.Source)], p.Reason)
	}
	want := map[string][]string{
		"whitespace.json.gz": {
			"more whitespace than the max_record_bytes cap of 65536 bytes before record 1 of the log file; skipped",
			"decompressed data exceeds the max_file_bytes cap of 4194304 bytes; stopped reading there, after 0 records",
		},
		"endless.json.gz": {
			"document is larger than the max_line_bytes cap of 262144 bytes and is not a CloudTrail log file; stopped reading",
		},
	}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("problems by object:\n%v\nwant\n%v", reasons, want)
	}
	if got := sink.eventIDs(); strings.Join(got, ",") != logFileEventID1+","+logFileEventID2 {
		t.Errorf("stored event IDs = %v, want the good log file's", got)
	}
}

// TestSourceSharesOneMemoryBudget reads two log files through a source
// with four workers whose memory budget holds one file's read: the second
// file is not read while the first is, and is once the first is done.
// With room for two, both are read at once.
func TestSourceSharesOneMemoryBudget(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	s3srv := startS3(t)
	const bucket = "org-cloudtrail"
	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/"
	data := gzipBytes(t, readTestdata(t, "logfile.json"))
	for _, name := range []string{"a.json.gz", "b.json.gz"} {
		s3srv.put(t, bucket, prefix+name, data)
	}
	perRead := ingest.Limits{}.StreamMemory()

	for _, tt := range []struct {
		name     string
		budget   int64
		together bool
	}{
		{"room for one read", perRead, false},
		{"room for two reads", 2 * perRead, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			queueURL := sqsSrv.CreateQueue(t, "budget-"+fmt.Sprint(tt.together), 30)
			for _, name := range []string{"a.json.gz", "b.json.gz"} {
				sqsSrv.Send(t, queueURL, s3Event(t, "ObjectCreated:Put", bucket, url.QueryEscape(prefix+name)))
			}
			var mu sync.Mutex
			var reading []string
			first := make(chan struct{})
			release := make(chan struct{})
			sink := &testSink{hook: func(ctx context.Context, b ingest.Batch) error {
				mu.Lock()
				reading = append(reading, path.Base(b.Source))
				n := len(reading)
				mu.Unlock()
				if n > 1 {
					return nil
				}
				// The first file holds its share of the budget until
				// released.
				close(first)
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
			opts := testOptions(s3srv)
			opts.MaxMemory = tt.budget
			opts.VisibilityTimeout = 10 * time.Second
			stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, opts))

			select {
			case <-first:
			case <-time.After(10 * time.Second):
				t.Fatal("no log file was read within 10s")
			}
			// Long enough for the other worker to reach the sink, had
			// it the budget to read.
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := len(reading)
				mu.Unlock()
				if n > 1 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			during := len(reading)
			mu.Unlock()
			close(release)
			waitEmpty(t, sqsSrv, queueURL, 15*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if together := during > 1; together != tt.together {
				t.Errorf("files read while the first was held: %d; want both at once: %v", during, tt.together)
			}
			if len(sink.eventIDs()) != 4 {
				t.Errorf("stored %d events, want both files' 4", len(sink.eventIDs()))
			}
		})
	}
}
