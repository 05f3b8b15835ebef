package replicatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
)

// dsnEnv names the PostgreSQL the test runs against; scripts/test.sh sets
// it from scripts/start-postgres.sh.
const dsnEnv = "SECOPS_TEST_POSTGRES_DSN"

// findGoaws locates the goaws binary on PATH or where go install puts it,
// skipping the test when it is not installed.
func findGoaws(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("goaws"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var dirs []string
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
		for _, d := range dirs {
			p := filepath.Join(d, "goaws")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p
			}
		}
	}
	t.Skip("goaws is not installed: run .ci/install-goaws.sh")
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

// sqsServer is a goaws process with a client for the test's own calls.
type sqsServer struct {
	endpoint string
	client   *sqs.Client
}

// startSQS runs goaws until the test ends.
func startSQS(t *testing.T) *sqsServer {
	t.Helper()
	bin := findGoaws(t)
	port := freePort(t)
	// Without a Region goaws builds queue URLs on Host:Port directly.
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
	out := &tailBuffer{}
	cmd := exec.Command(bin, "-config", path, "-loglevel", "warn", "Local")
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start goaws: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("goaws output (tail):\n%s", out)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("goaws exited early (%v):\n%s", err, out)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goaws did not listen on %s:\n%s", addr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	endpoint := "http://" + addr
	return &sqsServer{endpoint: endpoint, client: sqs.NewFromConfig(aws.Config{
		Region:       awsRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
		BaseEndpoint: aws.String(endpoint),
	})}
}

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

func (s *sqsServer) send(t *testing.T, queueURL, body string) {
	t.Helper()
	if _, err := s.client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(queueURL), MessageBody: aws.String(body),
	}); err != nil {
		t.Fatalf("send message: %v", err)
	}
}

// depth counts the queue's messages, visible or in flight.
func (s *sqsServer) depth(t *testing.T, queueURL string) int {
	t.Helper()
	out, err := s.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("get queue attributes: %v", err)
	}
	total := 0
	for _, k := range []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	} {
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

// freshSchema creates an empty schema for the test, dropped when it ends,
// and returns a DSN whose connections use it; it skips the test when no
// PostgreSQL is configured.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set; run `eval \"$(scripts/start-postgres.sh)\"` to start a test PostgreSQL", dsnEnv)
	}
	ctx := context.Background()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "replicas_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", dsnEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// pendingSlack counts the Slack deliveries not yet done, leased or not:
// an item a killed replica held comes back when its lease runs out.
func pendingSlack(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM outbox WHERE done_at IS NULL AND kind LIKE 'slack.%'").Scan(&n); err != nil {
		t.Fatalf("count pending Slack deliveries: %v", err)
	}
	return n
}

// buildBot compiles the secops-bot command once per test run.
func buildBot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "secops-bot")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/secops-bot/secops-bot/cmd/secops-bot")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build secops-bot: %v\n%s", err, out)
	}
	return bin
}

// replica is one secops-bot serve process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan error
}

// startReplica runs `secops-bot serve` with env on top of a clean
// environment (no SECOPS_ or AWS_ variables of the caller leak in).
func startReplica(t *testing.T, bin, name, config string, env []string) *replica {
	t.Helper()
	// SECOPS_REPLICA_LOG_DIR keeps the logs after the test, for a closer
	// look at a failure.
	dir := os.Getenv("SECOPS_REPLICA_LOG_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SECOPS_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	r := &replica{name: name, cmd: cmd, log: logPath, exited: make(chan error, 1)}
	go func() {
		r.exited <- cmd.Wait()
		f.Close()
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(logPath, 6<<10))
		}
	})
	return r
}

// kill ends the process at once, as a crashed node or an OOM kill would.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", r.name, err)
	}
	err := <-r.exited
	r.exited <- err
}

// stop asks the process to shut down and kills it if it does not.
func (r *replica) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		r.exited <- err
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		err := <-r.exited
		r.exited <- err
	}
}

// alive reports whether the process is still running.
func (r *replica) alive() bool {
	select {
	case err := <-r.exited:
		r.exited <- err
		return false
	default:
		return true
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
