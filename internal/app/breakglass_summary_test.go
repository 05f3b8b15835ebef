package app

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestBreakGlassSummaryFromCloudTrail: a session that made calls is
// summarised from its CloudTrail events when it ends: the one already in
// the event history (by its access key) and the one CloudTrail's
// LookupEvents finds by the key before it reached the history, each line
// saying where it came from. After a restart, the summary is completed
// once, later, with a call CloudTrail delivered late.
func TestBreakGlassSummaryFromCloudTrail(t *testing.T) {
	t.Parallel()
	e := newBreakGlassEnv(t)
	ct := awsfake.NewCloudTrail()
	e.aws.Handle("cloudtrail", ct)
	e.start(t)
	defer func() {
		if e.cancel != nil {
			e.stop(t)
		}
	}()
	ctx := context.Background()

	if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "breakglass payments-prod restore check", UserID: responder, ChannelID: e.secops}); err != nil {
		t.Fatal(err)
	}
	var form slackemu.View
	e.wait(t, "the request form", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "breakglass.request" && v.Open {
				form = v
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: form.ID, UserID: responder, Values: prefilled(t, form)}); err != nil {
		t.Fatal(err)
	}
	var req slackemu.Message
	e.wait(t, "the request posted", func() bool {
		msgs := topLevel(e.emu.Messages(e.approvals))
		if len(msgs) == 1 {
			req = msgs[0]
			return true
		}
		return false
	})
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: manager, ChannelID: e.approvals, MessageTS: req.TS, ActionID: "breakglass.approve"}); err != nil {
		t.Fatal(err)
	}
	var access slackemu.Message
	e.wait(t, "the access sent to the requester", func() bool {
		m, ok := e.dmWith(responder, "access is ready")
		access = m
		return ok
	})
	key := regexp.MustCompile(`signin-(ASIA[A-Z0-9]+)`).FindStringSubmatch(shown(access))
	if key == nil {
		t.Fatalf("no session key in the access message:\n%s", shown(access))
	}

	// The session's calls: one already ingested into the history, one only
	// in CloudTrail so far.
	start := e.clk.Now()
	record := func(id, name string, readOnly bool, at time.Time) []byte {
		return fmt.Appendf(nil, `{"eventVersion":"1.09","eventID":%q,"eventName":%q,"eventSource":"rds.amazonaws.com","eventTime":%q,"awsRegion":"eu-west-1","recipientAccountId":%q,"readOnly":%v,
			"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::%s:assumed-role/%s/%s","accountId":%q,"accessKeyId":%q,"sessionContext":{"sourceIdentity":%q}},
			"resources":[{"ARN":"arn:aws:rds:eu-west-1:%s:snapshot:prod-customers","type":"AWS::RDS::DBSnapshot"}]}`,
			id, name, at.UTC().Format(time.RFC3339), prodAccount, readOnly, prodAccount, breakGlassRole, responder, prodAccount, key[1], responder, prodAccount)
	}
	hist, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	if _, err := hist.AddEvents(ctx, []store.Event{{
		EventID: "ev-read", Time: start.Add(time.Minute).Truncate(time.Second), Account: prodAccount, Region: "eu-west-1",
		AccessKeyID: key[1], EventSource: "rds.amazonaws.com", EventName: "DescribeDBSnapshots", ReadOnly: true,
	}}); err != nil {
		t.Fatal(err)
	}
	if err := ct.Add(record("ev-read", "DescribeDBSnapshots", true, start.Add(time.Minute)), record("ev-write", "ModifyDBSnapshotAttribute", false, start.Add(2*time.Minute))); err != nil {
		t.Fatal(err)
	}

	e.clk.Advance(5 * time.Minute)
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: access.Channel, MessageTS: access.TS, ActionID: "breakglass.revoke"}); err != nil {
		t.Fatal(err)
	}
	summary := func() (slackemu.Message, bool) {
		for _, r := range e.emu.Replies(e.approvals, req.TS) {
			if strings.Contains(r.Text, "session summary") {
				cur, _ := e.emu.Message(e.approvals, r.TS)
				return cur, true
			}
		}
		return slackemu.Message{}, false
	}
	defer func() {
		if t.Failed() {
			for _, r := range e.emu.Replies(e.approvals, req.TS) {
				t.Logf("reply: %s\n%s", r.Text, shown(r))
			}
			cur, _ := e.emu.Message(e.approvals, req.TS)
			t.Logf("request: %s", cur.Text)
			for _, ep := range e.emu.Ephemerals() {
				t.Logf("ephemeral: %s", ep.Text)
			}
		}
	}()
	e.wait(t, "the summary of the session's two calls", func() bool {
		m, ok := summary()
		return ok && strings.Contains(shown(m), "2 events")
	})
	m, _ := summary()
	contains(t, "the summary", shown(m), "1 from the event history, 1 from CloudTrail LookupEvents", "rds:ModifyDBSnapshotAttribute", "LookupEvents_", "completed in 15 minutes")

	// A call CloudTrail delivered late; the bot restarts meanwhile.
	if err := ct.Add(record("ev-late", "DeleteDBSnapshot", false, start.Add(4*time.Minute))); err != nil {
		t.Fatal(err)
	}
	e.stop(t)
	e.start(t)
	e.clk.Advance(16 * time.Minute)
	e.wait(t, "the summary completed in place", func() bool {
		m, _ := summary()
		return strings.Contains(shown(m), "3 events") && strings.Contains(shown(m), "Complete:")
	})
	m, _ = summary()
	contains(t, "the completed summary", shown(m), "rds:DeleteDBSnapshot", "1 from the event history, 2 from CloudTrail LookupEvents")
	n := 0
	for _, r := range e.emu.Replies(e.approvals, req.TS) {
		if strings.Contains(r.Text, "session summary") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d summaries in the thread, want one edited in place", n)
	}
}
