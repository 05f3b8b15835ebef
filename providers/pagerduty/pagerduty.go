// Package pagerduty pages through PagerDuty with its kept Go client
// (github.com/PagerDuty/go-pagerduty): Events API v2 trigger, acknowledge
// and resolve by dedup key, who is on call from a schedule or an escalation
// policy (REST oncalls), and the state of the incidents the bot opened,
// found by their incident_key, for polling.
//
// Each call is one request: the client does not retry. Its errors are
// paging's kinds: *paging.RateLimitedError on 429 (with PagerDuty's
// Retry-After), *paging.PermanentError on a request PagerDuty refused
// (400, 401, 403, 404), naming the setting to fix, and plain errors for
// outages and network failures. Neither the API token nor any routing key
// ever appears in an error; this package logs nothing.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// Name is how the provider is named in errors, sources and states.
const Name = "PagerDuty"

// Default endpoints.
const (
	DefaultEventsURL = "https://events.pagerduty.com"
	DefaultAPIURL    = "https://api.pagerduty.com"
)

// Setting names used in messages so a person knows what to fix. They are
// the configuration keys of the paging block.
const (
	SettingToken = "the PagerDuty API token (paging.pagerduty.api_token_file or SECOPS_PAGERDUTY_API_TOKEN)"
)

func settingRoutingKey(team string) string { return "paging.teams." + team + ".routing_key" }
func settingSchedule(team string) string   { return "paging.teams." + team + ".schedule" }
func settingPolicy(team string) string     { return "paging.teams." + team + ".escalation_policy" }

// Team is how one team is paged and who is on call for it.
type Team struct {
	// RoutingKey is the Integration Key of an Events API v2 integration
	// on the team's service. It is a secret: anyone holding it can page.
	RoutingKey string
	// Schedule is the ID of the schedule whose on-call users are on call
	// for the team (PagerDuty lists a schedule's on-calls only when an
	// escalation policy uses it).
	Schedule string
	// EscalationPolicy is the ID of an escalation policy whose first level
	// is on call for the team; set it or Schedule, not both.
	EscalationPolicy string
}

// Config configures a Client.
type Config struct {
	// Token is a REST API token; read access suffices (on-calls,
	// incidents, users). It is sent in the Authorization header only.
	Token string
	// Teams maps team names ("secops", the teams of the organisation) to
	// how they are paged.
	Teams map[string]Team
	// EventsURL is the Events API base (DefaultEventsURL when empty).
	EventsURL string
	// APIURL is the REST API base (DefaultAPIURL when empty).
	APIURL string
	// HTTPClient defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// Clock dates on-call questions and reads Retry-After dates.
	Clock clock.Clock
}

// Client talks to one PagerDuty account. It is safe for concurrent use.
type Client struct {
	api     *pd.Client
	teams   map[string]Team
	secrets []string
	clock   clock.Clock

	mu     sync.Mutex
	people map[string]paging.Person // by PagerDuty user ID
}

var (
	_ paging.Pager        = (*Client)(nil)
	_ paging.OnCallSource = (*Client)(nil)
	_ paging.Tracker      = (*Client)(nil)
)

var (
	routingKeyRe = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	objectIDRe   = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// New validates cfg, reporting every problem at once, and returns a
// client.
func New(cfg Config) (*Client, error) {
	var problems []string
	if cfg.Token == "" {
		problems = append(problems, SettingToken+" is not set")
	}
	if len(cfg.Teams) == 0 {
		problems = append(problems, "paging.teams: no team is configured")
	}
	for _, name := range sortedTeams(cfg.Teams) {
		t := cfg.Teams[name]
		switch {
		case name == "":
			problems = append(problems, "paging.teams: a team has no name")
			continue
		case t.RoutingKey == "":
			problems = append(problems, settingRoutingKey(name)+" is not set")
		case !routingKeyRe.MatchString(t.RoutingKey):
			// Never echo the key: it is a secret.
			problems = append(problems, settingRoutingKey(name)+" is not an Events API v2 integration key (32 letters and digits)")
		}
		if t.Schedule != "" && t.EscalationPolicy != "" {
			problems = append(problems, fmt.Sprintf("paging.teams.%s: set schedule or escalation_policy, not both", name))
		}
		if t.Schedule != "" && !objectIDRe.MatchString(t.Schedule) {
			problems = append(problems, fmt.Sprintf("%s: %q is not a PagerDuty schedule ID (such as PABC123)", settingSchedule(name), t.Schedule))
		}
		if t.EscalationPolicy != "" && !objectIDRe.MatchString(t.EscalationPolicy) {
			problems = append(problems, fmt.Sprintf("%s: %q is not a PagerDuty escalation policy ID (such as PABC123)", settingPolicy(name), t.EscalationPolicy))
		}
	}
	eventsURL, err := baseURL(cfg.EventsURL, DefaultEventsURL)
	if err != nil {
		problems = append(problems, "paging.pagerduty.events_url "+err.Error())
	}
	apiURL, err := baseURL(cfg.APIURL, DefaultAPIURL)
	if err != nil {
		problems = append(problems, "paging.pagerduty.api_url "+err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pagerduty: %s", strings.Join(problems, "; "))
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	c := &Client{teams: cfg.Teams, clock: clk, people: map[string]paging.Person{}, secrets: []string{cfg.Token}}
	for _, t := range cfg.Teams {
		c.secrets = append(c.secrets, t.RoutingKey)
	}
	c.api = pd.NewClient(cfg.Token, pd.WithAPIEndpoint(apiURL), pd.WithV2EventsAPIEndpoint(eventsURL))
	c.api.HTTPClient = recorder{hc}
	return c, nil
}

func baseURL(v, def string) (string, error) {
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("must be an http(s) URL")
	}
	return strings.TrimRight(v, "/"), nil
}

func sortedTeams(m map[string]Team) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Trigger raises the page, or adds to the open incident with its dedup
// key.
func (c *Client) Trigger(ctx context.Context, p paging.Page) error {
	op := "trigger " + p.DedupKey
	key, err := c.routingKey(op, p.Team)
	if err != nil {
		return err
	}
	details := map[string]string{"finding": p.FindingID, "team": p.Team}
	for k, v := range p.Details {
		details[k] = v
	}
	var links []any
	for _, l := range p.Links {
		links = append(links, map[string]string{"href": l.Href, "text": l.Text})
	}
	source := p.Source
	if source == "" {
		source = "secops-bot"
	}
	ev := &pd.V2Event{
		RoutingKey: key,
		Action:     "trigger",
		DedupKey:   p.DedupKey,
		Client:     "SecOps bot",
		Links:      links,
		Payload: &pd.V2Payload{
			Summary:  cut(p.Summary, 1024),
			Source:   source,
			Severity: severity(p),
			Class:    "security finding",
			Details:  details,
		},
	}
	return c.send(ctx, op, p.Team, ev)
}

// Acknowledge acknowledges the page's open incident. PagerDuty accepts it
// (and does nothing) when there is none.
func (c *Client) Acknowledge(ctx context.Context, ref paging.Ref) error {
	return c.event(ctx, "acknowledge", ref)
}

// Resolve resolves the page's open incident. PagerDuty accepts it (and
// does nothing) when there is none.
func (c *Client) Resolve(ctx context.Context, ref paging.Ref) error {
	return c.event(ctx, "resolve", ref)
}

func (c *Client) event(ctx context.Context, action string, ref paging.Ref) error {
	op := action + " " + ref.DedupKey
	key, err := c.routingKey(op, ref.Team)
	if err != nil {
		return err
	}
	return c.send(ctx, op, ref.Team, &pd.V2Event{RoutingKey: key, Action: action, DedupKey: ref.DedupKey})
}

func (c *Client) routingKey(op, team string) (string, error) {
	t, ok := c.teams[team]
	if !ok || t.RoutingKey == "" {
		return "", &paging.PermanentError{Provider: Name, Op: op, Msg: fmt.Sprintf("team %s has no routing key: set %s", team, settingRoutingKey(team))}
	}
	return t.RoutingKey, nil
}

func (c *Client) send(ctx context.Context, op, team string, ev *pd.V2Event) error {
	ctx, ex := withExchange(ctx)
	if _, err := c.api.ManageEventWithContext(ctx, ev); err != nil {
		return c.fail(ctx, op, ex, err, func(status int) string {
			if status == http.StatusNotFound {
				return "the Events API is not at the configured address: check paging.pagerduty.events_url"
			}
			return fmt.Sprintf("check %s: it must be the Integration Key of an Events API v2 integration on the team's service", settingRoutingKey(team))
		})
	}
	return nil
}

// severity maps a finding's severity to PagerDuty's four.
func severity(p paging.Page) string {
	switch p.Severity {
	case finding.SeverityCritical:
		return "critical"
	case finding.SeverityHigh:
		return "error"
	case finding.SeverityMedium:
		return "warning"
	}
	return "info"
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// OnCall returns who is on call for team at the moment at: the users on
// call on the team's schedule, or on the first level of its escalation
// policy.
func (c *Client) OnCall(ctx context.Context, team string, at time.Time) (paging.OnCall, error) {
	t := c.teams[team]
	if t.Schedule == "" && t.EscalationPolicy == "" {
		return paging.OnCall{}, fmt.Errorf("%s on call for %s: %w", Name, team, paging.ErrNoSchedule)
	}
	opts := pd.ListOnCallOptions{
		Limit:    100,
		Includes: []string{"users"},
		Since:    at.UTC().Format(time.RFC3339),
		Until:    at.UTC().Add(time.Second).Format(time.RFC3339),
	}
	kind, id, setting := "schedule", t.Schedule, settingSchedule(team)
	if t.Schedule != "" {
		opts.ScheduleIDs = []string{t.Schedule}
	} else {
		kind, id, setting = "escalation policy", t.EscalationPolicy, settingPolicy(team)
		opts.EscalationPolicyIDs = []string{t.EscalationPolicy}
	}
	op := "on call for " + team
	// A 404 from the list is a wrong address; from the schedule or policy
	// itself, a wrong ID. PagerDuty refuses malformed IDs with a 400.
	listFix := func(status int) string {
		if status == http.StatusBadRequest {
			return fmt.Sprintf("PagerDuty refused %s %s: check %s", kind, id, setting)
		}
		return restFix(status, "on-calls")
	}
	getFix := func(status int) string {
		if status == http.StatusNotFound {
			return fmt.Sprintf("PagerDuty has no %s %s: check %s", kind, id, setting)
		}
		return listFix(status)
	}
	var entries []pd.OnCall
	for page := 0; page < 10; page++ {
		rctx, ex := withExchange(ctx)
		resp, err := c.api.ListOnCallsWithContext(rctx, opts)
		if err != nil {
			return paging.OnCall{}, c.fail(ctx, op, ex, err, listFix)
		}
		entries = append(entries, resp.OnCalls...)
		if !resp.More {
			break
		}
		opts.Offset += uint(len(resp.OnCalls))
	}

	oc := paging.OnCall{Team: team}
	var name string
	level := uint(0)
	if t.EscalationPolicy != "" {
		// The first level present is the one paged first.
		for _, e := range entries {
			if e.EscalationLevel > 0 && (level == 0 || e.EscalationLevel < level) {
				level = e.EscalationLevel
			}
		}
	}
	var seen []string
	for _, e := range entries {
		if t.Schedule != "" && e.Schedule.ID != t.Schedule {
			continue
		}
		if t.EscalationPolicy != "" && (e.EscalationPolicy.ID != t.EscalationPolicy || e.EscalationLevel != level) {
			continue
		}
		if name == "" {
			name = firstNonEmpty(e.Schedule.Name, e.Schedule.Summary)
			if t.EscalationPolicy != "" {
				name = firstNonEmpty(e.EscalationPolicy.Name, e.EscalationPolicy.Summary)
			}
		}
		if slices.Contains(seen, e.User.ID) {
			continue
		}
		seen = append(seen, e.User.ID)
		oc.People = append(oc.People, paging.Person{Name: firstNonEmpty(e.User.Name, e.User.Summary), Email: e.User.Email})
	}
	if len(oc.People) == 0 {
		// Nobody on call, or no such schedule: PagerDuty answers both
		// with an empty list, and only the second is a setting to fix.
		rctx, ex := withExchange(ctx)
		var err error
		if t.Schedule != "" {
			var s *pd.Schedule
			if s, err = c.api.GetScheduleWithContext(rctx, t.Schedule, pd.GetScheduleOptions{}); err == nil {
				name = firstNonEmpty(s.Name, s.Summary)
			}
		} else {
			var p *pd.EscalationPolicy
			if p, err = c.api.GetEscalationPolicyWithContext(rctx, t.EscalationPolicy, &pd.GetEscalationPolicyOptions{}); err == nil {
				name = firstNonEmpty(p.Name, p.Summary)
			}
		}
		if err != nil {
			return paging.OnCall{}, c.fail(ctx, op, ex, err, getFix)
		}
	}
	oc.Source = fmt.Sprintf("%s %s %s (%s)", Name, kind, firstNonEmpty(name, id), id)
	if level > 1 {
		oc.Source += fmt.Sprintf(", level %d", level)
	}
	return oc, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// State returns the state of the latest incident with the page's dedup
// key (its incident_key): its status, and the people who acknowledged or
// resolved it.
func (c *Client) State(ctx context.Context, ref paging.Ref) (paging.State, error) {
	op := "state of " + ref.DedupKey
	rctx, ex := withExchange(ctx)
	resp, err := c.api.ListIncidentsWithContext(rctx, pd.ListIncidentsOptions{
		IncidentKey: ref.DedupKey,
		DateRange:   "all",
		SortBy:      "created_at:desc",
		Limit:       1,
	})
	if err != nil {
		return paging.State{}, c.fail(ctx, op, ex, err, func(status int) string { return restFix(status, "incidents") })
	}
	if len(resp.Incidents) == 0 {
		return paging.State{}, fmt.Errorf("%s %s: %w", Name, op, paging.ErrNoIncident)
	}
	in := resp.Incidents[0]
	st := paging.State{Provider: Name, URL: in.HTMLURL}
	switch in.Status {
	case "acknowledged":
		st.Status = paging.StatusAcknowledged
	case "resolved":
		st.Status = paging.StatusResolved
	default:
		st.Status = paging.StatusTriggered
	}
	for _, a := range in.Acknowledgements {
		if !isUser(a.Acknowledger) {
			continue
		}
		if st.AcknowledgedAt.IsZero() {
			st.AcknowledgedAt = parseTime(a.At)
		}
		st.AcknowledgedBy = append(st.AcknowledgedBy, c.person(ctx, a.Acknowledger))
	}
	if st.Status == paging.StatusResolved {
		st.ResolvedAt = parseTime(firstNonEmpty(in.ResolvedAt, in.LastStatusChangeAt))
		if isUser(in.LastStatusChangeBy) {
			st.ResolvedBy = c.person(ctx, in.LastStatusChangeBy)
		}
	}
	return st, nil
}

// isUser tells a person from a service or integration: the bot's own
// events acknowledge and resolve as the service.
func isUser(o pd.APIObject) bool { return o.Type == "user_reference" || o.Type == "user" }

// person names a PagerDuty user, with the e-mail address that matches them
// to Slack. Users are read once and remembered; when the read fails the
// name PagerDuty gave with the reference is enough for a message.
func (c *Client) person(ctx context.Context, o pd.APIObject) paging.Person {
	c.mu.Lock()
	p, ok := c.people[o.ID]
	c.mu.Unlock()
	if ok {
		return p
	}
	u, err := c.api.GetUserWithContext(ctx, o.ID, pd.GetUserOptions{})
	if err != nil {
		return paging.Person{Name: o.Summary}
	}
	p = paging.Person{Name: firstNonEmpty(u.Name, u.Summary, o.Summary), Email: u.Email}
	c.mu.Lock()
	c.people[o.ID] = p
	c.mu.Unlock()
	return p
}

func parseTime(v string) time.Time {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// restFix says what to do about a REST request PagerDuty refused.
func restFix(status int, what string) string {
	switch status {
	case http.StatusUnauthorized:
		return "PagerDuty refused the API token: check " + SettingToken
	case http.StatusForbidden:
		return "the API token may not read " + what + ": use a token with read access to on-calls, incidents and users"
	case http.StatusNotFound:
		return "no REST API at the configured address: check paging.pagerduty.api_url"
	}
	return "PagerDuty refused the request"
}
