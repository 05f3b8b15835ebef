package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

// thread returns the replies of the finding's message in a channel.
func (e *slackEnv) thread(ch string) []slackemu.Message {
	top := topLevel(e.emu.Messages(ch))
	if len(top) == 0 {
		return nil
	}
	return e.emu.Replies(ch, top[0].TS)
}

func replyWith(msgs []slackemu.Message, text string) (slackemu.Message, bool) {
	for _, m := range msgs {
		if strings.Contains(m.Text, text) || strings.Contains(string(m.Blocks), text) {
			return m, true
		}
	}
	return slackemu.Message{}, false
}

// TestStoryOneWhatItHoldsAndWhoReadIt runs story one with AWS: the
// finding says what payments-exports holds (a few exports, no sensitive
// data found by Macie yet); once the admin's fix resolves it, the bot
// answers who read the bucket while it was public, from the data events
// on its feed and the bucket's server access logs, with where that answer
// comes from. Closing the review records that answer, on the ticket too.
func TestStoryOneWhatItHoldsAndWhoReadIt(t *testing.T) {
	t.Parallel()
	const payments = "111122223333"
	e := newSlackEnv(t)
	jf := jirafake.New(jirafake.Options{})
	t.Cleanup(jf.Close)
	e.cfg.Jira.Enabled, e.cfg.Jira.BaseURL, e.cfg.Jira.Email, e.cfg.Jira.APIToken = true, jf.URL, "bot@example.com", "jira-token"

	srv := awsfake.New()
	t.Cleanup(srv.Close)
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::"+payments+":role/secops-bot")
	s3, macie, ct := awsfake.NewS3(), awsfake.NewMacie(), awsfake.NewCloudTrail()
	srv.Handle("s3", s3)
	srv.Handle("macie2", macie)
	srv.Handle("cloudtrail", ct)
	// The bucket after the fix: its exports, encrypted, logged.
	s3.AddBucket(payments, awsfake.S3Bucket{Name: "payments-exports", Encryption: &awsfake.S3Encryption{Algorithm: "AES256"},
		Logging: &awsfake.S3Logging{TargetBucket: "acme-s3-access-logs", TargetPrefix: "payments-exports/"}})
	exported := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	for i, k := range []string{"exports/2026-11-24/settlements.csv", "exports/2026-11-25/settlements.csv", "exports/2026-11-26/settlements.csv"} {
		if err := s3.PutObject("payments-exports", awsfake.S3Object{Key: k, Size: 18_000, LastModified: exported.Add(time.Duration(i) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	s3.AddBucket(payments, awsfake.S3Bucket{Name: "payments-public-assets"})
	s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-s3-access-logs"})
	accessLog, err := os.ReadFile(filepath.Join("testdata", "story-one-access-log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.PutObject("acme-s3-access-logs", awsfake.S3Object{Key: "payments-exports/2026-11-26-15-10-22-5A2B6C4D8E0F1A3B", Body: accessLog, LastModified: exported}); err != nil {
		t.Fatal(err)
	}
	macie.Enable(payments, "eu-central-1")
	ct.AddTrail(awsfake.CTTrail{Name: "org-trail", Account: "999900001111", Organization: true, MultiRegion: true, Advanced: []awsfake.CTAdvancedSelector{
		{Name: "Management events", FieldSelectors: []awsfake.CTFieldSelector{{Field: "eventCategory", Equals: []string{"Management"}}}},
		{Name: "S3 object reads", FieldSelectors: []awsfake.CTFieldSelector{{Field: "eventCategory", Equals: []string{"Data"}}, {Field: "resources.type", Equals: []string{"AWS::S3::Object"}}}},
	}})

	e.cfg.AWS.Enabled, e.cfg.AWS.MemberRoleName, e.cfg.AWS.RecheckInterval = true, "", time.Hour
	e.cfg.AWS.AccessLogBuckets = []string{"acme-s3-access-logs"}
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	stop := e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	defer stop()

	// The data events of the window arrive in a file of their own, read
	// before the story's (the directory is read in name order).
	e.drop(t, "a-reads.json", filepath.Join("testdata", "story-one-reads.json"))
	e.drop(t, "b-story-one.json", storyOne)

	e.wait(t, "the finding, resolved, saying what the bucket holds", func() bool {
		s := topLevel(e.emu.Messages(e.secops))
		return len(s) == 1 && strings.Contains(s[0].Text, "RESOLVED") &&
			strings.Contains(string(s[0].Blocks), "What it holds:* 3 objects") &&
			strings.Contains(string(s[0].Blocks), "Amazon Macie has no sensitive-data finding for this bucket")
	})

	// Five minutes after the resolution the bot answers who read it.
	clk.Advance(6 * time.Minute)
	var answer slackemu.Message
	e.wait(t, "the answer in the SecOps thread", func() bool {
		var ok bool
		answer, ok = replyWith(e.thread(e.secops), "Who read it while it was exposed")
		return ok
	})
	text := string(answer.Blocks)
	for _, want := range []string{
		"3 principals outside the organisation (anonymous included) read it",
		"*anonymous* — 2 calls (GetObject ×2) from `198.51.100.23`",
		"*AIDAZ7EXAMPLEOUTSIDE1* of account `444455556666` (unknown account) — 2 calls (GetObject ×1, ListObjects ×1) from `203.0.113.77`",
		"*arn:aws:iam::444455556666:user/scraper* (unknown account) — 1 call (HeadObject ×1)",
		"settlements copy.csv",
		"2 reads by the organisation's own principals (counted, not kept)",
		"CloudTrail data events of trail org-trail; server access logs in s3://acme-s3-access-logs/payments-exports/ (1 files read)",
		`"action_id":"finding.review"`, `"action_id":"exposure.check"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
	e.wait(t, "the answer in the owning team's thread", func() bool {
		_, ok := replyWith(e.thread(e.payments), "Who read it while it was exposed")
		return ok
	})
	e.wait(t, "the message showing the answer", func() bool {
		s := topLevel(e.emu.Messages(e.secops))
		return strings.Contains(string(s[0].Blocks), "Who read it while it was exposed")
	})

	// Closing the review under the answer records it, on the ticket too.
	if _, err := e.emu.ClickButton(context.Background(), slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: answer.TS, ActionID: "finding.review"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the review closed on that answer", func() bool {
		_, ok := replyWith(e.thread(e.secops), "Answer recorded: 3 principals outside the organisation")
		return ok
	})
	e.wait(t, "the ticket told the answer and who closed the review", func() bool {
		var answered, closed bool
		for _, is := range jf.Issues() {
			for _, c := range is.Comments {
				answered = answered || strings.HasPrefix(c.Text, "Who read it while it was exposed:") && strings.Contains(c.Text, "anonymous: 2 calls from 198.51.100.23")
				closed = closed || strings.HasPrefix(c.Text, "Exposure review closed by") && strings.Contains(c.Text, "3 principals outside the organisation")
			}
		}
		return answered && closed
	})
}

// TestStoryTwoKeyAndWhoUsedIt runs story two with the snapshot encrypted
// by a customer-managed key whose policy lets the unknown account use it:
// the finding says the share is usable and why; Contain… offers to take
// the account off the key, and does; once the share is removed, the bot
// answers that the account did use the key, from the key's events, though
// the key was read again after the containment and no longer lets the
// account in (the share is removed only once that read is stored).
func TestStoryTwoKeyAndWhoUsedIt(t *testing.T) {
	t.Parallel()
	const (
		payments = "111122223333"
		snapshot = "prod-customers-2026-11-26"
		unknown  = "444455556666"
		keyID    = "0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
	)
	keyARN := "arn:aws:kms:eu-west-1:" + payments + ":key/" + keyID
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::"+payments+":role/secops-bot")
	rds, iam, kms, ct := awsfake.NewRDS(clk), awsfake.NewIAM(clk), awsfake.NewKMS(clk), awsfake.NewCloudTrail()
	srv.Handle("rds", rds)
	srv.Handle("iam", iam)
	srv.Handle("kms", kms)
	srv.Handle("cloudtrail", ct)
	rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: snapshot, Region: "eu-west-1", Source: "prod-customers", Engine: "postgres", SizeGiB: 500,
		Encrypted: true, KMSKeyID: keyARN, SharedWith: []string{unknown}, Tags: map[string]string{"environment": "production", "data-classification": "customer"}})
	iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
	kms.AddKey(payments, awsfake.KMSKey{ID: keyID, Region: "eu-west-1", Policy: `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + payments + `:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"AllowCopyByPartner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + unknown + `:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"}]}`})
	// The other account copied the snapshot at 03:21: its CreateGrant on
	// the key is in this account's event history.
	grant, _ := json.Marshal(map[string]any{
		"eventVersion": "1.08", "eventID": "6f7a8b9c-0d1e-4f2a-9b3c-5d6e7f8a9b09", "eventTime": "2026-11-27T03:21:40Z",
		"eventSource": "kms.amazonaws.com", "eventName": "CreateGrant", "awsRegion": "eu-west-1", "sourceIPAddress": "rds.amazonaws.com",
		"userAgent": "rds.amazonaws.com", "recipientAccountId": payments, "requestID": "7f5c9e1a-2b3d-4c5e-8f9a-0b1c2d3e4f09",
		"userIdentity":      map[string]any{"type": "AWSAccount", "principalId": "AROAEXAMPLEUNKNOWN001:restore", "accountId": unknown},
		"requestParameters": map[string]any{"keyId": keyARN, "granteePrincipal": "rds.eu-west-1.amazonaws.com", "operations": []string{"Decrypt", "CreateGrant", "DescribeKey"}},
		"resources":         []map[string]any{{"accountId": payments, "type": "AWS::KMS::Key", "ARN": keyARN}},
		"readOnly":          false, "eventType": "AwsApiCall", "managementEvent": true, "eventCategory": "Management",
	})
	if err := ct.Add(grant); err != nil {
		t.Fatal(err)
	}

	e.cfg.AWS.Enabled, e.cfg.AWS.MemberRoleName, e.cfg.AWS.RecheckInterval = true, "", time.Hour
	stop := e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	defer stop()
	ctx := context.Background()

	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding saying the share is usable", func() bool {
		s := topLevel(e.emu.Messages(e.secops))
		if len(s) != 1 {
			return false
		}
		b := string(s[0].Blocks)
		return strings.Contains(b, "What it holds:* DB instance prod-customers · postgres · 500 GiB") &&
			strings.Contains(b, "*Usable by 444455556666:* customer-managed key `"+keyARN+"`") &&
			strings.Contains(b, `key policy statement \"AllowCopyByPartner\" (kms:Decrypt, kms:DescribeKey, kms:CreateGrant)`)
	})
	msg := topLevel(e.emu.Messages(e.secops))[0]

	// Contain… → take the account off the key.
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.contain"}); err != nil {
		t.Fatal(err)
	}
	var picker slackemu.Ephemeral
	e.wait(t, "the picker offering the key", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == responder && strings.Contains(string(ep.Blocks), `"action_id":"containment.preview.kms-remove-external-account"`) {
				picker = ep
				return true
			}
		}
		return false
	})
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: picker.TS, ActionID: "containment.preview.kms-remove-external-account"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the confirmation with the new key policy", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "containment.confirm" && v.Open && strings.Contains(string(v.Blocks), "kms:PutKeyPolicy") {
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.confirm", UserID: responder}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the account off the key", func() bool {
		k, _ := kms.Key(payments, "eu-west-1", keyID)
		return !strings.Contains(k.Policy, unknown)
	})
	e.wait(t, "the result with Undo in the thread", func() bool {
		_, ok := replyWith(e.thread(e.secops), "Contained: Take the accounts off the snapshot")
		return ok
	})

	// As in real use, the share is removed a while after the containment,
	// once the bot has read the key again and found no outside account
	// allowed: the answer must still count the uses made while one was.
	e.wait(t, "the key read again after the containment", func() bool {
		for _, f := range e.storedFindings(t) {
			if f.Contents != nil && f.Contents.Key != nil && f.Contents.Key.Case == finding.KeyCustomerNotUsable &&
				f.Contents.KeyDuringExposure().Case == finding.KeyCustomerUsable {
				return true
			}
		}
		return false
	})
	// The share is removed (an event); five minutes on, the answer.
	e.drop(t, "unshare.json", filepath.Join("testdata", "story-two-unshare.json"))
	e.wait(t, "the finding resolved", func() bool {
		return strings.Contains(topLevel(e.emu.Messages(e.secops))[0].Text, "RESOLVED")
	})
	clk.Advance(6 * time.Minute)
	var answer slackemu.Message
	e.wait(t, "the answer in the thread", func() bool {
		var ok bool
		answer, ok = replyWith(e.thread(e.secops), "Who read it while it was exposed")
		return ok
	})
	text := string(answer.Blocks)
	for _, want := range []string{
		"1 principal outside the organisation used its key: 1 call",
		"*AROAEXAMPLEUNKNOWN001:restore* of account `444455556666` (unknown account) — 1 call (CreateGrant ×1)",
		"CloudTrail event history of key " + keyARN,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("answer lacks %q:\n%s", want, text)
		}
	}
}
