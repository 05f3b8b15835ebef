package outbox

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// Throttle remembers, per provider method, until when the provider asked
// not to be called again (HTTP 429 with Retry-After). Slack's limits apply
// to a method for the whole app, not to one message: once chat.postMessage
// answers 429, every pending post would be refused until the window ends,
// and trying each of them only adds to the storm. Calls made through
// Transport wait out the window without reaching the provider, so every
// pending item of a limited method waits, not only the one refused.
//
// A Throttle is per process; each replica learns a window from its own
// first refusal.
type Throttle struct {
	clk clock.Clock
	log zerolog.Logger

	mu    sync.Mutex
	until map[string]time.Time
}

// NewThrottle returns a throttle that holds nothing yet.
func NewThrottle(clk clock.Clock, log zerolog.Logger) *Throttle {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Throttle{clk: clk, log: log, until: map[string]time.Time{}}
}

// Hold keeps calls to method waiting for d from now. A shorter hold never
// cuts a longer one short.
func (t *Throttle) Hold(method string, d time.Duration) {
	if d <= 0 {
		return
	}
	until := t.clk.Now().Add(d)
	t.mu.Lock()
	longer := until.After(t.until[method])
	if longer {
		t.until[method] = until
	}
	t.mu.Unlock()
	if longer {
		t.log.Warn().Str("method", method).Dur("retry_after", d).Msg("rate limited; calls to the method wait")
	}
}

// Wait returns how long calls to method must still wait, zero when they
// may go.
func (t *Throttle) Wait(method string) time.Duration {
	now := t.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.until[method]
	if !ok {
		return 0
	}
	if !now.Before(until) {
		delete(t.until, method)
		return 0
	}
	return until.Sub(now)
}

// Transport returns next with the throttle in front: a request to a method
// that is held is answered at once with HTTP 429 and the whole seconds left
// in Retry-After, as the provider itself would answer it, and is never
// sent; a 429 (or 503) answer with Retry-After holds its method. method
// names the provider method a request calls, prefixed with the provider
// ("slack chat.postMessage"), since the throttle may be shared.
func (t *Throttle) Transport(next http.RoundTripper, method func(*http.Request) string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &throttled{t: t, next: next, method: method}
}

type throttled struct {
	t      *Throttle
	next   http.RoundTripper
	method func(*http.Request) string
}

func (th *throttled) RoundTrip(req *http.Request) (*http.Response, error) {
	m := th.method(req)
	if wait := th.t.Wait(m); wait > 0 {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return tooManyRequests(req, wait), nil
	}
	resp, err := th.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		th.t.Hold(m, th.t.retryAfter(resp.Header.Get("Retry-After")))
	}
	return resp, nil
}

// retryAfter reads a Retry-After header: whole seconds or an HTTP date;
// zero when absent or unreadable.
func (t *Throttle) retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return at.Sub(t.clk.Now())
	}
	return 0
}

// tooManyRequests is the answer to a request held by the throttle.
func tooManyRequests(req *http.Request, wait time.Duration) *http.Response {
	secs := (wait + time.Second - 1) / time.Second
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	return &http.Response{
		Status:     "429 Too Many Requests",
		StatusCode: http.StatusTooManyRequests,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       io.NopCloser(strings.NewReader("")),
		Request:    req,
	}
}
