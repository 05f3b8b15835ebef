// Package reqbody makes AWS SDK clients send their request bodies from
// memory, which closes a race between the SDK and net/http that cuts
// replies on a busy machine (see InMemory).
package reqbody

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// HTTPClient is what the SDK's clients send requests with.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// InMemory hands net/http a copy of each request's body, held in memory,
// instead of the SDK's own body.
//
// The SDK closes its request body as soon as the response headers arrive,
// and once closed that body answers WriteTo with io.EOF. net/http sends a
// body it does not know to be in memory straight to the connection and,
// after sending it, reads the body once more to check that nothing is left
// over; if the SDK closed it in between, which happens when the server
// answers at once and the writing goroutine waits for a CPU, net/http sees
// that io.EOF as a failed write and closes the connection while the
// response body is still being read. For ReceiveMessage the SDK then
// retries, and the messages of the lost reply stay hidden for their whole
// visibility timeout: at 1,000 events/s on a busy two-core machine this
// held ten messages back for 30 s in most runs. A bytes.Reader is one
// net/http knows: it writes it with the headers and its extra read cannot
// fail. The bot's request bodies are small (an SQS batch is at most
// 256 KiB; it uploads no large objects), so the copy is cheap.
type InMemory struct{ Next HTTPClient }

// Do sends req with its body read into memory first.
func (c InMemory) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.Next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	return c.Next.Do(req)
}
