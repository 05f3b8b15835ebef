// Package bombtest runs the built secops-bot over gzip bombs, as whoever
// can write into the trail bucket could deliver them, and checks what an
// operator would see: the bot stays up and under its memory target, each
// bomb is set aside in quarantine with the cap it broke, and the good file
// next to them still raises its finding. It measures peak memory on the
// child process (the kernel's high-water mark), not on the test. It holds
// tests only.
package bombtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
)

const (
	// bombSize is what each bomb expands to.
	bombSize = 1 << 30
	// peakTarget is the most memory a process may reach while reading
	// the bombs.
	peakTarget = 512 << 20

	goodEventID = "0b6f2e1c-4a5d-4e8f-9a1b-2c3d4e5f6a7b"
	goodRule    = "snapshot-shared-external"
)

// bomb is one hostile file and the cap it must be refused by.
type bomb struct {
	name   string
	head   string
	fill   byte
	reason string
}

// bombs are the two shapes a small file can take to expand without end:
// a log file whose Records array is whitespace, and JSON Lines whose
// second line never ends.
var bombs = []bomb{
	{
		name:   "whitespace.json.gz",
		head:   `{"Records":[`,
		fill:   ' ',
		reason: "more whitespace than the max_record_bytes cap of 2097152 bytes before record 1 of the log file",
	},
	{
		name:   "endless-line.json.gz",
		head:   `{"eventID":"c4f0d0b2-1e1f-4d47-8a55-0f5bb0e6f1a9","eventName":"ListBuckets","eventTime":"2024-03-05T00:00:00Z"}` + "\n" + `{"eventID":"`,
		fill:   'A',
		reason: "line is longer than the max_line_bytes cap of 8388608 bytes; skipped",
	},
}

// memberSize is the size of each gzip member of a bomb.
const memberSize = 64 << 20

// gzipMember compresses data as one gzip member.
func gzipMember(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeBomb returns a gzip file that expands to exactly bombSize bytes: the
// head, then fill. It is made of gzip members, which every gzip reader
// reads as one stream; the 64 MiB member of fill is compressed once and
// repeated, so that a gigabyte is made in a fraction of a second. It comes
// to about 1.3 MB.
func makeBomb(t testing.TB, b bomb) []byte {
	t.Helper()
	fill := bytes.Repeat([]byte{b.fill}, memberSize)
	first := gzipMember(t, append([]byte(b.head), fill[len(b.head):]...))
	rest := gzipMember(t, fill)
	out := bytes.NewBuffer(first)
	for range bombSize/memberSize - 1 {
		out.Write(rest)
	}
	return out.Bytes()
}

// goodLogFile is a CloudTrail log file holding one exposure: an RDS
// snapshot shared with an account nobody knows, by the payments team's
// production account.
func goodLogFile(t testing.TB, at time.Time) []byte {
	t.Helper()
	rec := map[string]any{
		"eventVersion":       "1.08",
		"eventID":            goodEventID,
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        "rds.amazonaws.com",
		"eventName":          "ModifyDBSnapshotAttribute",
		"awsRegion":          "eu-west-1",
		"sourceIPAddress":    "203.0.113.7",
		"userAgent":          "aws-cli/2.15.0",
		"recipientAccountId": "111122223333",
		"userIdentity": map[string]any{
			"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/x", "accountId": "111122223333", "userName": "x",
		},
		"requestParameters": map[string]any{
			"dBSnapshotIdentifier": "payments-nightly", "attributeName": "restore", "valuesToAdd": []string{"999988887777"},
		},
	}
	doc, err := json.Marshal(map[string]any{"Records": []any{rec}})
	if err != nil {
		t.Fatal(err)
	}
	return gzipMember(t, doc)
}

// writeInputs writes the bombs and the good log file into dir, last
// changed an hour ago so that a directory source takes them at once.
func writeInputs(t testing.TB, dir string, at time.Time) {
	t.Helper()
	files := map[string][]byte{"good.json.gz": goodLogFile(t, at)}
	for _, b := range bombs {
		files[b.name] = makeBomb(t, b)
	}
	old := time.Now().Add(-time.Hour)
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// measureEnv, when set, makes the test binary run the command in its
// arguments instead of the tests and write the command's peak resident
// memory, in bytes, to the file it names.
//
// The kernel counts in a child's peak the memory of the process it was
// forked from, up to the exec: a test that ran the bot itself would
// measure its own gigabyte of bombs. So the test re-executes its binary,
// small when it starts, and that binary runs the bot.
const measureEnv = "SECOPS_BOMBTEST_PEAK_FILE"

func TestMain(m *testing.M) {
	if out := os.Getenv(measureEnv); out != "" {
		os.Exit(measure(out, os.Args[1:]))
	}
	code := m.Run()
	serveproc.RemoveBuild()
	os.Exit(code)
}

func measure(out string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, measureEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Maxrss is in KiB on Linux.
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	if err := os.WriteFile(out, []byte(strconv.FormatInt(peak, 10)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return cmd.ProcessState.ExitCode()
}

// runMeasured runs name with args and env to its end and returns its peak
// resident memory in bytes.
func runMeasured(t *testing.T, env []string, stdout, stderr *bytes.Buffer, name string, args ...string) (int64, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "peak")
	cmd := exec.Command(os.Args[0], append([]string{name}, args...)...)
	cmd.Env = append(env, measureEnv+"="+out)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	raw, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("%s ran unmeasured: %v (%v)\n%s", name, rerr, err, stderr)
	}
	peak, perr := strconv.ParseInt(string(raw), 10, 64)
	if perr != nil {
		t.Fatal(perr)
	}
	return peak, err
}
