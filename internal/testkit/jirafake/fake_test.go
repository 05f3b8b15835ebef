package jirafake_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/providers/jira"
)

func newPair(t *testing.T, flavor string) (*jirafake.Server, *jira.Client) {
	t.Helper()
	srv := jirafake.New(jirafake.Options{Flavor: flavor, Email: "bot@example.com", Token: "s3cr3t-token"})
	t.Cleanup(srv.Close)
	c, err := jira.New(jira.Config{Flavor: jira.Flavor(flavor), BaseURL: srv.URL, Email: "bot@example.com", Token: "s3cr3t-token"})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

var doc = jira.Doc{Blocks: []jira.Block{
	{Kind: jira.Heading, Text: []jira.Inline{{Text: "Public bucket"}}},
	{Kind: jira.Paragraph, Text: []jira.Inline{{Text: "Bucket "}, {Text: "payments-exports", Mono: true}, {Text: " is public."}}},
	{Kind: jira.Bullets, Items: [][]jira.Inline{{{Text: "Severity: ", Bold: true}, {Text: "high"}}}},
}}

// The whole life of an issue, for both flavours: each call is checked by
// the fake the way Jira checks it (body format, fields, workflow).
func TestIssueLifecycle(t *testing.T) {
	for _, flavor := range []string{jirafake.Cloud, jirafake.DataCenter} {
		t.Run(flavor, func(t *testing.T) {
			ctx := context.Background()
			srv, c := newPair(t, flavor)
			me, err := c.Myself(ctx)
			if err != nil || me.DisplayName != "SecOps Bot" {
				t.Fatalf("Myself = %+v, %v", me, err)
			}
			key, err := c.CreateIssue(ctx, jira.IssueRequest{
				Project: "PAY", IssueType: "Task", Summary: "[HIGH] Public bucket\npayments-exports",
				Description: doc, Priority: "High", Labels: []string{"secops", "secops-finding-F-1"},
			})
			if err != nil || key != "PAY-1" {
				t.Fatalf("CreateIssue = %q, %v; want PAY-1", key, err)
			}
			is, _ := srv.Issue(key)
			if is.Summary != "[HIGH] Public bucket payments-exports" || is.Priority != "High" || !slices.Equal(is.Labels, []string{"secops", "secops-finding-F-1"}) {
				t.Fatalf("stored issue = %+v", is)
			}
			if got := is.DescriptionText(); !strings.Contains(got, "payments-exports") {
				t.Fatalf("description %q lacks the bucket", got)
			}
			found, err := c.SearchByLabel(ctx, "secops-finding-F-1")
			if err != nil || len(found) != 1 || found[0].Key != key || found[0].StatusCategory != "new" {
				t.Fatalf("SearchByLabel = %+v, %v", found, err)
			}
			if none, err := c.SearchByLabel(ctx, "secops-finding-F-2"); err != nil || len(none) != 0 {
				t.Fatalf("SearchByLabel(other) = %+v, %v; want none", none, err)
			}
			if err := c.AddComment(ctx, key, jira.Text("Acknowledged by alice.")); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Comments(ctx, key); err != nil || !slices.Equal(got, []string{"Acknowledged by alice."}) {
				t.Fatalf("Comments = %q, %v", got, err)
			}
			if name, err := c.Resolve(ctx, key, []string{"Close Issue"}); err != nil || name != "Done" {
				t.Fatalf("Resolve = %q, %v; want the Done fallback", name, err)
			}
			if name, err := c.Resolve(ctx, key, nil); err != nil || name != "" {
				t.Fatalf("Resolve again = %q, %v; want nothing to do", name, err)
			}
			if name, err := c.Reopen(ctx, key, nil); err != nil || name != "Reopen" {
				t.Fatalf("Reopen = %q, %v", name, err)
			}
			is, _ = srv.Issue(key)
			if is.Status != "To Do" || !slices.Equal(is.Transitions, []string{"Done", "Reopen"}) {
				t.Fatalf("status %q after %v, want To Do after [Done Reopen]", is.Status, is.Transitions)
			}
		})
	}
}

// A configured transition name wins over the fallbacks, and may name the
// target status instead of the transition.
func TestResolvePicksConfiguredTransition(t *testing.T) {
	wf := jirafake.Workflow{
		Initial:  "Open",
		Statuses: []jirafake.Status{{"Open", "new"}, {"Resolved", "done"}, {"Closed", "done"}},
		Transitions: map[string][]jirafake.Transition{
			"Open": {{"5", "Close Issue", "Closed"}, {"7", "Resolve Issue", "Resolved"}},
		},
	}
	tests := []struct {
		name   string
		names  []string
		want   string
		status string
	}{
		{"by transition name, any case", []string{"resolve issue"}, "Resolve Issue", "Resolved"},
		{"by target status", []string{"Closed"}, "Close Issue", "Closed"},
		{"fallbacks in order", nil, "Resolve Issue", "Resolved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := jirafake.New(jirafake.Options{Workflow: &wf, Token: "t"})
			defer srv.Close()
			c, _ := jira.New(jira.Config{Flavor: jira.Cloud, BaseURL: srv.URL, Email: "bot@example.com", Token: "t"})
			key, err := c.CreateIssue(ctx, jira.IssueRequest{Project: "SEC", IssueType: "Bug", Summary: "x", Description: jira.Text("x")})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Resolve(ctx, key, tc.names)
			is, _ := srv.Issue(key)
			if err != nil || got != tc.want || is.Status != tc.status {
				t.Fatalf("Resolve = %q, %v, status %q; want %q to %q", got, err, is.Status, tc.want, tc.status)
			}
		})
	}
}

func TestNoMatchingTransitionNamesTheSetting(t *testing.T) {
	wf := jirafake.Workflow{
		Initial:     "Open",
		Statuses:    []jirafake.Status{{"Open", "new"}, {"Shipped", "done"}},
		Transitions: map[string][]jirafake.Transition{"Open": {{"9", "Ship", "Shipped"}}},
	}
	srv := jirafake.New(jirafake.Options{Workflow: &wf, Token: "t"})
	defer srv.Close()
	c, _ := jira.New(jira.Config{Flavor: jira.Cloud, BaseURL: srv.URL, Email: "bot@example.com", Token: "t"})
	ctx := context.Background()
	key, _ := c.CreateIssue(ctx, jira.IssueRequest{Project: "SEC", IssueType: "Bug", Summary: "x", Description: jira.Text("x")})
	_, err := c.Resolve(ctx, key, []string{"Finish"})
	if !errors.Is(err, jira.ErrNoTransition) || !strings.Contains(err.Error(), "jira.resolve_transitions") || !strings.Contains(err.Error(), `"Ship"`) {
		t.Fatalf("Resolve = %v; want ErrNoTransition naming the setting and the offered transitions", err)
	}
}

// Failures as the bot sees them: classified, in plain words, never with
// the token.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		inject func(*jirafake.Server)
		call   func(*jira.Client) error
		kind   error
		words  []string
		retry  time.Duration
	}{
		{"outage", func(s *jirafake.Server) { s.SetDown(true) },
			func(c *jira.Client) error { _, err := c.Myself(ctx); return err },
			jira.ErrTransient, []string{"503", "unavailable"}, 0},
		{"rate limit with Retry-After", func(s *jirafake.Server) { s.FailNext(1, http.StatusTooManyRequests, 7*time.Second) },
			func(c *jira.Client) error { return c.AddComment(ctx, "PAY-1", jira.Text("x")) },
			jira.ErrTransient, []string{"429", "rate limited", "7s"}, 7 * time.Second},
		{"rejected token", func(s *jirafake.Server) { s.FailNext(1, http.StatusUnauthorized, 0) },
			func(c *jira.Client) error { _, err := c.Myself(ctx); return err },
			jira.ErrUnauthorized, []string{"401", "jira.api_token", "jira.email"}, 0},
		{"unknown project", nil,
			func(c *jira.Client) error { _, err := c.ProjectExists(ctx, "NOPE"); return err },
			nil, nil, 0},
		{"unknown issue", nil,
			func(c *jira.Client) error { return c.AddComment(ctx, "PAY-999", jira.Text("x")) },
			jira.ErrNotFound, []string{"404", "issue PAY-999"}, 0},
		{"invalid fields surfaced", nil,
			func(c *jira.Client) error {
				_, err := c.CreateIssue(ctx, jira.IssueRequest{Project: "PAY", IssueType: "Epic", Summary: "x", Priority: "Urgent", Labels: []string{"has space"}})
				return err
			},
			jira.ErrInvalid, []string{"400", "issuetype: Specify a valid issue type", `priority: Specify a valid priority ("Urgent" is not one)`, "labels:"}, 0},
		{"project that does not exist on create", nil,
			func(c *jira.Client) error {
				_, err := c.CreateIssue(ctx, jira.IssueRequest{Project: "NOPE", IssueType: "Task", Summary: "x"})
				return err
			},
			jira.ErrInvalid, []string{"project: valid project is required"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newPair(t, jirafake.Cloud)
			if _, err := c.CreateIssue(ctx, jira.IssueRequest{Project: "PAY", IssueType: "Task", Summary: "x", Description: jira.Text("x")}); err != nil {
				t.Fatal(err)
			}
			if tc.inject != nil {
				tc.inject(srv)
			}
			err := tc.call(c)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error = %v, want %v", err, tc.kind)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-token") {
				t.Errorf("error %q contains the token", err)
			}
			if got := jira.RetryAfter(err); got != tc.retry {
				t.Errorf("RetryAfter = %v, want %v", got, tc.retry)
			}
		})
	}
	t.Run("a project that does not exist is reported as such", func(t *testing.T) {
		_, c := newPair(t, jirafake.DataCenter)
		for _, tc := range []struct {
			key  string
			want bool
		}{{"PAY", true}, {"NOPE", false}} {
			if got, err := c.ProjectExists(ctx, tc.key); err != nil || got != tc.want {
				t.Fatalf("ProjectExists(%s) = %v, %v; want %v", tc.key, got, err, tc.want)
			}
		}
	})
}

// The fake checks credentials and body formats the way each flavour does,
// so a client speaking the wrong dialect fails here as it would in Jira.
func TestFakeRejectsTheWrongDialect(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		server, want string // flavours
		token        string
		kind         error
	}{
		{"Cloud client against Data Center", jirafake.DataCenter, jirafake.Cloud, "s3cr3t-token", jira.ErrUnauthorized},
		{"wrong token", jirafake.Cloud, jirafake.Cloud, "other-token", jira.ErrUnauthorized},
		{"Data Center client against Cloud", jirafake.Cloud, jirafake.DataCenter, "s3cr3t-token", jira.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := jirafake.New(jirafake.Options{Flavor: tc.server, Token: "s3cr3t-token"})
			defer srv.Close()
			c, err := jira.New(jira.Config{Flavor: jira.Flavor(tc.want), BaseURL: srv.URL, Email: "bot@example.com", Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Myself(ctx)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Myself = %v, want %v", err, tc.kind)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error %q contains the token", err)
			}
		})
	}
	t.Run("wiki body sent to Cloud", func(t *testing.T) {
		srv, _ := newPair(t, jirafake.Cloud)
		// A Data Center client with Cloud's credentials hits Cloud's v2
		// path, which the fake does not serve; post a string body to v3
		// directly instead.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rest/api/3/issue", strings.NewReader(
			`{"fields":{"project":{"key":"PAY"},"issuetype":{"name":"Task"},"summary":"x","description":"h3. wiki"}}`))
		req.SetBasicAuth("bot@example.com", "s3cr3t-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(srv.Issues()) != 0 {
			t.Fatalf("status %d with %d issues; want 400 and none", resp.StatusCode, len(srv.Issues()))
		}
	})
}

func TestOutageUntilAndRequestLog(t *testing.T) {
	now := time.Date(2025, 3, 10, 3, 0, 0, 0, time.UTC)
	clk := func() time.Time { return now }
	srv := jirafake.New(jirafake.Options{Token: "t", Now: clk})
	defer srv.Close()
	c, _ := jira.New(jira.Config{Flavor: jira.Cloud, BaseURL: srv.URL, Email: "bot@example.com", Token: "t"})
	ctx := context.Background()
	srv.Outage(now.Add(time.Minute))
	if _, err := c.Myself(ctx); !jira.Temporary(err) {
		t.Fatalf("Myself during the outage = %v, want a temporary error", err)
	}
	now = now.Add(time.Minute)
	if _, err := c.Myself(ctx); err != nil {
		t.Fatalf("Myself after the outage: %v", err)
	}
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Method+" "+r.Path+" "+http.StatusText(r.Status))
	}
	want := []string{"GET /rest/api/3/myself Service Unavailable", "GET /rest/api/3/myself OK"}
	if !slices.Equal(got, want) {
		t.Fatalf("request log = %q, want %q", got, want)
	}
}
