package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// serve starts the server on a free loopback port and returns its base URL;
// the server stops, and must have stopped cleanly, when the test ends.
func serve(t *testing.T, m *Metrics, ready ReadyFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.ServeListener(ctx, ln, ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop after its context ended")
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// samples maps each sample line of a scrape ("name{labels}") to its value.
func samples(t *testing.T, base string) map[string]string {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

func TestScrape(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(now)
	m := New(clk)
	base := serve(t, m, nil)

	m.EventIngested("sqs", "111111111111", "us-east-1", now.Add(-90*time.Second))
	m.EventIngested("sqs", "111111111111", "us-east-1", now.Add(-5*time.Minute)) // older: lag unchanged
	m.EventIngested("dir", "222222222222", "eu-west-1", now.Add(-time.Hour))
	m.FindingCreated(finding.Finding{Rule: "s3-bucket-public", Severity: finding.SeverityCritical})
	m.SetOutboxDepth(7)
	m.FindingPosted(finding.Finding{DetectedAt: now.Add(-3 * time.Second), Event: finding.EventRef{Time: now.Add(-40 * time.Second)}})

	got := samples(t, base)
	want := map[string]string{
		`secops_bot_events_in_total{source="sqs"}`:                               "2",
		`secops_bot_events_in_total{source="dir"}`:                               "1",
		`secops_bot_findings_total{rule="s3-bucket-public",severity="critical"}`: "1",
		`secops_bot_outbox_depth`:                                                "7",
		`secops_bot_queue_lag_seconds`:                                           "90",
		`secops_bot_event_to_post_seconds_sum{from="detected"}`:                  "3",
		`secops_bot_event_to_post_seconds_sum{from="event"}`:                     "40",
		`secops_bot_event_to_post_seconds_count{from="detected"}`:                "1",
		`secops_bot_event_to_post_seconds_bucket{from="detected",le="5"}`:        "1",
		`secops_bot_event_to_post_seconds_bucket{from="detected",le="2.5"}`:      "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("runtime metrics missing from the scrape")
	}

	clk.Advance(30 * time.Second)
	if got := samples(t, base)["secops_bot_queue_lag_seconds"]; got != "120" {
		t.Errorf("queue lag after 30s = %s, want 120", got)
	}
}

func TestQueueLagBeforeAnyEvent(t *testing.T) {
	m := New(clock.NewFake(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)))
	if got := samples(t, serve(t, m, nil))["secops_bot_queue_lag_seconds"]; got != "0" {
		t.Errorf("queue lag with no event = %s, want 0", got)
	}
}

func TestProbes(t *testing.T) {
	var reason atomic.Value
	reason.Store("store unreachable")
	ready := func(context.Context) error {
		if r := reason.Load().(string); r != "" {
			return errors.New(r)
		}
		return nil
	}
	base := serve(t, New(nil), ready)

	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while not ready, want 200 (the process is alive)", code)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store unreachable") {
		t.Errorf("/readyz = %d %q, want 503 naming the reason", code, body)
	}
	reason.Store("")
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q once ready, want 200", code, body)
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path = %d, want 404", code)
	}
}

type depth struct {
	n   atomic.Int64
	err error
}

func (d *depth) OutboxDepth(context.Context) (int, error) { return int(d.n.Load()), d.err }

func TestSampleOutbox(t *testing.T) {
	m := New(nil)
	base := serve(t, m, nil)
	d := &depth{}
	d.n.Store(3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.SampleOutbox(ctx, d, 5*time.Millisecond, zerolog.Nop()) }()
	defer func() { cancel(); <-done }()

	waitFor(t, func() bool { return samples(t, base)["secops_bot_outbox_depth"] == "3" })
	d.n.Store(12)
	waitFor(t, func() bool { return samples(t, base)["secops_bot_outbox_depth"] == "12" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCachedReadiness(t *testing.T) {
	calls := 0
	check := Cached(time.Hour, func(context.Context) error {
		calls++
		return fmt.Errorf("slack down (call %d)", calls)
	})
	for range 3 {
		if err := check(context.Background()); err == nil || err.Error() != "slack down (call 1)" {
			t.Fatalf("check = %v, want the first result again", err)
		}
	}
	if calls != 1 {
		t.Errorf("underlying check ran %d times within the TTL, want 1", calls)
	}
	fresh := Cached(0, func(context.Context) error { calls++; return nil })
	_ = fresh(context.Background())
	_ = fresh(context.Background())
	if calls != 3 {
		t.Errorf("with no TTL the check ran %d times in all, want 3", calls)
	}
}
