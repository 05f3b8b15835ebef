package slackemu_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

// rawConn is a Socket Mode connection without slack-go, to see exactly
// what the emulator writes and to answer (or not) by hand.
type rawConn struct {
	ws *websocket.Conn
}

func dialRaw(t *testing.T, srv *slackemu.Server) *rawConn {
	t.Helper()
	form := url.Values{"token": {srv.Options().AppToken}}
	resp, err := http.PostForm(srv.APIURL()+"apps.connections.open", form)
	if err != nil {
		t.Fatal(err)
	}
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	if err := decodeJSON(resp, &open); err != nil || !open.OK {
		t.Fatalf("apps.connections.open: %+v, %v", open, err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(open.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &rawConn{ws: ws}
	if hello := c.read(t); hello["type"] != "hello" {
		t.Fatalf("first message = %v, want hello", hello)
	}
	return c
}

func (c *rawConn) read(t *testing.T) map[string]any {
	t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return m
}

func (c *rawConn) ack(t *testing.T, envelopeID string) {
	t.Helper()
	if err := c.ws.WriteJSON(map[string]any{"envelope_id": envelopeID}); err != nil {
		t.Fatal(err)
	}
}

func TestDisconnectSendsRefreshRequested(t *testing.T) {
	srv := newServer(t, slackemu.Options{DisconnectGrace: 200 * time.Millisecond})
	c := dialRaw(t, srv)
	if err := srv.Wait(testCtx(t), func() bool { return len(srv.Connections()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if n := srv.DisconnectCount(); n != 1 {
		t.Fatalf("disconnect sent to %d connections, want 1", n)
	}
	msg := c.read(t)
	if msg["type"] != "disconnect" || msg["reason"] != "refresh_requested" {
		t.Errorf("disconnect message = %v, want type disconnect, reason refresh_requested", msg)
	}
	// A client that does not leave is closed after the grace period.
	start := time.Now()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ws.ReadMessage(); err == nil {
		t.Fatal("connection still open after the grace period")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("closed after %v, want about the 200ms grace", waited)
	}
	if n := srv.DisconnectCount(); n != 0 {
		t.Errorf("a second disconnect found %d connections to tell, want 0", n)
	}
}

func TestAckOnAnotherConnectionIsTimed(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	first := dialRaw(t, srv)
	second := dialRaw(t, srv)
	ctx := testCtx(t)

	type result struct {
		ack slackemu.Ack
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", UserID: "U1", ChannelID: ch})
		done <- result{a, err}
	}()
	// Round robin hands the first envelope to the first connection; the
	// client answers on the second, as slack-go does after a reconnect.
	env := first.read(t)
	id, _ := env["envelope_id"].(string)
	time.Sleep(50 * time.Millisecond)
	second.ack(t, id)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.ack.ConnID != 2 || r.ack.Latency < 50*time.Millisecond || r.ack.Latency > 2*time.Second {
		t.Errorf("ack = %+v, want it on connection 2, timed from the delivery on connection 1", r.ack)
	}
	d := srv.Envelopes()[0].Deliveries
	if len(d) != 1 || d[0].ConnID != 1 || d[0].AckLatency != r.ack.Latency {
		t.Errorf("deliveries = %+v", d)
	}
}

func TestRedeliverUnderTheSameEnvelopeID(t *testing.T) {
	tests := []struct {
		name string
		// ackRetries is whether the bot acknowledges a redelivery.
		ackRetries bool
		wantErr    error
	}{
		{name: "bot acknowledges the redelivery and acts once", ackRetries: true},
		{name: "bot ignores the redelivery", wantErr: slackemu.ErrAckTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, slackemu.Options{AckTimeout: 300 * time.Millisecond})
			ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
			var mu sync.Mutex
			seen := map[string][]int{} // envelope_id → retry_attempt of each delivery
			acted := 0
			startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
				if evt.Type != socketmode.EventTypeSlashCommand {
					return
				}
				mu.Lock()
				first := len(seen[evt.Request.EnvelopeID]) == 0
				seen[evt.Request.EnvelopeID] = append(seen[evt.Request.EnvelopeID], evt.Request.RetryAttempt)
				if first {
					acted++
				}
				mu.Unlock()
				if first || tc.ackRetries {
					ack(c, evt)
				}
			})
			ctx := testCtx(t)
			a, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", UserID: "U1", ChannelID: ch})
			if err != nil {
				t.Fatal(err)
			}
			d, err := srv.Redeliver(ctx, a.EnvelopeID)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("redeliver error = %v, want %v", err, tc.wantErr)
			}
			mu.Lock()
			got := seen[a.EnvelopeID]
			mu.Unlock()
			if len(got) != 2 || got[0] != 0 || got[1] != 1 || len(seen) != 1 || acted != 1 {
				t.Errorf("bot saw %v (acted %d times), want envelope %s twice, retry_attempt 0 then 1", seen, acted, a.EnvelopeID)
			}
			env := srv.Envelopes()[0]
			if len(env.Deliveries) != 2 || env.Ack == nil || env.Ack.RetryAttempt != 0 {
				t.Fatalf("envelope record = %+v", env)
			}
			if tc.ackRetries {
				if d.RetryAttempt != 1 || d.AckLatency <= 0 || d.AckLatency > time.Second || env.ExtraAcks != 1 || env.Deliveries[1].AckedAt.IsZero() {
					t.Errorf("redelivery = %+v, extra acks %d; want it acknowledged once more", d, env.ExtraAcks)
				}
			} else if !env.Deliveries[1].AckedAt.IsZero() || env.ExtraAcks != 0 {
				t.Errorf("redelivery recorded as acknowledged: %+v", env)
			}
		})
	}
	t.Run("unknown envelope", func(t *testing.T) {
		srv := newServer(t, slackemu.Options{})
		if _, err := srv.Redeliver(testCtx(t), "nope"); !errors.Is(err, slackemu.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
}

// TestStalledSocket: a half-open socket tells the client nothing; slack-go
// notices only by its ping timeout and reconnects, and no envelope is lost
// to the dead socket in the meantime.
func TestStalledSocket(t *testing.T) {
	const clientPingTimeout = 400 * time.Millisecond
	srv := newServer(t, slackemu.Options{PingInterval: 40 * time.Millisecond})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			ack(c, evt)
		}
	}, socketmode.OptionPingInterval(clientPingTimeout))
	ctx := testCtx(t)
	if err := srv.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(ctx, func() bool { c := srv.Connections(); return len(c) == 1 && c[0].Pongs > 0 }); err != nil {
		t.Fatal(err)
	}
	stalledAt := time.Now()
	if n := srv.Stall(); n != 1 {
		t.Fatalf("stalled %d connections, want 1", n)
	}
	pongs := srv.Connections()[0].Pongs
	if n := srv.DisconnectCount(); n != 0 {
		t.Errorf("a disconnect message was sent on a half-open socket")
	}

	// Sent while the only socket is dead: it waits for the next one.
	a, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", UserID: "U1", ChannelID: ch})
	if err != nil {
		t.Fatal(err)
	}
	reconnected := time.Since(stalledAt)
	if a.ConnID != 2 || a.Latency > time.Second {
		t.Errorf("ack = %+v, want it from the new connection 2, promptly", a)
	}
	if reconnected < clientPingTimeout {
		t.Errorf("client reconnected after %v, before its ping timeout: it was told something", reconnected)
	}
	if n := len(srv.CallsTo("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", n)
	}
	for _, c := range srv.Connections() {
		if c.ID == 1 && (!c.Stalled || c.Pongs != pongs) {
			t.Errorf("stalled connection = %+v, want no pong counted after the stall (%d)", c, pongs)
		}
	}
	if env := srv.Envelopes()[0]; len(env.Deliveries) != 1 || env.Deliveries[0].ConnID != 2 {
		t.Errorf("deliveries = %+v, want one, to connection 2", env.Deliveries)
	}
}

func TestRateLimitWindowAndHTTPFailures(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)
	_, ts, err := api.PostMessage(ch, slack.MsgOptionText("v1", false))
	if err != nil {
		t.Fatal(err)
	}

	srv.RateLimitFor("chat.update", 1500*time.Millisecond)
	for i, want := range []time.Duration{2 * time.Second, time.Second} {
		_, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("v2", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != want {
			t.Fatalf("update %d in the window: %v, want Retry-After %v", i, err, want)
		}
		time.Sleep(700 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if _, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("v2", false)); err != nil {
		t.Fatalf("update after the window: %v", err)
	}

	srv.FailHTTPFor("chat.update", 300*time.Millisecond, http.StatusInternalServerError, "internal_error")
	_, _, _, err = api.UpdateMessage(ch, ts, slack.MsgOptionText("v3", false))
	var se slack.StatusCodeError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError {
		t.Fatalf("update in the outage: %v, want HTTP 500", err)
	}
	if m, _ := srv.Message(ch, ts); m.Text != "v2" || len(m.Edits) != 1 {
		t.Errorf("message = %q with %d edits, want only the edit made outside the faults", m.Text, len(m.Edits))
	}
	var statuses []string
	for _, c := range srv.CallsTo("chat.update") {
		statuses = append(statuses, http.StatusText(c.Status))
	}
	if got := strings.Join(statuses, ","); got != "Too Many Requests,Too Many Requests,OK,Internal Server Error" {
		t.Errorf("chat.update statuses = %s", got)
	}
}
