// Package jirafake is an in-process Jira for tests: the REST endpoints the
// bot uses, for Cloud (v3, ADF bodies, basic auth with email and API token)
// and Data Center (v2, wiki bodies, bearer personal access token), with
// projects, issues, comments and a workflow, checked the way Jira checks
// them. Failures can be injected (an outage, rate limits, rejected
// credentials) and every request is logged for assertions.
package jirafake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Flavours, as the client names them.
const (
	Cloud      = "cloud"
	DataCenter = "datacenter"
)

// Status is a workflow status and its category ("new", "indeterminate",
// "done").
type Status struct {
	Name     string
	Category string
}

// Transition is a workflow step from one status to another.
type Transition struct {
	ID   string
	Name string
	To   string
}

// Workflow maps each status to the transitions it offers.
type Workflow struct {
	Initial     string
	Statuses    []Status
	Transitions map[string][]Transition // by from-status name
}

// DefaultWorkflow is Jira's simplified workflow with a Reopen step.
func DefaultWorkflow() Workflow {
	return Workflow{
		Initial: "To Do",
		Statuses: []Status{
			{"To Do", "new"}, {"In Progress", "indeterminate"}, {"Done", "done"},
		},
		Transitions: map[string][]Transition{
			"To Do":       {{"11", "Start Progress", "In Progress"}, {"31", "Done", "Done"}},
			"In Progress": {{"21", "Stop Progress", "To Do"}, {"31", "Done", "Done"}},
			"Done":        {{"41", "Reopen", "To Do"}},
		},
	}
}

// Options configures a Server. Zero values get workable defaults.
type Options struct {
	Flavor string // Cloud (default) or DataCenter
	Email  string // the Cloud account (default "bot@example.com")
	Token  string // API token or personal access token (default "jira-token")
	// Projects are the project keys that exist (default PAY, DATA, SEC).
	Projects   []string
	IssueTypes []string // default Task, Bug, Story
	Priorities []string // default Highest, High, Medium, Low, Lowest
	Workflow   *Workflow
	// Now is the server's clock for outages and creation times (default
	// the wall clock).
	Now func() time.Time
}

// Comment is a comment as stored: Body is the wiki string or the ADF
// document as sent; Text is its plain text.
type Comment struct {
	ID   string
	Body any
	Text string
}

// Issue is an issue as stored.
type Issue struct {
	ID          string
	Key         string
	Project     string
	IssueType   string
	Summary     string
	Description any // as sent: ADF (Cloud) or a wiki string (Data Center)
	Priority    string
	Labels      []string
	Status      string
	Created     time.Time
	Comments    []Comment
	// Transitions are the names of the transitions taken, in order.
	Transitions []string
}

// DescriptionText is the plain text of the description.
func (is Issue) DescriptionText() string { return plain(is.Description) }

// Request is one logged request.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Auth   string // the Authorization header as received
	Status int    // the status answered
}

// Server is a fake Jira site.
type Server struct {
	*httptest.Server
	opts Options

	mu       sync.Mutex
	issues   []*Issue
	byKey    map[string]*Issue
	counters map[string]int
	nextID   int
	log      []Request

	outageUntil time.Time
	outage      bool
	failures    []failure
	afterCreate func(Issue)
}

type failure struct {
	status     int
	retryAfter time.Duration
}

// New starts a fake Jira; call Close when done.
func New(opts Options) *Server {
	if opts.Flavor == "" {
		opts.Flavor = Cloud
	}
	if opts.Email == "" {
		opts.Email = "bot@example.com"
	}
	if opts.Token == "" {
		opts.Token = "jira-token"
	}
	if opts.Projects == nil {
		opts.Projects = []string{"PAY", "DATA", "SEC"}
	}
	if opts.IssueTypes == nil {
		opts.IssueTypes = []string{"Task", "Bug", "Story"}
	}
	if opts.Priorities == nil {
		opts.Priorities = []string{"Highest", "High", "Medium", "Low", "Lowest"}
	}
	if opts.Workflow == nil {
		wf := DefaultWorkflow()
		opts.Workflow = &wf
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, byKey: map[string]*Issue{}, counters: map[string]int{}, nextID: 10000}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Outage makes every request fail with 503 until the server's clock
// reaches until.
func (s *Server) Outage(until time.Time) {
	s.mu.Lock()
	s.outageUntil = until
	s.mu.Unlock()
}

// SetDown turns an open-ended outage (503 for everything) on or off.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.outage = down
	s.mu.Unlock()
}

// FailNext makes the next n requests fail with status; a retryAfter above
// zero is sent as Retry-After (in seconds). 401 with retryAfter 0 is how a
// rejected token looks.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	for range n {
		s.failures = append(s.failures, failure{status, retryAfter})
	}
	s.mu.Unlock()
}

// AfterCreate calls fn with every issue created, after it is stored and
// before the response is sent; a test can stop the client there to
// simulate a crash between the creation and its bookkeeping.
func (s *Server) AfterCreate(fn func(Issue)) {
	s.mu.Lock()
	s.afterCreate = fn
	s.mu.Unlock()
}

// Issues returns a copy of every issue, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.issues))
	for _, is := range s.issues {
		out = append(out, copyIssue(is))
	}
	return out
}

// Issue returns a copy of one issue.
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.byKey[key]
	if !ok {
		return Issue{}, false
	}
	return copyIssue(is), true
}

// SetStatus puts an issue in a status directly, as a person editing it in
// Jira would.
func (s *Server) SetStatus(key, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is, ok := s.byKey[key]; ok {
		is.Status = status
	}
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func copyIssue(is *Issue) Issue {
	c := *is
	c.Labels = slices.Clone(is.Labels)
	c.Comments = slices.Clone(is.Comments)
	c.Transitions = slices.Clone(is.Transitions)
	return c
}

// apiError is Jira's error body.
type apiError struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

type response struct {
	status int
	header http.Header
	body   any
}

func reply(status int, body any) response { return response{status: status, body: body} }

func errorReply(status int, msgs []string, fields map[string]string) response {
	if msgs == nil {
		msgs = []string{}
	}
	if fields == nil {
		fields = map[string]string{}
	}
	return reply(status, apiError{ErrorMessages: msgs, Errors: fields})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	resp := s.handle(r, raw)
	s.log = append(s.log, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(raw),
		Auth: r.Header.Get("Authorization"), Status: resp.status,
	})
	var created *Issue
	if r.Method == http.MethodPost && resp.status == http.StatusCreated && strings.HasSuffix(r.URL.Path, "/issue") {
		if m, ok := resp.body.(map[string]string); ok {
			if is, ok := s.byKey[m["key"]]; ok {
				c := copyIssue(is)
				created = &c
			}
		}
	}
	hook := s.afterCreate
	s.mu.Unlock()
	if created != nil && hook != nil {
		hook(*created)
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

// handle answers one request; s.mu is held.
func (s *Server) handle(r *http.Request, body []byte) response {
	if s.outage || s.opts.Now().Before(s.outageUntil) {
		return errorReply(http.StatusServiceUnavailable, []string{"Service unavailable"}, nil)
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		resp := errorReply(f.status, []string{http.StatusText(f.status)}, nil)
		if f.retryAfter > 0 {
			resp.header = http.Header{"Retry-After": {strconv.Itoa(int(f.retryAfter / time.Second))}}
		}
		return resp
	}
	if !s.authorized(r.Header.Get("Authorization")) {
		return errorReply(http.StatusUnauthorized, []string{"You are not authenticated. Authentication required to perform this operation."}, nil)
	}
	prefix := "/rest/api/3"
	if s.opts.Flavor == DataCenter {
		prefix = "/rest/api/2"
	}
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return errorReply(http.StatusNotFound, []string{"No REST resource at " + r.URL.Path}, nil)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && path == "/myself":
		if s.opts.Flavor == Cloud {
			return reply(http.StatusOK, map[string]any{"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": s.opts.Email, "displayName": "SecOps Bot", "active": true})
		}
		return reply(http.StatusOK, map[string]any{"name": "secops-bot", "key": "JIRAUSER10100", "displayName": "SecOps Bot", "active": true})
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "project":
		if !slices.Contains(s.opts.Projects, parts[1]) {
			return errorReply(http.StatusNotFound, []string{fmt.Sprintf("No project could be found with key '%s'.", parts[1])}, nil)
		}
		return reply(http.StatusOK, map[string]any{"key": parts[1], "name": parts[1]})
	case r.Method == http.MethodPost && path == "/issue":
		return s.create(body)
	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "issue":
		return s.withIssue(parts[1], func(is *Issue) response { return reply(http.StatusOK, s.issueJSON(is)) })
	case len(parts) == 3 && parts[0] == "issue" && parts[2] == "comment":
		return s.withIssue(parts[1], func(is *Issue) response {
			if r.Method == http.MethodGet {
				return s.listComments(is)
			}
			if r.Method == http.MethodPost {
				return s.addComment(is, body)
			}
			return errorReply(http.StatusMethodNotAllowed, []string{"method not allowed"}, nil)
		})
	case len(parts) == 3 && parts[0] == "issue" && parts[2] == "transitions":
		return s.withIssue(parts[1], func(is *Issue) response {
			if r.Method == http.MethodGet {
				return s.listTransitions(is)
			}
			if r.Method == http.MethodPost {
				return s.transition(is, body)
			}
			return errorReply(http.StatusMethodNotAllowed, []string{"method not allowed"}, nil)
		})
	case r.Method == http.MethodPost && ((s.opts.Flavor == Cloud && path == "/search/jql") || (s.opts.Flavor == DataCenter && path == "/search")):
		return s.search(body)
	case r.Method == http.MethodPost && s.opts.Flavor == Cloud && path == "/search":
		// As on Jira Cloud since the old search was retired.
		return errorReply(http.StatusGone, []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}, nil)
	}
	return errorReply(http.StatusNotFound, []string{"No REST resource at " + r.URL.Path}, nil)
}

func (s *Server) authorized(h string) bool {
	if s.opts.Flavor == DataCenter {
		return h == "Bearer "+s.opts.Token
	}
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	return err == nil && string(dec) == s.opts.Email+":"+s.opts.Token
}

func (s *Server) withIssue(key string, fn func(*Issue) response) response {
	is, ok := s.byKey[key]
	if !ok {
		return errorReply(http.StatusNotFound, []string{"Issue does not exist or you do not have permission to see it."}, nil)
	}
	return fn(is)
}

// checkBody checks a description or comment body against the flavour:
// Cloud v3 takes ADF documents only, Data Center v2 strings only.
func (s *Server) checkBody(v any) string {
	if v == nil {
		return ""
	}
	if s.opts.Flavor == DataCenter {
		if _, ok := v.(string); !ok {
			return "Operation value must be a string"
		}
		return ""
	}
	doc, ok := v.(map[string]any)
	if !ok || doc["type"] != "doc" || doc["version"] != float64(1) {
		return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
	}
	return checkADF(doc)
}

// checkADF rejects what Jira Cloud rejects most often: empty text nodes and
// unknown node types.
func checkADF(n map[string]any) string {
	switch n["type"] {
	case "doc", "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "hardBreak", "rule":
	case "text":
		if t, _ := n["text"].(string); t == "" {
			return "ADF text nodes must not be empty"
		}
	default:
		return fmt.Sprintf("ADF node type %v is not supported", n["type"])
	}
	kids, _ := n["content"].([]any)
	for _, k := range kids {
		m, ok := k.(map[string]any)
		if !ok {
			return "ADF content must be nodes"
		}
		if msg := checkADF(m); msg != "" {
			return msg
		}
	}
	return ""
}

func (s *Server) create(body []byte) response {
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Fields == nil {
		return errorReply(http.StatusBadRequest, []string{"Can not deserialize the request body"}, nil)
	}
	named := func(field, prop string) string {
		var v map[string]string
		_ = json.Unmarshal(req.Fields[field], &v)
		return v[prop]
	}
	errs := map[string]string{}
	project := named("project", "key")
	if !slices.Contains(s.opts.Projects, project) {
		errs["project"] = "valid project is required"
	}
	issueType := named("issuetype", "name")
	if !slices.Contains(s.opts.IssueTypes, issueType) {
		errs["issuetype"] = "Specify a valid issue type"
	}
	var summary string
	_ = json.Unmarshal(req.Fields["summary"], &summary)
	switch {
	case strings.TrimSpace(summary) == "":
		errs["summary"] = "You must specify a summary of the issue."
	case len([]rune(summary)) > 255 || strings.ContainsAny(summary, "\r\n"):
		errs["summary"] = "The summary must be less than 255 characters and on one line."
	}
	priority := ""
	if _, ok := req.Fields["priority"]; ok {
		priority = named("priority", "name")
		if !slices.Contains(s.opts.Priorities, priority) {
			errs["priority"] = fmt.Sprintf("Specify a valid priority (%q is not one)", priority)
		}
	}
	var labels []string
	_ = json.Unmarshal(req.Fields["labels"], &labels)
	for _, l := range labels {
		if strings.ContainsAny(l, " \t") || len(l) > 255 {
			errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
		}
	}
	var desc any
	_ = json.Unmarshal(req.Fields["description"], &desc)
	if msg := s.checkBody(desc); msg != "" {
		errs["description"] = msg
	}
	if len(errs) > 0 {
		return errorReply(http.StatusBadRequest, nil, errs)
	}
	s.counters[project]++
	s.nextID++
	is := &Issue{
		ID: strconv.Itoa(s.nextID), Key: fmt.Sprintf("%s-%d", project, s.counters[project]), Project: project,
		IssueType: issueType, Summary: summary, Description: desc, Priority: priority, Labels: labels,
		Status: s.opts.Workflow.Initial, Created: s.opts.Now(),
	}
	s.issues = append(s.issues, is)
	s.byKey[is.Key] = is
	return reply(http.StatusCreated, map[string]string{"id": is.ID, "key": is.Key, "self": s.URL + "/rest/api/x/issue/" + is.ID})
}

func (s *Server) category(status string) string {
	for _, st := range s.opts.Workflow.Statuses {
		if st.Name == status {
			return st.Category
		}
	}
	return "indeterminate"
}

func (s *Server) statusJSON(name string) map[string]any {
	return map[string]any{"name": name, "statusCategory": map[string]any{"key": s.category(name)}}
}

func (s *Server) issueJSON(is *Issue) map[string]any {
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	return map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{
		"summary": is.Summary, "labels": labels, "project": map[string]string{"key": is.Project},
		"status": s.statusJSON(is.Status), "issuetype": map[string]string{"name": is.IssueType},
		"priority": map[string]string{"name": is.Priority}, "description": is.Description,
	}}
}

func (s *Server) addComment(is *Issue, body []byte) response {
	var req struct {
		Body any `json:"body"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Body == nil {
		return errorReply(http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
	}
	if msg := s.checkBody(req.Body); msg != "" {
		return errorReply(http.StatusBadRequest, nil, map[string]string{"comment": msg})
	}
	s.nextID++
	c := Comment{ID: strconv.Itoa(s.nextID), Body: req.Body, Text: plain(req.Body)}
	is.Comments = append(is.Comments, c)
	return reply(http.StatusCreated, map[string]any{"id": c.ID, "body": c.Body})
}

func (s *Server) listComments(is *Issue) response {
	cs := []any{}
	for _, c := range is.Comments {
		cs = append(cs, map[string]any{"id": c.ID, "body": c.Body})
	}
	return reply(http.StatusOK, map[string]any{"startAt": 0, "maxResults": 100, "total": len(cs), "comments": cs})
}

func (s *Server) listTransitions(is *Issue) response {
	ts := []any{}
	for _, t := range s.opts.Workflow.Transitions[is.Status] {
		ts = append(ts, map[string]any{"id": t.ID, "name": t.Name, "to": s.statusJSON(t.To)})
	}
	return reply(http.StatusOK, map[string]any{"transitions": ts})
}

func (s *Server) transition(is *Issue, body []byte) response {
	var req struct {
		Transition struct {
			ID string `json:"id"`
		} `json:"transition"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Transition.ID == "" {
		return errorReply(http.StatusBadRequest, []string{"Missing transition id"}, nil)
	}
	for _, t := range s.opts.Workflow.Transitions[is.Status] {
		if t.ID == req.Transition.ID {
			is.Status = t.To
			is.Transitions = append(is.Transitions, t.Name)
			return reply(http.StatusNoContent, nil)
		}
	}
	return errorReply(http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", req.Transition.ID)}, nil)
}

// jqlClause is one "field = value" condition; the fake understands only
// equality on labels, project and key joined by AND, and an ORDER BY
// that it ignores (issues come back in creation order).
var jqlClause = regexp.MustCompile(`^\s*(labels|project|key)\s*=\s*(?:"([^"]*)"|([A-Za-z0-9_.-]+))\s*$`)

func (s *Server) search(body []byte) response {
	var req struct {
		JQL        string `json:"jql"`
		MaxResults int    `json:"maxResults"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, []string{"Can not deserialize the request body"}, nil)
	}
	jql := req.JQL
	if i := strings.Index(strings.ToUpper(jql), " ORDER BY "); i >= 0 {
		jql = jql[:i]
	}
	type cond struct{ field, value string }
	var conds []cond
	for _, part := range regexp.MustCompile(`(?i)\s+AND\s+`).Split(jql, -1) {
		m := jqlClause.FindStringSubmatch(part)
		if m == nil {
			return errorReply(http.StatusBadRequest, []string{fmt.Sprintf("Error in the JQL Query: unsupported clause %q.", strings.TrimSpace(part))}, nil)
		}
		conds = append(conds, cond{m[1], m[2] + m[3]})
	}
	issues := []any{}
	for _, is := range s.issues {
		ok := true
		for _, c := range conds {
			switch c.field {
			case "labels":
				ok = ok && slices.Contains(is.Labels, c.value)
			case "project":
				ok = ok && is.Project == c.value
			case "key":
				ok = ok && is.Key == c.value
			}
		}
		if ok && (req.MaxResults <= 0 || len(issues) < req.MaxResults) {
			issues = append(issues, s.issueJSON(is))
		}
	}
	if s.opts.Flavor == Cloud {
		return reply(http.StatusOK, map[string]any{"issues": issues, "isLast": true})
	}
	return reply(http.StatusOK, map[string]any{"startAt": 0, "maxResults": req.MaxResults, "total": len(issues), "issues": issues})
}

// plain flattens a body to text: an ADF document to one line per block, a
// wiki string to itself without its escapes (markup stays).
func plain(v any) string {
	switch b := v.(type) {
	case string:
		// Wiki escapes stand for the character itself.
		var sb strings.Builder
		for i := 0; i < len(b); i++ {
			if b[i] == '\\' && i+1 < len(b) {
				i++
			}
			sb.WriteByte(b[i])
		}
		return sb.String()
	case map[string]any:
		var sb strings.Builder
		var walk func(n map[string]any)
		walk = func(n map[string]any) {
			if t, ok := n["text"].(string); ok {
				sb.WriteString(t)
			}
			kids, _ := n["content"].([]any)
			for _, k := range kids {
				if m, ok := k.(map[string]any); ok {
					walk(m)
				}
			}
			switch n["type"] {
			case "paragraph", "heading", "codeBlock":
				sb.WriteByte('\n')
			}
		}
		walk(b)
		return strings.TrimRight(sb.String(), "\n")
	}
	return ""
}
