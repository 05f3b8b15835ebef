package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// jumpClock runs in real time, so the bot's timers and network deadlines
// work, and jumps forward when the test says a day has passed.
type jumpClock struct {
	base clock.Shifted
	mu   sync.Mutex
	skip time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Now().Add(c.skip)
}

func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	c.skip += d
	c.mu.Unlock()
}

// A share marked expected for a day: /secops expected lists it with who,
// why, scope and expiry, outsiders may not see the list, and a day later
// the next share of the same snapshot alerts again, the expiry written to
// the audit log by the bot.
func TestExpectedEntryExpires(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	clk := &jumpClock{base: clock.ShiftedTo(testNow(t))}
	e.clk = clk
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	msg := topLevel(e.emu.Messages(e.secops))[0]

	if _, err := e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.expected"}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the mark-expected form", func() bool {
		for _, v := range e.emu.Views() {
			if v.CallbackID == "finding.expected" {
				return true
			}
		}
		return false
	})
	if _, err := e.emu.SubmitView(ctx, slackemu.ViewSubmission{CallbackID: "finding.expected", UserID: responder, Values: map[string]map[string]string{
		"expected.reason": {"reason": "restore test with the DR vendor today"},
		"expected.scope":  {"scope": "resource"},
		"expected.expiry": {"expiry": "1d"},
	}}); err != nil {
		t.Fatal(err)
	}
	e.wait(t, "the finding suppressed", func() bool {
		cur, _ := e.emu.Message(e.secops, msg.TS)
		return strings.Contains(cur.Text, "SUPPRESSED")
	})

	command := func(user, text string) {
		t.Helper()
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: text, UserID: user, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
	}
	told := func(user, want string) func() bool {
		return func() bool {
			for _, ep := range e.emu.Ephemerals() {
				if ep.User == user && strings.Contains(ep.Text+string(ep.Blocks), want) {
					return true
				}
			}
			return false
		}
	}
	command(outsider, "expected")
	e.wait(t, "the outsider refused", told(outsider, "Not allowed"))
	command(responder, "expected list")
	e.wait(t, "the list with the entry", told(responder, "restore test with the DR vendor today"))
	for _, ep := range e.emu.Ephemerals() {
		if ep.User == responder && strings.Contains(string(ep.Blocks), "restore test") {
			for _, want := range []string{"prod-customers-2026-11-26", "snapshot-shared-external", responder, "expires", "payments-prod"} {
				if !strings.Contains(string(ep.Blocks), want) {
					t.Errorf("the list lacks %q", want)
				}
			}
		}
	}

	clk.jump(25 * time.Hour)
	b, err := os.ReadFile(incident)
	if err != nil {
		t.Fatal(err)
	}
	again := strings.NewReplacer("2026-11-27T03:04:12Z", "2026-11-28T03:10:00Z", "444455556666", "555566667777").Replace(string(b))
	again = regexp.MustCompile(`"eventID": "[^"]+"`).ReplaceAllString(again, `"eventID": "5f0c7c8e-0000-4000-8000-00000000e001"`)
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "again.json"), again)
	e.wait(t, "the same snapshot shared again alerting once more", func() bool {
		cur, _ := e.emu.Message(e.secops, msg.TS)
		return strings.Contains(cur.Text, "CRITICAL") && !strings.Contains(cur.Text, "SUPPRESSED")
	})
	e.wait(t, "a thread reply that it alerts again", func() bool {
		for _, r := range e.emu.Replies(e.secops, msg.TS) {
			if strings.Contains(strings.ToLower(r.Text+string(r.Blocks)), "reopened") {
				return true
			}
		}
		return false
	})

	e.stop(t)
	e.cancel = func() {}
	e.done = make(chan error, 1)
	e.done <- nil
	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "finding.expected"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.Action+" "+r.Result]++
		if r.Action == "finding.expected.expire" && (r.Actor != "system" || !strings.Contains(r.Reason, "restore test")) {
			t.Errorf("expiry audit record = %+v", r)
		}
	}
	for _, want := range []string{"finding.expected ok", "finding.expected.list ok", "finding.expected.list refused", "finding.expected.expire ok"} {
		if got[want] != 1 {
			t.Errorf("audit %v: want one %q", got, want)
		}
	}
}
