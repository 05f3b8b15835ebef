package app

import (
	"context"
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

// testParallel is how many of this package's tests run at once when
// -parallel is not given, unless the machine has more cores. They run
// whole bots against emulators and spend much of their time waiting for
// timers, pollers and retries, so more of them than a small machine has
// cores (go test's default) keep it busy; many more, under the race
// detector on two busy cores, starve the heaviest ones of the CPU they
// need to post their findings in time.
const testParallel = 4

// raiseParallel sets -test.parallel to testParallel unless the command
// line set it; TestMain calls it after flag.Parse.
func raiseParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(testParallel, runtime.GOMAXPROCS(0))))
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testLogger writes the bot's logs to the test log when SECOPS_TEST_LOG is
// set, and nowhere otherwise.
// testNow is the time these tests start the bot's clock at: now, or later
// by SECOPS_TEST_CLOCK_SHIFT (a Go duration). scripts/test.sh runs the
// story tests again a month and a year ahead, so a test that passes only
// near the day its fixtures were written fails in CI.
func testNow(t *testing.T) time.Time {
	t.Helper()
	v := os.Getenv("SECOPS_TEST_CLOCK_SHIFT")
	if v == "" {
		return time.Now()
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("SECOPS_TEST_CLOCK_SHIFT=%q: %v", v, err)
	}
	return time.Now().Add(d)
}

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("SECOPS_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// serveWithAWS runs Serve for e with the AWS fake srv as its AWS, signed
// as accessKey, and waits until it is ready and connected to Slack. stop
// ends it and reports an error Serve returned; later calls do nothing.
func (e *slackEnv) serveWithAWS(t *testing.T, clk clock.Clock, srv *awsfake.Server, accessKey string) (stop func()) {
	t.Helper()
	awsCfg := aws.Config{
		Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: testLogger(t), Clock: clk, AWS: &awsCfg, Ready: ready})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := e.emu.WaitConnected(wctx, 1); err != nil {
		stop()
		t.Fatal(err)
	}
	return stop
}
