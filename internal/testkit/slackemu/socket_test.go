package slackemu_test

import (
	"context"
	"errors"
	"io"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

// startBot runs a real slack-go Socket Mode client against the emulator
// and hands every event to handle, from a single goroutine, until the test
// ends.
func startBot(t *testing.T, srv *slackemu.Server, handle func(*socketmode.Client, socketmode.Event), opts ...socketmode.Option) *socketmode.Client {
	t.Helper()
	opts = append([]socketmode.Option{socketmode.OptionLog(log.New(io.Discard, "", 0))}, opts...)
	client := socketmode.New(newAPI(srv), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = client.RunContext(ctx)
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case evt := <-client.Events:
				handle(client, evt)
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return client
}

func ack(c *socketmode.Client, evt socketmode.Event, payload ...any) {
	if evt.Request == nil {
		return
	}
	if len(payload) > 0 {
		c.Ack(*evt.Request, payload[0])
		return
	}
	c.Ack(*evt.Request)
}

func TestSlashCommandOverSocketMode(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	srv.PutUser(slackemu.User{ID: "U1", Name: "alice"})

	hellos := make(chan *socketmode.Request, 4)
	commands := make(chan slack.SlashCommand, 4)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeHello:
			hellos <- evt.Request
		case socketmode.EventTypeSlashCommand:
			commands <- evt.Data.(slack.SlashCommand)
			ack(c, evt, map[string]any{"text": "Investigating BackupManager…"})
		}
	})
	ctx := testCtx(t)

	select {
	case hello := <-hellos:
		if hello.ConnectionInfo.AppID != srv.Options().AppID || hello.NumConnections != 1 || hello.DebugInfo.Host == "" {
			t.Errorf("hello = %+v", hello)
		}
	case <-ctx.Done():
		t.Fatal("no hello received")
	}

	got, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{
		Command: "/secops", Text: "investigate BackupManager", UserID: "U1", ChannelID: ch,
	})
	if err != nil {
		t.Fatalf("send slash command: %v", err)
	}
	if got.Type != slackemu.EnvelopeSlashCommands || got.RetryAttempt != 0 || got.Latency <= 0 || got.Latency > time.Second {
		t.Errorf("ack = %+v", got)
	}
	if !strings.Contains(string(got.Payload), "Investigating BackupManager") {
		t.Errorf("ack payload = %s", got.Payload)
	}

	cmd := <-commands
	if cmd.Command != "/secops" || cmd.Text != "investigate BackupManager" || cmd.UserID != "U1" || cmd.UserName != "alice" ||
		cmd.TeamID != srv.Options().TeamID || cmd.ChannelID != ch || cmd.ChannelName != "secops" || cmd.TriggerID == "" ||
		!strings.HasPrefix(cmd.ResponseURL, srv.URL()) || cmd.APIAppID != srv.Options().AppID {
		t.Errorf("command the bot saw = %+v", cmd)
	}

	// Slack shows the ack's text to the user who ran the command.
	if e := srv.Ephemerals(); len(e) != 1 || e[0].User != "U1" || e[0].Via != "ack" || e[0].Text != "Investigating BackupManager…" {
		t.Errorf("ephemerals = %+v", e)
	}
	envs := srv.Envelopes()
	if len(envs) != 1 || len(envs[0].Deliveries) != 1 || envs[0].Ack == nil {
		t.Errorf("envelopes = %+v", envs)
	}
}

func TestPingsKeepTheClientConnected(t *testing.T) {
	srv := newServer(t, slackemu.Options{PingInterval: 30 * time.Millisecond})
	// The client gives up on a connection that hears no ping for 300ms.
	startBot(t, srv, func(*socketmode.Client, socketmode.Event) {}, socketmode.OptionPingInterval(300*time.Millisecond))
	ctx := testCtx(t)
	if err := srv.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	conns := srv.Connections()
	if len(conns) != 1 || conns[0].Pongs < 5 {
		t.Errorf("connections = %+v, want one connection answering pings", conns)
	}
	if n := srv.ConnectionsOpened(); n != 1 {
		t.Errorf("client reconnected %d times despite pings", n-1)
	}
}

// startCommandBot starts an emulator with a #secops channel and a client
// that acknowledges slash commands, and returns the server and channel ID.
func startCommandBot(t *testing.T) (*slackemu.Server, string) {
	t.Helper()
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			ack(c, evt)
		}
	})
	return srv, ch
}

func TestReconnects(t *testing.T) {
	tests := []struct {
		name  string
		cause func(*slackemu.Server)
	}{
		{"disconnect message", (*slackemu.Server).Disconnect},
		{"dropped socket", (*slackemu.Server).DropConnections},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, ch := startCommandBot(t)
			ctx := testCtx(t)
			if err := srv.WaitConnected(ctx, 1); err != nil {
				t.Fatal(err)
			}
			tc.cause(srv)
			if err := srv.WaitConnected(ctx, 2); err != nil {
				t.Fatalf("client did not reconnect: %v", err)
			}
			if n := len(srv.CallsTo("apps.connections.open")); n != 2 {
				t.Errorf("apps.connections.open called %d times, want 2", n)
			}
			a, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "help", UserID: "U1", ChannelID: ch})
			if err != nil {
				t.Fatalf("command after reconnect: %v", err)
			}
			if a.ConnID != 2 {
				t.Errorf("command acked on connection %d, want the new connection 2", a.ConnID)
			}
		})
	}
}

// TestDroppedSocketGetsNoEnvelope sends a command the instant the socket is
// dropped: Slack knows its own socket is closed, so the command waits for
// the client's next connection instead of vanishing into the dead one.
func TestDroppedSocketGetsNoEnvelope(t *testing.T) {
	srv, ch := startCommandBot(t)
	ctx := testCtx(t)
	for round := 1; round <= 5; round++ {
		if err := srv.WaitConnected(ctx, round); err != nil {
			t.Fatal(err)
		}
		srv.DropConnections()
		a, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "help", UserID: "U1", ChannelID: ch})
		if err != nil {
			t.Fatalf("round %d: command sent as the socket dropped: %v", round, err)
		}
		if a.ConnID != round+1 {
			t.Errorf("round %d: command acked on connection %d, want the new connection %d", round, a.ConnID, round+1)
		}
	}
	for _, env := range srv.Envelopes() {
		for _, d := range env.Deliveries {
			if d.AckedAt.IsZero() {
				t.Errorf("envelope %s delivered to connection %d and never acknowledged", env.ID, d.ConnID)
			}
		}
	}
}

func TestUnackedEventIsRedelivered(t *testing.T) {
	srv := newServer(t, slackemu.Options{AckTimeout: 200 * time.Millisecond})
	type seen struct {
		attempt int
		reason  string
		eventID string
	}
	deliveries := make(chan seen, 8)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type != socketmode.EventTypeEventsAPI {
			return
		}
		outer := evt.Data.(slackevents.EventsAPIEvent)
		cb := outer.Data.(*slackevents.EventsAPICallbackEvent)
		deliveries <- seen{evt.Request.RetryAttempt, evt.Request.RetryReason, cb.EventID}
		// Drop the first delivery on the floor, as a busy bot would.
		if evt.Request.RetryAttempt > 0 {
			ack(c, evt)
		}
	})
	ctx := testCtx(t)

	got, eventID, err := srv.SendEvent(ctx, map[string]any{
		"type": "app_mention", "user": "U1", "text": "<@U0EMUBOT1> findings", "ts": "1.000001", "channel": "C1", "event_ts": "1.000001",
	})
	if err != nil {
		t.Fatalf("send event: %v", err)
	}
	if got.RetryAttempt != 1 {
		t.Errorf("ack answered attempt %d, want 1", got.RetryAttempt)
	}
	first, second := <-deliveries, <-deliveries
	if first.attempt != 0 || first.reason != "" || second.attempt != 1 || second.reason != "timeout" {
		t.Errorf("deliveries = %+v, %+v", first, second)
	}
	if first.eventID != eventID || second.eventID != eventID {
		t.Errorf("event IDs %q, %q; want both %q so the bot can deduplicate", first.eventID, second.eventID, eventID)
	}
	env := srv.Envelopes()[0]
	if len(env.Deliveries) != 2 || env.Deliveries[1].SentAt.Sub(env.Deliveries[0].SentAt) < 200*time.Millisecond {
		t.Errorf("deliveries = %+v, want two, an ack timeout apart", env.Deliveries)
	}
}

func TestUnackedSlashCommandTimesOut(t *testing.T) {
	srv := newServer(t, slackemu.Options{AckTimeout: 150 * time.Millisecond})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	startBot(t, srv, func(*socketmode.Client, socketmode.Event) {})
	ctx := testCtx(t)

	_, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", UserID: "U1", ChannelID: ch})
	if !errors.Is(err, slackemu.ErrAckTimeout) {
		t.Fatalf("error = %v, want ErrAckTimeout", err)
	}
	if env := srv.Envelopes()[0]; len(env.Deliveries) != 1 {
		t.Errorf("slash command delivered %d times; Slack does not retry commands", len(env.Deliveries))
	}
}

func TestEnvelopesAreSpreadOverConnections(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	var mu sync.Mutex
	counts := map[string]int{}
	for _, name := range []string{"replica-a", "replica-b"} {
		startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
			if evt.Type == socketmode.EventTypeSlashCommand {
				mu.Lock()
				counts[name]++
				mu.Unlock()
				ack(c, evt)
			}
		})
	}
	ctx := testCtx(t)
	if err := srv.Wait(ctx, func() bool { return len(srv.Connections()) == 2 }); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", UserID: "U1", ChannelID: ch}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if counts["replica-a"] != 2 || counts["replica-b"] != 2 {
		t.Errorf("commands per replica = %v, want each envelope to exactly one replica, spread 2/2", counts)
	}
}
