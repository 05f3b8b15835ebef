package awsfake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ActionOf names the operation of a request: the query Action, the JSON
// X-Amz-Target operation, or "METHOD /path?subresource" for S3.
func ActionOf(service string, r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return t[i+1:]
		}
		return t
	}
	switch service {
	case "s3":
		q := r.URL.Query()
		for _, sub := range []string{"policy", "policyStatus", "acl", "publicAccessBlock", "tagging"} {
			if q.Has(sub) {
				return r.Method + " ?" + sub
			}
		}
		return r.Method + " " + r.URL.Path
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action")
		}
	}
	return r.URL.Query().Get("Action")
}

// Form parses a query-protocol request body.
func Form(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(body))
}

// WriteError answers with the service's error shape: JSON for JSON
// protocols, the query XML ErrorResponse for IAM/STS/RDS, EC2's Response
// shape, and S3's Error document.
func WriteError(w http.ResponseWriter, service string, status int, code, msg string) {
	switch service {
	case "organizations", "cloudtrail", "sso", "sqs":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	case "ec2":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake-request</RequestID></Response>`, esc(code), esc(msg))
	case "s3":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fake-request</RequestId></Error>`, esc(code), esc(msg))
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`, esc(code), esc(msg))
	}
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
