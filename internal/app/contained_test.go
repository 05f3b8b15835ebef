package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestContainedIsAState runs story two's containment through Serve as the
// responder meets it: the unshare, run with /secops contain, shows on the
// finding's main message in every channel at once, comments its ticket,
// ticks the checklist's unshare step and, once the state read right after
// it shows the share gone, resolves the finding without waiting for the
// periodic re-check. The IP lock ticks its own step and shows beside it;
// after a restart its undo takes it off the message again.
func TestContainedIsAState(t *testing.T) {
	t.Parallel()
	const (
		payments = "111122223333"
		snapshot = "prod-customers-2026-11-26"
		unknown  = "444455556666"
	)
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::"+payments+":role/secops-bot")
	rds, iam := awsfake.NewRDS(clk), awsfake.NewIAM(clk)
	srv.Handle("rds", rds)
	srv.Handle("iam", iam)
	rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: snapshot, Region: "eu-west-1", SharedWith: []string{unknown}})
	iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
	jf := jirafake.New(jirafake.Options{})
	t.Cleanup(jf.Close)
	e.cfg.Jira.Enabled, e.cfg.Jira.BaseURL, e.cfg.Jira.Email, e.cfg.Jira.APIToken = true, jf.URL, "bot@example.com", "jira-token"
	e.cfg.AWS.Enabled = true
	e.cfg.AWS.MemberRoleName = ""
	// The periodic re-check never runs: only the read after the
	// containment can resolve the finding.
	e.cfg.AWS.RecheckInterval = 24 * time.Hour
	e.cfg.Containment.CorporateCIDRs = []string{"192.0.2.0/24"}
	e.cfg.OnCall = oncall.Config{Rotations: []oncall.Rotation{{Team: "secops", Members: []string{responder}}}}
	stop := e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	defer func() { stop() }()
	ctx := context.Background()

	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in #secops and #team-payments", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	main := func(channel string) slackemu.Message {
		m := topLevel(e.emu.Messages(channel))[0]
		cur, _ := e.emu.Message(channel, m.TS)
		return cur
	}
	secopsTS := main(e.secops).TS
	checklist := func() string {
		for _, r := range e.emu.Replies(e.secops, secopsTS) {
			if strings.HasPrefix(r.Text, "Playbook: ") {
				return r.Text + string(r.Blocks)
			}
		}
		return ""
	}
	e.wait(t, "the checklist", func() bool { return strings.Contains(checklist(), "0 of 8 steps done") })
	// Off hours: the morning follow-up is scheduled as the finding is
	// raised, and the thread says when, with a Cancel button.
	e.wait(t, "the follow-up's note in the thread", func() bool {
		for _, r := range e.emu.Replies(e.secops, secopsTS) {
			if strings.Contains(shown(r), "Morning follow-up for the owning team scheduled") && strings.Contains(shown(r), `"action_id":"followup.cancel"`) {
				return true
			}
		}
		return false
	})
	e.wait(t, "the ticket", func() bool { return len(jf.Issues()) == 1 })

	contain := func(text string) {
		t.Helper()
		before := len(e.emu.Ephemerals())
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "contain " + text, UserID: responder, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
		var preview slackemu.Ephemeral
		e.wait(t, "the preview of "+text, func() bool {
			eps := e.emu.Ephemerals()
			for _, ep := range eps[min(before, len(eps)):] {
				if ep.User == responder && strings.Contains(string(ep.Blocks), `"action_id":"containment.review"`) {
					preview = ep
					return true
				}
			}
			return false
		})
		if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: preview.TS, ActionID: "containment.review"}); err != nil {
			t.Fatal(err)
		}
		e.wait(t, "the confirmation of "+text, func() bool {
			for _, v := range e.emu.Views() {
				if v.CallbackID == "containment.confirm" && v.Open {
					return true
				}
			}
			return false
		})
		if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "containment.confirm", UserID: responder}); err != nil {
			t.Fatal(err)
		}
	}

	contain("snapshot-unshare " + snapshot)
	for _, ch := range []string{e.secops, e.payments} {
		e.wait(t, "the contained state on the main message in "+ch, func() bool {
			s := shown(main(ch))
			return strings.Contains(s, "Contained* by <@"+responder+">") && strings.Contains(s, "(Unshare the snapshot)")
		})
	}
	e.wait(t, "the checklist's unshare step ticked by the responder", func() bool {
		return strings.Contains(checklist(), "1 of 8 steps done")
	})
	e.wait(t, "the finding resolved by the state read after the containment", func() bool {
		s := shown(main(e.secops))
		return strings.Contains(s, "RESOLVED") && strings.Contains(s, "containment snapshot-unshare")
	})
	e.wait(t, "the ticket's comment", func() bool {
		for _, c := range jf.Issues()[0].Comments {
			if strings.Contains(c.Text, "Containment by") {
				return true
			}
		}
		return false
	})

	// The actor of the fixed exposure is still locked by name.
	contain("iam-user-restrict-ip BackupManager")
	e.wait(t, "the restrict step ticked", func() bool { return strings.Contains(checklist(), "2 of 8 steps done") })
	e.wait(t, "both containments on the message", func() bool {
		return strings.Contains(shown(main(e.secops)), "(Lock the user to the corporate network)")
	})

	// After a restart the IP lock's Undo clears its line.
	stop()
	stop = e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	var undo slackemu.Message
	for _, r := range e.emu.Replies(e.secops, secopsTS) {
		if strings.Contains(r.Text, "Contained: Lock the user") {
			undo = r
		}
	}
	if undo.TS == "" {
		t.Fatal("no IP lock result in the thread")
	}
	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: undo.TS, ActionID: "containment.undo"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the IP lock gone from the messages", func() bool {
		a, b := shown(main(e.secops)), shown(main(e.payments))
		return !strings.Contains(a, "Lock the user to the corporate network") && !strings.Contains(b, "Lock the user to the corporate network") &&
			strings.Contains(a, "(Unshare the snapshot)")
	})
	if u, _ := iam.User(payments, "BackupManager"); len(u.Policies) != 0 {
		t.Errorf("the undo left BackupManager's policies: %v", u.Policies)
	}
	e.wait(t, "the ticket told of the undo", func() bool {
		return slices.ContainsFunc(jf.Issues()[0].Comments, func(c jirafake.Comment) bool { return strings.Contains(c.Text, "Containment undone by") })
	})

	// The next business morning (a week covers any weekend and holiday)
	// the owning team reads what the night left: resolved, contained by
	// whom, the ticket. Nobody ran the checklist's follow-up step.
	clk.Advance(7 * 24 * time.Hour)
	var morning []slackemu.Message
	e.wait(t, "the morning follow-up in #team-payments", func() bool {
		morning = nil
		for _, m := range topLevel(e.emu.Messages(e.payments)) {
			if strings.Contains(shown(m), "Good morning payments") {
				morning = append(morning, m)
			}
		}
		return len(morning) > 0
	})
	contains(t, "the morning follow-up", shown(morning[0]), "Resolved by", "Contained by <@"+responder+">", "(Unshare the snapshot)", jf.Issues()[0].Key)
	lacks(t, "the morning follow-up", shown(morning[0]), "Lock the user to the corporate network")
	waitNoPending(t, e, "playbook.followup|")
	if len(morning) != 1 {
		t.Errorf("%d morning follow-ups, want one", len(morning))
	}
}

// waitNoPending waits until the bot's outbox holds no item whose key
// starts with prefix: the timers of that kind were carried out.
func waitNoPending(t *testing.T, e *slackEnv, prefix string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e.wait(t, "no pending "+prefix+" items", func() bool {
		keys, err := st.PendingOutboxKeys(context.Background(), prefix)
		return err == nil && len(keys) == 0
	})
}

// TestMorningFollowUpCancelled: a responder cancels the follow-up from the
// thread (audited); after a restart, the morning comes and nothing is
// posted.
func TestMorningFollowUpCancelled(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	clk := clock.NewFake(testNow(t).Add(time.Hour))
	srv.Identities().Add("AKIABOTEXAMPLE000001", "arn:aws:iam::111122223333:role/secops-bot")
	rds := awsfake.NewRDS(clk)
	srv.Handle("rds", rds)
	rds.AddSnapshot("111122223333", awsfake.RDSSnapshot{ID: "prod-customers-2026-11-26", Region: "eu-west-1", SharedWith: []string{"444455556666"}})
	e.cfg.AWS.Enabled, e.cfg.AWS.MemberRoleName, e.cfg.AWS.RecheckInterval = true, "", 24*time.Hour
	stop := e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	defer func() { stop() }()
	ctx := context.Background()

	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in #secops", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	root := topLevel(e.emu.Messages(e.secops))[0].TS
	var note slackemu.Message
	e.wait(t, "the follow-up's note", func() bool {
		for _, r := range e.emu.Replies(e.secops, root) {
			if strings.Contains(shown(r), `"action_id":"followup.cancel"`) {
				note = r
				return true
			}
		}
		return false
	})
	// An outsider may not cancel it; a responder may.
	for _, u := range []string{outsider, responder} {
		if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: u, ChannelID: e.secops, MessageTS: note.TS, ActionID: "followup.cancel"}); err != nil {
			t.Fatal(err)
		}
	}
	e.wait(t, "the outsider refused", func() bool {
		for _, ep := range e.emu.Ephemerals() {
			if ep.User == outsider && strings.Contains(ep.Text, "Not allowed") {
				return true
			}
		}
		return false
	})
	e.wait(t, "the cancellation in the thread", func() bool {
		for _, r := range e.emu.Replies(e.secops, root) {
			if strings.Contains(shown(r), "Morning follow-up cancelled by <@"+responder+">") {
				return true
			}
		}
		return false
	})
	stop()
	stop = e.serveWithAWS(t, clk, srv, "AKIABOTEXAMPLE000001")
	clk.Advance(7 * 24 * time.Hour)
	waitNoPending(t, e, "playbook.followup|")
	for _, m := range e.emu.Messages(e.payments) {
		if strings.Contains(shown(m), "Good morning") {
			t.Fatalf("a cancelled follow-up was posted: %s", m.Text)
		}
	}
	stop()
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "playbook."})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Action+" "+r.Result+" "+r.Actor] = true
	}
	if !seen["playbook.followup.cancel ok "+responder] || !seen["playbook.step refused "+outsider] {
		t.Errorf("audit lacks the cancellation or the refusal: %v", seen)
	}
}
