// Package opsgeniefake is an in-process Opsgenie for tests: the Alert API
// calls the bot makes (create with an alias, acknowledge and close by
// alias, get by alias) and "who is on call" for a schedule, in Opsgenie's
// wire format ({"data": …, "took": …, "requestId": …}, 202 for alert
// actions, GenieKey authorisation).
//
// Alerts are deduplicated by alias as Opsgenie does: creating an alert
// whose alias belongs to an open alert counts another occurrence of it,
// and a closed alert's alias starts a new one. Opsgenie carries out alert
// actions asynchronously and answers 202 even for an alias that matches
// nothing; the fake carries them out before answering, and drops the ones
// that match nothing, as Opsgenie would later. A test plays the
// responder with AcknowledgeAlert and CloseAlert, sets who is on call,
// injects 429s and 5xx, and reads every request received.
package opsgeniefake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Schedule is an on-call schedule and who is on call on it now, by
// username (an e-mail address, as in Opsgenie).
type Schedule struct {
	ID     string
	Name   string
	OnCall []string
}

// Options configures a Server. Zero values get workable defaults.
type Options struct {
	// APIKey is the API integration's key (default
	// "11111111-2222-3333-4444-555555555555").
	APIKey string
	// Integration is the integration's name, shown as the actor of
	// actions sent without a user (default "SecOps bot API").
	Integration string
	Schedules   []Schedule
	// Teams are the team names alerts may be assigned to; a responder
	// naming another is refused.
	Teams []string
	// Now is the server's clock (default the wall clock).
	Now func() time.Time
}

// Responder is a responder of an alert as sent.
type Responder struct {
	Type string
	Name string
	ID   string
}

// Alert is an alert as stored.
type Alert struct {
	ID          string
	TinyID      string
	Alias       string
	Message     string
	Description string
	Priority    string
	Source      string
	Entity      string
	Tags        []string
	Details     map[string]string
	Responders  []Responder
	Status      string // open, closed
	Count       int
	CreatedAt   time.Time

	Acknowledged   bool
	AcknowledgedBy string
	AcknowledgedAt time.Time
	ClosedBy       string
	ClosedAt       time.Time
}

// Request is one logged request.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Auth   string // the Authorization header as received
	Status int    // the status answered
}

// Server is a fake Opsgenie.
type Server struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	schedules []Schedule
	alerts    []*Alert
	log       []Request
	failures  []failure
	next      int
}

type failure struct {
	status     int
	retryAfter string
}

// New starts a fake Opsgenie; call Close when done.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = "11111111-2222-3333-4444-555555555555"
	}
	if opts.Integration == "" {
		opts.Integration = "SecOps bot API"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, schedules: slices.Clone(opts.Schedules)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next n requests fail with status. A 429 carries
// Opsgenie's rate-limit headers (X-RateLimit-State: THROTTLED, a period
// of 60 seconds); a non-empty retryAfter is also sent as Retry-After.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, retryAfter})
	}
}

// SetOnCall puts users (usernames) on call on a schedule.
func (s *Server) SetOnCall(schedule string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.schedules {
		if s.schedules[i].Name == schedule || s.schedules[i].ID == schedule {
			s.schedules[i].OnCall = users
		}
	}
}

// AcknowledgeAlert acknowledges the open alert with the alias as the user
// would in Opsgenie, and reports whether there was one.
func (s *Server) AcknowledgeAlert(alias, user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.open(alias)
	if a == nil {
		return false
	}
	s.acknowledge(a, user)
	return true
}

// CloseAlert closes the open alert with the alias as the user would in
// Opsgenie, and reports whether there was one.
func (s *Server) CloseAlert(alias, user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.open(alias)
	if a == nil {
		return false
	}
	s.close(a, user)
	return true
}

// Alerts returns a copy of every alert, in creation order.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Alert, 0, len(s.alerts))
	for _, a := range s.alerts {
		c := *a
		c.Tags = slices.Clone(a.Tags)
		c.Responders = slices.Clone(a.Responders)
		out = append(out, c)
	}
	return out
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	resp := s.handle(r, raw)
	s.next++
	resp.body["took"] = 0.004
	resp.body["requestId"] = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.next)
	s.log = append(s.log, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(raw),
		Auth: r.Header.Get("Authorization"), Status: resp.status,
	})
	s.mu.Unlock()
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", resp.body["requestId"].(string))
	w.Header().Set("X-Response-Time", "0.004")
	if w.Header().Get("X-RateLimit-State") == "" {
		w.Header().Set("X-RateLimit-State", "OK")
	}
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

func fail(status int, msg string) response {
	return response{status: status, body: map[string]any{"message": msg}}
}

func accepted() response {
	return response{status: http.StatusAccepted, body: map[string]any{"result": "Request will be processed"}}
}

// handle answers one request; s.mu is held.
func (s *Server) handle(r *http.Request, body []byte) response {
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.status == http.StatusTooManyRequests {
			resp := fail(f.status, "You are making too many requests! To avoid errors, we recommend you limit requests.")
			resp.header = http.Header{"X-Ratelimit-State": {"THROTTLED"}, "X-Ratelimit-Reason": {"INTEGRATION"}, "X-Ratelimit-Period-In-Sec": {"60"}}
			if f.retryAfter != "" {
				resp.header["Retry-After"] = []string{f.retryAfter}
			}
			return resp
		}
		return fail(f.status, http.StatusText(f.status))
	}
	if r.Header.Get("Authorization") != "GenieKey "+s.opts.APIKey {
		return fail(http.StatusUnauthorized, "Could not authenticate")
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/alerts":
		return s.create(body)
	case len(parts) == 4 && parts[0] == "v2" && parts[1] == "alerts" && r.Method == http.MethodPost && (parts[3] == "acknowledge" || parts[3] == "close"):
		return s.action(parts[2], q.Get("identifierType"), parts[3], body)
	case len(parts) == 3 && parts[0] == "v2" && parts[1] == "alerts" && r.Method == http.MethodGet:
		a := s.find(parts[2], q.Get("identifierType"))
		if a == nil {
			return fail(http.StatusNotFound, "Alert does not exist")
		}
		return response{status: http.StatusOK, body: map[string]any{"data": alertJSON(a)}}
	case len(parts) == 4 && parts[0] == "v2" && parts[1] == "schedules" && parts[3] == "on-calls" && r.Method == http.MethodGet:
		return s.onCalls(parts[2], q)
	}
	return fail(http.StatusNotFound, "No API found for the request")
}

var priorities = []string{"P1", "P2", "P3", "P4", "P5"}

func (s *Server) create(body []byte) response {
	var in struct {
		Message     string            `json:"message"`
		Alias       string            `json:"alias"`
		Description string            `json:"description"`
		Responders  []Responder       `json:"responders"`
		Tags        []string          `json:"tags"`
		Details     map[string]string `json:"details"`
		Entity      string            `json:"entity"`
		Source      string            `json:"source"`
		Priority    string            `json:"priority"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(http.StatusBadRequest, "Could not parse request body")
	}
	problems := map[string]string{}
	switch {
	case in.Message == "":
		problems["message"] = "Message can not be empty."
	case len([]rune(in.Message)) > 130:
		problems["message"] = "Message can not be longer than 130 characters."
	}
	if len(in.Alias) > 512 {
		problems["alias"] = "Alias can not be longer than 512 characters."
	}
	if len(in.Description) > 15000 {
		problems["description"] = "Description can not be longer than 15000 characters."
	}
	if in.Priority != "" && !slices.Contains(priorities, in.Priority) {
		problems["priority"] = "Priority should be one of these: 'P1', 'P2', 'P3', 'P4', 'P5'"
	}
	for _, r := range in.Responders {
		if r.Type == "team" && !slices.Contains(s.opts.Teams, r.Name) {
			problems["responders"] = fmt.Sprintf("Team [%s] does not exist.", r.Name)
		}
	}
	if len(problems) > 0 {
		resp := fail(http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.")
		resp.body["errors"] = problems
		return resp
	}
	if in.Priority == "" {
		in.Priority = "P3"
	}
	if a := s.open(in.Alias); in.Alias != "" && a != nil {
		a.Count++
		return accepted()
	}
	n := len(s.alerts) + 1
	a := &Alert{
		ID: fmt.Sprintf("70413a06-38d6-4c85-92b8-5ebc900d%04d", n), TinyID: fmt.Sprint(n), Alias: in.Alias,
		Message: in.Message, Description: in.Description, Priority: in.Priority, Source: in.Source, Entity: in.Entity,
		Tags: in.Tags, Details: in.Details, Responders: in.Responders, Status: "open", Count: 1, CreatedAt: s.opts.Now().UTC(),
	}
	if a.Alias == "" {
		a.Alias = a.ID
	}
	s.alerts = append(s.alerts, a)
	return accepted()
}

func (s *Server) action(id, idType, action string, body []byte) response {
	var in struct {
		User string `json:"user"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return fail(http.StatusBadRequest, "Could not parse request body")
		}
	}
	by := in.User
	if by == "" {
		by = s.opts.Integration
	}
	a := s.find(id, idType)
	if a == nil || a.Status != "open" {
		// Accepted, and failed later when processed, as on Opsgenie.
		return accepted()
	}
	if action == "acknowledge" {
		s.acknowledge(a, by)
	} else {
		s.close(a, by)
	}
	return accepted()
}

// find returns the alert an identifier names: by alias, the open alert
// with it, else the newest.
func (s *Server) find(id, idType string) *Alert {
	switch idType {
	case "alias":
		if a := s.open(id); a != nil {
			return a
		}
		for _, a := range slices.Backward(s.alerts) {
			if a.Alias == id {
				return a
			}
		}
	case "tiny":
		for _, a := range s.alerts {
			if a.TinyID == id {
				return a
			}
		}
	default:
		for _, a := range s.alerts {
			if a.ID == id {
				return a
			}
		}
	}
	return nil
}

func (s *Server) open(alias string) *Alert {
	for _, a := range s.alerts {
		if a.Alias == alias && a.Status == "open" {
			return a
		}
	}
	return nil
}

func (s *Server) acknowledge(a *Alert, by string) {
	a.Acknowledged, a.AcknowledgedBy, a.AcknowledgedAt = true, by, s.opts.Now().UTC()
}

func (s *Server) close(a *Alert, by string) {
	a.Status, a.ClosedBy, a.ClosedAt = "closed", by, s.opts.Now().UTC()
}

// alertJSON is an alert as the Get Alert API returns it; the report's
// times are milliseconds since the alert was created.
func alertJSON(a *Alert) map[string]any {
	report := map[string]any{}
	if a.Acknowledged {
		report["ackTime"] = a.AcknowledgedAt.Sub(a.CreatedAt).Milliseconds()
		report["acknowledgedBy"] = a.AcknowledgedBy
	}
	if a.Status == "closed" {
		report["closeTime"] = a.ClosedAt.Sub(a.CreatedAt).Milliseconds()
		report["closedBy"] = a.ClosedBy
	}
	responders := []any{}
	for _, r := range a.Responders {
		responders = append(responders, map[string]any{"type": r.Type, "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "name": r.Name})
	}
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	details := a.Details
	if details == nil {
		details = map[string]string{}
	}
	return map[string]any{
		"id": a.ID, "tinyId": a.TinyID, "alias": a.Alias, "message": a.Message, "status": a.Status,
		"acknowledged": a.Acknowledged, "isSeen": a.Acknowledged, "tags": tags, "snoozed": false,
		"count": a.Count, "lastOccurredAt": a.CreatedAt.Format(time.RFC3339Nano),
		"createdAt": a.CreatedAt.Format(time.RFC3339Nano), "updatedAt": a.CreatedAt.Format(time.RFC3339Nano),
		"source": a.Source, "owner": "", "priority": a.Priority, "responders": responders,
		"integration": map[string]any{"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "name": "SecOps bot API", "type": "API"},
		"report":      report, "actions": []string{}, "entity": a.Entity, "description": a.Description, "details": details,
	}
}

// onCalls answers "who is on call" for a schedule named by name or ID.
func (s *Server) onCalls(id string, q map[string][]string) response {
	byName := len(q["scheduleIdentifierType"]) > 0 && q["scheduleIdentifierType"][0] == "name"
	if d := q["date"]; len(d) > 0 {
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", d[0]); err != nil {
			return fail(http.StatusUnprocessableEntity, "Date must be in ISO 8601 format")
		}
	}
	for _, sc := range s.schedules {
		if (byName && sc.Name != id) || (!byName && sc.ID != id) {
			continue
		}
		data := map[string]any{"_parent": map[string]any{"id": sc.ID, "name": sc.Name, "enabled": true}}
		if len(q["flat"]) > 0 && q["flat"][0] == "true" {
			data["onCallRecipients"] = append([]string{}, sc.OnCall...)
		} else {
			participants := []any{}
			for _, u := range sc.OnCall {
				participants = append(participants, map[string]any{"id": "b3d0b1f2-" + u, "name": u, "type": "user"})
			}
			data["onCallParticipants"] = participants
		}
		return response{status: http.StatusOK, body: map[string]any{"data": data}}
	}
	return fail(http.StatusNotFound, fmt.Sprintf("No schedule exists with identifier [%s]", id))
}
