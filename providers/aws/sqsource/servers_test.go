package sqsource

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The tests run against real SQS- and S3-compatible servers started as
// child processes: goaws for SQS and versitygw for S3.

const (
	testRegion    = "us-east-1"
	testAccessKey = "AKIDSQSOURCETEST"
	testSecretKey = "sqsource-test-secret"
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

// findServer locates a server binary on PATH or where go install puts it,
// and skips the test when it is not installed.
func findServer(t *testing.T, name string) string {
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tailBuffer keeps the last bytes a server wrote, to show when a test fails.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 8<<10; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.Clone(b.buf))
}

// startProcess runs a server until the test ends and waits until its port
// accepts connections.
func startProcess(t *testing.T, port int, bin string, args ...string) {
	t.Helper()
	out := &tailBuffer{}
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

// sqsServer is a goaws instance.
type sqsServer struct {
	endpoint string
	client   *sqs.Client
}

// startSQS starts goaws with no queues; tests create their own.
func startSQS(t *testing.T) *sqsServer {
	t.Helper()
	bin := findServer(t, "goaws")
	port := freePort(t)
	// goaws reads the environment named on its command line from this
	// file; without a Region it builds queue URLs on Host:Port directly.
	conf := fmt.Sprintf(`Local:
  Host: 127.0.0.1
  Port: "%d"
  AccountId: "100010001000"
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
	startProcess(t, port, bin, "-config", path, "-loglevel", "warn", "Local")
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &sqsServer{endpoint: endpoint, client: sqs.NewFromConfig(testConfig(endpoint))}
}

// createQueue creates a queue with the given visibility timeout in seconds
// and returns its URL.
func (s *sqsServer) createQueue(t *testing.T, name string, visibility int) string {
	t.Helper()
	out, err := s.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)},
	})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func (s *sqsServer) send(t *testing.T, queueURL, body string) string {
	t.Helper()
	out, err := s.client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(queueURL),
		MessageBody: aws.String(body),
	})
	if err != nil {
		t.Fatalf("send message: %v", err)
	}
	return aws.ToString(out.MessageId)
}

// messagesOnQueue counts the queue's messages, visible or in flight.
func (s *sqsServer) messagesOnQueue(t *testing.T, queueURL string) int {
	t.Helper()
	out, err := s.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatalf("get queue attributes: %v", err)
	}
	n, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		t.Fatalf("ApproximateNumberOfMessages: %v", err)
	}
	return n
}

// waitEmpty waits until every message has been deleted from the queue.
func (s *sqsServer) waitEmpty(t *testing.T, queueURL string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := s.messagesOnQueue(t, queueURL)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue still holds %d messages after %v", n, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// s3Server is a versitygw instance serving a directory.
type s3Server struct {
	endpoint string
	client   *s3.Client
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin := findServer(t, "versitygw")
	port := freePort(t)
	root := t.TempDir()
	startProcess(t, port, bin,
		"--access", testAccessKey, "--secret", testSecretKey,
		"--region", testRegion,
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"posix", root)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &s3Server{
		endpoint: endpoint,
		client:   s3.NewFromConfig(testConfig(endpoint), s3PathStyle(endpoint)),
	}
}

func (s *s3Server) put(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("create bucket %s: %v", bucket, err)
		}
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// s3PathStyle points an S3 client at a local server, which cannot serve
// virtual-hosted bucket names.
func s3PathStyle(endpoint string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}
}

// testConfig is what config.LoadDefaultConfig would produce for a
// deployment whose endpoint is overridden, without touching the process
// environment.
func testConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint: aws.String(endpoint),
	}
}
