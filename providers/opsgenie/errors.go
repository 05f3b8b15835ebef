package opsgenie

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsgenie/opsgenie-go-sdk-v2/client"

	"github.com/secops-bot/secops-bot/delivery/paging"
)

// exchange is what came back for one call: the SDK's errors keep the
// status and Opsgenie's message but drop the rate-limit headers.
type exchange struct {
	status int
	header http.Header
	sent   bool // the request went out (a transport error, if any, is the network's)
}

type exchangeKey struct{}

func withExchange(ctx context.Context) (context.Context, *exchange) {
	ex := &exchange{}
	return context.WithValue(ctx, exchangeKey{}, ex), ex
}

// transport sends the SDK's requests to the configured base URL (the SDK
// knows only a host, and takes http for hosts without "api" in their name)
// and notes each response in the call's exchange.
type transport struct {
	base *url.URL
	next *http.Client
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, ""
	r.URL.Path = strings.TrimRight(t.base.Path, "/") + req.URL.Path
	r.URL.RawPath = ""
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex != nil {
		ex.sent = true
	}
	resp, err := t.next.Do(r)
	if ex != nil && resp != nil {
		ex.status, ex.header = resp.StatusCode, resp.Header.Clone()
	}
	return resp, err
}

// fail turns a failed call into one of paging's error kinds; fix says, for
// a status Opsgenie refused the request with, what to set right.
func (c *Client) fail(ctx context.Context, op string, ex *exchange, err error, fix func(status int) string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", Name, op, ctx.Err())
	}
	var apiErr *client.ApiError
	status, detail := ex.status, ""
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
		detail = apiErr.Message
		if len(apiErr.Errors) > 0 {
			keys := make([]string, 0, len(apiErr.Errors))
			for k, v := range apiErr.Errors {
				keys = append(keys, k+": "+v)
			}
			detail += " (" + strings.Join(keys, "; ") + ")"
		}
		detail = c.redact(detail)
	}
	var netErr *url.Error
	switch {
	case !ex.sent && apiErr == nil && !errors.As(err, &netErr):
		// The SDK refused the request before sending it: the page itself
		// is at fault, and sending it again will not help.
		return &paging.PermanentError{Provider: Name, Op: op, Msg: c.redact(err.Error())}
	case status == 0 || status < 400:
		return fmt.Errorf("%s %s: %s", Name, op, c.redact(err.Error()))
	case status == http.StatusTooManyRequests:
		return &paging.RateLimitedError{Provider: Name, Op: op, RetryAfter: c.retryAfter(ex.header)}
	case status == http.StatusRequestTimeout || status >= 500:
		if detail != "" {
			return fmt.Errorf("%s %s: %d %s: %s", Name, op, status, http.StatusText(status), detail)
		}
		return fmt.Errorf("%s %s: %d %s", Name, op, status, http.StatusText(status))
	}
	msg := fix(status)
	if detail != "" {
		msg = detail + "; " + msg
	}
	return &paging.PermanentError{Provider: Name, Op: op, Status: status, Msg: msg}
}

// retryAfter is Opsgenie's Retry-After when it sends one, else the length
// of the rate-limit period it reports.
func (c *Client) retryAfter(h http.Header) time.Duration {
	if d := paging.ParseRetryAfter(h.Get("Retry-After"), c.clock.Now()); d > 0 {
		return d
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Period-In-Sec"))); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// redact removes the API key from text that came from elsewhere.
func (c *Client) redact(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}
