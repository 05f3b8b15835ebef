package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeAddr finds a loopback port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeObservability runs the bot with its metrics server on, checks
// the probes, sees a finding counted and timed to Slack, and sees a
// stopped trail turn into a warning in the SecOps channel.
func TestServeObservability(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	addr := freeAddr(t)
	e.cfg.Metrics.Listen = addr
	base := "http://" + addr
	e.start(t)
	defer e.stop(t)

	eventually(t, "/readyz to answer 200", func() bool { code, _ := httpGet(base + "/readyz"); return code == http.StatusOK })
	if code, _ := httpGet(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}

	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding posted", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	var scrape string
	eventually(t, "the post timed in /metrics", func() bool {
		_, scrape = httpGet(base + "/metrics")
		return strings.Contains(scrape, `secops_bot_event_to_post_seconds_count{from="detected"} `)
	})
	for _, want := range []string{
		`secops_bot_events_in_total{source="dir"} 1`,
		`secops_bot_findings_total{rule="snapshot-shared-external",severity="critical"} 1`,
		`secops_bot_queue_lag_seconds `,
		`secops_bot_outbox_depth `,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	now := time.Now().UTC().Format(time.RFC3339)
	writeFile(t, filepath.Join(e.cfg.Ingest.Dir, "stop.json"), fmt.Sprintf(`{"Records":[{
		"eventVersion":"1.09","eventTime":%q,"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging",
		"awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.77","userAgent":"aws-cli/2.15.30",
		"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/BackupManager","accountId":"111122223333","userName":"BackupManager"},
		"requestParameters":{"name":"arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail"},
		"eventID":"7f6c1a9e-stop-logging","recipientAccountId":"111122223333","readOnly":false}]}`, now))
	e.wait(t, "the feed warning in #secops", func() bool {
		for _, m := range topLevel(e.emu.Messages(e.secops)) {
			if strings.Contains(m.Text, "CloudTrail logging was stopped in account 111122223333 in eu-west-1") {
				return true
			}
		}
		return false
	})
}
