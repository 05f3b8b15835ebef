package sqsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

// The tests run against real SQS- and S3-compatible servers started as
// child processes: goaws for SQS and versitygw for S3.

const (
	testRegion    = "us-east-1"
	testAccessKey = "AKIDSQSOURCETEST"
	testSecretKey = "sqsource-test-secret"
)

// waitEmpty waits until every message has been deleted from the queue:
// none visible and none in flight (SQS counts the two apart; goaws counts
// in-flight messages among the visible ones too).
func waitEmpty(t *testing.T, s *testserver.SQS, queueURL string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := s.Depth(t, queueURL, true)
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
	bin := testserver.Binary(t, "versitygw")
	port := testserver.FreePort(t)
	root := t.TempDir()
	testserver.Start(t, port, bin,
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

// receiveCounter stands between a source and goaws and sets each received
// message's ApproximateReceiveCount, which goaws leaves at 1: SQS counts
// every receive, and the source stores a message that came back after a
// failure on its own. It returns the endpoint to give the source.
func receiveCounter(t *testing.T, upstream string) string {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, out, err := testserver.Relay(http.DefaultClient, r, upstream, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if r.Header.Get("X-Amz-Target") == "AmazonSQS.ReceiveMessage" && resp.StatusCode == http.StatusOK {
			var got struct {
				Messages []map[string]any
			}
			if json.Unmarshal(out, &got) == nil && len(got.Messages) > 0 {
				mu.Lock()
				for _, m := range got.Messages {
					id, _ := m["MessageId"].(string)
					counts[id]++
					attrs, _ := m["Attributes"].(map[string]any)
					if attrs == nil {
						attrs = map[string]any{}
					}
					attrs["ApproximateReceiveCount"] = strconv.Itoa(counts[id])
					m["Attributes"] = attrs
				}
				mu.Unlock()
				if out, err = json.Marshal(got); err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
			}
		}
		testserver.WriteRelayed(w, resp, out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
