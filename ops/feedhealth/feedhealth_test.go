package feedhealth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
)

var t0 = time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)

// message is what a channel shows: the text as last posted or edited.
type message struct {
	channel, text string
	edits         int
}

// notifier is a channel that remembers its messages.
type notifier struct {
	mu      sync.Mutex
	msgs    map[string]*message // ts → message
	order   []string
	failing int // the next failing posts return an error
	// slow delays every post, as Slack's latency does, so that checks
	// running at the same time overlap.
	slow time.Duration
}

func newNotifier() *notifier { return &notifier{msgs: map[string]*message{}} }

func (n *notifier) Post(_ context.Context, channel, text string) (string, error) {
	time.Sleep(n.slow)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failing > 0 {
		n.failing--
		return "", errors.New("slack unavailable")
	}
	ts := fmt.Sprintf("1714532400.%06d", len(n.order)+1)
	n.msgs[ts] = &message{channel: channel, text: text}
	n.order = append(n.order, ts)
	return ts, nil
}

func (n *notifier) Update(_ context.Context, channel, ts, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.msgs[ts]
	if !ok || m.channel != channel {
		return fmt.Errorf("message_not_found: %s in %s", ts, channel)
	}
	m.text = text
	m.edits++
	return nil
}

// texts returns the channel's messages in posting order.
func (n *notifier) texts() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, ts := range n.order {
		out = append(out, n.msgs[ts].text)
	}
	return out
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newMonitor(kv KV, n Notifier, clk clock.Clock, watch ...Target) *Monitor {
	return New(kv, n, Options{Channel: "#secops", MaxSilence: 30 * time.Minute, Watch: watch, Clock: clk, Logger: zerolog.Nop()})
}

func check(t *testing.T, m *Monitor) {
	t.Helper()
	if err := m.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// wantTexts compares the channel with the expected messages, each given by
// fragments it must contain.
func wantTexts(t *testing.T, n *notifier, want ...[]string) {
	t.Helper()
	got := n.texts()
	if len(got) != len(want) {
		t.Fatalf("channel has %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, frags := range want {
		for _, f := range frags {
			if !strings.Contains(got[i], f) {
				t.Errorf("message %d = %q, want it to contain %q", i, got[i], f)
			}
		}
	}
}

func TestSilence(t *testing.T) {
	tests := []struct {
		name  string
		watch []Target
		// events before the silence, as account/region pairs at t0.
		events [][2]string
		want   [][]string
	}{
		{
			name:   "seen account goes silent",
			events: [][2]string{{acctB, "eu-west-1"}},
			want:   [][]string{{"No CloudTrail events from account " + acctB + "*", "newest is from 2024-05-01 03:00 UTC, 31m ago"}},
		},
		{
			name:  "configured region never heard from",
			watch: []Target{{Account: acctA, Region: "us-east-1"}},
			// Events from another region do not vouch for us-east-1.
			events: [][2]string{{acctA, "eu-west-1"}},
			want: [][]string{
				{"No CloudTrail events from account " + acctA + "*", "31m ago"},
				{"No CloudTrail events from account " + acctA + " in us-east-1*", "none since the bot started 31m ago"},
			},
		},
		{
			name:  "configured account never heard from",
			watch: []Target{{Account: acctA}},
			want:  [][]string{{"No CloudTrail events from account " + acctA + "*", "none since the bot started"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			n := newNotifier()
			m := newMonitor(openStore(t, filepath.Join(t.TempDir(), "db")), n, clk, tc.watch...)
			for _, e := range tc.events {
				m.Observe(e[0], e[1], t0)
			}
			clk.Advance(29 * time.Minute)
			check(t, m)
			wantTexts(t, n)

			clk.Advance(2 * time.Minute)
			check(t, m)
			wantTexts(t, n, tc.want...)

			// Still silent an hour later: no second message.
			clk.Advance(time.Hour)
			check(t, m)
			wantTexts(t, n, tc.want...)
		})
	}
}

func TestSilenceClearsWhenEventsResume(t *testing.T) {
	clk := clock.NewFake(t0)
	n := newNotifier()
	m := newMonitor(openStore(t, filepath.Join(t.TempDir(), "db")), n, clk)
	m.Observe(acctB, "eu-west-1", t0)
	clk.Advance(40 * time.Minute)
	check(t, m)
	wantTexts(t, n, []string{"No CloudTrail events from account " + acctB})

	// A straggler from the silent period is not a feed.
	m.Observe(acctB, "eu-west-1", t0.Add(5*time.Minute))
	check(t, m)
	wantTexts(t, n, []string{"No CloudTrail events from account " + acctB})

	m.Observe(acctB, "eu-west-1", clk.Now().Add(-2*time.Minute))
	check(t, m)
	wantTexts(t, n, []string{"Events flowing again from account " + acctB + "*", "newest from 2024-05-01 03:38 UTC", "Warned at 2024-05-01 03:40 UTC"})
	if e := n.msgs[n.order[0]].edits; e != 1 {
		t.Errorf("warning edited %d times, want 1", e)
	}

	// Silent again later: a new warning, since the old one is closed.
	clk.Advance(time.Hour)
	check(t, m)
	if got := len(n.texts()); got != 2 {
		t.Errorf("channel has %d messages after a second silence, want 2", got)
	}
}

func TestRestartKeepsWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	clk := clock.NewFake(t0)
	n := newNotifier()
	st := openStore(t, path)
	m := newMonitor(st, n, clk)
	m.Observe(acctB, "eu-west-1", t0)
	m.Observe(acctA, "us-east-1", t0)
	m.FindingCreated(finding.Finding{ID: "f-stop", Rule: detect.RuleLoggingDisabled, AccountID: acctA, Region: "us-east-1", Status: finding.StatusOpen})
	check(t, m)
	clk.Advance(45 * time.Minute)
	check(t, m)
	// Account A's silence is explained by the stopped trail: one message.
	wantTexts(t, n, []string{"logging was stopped in account " + acctA}, []string{"No CloudTrail events from account " + acctB})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A new process: nothing observed yet, the same channel.
	clk.Advance(time.Hour)
	m = newMonitor(openStore(t, path), n, clk)
	check(t, m)
	wantTexts(t, n, []string{"logging was stopped in account " + acctA}, []string{"No CloudTrail events from account " + acctB})

	m.Observe(acctB, "eu-west-1", clk.Now())
	m.Observe(acctA, "us-east-1", clk.Now())
	check(t, m)
	wantTexts(t, n,
		[]string{"Events flowing again from account " + acctA + " in us-east-1*", "finding f-stop"},
		[]string{"Events flowing again from account " + acctB + "*"})
}

func TestLoggingDisabled(t *testing.T) {
	tests := []struct {
		name   string
		status finding.Status
		rule   string
		want   [][]string
	}{
		{name: "warned at once", status: finding.StatusOpen, rule: detect.RuleLoggingDisabled,
			want: [][]string{{"CloudTrail logging was stopped in account " + acctA + " in us-east-1*", "finding f-1"}}},
		{name: "marked expected", status: finding.StatusSuppressed, rule: detect.RuleLoggingDisabled},
		{name: "another rule", status: finding.StatusOpen, rule: detect.RuleS3BucketPublic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			n := newNotifier()
			m := newMonitor(openStore(t, filepath.Join(t.TempDir(), "db")), n, clk)
			m.Observe(acctA, "us-east-1", t0)
			m.FindingCreated(finding.Finding{ID: "f-1", Rule: tc.rule, AccountID: acctA, Region: "us-east-1", Status: tc.status})
			check(t, m)
			wantTexts(t, n, tc.want...)
		})
	}
}

func TestLoggingWarningClearsOnNewerEvent(t *testing.T) {
	clk := clock.NewFake(t0)
	n := newNotifier()
	m := newMonitor(openStore(t, filepath.Join(t.TempDir(), "db")), n, clk)
	stop := t0.Add(-3 * time.Minute)
	m.Observe(acctA, "us-east-1", stop)
	m.LoggingDisabled(acctA, "us-east-1", "f-1")
	check(t, m)

	// Late events from before the stop, and events of other regions, say
	// nothing about this trail.
	m.Observe(acctA, "us-east-1", stop.Add(-time.Minute))
	m.Observe(acctA, "eu-west-1", clk.Now())
	clk.Advance(5 * time.Minute)
	check(t, m)
	wantTexts(t, n, []string{"CloudTrail logging was stopped"})

	m.Observe(acctA, "us-east-1", stop.Add(time.Second))
	check(t, m)
	wantTexts(t, n, []string{"Events flowing again from account " + acctA + " in us-east-1*", "logging had been stopped (finding f-1)"})
}

func TestFailedPostIsRetried(t *testing.T) {
	clk := clock.NewFake(t0)
	n := newNotifier()
	n.failing = 1
	m := newMonitor(openStore(t, filepath.Join(t.TempDir(), "db")), n, clk)
	m.LoggingDisabled(acctA, "us-east-1", "f-1")
	if err := m.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "slack unavailable") {
		t.Fatalf("Check with Slack down = %v, want the post error", err)
	}
	wantTexts(t, n)
	check(t, m)
	check(t, m)
	wantTexts(t, n, []string{"CloudTrail logging was stopped"})
}

func TestSilenceOff(t *testing.T) {
	clk := clock.NewFake(t0)
	n := newNotifier()
	m := New(openStore(t, filepath.Join(t.TempDir(), "db")), n, Options{Channel: "#secops", Clock: clk, Watch: []Target{{Account: acctA}}})
	m.Observe(acctB, "us-east-1", t0)
	clk.Advance(24 * time.Hour)
	check(t, m)
	wantTexts(t, n)
}

func TestRunWarnsRightAfterLoggingDisabled(t *testing.T) {
	n := newNotifier()
	m := New(openStore(t, filepath.Join(t.TempDir(), "db")), n, Options{
		Channel: "#secops", MaxSilence: 30 * time.Minute, Interval: time.Hour, Clock: clock.NewFake(t0), Logger: zerolog.Nop(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	m.LoggingDisabled(acctA, "us-east-1", "f-1")
	deadline := time.Now().Add(5 * time.Second)
	for len(n.texts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no warning within 5s of the report, though the next scheduled check is an hour away")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantTexts(t, n, []string{"CloudTrail logging was stopped in account " + acctA})
}
