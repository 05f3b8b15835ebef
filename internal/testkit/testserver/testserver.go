// Package testserver runs the real servers some tests talk to (goaws for
// SQS, versitygw for S3) as child processes, and gives tests a client for
// their own calls. Tests skip, naming the install script, when a server is
// not installed; CI installs them. SQS can instead be the in-project fake
// (sqsfake), served from the test process.
package testserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/secops-bot/secops-bot/internal/testkit/sqsfake"
)

var goBinDirs = sync.OnceValue(func() []string {
	var dirs []string
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return dirs
})

// Binary locates a server binary on PATH or where go install puts it, and
// skips the test when it is not installed.
func Binary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range goBinDirs() {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	t.Skipf("%s is not installed: run .ci/install-%s.sh", name, name)
	return ""
}

// FreePort returns a loopback port nothing listens on.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TailBuffer keeps the last bytes a server wrote, to show when a test fails.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 8<<10; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}

// Start runs a server until the test ends and waits until its port accepts
// connections; its output is logged when the test fails.
func Start(t *testing.T, port int, bin string, args ...string) {
	t.Helper()
	out := &TailBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", filepath.Base(bin), out)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited early (%v):\n%s", bin, err, out)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s:\n%s", bin, addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SQS is an SQS server (goaws, or the in-project fake) with a client for
// the test's own calls.
type SQS struct {
	Endpoint string
	Client   *sqs.Client
}

// SQSServerEnv chooses the server StartSQS runs: "goaws" (the default) or
// "fake" for sqsfake, which answers a long poll as soon as a message is
// visible, as SQS does, where goaws looks every 100 ms.
const SQSServerEnv = "SECOPS_TEST_SQS"

// StartSQS starts an SQS server with no queues; tests create their own.
// config builds the test's AWS configuration for an endpoint. The server
// is goaws (v0.5.4 speaks the JSON protocol current SDKs use) unless
// SECOPS_TEST_SQS=fake.
func StartSQS(t *testing.T, config func(endpoint string) aws.Config) *SQS {
	t.Helper()
	switch v := os.Getenv(SQSServerEnv); v {
	case "", "goaws":
		return StartGoaws(t, config)
	case "fake":
		return StartSQSFake(t, config)
	default:
		t.Fatalf("%s=%q: want goaws or fake", SQSServerEnv, v)
		return nil
	}
}

// StartSQSFake serves sqsfake from the test process until the test ends.
func StartSQSFake(t *testing.T, config func(endpoint string) aws.Config) *SQS {
	t.Helper()
	srv := httptest.NewServer(sqsfake.New(sqsfake.Options{Account: "100010001000"}))
	t.Cleanup(srv.Close)
	return &SQS{Endpoint: srv.URL, Client: sqs.NewFromConfig(config(srv.URL))}
}

// StartGoaws runs goaws as a child process with no queues.
func StartGoaws(t *testing.T, config func(endpoint string) aws.Config) *SQS {
	t.Helper()
	bin := Binary(t, "goaws")
	port := FreePort(t)
	// Without a Region goaws builds queue URLs on Host:Port directly.
	conf := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: "%d"
  Account: "100010001000"
  LogToFile: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
  Queues: []
  Topics: []
`, port)
	path := filepath.Join(t.TempDir(), "goaws.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	Start(t, port, bin, "-config", path, "-loglevel", "warn", "Local")
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &SQS{Endpoint: endpoint, Client: sqs.NewFromConfig(config(endpoint))}
}

// CreateQueue creates a queue with the given visibility timeout in seconds
// and returns its URL.
func (s *SQS) CreateQueue(t *testing.T, name string, visibility int) string {
	t.Helper()
	out, err := s.Client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)},
	})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// Send puts a message on the queue and returns its ID.
func (s *SQS) Send(t *testing.T, queueURL, body string) string {
	t.Helper()
	out, err := s.Client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(queueURL),
		MessageBody: aws.String(body),
	})
	if err != nil {
		t.Fatalf("send message: %v", err)
	}
	return aws.ToString(out.MessageId)
}

// Depth counts the queue's visible messages, and with inFlight also those
// received but not yet deleted.
func (s *SQS) Depth(t *testing.T, queueURL string, inFlight bool) int {
	t.Helper()
	names := []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}
	if inFlight {
		names = append(names, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	}
	out, err := s.Client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL), AttributeNames: names,
	})
	if err != nil {
		t.Fatalf("get queue attributes: %v", err)
	}
	total := 0
	for _, k := range names {
		if v, ok := out.Attributes[string(k)]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s = %q: %v", k, v, err)
			}
			total += n
		}
	}
	return total
}
