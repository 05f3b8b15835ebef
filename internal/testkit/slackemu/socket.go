package slackemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Envelope types Slack sends over Socket Mode.
const (
	EnvelopeSlashCommands = "slash_commands"
	EnvelopeInteractive   = "interactive"
	EnvelopeEventsAPI     = "events_api"
)

const writeTimeout = 5 * time.Second

// Delivery is one attempt at handing an envelope to a connection.
type Delivery struct {
	ConnID       int
	RetryAttempt int
	SentAt       time.Time
	// AckedAt is when an ack answering this delivery arrived, zero while
	// none did; AckLatency is the time from SentAt to it. An ack names only
	// the envelope, so it is credited to the newest unanswered delivery on
	// the connection it came from, or else to the newest unanswered one.
	AckedAt    time.Time
	AckLatency time.Duration
}

// Ack is the bot's acknowledgement of an envelope.
type Ack struct {
	EnvelopeID string
	Type       string
	// Payload is the ack's payload, nil when the bot sent none.
	Payload json.RawMessage
	// RetryAttempt is the attempt the ack answered, and Latency the time
	// from sending that attempt to receiving the ack.
	RetryAttempt int
	Latency      time.Duration
	At           time.Time
	ConnID       int
	// Late is set when the ack came after Slack had given up on the
	// envelope; Slack ignores such acks.
	Late bool
}

// EnvelopeRecord is an envelope the emulator sent and what became of it.
type EnvelopeRecord struct {
	ID         string
	Type       string
	Payload    json.RawMessage
	Deliveries []Delivery
	// Ack is the first ack received, nil while unacknowledged.
	Ack *Ack
	// ExtraAcks counts acks received after the first.
	ExtraAcks int
}

type envelope struct {
	EnvelopeRecord
	acked   chan struct{}
	expired bool
	// onAck applies what Slack does with an ack payload (a slash command
	// reply, a view response_action). It runs under s.mu.
	onAck func(Ack)
}

// ConnInfo describes one Socket Mode connection.
type ConnInfo struct {
	ID       int
	OpenedAt time.Time
	// Draining is set once the connection was sent a disconnect message.
	Draining bool
	// Pongs counts answers to the emulator's WebSocket pings.
	Pongs int
	// Stalled is set once the connection went half-open (see Stall).
	Stalled bool
	// RemoteAddr is the client's end of the connection.
	RemoteAddr string
}

type wsConn struct {
	id       int
	ws       *websocket.Conn
	wmu      sync.Mutex
	openedAt time.Time
	gone     chan struct{} // closed when the read loop ends

	// Guarded by Server.mu.
	ready    bool
	draining bool
	pongs    int
	// stalled connections are half-open: nothing is sent on them and
	// whatever arrives is dropped unread.
	stalled bool
	// dropped connections were closed by DropConnections; Slack knows its
	// own socket is gone even before the read loop notices.
	dropped bool
}

// usable reports whether envelopes may be routed to the connection. The
// caller holds Server.mu.
func (c *wsConn) usable() bool { return c.ready && !c.draining && !c.stalled && !c.dropped }

func (c *wsConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("write to connection %d: %w", c.id, err)
	}
	return nil
}

// serveLink is the WebSocket endpoint that apps.connections.open hands out.
// Each ticket opens one connection.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	used, ok := s.tickets[ticket]
	if s.closed || !ok || used {
		s.mu.Unlock()
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	s.tickets[ticket] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.connsOpened++
	c := &wsConn{id: s.connsOpened, ws: ws, openedAt: now, gone: make(chan struct{})}
	s.conns[c.id] = c
	active := 0
	for _, other := range s.conns {
		if !other.draining {
			active++
		}
	}
	s.mu.Unlock()

	defer func() {
		close(c.gone)
		_ = ws.Close()
		s.mu.Lock()
		delete(s.conns, c.id)
		s.notifyLocked()
		s.mu.Unlock()
	}()

	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": active,
		"connection_info": map[string]any{"app_id": s.opts.AppID},
		"debug_info": map[string]any{
			"host":                        fmt.Sprintf("applink-emulator-%d", c.id),
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
	})
	if err := c.write(hello); err != nil {
		return
	}
	ws.SetPongHandler(func(string) error {
		s.mu.Lock()
		if !c.stalled {
			c.pongs++
			s.notifyLocked()
		}
		s.mu.Unlock()
		return nil
	})
	s.mu.Lock()
	c.ready = true
	s.notifyLocked()
	s.mu.Unlock()

	stop := make(chan struct{})
	defer close(stop)
	s.wg.Add(1)
	go s.ping(c, stop)

	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		stalled := c.stalled
		s.mu.Unlock()
		if stalled {
			// A half-open socket: the bytes never reach Slack.
			continue
		}
		s.handleAck(c, data, time.Now())
	}
}

// ping keeps the connection alive the way Slack does; slack-go reconnects
// when it hears no ping for 30 seconds.
func (s *Server) ping(c *wsConn, stop <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			stalled := c.stalled
			s.mu.Unlock()
			if stalled {
				continue
			}
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(writeTimeout)); err != nil {
				return
			}
		}
	}
}

func (s *Server) handleAck(c *wsConn, data []byte, now time.Time) {
	var msg struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return
	}
	ack := Ack{EnvelopeID: msg.EnvelopeID, At: now, ConnID: c.id}
	if len(msg.Payload) > 0 && string(msg.Payload) != "null" {
		ack.Payload = msg.Payload
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	env, ok := s.envelopes[msg.EnvelopeID]
	if !ok {
		s.strayAcks = append(s.strayAcks, ack)
		return
	}
	if d := answeredDelivery(env.Deliveries, c.id); d != nil {
		d.AckedAt, d.AckLatency = now, now.Sub(d.SentAt)
		ack.RetryAttempt, ack.Latency = d.RetryAttempt, d.AckLatency
	}
	if env.Ack != nil {
		env.ExtraAcks++
		return
	}
	ack.Type = env.Type
	ack.Late = env.expired
	env.Ack = &ack
	close(env.acked)
	if env.onAck != nil && !ack.Late {
		env.onAck(ack)
	}
}

// answeredDelivery picks the delivery an ack from connection connID
// answers: the newest unanswered one sent on that connection, else (the
// client reconnected between receiving and acknowledging) the newest
// unanswered one. Newest, because an earlier attempt that got no ack was
// most likely lost.
func answeredDelivery(ds []Delivery, connID int) *Delivery {
	var newest *Delivery
	for i := len(ds) - 1; i >= 0; i-- {
		if !ds[i].AckedAt.IsZero() {
			continue
		}
		if ds[i].ConnID == connID {
			return &ds[i]
		}
		if newest == nil {
			newest = &ds[i]
		}
	}
	return newest
}

// SendEnvelope delivers an envelope of any type with payload (marshalled to
// JSON unless it already is json.RawMessage) and waits for its ack. It
// waits for a connection if none is open. Envelopes of the types in
// Options.RetryTypes are redelivered, possibly to another connection, with
// retry_attempt increased, each time the ack timeout passes; the others
// fail with ErrAckTimeout after one timeout.
func (s *Server) SendEnvelope(ctx context.Context, typ string, payload any) (Ack, error) {
	return s.send(ctx, typ, payload, nil)
}

func (s *Server) send(ctx context.Context, typ string, payload any, onAck func(Ack)) (Ack, error) {
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return Ack{}, fmt.Errorf("encode %s payload: %w", typ, err)
		}
	}
	s.mu.Lock()
	env := &envelope{
		EnvelopeRecord: EnvelopeRecord{ID: fmt.Sprintf("%s-%s", randomHex(4), randomHex(8)), Type: typ, Payload: raw},
		acked:          make(chan struct{}),
		onAck:          onAck,
	}
	s.envelopes[env.ID] = env
	s.envOrder = append(s.envOrder, env.ID)
	s.mu.Unlock()

	attempts := 1
	if slices.Contains(s.opts.RetryTypes, typ) {
		attempts += s.opts.MaxRetries
	}
	for attempt := 0; attempt < attempts; attempt++ {
		c, err := s.pickConn(ctx)
		if err != nil {
			return Ack{}, fmt.Errorf("deliver %s envelope %s: %w", typ, env.ID, err)
		}
		reason := ""
		if attempt > 0 {
			reason = "timeout"
		}
		wire, err := wireEnvelope(env.ID, typ, attempt, reason, raw)
		if err != nil {
			return Ack{}, fmt.Errorf("encode envelope %s: %w", env.ID, err)
		}
		s.mu.Lock()
		env.Deliveries = append(env.Deliveries, Delivery{ConnID: c.id, RetryAttempt: attempt, SentAt: time.Now()})
		s.notifyLocked()
		s.mu.Unlock()
		// A failed write is a lost delivery, the same as a socket that
		// died in flight: the ack timeout decides what happens next.
		_ = c.write(wire)

		timer := time.NewTimer(s.opts.AckTimeout)
		select {
		case <-env.acked:
			timer.Stop()
			return s.ackOf(env), nil
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return Ack{}, fmt.Errorf("wait for ack of %s envelope %s: %w", typ, env.ID, ctx.Err())
		case <-s.done:
			timer.Stop()
			return Ack{}, ErrClosed
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if env.Ack != nil {
		return *env.Ack, nil
	}
	env.expired = true
	return Ack{}, fmt.Errorf("%s envelope %s after %d attempt(s): %w", typ, env.ID, attempts, ErrAckTimeout)
}

func wireEnvelope(id, typ string, attempt int, reason string, payload json.RawMessage) ([]byte, error) {
	return json.Marshal(map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"accepts_response_payload": typ != EnvelopeEventsAPI,
		"retry_attempt":            attempt,
		"retry_reason":             reason,
		"payload":                  payload,
	})
}

// Redeliver sends an envelope that was already sent once more, under the
// same envelope_id and payload with retry_attempt increased, as Slack does
// when an ack did not reach it in time (an ack lost with a dropped socket,
// or one that arrived just after Slack's timeout). It does so whether or
// not the envelope was acknowledged, and waits for an ack to this delivery
// for the ack timeout. The bot must acknowledge it again and act on it at
// most once.
func (s *Server) Redeliver(ctx context.Context, envelopeID string) (Delivery, error) {
	s.mu.Lock()
	env, ok := s.envelopes[envelopeID]
	s.mu.Unlock()
	if !ok {
		return Delivery{}, fmt.Errorf("redeliver envelope %s: %w", envelopeID, ErrNotFound)
	}
	c, err := s.pickConn(ctx)
	if err != nil {
		return Delivery{}, fmt.Errorf("redeliver envelope %s: %w", envelopeID, err)
	}
	s.mu.Lock()
	idx := len(env.Deliveries)
	wire, err := wireEnvelope(env.ID, env.Type, idx, "timeout", env.Payload)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("encode envelope %s: %w", env.ID, err)
	}
	env.Deliveries = append(env.Deliveries, Delivery{ConnID: c.id, RetryAttempt: idx, SentAt: time.Now()})
	s.notifyLocked()
	s.mu.Unlock()
	_ = c.write(wire)

	wctx, cancel := context.WithTimeout(ctx, s.opts.AckTimeout)
	defer cancel()
	var d Delivery
	err = s.Wait(wctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		d = env.Deliveries[idx]
		return !d.AckedAt.IsZero()
	})
	switch {
	case err == nil:
		return d, nil
	case ctx.Err() != nil || errors.Is(err, ErrClosed):
		return d, fmt.Errorf("redeliver envelope %s: %w", env.ID, err)
	default:
		return d, fmt.Errorf("redelivery %d of envelope %s: %w", idx, env.ID, ErrAckTimeout)
	}
}

func (s *Server) ackOf(env *envelope) Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *env.Ack
}

// pickConn returns a greeted connection that is not draining, spreading
// envelopes across connections as Slack does, and waits for one if needed.
func (s *Server) pickConn(ctx context.Context) (*wsConn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		var ready []*wsConn
		for _, c := range s.conns {
			if c.usable() {
				ready = append(ready, c)
			}
		}
		if len(ready) > 0 {
			sort.Slice(ready, func(i, j int) bool { return ready[i].id < ready[j].id })
			c := ready[s.rr%len(ready)]
			s.rr++
			s.mu.Unlock()
			return c, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a socket mode connection: %w", ctx.Err())
		case <-s.done:
			return nil, ErrClosed
		}
	}
}

// Disconnect asks every connection to reconnect, as Slack does before it
// recycles a server: it sends {"type":"disconnect","reason":
// "refresh_requested"}, stops routing envelopes to those connections and
// closes them after the grace period unless the client does first.
func (s *Server) Disconnect() {
	s.DisconnectCount()
}

// DisconnectCount is Disconnect, and says how many connections were sent
// the disconnect message (a half-open connection cannot be told anything).
func (s *Server) DisconnectCount() int {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0
	}
	var targets []*wsConn
	for _, c := range s.conns {
		if c.usable() {
			c.draining = true
			targets = append(targets, c)
		}
	}
	s.wg.Add(len(targets))
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range targets {
		msg, _ := json.Marshal(map[string]any{
			"type":       "disconnect",
			"reason":     "refresh_requested",
			"debug_info": map[string]any{"host": fmt.Sprintf("applink-emulator-%d", c.id)},
		})
		_ = c.write(msg)
		go func(c *wsConn) {
			defer s.wg.Done()
			t := time.NewTimer(s.opts.DisconnectGrace)
			defer t.Stop()
			select {
			case <-t.C:
			case <-c.gone:
			case <-s.done:
			}
			_ = c.ws.Close()
		}(c)
	}
	return len(targets)
}

// DropConnections closes every socket without a close frame, like a
// network failure.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		// Marked before the close, so that no envelope is routed to a
		// socket in the moment before its read loop ends.
		c.dropped = true
		conns = append(conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.NetConn().Close()
	}
}

// Stall makes every open connection half-open, as when a NAT or load
// balancer forgets the flow: the TCP connection stays up, but the emulator
// stops sending pings and drops whatever the client sends (acks, pongs)
// unread, so the client is told nothing and must notice by its own ping
// timeout (slack-go: no ping for its ping interval, 30 s by default). Slack
// notices the missing pongs on its side and routes no envelope there, so
// envelopes wait for the client's next connection. It returns how many
// connections went half-open.
func (s *Server) Stall() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		if c.ready && !c.stalled {
			c.stalled = true
			n++
		}
	}
	s.notifyLocked()
	return n
}

// Connections describes the open Socket Mode connections.
func (s *Server) Connections() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ConnInfo
	for _, c := range s.conns {
		if c.ready {
			out = append(out, ConnInfo{ID: c.id, OpenedAt: c.openedAt, Draining: c.draining, Pongs: c.pongs, Stalled: c.stalled, RemoteAddr: c.ws.RemoteAddr().String()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ConnectionsOpened counts every connection accepted since Start.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connsOpened
}

// WaitConnected waits until at least n connections have been accepted in
// total and one of them is greeted, not draining and not stalled, so that
// envelopes can be delivered.
func (s *Server) WaitConnected(ctx context.Context, n int) error {
	return s.Wait(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.connsOpened < n {
			return false
		}
		for _, c := range s.conns {
			if c.usable() {
				return true
			}
		}
		return false
	})
}

// Envelopes returns every envelope sent, in order.
func (s *Server) Envelopes() []EnvelopeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EnvelopeRecord, 0, len(s.envOrder))
	for _, id := range s.envOrder {
		rec := s.envelopes[id].EnvelopeRecord
		rec.Deliveries = append([]Delivery(nil), rec.Deliveries...)
		if rec.Ack != nil {
			a := *rec.Ack
			rec.Ack = &a
		}
		out = append(out, rec)
	}
	return out
}

// StrayAcks returns acks for envelope IDs the emulator never sent.
func (s *Server) StrayAcks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.strayAcks...)
}
