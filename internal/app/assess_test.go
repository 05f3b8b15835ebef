package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

// TestStateConfirmationAndRecheck: the contractor's public policy is
// confirmed against the bucket's actual state (S3 fake), the message says
// so; then the bucket is fixed without any event reaching the bot, and the
// periodic re-check resolves the finding and updates Slack.
func TestStateConfirmationAndRecheck(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::111122223333:role/secops-bot")
	s3 := awsfake.NewS3()
	srv.Handle("s3", s3)
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"ShareWithPartner","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"}]}`
	s3.AddBucket("111122223333", awsfake.S3Bucket{Name: "payments-exports", Policy: policy, Tags: map[string]string{"data-classification": "internal"}})

	e.cfg.AWS.Enabled = true
	e.cfg.AWS.MemberRoleName = ""
	e.cfg.AWS.RecheckInterval = 5 * time.Minute
	awsCfg := aws.Config{
		Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIABOTEXAMPLE000001", "secret", ""),
	}
	// Time runs from an hour ahead so files dropped now count as settled.
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: testLogger(t), Clock: clk, AWS: &awsCfg, Ready: ready})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	<-ready

	// Only the contractor's events: no fix event ever arrives.
	var file struct {
		Records []json.RawMessage `json:"Records"`
	}
	b, err := os.ReadFile(storyOne)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	file.Records = file.Records[:5]
	out, _ := json.Marshal(file)
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "contractor.json"), string(out))

	e.wait(t, "the finding confirmed against the bucket's state", func() bool {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(string(m.Blocks), "AWS state confirms the exposure") {
				return true
			}
		}
		return false
	})
	if n := len(srv.CallsTo("s3", "GET ?policyStatus")); n == 0 {
		t.Error("GetBucketPolicyStatus was never called")
	}

	// Fixed out of band: no event. The next re-check must notice.
	s3.AddBucket("111122223333", awsfake.S3Bucket{Name: "payments-exports", Tags: map[string]string{"data-classification": "internal"}})
	clk.Advance(6 * time.Minute)
	e.wait(t, "the re-check resolving the finding in Slack", func() bool {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(m.Text, "RESOLVED") && strings.Contains(m.Text, "public") {
				return true
			}
		}
		return false
	})
}
