package pagerduty_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/pagerdutyfake"
	"github.com/secops-bot/secops-bot/providers/pagerduty"
)

const (
	token       = "u+PDtoken-s3cr3t-value"
	secopsKey   = "R0SECOPS0000000000000000000000KY"
	paymentsKey = "R0PAYMENTS00000000000000000000KY"
	unknownKey  = "R0UNKNOWN000000000000000000000KY"
)

// 04:04 in Berlin, story two's page.
var now = time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC)

func newFake(t *testing.T) *pagerdutyfake.Server {
	t.Helper()
	srv := pagerdutyfake.New(pagerdutyfake.Options{
		Token: token,
		Services: []pagerdutyfake.Service{
			{ID: "PSVCSEC", Name: "SecOps", RoutingKey: secopsKey},
			{ID: "PSVCPAY", Name: "Payments", RoutingKey: paymentsKey},
		},
		Users: []pagerdutyfake.User{
			{ID: "PUSAM01", Name: "Sam Ortiz", Email: "sam@example.com"},
			{ID: "PUANNA1", Name: "Anna Schmidt", Email: "anna@example.com"},
			{ID: "PUBORIS", Name: "Boris Petrov", Email: "boris@example.com"},
			{ID: "PUMGR01", Name: "Mia Manager", Email: "mia@example.com"},
		},
		Schedules: []pagerdutyfake.Schedule{
			{ID: "PSCHSEC", Name: "SecOps primary", OnCall: []string{"PUSAM01"}},
			{ID: "PSCHPAY", Name: "Payments primary", OnCall: []string{"PUANNA1", "PUBORIS"}},
			{ID: "PSCHNEW", Name: "Nobody yet"},
		},
		EscalationPolicies: []pagerdutyfake.EscalationPolicy{
			{ID: "PEPSEC1", Name: "SecOps escalation", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHSEC"}}, {Users: []string{"PUMGR01"}}}},
			{ID: "PEPPAY1", Name: "Payments escalation", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHPAY"}}, {Users: []string{"PUMGR01"}}}},
			{ID: "PEPNEW1", Name: "New team", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHNEW"}}}},
		},
		Now: func() time.Time { return now },
	})
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, srv *pagerdutyfake.Server, teams map[string]pagerduty.Team) *pagerduty.Client {
	t.Helper()
	if teams == nil {
		teams = map[string]pagerduty.Team{
			"secops":   {RoutingKey: secopsKey, EscalationPolicy: "PEPSEC1"},
			"payments": {RoutingKey: paymentsKey, Schedule: "PSCHPAY"},
		}
	}
	c, err := pagerduty.New(pagerduty.Config{Token: token, Teams: teams, EventsURL: srv.URL, APIURL: srv.URL, Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func page(findingID, team string) paging.Page {
	return paging.Page{
		Ref: paging.RefFor(findingID, team), FindingID: findingID,
		Summary:  "RDS snapshot customers-prod shared with unknown account 999988887777",
		Severity: finding.SeverityCritical, Source: "arn:aws:rds:eu-central-1:111122223333:snapshot:customers-prod",
		Links: []paging.Link{{Href: "https://example.slack.com/archives/C0SECOPS/p1", Text: "Slack thread"}},
	}
}

// A page's life, as PagerDuty sees it: a repeated trigger adds to the
// open incident, acknowledge and resolve change it, a trigger after the
// resolution opens a new one.
func TestEventsByDedupKey(t *testing.T) {
	type step struct {
		action string // trigger, acknowledge, resolve
		id     string
		team   string
	}
	type want struct {
		dedup  string
		status string
		alerts int
	}
	tests := []struct {
		name  string
		steps []step
		want  []want
	}{
		{"trigger twice with one dedup key makes one incident",
			[]step{{"trigger", "F-1", "secops"}, {"trigger", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "triggered", 2}}},
		{"acknowledge",
			[]step{{"trigger", "F-1", "secops"}, {"acknowledge", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "acknowledged", 1}}},
		{"resolve",
			[]step{{"trigger", "F-1", "secops"}, {"acknowledge", "F-1", "secops"}, {"resolve", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "resolved", 1}}},
		{"a finding that reopens pages again",
			[]step{{"trigger", "F-1", "secops"}, {"resolve", "F-1", "secops"}, {"trigger", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "resolved", 1}, {"secops-bot-F-1-secops", "triggered", 1}}},
		{"SecOps and the owning team get an incident each",
			[]step{{"trigger", "F-1", "secops"}, {"trigger", "F-1", "payments"}, {"acknowledge", "F-1", "payments"}},
			[]want{{"secops-bot-F-1-secops", "triggered", 1}, {"secops-bot-F-1-payments", "acknowledged", 1}}},
		{"acknowledging a page never sent is accepted and changes nothing",
			[]step{{"acknowledge", "F-9", "secops"}, {"resolve", "F-9", "secops"}},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			c := newClient(t, srv, nil)
			ctx := context.Background()
			for _, s := range tc.steps {
				var err error
				switch s.action {
				case "trigger":
					err = c.Trigger(ctx, page(s.id, s.team))
				case "acknowledge":
					err = c.Acknowledge(ctx, paging.RefFor(s.id, s.team))
				case "resolve":
					err = c.Resolve(ctx, paging.RefFor(s.id, s.team))
				}
				if err != nil {
					t.Fatalf("%s %s: %v", s.action, s.id, err)
				}
			}
			got := srv.Incidents()
			if len(got) != len(tc.want) {
				t.Fatalf("incidents = %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].DedupKey != w.dedup || got[i].Status != w.status || got[i].Alerts != w.alerts {
					t.Errorf("incident %d = %s %s with %d alerts, want %s %s with %d", i, got[i].DedupKey, got[i].Status, got[i].Alerts, w.dedup, w.status, w.alerts)
				}
			}
		})
	}
}

// The trigger carries what a responder woken at 3 a.m. needs, in the
// Events API's shape, to the team's own service.
func TestTriggerEvent(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv, nil)
	p := page("F-1", "payments")
	p.Details = map[string]string{"account": "111122223333 (payments-prod)"}
	if err := c.Trigger(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	evs := srv.Events()
	if len(evs) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	ev := evs[0]
	checks := []struct{ name, got, want string }{
		{"routing key", ev.RoutingKey, paymentsKey},
		{"dedup key", ev.DedupKey, "secops-bot-F-1-payments"},
		{"summary", ev.Summary, p.Summary},
		{"source", ev.Source, p.Source},
		{"severity", ev.Severity, "critical"},
		{"finding", ev.Details["finding"].(string), "F-1"},
		{"account", ev.Details["account"].(string), "111122223333 (payments-prod)"},
		{"link", ev.Links[0]["href"] + " " + ev.Links[0]["text"], "https://example.slack.com/archives/C0SECOPS/p1 Slack thread"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	for _, r := range srv.Requests() {
		if r.Auth != "" {
			t.Errorf("the events request carried an Authorization header: the API token is not the Events API's business")
		}
	}
}

func TestSeverities(t *testing.T) {
	tests := []struct {
		sev  finding.Severity
		want string
	}{
		{finding.SeverityCritical, "critical"},
		{finding.SeverityHigh, "error"},
		{finding.SeverityMedium, "warning"},
		{finding.SeverityLow, "info"},
		{finding.SeverityUnknown, "info"},
	}
	srv := newFake(t)
	c := newClient(t, srv, nil)
	for i, tc := range tests {
		p := page("F-"+string(rune('A'+i)), "secops")
		p.Severity = tc.sev
		if err := c.Trigger(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if got := srv.Events()[i].Severity; got != tc.want {
			t.Errorf("%s → %q, want %q", tc.sev, got, tc.want)
		}
	}
}

func TestOnCall(t *testing.T) {
	teams := map[string]pagerduty.Team{
		"secops":    {RoutingKey: secopsKey, EscalationPolicy: "PEPSEC1"},
		"payments":  {RoutingKey: paymentsKey, Schedule: "PSCHPAY"},
		"new":       {RoutingKey: paymentsKey, Schedule: "PSCHNEW"},
		"typo":      {RoutingKey: paymentsKey, Schedule: "PSCHXXX"},
		"typopol":   {RoutingKey: paymentsKey, EscalationPolicy: "PEPXXXX"},
		"pagesonly": {RoutingKey: paymentsKey},
	}
	tests := []struct {
		name       string
		team       string
		wantSource string
		wantPeople string
		wantErr    error
		permanent  string
	}{
		{"schedule", "payments", "PagerDuty schedule Payments primary (PSCHPAY)", "Anna Schmidt <anna@example.com>, Boris Petrov <boris@example.com>", nil, ""},
		{"escalation policy: its first level only", "secops", "PagerDuty escalation policy SecOps escalation (PEPSEC1)", "Sam Ortiz <sam@example.com>", nil, ""},
		{"nobody on call is an answer, with its source", "new", "PagerDuty schedule Nobody yet (PSCHNEW)", "", nil, ""},
		{"a schedule that does not exist is a setting to fix", "typo", "", "", nil, "PagerDuty has no schedule PSCHXXX: check paging.teams.typo.schedule"},
		{"an escalation policy that does not exist", "typopol", "", "", nil, "PagerDuty has no escalation policy PEPXXXX: check paging.teams.typopol.escalation_policy"},
		{"a team paged without a schedule asks the next source", "pagesonly", "", "", paging.ErrNoSchedule, ""},
		{"a team PagerDuty does not know", "analytics", "", "", paging.ErrNoSchedule, ""},
	}
	srv := newFake(t)
	c := newClient(t, srv, teams)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oc, err := c.OnCall(context.Background(), tc.team, now)
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("OnCall = %+v, %v; want %v", oc, err, tc.wantErr)
				}
				return
			case tc.permanent != "":
				var pe *paging.PermanentError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.permanent) {
					t.Fatalf("OnCall error = %v, want a permanent error saying %q", err, tc.permanent)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var people []string
			for _, p := range oc.People {
				people = append(people, p.Name+" <"+p.Email+">")
			}
			if oc.Source != tc.wantSource || strings.Join(people, ", ") != tc.wantPeople || oc.Team != tc.team {
				t.Errorf("OnCall = %q from %q for %s, want %q from %q", people, oc.Source, oc.Team, tc.wantPeople, tc.wantSource)
			}
		})
	}
	// The question is asked for the moment given, not the machine's now.
	for _, r := range srv.Requests() {
		if r.Path != "/oncalls" {
			continue
		}
		q, _ := url.ParseQuery(r.Query)
		if q.Get("since") != "2026-11-27T03:04:00Z" || q.Get("include[]") != "users" {
			t.Errorf("oncalls query %q: want since=2026-11-27T03:04:00Z and include[]=users", r.Query)
		}
	}
}

// Polling finds each page's incident by its dedup key and says who acted
// on it in PagerDuty; what the bot did itself (through the Events API) is
// not reported as someone's doing.
func TestState(t *testing.T) {
	type step func(srv *pagerdutyfake.Server, c *pagerduty.Client) error
	trigger := func(srv *pagerdutyfake.Server, c *pagerduty.Client) error {
		return c.Trigger(context.Background(), page("F-1", "secops"))
	}
	ackBy := func(user string) step {
		return func(srv *pagerdutyfake.Server, _ *pagerduty.Client) error {
			if !srv.Acknowledge("secops-bot-F-1-secops", user) {
				return errors.New("no open incident to acknowledge")
			}
			return nil
		}
	}
	resolveBy := func(user string) step {
		return func(srv *pagerdutyfake.Server, _ *pagerduty.Client) error {
			if !srv.Resolve("secops-bot-F-1-secops", user) {
				return errors.New("no open incident to resolve")
			}
			return nil
		}
	}
	botAck := func(_ *pagerdutyfake.Server, c *pagerduty.Client) error {
		return c.Acknowledge(context.Background(), paging.RefFor("F-1", "secops"))
	}
	botResolve := func(_ *pagerdutyfake.Server, c *pagerduty.Client) error {
		return c.Resolve(context.Background(), paging.RefFor("F-1", "secops"))
	}
	tests := []struct {
		name       string
		steps      []step
		wantErr    error
		status     paging.Status
		ackedBy    string
		resolvedBy string
	}{
		{"not paged (or not created yet)", nil, paging.ErrNoIncident, "", "", ""},
		{"triggered", []step{trigger}, nil, paging.StatusTriggered, "", ""},
		{"acknowledged by Sam in PagerDuty", []step{trigger, ackBy("PUSAM01")}, nil, paging.StatusAcknowledged, "Sam Ortiz <sam@example.com>", ""},
		{"acknowledged by the bot (in Slack)", []step{trigger, botAck}, nil, paging.StatusAcknowledged, "", ""},
		{"resolved by Sam in PagerDuty", []step{trigger, ackBy("PUSAM01"), resolveBy("PUSAM01")}, nil, paging.StatusResolved, "", "Sam Ortiz <sam@example.com>"},
		{"resolved by the bot", []step{trigger, botResolve}, nil, paging.StatusResolved, "", ""},
		{"the latest incident of a reopened finding", []step{trigger, resolveBy("PUSAM01"), trigger}, nil, paging.StatusTriggered, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			c := newClient(t, srv, nil)
			for _, s := range tc.steps {
				if err := s(srv, c); err != nil {
					t.Fatal(err)
				}
			}
			st, err := c.State(context.Background(), paging.RefFor("F-1", "secops"))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("State = %+v, %v; want %v", st, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var acked []string
			for _, p := range st.AcknowledgedBy {
				acked = append(acked, p.Name+" <"+p.Email+">")
			}
			resolved := ""
			if st.ResolvedBy != (paging.Person{}) {
				resolved = st.ResolvedBy.Name + " <" + st.ResolvedBy.Email + ">"
			}
			if st.Status != tc.status || strings.Join(acked, ", ") != tc.ackedBy || resolved != tc.resolvedBy {
				t.Errorf("State = %s, acknowledged by %q, resolved by %q; want %s, %q, %q", st.Status, acked, resolved, tc.status, tc.ackedBy, tc.resolvedBy)
			}
			if st.Provider != "PagerDuty" || !strings.HasPrefix(st.URL, "https://example.pagerduty.com/incidents/") {
				t.Errorf("State provider %q, URL %q", st.Provider, st.URL)
			}
			if tc.ackedBy != "" && !st.AcknowledgedAt.Equal(now) {
				t.Errorf("acknowledged at %s, want %s", st.AcknowledgedAt, now)
			}
			if tc.status == paging.StatusResolved && !st.ResolvedAt.Equal(now) {
				t.Errorf("resolved at %s, want %s", st.ResolvedAt, now)
			}
		})
	}
}

// Errors come back as paging's kinds, say what to fix, and never contain
// the token or a routing key.
func TestErrors(t *testing.T) {
	trigger := func(c *pagerduty.Client) error { return c.Trigger(context.Background(), page("F-1", "secops")) }
	onCall := func(c *pagerduty.Client) error {
		_, err := c.OnCall(context.Background(), "payments", now)
		return err
	}
	state := func(c *pagerduty.Client) error {
		_, err := c.State(context.Background(), paging.RefFor("F-1", "secops"))
		return err
	}
	tests := []struct {
		name       string
		teams      map[string]pagerduty.Team
		token      string
		fail       func(*pagerdutyfake.Server)
		call       func(*pagerduty.Client) error
		kind       string // "limited", "permanent", "retry"
		retryAfter time.Duration
		says       []string
	}{
		{"429 on the Events API with Retry-After in seconds", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 429, "30") }, trigger, "limited", 30 * time.Second, nil},
		{"429 with Retry-After as a date", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 429, "Fri, 27 Nov 2026 03:06:00 GMT") }, trigger, "limited", 2 * time.Minute, nil},
		{"429 without Retry-After", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 429, "") }, state, "limited", 0, nil},
		{"429 on the REST API", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 429, "12") }, onCall, "limited", 12 * time.Second, nil},
		{"503 on the Events API is worth another try", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 503, "") }, trigger, "retry", 0, []string{"503 Service Unavailable"}},
		{"500 on the REST API", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 500, "") }, state, "retry", 0, []string{"500 Internal Server Error"}},
		{"an unknown routing key", map[string]pagerduty.Team{"secops": {RoutingKey: unknownKey}}, "", nil, trigger, "permanent", 0,
			[]string{"400", "Invalid routing key", "check paging.teams.secops.routing_key", "Events API v2 integration"}},
		{"a team without a routing key", map[string]pagerduty.Team{"payments": {RoutingKey: paymentsKey}}, "", nil, trigger, "permanent", 0,
			[]string{"team secops has no routing key: set paging.teams.secops.routing_key"}},
		{"401: the API token was refused", nil, "u+PDtoken-wrong", nil, state, "permanent", 0,
			[]string{"401 Unauthorized", "Authentication failed", "PagerDuty refused the API token", "SECOPS_PAGERDUTY_API_TOKEN"}},
		{"401 when asking who is on call", nil, "u+PDtoken-wrong", nil, onCall, "permanent", 0, []string{"PagerDuty refused the API token"}},
		{"403: the token may not read incidents", nil, "", func(s *pagerdutyfake.Server) { s.FailNext(1, 403, "") }, state, "permanent", 0,
			[]string{"403 Forbidden", "may not read incidents"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t)
			if tc.fail != nil {
				tc.fail(srv)
			}
			teams := tc.teams
			if teams == nil {
				teams = map[string]pagerduty.Team{
					"secops":   {RoutingKey: secopsKey, EscalationPolicy: "PEPSEC1"},
					"payments": {RoutingKey: paymentsKey, Schedule: "PSCHPAY"},
				}
			}
			tok := token
			if tc.token != "" {
				tok = tc.token
			}
			c, err := pagerduty.New(pagerduty.Config{Token: tok, Teams: teams, EventsURL: srv.URL, APIURL: srv.URL, Clock: clock.NewFake(now)})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(c)
			if err == nil {
				t.Fatal("no error")
			}
			after, limited := paging.RetryAfter(err)
			kind := "retry"
			switch {
			case limited:
				kind = "limited"
			case !paging.Retryable(err):
				kind = "permanent"
			}
			if kind != tc.kind || after != tc.retryAfter {
				t.Errorf("error %q is %s (retry after %s), want %s (%s)", err, kind, after, tc.kind, tc.retryAfter)
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, secret := range []string{tok, secopsKey, paymentsKey, unknownKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

// A transport failure is worth another try and names no secret, even
// when the address itself is wrong.
func TestNetworkFailure(t *testing.T) {
	srv := newFake(t)
	addr := srv.URL
	srv.Close()
	c, err := pagerduty.New(pagerduty.Config{Token: token, Teams: map[string]pagerduty.Team{"secops": {RoutingKey: secopsKey}}, EventsURL: addr, APIURL: addr})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Trigger(context.Background(), page("F-1", "secops"))
	if err == nil || !paging.Retryable(err) {
		t.Fatalf("Trigger against a closed server = %v, want a retryable error", err)
	}
	if _, limited := paging.RetryAfter(err); limited || strings.Contains(err.Error(), secopsKey) || strings.Contains(err.Error(), token) {
		t.Errorf("error %q", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Trigger(ctx, page("F-1", "secops")); !errors.Is(err, context.Canceled) {
		t.Errorf("Trigger with a cancelled context = %v", err)
	}
}

// Every configuration problem is reported at once, naming the key, and a
// malformed routing key is not echoed.
func TestNewValidates(t *testing.T) {
	_, err := pagerduty.New(pagerduty.Config{
		Teams: map[string]pagerduty.Team{
			"secops":   {RoutingKey: "short-s3cr3t", Schedule: "PSCHSEC", EscalationPolicy: "PEPSEC1"},
			"payments": {Schedule: "../admin"},
		},
		EventsURL: "events.pagerduty.com",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"SECOPS_PAGERDUTY_API_TOKEN) is not set",
		"paging.teams.secops.routing_key is not an Events API v2 integration key",
		"paging.teams.secops: set schedule or escalation_policy, not both",
		"paging.teams.payments.routing_key is not set",
		`paging.teams.payments.schedule: "../admin" is not a PagerDuty schedule ID`,
		"paging.pagerduty.events_url must be an http(s) URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short-s3cr3t") {
		t.Errorf("error echoes the routing key: %v", err)
	}
}

// A 404 for an event says where to look: the events address, not the
// routing key.
func TestWrongEventsAddress(t *testing.T) {
	srv := newFake(t)
	c, err := pagerduty.New(pagerduty.Config{Token: token, Teams: map[string]pagerduty.Team{"secops": {RoutingKey: secopsKey}}, EventsURL: srv.URL + "/nothing-here", APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Trigger(context.Background(), page("F-1", "secops"))
	var pe *paging.PermanentError
	if !errors.As(err, &pe) || pe.Status != http.StatusNotFound || !strings.Contains(err.Error(), "paging.pagerduty.events_url") {
		t.Errorf("Trigger at a wrong address = %v", err)
	}
}
