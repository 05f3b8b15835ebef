// Package opsgenie pages through Opsgenie with its Go SDK
// (github.com/opsgenie/opsgenie-go-sdk-v2): alerts created with the page's
// dedup key as their alias, acknowledged and closed by alias, read back by
// alias for polling, and who is on call on a schedule.
//
// Each call is one request: the SDK's own retries are turned off, so the
// outbox alone decides when to try again. Errors are paging's kinds:
// *paging.RateLimitedError on 429, *paging.PermanentError on a request
// Opsgenie refused (400, 401, 403, 404, 422) naming the setting to fix, and
// plain errors for outages and network failures. The API key never
// appears in an error, and the SDK's logger is silenced.
//
// The SDK hands the call's context to its HTTP client only with
// go-retryablehttp v0.5, which it requires; later versions return a copy
// from Request.WithContext that the SDK drops, and cancellation and the
// rate-limit headers would be lost. TestContextAndNetwork fails if an
// upgrade elsewhere brings one in.
package opsgenie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/opsgenie/opsgenie-go-sdk-v2/alert"
	"github.com/opsgenie/opsgenie-go-sdk-v2/client"
	"github.com/opsgenie/opsgenie-go-sdk-v2/schedule"
	"github.com/sirupsen/logrus"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// Name is how the provider is named in errors, sources and states.
const Name = "Opsgenie"

// DefaultAPIURL is Opsgenie's US API; EU accounts use
// https://api.eu.opsgenie.com.
const DefaultAPIURL = "https://api.opsgenie.com"

// SettingAPIKey names the API key's settings in messages.
const SettingAPIKey = "the Opsgenie API key (paging.opsgenie.api_key_file or SECOPS_OPSGENIE_API_KEY)"

func settingTeam(team string) string     { return "paging.teams." + team + ".opsgenie_team" }
func settingSchedule(team string) string { return "paging.teams." + team + ".schedule" }

// Team is how one team is paged and who is on call for it.
type Team struct {
	// Responder is the Opsgenie team the team's alerts are assigned to,
	// whose routing rules and escalations then apply. Empty leaves the
	// assignment to the API integration's own team.
	Responder string
	// Schedule is the name (or ID) of the Opsgenie schedule whose on-call
	// users are on call for the team.
	Schedule string
}

// Config configures a Client.
type Config struct {
	// APIKey is the key of an API integration allowed to create and
	// update alerts and to read (schedules' on-calls, alerts). It is sent
	// in the Authorization header only.
	APIKey string
	// Teams maps team names ("secops", the teams of the organisation) to
	// how they are paged.
	Teams map[string]Team
	// APIURL is the API base (DefaultAPIURL when empty).
	APIURL string
	// AppURL is the account's web address (https://example.app.opsgenie.com),
	// to link alerts from Slack; empty leaves states without a link.
	AppURL string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// Clock reads Retry-After dates.
	Clock clock.Clock
}

// Client talks to one Opsgenie account. It is safe for concurrent use.
type Client struct {
	alerts    *alert.Client
	schedules *schedule.Client
	teams     map[string]Team
	key       string
	appURL    string
	clock     clock.Clock
}

var (
	_ paging.Pager        = (*Client)(nil)
	_ paging.OnCallSource = (*Client)(nil)
	_ paging.Tracker      = (*Client)(nil)
)

// uuidRe tells a schedule ID from a schedule name.
var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// New validates cfg, reporting every problem at once, and returns a
// client.
func New(cfg Config) (*Client, error) {
	var problems []string
	if cfg.APIKey == "" {
		problems = append(problems, SettingAPIKey+" is not set")
	}
	if len(cfg.Teams) == 0 {
		problems = append(problems, "paging.teams: no team is configured")
	}
	names := make([]string, 0, len(cfg.Teams))
	for n := range cfg.Teams {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t := cfg.Teams[name]
		if name == "" {
			problems = append(problems, "paging.teams: a team has no name")
		}
		// The SDK puts the schedule into the URL path as it is.
		if strings.ContainsAny(t.Schedule, "/?#%") {
			problems = append(problems, fmt.Sprintf("%s: %q is not an Opsgenie schedule name", settingSchedule(name), t.Schedule))
		}
	}
	base, err := parseBase(cfg.APIURL, DefaultAPIURL)
	if err != nil {
		problems = append(problems, "paging.opsgenie.api_url "+err.Error())
	}
	if cfg.AppURL != "" {
		if _, err := parseBase(cfg.AppURL, ""); err != nil {
			problems = append(problems, "paging.opsgenie.app_url "+err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("opsgenie: %s", strings.Join(problems, "; "))
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	// The SDK logs through logrus to stderr and retries 429 and 5xx four
	// times, sleeping in between; the outbox owns retries and errors are
	// returned, so both are turned off.
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	quiet.SetLevel(logrus.PanicLevel)
	sdk := func() *client.Config {
		return &client.Config{
			ApiKey:         cfg.APIKey,
			OpsGenieAPIURL: client.ApiUrl(base.Host),
			HttpClient:     &http.Client{Transport: &transport{base: base, next: hc}},
			RetryPolicy:    func(context.Context, *http.Response, error) (bool, error) { return false, nil },
			Logger:         quiet,
		}
	}
	c := &Client{teams: cfg.Teams, key: cfg.APIKey, appURL: strings.TrimRight(cfg.AppURL, "/"), clock: clk}
	if c.alerts, err = alert.NewClient(sdk()); err != nil {
		return nil, fmt.Errorf("opsgenie: %s", c.redact(err.Error()))
	}
	if c.schedules, err = schedule.NewClient(sdk()); err != nil {
		return nil, fmt.Errorf("opsgenie: %s", c.redact(err.Error()))
	}
	return c, nil
}

func parseBase(v, def string) (*url.URL, error) {
	if v == "" {
		v = def
	}
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("must be an http(s) URL")
	}
	return u, nil
}

// Trigger creates the page's alert, or counts another occurrence of the
// open alert with its alias.
func (c *Client) Trigger(ctx context.Context, p paging.Page) error {
	op := "create alert " + p.DedupKey
	t, ok := c.teams[p.Team]
	if !ok {
		return &paging.PermanentError{Provider: Name, Op: op, Msg: fmt.Sprintf("team %s is not configured for Opsgenie: add paging.teams.%s", p.Team, p.Team)}
	}
	details := map[string]string{"finding": p.FindingID, "team": p.Team}
	for k, v := range p.Details {
		details[k] = v
	}
	desc := []string{p.Summary}
	for _, l := range p.Links {
		text := l.Text
		if text == "" {
			text = "Link"
		}
		desc = append(desc, text+": "+l.Href)
		details[text] = l.Href
	}
	req := &alert.CreateAlertRequest{
		Message:     cutRunes(p.Summary, 130),
		Alias:       p.DedupKey,
		Description: cutRunes(strings.Join(desc, "\n"), 15000),
		Tags:        []string{"secops-bot", "severity:" + p.Severity.String()},
		Details:     details,
		Entity:      p.Source,
		Source:      "secops-bot",
		Priority:    priority(p),
	}
	if t.Responder != "" {
		req.Responders = []alert.Responder{{Type: alert.TeamResponder, Name: t.Responder}}
	}
	ctx, ex := withExchange(ctx)
	if _, err := c.alerts.Create(ctx, req); err != nil {
		return c.fail(ctx, op, ex, err, func(status int) string {
			if status == http.StatusUnprocessableEntity && t.Responder != "" {
				return fmt.Sprintf("Opsgenie refused the alert; if it names the team, check %s", settingTeam(p.Team))
			}
			return apiFix(status, "create alerts")
		})
	}
	return nil
}

// Acknowledge acknowledges the open alert with the page's alias. Opsgenie
// accepts it (and later drops it) when there is none.
func (c *Client) Acknowledge(ctx context.Context, ref paging.Ref) error {
	op := "acknowledge alert " + ref.DedupKey
	ctx, ex := withExchange(ctx)
	_, err := c.alerts.Acknowledge(ctx, &alert.AcknowledgeAlertRequest{
		IdentifierType: alert.ALIAS, IdentifierValue: ref.DedupKey,
		Source: "secops-bot", Note: "Acknowledged in Slack.",
	})
	if err != nil {
		return c.fail(ctx, op, ex, err, func(status int) string { return apiFix(status, "acknowledge alerts") })
	}
	return nil
}

// Resolve closes the open alert with the page's alias. Opsgenie accepts it
// (and later drops it) when there is none.
func (c *Client) Resolve(ctx context.Context, ref paging.Ref) error {
	op := "close alert " + ref.DedupKey
	ctx, ex := withExchange(ctx)
	_, err := c.alerts.Close(ctx, &alert.CloseAlertRequest{
		IdentifierType: alert.ALIAS, IdentifierValue: ref.DedupKey,
		Source: "secops-bot", Note: "The finding was resolved.",
	})
	if err != nil {
		return c.fail(ctx, op, ex, err, func(status int) string { return apiFix(status, "close alerts") })
	}
	return nil
}

// priority maps a finding's severity to Opsgenie's P1 (critical) to P5.
func priority(p paging.Page) alert.Priority {
	switch p.Severity {
	case finding.SeverityCritical:
		return alert.P1
	case finding.SeverityHigh:
		return alert.P2
	case finding.SeverityMedium:
		return alert.P3
	case finding.SeverityLow:
		return alert.P4
	}
	return alert.P5
}

func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// OnCall returns who is on call on the team's schedule at the moment at,
// by username (Opsgenie usernames are e-mail addresses).
func (c *Client) OnCall(ctx context.Context, team string, at time.Time) (paging.OnCall, error) {
	t := c.teams[team]
	if t.Schedule == "" {
		return paging.OnCall{}, fmt.Errorf("%s on call for %s: %w", Name, team, paging.ErrNoSchedule)
	}
	flat := true
	date := at.UTC()
	req := &schedule.GetOnCallsRequest{Flat: &flat, Date: &date, ScheduleIdentifierType: schedule.Name, ScheduleIdentifier: t.Schedule}
	if uuidRe.MatchString(t.Schedule) {
		req.ScheduleIdentifierType = schedule.Id
	}
	op := "on call for " + team
	rctx, ex := withExchange(ctx)
	res, err := c.schedules.GetOnCalls(rctx, req)
	if err != nil {
		return paging.OnCall{}, c.fail(ctx, op, ex, err, func(status int) string {
			if status == http.StatusNotFound {
				return fmt.Sprintf("Opsgenie has no schedule %s: check %s", t.Schedule, settingSchedule(team))
			}
			return apiFix(status, "read schedules")
		})
	}
	oc := paging.OnCall{Team: team, Source: fmt.Sprintf("%s schedule %s", Name, firstNonEmpty(res.Parent.Name, t.Schedule))}
	for _, u := range res.OnCallRecipients {
		p := paging.Person{Name: u}
		if strings.Contains(u, "@") {
			p.Email = u
		}
		oc.People = append(oc.People, p)
	}
	return oc, nil
}

// State returns the state of the alert with the page's alias: the open
// one, else the newest.
func (c *Client) State(ctx context.Context, ref paging.Ref) (paging.State, error) {
	op := "state of " + ref.DedupKey
	rctx, ex := withExchange(ctx)
	a, err := c.alerts.Get(rctx, &alert.GetAlertRequest{IdentifierType: alert.ALIAS, IdentifierValue: ref.DedupKey})
	if err != nil {
		var apiErr *client.ApiError
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
			return paging.State{}, fmt.Errorf("%s %s: %w", Name, op, paging.ErrNoIncident)
		}
		return paging.State{}, c.fail(ctx, op, ex, err, func(status int) string { return apiFix(status, "read alerts") })
	}
	st := paging.State{Provider: Name, Status: paging.StatusTriggered}
	if c.appURL != "" && a.Id != "" {
		st.URL = c.appURL + "/alert/detail/" + url.PathEscape(a.Id) + "/details"
	}
	// The report's times are milliseconds since the alert was created;
	// actions taken through the API carry the integration's name, not a
	// person's username.
	if a.Acknowledged {
		st.Status = paging.StatusAcknowledged
		if a.Report.AckTime > 0 {
			st.AcknowledgedAt = a.CreatedAt.Add(time.Duration(a.Report.AckTime) * time.Millisecond)
		}
		if p, ok := person(a.Report.AcknowledgedBy); ok {
			st.AcknowledgedBy = []paging.Person{p}
		}
	}
	if a.Status == "closed" {
		st.Status = paging.StatusResolved
		if a.Report.CloseTime > 0 {
			st.ResolvedAt = a.CreatedAt.Add(time.Duration(a.Report.CloseTime) * time.Millisecond)
		}
		if p, ok := person(a.Report.ClosedBy); ok {
			st.ResolvedBy = p
		}
	}
	return st, nil
}

// person reads an Opsgenie username (an e-mail address); anything else is
// an integration or the system.
func person(username string) (paging.Person, bool) {
	if !strings.Contains(username, "@") {
		return paging.Person{}, false
	}
	return paging.Person{Name: username, Email: username}, true
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// apiFix says what to do about a request Opsgenie refused.
func apiFix(status int, what string) string {
	switch status {
	case http.StatusUnauthorized:
		return "Opsgenie refused the API key: check " + SettingAPIKey
	case http.StatusForbidden:
		return "the API key may not " + what + ": check the API integration's access rights in Opsgenie"
	case http.StatusNotFound:
		return "no Opsgenie API at the configured address: check paging.opsgenie.api_url"
	}
	return "Opsgenie refused the request"
}
