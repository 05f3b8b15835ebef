// Package serveproc runs `secops-bot serve` processes for end-to-end tests
// and benchmarks: it builds the command, starts it with a clean
// environment and a log file, stops or kills it, and gives each test an
// empty PostgreSQL schema to point it at. Functions take a testing.TB and
// fail or skip the test themselves, like internal/testkit/testserver.
package serveproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// buildDir is the directory build put the binary in, for RemoveBuild.
var buildDir atomic.Pointer[string]

// build compiles the command once per test binary run: every test of a
// package starts the same code, and a build takes seconds on a busy
// machine.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "secops-bot-bin-")
	if err != nil {
		return "", fmt.Errorf("build secops-bot: %w", err)
	}
	buildDir.Store(&dir)
	bin := filepath.Join(dir, "secops-bot")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/secops-bot/secops-bot/cmd/secops-bot").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build secops-bot: %w\n%s", err, out)
	}
	return bin, nil
})

// Build returns the path of a secops-bot binary built from this module,
// building it on the first call.
func Build(t testing.TB) string {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// RemoveBuild deletes the binary Build made, if it made one. A package's
// TestMain calls it once its tests have run: the binary is tens of
// megabytes, and every run of the tests would otherwise leave one in the
// temporary directory.
func RemoveBuild() {
	if dir := buildDir.Load(); dir != nil {
		os.RemoveAll(*dir)
	}
}

// Options holds what differs between the callers of Start.
type Options struct {
	// LogDir receives <name>.log; empty means a directory removed when
	// the test ends. A fixed directory keeps the logs for a closer look.
	LogDir string
	// StopGrace is how long Stop waits after SIGTERM before it kills the
	// process; zero means ten seconds.
	StopGrace time.Duration
	// FailureTail is how many bytes of the log are shown when the test
	// has failed; zero means 4 KiB.
	FailureTail int
}

// Process is one secops-bot serve process.
type Process struct {
	name      string
	cmd       *exec.Cmd
	log       string
	exited    chan error
	stopGrace time.Duration
}

// Start runs `bin serve --config config` with env on top of a clean
// environment (no SECOPS_ or AWS_ variables of the caller leak in), its
// output going to a log file. The process is stopped when the test ends,
// and the end of its log shown if the test failed.
func Start(t testing.TB, bin, name, config string, env []string, opts Options) *Process {
	t.Helper()
	dir := opts.LogDir
	if dir == "" {
		dir = t.TempDir()
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.FailureTail <= 0 {
		opts.FailureTail = 4 << 10
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
	p := &Process{name: name, cmd: cmd, log: logPath, exited: make(chan error, 1), stopGrace: opts.StopGrace}
	go func() {
		p.exited <- cmd.Wait()
		f.Close()
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, p.Tail(opts.FailureTail))
		}
	})
	return p
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// Pid is the operating system's id of the process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log is the path of the file the process writes its output to.
func (p *Process) Log() string { return p.log }

// Kill ends the process at once, as a crashed node or an OOM kill would,
// and waits until it is gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	err := <-p.exited
	p.exited <- err
}

// Stop asks the process to shut down and kills it if it does not within
// the grace period.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(p.stopGrace):
		_ = p.cmd.Process.Kill()
		err := <-p.exited
		p.exited <- err
	}
}

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

// Tail returns the last n bytes of the process's log, or why it could not
// be read.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreshSchema creates an empty PostgreSQL schema named prefix and a random
// suffix, dropped when the test ends, and returns a DSN whose connections
// use it. It skips the test when the environment variable dsnEnv names no
// PostgreSQL.
func FreshSchema(t testing.TB, dsnEnv, prefix string) string {
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
	schema := prefix + hex.EncodeToString(b[:])
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
