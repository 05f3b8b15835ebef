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
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// countingSink counts the records a sink stored and the calls it took.
type countingSink struct {
	next           ingest.Sink
	records, calls atomic.Int64
}

func (c *countingSink) Ingest(ctx context.Context, b ingest.Batch) error {
	c.calls.Add(1)
	if err := c.next.Ingest(ctx, b); err != nil {
		return err
	}
	c.records.Add(int64(len(b.Records)))
	return nil
}

// BenchmarkSourceIntoSQLite drains a queue of EventBridge messages, one
// generated CloudTrail event each (SECOPS_BENCH_EVENTS, default 5,000), into
// a fresh SQLite store through the pipeline with every rule of the example
// configuration, as serve does. "per-message" holds no more messages than
// it runs sink calls, so every message is its own transaction, as before
// group commit; "combined" uses the defaults (four sink calls at once, as
// serve's default ingest.sqs_workers); "combined-one-call" runs one sink
// call at a time, which suits SQLite's single writer best.
//
// goaws now and then loses track of a received message until its
// visibility ends, so the visibility is short here to keep such a stall
// from dominating a run.
func BenchmarkSourceIntoSQLite(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("SECOPS_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	var buf bytes.Buffer
	if _, err := corpus.Generate(&buf, n, 1, corpus.Options{}); err != nil {
		b.Fatal(err)
	}
	var bodies []string
	for i, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		bodies = append(bodies, fmt.Sprintf(`{"version":"0","id":"bench-%d","detail-type":"AWS API Call via CloudTrail","source":"aws.cloudtrail","resources":[],"detail":%s}`, i, line))
	}
	l, err := config.Load(filepath.Join("..", "..", "..", "config.example.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	cfg := l.Config
	dir, err := org.New(cfg.OrgOptions())
	if err != nil {
		b.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"per-message", Options{Concurrency: 4, MaxInFlight: 4}},
		{"combined", Options{Concurrency: 4}},
		{"combined-one-call", Options{Concurrency: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sqsSrv := startBenchSQS(b)
			var spent time.Duration
			var calls int64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				ctx := context.Background()
				queueURL := createBenchQueue(b, sqsSrv, fmt.Sprintf("bench-%s-%d", tc.name, i))
				sendBench(b, sqsSrv, queueURL, bodies)
				st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Logger: zerolog.Nop()})
				if err != nil {
					b.Fatal(err)
				}
				p := pipeline.New(pipeline.Options{
					Store: st, Detector: detect.NewEngine(dir), Directory: dir,
					Enricher: enrich.New(dir, st, cfg.EnrichOptions()), Router: route.New(dir),
					Planner: delivery.Planner{}, Logger: zerolog.Nop(),
				})
				sink := &countingSink{next: p}
				opts := tc.opts
				opts.WaitTime = time.Second
				opts.VisibilityTimeout = 2 * time.Second
				src := New(testConfig(sqsSrv.endpoint), queueURL, sink, zerolog.Nop(), opts)
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- src.Run(runCtx) }()
				for sink.records.Load() < int64(n) {
					time.Sleep(time.Millisecond)
				}
				spent += time.Since(start)
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				calls += sink.calls.Load()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/spent.Seconds(), "events/s")
			b.ReportMetric(float64(calls)/float64(b.N), "ingest-calls/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startBenchSQS runs goaws for a benchmark; testserver's helpers take a
// *testing.T.
func startBenchSQS(b *testing.B) *benchSQS {
	b.Helper()
	bin, err := exec.LookPath("goaws")
	if err != nil {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(out)), "bin", "goaws")
		if _, err := os.Stat(bin); err != nil {
			b.Skip("goaws is not installed: run .ci/install-goaws.sh")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("Local:\n  Host: 127.0.0.1\n  Port: \"%d\"\n  AccountId: \"100010001000\"\n  LogToFile: false\n  QueueAttributeDefaults:\n    VisibilityTimeout: 30\n    ReceiveMessageWaitTimeSeconds: 0\n  Queues: []\n  Topics: []\n", port)
	path := filepath.Join(b.TempDir(), "goaws.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", path, "-loglevel", "warn", "Local")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("goaws did not start")
		}
	}
	return &benchSQS{endpoint: endpoint, client: sqs.NewFromConfig(testConfig(endpoint))}
}

type benchSQS struct {
	endpoint string
	client   *sqs.Client
}

func createBenchQueue(b *testing.B, s *benchSQS, name string) string {
	b.Helper()
	out, err := s.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		b.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// sendBench puts the bodies on the queue ten at a time.
func sendBench(b *testing.B, s *benchSQS, queueURL string, bodies []string) {
	b.Helper()
	for start := 0; start < len(bodies); start += maxReceiveBatch {
		var entries []types.SendMessageBatchRequestEntry
		for i := start; i < min(start+maxReceiveBatch, len(bodies)); i++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i - start)), MessageBody: aws.String(bodies[i])})
		}
		out, err := s.client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			b.Fatalf("send messages: %v %+v", err, out)
		}
	}
}
