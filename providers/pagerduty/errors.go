package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/secops-bot/secops-bot/delivery/paging"
)

// exchange is what came back for one call: go-pagerduty's errors keep the
// status but drop the headers (Retry-After) and, for the Events API, the
// message saying what was wrong with the event.
type exchange struct {
	status int
	header http.Header
	body   []byte // the start of an error response's body
}

type exchangeKey struct{}

func withExchange(ctx context.Context) (context.Context, *exchange) {
	ex := &exchange{}
	return context.WithValue(ctx, exchangeKey{}, ex), ex
}

// maxErrorBody bounds what is kept of an error response.
const maxErrorBody = 8 << 10

// recorder is the HTTP client go-pagerduty calls through; it notes the
// response of each call in the call's exchange and hands the response on
// unchanged.
type recorder struct{ hc *http.Client }

func (r recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.hc.Do(req)
	ex, ok := req.Context().Value(exchangeKey{}).(*exchange)
	if !ok || resp == nil {
		return resp, err
	}
	ex.status, ex.header, ex.body = resp.StatusCode, resp.Header.Clone(), nil
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		ex.body = b
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	}
	return resp, err
}

// fail turns a failed call into one of paging's error kinds; fix says, for
// a status PagerDuty refused the request with, what to set right.
func (c *Client) fail(ctx context.Context, op string, ex *exchange, err error, fix func(status int) string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", Name, op, ctx.Err())
	}
	status := ex.status
	var apiErr pd.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode != 0 {
		status = apiErr.StatusCode
	}
	detail := c.redact(message(ex.body))
	switch {
	case status == 0 || status < 400:
		// The request did not get an answer, or the answer could not be
		// read: worth another try.
		return fmt.Errorf("%s %s: %s", Name, op, c.redact(err.Error()))
	case status == http.StatusTooManyRequests:
		return &paging.RateLimitedError{Provider: Name, Op: op, RetryAfter: paging.ParseRetryAfter(ex.header.Get("Retry-After"), c.clock.Now())}
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

// message reads PagerDuty's explanation from an error body: the Events
// API's {"message", "errors"} or the REST API's {"error": {"message",
// "errors"}}.
func message(body []byte) string {
	var v struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
		Error   *struct {
			Message string   `json:"message"`
			Errors  []string `json:"errors"`
		} `json:"error"`
	}
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		return ""
	}
	msg, errs := v.Message, v.Errors
	if v.Error != nil {
		msg, errs = v.Error.Message, v.Error.Errors
	}
	parts := []string{}
	if msg != "" {
		parts = append(parts, msg)
	}
	if len(errs) > 0 {
		parts = append(parts, strings.Join(errs, "; "))
	}
	return strings.Join(parts, ": ")
}

// redact removes the token and routing keys from text that came from
// elsewhere (PagerDuty's messages, transport errors).
func (c *Client) redact(s string) string {
	for _, secret := range c.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
