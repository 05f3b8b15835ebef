package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/providers/aws/reqbody"
)

// Every AWS client the bot builds sends its request bodies from memory:
// with the SDK's own body, a busy machine had net/http cut SQS receive
// replies and hide their messages for a visibility timeout.
func TestAWSClientsSendBodiesFromMemory(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_CA_BUNDLE", "") // without one the SDK leaves the client to each service
	cfg := config.Default()
	cfg.AWS.Region = "eu-central-1"
	c, err := loadAWS(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.HTTPClient.(reqbody.InMemory); !ok {
		t.Fatalf("HTTP client is %T, want reqbody.InMemory", c.HTTPClient)
	}
	if c.Region != "eu-central-1" {
		t.Fatalf("region = %q", c.Region)
	}
	// And it sends: the wrapped client is a working one.
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader(`{"QueueUrl":"q"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != `{"QueueUrl":"q"}` {
		t.Fatalf("server got %q", got)
	}
}
