package replicatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/internal/testserver"
)

// dsnEnv names the PostgreSQL the test runs against; scripts/test.sh sets
// it from scripts/start-postgres.sh.
const dsnEnv = "SECOPS_TEST_POSTGRES_DSN"

// startSQS runs goaws until the test ends.
func startSQS(t *testing.T) *testserver.SQS {
	t.Helper()
	return testserver.StartSQS(t, func(endpoint string) aws.Config {
		return aws.Config{
			Region:       awsRegion,
			Credentials:  credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
			BaseEndpoint: aws.String(endpoint),
		}
	})
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
