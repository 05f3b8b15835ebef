// Package pagerdutyfake is an in-process PagerDuty for tests: the Events
// API v2 (POST /v2/enqueue) and the REST endpoints the bot reads (oncalls,
// incidents by incident_key, users, schedules, escalation policies), in
// PagerDuty's wire format and checked the way PagerDuty checks them.
//
// Events are deduplicated per service by dedup key as PagerDuty does: a
// trigger for an open incident adds to it, acknowledge and resolve change
// it, and an acknowledge or resolve for an unknown key is accepted and
// dropped. A test plays the responder with Acknowledge and Resolve ("Anna
// acknowledged it in PagerDuty"), sets who is on call, injects 429s (with
// Retry-After) and 5xx, and reads every request received.
//
// Both surfaces are served from one address: point the client's events
// endpoint and REST base URL at URL.
package pagerdutyfake

import (
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

// Service is a PagerDuty service with an Events API v2 integration.
type Service struct {
	ID         string
	Name       string
	RoutingKey string // 32 characters, letters and digits
}

// User is a PagerDuty user.
type User struct {
	ID    string
	Name  string
	Email string
}

// Schedule is an on-call schedule and who is on call on it now.
type Schedule struct {
	ID     string
	Name   string
	OnCall []string // user IDs
}

// Level is one escalation rule: users paged directly and schedules whose
// on-call users are.
type Level struct {
	Users     []string
	Schedules []string
}

// EscalationPolicy is an escalation policy; level 1 is Levels[0].
type EscalationPolicy struct {
	ID     string
	Name   string
	Levels []Level
}

// Options configures a Server. Zero values get workable defaults.
type Options struct {
	// Token is the REST API token (default "pd-api-token").
	Token    string
	Services []Service
	Users    []User
	// Schedules are only reported by /oncalls when an escalation policy
	// uses them, as on PagerDuty.
	Schedules          []Schedule
	EscalationPolicies []EscalationPolicy
	// Now is the server's clock (default the wall clock).
	Now func() time.Time
}

// Event is an Events API v2 event as received.
type Event struct {
	RoutingKey string
	Action     string
	DedupKey   string
	Summary    string
	Source     string
	Severity   string
	Client     string
	ClientURL  string
	Links      []map[string]string
	Details    map[string]any
}

// Acknowledgement is one acknowledgement of an incident: by a user (ByUser)
// or through the Events API (by the service).
type Acknowledgement struct {
	At     time.Time
	ByUser string // a user ID; empty when acknowledged by an event
}

// Incident is an incident as stored.
type Incident struct {
	ID        string
	Number    int
	Service   string // service ID
	DedupKey  string
	Title     string
	Severity  string
	Status    string // triggered, acknowledged, resolved
	CreatedAt time.Time
	// Alerts counts the triggers folded into the incident.
	Alerts           int
	Acknowledgements []Acknowledgement
	// ChangedBy is the user who made the last status change, empty when
	// it was an event (the service).
	ChangedBy  string
	ChangedAt  time.Time
	ResolvedAt time.Time
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

// Server is a fake PagerDuty.
type Server struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	services  []Service
	users     map[string]User
	schedules map[string]Schedule
	policies  []EscalationPolicy
	incidents []*Incident
	events    []Event
	log       []Request
	failures  []failure
	nextNum   int
}

type failure struct {
	status     int
	retryAfter string
}

// New starts a fake PagerDuty; call Close when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = "pd-api-token"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, users: map[string]User{}, schedules: map[string]Schedule{}}
	s.services = slices.Clone(opts.Services)
	for _, u := range opts.Users {
		s.users[u.ID] = u
	}
	for _, sc := range opts.Schedules {
		s.schedules[sc.ID] = sc
	}
	s.policies = slices.Clone(opts.EscalationPolicies)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// FailNext makes the next n requests fail with status. A non-empty
// retryAfter is sent as the Retry-After header, as given (seconds or an
// HTTP date).
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status, retryAfter})
	}
}

// SetOnCall puts users on call on a schedule.
func (s *Server) SetOnCall(scheduleID string, userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.schedules[scheduleID]
	sc.ID = scheduleID
	sc.OnCall = userIDs
	s.schedules[scheduleID] = sc
}

// Acknowledge acknowledges the open incident with the dedup key as user
// would in PagerDuty. It reports whether there was one.
func (s *Server) Acknowledge(dedupKey, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.open(dedupKey, "")
	if in == nil {
		return false
	}
	s.acknowledge(in, userID)
	return true
}

// Resolve resolves the open incident with the dedup key as user would in
// PagerDuty. It reports whether there was one.
func (s *Server) Resolve(dedupKey, userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.open(dedupKey, "")
	if in == nil {
		return false
	}
	s.resolve(in, userID)
	return true
}

// Incidents returns a copy of every incident, in creation order.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, 0, len(s.incidents))
	for _, in := range s.incidents {
		c := *in
		c.Acknowledgements = slices.Clone(in.Acknowledgements)
		out = append(out, c)
	}
	return out
}

// Events returns the events received and accepted, in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
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
	body   any
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	resp := s.handle(r, raw)
	s.log = append(s.log, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(raw),
		Auth: r.Header.Get("Authorization"), Status: resp.status,
	})
	s.mu.Unlock()
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

// handle answers one request; s.mu is held.
func (s *Server) handle(r *http.Request, body []byte) response {
	events := r.URL.Path == "/v2/enqueue"
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		resp := s.failure(events, f.status)
		if f.retryAfter != "" {
			resp.header = http.Header{"Retry-After": {f.retryAfter}}
		}
		return resp
	}
	if events {
		if r.Method != http.MethodPost {
			return eventError(http.StatusMethodNotAllowed, "Method not allowed")
		}
		return s.enqueue(body)
	}
	q := r.URL.Query()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	known := r.URL.Path == "/oncalls" || r.URL.Path == "/incidents" ||
		(len(parts) == 2 && slices.Contains([]string{"users", "schedules", "escalation_policies"}, parts[0]))
	if !known || r.Method != http.MethodGet {
		return restError(http.StatusNotFound, 2100, "Not Found")
	}
	if r.Header.Get("Authorization") != "Token token="+s.opts.Token {
		return restError(http.StatusUnauthorized, 2006, "Authentication failed")
	}
	switch {
	case r.URL.Path == "/oncalls":
		return s.oncalls(q)
	case r.URL.Path == "/incidents":
		return s.listIncidents(q)
	case len(parts) == 2 && parts[0] == "users":
		u, ok := s.users[parts[1]]
		if !ok {
			return restError(http.StatusNotFound, 2100, "Not Found")
		}
		return response{status: http.StatusOK, body: map[string]any{"user": s.userJSON(u)}}
	case len(parts) == 2 && parts[0] == "schedules":
		sc, ok := s.schedules[parts[1]]
		if !ok {
			return restError(http.StatusNotFound, 2100, "Not Found")
		}
		return response{status: http.StatusOK, body: map[string]any{"schedule": s.ref("schedule", sc.ID, sc.Name, false)}}
	case len(parts) == 2 && parts[0] == "escalation_policies":
		for _, ep := range s.policies {
			if ep.ID == parts[1] {
				return response{status: http.StatusOK, body: map[string]any{"escalation_policy": s.ref("escalation_policy", ep.ID, ep.Name, false)}}
			}
		}
		return restError(http.StatusNotFound, 2100, "Not Found")
	}
	return restError(http.StatusNotFound, 2100, "Not Found")
}

// failure is an injected failure in the shape of its surface.
func (s *Server) failure(events bool, status int) response {
	if events {
		if status == http.StatusTooManyRequests {
			return response{status: status, body: map[string]any{
				"status": "throttle exceeded", "message": "Requests for this service are arriving too quickly.  Please retry later.",
				"errors": []string{"Enhance Your Calm."},
			}}
		}
		return eventError(status, http.StatusText(status))
	}
	code := map[int]int{http.StatusTooManyRequests: 2020, http.StatusUnauthorized: 2006, http.StatusForbidden: 2010, http.StatusNotFound: 2100}[status]
	return restError(status, code, http.StatusText(status))
}

func eventError(status int, msg string, errs ...string) response {
	if errs == nil {
		errs = []string{}
	}
	return response{status: status, body: map[string]any{"status": "invalid event", "message": msg, "errors": errs}}
}

func restError(status, code int, msg string, errs ...string) response {
	e := map[string]any{"message": msg, "code": code}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	return response{status: status, body: map[string]any{"error": e}}
}

var routingKeyRe = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

var severities = []string{"critical", "error", "warning", "info"}

// enqueue takes an Events API v2 event.
func (s *Server) enqueue(body []byte) response {
	var ev struct {
		RoutingKey  string              `json:"routing_key"`
		EventAction string              `json:"event_action"`
		DedupKey    string              `json:"dedup_key"`
		Client      string              `json:"client"`
		ClientURL   string              `json:"client_url"`
		Links       []map[string]string `json:"links"`
		Payload     *struct {
			Summary  string         `json:"summary"`
			Source   string         `json:"source"`
			Severity string         `json:"severity"`
			Details  map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return eventError(http.StatusBadRequest, "Event object is invalid", "Malformed JSON: "+err.Error())
	}
	var problems []string
	if !routingKeyRe.MatchString(ev.RoutingKey) {
		if len(ev.RoutingKey) != 32 {
			problems = append(problems, "Length of 'routing_key' is incorrect (should be 32 characters)")
		}
		if strings.IndexFunc(ev.RoutingKey, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
		}) >= 0 {
			problems = append(problems, "'routing_key' cannot contain non-alphanumeric characters.")
		}
	}
	switch ev.EventAction {
	case "trigger":
		switch {
		case ev.Payload == nil:
			problems = append(problems, "'payload' is missing or blank")
		default:
			if ev.Payload.Summary == "" {
				problems = append(problems, "'payload.summary' is missing or blank")
			} else if len(ev.Payload.Summary) > 1024 {
				problems = append(problems, "'payload.summary' is too long (maximum is 1024 characters)")
			}
			if ev.Payload.Source == "" {
				problems = append(problems, "'payload.source' is missing or blank")
			}
			if !slices.Contains(severities, ev.Payload.Severity) {
				problems = append(problems, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
			}
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			problems = append(problems, "'dedup_key' is missing or blank")
		}
	default:
		problems = append(problems, "'event_action' is missing or blank")
	}
	if len(problems) > 0 {
		return eventError(http.StatusBadRequest, "Event object is invalid", problems...)
	}
	var svc *Service
	for i := range s.services {
		if s.services[i].RoutingKey == ev.RoutingKey {
			svc = &s.services[i]
		}
	}
	if svc == nil {
		return eventError(http.StatusBadRequest, "Invalid routing key")
	}
	got := Event{RoutingKey: ev.RoutingKey, Action: ev.EventAction, DedupKey: ev.DedupKey, Client: ev.Client, ClientURL: ev.ClientURL, Links: ev.Links}
	if ev.Payload != nil {
		got.Summary, got.Source, got.Severity, got.Details = ev.Payload.Summary, ev.Payload.Source, ev.Payload.Severity, ev.Payload.Details
	}
	if got.DedupKey == "" {
		got.DedupKey = fmt.Sprintf("%032x", len(s.events)+1)
	}
	s.events = append(s.events, got)
	in := s.open(got.DedupKey, svc.ID)
	switch got.Action {
	case "trigger":
		if in != nil {
			in.Alerts++
			break
		}
		s.nextNum++
		now := s.opts.Now().UTC()
		s.incidents = append(s.incidents, &Incident{
			ID: fmt.Sprintf("Q%06d", s.nextNum), Number: s.nextNum, Service: svc.ID, DedupKey: got.DedupKey,
			Title: got.Summary, Severity: got.Severity, Status: "triggered", CreatedAt: now, Alerts: 1, ChangedAt: now,
		})
	case "acknowledge":
		if in != nil && in.Status == "triggered" {
			s.acknowledge(in, "")
		}
	case "resolve":
		if in != nil {
			s.resolve(in, "")
		}
	}
	return response{status: http.StatusAccepted, body: map[string]any{"status": "success", "message": "Event processed", "dedup_key": got.DedupKey}}
}

// open returns the open incident with the dedup key, on the service when
// one is given.
func (s *Server) open(dedupKey, serviceID string) *Incident {
	for _, in := range slices.Backward(s.incidents) {
		if in.DedupKey == dedupKey && in.Status != "resolved" && (serviceID == "" || in.Service == serviceID) {
			return in
		}
	}
	return nil
}

func (s *Server) acknowledge(in *Incident, userID string) {
	now := s.opts.Now().UTC()
	in.Status = "acknowledged"
	in.Acknowledgements = append(in.Acknowledgements, Acknowledgement{At: now, ByUser: userID})
	in.ChangedBy, in.ChangedAt = userID, now
}

func (s *Server) resolve(in *Incident, userID string) {
	now := s.opts.Now().UTC()
	in.Status = "resolved"
	in.ChangedBy, in.ChangedAt, in.ResolvedAt = userID, now, now
}

// ref is a reference object ("schedule_reference"), or the full object
// when full is set and the type has more to say.
func (s *Server) ref(typ, id, summary string, full bool) map[string]any {
	plural := typ + "s"
	if typ == "escalation_policy" {
		plural = "escalation_policies"
	}
	m := map[string]any{
		"id": id, "summary": summary,
		"self":     s.URL + "/" + plural + "/" + id,
		"html_url": "https://example.pagerduty.com/" + plural + "/" + id,
	}
	if full {
		m["type"] = typ
		m["name"] = summary
	} else {
		m["type"] = typ + "_reference"
	}
	return m
}

func (s *Server) userJSON(u User) map[string]any {
	m := s.ref("user", u.ID, u.Name, true)
	m["email"] = u.Email
	m["time_zone"] = "Europe/Berlin"
	m["role"] = "user"
	return m
}

func (s *Server) userRef(id string, full bool) map[string]any {
	u := s.users[id]
	if full {
		return s.userJSON(User{ID: id, Name: u.Name, Email: u.Email})
	}
	return s.ref("user", id, u.Name, false)
}

func (s *Server) serviceRef(id string) map[string]any {
	for _, svc := range s.services {
		if svc.ID == id {
			return s.ref("service", id, svc.Name, false)
		}
	}
	return s.ref("service", id, id, false)
}

// oncalls answers GET /oncalls: one entry per escalation policy, level and
// user on call, filtered by schedule_ids[] and escalation_policy_ids[].
// include[]=users expands the users into full objects with their e-mail.
func (s *Server) oncalls(q map[string][]string) response {
	if _, err := queryTime(q, "since"); err != nil {
		return restError(http.StatusBadRequest, 2001, "Invalid Input Provided", "Since is not a valid time")
	}
	if _, err := queryTime(q, "until"); err != nil {
		return restError(http.StatusBadRequest, 2001, "Invalid Input Provided", "Until is not a valid time")
	}
	scheduleIDs, policyIDs := q["schedule_ids[]"], q["escalation_policy_ids[]"]
	fullUsers := slices.Contains(q["include[]"], "users")
	oncalls := []any{}
	for _, ep := range s.policies {
		if len(policyIDs) > 0 && !slices.Contains(policyIDs, ep.ID) {
			continue
		}
		for i, lvl := range ep.Levels {
			add := func(userID, scheduleID string) {
				if len(scheduleIDs) > 0 && !slices.Contains(scheduleIDs, scheduleID) {
					return
				}
				var sched any
				if scheduleID != "" {
					sched = s.ref("schedule", scheduleID, s.schedules[scheduleID].Name, false)
				}
				oncalls = append(oncalls, map[string]any{
					"escalation_policy": s.ref("escalation_policy", ep.ID, ep.Name, false),
					"escalation_level":  i + 1,
					"schedule":          sched,
					"user":              s.userRef(userID, fullUsers),
					"start":             nil,
					"end":               nil,
				})
			}
			for _, u := range lvl.Users {
				add(u, "")
			}
			for _, scID := range lvl.Schedules {
				for _, u := range s.schedules[scID].OnCall {
					add(u, scID)
				}
			}
		}
	}
	limit, offset := paging(q)
	page, more := window(oncalls, limit, offset)
	return response{status: http.StatusOK, body: map[string]any{"oncalls": page, "limit": limit, "offset": offset, "more": more, "total": nil}}
}

// listIncidents answers GET /incidents, filtered by incident_key and
// statuses[], newest first when sort_by=created_at:desc. Without
// date_range=all, only incidents of the last month are listed, as on
// PagerDuty.
func (s *Server) listIncidents(q map[string][]string) response {
	key := first(q["incident_key"])
	statuses := q["statuses[]"]
	now := s.opts.Now()
	var found []*Incident
	for _, in := range s.incidents {
		if key != "" && in.DedupKey != key {
			continue
		}
		if len(statuses) > 0 && !slices.Contains(statuses, in.Status) {
			continue
		}
		if first(q["date_range"]) != "all" && in.CreatedAt.Before(now.AddDate(0, -1, 0)) {
			continue
		}
		found = append(found, in)
	}
	if first(q["sort_by"]) == "created_at:desc" {
		slices.Reverse(found)
	}
	out := make([]any, 0, len(found))
	for _, in := range found {
		out = append(out, s.incidentJSON(in))
	}
	limit, offset := paging(q)
	page, more := window(out, limit, offset)
	return response{status: http.StatusOK, body: map[string]any{"incidents": page, "limit": limit, "offset": offset, "more": more, "total": nil}}
}

func (s *Server) incidentJSON(in *Incident) map[string]any {
	m := s.ref("incident", in.ID, fmt.Sprintf("[#%d] %s", in.Number, in.Title), true)
	delete(m, "name")
	acks := []any{}
	if in.Status == "acknowledged" {
		for _, a := range in.Acknowledgements {
			by := s.serviceRef(in.Service)
			if a.ByUser != "" {
				by = s.userRef(a.ByUser, false)
			}
			acks = append(acks, map[string]any{"at": a.At.Format(time.RFC3339), "acknowledger": by})
		}
	}
	changedBy := s.serviceRef(in.Service)
	if in.ChangedBy != "" {
		changedBy = s.userRef(in.ChangedBy, false)
	}
	m["incident_number"] = in.Number
	m["title"] = in.Title
	m["created_at"] = in.CreatedAt.Format(time.RFC3339)
	m["status"] = in.Status
	m["incident_key"] = in.DedupKey
	m["service"] = s.serviceRef(in.Service)
	m["urgency"] = "high"
	m["acknowledgements"] = acks
	m["assignments"] = []any{}
	m["last_status_change_at"] = in.ChangedAt.Format(time.RFC3339)
	m["last_status_change_by"] = changedBy
	m["alert_counts"] = map[string]int{"all": in.Alerts, "triggered": in.Alerts, "resolved": 0}
	if !in.ResolvedAt.IsZero() {
		m["resolved_at"] = in.ResolvedAt.Format(time.RFC3339)
	}
	return m
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func queryTime(q map[string][]string, name string) (time.Time, error) {
	v := first(q[name])
	if v == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, v)
}

// paging reads limit (25 by default, at most 100) and offset.
func paging(q map[string][]string) (limit, offset int) {
	limit = 25
	if n, err := strconv.Atoi(first(q["limit"])); err == nil && n > 0 {
		limit = min(n, 100)
	}
	if n, err := strconv.Atoi(first(q["offset"])); err == nil && n > 0 {
		offset = n
	}
	return limit, offset
}

func window(all []any, limit, offset int) ([]any, bool) {
	if offset >= len(all) {
		return []any{}, false
	}
	end := min(offset+limit, len(all))
	return all[offset:end], end < len(all)
}
