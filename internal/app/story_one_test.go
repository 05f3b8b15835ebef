package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var storyOne = filepath.Join("..", "..", "examples", "story-one", "111122223333_CloudTrail_eu-central-1_20261126T1440Z_story-one.json")

// TestStoryOneWithTickets: the contractor's public bucket policy becomes
// two Slack threads and one ticket in the owning team's project; the fix
// resolves both messages and closes the ticket with who fixed it. Jira is
// down in the middle: nothing is lost and no ticket is duplicated.
func TestStoryOneWithTickets(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	jf := jirafake.New(jirafake.Options{})
	t.Cleanup(jf.Close)
	e.cfg.Jira.Enabled = true
	e.cfg.Jira.BaseURL = jf.URL
	e.cfg.Jira.Email = "bot@example.com"
	e.cfg.Jira.APIToken = "jira-token"
	jf.SetDown(true)
	e.start(t)
	defer e.stop(t)

	// The whole story: the contractor's policy, then the admin's fix.
	e.drop(t, "story-one.json", storyOne)
	e.wait(t, "the finding in both channels, resolved by the fix in the same file", func() bool {
		s, p := topLevel(e.emu.Messages(e.secops)), topLevel(e.emu.Messages(e.payments))
		return len(s) == 1 && len(p) == 1 && strings.Contains(s[0].Text, "RESOLVED") && strings.Contains(p[0].Text, "RESOLVED")
	})
	if n := len(jf.Issues()); n != 0 {
		t.Fatalf("%d tickets while Jira was down", n)
	}
	jf.SetDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var done []jirafake.Issue
		for _, is := range jf.Issues() {
			if is.Status == "Done" {
				done = append(done, is)
			}
		}
		// Two findings: the public policy (high) and the removed public
		// access block (medium, a backlog ticket), both fixed.
		if len(done) == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tickets after Jira came back: %+v", jf.Issues())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if n := len(jf.Issues()); n != 2 {
		t.Errorf("%d tickets, want exactly 2 (no duplicates after the outage)", n)
	}
	var public jirafake.Issue
	for _, is := range jf.Issues() {
		if is.Priority == "High" {
			public = is
		}
	}
	if public.Project != "PAY" || len(public.Comments) == 0 {
		t.Fatalf("public-bucket ticket = %+v, want one in PAY with comments", public)
	}
	last := public.Comments[len(public.Comments)-1]
	if !strings.Contains(last.Text, "payments-admin") {
		t.Errorf("closing comment %q does not say who fixed it", last.Text)
	}

	// The resolution asks SecOps to review the exposure window; one click
	// closes the review, a second is told it was done.
	var reviewTS string
	e.wait(t, "the review prompt with its button", func() bool {
		s := topLevel(e.emu.Messages(e.secops))
		if len(s) != 1 {
			return false
		}
		for _, r := range e.emu.Replies(e.secops, s[0].TS) {
			if strings.Contains(string(r.Blocks), `"action_id":"finding.review"`) {
				reviewTS = r.TS
				return true
			}
		}
		return false
	})
	for i := 0; i < 2; i++ {
		if _, err := e.emu.ClickButton(context.Background(), slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: reviewTS, ActionID: "finding.review"}); err != nil {
			t.Fatal(err)
		}
	}
	e.wait(t, "the review closed once and the second click told so", func() bool {
		closed := 0
		s := topLevel(e.emu.Messages(e.secops))
		for _, r := range e.emu.Replies(e.secops, s[0].TS) {
			if strings.Contains(r.Text, "Exposure review of") {
				closed++
			}
		}
		told := false
		for _, ep := range e.emu.Ephemerals() {
			if strings.Contains(ep.Text, "already closed") {
				told = true
			}
		}
		return closed == 1 && told
	})
	e.wait(t, "the ticket linked from the Slack message", func() bool {
		s := topLevel(e.emu.Messages(e.secops))
		return len(s) == 1 && strings.Contains(string(s[0].Blocks), public.Key)
	})

	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	var out bytes.Buffer
	if err := Report(context.Background(), e.cfg, zerolog.Nop(), 100*365*24*time.Hour, "csv", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "payments") || !strings.Contains(out.String(), "s3-bucket-public") {
		t.Errorf("report lacks the team or the rule:\n%s", out.String())
	}
	st, err := sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFindings(context.Background(), store.FindingFilter{Statuses: []finding.Status{finding.StatusResolved}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Rule == "s3-bucket-public" && f.OpenFor != 17*time.Minute+33*time.Second {
			t.Errorf("time to resolve recorded as %v, want 17m33s", f.OpenFor)
		}
	}
}
