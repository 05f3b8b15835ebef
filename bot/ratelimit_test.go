package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var t0 = time.Date(2026, 11, 26, 14, 21, 7, 0, time.UTC)

// slackEnv is a bot connected to the Slack emulator, delivering the outbox
// of a store on a fake clock.
type slackEnv struct {
	t      *testing.T
	emu    *slackemu.Server
	secops string
	clk    *clock.Fake
	st     *sqlite.Store
	rt     *outbox.Runtime
}

func newSlackEnv(t *testing.T) *slackEnv {
	t.Helper()
	ctx := context.Background()
	emu := slackemu.New(slackemu.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	e := &slackEnv{t: t, emu: emu, clk: clock.NewFake(t0)}
	e.secops = emu.PutChannel(slackemu.Channel{Name: "secops"})
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), sqlite.Options{Clock: e.clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	dir, err := org.New(org.Options{SecOps: org.TeamOptions{SlackChannel: "#secops"}})
	if err != nil {
		t.Fatal(err)
	}
	e.rt = outbox.New(st, "replica-1", e.clk, zerolog.Nop())
	o := emu.Options()
	b, err := Connect(ctx, Config{
		AppToken: o.AppToken, BotToken: o.BotToken, APIURL: emu.APIURL(),
		Channels: []string{"#secops"}, Owner: "replica-1", Throttle: e.rt.Throttle(),
	}, dir, e.clk, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(Services{Store: st, Wake: e.rt.Wake})
	if err := e.rt.Add(b.SlackLane()); err != nil {
		t.Fatal(err)
	}
	return e
}

// raise stores a new finding routed to #secops, with its deliveries.
func (e *slackEnv) raise(name string) finding.Finding {
	e.t.Helper()
	arn := "arn:aws:s3:::" + name
	f := finding.Finding{
		ID: finding.IDFor(arn), Key: arn, Rule: "s3-bucket-public", Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		AccountID: "111122223333", Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: name, ARN: arn},
		OpenedAt: t0, FirstSeen: t0, LastSeen: t0, Routes: []string{"slack:#secops"}, Version: 1,
	}
	ev := store.FindingEvent{Status: f.Status, Actor: "system", Outbox: delivery.Planner{}.Plan(f, finding.ChangeCreated, "system", "")}
	if err := e.st.UpsertFinding(context.Background(), f, ev); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// change records a change of f that updates its message in place.
func (e *slackEnv) change(f finding.Finding) {
	e.t.Helper()
	_, err := e.st.UpdateFinding(context.Background(), f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
		f.Version++
		f.LastSeen = e.clk.Now()
		return store.FindingEvent{Outbox: delivery.Planner{}.Plan(*f, finding.ChangeAssessed, "system", "")}, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// drain delivers until nothing is due.
func (e *slackEnv) drain() {
	e.t.Helper()
	for range 100 {
		if e.rt.Drain(context.Background()) == 0 {
			return
		}
	}
	e.t.Fatal("the outbox kept finding due items")
}

func (e *slackEnv) calls(method string) int { return len(e.emu.CallsTo(method)) }

// A 429 storm on one Slack method: Slack answers 429 with Retry-After for
// every call to it. The method's pending items wait until the Retry-After
// has passed, so only the first call of the storm reaches Slack, instead of
// one per pending item (and another per retry); items of the other method
// go on. Once the window has passed each waiting item is delivered once.
func TestRateLimitedMethodWaitsForRetryAfter(t *testing.T) {
	const retryAfter = time.Minute
	tests := []struct {
		name    string
		limited string // the method in a storm
		other   string
	}{
		{name: "posts wait, updates go on", limited: "chat.postMessage", other: "chat.update"},
		{name: "updates wait, posts go on", limited: "chat.update", other: "chat.postMessage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSlackEnv(t)
			// Two findings already posted, each changed since (two
			// updates pending), and three new ones (three posts pending).
			var posted []finding.Finding
			for i := range 2 {
				posted = append(posted, e.raise(fmt.Sprintf("exports-%d", i)))
			}
			e.drain()
			for _, f := range posted {
				e.change(f)
			}
			for i := range 3 {
				e.raise(fmt.Sprintf("archive-%d", i))
			}
			pending := map[string]int{"chat.update": 2, "chat.postMessage": 3}
			before := map[string]int{"chat.update": e.calls("chat.update"), "chat.postMessage": e.calls("chat.postMessage")}

			// Every call to the method is refused, with Retry-After, until
			// the faults are cleared.
			e.emu.RateLimit(tc.limited, 1000, retryAfter)
			e.drain()
			if got := e.calls(tc.limited) - before[tc.limited]; got != 1 {
				t.Fatalf("%d calls to %s reached Slack in the storm, want the one it refused", got, tc.limited)
			}
			if got := e.calls(tc.other) - before[tc.other]; got != pending[tc.other] {
				t.Fatalf("%d calls to %s, want %d: another method does not wait", got, tc.other, pending[tc.other])
			}
			retryAfterSent := e.emu.CallsTo(tc.limited)[before[tc.limited]]
			if retryAfterSent.Status != 429 {
				t.Fatalf("the storm's call answered %d, want 429", retryAfterSent.Status)
			}

			e.clk.Advance(retryAfter - time.Second)
			e.drain()
			if got := e.calls(tc.limited) - before[tc.limited]; got != 1 {
				t.Fatalf("%d calls to %s before the Retry-After passed, want only the refused one", got, tc.limited)
			}
			e.emu.ClearFaults() // Slack's window is over
			e.clk.Advance(time.Second)
			e.drain()
			if got := e.calls(tc.limited) - before[tc.limited]; got != 1+pending[tc.limited] {
				t.Errorf("%d calls to %s in all, want the refused one and one per pending item", got, tc.limited)
			}
			if n := len(e.emu.Messages(e.secops)); n != 5 {
				t.Errorf("#secops holds %d messages, want one per finding", n)
			}
			if d, err := e.st.OutboxDepth(context.Background()); err != nil || d != 0 {
				t.Errorf("outbox depth %d (%v), want 0", d, err)
			}
		})
	}
}
