package app

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestUndoNeverReExposes: three exposures are contained from Slack. The
// bucket's owner then adds a statement of their own, and the snapshot's
// owner changes its share list; the third bucket stays as the containment
// left it. Undo of the third happens at once. Undo of the other two shows
// what changed in a modal first, and once confirmed re-adds only what the
// containment removed: the owner's statement and shares stay. Every step
// is audited with the state before and after.
func TestUndoNeverReExposes(t *testing.T) {
	t.Parallel()
	const (
		payments = "111122223333"
		stranger = "999988887777"
		partner  = "777788889999"
		botKey   = "AKIABOTEXAMPLE000001"
		admin    = "U0ADMINUS1"
	)
	e := newSlackEnv(t)
	e.emu.PutUser(slackemu.User{ID: admin, Name: "ada"})
	groups, err := slack.New("xoxb-test-bot", slack.OptionAPIURL(e.emu.APIURL())).GetUserGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Handle == "secops-admins" {
			e.emu.PutUsergroup(slackemu.Usergroup{ID: g.ID, Handle: g.Handle, Users: []string{admin}})
		}
	}
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add(botKey, "arn:aws:iam::"+awsfake.DefaultAccount+":role/secops-bot")
	s3, rds, sts := awsfake.NewS3(), awsfake.NewRDS(clk), awsfake.NewSTS(srv.Identities(), clk)
	srv.Handle("sts", sts)
	srv.Handle("s3", s3)
	srv.Handle("rds", rds)
	srv.Handle("iam", awsfake.NewIAM(clk))
	srv.Handle("ec2", awsfake.NewEC2(clk))

	shared := troubleExposure{account: payments, kind: "bucket", name: "undo-shared-exports", team: "team-payments"}
	plain := troubleExposure{account: payments, kind: "bucket", name: "undo-plain-exports", team: "team-payments"}
	snap := troubleExposure{account: payments, kind: "snapshot", name: "undo-customers-db", team: "team-payments"}
	public := func(bucket string, extra ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(append([]string{
			`{"Sid":"Share","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + bucket + `/*"}`}, extra...), ",") + `]}`
	}
	for _, b := range []string{shared.name, plain.name} {
		s3.AddBucket(payments, awsfake.S3Bucket{Name: b, Policy: public(b)})
	}
	rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: snap.name, Region: "eu-west-1", Source: "db", SharedWith: []string{stranger}})

	// The member role only reads: a change made with it would be refused.
	// Changes go through the write role, one scoped session each.
	if err := srv.Identities().SetPolicies("arn:aws:iam::"+payments+":role/secops-bot-member",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","rds:Describe*","ec2:Describe*","iam:Get*","iam:List*","cloudtrail:LookupEvents"],"Resource":"*"}]}`); err != nil {
		t.Fatal(err)
	}
	e.cfg.AWS.Enabled = true
	e.cfg.AWS.MemberRoleName = "secops-bot-member"
	e.cfg.AWS.MemberWriteRoleName = "secops-bot-member-write"
	e.cfg.AWS.RecheckInterval = time.Hour // a containment must not resolve the findings mid-test
	stop := e.serveWithAWS(t, clk, srv, botKey)
	defer stop()
	ctx := context.Background()

	var events strings.Builder
	for i, x := range []troubleExposure{shared, plain, snap} {
		raw, err := json.Marshal(exposureEvent(x, i, time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339), stranger))
		if err != nil {
			t.Fatal(err)
		}
		events.Write(append(raw, '\n'))
	}
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "undo.jsonl"), events.String())
	findingOf := func(name string) (slackemu.Message, bool) {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(m.Text+string(m.Blocks), name) {
				return m, true
			}
		}
		return slackemu.Message{}, false
	}
	e.waitUpTo(t, 20*time.Second, "the three findings in #secops", func() bool {
		for _, x := range []string{shared.name, plain.name, snap.name} {
			if _, ok := findingOf(x); !ok {
				return false
			}
		}
		return true
	})

	click := func(user, ts, action string) {
		t.Helper()
		if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: user, ChannelID: e.secops, MessageTS: ts, ActionID: action}); err != nil {
			t.Fatalf("click %s: %v", action, err)
		}
	}
	reply := func(ts, text string) (slackemu.Message, bool) {
		for _, r := range e.emu.Replies(e.secops, ts) {
			if strings.Contains(r.Text, text) {
				return r, true
			}
		}
		return slackemu.Message{}, false
	}
	openViews := func(callback string) []slackemu.View {
		var out []slackemu.View
		for _, v := range e.emu.Views() {
			if v.Open && v.CallbackID == callback {
				out = append(out, v)
			}
		}
		return out
	}
	// contain runs one action from the finding's Contain… button and
	// returns the thread's result message.
	contain := func(x troubleExposure, action string) slackemu.Message {
		t.Helper()
		msg, _ := findingOf(x.name)
		before := len(e.emu.Ephemerals())
		click(responder, msg.TS, "finding.contain")
		var picker slackemu.Ephemeral
		e.wait(t, "the picker for "+x.name, func() bool {
			eps := e.emu.Ephemerals()
			for i := len(eps) - 1; i >= before; i-- {
				if eps[i].User == responder && strings.Contains(string(eps[i].Blocks), "containment.preview."+action) {
					picker = eps[i]
					return true
				}
			}
			return false
		})
		n := len(openViews("containment.confirm"))
		if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: picker.TS, ActionID: "containment.preview." + action}); err != nil {
			t.Fatal(err)
		}
		e.wait(t, "the confirmation of "+action+" on "+x.name, func() bool { return len(openViews("containment.confirm")) > n })
		if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.confirm", UserID: responder}); err != nil {
			t.Fatal(err)
		}
		var result slackemu.Message
		e.wait(t, "the result of "+action+" with Undo", func() bool {
			r, ok := reply(msg.TS, "Contained:")
			result = r
			return ok && strings.Contains(string(r.Blocks), `"action_id":"containment.undo"`)
		})
		return result
	}
	undone := func(x troubleExposure) bool {
		msg, _ := findingOf(x.name)
		_, ok := reply(msg.TS, "Undone:")
		return ok
	}

	sharedResult := contain(shared, "s3-remove-public-statements")
	plainResult := contain(plain, "s3-remove-public-statements")
	snapResult := contain(snap, "snapshot-unshare")
	for _, b := range []string{shared.name, plain.name} {
		if got, _ := s3.Bucket(b); got.Policy != "" {
			t.Fatalf("bucket %s still has policy %s after the containment", b, got.Policy)
		}
	}
	if s, _ := rds.Snapshot(payments, false, snap.name); len(s.SharedWith) != 0 {
		t.Fatalf("snapshot still shared with %v", s.SharedWith)
	}
	// Every change ran in a write session of its own, as the responder who
	// confirmed it, tagged with its record, under a session policy naming
	// its target only.
	writes := 0
	for _, c := range sts.AssumeRoleCalls() {
		if c.Policy == "" {
			continue
		}
		writes++
		if c.RoleARN != "arn:aws:iam::"+payments+":role/secops-bot-member-write" || c.SourceIdentity != responder || !strings.HasPrefix(c.Tags["secops-bot-action"], "C-") {
			t.Errorf("write session %s as %q tagged %v; want the write role as %s tagged with the record", c.RoleARN, c.SourceIdentity, c.Tags, responder)
		}
		if !strings.Contains(c.Policy, shared.name) && !strings.Contains(c.Policy, plain.name) && !strings.Contains(c.Policy, snap.name) ||
			strings.Count(c.Policy, "arn:aws:") != 1 {
			t.Errorf("a write session's policy does not name exactly one target: %s", c.Policy)
		}
	}
	if writes != 3 {
		t.Errorf("%d write sessions for three containments", writes)
	}

	// Nothing changed on the plain bucket: Undo acts at once, no modal.
	modals := len(e.emu.Views())
	click(responder, plainResult.TS, "containment.undo")
	e.wait(t, "the plain bucket's policy back", func() bool {
		b, _ := s3.Bucket(plain.name)
		return b.Policy != "" && undone(plain)
	})
	if vs := e.emu.Views(); len(vs) != modals {
		t.Errorf("undo of an unchanged target opened %d modal(s)", len(vs)-modals)
	}

	// The bucket's owner adds a statement of their own after the
	// containment: Undo shows it and changes nothing yet.
	const ownerStatement = `{"Sid":"OwnerReports","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:role/reporting"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::undo-shared-exports/reports/*"}`
	s3.AddBucket(payments, awsfake.S3Bucket{Name: shared.name, Policy: `{"Version":"2012-10-17","Statement":[` + ownerStatement + `]}`})
	click(responder, sharedResult.TS, "containment.undo")
	e.wait(t, "the undo confirmation naming the owner's statement", func() bool {
		for _, v := range openViews("containment.undo_confirm") {
			if strings.Contains(string(v.Blocks), "OwnerReports") && strings.Contains(string(v.Blocks), "s3:PutBucketPolicy") {
				return true
			}
		}
		return false
	})
	if b, _ := s3.Bucket(shared.name); strings.Contains(b.Policy, `"Sid":"Share"`) {
		t.Fatal("the undo put the public statement back before it was confirmed")
	}
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.undo_confirm", UserID: responder}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the removed statement back beside the owner's", func() bool {
		b, _ := s3.Bucket(shared.name)
		return strings.Contains(b.Policy, `"Sid":"Share"`) && undone(shared)
	})
	if b, _ := s3.Bucket(shared.name); !strings.Contains(b.Policy, "OwnerReports") {
		t.Errorf("the undo dropped the owner's statement: %s", b.Policy)
	}

	// The snapshot's owner shares it with a partner after the containment:
	// the admin's undo re-adds only the account the containment removed.
	rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: snap.name, Region: "eu-west-1", Source: "db", SharedWith: []string{partner}})
	click(admin, snapResult.TS, "containment.undo")
	e.wait(t, "the undo confirmation naming the partner", func() bool {
		for _, v := range openViews("containment.undo_confirm") {
			if v.UserID == admin && strings.Contains(string(v.Blocks), partner) {
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.undo_confirm", UserID: admin}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the snapshot shared with the partner and the removed account", func() bool {
		s, _ := rds.Snapshot(payments, false, snap.name)
		return slices.Equal(s.SharedWith, []string{partner, stranger}) && undone(snap)
	})

	stop()
	st, err := sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "containment.undo"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Action+" "+r.Result]++
		if r.Action == "containment.undo" && r.Result == "ok" {
			var d struct{ Before, After json.RawMessage }
			if err := json.Unmarshal(r.Detail, &d); err != nil || len(d.Before) == 0 || len(d.After) == 0 {
				t.Errorf("undo audit %s lacks the state before and after: %s", r.Target, r.Detail)
			}
		}
	}
	if seen["containment.undo ok"] != 3 || seen["containment.undo_review changed"] != 2 {
		t.Errorf("undo audit = %v, want three undos and two reviews", seen)
	}
}
