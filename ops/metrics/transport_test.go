package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const sigV4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/%s/%s/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"

func TestAWSClient(t *testing.T) {
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if strings.Contains(string(b), "Action=AssumeRole") {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	longForm := "Action=DescribeSnapshotAttribute&Version=2016-11-15&" + strings.Repeat("Filter.1.Value=x&", 100)
	tests := []struct {
		name    string
		method  string
		path    string
		region  string
		service string
		header  map[string]string
		body    string
		label   string // the sample's labels, as exposed (sorted)
	}{
		{name: "json protocol", method: "POST", path: "/", service: "sqs", body: "{}",
			header: map[string]string{"X-Amz-Target": "AmazonSQS.ReceiveMessage", "Content-Type": "application/x-amz-json-1.0"},
			label:  `operation="ReceiveMessage",result="ok",service="sqs"`},
		{name: "query protocol error", method: "POST", path: "/", service: "sts", body: "Action=AssumeRole&Version=2011-06-15&RoleArn=arn",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
			label:  `operation="AssumeRole",result="http_4xx",service="sts"`},
		{name: "query protocol long body", method: "POST", path: "/", service: "ec2", body: longForm,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			label:  `operation="DescribeSnapshotAttribute",result="ok",service="ec2"`},
		{name: "s3 with x-id", method: "GET", path: "/bucket/key?x-id=GetObject", service: "s3",
			label: `operation="GetObject",result="ok",service="s3"`},
		{name: "s3 sub-resource", method: "PUT", path: "/bucket?policy", service: "s3", body: "{}",
			label: `operation="PUT policy",result="ok",service="s3"`},
		{name: "rpcv2 cbor", method: "POST", path: "/service/GraniteServiceVersion20100801/operation/GetMetricData", service: "monitoring",
			label: `operation="GetMetricData",result="ok",service="monitoring"`},
		{name: "unsigned", method: "GET", path: "/", label: `operation="GET",result="ok",service="unknown"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bodies = nil
			m := New(nil)
			c := m.AWSClient(srv.Client())
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.service != "" {
				req.Header.Set("Authorization", strings.NewReplacer("%s/%s", "us-east-1/"+tc.service).Replace(sigV4))
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(bodies) != 1 || bodies[0] != tc.body {
				t.Errorf("server received body %q, want %q unchanged", bodies, tc.body)
			}
			got := samples(t, serve(t, m, nil))
			if got["secops_bot_aws_calls_total{"+tc.label+"}"] != "1" {
				t.Errorf("no aws_calls_total{%s} = 1 in the scrape; aws samples: %v", tc.label, filter(got, "aws_calls"))
			}
		})
	}
}

func TestJiraTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	m := New(nil)
	c := &http.Client{Transport: m.JiraTransport(srv.Client().Transport)}
	for _, do := range []func() (*http.Response, error){
		func() (*http.Response, error) { return c.Get(srv.URL + "/rest/api/3/issue/SEC-1") },
		func() (*http.Response, error) { return c.Get(srv.URL + "/rest/api/3/issue/SEC-2") },
		func() (*http.Response, error) { return c.Post(srv.URL+"/rest/api/3/issue", "application/json", nil) },
	} {
		resp, err := do()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := samples(t, serve(t, m, nil))
	for k, v := range map[string]string{
		`secops_bot_jira_calls_total{method="GET",result="ok"}`:        "2",
		`secops_bot_jira_calls_total{method="POST",result="http_5xx"}`: "1",
		`secops_bot_jira_call_seconds_count{method="GET"}`:             "2",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestSlackTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/chat.postMessage":
			_, _ = io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.2"}`)
		case "/api/chat.update":
			_, _ = io.WriteString(w, `{"ok": false, "error":"message_not_found"}`)
		case "/api/conversations.list":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	m := New(nil)
	c := &http.Client{Transport: m.SlackTransport(srv.Client().Transport)}
	for _, tc := range []struct{ method, body string }{
		{"chat.postMessage", `{"ok":true,"channel":"C1","ts":"1.2"}`},
		{"chat.update", `{"ok": false, "error":"message_not_found"}`},
		{"conversations.list", ""},
	} {
		resp, err := c.Post(srv.URL+"/api/"+tc.method, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.body {
			t.Errorf("%s: client read %q, want %q unchanged", tc.method, b, tc.body)
		}
	}
	got := samples(t, serve(t, m, nil))
	for _, k := range []string{
		`secops_bot_slack_calls_total{method="chat.postMessage",result="ok"}`,
		`secops_bot_slack_calls_total{method="chat.update",result="error"}`,
		`secops_bot_slack_calls_total{method="conversations.list",result="rate_limited"}`,
	} {
		if got[k] != "1" {
			t.Errorf("%s = %q, want 1; slack samples: %v", k, got[k], filter(got, "slack_calls"))
		}
	}
}

func filter(s map[string]string, sub string) map[string]string {
	out := map[string]string{}
	for k, v := range s {
		if strings.Contains(k, sub) {
			out[k] = v
		}
	}
	return out
}
