package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// syncBuffer is a log sink safe for the bot's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverLeak runs the bot at debug level through a finding, a
// refused and an allowed button press, tickets with a Jira outage and a 401,
// then scans the logs, every Slack payload, the tickets and the audit log
// for the tokens: none may appear.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		appToken  = "xapp-1-A0SECRETAPP-9876543210-deadbeefcafef00d"
		botToken  = "xoxb-1234-5678-SECRETBOTTOKEN"
		jiraToken = "ATATT3xSECRETJIRATOKENvalue"
	)
	e := newSlackEnvTokens(t, appToken, botToken)
	jf := jirafake.New(jirafake.Options{Token: jiraToken})
	t.Cleanup(jf.Close)
	e.cfg.Jira.Enabled, e.cfg.Jira.BaseURL, e.cfg.Jira.Email, e.cfg.Jira.APIToken = true, jf.URL, "bot@example.com", jiraToken
	jf.FailNext(2, 401, 0)

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: zerolog.New(&logs).Level(zerolog.DebugLevel), Ready: ready})
	}()
	<-ready
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding", func() bool { return len(topLevel(e.emu.Messages(e.secops))) == 1 })
	msg := topLevel(e.emu.Messages(e.secops))[0]
	for _, u := range []string{outsider, responder} {
		if _, err := e.emu.ClickButton(context.Background(), slackemu.BlockAction{UserID: u, ChannelID: e.secops, MessageTS: msg.TS, ActionID: "finding.ack"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(jf.Issues()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(jf.Issues()) == 0 {
		t.Fatal("no ticket was created")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var corpus strings.Builder
	corpus.WriteString(logs.String())
	for _, c := range e.emu.Calls() {
		fmt.Fprintf(&corpus, "%s %v\n", c.Method, c.Params)
	}
	for _, ep := range e.emu.Ephemerals() {
		corpus.WriteString(ep.Text + string(ep.Blocks))
	}
	for _, is := range jf.Issues() {
		fmt.Fprintf(&corpus, "%v %v\n", is.Description, is.Comments)
	}
	st, err := sqlite.Open(context.Background(), e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		fmt.Fprintf(&corpus, "%+v %s\n", r, r.Detail)
	}
	if len(recs) == 0 || !strings.Contains(logs.String(), "finding") {
		t.Fatalf("nothing to scan: %d audit records, %d bytes of logs", len(recs), len(logs.String()))
	}
	basic := base64.StdEncoding.EncodeToString([]byte("bot@example.com:" + jiraToken))
	for name, secret := range map[string]string{"app token": appToken, "bot token": botToken, "jira token": jiraToken, "jira basic auth": basic, "bot token body": "SECRETBOTTOKEN"} {
		if strings.Contains(corpus.String(), secret) {
			t.Errorf("the %s appears in logs, Slack payloads, tickets or the audit log", name)
		}
	}
}
