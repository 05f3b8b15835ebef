package pagerdutyfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/internal/testkit/pagerdutyfake"
)

// The fake refuses events the way the Events API v2 does, so a client bug
// shows up in tests rather than at 3 a.m.
func TestEnqueueChecksEvents(t *testing.T) {
	const key = "R0SECOPS0000000000000000000000KY"
	srv := pagerdutyfake.New(pagerdutyfake.Options{Services: []pagerdutyfake.Service{{ID: "PSVC", Name: "SecOps", RoutingKey: key}}})
	defer srv.Close()
	tests := []struct {
		name   string
		body   string
		status int
		says   string
	}{
		{"a good trigger", `{"routing_key":"` + key + `","event_action":"trigger","dedup_key":"k","payload":{"summary":"s","source":"x","severity":"critical"}}`, 202, `"dedup_key":"k"`},
		{"a short routing key", `{"routing_key":"abc","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`, 400, "Length of 'routing_key' is incorrect"},
		{"an unknown routing key", `{"routing_key":"R0OTHER00000000000000000000000KY","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`, 400, "Invalid routing key"},
		{"no summary", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"source":"x","severity":"critical"}}`, 400, "'payload.summary' is missing"},
		{"a severity PagerDuty does not have", `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"high"}}`, 400, "'payload.severity' is invalid"},
		{"acknowledge without a dedup key", `{"routing_key":"` + key + `","event_action":"acknowledge"}`, 400, "'dedup_key' is missing"},
		{"no action", `{"routing_key":"` + key + `"}`, 400, "'event_action' is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/v2/enqueue", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.says) || !json.Valid(b) {
				t.Errorf("%d %s, want %d saying %q", resp.StatusCode, b, tc.status, tc.says)
			}
		})
	}
	if n := len(srv.Incidents()); n != 1 {
		t.Errorf("%d incidents, want the good trigger's one", n)
	}
}
