// Package jira is a small client for the part of Jira the bot needs: create
// an issue, comment on it, move it through its workflow, and find it again
// by label. It speaks to Jira Cloud (REST v3, bodies in the Atlassian
// Document Format) and to Jira Data Center (REST v2, wiki markup) with the
// same API; callers describe text once as a Doc and the client renders it
// for the flavour it talks to.
//
// Errors carry a classification (see Error) so that callers can tell a
// setting to fix from an outage to wait out. No error, and nothing this
// package logs, ever contains the token.
package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
)

// Flavor is the kind of Jira deployment.
type Flavor string

// Flavours.
const (
	// Cloud is Jira Cloud: REST v3, ADF bodies, email + API token.
	Cloud Flavor = "cloud"
	// DataCenter is Jira Data Center or Server: REST v2, wiki markup,
	// personal access token.
	DataCenter Flavor = "datacenter"
)

// Setting names used in messages so a person knows what to fix. They are
// the configuration keys and environment variables of the bot.
const (
	SettingBaseURL = "jira.base_url"
	SettingEmail   = "jira.email"
	SettingToken   = "jira.api_token (SECOPS_JIRA_API_TOKEN)"
	SettingFlavor  = "jira.flavor"
)

// Config configures a Client.
type Config struct {
	Flavor  Flavor
	BaseURL string
	// Email is the Cloud account the API token belongs to; unused for
	// Data Center.
	Email string
	// Token is the Cloud API token or the Data Center personal access
	// token. It is a secret: it is sent in the Authorization header only.
	Token string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// UserAgent defaults to "secops-bot".
	UserAgent string
}

// Client talks to one Jira site. It is safe for concurrent use.
type Client struct {
	flavor Flavor
	base   *url.URL
	auth   string
	token  string
	http   *http.Client
	ua     string
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	var problems []string
	if cfg.Flavor != Cloud && cfg.Flavor != DataCenter {
		problems = append(problems, fmt.Sprintf("%s must be %q or %q, not %q", SettingFlavor, Cloud, DataCenter, cfg.Flavor))
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		problems = append(problems, fmt.Sprintf("%s must be an http(s) URL such as https://example.atlassian.net", SettingBaseURL))
	}
	if cfg.Token == "" {
		problems = append(problems, SettingToken+" is not set")
	}
	if cfg.Flavor == Cloud && cfg.Email == "" {
		problems = append(problems, SettingEmail+" is required for Jira Cloud (the account the API token belongs to)")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("jira: %s", strings.Join(problems, "; "))
	}
	c := &Client{flavor: cfg.Flavor, base: base, token: cfg.Token, http: cfg.HTTPClient, ua: cfg.UserAgent}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.ua == "" {
		c.ua = "secops-bot"
	}
	if cfg.Flavor == Cloud {
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Email+":"+cfg.Token))
	} else {
		c.auth = "Bearer " + cfg.Token
	}
	return c, nil
}

// Flavor returns the flavour the client speaks.
func (c *Client) Flavor() Flavor { return c.flavor }

// apiPath is the REST prefix of the flavour.
func (c *Client) apiPath() string {
	if c.flavor == Cloud {
		return "/rest/api/3"
	}
	return "/rest/api/2"
}

// Sentinel classes of errors; an *Error wraps exactly one of them. They
// are the ticket worker's (tickets/tracker), so that it can act on them
// without importing the client.
var (
	ErrUnauthorized = tracker.ErrUnauthorized // the credentials were rejected (401)
	ErrForbidden    = tracker.ErrForbidden    // the account may not do this (403)
	ErrNotFound     = tracker.ErrNotFound     // the project or issue does not exist or is not visible
	ErrInvalid      = tracker.ErrInvalid      // Jira refused the request as invalid (400)
	ErrTransient    = tracker.ErrTransient    // an outage, a rate limit or a network failure; retry
	ErrNoTransition = tracker.ErrNoTransition // the workflow offers none of the wanted transitions
)

// Error is a failed Jira call, in words a person can act on.
type Error = tracker.Error

// Temporary reports whether err is worth retrying as is.
func Temporary(err error) bool { return tracker.Temporary(err) }

// RetryAfter returns how long Jira asked to wait, zero when it did not.
func RetryAfter(err error) time.Duration { return tracker.RetryAfter(err) }

// maxBody bounds what is read of a response, so a misbehaving proxy cannot
// make the bot buffer without limit.
const maxBody = 4 << 20

// do sends a JSON request and decodes a JSON response into out (if not
// nil). notFound names the object for a 404 ("project PAY").
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any, notFound string) error {
	u := *c.base
	u.Path = c.base.Path + path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Kind: ErrInvalid, Msg: "encode request: " + err.Error()}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return &Error{Op: op, Kind: ErrInvalid, Msg: c.redact(err.Error())}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jira %s: %w", op, ctx.Err())
		}
		// url.Error names the URL, which carries no secret: the token
		// travels in a header only. Redact anyway, in case a proxy
		// echoes something back.
		return &Error{Op: op, Kind: ErrTransient, Msg: fmt.Sprintf("%s unreachable: %s", SettingBaseURL, c.redact(err.Error()))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Kind: ErrTransient, Msg: "read response: " + c.redact(err.Error())}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Op: op, Status: resp.StatusCode, Kind: ErrTransient, Msg: "unexpected response (not Jira's JSON; is " + SettingBaseURL + " right?)"}
		}
		return nil
	}
	return c.classify(op, resp, raw, notFound)
}

// classify turns an error response into an *Error.
func (c *Client) classify(op string, resp *http.Response, raw []byte, notFound string) *Error {
	e := &Error{Op: op, Status: resp.StatusCode}
	jiraMsg := c.redact(jiraMessages(raw))
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		e.Kind = ErrUnauthorized
		if c.flavor == Cloud {
			e.Msg = SettingToken + " rejected: check the token and that " + SettingEmail + " is the account it belongs to"
		} else {
			e.Msg = SettingToken + " rejected: check the personal access token"
		}
	case s == http.StatusForbidden:
		e.Kind = ErrForbidden
		e.Msg = "the account of " + SettingToken + " lacks permission"
		if jiraMsg != "" {
			e.Msg += ": " + jiraMsg
		}
	case s == http.StatusNotFound:
		e.Kind = ErrNotFound
		if notFound == "" {
			notFound = "the resource"
		}
		e.Msg = notFound + " does not exist or is not visible to the account of " + SettingToken
	case s == http.StatusTooManyRequests || s >= 500:
		e.Kind = ErrTransient
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		if s == http.StatusTooManyRequests {
			e.Msg = "rate limited"
		} else {
			e.Msg = "Jira is unavailable"
		}
		if e.RetryAfter > 0 {
			e.Msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
		}
	case s == http.StatusBadRequest:
		e.Kind = ErrInvalid
		e.Msg = "Jira refused the request"
		if jiraMsg != "" {
			e.Msg += ": " + jiraMsg
		}
	default:
		e.Kind = ErrInvalid
		e.Msg = "unexpected response"
		if jiraMsg != "" {
			e.Msg += ": " + jiraMsg
		}
	}
	return e
}

// jiraMessages renders Jira's error body ({"errorMessages":[...],
// "errors":{"field":"message"}}) as one line.
func jiraMessages(raw []byte) string {
	var body struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return ""
	}
	parts := append([]string(nil), body.ErrorMessages...)
	fields := make([]string, 0, len(body.Errors))
	for f := range body.Errors {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	for _, f := range fields {
		parts = append(parts, f+": "+body.Errors[f])
	}
	msg := strings.Join(parts, "; ")
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	return msg
}

// redact removes the token (and its Basic encoding) from text that came
// from outside, should anything ever echo it.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.token, "[redacted]")
	if enc, ok := strings.CutPrefix(c.auth, "Basic "); ok {
		s = strings.ReplaceAll(s, enc, "[redacted]")
	}
	return s
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
