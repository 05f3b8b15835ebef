package opsgeniefake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/internal/testkit/opsgeniefake"
)

// The fake answers in Opsgenie's envelope and refuses what Opsgenie
// refuses, so a client bug shows up in tests rather than at 3 a.m.
func TestAlertAPI(t *testing.T) {
	srv := opsgeniefake.New(opsgeniefake.Options{APIKey: "k", Teams: []string{"SecOps"}})
	defer srv.Close()
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
		status int
		says   []string
	}{
		{"create", "POST", "/v2/alerts", "k", `{"message":"m","alias":"a1","priority":"P1","responders":[{"type":"team","name":"SecOps"}]}`, 202,
			[]string{`"result":"Request will be processed"`, `"requestId":`, `"took":`}},
		{"get by alias", "GET", "/v2/alerts/a1?identifierType=alias", "k", "", 200, []string{`"data":{`, `"alias":"a1"`, `"status":"open"`, `"priority":"P1"`}},
		{"acknowledge by alias", "POST", "/v2/alerts/a1/acknowledge?identifierType=alias", "k", `{"user":"sam@example.com"}`, 202, nil},
		{"the report says who", "GET", "/v2/alerts/a1?identifierType=alias", "k", "", 200, []string{`"acknowledged":true`, `"acknowledgedBy":"sam@example.com"`, `"ackTime":`}},
		{"an unknown alias is accepted", "POST", "/v2/alerts/nope/close?identifierType=alias", "k", `{}`, 202, nil},
		{"but cannot be read", "GET", "/v2/alerts/nope?identifierType=alias", "k", "", 404, []string{"Alert does not exist"}},
		{"no message", "POST", "/v2/alerts", "k", `{"alias":"a2"}`, 422, []string{"Message can not be empty."}},
		{"a message over 130 characters", "POST", "/v2/alerts", "k", `{"message":"` + strings.Repeat("x", 131) + `"}`, 422, []string{"130 characters"}},
		{"a team that does not exist", "POST", "/v2/alerts", "k", `{"message":"m","responders":[{"type":"team","name":"Nobody"}]}`, 422, []string{"Team [Nobody] does not exist."}},
		{"a wrong key", "GET", "/v2/alerts/a1?identifierType=alias", "x", "", 401, []string{"Could not authenticate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "GenieKey "+tc.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !json.Valid(b) {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.status)
			}
			for _, w := range tc.says {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
		})
	}
}
