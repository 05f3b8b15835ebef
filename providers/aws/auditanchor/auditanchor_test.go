package auditanchor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
	"github.com/secops-bot/secops-bot/ops/audit"
)

const (
	accessKey = "AKIAAUDITANCHORTEST1"
	secretKey = "audit-anchor-test-secret"
	region    = "eu-west-1"
)

// startS3 runs versitygw, a real S3 implementation with versioning and
// Object Lock, on a temporary directory.
func startS3(t *testing.T) (aws.Config, func(*s3.Options)) {
	t.Helper()
	bin := testserver.Binary(t, "versitygw")
	port := testserver.FreePort(t)
	testserver.Start(t, port, bin,
		"--access", accessKey, "--secret", secretKey, "--region", region,
		"--port", fmt.Sprintf("127.0.0.1:%d", port),
		"posix", "--versioning-dir", t.TempDir(), t.TempDir())
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")}
	return cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}
}

func TestAnchorsInS3(t *testing.T) {
	cfg, pathStyle := startS3(t)
	ctx := context.Background()
	c := s3.NewFromConfig(cfg, pathStyle)
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		bucket string
		lock   bool
	}{
		{"audit-plain", false},
		{"audit-locked", true},
	} {
		t.Run(tc.bucket, func(t *testing.T) {
			if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(tc.bucket), ObjectLockEnabledForBucket: aws.Bool(tc.lock)}); err != nil {
				t.Fatal(err)
			}
			st := New(cfg, Options{Bucket: tc.bucket, Clock: clock.NewFake(now), Retention: 24 * time.Hour, S3Options: []func(*s3.Options){pathStyle}})
			if _, ok, err := st.Newest(ctx); err != nil || ok {
				t.Fatalf("empty bucket: newest %v %v", ok, err)
			}
			for _, seq := range []int64{9, 10, 120} {
				if err := st.Put(ctx, audit.Anchor{Seq: seq, Hash: fmt.Sprintf("hmac-k1:%04x", seq), At: now}); err != nil {
					t.Fatal(err)
				}
			}
			a, ok, err := st.Newest(ctx)
			if err != nil || !ok || a.Seq != 120 || a.Hash != "hmac-k1:0078" {
				t.Fatalf("newest = %+v %v %v, want record 120 (keys must sort by number)", a, ok, err)
			}
			ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(tc.bucket), Key: aws.String(st.key(120))})
			if !tc.lock {
				if err == nil && ret.Retention != nil && ret.Retention.Mode != "" {
					t.Errorf("anchor in a bucket without Object Lock has retention %+v", ret.Retention)
				}
				return
			}
			if err != nil {
				t.Fatalf("retention of the anchor: %v", err)
			}
			if ret.Retention.Mode != types.ObjectLockRetentionModeCompliance || !aws.ToTime(ret.Retention.RetainUntilDate).Equal(now.Add(24*time.Hour)) {
				t.Errorf("retention = %s until %v, want COMPLIANCE until %v", ret.Retention.Mode, aws.ToTime(ret.Retention.RetainUntilDate), now.Add(24*time.Hour))
			}
		})
	}
}
