package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/ops/canary"
	awscanary "github.com/secops-bot/secops-bot/providers/aws/canary"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const (
	canaryAccount = "111122223333"
	canaryRoleARN = "arn:aws:iam::" + canaryAccount + ":role/secops-bot"
	canaryKey     = "ASIABOTCANARY0000001"
)

// canaryEvent is the CloudTrail record of the bot tagging its own role,
// shaped like AWS's documented TagRole example (an assumed-role session
// of the role, the tags in requestParameters, us-east-1).
func canaryEvent(n int, value string) string {
	return fmt.Sprintf(`{"Records":[{
  "eventVersion": "1.08",
  "userIdentity": {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEBOTROLE01:i-0abc",
    "arn": "arn:aws:sts::%[1]s:assumed-role/secops-bot/i-0abc",
    "accountId": "%[1]s",
    "accessKeyId": "%[2]s",
    "sessionContext": {
      "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEBOTROLE01", "arn": "%[3]s", "accountId": "%[1]s", "userName": "secops-bot"},
      "webIdFederationData": {},
      "attributes": {"creationDate": "%[4]s", "mfaAuthenticated": "false"}
    }
  },
  "eventTime": "%[4]s",
  "eventSource": "iam.amazonaws.com",
  "eventName": "TagRole",
  "awsRegion": "us-east-1",
  "sourceIPAddress": "198.51.100.10",
  "userAgent": "aws-sdk-go-v2/1.36.3 os/linux lang/go#1.24 md/GOOS#linux md/GOARCH#amd64 api/iam#1.41.1",
  "requestParameters": {"roleName": "secops-bot", "tags": [{"key": "secops-bot:canary", "value": "%[4]s"}]},
  "responseElements": null,
  "requestID": "5c1e0d7a-0000-4000-8000-%012[5]d",
  "eventID": "9b2f6c1e-0000-4000-8000-%012[5]d",
  "readOnly": false,
  "eventType": "AwsApiCall",
  "managementEvent": true,
  "recipientAccountId": "%[1]s",
  "eventCategory": "Management",
  "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "iam.amazonaws.com"}
}]}`, canaryAccount, canaryKey, canaryRoleARN, value, n)
}

// TestCanary runs the bot with the canary on: a canary whose event comes
// back raises nothing; one whose event does not come back within the
// timeout is a high finding in the SecOps channel; its event arriving
// late resolves the finding and updates the message.
func TestCanary(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	// Time runs from an hour ahead so files dropped now count as settled.
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add(canaryKey, "arn:aws:sts::"+canaryAccount+":assumed-role/secops-bot/i-0abc")
	iam := awsfake.NewIAM(clk)
	iam.AddRole(canaryAccount, awsfake.IAMRole{Name: "secops-bot"})
	srv.Handle("iam", iam)
	srv.Handle("sts", awsfake.NewSTS(srv.Identities(), clk))

	e.cfg.AWS.Enabled, e.cfg.AWS.MemberRoleName, e.cfg.AWS.OrgAccounts = true, "", false
	e.cfg.Canary = config.Canary{Enabled: true, Interval: time.Minute, Timeout: 2 * time.Second}
	defer e.serveWithAWS(t, clk, srv, canaryKey)()
	ctx := context.Background()

	// A second handle on the bot's database shows what it stored.
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	calls := func() int { return len(srv.CallsTo("iam", "TagRole")) }
	tagValue := func() string {
		r, _ := iam.Role(canaryAccount, "secops-bot")
		return r.Tags[awscanary.TagKey]
	}
	deliver := func(n int, value string) {
		t.Helper()
		writeFile(t, filepath.Join(e.cfg.Ingest.Dir, fmt.Sprintf("canary-%d.json", n)), canaryEvent(n, value))
		eventually(t, "canary event "+value+" in history", func() bool {
			evs, err := st.QueryEvents(ctx, store.EventQuery{ResourceARN: canaryRoleARN})
			if err != nil {
				return false
			}
			for _, ev := range evs {
				if ev.Time.UTC().Format(time.RFC3339) == value {
					return true
				}
			}
			return false
		})
	}
	canaryMessages := func(channel string) []string {
		var out []string
		for _, m := range topLevel(e.emu.Messages(channel)) {
			if strings.Contains(m.Text, "are not reaching the bot") {
				out = append(out, m.Text)
			}
		}
		return out
	}

	// Round one: the canary comes back in time.
	eventually(t, "the first canary call", func() bool { return calls() == 1 })
	first := tagValue()
	if _, err := time.Parse(time.RFC3339, first); err != nil {
		t.Fatalf("canary tag %s = %q, want the call time: %v", awscanary.TagKey, first, err)
	}
	deliver(1, first)
	clk.Advance(time.Minute)
	eventually(t, "the second canary call", func() bool { return calls() == 2 })
	// The round is judged before the next call is made, so a missing
	// canary would be stored by now.
	if _, err := st.GetFindingByKey(ctx, canary.FindingKey(canaryAccount)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canary finding after a canary that came back: %v", err)
	}

	// Round two: nothing comes back within the timeout.
	second := tagValue()
	if second == first {
		t.Fatalf("the second call wrote the same tag value %q", second)
	}
	clk.Advance(3 * time.Second)
	e.wait(t, "the canary finding in #secops", func() bool { return len(canaryMessages(e.secops)) == 1 })
	msg := canaryMessages(e.secops)[0]
	for _, want := range []string{"HIGH", "CloudTrail events from account " + canaryAccount + " are not reaching the bot"} {
		if !strings.Contains(msg, want) {
			t.Errorf("finding message %q lacks %q", msg, want)
		}
	}
	f, err := st.GetFindingByKey(ctx, canary.FindingKey(canaryAccount))
	if err != nil {
		t.Fatal(err)
	}
	if f.Rule != canary.RuleMissing || f.Severity.String() != "high" || f.Region != "us-east-1" || f.AccountID != canaryAccount {
		t.Errorf("finding = %s %s %s %s, want canary-missing high us-east-1 %s", f.Rule, f.Severity, f.Region, f.AccountID, canaryAccount)
	}
	if n := len(canaryMessages(e.payments)); n != 0 {
		t.Errorf("the owning team's channel got %d canary messages; the bot's health is SecOps' business", n)
	}

	// The event comes back: the bot resolves the finding and says so.
	deliver(2, second)
	e.wait(t, "the canary finding resolved in #secops", func() bool {
		ms := canaryMessages(e.secops)
		return len(ms) == 1 && strings.HasPrefix(ms[0], "RESOLVED")
	})
	parent := topLevel(e.emu.Messages(e.secops))
	e.wait(t, "a thread reply saying events flow again", func() bool {
		for _, p := range parent {
			for _, m := range e.emu.Replies(e.secops, p.TS) {
				if strings.Contains(m.Text+string(m.Blocks), "reach the bot again") {
					return true
				}
			}
		}
		return false
	})
	f, err = st.GetFindingByKey(ctx, canary.FindingKey(canaryAccount))
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != "resolved" || f.ResolvedBy != "system" {
		t.Errorf("finding status %s by %q, want resolved by system", f.Status, f.ResolvedBy)
	}
	if calls() != 2 {
		t.Errorf("TagRole calls = %d, want 2 (no call is due before the interval)", calls())
	}
}

// TestCanaryTagKeysAgree: the tag the canary writes is the one its
// finding names and the IAM policy allows.
func TestCanaryTagKeysAgree(t *testing.T) {
	t.Parallel()
	if canary.TagKey != awscanary.TagKey {
		t.Errorf("canary.TagKey = %q, providers/aws/canary.TagKey = %q", canary.TagKey, awscanary.TagKey)
	}
}
