package replicatest

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the store uses; read-only peeks while the bot runs

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/testkit/cttest"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/store"
)

// trailBucket is where the organisation trail delivers its log files.
const trailBucket = "org-trail-logs"

// s3Store is a versitygw instance the bot reads log files from, with a
// client for the test's own uploads.
type s3Store struct {
	endpoint string
	client   *s3.Client
}

// startS3 runs versitygw with the bot's credentials until the test ends.
func startS3(t *testing.T) *s3Store {
	t.Helper()
	bin := testserver.Binary(t, "versitygw")
	port := testserver.FreePort(t)
	testserver.Start(t, port, bin,
		"--access", botAccessKey, "--secret", botSecretKey,
		"--region", awsRegion,
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"posix", t.TempDir())
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := s3.NewFromConfig(aws.Config{
		Region:      awsRegion,
		Credentials: credentials.NewStaticCredentialsProvider(botAccessKey, botSecretKey, ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(trailBucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", trailBucket, err)
	}
	return &s3Store{endpoint: endpoint, client: client}
}

func (s *s3Store) put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(trailBucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", trailBucket, key, err)
	}
	return nil
}

// createQueues makes the event queue and its dead-letter queue: a message
// received maxReceives times without being deleted moves there.
func createQueues(t *testing.T, s *testserver.SQS, visibility, maxReceives int) (queueURL, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	dlqURL = s.CreateQueue(t, "secops-events-dlq", visibility)
	attrs, err := s.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dlqURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("dead-letter queue ARN: %v", err)
	}
	redrive, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceives),
	})
	out, err := s.Client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String("secops-events"),
		Attributes: map[string]string{
			"VisibilityTimeout": strconv.Itoa(visibility),
			"RedrivePolicy":     string(redrive),
		},
	})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return aws.ToString(out.QueueUrl), dlqURL
}

// sendAll puts bodies on the queue ten at a time.
func sendAll(ctx context.Context, c *sqs.Client, queueURL string, bodies []string) error {
	for len(bodies) > 0 {
		n := min(10, len(bodies))
		entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
		for i := range n {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(bodies[i])}
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("send messages: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("send messages: %d of %d failed: %s", len(out.Failed), n, aws.ToString(out.Failed[0].Message))
		}
		bodies = bodies[n:]
	}
	return nil
}

// logFile is one gzipped CloudTrail log file and the notification that
// announces it.
type logFile struct {
	key          string
	data         []byte
	notification string
}

// trailFiles turns n generated CloudTrail events (no exposures among them)
// into log files of perFile records each, as CloudTrail writes them: gzip
// JSON {"Records":[...]}. Every fifth file is announced the way CloudTrail
// itself does (its SNS notification, in an SNS envelope), the others by an
// S3 event notification.
func trailFiles(t *testing.T, r *rand.Rand, n, perFile int, seed int64) []logFile {
	t.Helper()
	var jsonl bytes.Buffer
	if _, err := corpus.Generate(&jsonl, n, seed, corpus.Options{Planted: -1}); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(jsonl.Bytes(), []byte("\n")), []byte("\n"))
	if n == 0 {
		lines = nil
	}
	var files []logFile
	for i := 0; i < len(lines); i += perFile {
		chunk := lines[i:min(i+perFile, len(lines))]
		var doc bytes.Buffer
		doc.WriteString(`{"Records":[`)
		doc.Write(bytes.Join(chunk, []byte(",")))
		doc.WriteString(`]}`)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		if _, err := zw.Write(doc.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		account := corpus.ProdAccount
		key := fmt.Sprintf("AWSLogs/o-crashtest01/%s/CloudTrail/%s/2024/03/05/%s_CloudTrail_%s_20240305T%04dZ_%016x.json.gz",
			account, awsRegion, account, awsRegion, len(files), r.Uint64())
		f := logFile{key: key, data: gz.Bytes()}
		if len(files)%5 == 4 {
			f.notification = cloudTrailSNS(r, key)
		} else {
			f.notification = s3Notification(r, key, len(gz.Bytes()))
		}
		files = append(files, f)
	}
	return files
}

// s3Notification is the S3 event notification for a new object; keys are
// form-encoded, as S3 sends them.
func s3Notification(r *rand.Rand, key string, size int) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1",
		"eventSource":  "aws:s3",
		"awsRegion":    awsRegion,
		"eventTime":    time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventName":    "ObjectCreated:Put",
		"userIdentity": map[string]any{"principalId": "AWS:AROAEXAMPLECLOUDTRAIL:regionalDeliverySession"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "cloudtrail-to-secops",
			"bucket": map[string]any{
				"name": trailBucket, "ownerIdentity": map[string]any{"principalId": "A3EXAMPLE"},
				"arn": "arn:aws:s3:::" + trailBucket,
			},
			"object": map[string]any{"key": strings.ReplaceAll(key, " ", "+"), "size": size, "eTag": fmt.Sprintf("%032x", r.Uint64()), "sequencer": fmt.Sprintf("%016X", r.Uint64())},
		},
	}}})
	return string(b)
}

// cloudTrailSNS is CloudTrail's own notification of a delivered log file,
// in the SNS envelope an SQS subscription receives.
func cloudTrailSNS(r *rand.Rand, key string) string {
	msg, _ := json.Marshal(map[string]any{"s3Bucket": trailBucket, "s3ObjectKey": []string{key}})
	b, _ := json.Marshal(map[string]any{
		"Type":             "Notification",
		"MessageId":        cttest.UUID(r),
		"TopicArn":         "arn:aws:sns:" + awsRegion + ":" + corpus.ProdAccount + ":cloudtrail-deliveries",
		"Message":          string(msg),
		"Timestamp":        time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": "1",
		"Signature":        "EXAMPLE",
	})
	return string(b)
}

// historyOf is every history row a payload should leave in the store.
func historyOf(t *testing.T, source string, data []byte) []store.Event {
	t.Helper()
	b := ingest.Parse(source, data)
	if len(b.Problems) > 0 {
		t.Fatalf("%s: generated input has problems: %v", source, b.Problems[0].Reason)
	}
	out := make([]store.Event, len(b.Records))
	for i := range b.Records {
		out[i] = pipeline.HistoryEvent(&b.Records[i])
	}
	return out
}

// crashConfig writes config.example.yaml with what the crash test
// changes: the emulators' endpoints, the store, Jira on, no AWS reads.
func crashConfig(t *testing.T, slackAPI, queueURL, jiraURL, driver, dsn string) string {
	t.Helper()
	return serveproc.Config(t, func(section func(string) map[string]any) {
		section("slack")["api_url"] = slackAPI
		section("store")["driver"] = driver
		section("store")["dsn"] = dsn
		section("ingest")["dir"] = ""
		section("ingest")["sqs_queue_url"] = queueURL
		// Reading AWS state is not what this test is about.
		section("aws")["enabled"] = false
		section("aws")["region"] = awsRegion
		section("metrics")["listen"] = ""
		j := section("jira")
		j["enabled"] = true
		j["base_url"] = jiraURL
		j["email"] = "bot@example.com"
		// The generated history is dated 2024: silence warnings about it
		// would be posted to #secops on every start and are not the subject.
		fh := section("feed_health")
		fh["max_silence"] = "0s"
		fh["accounts_regions"] = []any{}
	})
}

// pendingOutbox counts outbox items not yet done, leased or not, in the
// store the bot is using; the bot keeps running while it is read.
func pendingOutbox(t *testing.T, driver, dsn string) int {
	t.Helper()
	return peek(t, driver, dsn, "SELECT count(*) FROM outbox WHERE done_at IS NULL")
}

// storedEvents counts the events in history, or -1 before the store
// exists.
func storedEvents(t *testing.T, driver, dsn string) int {
	t.Helper()
	return peek(t, driver, dsn, "SELECT count(*) FROM events")
}

// peek runs a count query on the store while the bot may be using it: a
// separate read-only connection, which SQLite's WAL mode allows beside
// the bot's writer. It answers -1 when the schema does not exist yet.
func peek(t *testing.T, driver, dsn, q string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if driver == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	if _, err := os.Stat(dsn); err != nil {
		// Not created yet: the first process has not opened it.
		return -1
	}
	db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		// The schema may not exist yet.
		return -1
	}
	return n
}
