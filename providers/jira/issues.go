package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
)

// IssueRequest is a new issue.
type IssueRequest = tracker.IssueRequest

// maxSummary is Jira's limit on the summary field.
const maxSummary = 255

// CreateIssue creates an issue and returns its key ("PAY-12").
func (c *Client) CreateIssue(ctx context.Context, r IssueRequest) (string, error) {
	op := "create issue in " + r.Project
	summary := strings.Join(strings.Fields(r.Summary), " ")
	if rs := []rune(summary); len(rs) > maxSummary {
		summary = string(rs[:maxSummary-1]) + "…"
	}
	fields := map[string]any{
		"project":     map[string]string{"key": r.Project},
		"issuetype":   map[string]string{"name": r.IssueType},
		"summary":     summary,
		"description": c.body(r.Description),
	}
	if r.Priority != "" {
		fields["priority"] = map[string]string{"name": r.Priority}
	}
	if len(r.Labels) > 0 {
		labels := make([]string, 0, len(r.Labels))
		for _, l := range r.Labels {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		fields["labels"] = labels
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := c.do(ctx, op, http.MethodPost, c.apiPath()+"/issue", nil, map[string]any{"fields": fields}, &out, "project "+r.Project); err != nil {
		return "", err
	}
	if out.Key == "" {
		return "", &Error{Op: op, Kind: ErrTransient, Msg: "Jira returned no issue key"}
	}
	return out.Key, nil
}

// body renders a description or comment for the flavour.
func (c *Client) body(d Doc) any {
	if c.flavor == Cloud {
		return ADF(d)
	}
	return Wiki(d)
}

// AddComment adds a comment to an issue.
func (c *Client) AddComment(ctx context.Context, key string, body Doc) error {
	return c.do(ctx, "comment on "+key, http.MethodPost, c.apiPath()+"/issue/"+url.PathEscape(key)+"/comment", nil,
		map[string]any{"body": c.body(body)}, nil, "issue "+key)
}

// Comments returns the plain text of an issue's comments, oldest first (up
// to Jira's first page). Cloud bodies (ADF) are flattened to their text.
func (c *Client) Comments(ctx context.Context, key string) ([]string, error) {
	var out struct {
		Comments []struct {
			Body any `json:"body"`
		} `json:"comments"`
	}
	q := url.Values{"maxResults": {"100"}}
	if err := c.do(ctx, "list comments of "+key, http.MethodGet, c.apiPath()+"/issue/"+url.PathEscape(key)+"/comment", q, nil, &out, "issue "+key); err != nil {
		return nil, err
	}
	texts := make([]string, 0, len(out.Comments))
	for _, cm := range out.Comments {
		texts = append(texts, PlainBody(cm.Body))
	}
	return texts, nil
}

// PlainBody flattens a body as Jira returns it (a wiki string, or an ADF
// document decoded from JSON) to its text.
func PlainBody(v any) string {
	switch b := v.(type) {
	case string:
		return b
	case map[string]any:
		var sb strings.Builder
		flattenADF(&sb, b)
		return strings.TrimRight(sb.String(), "\n")
	}
	return ""
}

func flattenADF(sb *strings.Builder, n map[string]any) {
	if t, ok := n["text"].(string); ok {
		sb.WriteString(t)
	}
	kids, _ := n["content"].([]any)
	for _, k := range kids {
		if m, ok := k.(map[string]any); ok {
			flattenADF(sb, m)
		}
	}
	switch n["type"] {
	case "paragraph", "heading", "codeBlock":
		sb.WriteByte('\n')
	}
}

// Issue is what the bot reads back of an issue.
type Issue = tracker.Issue

type issueJSON struct {
	Key    string `json:"key"`
	Fields struct {
		Summary string   `json:"summary"`
		Labels  []string `json:"labels"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
		Status struct {
			Name           string `json:"name"`
			StatusCategory struct {
				Key string `json:"key"`
			} `json:"statusCategory"`
		} `json:"status"`
	} `json:"fields"`
}

func (j issueJSON) issue() Issue {
	return Issue{
		Key: j.Key, Project: j.Fields.Project.Key, Summary: j.Fields.Summary, Labels: j.Fields.Labels,
		Status: j.Fields.Status.Name, StatusCategory: j.Fields.Status.StatusCategory.Key,
	}
}

var issueFields = []string{"summary", "status", "labels", "project"}

// GetIssue reads an issue.
func (c *Client) GetIssue(ctx context.Context, key string) (Issue, error) {
	var out issueJSON
	q := url.Values{"fields": {strings.Join(issueFields, ",")}}
	if err := c.do(ctx, "read issue "+key, http.MethodGet, c.apiPath()+"/issue/"+url.PathEscape(key), q, nil, &out, "issue "+key); err != nil {
		return Issue{}, err
	}
	return out.issue(), nil
}

// SearchByLabel returns the issues that carry a label, oldest first (up to
// 50). The bot labels each ticket with its finding, so this finds a ticket
// created before a crash that left its key unrecorded.
//
// Jira's search index may trail a creation by a few seconds, so a search
// right after a create can miss it; callers search only on a later attempt.
func (c *Client) SearchByLabel(ctx context.Context, label string) ([]Issue, error) {
	if label == "" || strings.ContainsAny(label, "\" \\") {
		return nil, &Error{Op: "search", Kind: ErrInvalid, Msg: fmt.Sprintf("label %q cannot be searched", label)}
	}
	jql := `labels = "` + label + `" ORDER BY created ASC`
	req := map[string]any{"jql": jql, "fields": issueFields, "maxResults": 50}
	path := c.apiPath() + "/search"
	if c.flavor == Cloud {
		// Cloud retired /search in favour of /search/jql.
		path = c.apiPath() + "/search/jql"
	}
	var out struct {
		Issues []issueJSON `json:"issues"`
	}
	if err := c.do(ctx, "search issues labelled "+label, http.MethodPost, path, nil, req, &out, ""); err != nil {
		return nil, err
	}
	issues := make([]Issue, 0, len(out.Issues))
	for _, j := range out.Issues {
		issues = append(issues, j.issue())
	}
	return issues, nil
}

// Transition is one workflow step offered from an issue's status.
type Transition struct {
	ID   string
	Name string
	// To is the status it leads to.
	To string
	// ToCategory is the status category of To ("new", "indeterminate",
	// "done").
	ToCategory string
}

// Transitions lists the transitions available from an issue's status.
func (c *Client) Transitions(ctx context.Context, key string) ([]Transition, error) {
	var out struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			To   struct {
				Name           string `json:"name"`
				StatusCategory struct {
					Key string `json:"key"`
				} `json:"statusCategory"`
			} `json:"to"`
		} `json:"transitions"`
	}
	if err := c.do(ctx, "list transitions of "+key, http.MethodGet, c.apiPath()+"/issue/"+url.PathEscape(key)+"/transitions", nil, nil, &out, "issue "+key); err != nil {
		return nil, err
	}
	ts := make([]Transition, 0, len(out.Transitions))
	for _, t := range out.Transitions {
		ts = append(ts, Transition{ID: t.ID, Name: t.Name, To: t.To.Name, ToCategory: t.To.StatusCategory.Key})
	}
	return ts, nil
}

// Default transition names, tried after the configured ones.
var (
	ResolveFallbacks = []string{"Done", "Resolved", "Closed"}
	ReopenFallbacks  = []string{"Reopen", "Reopened", "To Do", "Open"}
)

// Resolve moves an issue to a done status through the first transition
// named (or leading to a status named) like one of names, then the
// fallbacks, ignoring case. An issue already in a done status is left as
// it is, so a retried resolution is harmless. It returns the transition
// taken ("" when none was needed).
func (c *Client) Resolve(ctx context.Context, key string, names []string) (string, error) {
	return c.move(ctx, "resolve "+key, key, append(append([]string(nil), names...), ResolveFallbacks...), true)
}

// Reopen moves an issue out of a done status, as Resolve does in reverse.
func (c *Client) Reopen(ctx context.Context, key string, names []string) (string, error) {
	return c.move(ctx, "reopen "+key, key, append(append([]string(nil), names...), ReopenFallbacks...), false)
}

func (c *Client) move(ctx context.Context, op, key string, names []string, toDone bool) (string, error) {
	is, err := c.GetIssue(ctx, key)
	if err != nil {
		return "", err
	}
	if (is.StatusCategory == "done") == toDone {
		return "", nil
	}
	ts, err := c.Transitions(ctx, key)
	if err != nil {
		return "", err
	}
	t, ok := pickTransition(ts, names)
	if !ok {
		offered := make([]string, 0, len(ts))
		for _, t := range ts {
			offered = append(offered, fmt.Sprintf("%q", t.Name))
		}
		setting := "jira.resolve_transitions"
		if !toDone {
			setting = "jira.reopen_transitions"
		}
		return "", &Error{Op: op, Kind: ErrNoTransition, Msg: fmt.Sprintf("no transition from %q matches %s %q; the workflow offers %s",
			is.Status, setting, names, strings.Join(offered, ", "))}
	}
	body := map[string]any{"transition": map[string]string{"id": t.ID}}
	if err := c.do(ctx, op, http.MethodPost, c.apiPath()+"/issue/"+url.PathEscape(key)+"/transitions", nil, body, nil, "issue "+key); err != nil {
		return "", err
	}
	return t.Name, nil
}

// pickTransition returns the transition for the first name that any
// transition's name or target status matches.
func pickTransition(ts []Transition, names []string) (Transition, bool) {
	for _, n := range names {
		for _, t := range ts {
			if strings.EqualFold(t.Name, n) || strings.EqualFold(t.To, n) {
				return t, true
			}
		}
	}
	return Transition{}, false
}

// User is the account the client authenticates as.
type User = tracker.User

// Myself returns the authenticated account; it is the startup check that
// the URL and the credentials work.
func (c *Client) Myself(ctx context.Context) (User, error) {
	var out struct {
		AccountID   string `json:"accountId"`
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	}
	if err := c.do(ctx, "check credentials", http.MethodGet, c.apiPath()+"/myself", nil, nil, &out, SettingBaseURL+" (no Jira REST API there)"); err != nil {
		return User{}, err
	}
	return User{AccountID: out.AccountID, Name: out.Name, DisplayName: out.DisplayName}, nil
}

// ProjectExists reports whether a project is visible to the account. A
// project that does not exist and one the account cannot see look the same
// to Jira's API.
func (c *Client) ProjectExists(ctx context.Context, key string) (bool, error) {
	err := c.do(ctx, "read project "+key, http.MethodGet, c.apiPath()+"/project/"+url.PathEscape(key), nil, nil, nil, "project "+key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
