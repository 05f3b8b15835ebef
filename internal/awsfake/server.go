// Package awsfake serves small, stateful fakes of the AWS APIs the bot
// calls, speaking each service's real wire protocol (query XML for IAM, STS,
// RDS and EC2; REST-XML for S3; JSON for Organizations, CloudTrail and SSO
// Admin), so tests reach them through the real aws-sdk-go-v2 clients by
// pointing the endpoint at Server.URL. Requests are routed by the SigV4
// credential scope's service name, as AWS itself would.
package awsfake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"time"
)

// Call is one request a fake served.
type Call struct {
	Service   string
	Action    string // query Action, X-Amz-Target operation, or "METHOD path" for S3
	AccessKey string // from the SigV4 credential, to tell which role called
	Account   string // the caller's account, as Identities resolved the key
	At        time.Time
	Status    int
}

// Fault is an injected failure.
type Fault struct {
	Service string // "" for any
	Action  string // "" for any
	Code    string // e.g. "Throttling", "AccessDenied"
	Status  int    // HTTP status, e.g. 400, 403, 503
	Times   int    // how many calls fail; <0 for every call until cleared
}

// Server routes requests to the registered service fakes.
type Server struct {
	srv *httptest.Server

	ids *Identities

	mu       sync.Mutex
	services map[string]http.Handler
	calls    []Call
	faults   []*Fault
}

// New starts a server with no services; register them with Handle.
// Callers whose access key is unknown belong to DefaultAccount.
func New() *Server {
	s := &Server{services: map[string]http.Handler{}, ids: NewIdentities(DefaultAccount)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint to give the SDK clients.
func (s *Server) URL() string { return s.srv.URL }

// Identities is the access key registry the server resolves callers with.
func (s *Server) Identities() *Identities { return s.ids }

// HTTPClient returns a client that connects to the server whatever host a
// request names. S3 Control puts the account ID in front of the endpoint's
// host (111122223333.127.0.0.1), which no resolver knows; with this client
// such requests still reach the fake, as they would reach AWS.
func (s *Server) HTTPClient() *http.Client {
	addr := s.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Transport: tr}
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Handle registers the fake of a service, by its SigV4 signing name ("s3",
// "iam", "sts", "rds", "ec2", "organizations", "cloudtrail", "sso").
func (s *Server) Handle(service string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[service] = h
}

// Inject adds a failure; later faults are checked after earlier ones.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := f
	s.faults = append(s.faults, &fc)
}

// ClearFaults removes every injected failure.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns every request served so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the calls of one action of one service.
func (s *Server) CallsTo(service, action string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Service == service && c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

var scopeRe = regexp.MustCompile(`Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/aws4_request`)

// Signer extracts the access key and service from a SigV4 Authorization
// header.
func Signer(r *http.Request) (accessKey, service string) {
	m := scopeRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	key, service := Signer(r)
	action := ActionOf(service, r)
	caller := s.ids.Lookup(key)
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, caller))
	s.mu.Lock()
	h := s.services[service]
	var fault *Fault
	for _, f := range s.faults {
		if (f.Service == "" || f.Service == service) && (f.Action == "" || f.Action == action) && f.Times != 0 {
			fault = f
			if f.Times > 0 {
				f.Times--
			}
			break
		}
	}
	s.mu.Unlock()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	switch {
	case h == nil:
		WriteError(rec, service, http.StatusBadRequest, "UnknownService", fmt.Sprintf("no fake for service %q", service))
	case fault != nil:
		WriteError(rec, service, fault.Status, fault.Code, "injected fault")
	default:
		h.ServeHTTP(rec, r)
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Service: service, Action: action, AccessKey: key, Account: caller.Account, At: time.Now(), Status: rec.status})
	s.mu.Unlock()
}
