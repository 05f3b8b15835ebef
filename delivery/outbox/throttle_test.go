package outbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// provider answers each method as told: the first calls of a method with
// the statuses and Retry-After headers queued for it, then 200. It counts
// the calls that reach it.
type provider struct {
	srv *httptest.Server

	mu      sync.Mutex
	answers map[string][]answer
	calls   map[string]int
}

type answer struct {
	status     int
	retryAfter string
}

func newProvider(t *testing.T) *provider {
	p := &provider{answers: map[string][]answer{}, calls: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := strings.TrimPrefix(r.URL.Path, "/api/")
		p.mu.Lock()
		p.calls[m]++
		a := answer{status: http.StatusOK}
		if q := p.answers[m]; len(q) > 0 {
			a, p.answers[m] = q[0], q[1:]
		}
		p.mu.Unlock()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) answer(method string, a ...answer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers[method] = append(p.answers[method], a...)
}

func (p *provider) callsTo(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

func slackMethod(r *http.Request) string { return "slack " + strings.TrimPrefix(r.URL.Path, "/api/") }

// A provider's Retry-After holds every call to the method it answered for,
// and only that method, until it has passed.
func TestThrottleHoldsTheMethod(t *testing.T) {
	type call struct {
		advance        time.Duration // clock move before the call
		method         string
		wantStatus     int
		wantReached    bool   // the call reached the provider
		wantRetryAfter string // on a 429
	}
	tests := []struct {
		name    string
		answers map[string][]answer
		calls   []call
	}{
		{
			name:    "a 429 holds its method for the seconds it asks",
			answers: map[string][]answer{"chat.postMessage": {{http.StatusTooManyRequests, "30"}}},
			calls: []call{
				{method: "chat.postMessage", wantStatus: 429, wantReached: true, wantRetryAfter: "30"},
				{method: "chat.postMessage", wantStatus: 429, wantRetryAfter: "30"},
				{method: "chat.update", wantStatus: 200, wantReached: true},
				{advance: 29*time.Second + 500*time.Millisecond, method: "chat.postMessage", wantStatus: 429, wantRetryAfter: "1"},
				{advance: 500 * time.Millisecond, method: "chat.postMessage", wantStatus: 200, wantReached: true},
			},
		},
		{
			name:    "an HTTP date",
			answers: map[string][]answer{"chat.update": {{http.StatusTooManyRequests, t0.Add(time.Minute).Format(http.TimeFormat)}}},
			calls: []call{
				{method: "chat.update", wantStatus: 429, wantReached: true},
				{advance: 59 * time.Second, method: "chat.update", wantStatus: 429, wantRetryAfter: "1"},
				{advance: time.Second, method: "chat.update", wantStatus: 200, wantReached: true},
			},
		},
		{
			name:    "an outage without Retry-After holds nothing",
			answers: map[string][]answer{"chat.postMessage": {{http.StatusServiceUnavailable, ""}}},
			calls: []call{
				{method: "chat.postMessage", wantStatus: 503, wantReached: true},
				{method: "chat.postMessage", wantStatus: 200, wantReached: true},
			},
		},
		{
			name: "a shorter Retry-After does not cut a longer one short",
			answers: map[string][]answer{"chat.postMessage": {
				{http.StatusTooManyRequests, "30"},
			}, "chat.update": {{http.StatusTooManyRequests, "5"}}},
			calls: []call{
				{method: "chat.postMessage", wantStatus: 429, wantReached: true, wantRetryAfter: "30"},
				{method: "chat.update", wantStatus: 429, wantReached: true, wantRetryAfter: "5"},
				{advance: 5 * time.Second, method: "chat.update", wantStatus: 200, wantReached: true},
				{method: "chat.postMessage", wantStatus: 429, wantRetryAfter: "25"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t)
			for m, a := range tc.answers {
				p.answer(m, a...)
			}
			clk := clock.NewFake(t0)
			client := &http.Client{Transport: NewThrottle(clk, zerolog.Nop()).Transport(nil, slackMethod)}
			for i, c := range tc.calls {
				clk.Advance(c.advance)
				before := p.callsTo(c.method)
				resp, err := client.Post(p.srv.URL+"/api/"+c.method, "application/json", strings.NewReader(`{"channel":"C1"}`))
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.wantStatus {
					t.Errorf("call %d (%s): status %d, want %d", i, c.method, resp.StatusCode, c.wantStatus)
				}
				if reached := p.callsTo(c.method) > before; reached != c.wantReached {
					t.Errorf("call %d (%s): reached the provider: %v, want %v", i, c.method, reached, c.wantReached)
				}
				if c.wantRetryAfter != "" && resp.Header.Get("Retry-After") != c.wantRetryAfter {
					t.Errorf("call %d (%s): Retry-After %q, want %q", i, c.method, resp.Header.Get("Retry-After"), c.wantRetryAfter)
				}
			}
		})
	}
}

// Items of a method the provider rate-limited are not tried before its
// Retry-After has passed, though only the first was refused; items of
// other methods go on.
func TestRateLimitedMethodHoldsItsItems(t *testing.T) {
	e := newEnv(t)
	p := newProvider(t)
	p.answer("chat.postMessage", answer{http.StatusTooManyRequests, "30"})
	rt := e.runtime("replica-1")
	client := &http.Client{Transport: rt.Throttle().Transport(nil, slackMethod)}
	h := HandlerFunc(func(ctx context.Context, it store.OutboxItem) error {
		method := strings.TrimPrefix(it.Kind, "slack.")
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.srv.URL+"/api/"+method, nil)
		if err != nil {
			return Drop(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return fmt.Errorf("%s: rate limited: %w", method, RetryAfter(time.Duration(secs)*time.Second))
		}
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	if err := rt.Add(Lane{Prefix: "slack.", Handler: h}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.enqueue(fmt.Sprintf("post|%d", i), "slack.chat.postMessage")
	}
	e.enqueue("update|0", "slack.chat.update")

	ctx := context.Background()
	rt.Drain(ctx)
	if n := p.callsTo("chat.postMessage"); n != 1 {
		t.Fatalf("%d posts reached the provider in the storm, want the one it refused", n)
	}
	if n := p.callsTo("chat.update"); n != 1 {
		t.Fatalf("%d updates reached the provider, want 1: another method does not wait", n)
	}
	e.clk.Advance(29 * time.Second)
	if n := rt.Drain(ctx); n != 0 || p.callsTo("chat.postMessage") != 1 {
		t.Fatalf("before the Retry-After passed: %d items claimed, %d posts made", n, p.callsTo("chat.postMessage"))
	}
	e.clk.Advance(time.Second)
	rt.Drain(ctx)
	if n := p.callsTo("chat.postMessage"); n != 6 {
		t.Errorf("%d posts in all, want the refused one and one per item after the window", n)
	}
	if d := e.depth(); d != 0 {
		t.Errorf("outbox depth %d, want 0", d)
	}
}
