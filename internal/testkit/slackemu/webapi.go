package slackemu

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Call is one recorded Web API request.
type Call struct {
	Method string
	// Params holds the form, query and JSON-body arguments. JSON values
	// that are not strings (a view, blocks) are kept as compact JSON text,
	// the same shape a form-encoded client sends. The token is left out.
	Params url.Values
	At     time.Time
	// Status is the HTTP status answered (200, or 429 when rate limited).
	Status int
	// Error is the Slack error code answered, empty on success.
	Error string
}

// reply is a Web API response body; "ok" is filled in by the dispatcher.
type reply map[string]any

func failure(code string, messages ...string) reply {
	r := reply{"ok": false, "error": code}
	if len(messages) > 0 {
		r["response_metadata"] = map[string]any{"messages": messages}
	}
	return r
}

type tokenKind int

const (
	botToken tokenKind = iota
	appToken
)

type apiRequest struct {
	params url.Values
	now    time.Time
}

type apiMethod struct {
	token   tokenKind
	handler func(s *Server, r *apiRequest) reply
}

// lookupMethod returns the Web API methods the emulator implements; anything
// else is recorded and answered unknown_method, as Slack does.
func lookupMethod(name string) (apiMethod, bool) {
	switch name {
	case "auth.test":
		return apiMethod{botToken, (*Server).authTest}, true
	case "apps.connections.open":
		return apiMethod{appToken, (*Server).appsConnectionsOpen}, true
	case "chat.postMessage":
		return apiMethod{botToken, (*Server).chatPostMessage}, true
	case "chat.update":
		return apiMethod{botToken, (*Server).chatUpdate}, true
	case "chat.delete":
		return apiMethod{botToken, (*Server).chatDelete}, true
	case "chat.postEphemeral":
		return apiMethod{botToken, (*Server).chatPostEphemeral}, true
	case "chat.scheduleMessage":
		return apiMethod{botToken, (*Server).chatScheduleMessage}, true
	case "chat.getPermalink":
		return apiMethod{botToken, (*Server).chatGetPermalink}, true
	case "views.open":
		return apiMethod{botToken, (*Server).viewsOpen}, true
	case "views.update":
		return apiMethod{botToken, (*Server).viewsUpdate}, true
	case "views.push":
		return apiMethod{botToken, (*Server).viewsPush}, true
	case "conversations.info":
		return apiMethod{botToken, (*Server).conversationsInfo}, true
	case "conversations.history":
		return apiMethod{botToken, (*Server).conversationsHistory}, true
	case "conversations.replies":
		return apiMethod{botToken, (*Server).conversationsReplies}, true
	case "conversations.list":
		return apiMethod{botToken, (*Server).conversationsList}, true
	case "conversations.join":
		return apiMethod{botToken, (*Server).conversationsJoin}, true
	case "conversations.open":
		return apiMethod{botToken, (*Server).conversationsOpen}, true
	case "users.info":
		return apiMethod{botToken, (*Server).usersInfo}, true
	case "users.lookupByEmail":
		return apiMethod{botToken, (*Server).usersLookupByEmail}, true
	case "usergroups.list":
		return apiMethod{botToken, (*Server).usergroupsList}, true
	case "usergroups.users.list":
		return apiMethod{botToken, (*Server).usergroupsUsersList}, true
	default:
		return apiMethod{}, false
	}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	params, token, parseErr := parseParams(r)
	now := time.Now()

	s.mu.Lock()
	status, body, retryAfter := s.dispatchLocked(method, params, token, parseErr, now)
	errCode, _ := body["error"].(string)
	s.calls = append(s.calls, Call{Method: method, Params: params, At: now, Status: status, Error: errCode})
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// dispatchLocked runs one Web API method in the order Slack checks things:
// the method must exist, rate limits apply before authentication, then the
// token, then any injected failure, then the method itself.
func (s *Server) dispatchLocked(method string, params url.Values, token string, parseErr error, now time.Time) (status int, body reply, retryAfter int) {
	m, ok := lookupMethod(method)
	if !ok {
		return http.StatusOK, failure("unknown_method"), 0
	}
	f := s.takeFaultLocked(method, now)
	if f != nil && !f.lost {
		if f.rateLimited {
			wait := f.retryAfter
			if !f.until.IsZero() {
				// Inside a window Slack says how long is left of it.
				wait = f.until.Sub(now)
			}
			secs := max(1, int((wait+time.Second-1)/time.Second))
			return http.StatusTooManyRequests, failure("ratelimited"), secs
		}
		if f.status != 0 {
			return f.status, failure(f.err), 0
		}
		if code := s.authLocked(m.token, token); code != "" {
			return http.StatusOK, failure(code), 0
		}
		return http.StatusOK, failure(f.err), 0
	}
	if code := s.authLocked(m.token, token); code != "" {
		return http.StatusOK, failure(code), 0
	}
	if parseErr != nil {
		return http.StatusOK, failure("invalid_form_data"), 0
	}
	body = m.handler(s, &apiRequest{params: params, now: now})
	if _, set := body["ok"]; !set {
		body["ok"] = true
	}
	if f != nil && f.lost {
		return http.StatusGatewayTimeout, failure("request_timeout"), 0
	}
	return http.StatusOK, body, 0
}

func (s *Server) authLocked(want tokenKind, token string) string {
	switch {
	case token == "":
		return "not_authed"
	case token == s.opts.BotToken && want == botToken, token == s.opts.AppToken && want == appToken:
		return ""
	case token == s.opts.BotToken, token == s.opts.AppToken:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

// parseParams merges query, form and JSON-body arguments and extracts the
// token, which slack-go sends as a form field for most methods and as a
// bearer header for JSON ones.
func parseParams(r *http.Request) (url.Values, string, error) {
	params := url.Values{}
	for k, v := range r.URL.Query() {
		params[k] = append(params[k], v...)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return params, "", err
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case ctype == "application/json":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return params, "", err
		}
		for k, raw := range obj {
			params.Set(k, jsonParam(raw))
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return params, "", err
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	}
	token := params.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	params.Del("token")
	return params, token, nil
}

func jsonParam(raw json.RawMessage) string {
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// fault is an injected failure for one Web API method.
type fault struct {
	remaining   int       // calls left, for count-based faults
	until       time.Time // end of a time window, for FailFor
	err         string
	rateLimited bool
	retryAfter  time.Duration
	// status, when set, is the HTTP status answered instead of 200.
	status int
	// lost faults carry the call out and lose its answer (see LoseAnswers).
	lost bool
}

// FailNext makes the next n calls to method answer {"ok":false,"error":err}.
func (s *Server) FailNext(method string, n int, err string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{remaining: n, err: err})
}

// FailFor makes every call to method answer {"ok":false,"error":err} for
// the next d, for example to take chat.update away for a while.
func (s *Server) FailFor(method string, d time.Duration, err string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{until: time.Now().Add(d), err: err})
}

// RateLimit makes the next n calls to method answer HTTP 429 with a
// Retry-After header of retryAfter, rounded up to whole seconds as Slack
// sends it.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{remaining: n, rateLimited: true, retryAfter: retryAfter})
}

// RateLimitFor answers every call to method with HTTP 429 for the next d,
// the way Slack does once an app exceeds a method's limit: each answer's
// Retry-After header gives the whole seconds left of the window (at
// least 1), so a client that honours it calls again when the window ends.
func (s *Server) RateLimitFor(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{until: time.Now().Add(d), rateLimited: true})
}

// FailHTTPFor answers every call to method with the HTTP status (500,
// 502, 503 …) and {"ok":false,"error":err} for the next d, as when Slack
// itself has an outage. The call has no effect.
func (s *Server) FailHTTPFor(method string, d time.Duration, status int, err string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{until: time.Now().Add(d), err: err, status: status})
}

// LoseAnswers carries out the next n calls to method and answers each
// with HTTP 504 instead of its result, as when the answer is lost to a
// timeout or the caller dies between Slack accepting a call and learning
// that it did: the client cannot tell that the call took effect.
func (s *Server) LoseAnswers(method string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], &fault{remaining: n, lost: true, err: "request_timeout"})
}

// ClearFaults removes every injected failure.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]*fault{}
}

// takeFaultLocked consumes the first active fault for method, if any.
func (s *Server) takeFaultLocked(method string, now time.Time) *fault {
	queue := s.faults[method]
	for len(queue) > 0 {
		f := queue[0]
		if !f.until.IsZero() {
			if now.Before(f.until) {
				s.faults[method] = queue
				return f
			}
			queue = queue[1:]
			continue
		}
		f.remaining--
		if f.remaining <= 0 {
			queue = queue[1:]
		}
		s.faults[method] = queue
		return f
	}
	delete(s.faults, method)
	return nil
}

// Calls returns every Web API call received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = c
		out[i].Params = cloneValues(c.Params)
	}
	return out
}

// CallsTo returns the recorded calls to one method, in order.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (s *Server) authTest(r *apiRequest) reply {
	return reply{
		"url":                   "https://" + s.opts.TeamDomain + ".slack.com/",
		"team":                  s.opts.TeamDomain,
		"user":                  s.users[s.opts.BotUserID].Name,
		"team_id":               s.opts.TeamID,
		"user_id":               s.opts.BotUserID,
		"bot_id":                s.opts.BotID,
		"is_enterprise_install": false,
	}
}

func (s *Server) appsConnectionsOpen(r *apiRequest) reply {
	ticket := randomHex(16)
	s.tickets[ticket] = false
	return reply{"url": s.wsURL() + "/link/?ticket=" + ticket + "&app_id=" + url.QueryEscape(s.opts.AppID)}
}
