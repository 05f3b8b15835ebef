// Package awsfake serves small, stateful fakes of the AWS APIs the bot
// calls, speaking each service's real wire protocol (query XML for IAM, STS,
// RDS and EC2; REST-XML for S3; JSON for Organizations, CloudTrail and SSO
// Admin), so tests reach them through the real aws-sdk-go-v2 clients by
// pointing the endpoint at Server.URL. Requests are routed by the SigV4
// credential scope's service name, as AWS itself would.
//
// Calls made with keys that policies govern (a session policy passed to
// AssumeRole, or identity policies a test gave the role or user) are
// checked against them before the service fake sees them (policy.go), so
// tests can show what a role or a scoped session cannot do.
package awsfake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Call is one request a fake served.
type Call struct {
	Service   string
	Action    string // query Action, X-Amz-Target operation, or "METHOD path" for S3
	AccessKey string // from the SigV4 credential, to tell which role called
	Account   string // the caller's account, as Identities resolved the key
	// Target is the account the call acts in: the caller's, or for STS
	// AssumeRole the role's.
	Target string
	At     time.Time
	Status int
	// Attempt is the SDK's attempt number of this request (1 for the first
	// try, 2 for its first retry…) and Invocation the ID the SDK gives one
	// operation across its attempts (the amz-sdk-request and
	// amz-sdk-invocation-id headers), so tests can tell retries from new
	// work. Zero and empty for clients that do not send them.
	Attempt    int
	Invocation string
	// Injected is the error code of the fault that answered, "" when the
	// service fake did.
	Injected string
	// Denied is the permission the caller's policies refused ("" when
	// none was): "s3:PutBucketPolicy on arn:aws:s3:::other-bucket".
	Denied string
}

// Reply is one error answer of a fault.
type Reply struct {
	Code   string // e.g. "Throttling", "AccessDenied"
	Status int    // HTTP status, e.g. 400, 403, 503
}

// Fault is an injected failure.
type Fault struct {
	Service string // "" for any
	Action  string // "" for any
	// Account limits the fault to calls acting in one account: the
	// caller's account, or for STS AssumeRole the account of the role
	// asked for (a member role that cannot be assumed). "" for any.
	Account string
	Code    string // e.g. "Throttling", "AccessDenied"
	Status  int    // HTTP status, e.g. 400, 403, 503
	// Times is how many calls fail; <0 for every call until cleared. With
	// a Rate, only the calls that fail count.
	Times int
	// Rate is the share of matching calls that fail (0 < Rate < 1), drawn
	// from the server's seeded generator (see Seed) so a run can be
	// repeated; 0 or 1 fails every matching call.
	Rate float64
	// Alternate are further answers given in turn with Code and Status:
	// {Code: "Throttling", Alternate: [{AccessDenied 403}]} answers
	// Throttling, then AccessDenied, then Throttling…
	Alternate []Reply

	fired int // failures so far, to take turns with Alternate
}

// reply is the answer of the fault's next failure.
func (f *Fault) reply() Reply {
	n := f.fired % (1 + len(f.Alternate))
	f.fired++
	if n == 0 {
		return Reply{Code: f.Code, Status: f.Status}
	}
	return f.Alternate[n-1]
}

// DefaultSeed seeds the fault generator of a new Server.
const DefaultSeed = 1

// Server routes requests to the registered service fakes.
type Server struct {
	srv *httptest.Server

	ids *Identities

	mu       sync.Mutex
	services map[string]http.Handler
	calls    []Call
	faults   []*Fault
	rng      *rand.Rand
}

// New starts a server with no services; register them with Handle.
// Callers whose access key is unknown belong to DefaultAccount.
func New() *Server {
	s := &Server{services: map[string]http.Handler{}, ids: NewIdentities(DefaultAccount), rng: newRand(DefaultSeed)}
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

// Inject adds a failure; later faults are checked after earlier ones (a
// fault whose Rate spared a call leaves it to the next). The returned
// function removes this fault alone.
func (s *Server) Inject(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := f
	fc.fired = 0
	s.faults = append(s.faults, &fc)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, g := range s.faults {
			if g == &fc {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				return
			}
		}
	}
}

// Seed restarts the generator that decides which calls a fault with a
// Rate fails. The same seed and the same sequence of calls fail the same
// calls.
func (s *Server) Seed(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = newRand(seed)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

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
	target := targetAccount(service, action, r, caller.Account)
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, caller))
	s.mu.Lock()
	h := s.services[service]
	var injected *Reply
	for _, f := range s.faults {
		if (f.Service != "" && f.Service != service) || (f.Action != "" && f.Action != action) ||
			(f.Account != "" && f.Account != target) || f.Times == 0 {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && s.rng.Float64() >= f.Rate {
			continue
		}
		if f.Times > 0 {
			f.Times--
		}
		rp := f.reply()
		injected = &rp
		break
	}
	s.mu.Unlock()
	var refused *Refusal
	if injected == nil && h != nil && s.ids.governed(key) {
		refused = s.ids.Authorize(key, accessesOf(service, action, r, caller))
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	switch {
	case h == nil:
		WriteError(rec, service, http.StatusBadRequest, "UnknownService", fmt.Sprintf("no fake for service %q", service))
	case injected != nil:
		WriteError(rec, service, injected.Status, injected.Code, "injected fault")
	case refused != nil:
		writeAccessDenied(rec, service, caller, *refused)
	default:
		h.ServeHTTP(rec, r)
	}
	call := Call{Service: service, Action: action, AccessKey: key, Account: caller.Account, Target: target, At: time.Now(), Status: rec.status,
		Attempt: sdkAttempt(r), Invocation: r.Header.Get("Amz-Sdk-Invocation-Id")}
	if injected != nil {
		call.Injected = injected.Code
	}
	if refused != nil {
		call.Denied = refused.Access.String()
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
}

// targetAccount is the account a call acts in: the caller's, except for
// AssumeRole, which acts on the role's account.
func targetAccount(service, action string, r *http.Request, caller string) string {
	if service != "sts" || action != "AssumeRole" || r.Body == nil {
		return caller
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return caller
	}
	return accountOfARN(form.Get("RoleArn"))
}

// sdkAttempt reads the attempt number from the SDK's
// "amz-sdk-request: attempt=2; max=3" header.
func sdkAttempt(r *http.Request) int {
	for _, part := range strings.Split(r.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// writeAccessDenied answers a request the caller's policies refuse, in the
// service's error shape and with AWS's wording, which names the action,
// the resource and the kind of policy that decided.
func writeAccessDenied(w http.ResponseWriter, service string, caller Identity, r Refusal) {
	why := "because no identity-based policy allows the " + r.Access.Action + " action"
	switch {
	case r.Explicit && r.Session:
		why = "with an explicit deny in a session policy"
	case r.Explicit:
		why = "with an explicit deny in an identity-based policy"
	case r.Session:
		why = "because no session policy allows the " + r.Access.Action + " action"
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", caller.ARN, r.Access.Action, r.Access.Resource, why)
	switch {
	case service == "ec2":
		WriteError(w, service, http.StatusForbidden, "UnauthorizedOperation", msg)
	case service == "s3" && r.Access.Resource == "*" && strings.Contains(r.Access.Action, "Account"):
		writeS3ControlError(w, http.StatusForbidden, "AccessDenied", msg)
	case service == "organizations" || service == "cloudtrail" || service == "sso" || service == "identitystore" || service == "sqs" || service == "kms":
		WriteError(w, service, http.StatusBadRequest, "AccessDeniedException", msg)
	case service == "macie2":
		WriteError(w, service, http.StatusForbidden, "AccessDeniedException", msg)
	default:
		WriteError(w, service, http.StatusForbidden, "AccessDenied", msg)
	}
}
