package testserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Relay forwards a request a test proxy received to upstream (same method,
// path, query and headers, with body as the request body) and returns the
// answer with its body read, for proxies that watch or rewrite what a
// client and a server say to each other.
func Relay(client *http.Client, r *http.Request, upstream string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("relay %s: %w", r.URL.Path, err)
	}
	for k, v := range r.Header {
		if k != "Accept-Encoding" { // the answer is rewritten as read
			req.Header[k] = v
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("relay %s: %w", r.URL.Path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("relay %s: read the answer: %w", r.URL.Path, err)
	}
	return resp, out, nil
}

// WriteRelayed writes an answer Relay returned, with out (possibly
// rewritten) as its body.
func WriteRelayed(w http.ResponseWriter, resp *http.Response, out []byte) {
	for k, v := range resp.Header {
		if k != "Content-Length" && k != "Content-Encoding" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}
