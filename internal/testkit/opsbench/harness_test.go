// Package opsbench measures the operations figures of docs/benchmarks.md
// with real `secops-bot serve` processes, an SQS server (the in-project
// fake, or goaws), the Slack emulator and SQLite or PostgreSQL:
// event-to-post latency under background traffic,
// throughput with one and two replicas, and resident memory over a large
// store. It holds tests only; they are heavy and run only with
// SECOPS_OPSBENCH=1 (scripts/opsbench.sh, make opsbench). Sizes come from
// the environment so that a harness can be tried small and run full size
// on a quiet machine.
package opsbench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

const (
	awsRegion    = "eu-west-1"
	botAccessKey = "AKIDSECOPSOPSBENCH01"
	botSecretKey = "opsbench-secret"
	appToken     = "xapp-opsbench"
	botToken     = "xoxb-opsbench"
	dsnEnv       = "SECOPS_TEST_POSTGRES_DSN"
)

// heavy skips a test unless SECOPS_OPSBENCH=1: each starts bot processes
// and runs for minutes at full size.
func heavy(t *testing.T) {
	t.Helper()
	if os.Getenv("SECOPS_OPSBENCH") != "1" {
		t.Skip("operations benchmark: set SECOPS_OPSBENCH=1 (scripts/opsbench.sh)")
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, to print
// beside a figure: on a shared machine the figures mean little without
// them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// result prints one measured figure in a form scripts/opsbench.sh picks
// out of the test output.
func result(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT "+format, args...)
}

// startSQS starts the queue server SECOPS_OPSBENCH_SQS names: "fake" (the
// default) serves sqsfake from the test process, whose long poll answers
// as soon as a message is visible, as SQS does; "goaws" runs goaws, whose
// long poll looks for messages every 100 ms and which at times hides a
// message for its whole visibility timeout without delivering it, both
// of which then bound the figures.
func startSQS(t *testing.T) *testserver.SQS {
	t.Helper()
	config := func(endpoint string) aws.Config {
		return aws.Config{
			Region:       awsRegion,
			Credentials:  credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
			BaseEndpoint: aws.String(endpoint),
		}
	}
	switch v := os.Getenv("SECOPS_OPSBENCH_SQS"); v {
	case "", "fake":
		return testserver.StartSQSFake(t, config)
	case "goaws":
		return testserver.StartGoaws(t, config)
	default:
		t.Fatalf("SECOPS_OPSBENCH_SQS=%q: want fake or goaws", v)
		return nil
	}
}

// sendBatch puts up to ten bodies on the queue in one call.
func sendBatch(ctx context.Context, c *sqs.Client, queueURL string, bodies []string) error {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(bodies))
	for i, b := range bodies {
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(b)}
	}
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("%d of %d messages refused: %s", len(out.Failed), len(bodies), aws.ToString(out.Failed[0].Message))
	}
	return nil
}

// queueDepth is the number of messages not yet deleted, visible or
// received.
func queueDepth(ctx context.Context, c *sqs.Client, queueURL string) (int, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	m, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return n + m, nil
}

// freshSchema creates an empty PostgreSQL schema dropped when the test ends
// and returns a DSN whose connections use it; it skips without a DSN.
func freshSchema(t *testing.T) string {
	t.Helper()
	return serveproc.FreshSchema(t, dsnEnv, "opsbench_")
}

// buildBot compiles secops-bot once per test binary run; SECOPS_OPSBENCH_BIN
// uses a binary built beforehand instead (to compare two versions).
func buildBot(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SECOPS_OPSBENCH_BIN"); bin != "" {
		return bin
	}
	return serveproc.Build(t)
}

// workspace is the Slack side: the emulator and the channels the example
// configuration names.
type workspace struct {
	emu    *slackemu.Server
	secops string
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	emu := slackemu.New(slackemu.Options{TeamID: "T0OPSBENCH", BotToken: botToken, AppToken: appToken})
	emu.Start()
	t.Cleanup(emu.Close)
	w := &workspace{emu: emu}
	w.secops = emu.PutChannel(slackemu.Channel{Name: "secops"})
	for _, name := range []string{"secops-approvals", "team-payments", "team-data"} {
		emu.PutChannel(slackemu.Channel{Name: name})
	}
	for _, g := range []string{"secops-responders", "secops-managers", "secops-admins"} {
		emu.PutUsergroup(slackemu.Usergroup{Handle: g, Users: []string{}})
	}
	return w
}

// writeConfig writes config.example.yaml as a deployment behind the
// emulators would change it; secrets and the DSN come from the environment.
func writeConfig(t *testing.T, emu *slackemu.Server, queueURL, driver string) string {
	t.Helper()
	// SECOPS_OPSBENCH_METRICS (e.g. 127.0.0.1:9464) serves the bot's
	// /metrics during a run, to break a latency down.
	return writeConfigMetrics(t, emu, queueURL, driver, os.Getenv("SECOPS_OPSBENCH_METRICS"))
}

// writeConfigMetrics is writeConfig with the bot's /metrics served on
// metrics (none when empty): replicas side by side need one each.
func writeConfigMetrics(t *testing.T, emu *slackemu.Server, queueURL, driver, metrics string) string {
	t.Helper()
	return serveproc.Config(t, func(section func(string) map[string]any) {
		section("slack")["api_url"] = emu.APIURL()
		section("store")["driver"] = driver
		section("store")["dsn"] = ""
		section("ingest")["dir"] = ""
		section("ingest")["sqs_queue_url"] = queueURL
		if w := os.Getenv("SECOPS_OPSBENCH_SQS_WORKERS"); w != "" {
			n, err := strconv.Atoi(w)
			if err != nil {
				t.Fatalf("SECOPS_OPSBENCH_SQS_WORKERS=%q: %v", w, err)
			}
			section("ingest")["sqs_workers"] = n
		}
		// Reading AWS state is not what is measured; without it a finding is
		// raised from the event alone.
		section("aws")["enabled"] = false
		section("aws")["region"] = awsRegion
		section("metrics")["listen"] = metrics
		section("log")["level"] = "info"
	})
}

// botEnv is the environment of a replica: credentials for the emulators and
// the store's DSN (a SQLite path or a PostgreSQL URL).
func botEnv(sqsEndpoint, dsn string) []string {
	return []string{
		"SECOPS_SLACK_APP_TOKEN=" + appToken,
		"SECOPS_SLACK_BOT_TOKEN=" + botToken,
		"SECOPS_STORE_DSN=" + dsn,
		"AWS_ENDPOINT_URL_SQS=" + sqsEndpoint,
		"AWS_ACCESS_KEY_ID=" + botAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + botSecretKey,
		"AWS_REGION=" + awsRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// startReplica runs `secops-bot serve` with env on top of a clean
// environment (no SECOPS_ or AWS_ variables of the caller leak in).
func startReplica(t *testing.T, bin, name, config string, env []string) *serveproc.Process {
	t.Helper()
	return serveproc.Start(t, bin, name, config, env, serveproc.Options{
		LogDir:      os.Getenv("SECOPS_OPSBENCH_LOG_DIR"),
		StopGrace:   15 * time.Second,
		FailureTail: 4 << 10,
	})
}

// waitConnected waits until n replicas hold a Socket Mode connection, which
// serve opens once its store and sources are up.
func waitConnected(t *testing.T, emu *slackemu.Server, n int, bots ...*serveproc.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := emu.Wait(ctx, func() bool { return len(emu.Connections()) >= n }); err != nil {
		for _, b := range bots {
			t.Logf("%s log (tail):\n%s", b.Name(), b.Tail(4<<10))
		}
		t.Fatalf("waiting for %d Socket Mode connections: %v", n, err)
	}
	for _, b := range bots {
		if !b.Alive() {
			t.Fatalf("%s exited:\n%s", b.Name(), b.Tail(4<<10))
		}
	}
}

// percentile returns the p-th percentile (0–100) of ds by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
