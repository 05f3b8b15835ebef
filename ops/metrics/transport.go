package metrics

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPDoer is the shape of an AWS SDK HTTP client (aws.HTTPClient), so
// AWS calls can be counted without this package importing the SDK.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// AWSClient wraps the HTTP client of an AWS configuration and counts every
// call by service and operation. Both come from the signed request itself
// (the SigV4 credential scope names the service; X-Amz-Target, the Query
// protocol's Action or the REST method names the operation), so one
// wrapper on the base configuration covers every service client built
// from it, including the ones in assumed member-account roles.
func (m *Metrics) AWSClient(next HTTPDoer) HTTPDoer {
	if next == nil {
		next = http.DefaultClient
	}
	return awsDoer{m: m, next: next}
}

type awsDoer struct {
	m    *Metrics
	next HTTPDoer
}

func (d awsDoer) Do(req *http.Request) (*http.Response, error) {
	service := awsService(req)
	op, req := awsOperation(req)
	start := time.Now()
	resp, err := d.next.Do(req)
	d.m.awsTime.WithLabelValues(service, op).Observe(time.Since(start).Seconds())
	d.m.awsCalls.WithLabelValues(service, op, httpResult(resp, err)).Inc()
	return resp, err
}

// awsService reads the service from the SigV4 credential scope
// (AKID/date/region/service/aws4_request), in the header or, for a
// presigned URL, the query.
func awsService(req *http.Request) string {
	cred := ""
	if a := req.Header.Get("Authorization"); a != "" {
		if _, after, ok := strings.Cut(a, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	} else {
		cred = req.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(cred, "/")
	if len(parts) == 5 && parts[3] != "" {
		return parts[3]
	}
	return "unknown"
}

// formPrefix bounds how much of a Query-protocol body is read to find its
// Action, which the SDK always writes first.
const formPrefix = 512

// awsOperation names the operation a request calls. Reading a Query
// protocol body consumes part of it, so the request to send is returned
// with that part put back in front of the rest.
func awsOperation(req *http.Request) (string, *http.Request) {
	if t := req.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:], req
	}
	if _, op, ok := strings.Cut(req.URL.Path, "/operation/"); ok && op != "" {
		return op, req
	}
	q := req.URL.Query()
	if a := q.Get("Action"); a != "" {
		return a, req
	}
	if id := q.Get("x-id"); id != "" {
		// S3 names most object operations in the query.
		return id, req
	}
	if req.Body != nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		head := make([]byte, formPrefix)
		n, err := io.ReadFull(req.Body, head)
		head = head[:n]
		out := req.Clone(req.Context())
		out.Body = readCloser{io.MultiReader(bytes.NewReader(head), req.Body), req.Body}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			// The body is unreadable; sending it reports the failure.
			return "unknown", out
		}
		for pair := range strings.SplitSeq(string(head), "&") {
			if v, ok := strings.CutPrefix(pair, "Action="); ok && v != "" {
				return v, out
			}
		}
		return "unknown", out
	}
	// REST services (S3): the method and the sub-resource, e.g. "PUT
	// policy" for PutBucketPolicy, keep the label set small and readable.
	var sub []string
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			sub = append(sub, k)
		}
	}
	if len(sub) == 0 {
		return req.Method, req
	}
	return req.Method + " " + slices.Min(sub), req
}

type readCloser struct {
	io.Reader
	io.Closer
}

// JiraTransport wraps the Jira client's transport and counts every call by
// HTTP method. Paths are not labels: they hold issue keys.
func (m *Metrics) JiraTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		m.jiraTime.WithLabelValues(req.Method).Observe(time.Since(start).Seconds())
		m.jiraCalls.WithLabelValues(req.Method, httpResult(resp, err)).Inc()
		return resp, err
	})
}

// SlackTransport wraps the Slack client's transport and counts every Web
// API call by method. Slack answers most failures with HTTP 200 and
// "ok":false, so the start of the body is read to tell them apart.
func (m *Metrics) SlackTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		method := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
		if method == "" {
			method = "unknown"
		}
		start := time.Now()
		resp, err := next.RoundTrip(req)
		result := httpResult(resp, err)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			result = "rate_limited"
		} else if err == nil && result == "ok" {
			result = slackOK(resp)
		}
		m.slackTime.WithLabelValues(method).Observe(time.Since(start).Seconds())
		m.slackCalls.WithLabelValues(method, result).Inc()
		return resp, err
	})
}

// slackOK peeks at the start of a Slack answer, whose first key is "ok",
// and puts what it read back.
func slackOK(resp *http.Response) string {
	if resp.Body == nil {
		return "ok"
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(resp.Body, head)
	head = head[:n]
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	compact := strings.ReplaceAll(string(head), " ", "")
	if strings.HasPrefix(compact, `{"ok":false`) {
		return "error"
	}
	return "ok"
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// httpResult classifies an HTTP exchange for a result label.
func httpResult(resp *http.Response, err error) string {
	switch {
	case err != nil:
		return "transport_error"
	case resp.StatusCode < 400:
		return "ok"
	default:
		return "http_" + strconv.Itoa(resp.StatusCode/100) + "xx"
	}
}
