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

// TestOwnerTagRoutesToTeam: the contractor's public policy is raised in
// the account's team channel (payments); reading the bucket's state finds
// it tagged owner=Data, so its findings move to the data team's channel,
// and every thread says which tag moved them.
func TestOwnerTagRoutesToTeam(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::111122223333:role/secops-bot")
	s3 := awsfake.NewS3()
	srv.Handle("s3", s3)
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"ShareWithPartner","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"}]}`
	s3.AddBucket("111122223333", awsfake.S3Bucket{Name: "payments-exports", Policy: policy, Tags: map[string]string{"owner": "Data"}})

	e.cfg.AWS.Enabled = true
	e.cfg.AWS.MemberRoleName = ""
	e.cfg.Routing.OwnerTags = []string{"owner", "team"}
	awsCfg := aws.Config{
		Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIABOTEXAMPLE000001", "secret", ""),
	}
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

	data := e.channelNamed(t, "team-data")
	const why = "the resource's tag owner=Data names it (the account's team is payments); now routed to #team-data."
	said := func(channel string) bool {
		for _, top := range e.emu.Messages(channel) {
			for _, m := range e.emu.Replies(channel, top.TS) {
				if strings.Contains(string(m.Blocks), why) {
					return true
				}
			}
		}
		return false
	}
	e.wait(t, "the finding posted in the data team's channel, with the reason in its thread", func() bool {
		return len(topLevel(e.emu.Messages(data))) > 0 && said(data)
	})
	e.wait(t, "the payments thread told where the finding went", func() bool { return said(e.payments) })
	e.wait(t, "the SecOps thread told too", func() bool { return said(e.secops) })
	for _, m := range topLevel(e.emu.Messages(data)) {
		if !strings.Contains(string(m.Blocks), "team data") {
			t.Errorf("a message in the data team's channel does not name its team:\n%s", m.Blocks)
		}
	}
}
