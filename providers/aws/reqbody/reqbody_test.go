package reqbody

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// sdkBody behaves like the SDK's request body: once closed, it reads as
// empty and its WriteTo answers io.EOF.
type sdkBody struct {
	mu     sync.Mutex
	r      *bytes.Reader
	closed bool
}

func (b *sdkBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (b *sdkBody) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.EOF
	}
	return b.r.WriteTo(w)
}

func (b *sdkBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// sendAfterClose stands for net/http sending a request whose body the SDK
// closed meanwhile (it does once the response headers are in): it closes
// the SDK's body, then copies the request body the way net/http checks
// for bytes left over.
type sendAfterClose struct {
	sdk  *sdkBody
	sent string
	err  error
}

func (s *sendAfterClose) Do(req *http.Request) (*http.Response, error) {
	s.sdk.Close()
	var buf bytes.Buffer
	_, s.err = io.Copy(&buf, req.Body)
	s.sent = buf.String()
	if s.err == nil && req.GetBody != nil {
		again, err := req.GetBody()
		if err != nil {
			s.err = err
		} else if b, _ := io.ReadAll(again); string(b) != s.sent {
			s.err = io.ErrUnexpectedEOF
		}
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// A request body the SDK closes while net/http still reads it is sent
// whole, without the error that would make net/http close the connection
// under the reply.
func TestInMemory(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"receive", `{"QueueUrl":"http://sqs/q","MaxNumberOfMessages":10,"WaitTimeSeconds":20}`},
		{"large batch", `{"Entries":[` + strings.Repeat(`{"Id":"1","ReceiptHandle":"x"},`, 2000) + `{}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdk := &sdkBody{r: bytes.NewReader([]byte(tc.body))}
			next := &sendAfterClose{sdk: sdk}
			req, err := http.NewRequest(http.MethodPost, "http://sqs.test/", sdk)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = int64(len(tc.body))
			if _, err := (InMemory{Next: next}).Do(req); err != nil {
				t.Fatalf("Do: %v", err)
			}
			if next.err != nil || next.sent != tc.body {
				t.Errorf("sent %d of %d bytes, error %v", len(next.sent), len(tc.body), next.err)
			}
		})
	}
}
