package opsgenie_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/opsgeniefake"
	"github.com/secops-bot/secops-bot/providers/opsgenie"
)

const apiKey = "c0ffee00-1111-4222-8333-444455556666"

var now = time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC)

func newFake(t *testing.T, clk *clock.Fake) *opsgeniefake.Server {
	t.Helper()
	srv := opsgeniefake.New(opsgeniefake.Options{
		APIKey: apiKey,
		Teams:  []string{"SecOps", "Payments"},
		Schedules: []opsgeniefake.Schedule{
			{ID: "d875e654-9b4e-4219-a98d-3d5aa1b2c3d4", Name: "secops_schedule", OnCall: []string{"sam@example.com"}},
			{ID: "0e8d1a5c-1111-4222-8333-444455556666", Name: "payments_schedule", OnCall: []string{"anna@example.com", "boris@example.com"}},
			{ID: "7f1c0a2b-1111-4222-8333-444455556666", Name: "empty_schedule"},
		},
		Now: clk.Now,
	})
	t.Cleanup(srv.Close)
	return srv
}

var defaultTeams = map[string]opsgenie.Team{
	"secops":   {Responder: "SecOps", Schedule: "secops_schedule"},
	"payments": {Responder: "Payments", Schedule: "payments_schedule"},
}

func newClient(t *testing.T, srv *opsgeniefake.Server, clk *clock.Fake, key string, teams map[string]opsgenie.Team) *opsgenie.Client {
	t.Helper()
	if teams == nil {
		teams = defaultTeams
	}
	if key == "" {
		key = apiKey
	}
	c, err := opsgenie.New(opsgenie.Config{APIKey: key, Teams: teams, APIURL: srv.URL, AppURL: "https://example.app.opsgenie.com", Clock: clk})
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

// A page's life in Opsgenie: a repeated create counts another occurrence
// of the open alert, acknowledge and close change it, and a create after
// the close opens a new alert.
func TestAlertsByAlias(t *testing.T) {
	type step struct{ action, id, team string }
	type want struct {
		alias, status string
		acked         bool
		count         int
	}
	tests := []struct {
		name  string
		steps []step
		want  []want
	}{
		{"trigger twice with one alias makes one alert",
			[]step{{"trigger", "F-1", "secops"}, {"trigger", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "open", false, 2}}},
		{"acknowledge",
			[]step{{"trigger", "F-1", "secops"}, {"acknowledge", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "open", true, 1}}},
		{"resolve closes",
			[]step{{"trigger", "F-1", "secops"}, {"acknowledge", "F-1", "secops"}, {"resolve", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "closed", true, 1}}},
		{"a finding that reopens pages again",
			[]step{{"trigger", "F-1", "secops"}, {"resolve", "F-1", "secops"}, {"trigger", "F-1", "secops"}},
			[]want{{"secops-bot-F-1-secops", "closed", false, 1}, {"secops-bot-F-1-secops", "open", false, 1}}},
		{"SecOps and the owning team get an alert each",
			[]step{{"trigger", "F-1", "secops"}, {"trigger", "F-1", "payments"}},
			[]want{{"secops-bot-F-1-secops", "open", false, 1}, {"secops-bot-F-1-payments", "open", false, 1}}},
		{"closing an alert never created is accepted and changes nothing",
			[]step{{"acknowledge", "F-9", "secops"}, {"resolve", "F-9", "secops"}},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(now)
			srv := newFake(t, clk)
			c := newClient(t, srv, clk, "", nil)
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
			got := srv.Alerts()
			if len(got) != len(tc.want) {
				t.Fatalf("alerts = %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Alias != w.alias || got[i].Status != w.status || got[i].Acknowledged != w.acked || got[i].Count != w.count {
					t.Errorf("alert %d = %s %s acked=%v count=%d, want %s %s acked=%v count=%d",
						i, got[i].Alias, got[i].Status, got[i].Acknowledged, got[i].Count, w.alias, w.status, w.acked, w.count)
				}
			}
		})
	}
}

// The alert carries the page in Opsgenie's shape: the message within its
// 130 characters, the priority, the team as responder.
func TestCreateAlert(t *testing.T) {
	clk := clock.NewFake(now)
	srv := newFake(t, clk)
	c := newClient(t, srv, clk, "", nil)
	p := page("F-1", "payments")
	p.Summary = strings.Repeat("ä", 200)
	if err := c.Trigger(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	a := srv.Alerts()[0]
	checks := []struct{ name, got, want string }{
		{"alias", a.Alias, "secops-bot-F-1-payments"},
		{"message", a.Message, strings.Repeat("ä", 129) + "…"},
		{"priority", a.Priority, "P1"},
		{"entity", a.Entity, p.Source},
		{"responder", a.Responders[0].Type + " " + a.Responders[0].Name, "team Payments"},
		{"finding", a.Details["finding"], "F-1"},
		{"thread", a.Details["Slack thread"], "https://example.slack.com/archives/C0SECOPS/p1"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !strings.Contains(a.Description, "Slack thread: https://example.slack.com/archives/C0SECOPS/p1") {
		t.Errorf("description %q lacks the link", a.Description)
	}
	if !slices.Contains(a.Tags, "severity:critical") {
		t.Errorf("tags = %v", a.Tags)
	}
	for _, r := range srv.Requests() {
		if r.Auth != "GenieKey "+apiKey {
			t.Errorf("request %s %s authorised with %q", r.Method, r.Path, r.Auth)
		}
	}
}

func TestPriorities(t *testing.T) {
	tests := []struct {
		sev  finding.Severity
		want string
	}{
		{finding.SeverityCritical, "P1"}, {finding.SeverityHigh, "P2"}, {finding.SeverityMedium, "P3"},
		{finding.SeverityLow, "P4"}, {finding.SeverityUnknown, "P5"},
	}
	clk := clock.NewFake(now)
	srv := newFake(t, clk)
	c := newClient(t, srv, clk, "", nil)
	for i, tc := range tests {
		p := page("F-"+string(rune('A'+i)), "secops")
		p.Severity = tc.sev
		if err := c.Trigger(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if got := srv.Alerts()[i].Priority; got != tc.want {
			t.Errorf("%s → %s, want %s", tc.sev, got, tc.want)
		}
	}
}

func TestOnCall(t *testing.T) {
	teams := map[string]opsgenie.Team{
		"secops":    {Schedule: "secops_schedule"},
		"payments":  {Schedule: "0e8d1a5c-1111-4222-8333-444455556666"},
		"empty":     {Schedule: "empty_schedule"},
		"typo":      {Schedule: "paymnets_schedule"},
		"pagesonly": {Responder: "Payments"},
	}
	tests := []struct {
		name       string
		team       string
		wantSource string
		wantPeople string
		wantErr    error
		permanent  string
	}{
		{"schedule by name", "secops", "Opsgenie schedule secops_schedule", "sam@example.com", nil, ""},
		{"schedule by ID", "payments", "Opsgenie schedule payments_schedule", "anna@example.com, boris@example.com", nil, ""},
		{"nobody on call is an answer, with its source", "empty", "Opsgenie schedule empty_schedule", "", nil, ""},
		{"a schedule that does not exist is a setting to fix", "typo", "", "", nil, "Opsgenie has no schedule paymnets_schedule: check paging.teams.typo.schedule"},
		{"a team paged without a schedule asks the next source", "pagesonly", "", "", paging.ErrNoSchedule, ""},
		{"a team Opsgenie does not know", "analytics", "", "", paging.ErrNoSchedule, ""},
	}
	clk := clock.NewFake(now)
	srv := newFake(t, clk)
	c := newClient(t, srv, clk, "", teams)
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
				people = append(people, p.Email)
			}
			if oc.Source != tc.wantSource || strings.Join(people, ", ") != tc.wantPeople {
				t.Errorf("OnCall = %q from %q, want %q from %q", people, oc.Source, tc.wantPeople, tc.wantSource)
			}
		})
	}
	for _, r := range srv.Requests() {
		q, _ := url.ParseQuery(r.Query)
		if q.Get("date") != "2026-11-27T03:04:00.000Z" || q.Get("flat") != "true" {
			t.Errorf("on-calls query %q: want the moment asked about, flat", r.Query)
		}
	}
}

// Polling reads each page's alert by alias and says who acted on it in
// Opsgenie; what the bot did itself is not reported as someone's doing.
func TestState(t *testing.T) {
	type step func(srv *opsgeniefake.Server, c *opsgenie.Client, clk *clock.Fake) error
	trigger := func(_ *opsgeniefake.Server, c *opsgenie.Client, _ *clock.Fake) error {
		return c.Trigger(context.Background(), page("F-1", "secops"))
	}
	later := func(d time.Duration) step {
		return func(_ *opsgeniefake.Server, _ *opsgenie.Client, clk *clock.Fake) error { clk.Advance(d); return nil }
	}
	ackBy := func(user string) step {
		return func(srv *opsgeniefake.Server, _ *opsgenie.Client, _ *clock.Fake) error {
			if !srv.AcknowledgeAlert("secops-bot-F-1-secops", user) {
				return errors.New("no open alert")
			}
			return nil
		}
	}
	closeBy := func(user string) step {
		return func(srv *opsgeniefake.Server, _ *opsgenie.Client, _ *clock.Fake) error {
			if !srv.CloseAlert("secops-bot-F-1-secops", user) {
				return errors.New("no open alert")
			}
			return nil
		}
	}
	botAck := func(_ *opsgeniefake.Server, c *opsgenie.Client, _ *clock.Fake) error {
		return c.Acknowledge(context.Background(), paging.RefFor("F-1", "secops"))
	}
	botClose := func(_ *opsgeniefake.Server, c *opsgenie.Client, _ *clock.Fake) error {
		return c.Resolve(context.Background(), paging.RefFor("F-1", "secops"))
	}
	tests := []struct {
		name       string
		steps      []step
		wantErr    error
		status     paging.Status
		ackedBy    string
		ackedAt    time.Time
		resolvedBy string
		resolvedAt time.Time
	}{
		{"not paged", nil, paging.ErrNoIncident, "", "", time.Time{}, "", time.Time{}},
		{"open", []step{trigger}, nil, paging.StatusTriggered, "", time.Time{}, "", time.Time{}},
		{"acknowledged by Sam in Opsgenie", []step{trigger, later(7 * time.Minute), ackBy("sam@example.com")}, nil,
			paging.StatusAcknowledged, "sam@example.com", now.Add(7 * time.Minute), "", time.Time{}},
		{"acknowledged by the bot", []step{trigger, later(time.Minute), botAck}, nil, paging.StatusAcknowledged, "", now.Add(time.Minute), "", time.Time{}},
		{"closed by Sam in Opsgenie", []step{trigger, later(7 * time.Minute), ackBy("sam@example.com"), later(20 * time.Minute), closeBy("sam@example.com")}, nil,
			paging.StatusResolved, "sam@example.com", now.Add(7 * time.Minute), "sam@example.com", now.Add(27 * time.Minute)},
		{"closed by the bot", []step{trigger, later(time.Hour), botClose}, nil, paging.StatusResolved, "", time.Time{}, "", now.Add(time.Hour)},
		{"the open alert of a reopened finding", []step{trigger, closeBy("sam@example.com"), trigger}, nil, paging.StatusTriggered, "", time.Time{}, "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(now)
			srv := newFake(t, clk)
			c := newClient(t, srv, clk, "", nil)
			for _, s := range tc.steps {
				if err := s(srv, c, clk); err != nil {
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
				acked = append(acked, p.Email)
			}
			if st.Status != tc.status || strings.Join(acked, ",") != tc.ackedBy || st.ResolvedBy.Email != tc.resolvedBy {
				t.Errorf("State = %s, acknowledged by %q, closed by %q; want %s, %q, %q", st.Status, acked, st.ResolvedBy.Email, tc.status, tc.ackedBy, tc.resolvedBy)
			}
			if !st.AcknowledgedAt.Equal(tc.ackedAt) || !st.ResolvedAt.Equal(tc.resolvedAt) {
				t.Errorf("acknowledged at %s, closed at %s; want %s, %s", st.AcknowledgedAt, st.ResolvedAt, tc.ackedAt, tc.resolvedAt)
			}
			if st.Provider != "Opsgenie" || !strings.HasPrefix(st.URL, "https://example.app.opsgenie.com/alert/detail/") {
				t.Errorf("State provider %q, URL %q", st.Provider, st.URL)
			}
		})
	}
}

// Errors come back as paging's kinds, say what to fix, and never contain
// the API key.
func TestErrors(t *testing.T) {
	trigger := func(c *opsgenie.Client) error { return c.Trigger(context.Background(), page("F-1", "secops")) }
	ack := func(c *opsgenie.Client) error {
		return c.Acknowledge(context.Background(), paging.RefFor("F-1", "secops"))
	}
	onCall := func(c *opsgenie.Client) error {
		_, err := c.OnCall(context.Background(), "secops", now)
		return err
	}
	state := func(c *opsgenie.Client) error {
		_, err := c.State(context.Background(), paging.RefFor("F-1", "secops"))
		return err
	}
	const wrongKey = "deadbeef-0000-4000-8000-000000000000"
	tests := []struct {
		name       string
		key        string
		teams      map[string]opsgenie.Team
		fail       func(*opsgeniefake.Server)
		call       func(*opsgenie.Client) error
		kind       string
		retryAfter time.Duration
		says       []string
	}{
		{"429 with Retry-After", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 429, "7") }, trigger, "limited", 7 * time.Second, nil},
		{"429 without Retry-After waits out the rate-limit period", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 429, "") }, ack, "limited", time.Minute, nil},
		{"429 when asking who is on call", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 429, "3") }, onCall, "limited", 3 * time.Second, nil},
		{"503 is worth another try, once: the SDK does not retry", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 503, "") }, trigger, "retry", 0, []string{"503 Service Unavailable"}},
		{"500 when polling", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 500, "") }, state, "retry", 0, []string{"500 Internal Server Error"}},
		{"401: the API key was refused", wrongKey, nil, nil, trigger, "permanent", 0,
			[]string{"401", "Could not authenticate", "Opsgenie refused the API key", "SECOPS_OPSGENIE_API_KEY"}},
		{"401 when polling", wrongKey, nil, nil, state, "permanent", 0, []string{"Opsgenie refused the API key"}},
		{"403: the integration may not read schedules", "", nil, func(s *opsgeniefake.Server) { s.FailNext(1, 403, "") }, onCall, "permanent", 0,
			[]string{"403", "may not read schedules"}},
		{"422: a responder team that does not exist", "", map[string]opsgenie.Team{"secops": {Responder: "SecOpz"}}, nil, trigger, "permanent", 0,
			[]string{"422", "Team [SecOpz] does not exist", "paging.teams.secops.opsgenie_team"}},
		{"a team that is not configured", "", map[string]opsgenie.Team{"payments": {}}, nil, trigger, "permanent", 0,
			[]string{"team secops is not configured for Opsgenie"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(now)
			srv := newFake(t, clk)
			if tc.fail != nil {
				tc.fail(srv)
			}
			c := newClient(t, srv, clk, tc.key, tc.teams)
			err := tc.call(c)
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
			if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), wrongKey) {
				t.Errorf("error %q contains the API key", err)
			}
			if n := len(srv.Requests()); n > 1 {
				t.Errorf("%d requests, want at most 1: retries are the outbox's", n)
			}
		})
	}
}

// The context reaches the request: a cancelled delivery stops, and a
// closed server is a failure worth another try. Both depend on the SDK
// handing the context to its HTTP client (go-retryablehttp v0.5; later
// versions drop it).
func TestContextAndNetwork(t *testing.T) {
	clk := clock.NewFake(now)
	srv := newFake(t, clk)
	c := newClient(t, srv, clk, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Trigger(ctx, page("F-1", "secops")); !errors.Is(err, context.Canceled) {
		t.Errorf("Trigger with a cancelled context = %v", err)
	}
	srv.Close()
	err := c.Trigger(context.Background(), page("F-1", "secops"))
	if err == nil || !paging.Retryable(err) || strings.Contains(err.Error(), apiKey) {
		t.Errorf("Trigger against a closed server = %v, want a retryable error", err)
	}
	if _, limited := paging.RetryAfter(err); limited {
		t.Errorf("a network failure is not a rate limit: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := opsgenie.New(opsgenie.Config{
		Teams:  map[string]opsgenie.Team{"secops": {Schedule: "../admin"}},
		APIURL: "api.opsgenie.com",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"SECOPS_OPSGENIE_API_KEY) is not set",
		`paging.teams.secops.schedule: "../admin" is not an Opsgenie schedule name`,
		"paging.opsgenie.api_url must be an http(s) URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
