// Package slackemu is an in-process Slack workspace for tests: a Web API over
// HTTP and a Socket Mode endpoint over WebSocket that speak the same wire
// format as Slack, so the real slack-go client can be pointed at it.
//
// slack-go's own slacktest server speaks the retired RTM protocol and hands
// out the same message timestamp twice within a second; the bot relies on
// Socket Mode envelopes, acknowledgements, redelivery, threads, in-place
// edits, modals and rate limits, so this emulator models those faithfully and
// records everything the bot does for assertions.
package slackemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Errors returned by the helpers that drive the bot.
var (
	// ErrAckTimeout means the bot did not acknowledge an envelope within
	// the ack timeout on any attempt; for a slash command or an interaction
	// a user would have seen "operation_timeout".
	ErrAckTimeout = errors.New("envelope not acknowledged in time")
	// ErrClosed means the emulator was closed while a helper was waiting.
	ErrClosed = errors.New("slack emulator closed")
	// ErrNotFound means a helper was asked about a message, view or action
	// that the emulator does not hold.
	ErrNotFound = errors.New("not found")
)

// Options configures a Server. Zero values get workable defaults.
type Options struct {
	TeamID     string
	TeamDomain string
	AppID      string
	BotUserID  string
	BotID      string
	BotToken   string
	AppToken   string

	// PingInterval is how often WebSocket pings are sent (default 5s).
	PingInterval time.Duration
	// AckTimeout is how long an envelope may stay unacknowledged before
	// Slack gives up on it or redelivers it (default 3s).
	AckTimeout time.Duration
	// MaxRetries is how many times an unacknowledged envelope of a
	// retried type is delivered again (default 3).
	MaxRetries int
	// RetryTypes lists the envelope types that are redelivered when not
	// acknowledged. Slack retries Events API envelopes only (the default
	// when nil); a user who runs a slash command that is not acknowledged
	// just sees an error. An empty, non-nil slice turns retries off.
	RetryTypes []string
	// TriggerTTL is how long a trigger_id can be exchanged (default 3s).
	TriggerTTL time.Duration
	// DisconnectGrace is how long a connection that was sent a disconnect
	// message stays open before the server closes it (default 2s).
	DisconnectGrace time.Duration
	// FreePlan makes the usergroups methods answer plan_upgrade_required,
	// as Slack does for workspaces on the free plan.
	FreePlan bool
}

func (o Options) withDefaults() Options {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.TeamID, "T0EMU0001")
	def(&o.TeamDomain, "emulator")
	def(&o.AppID, "A0EMU0001")
	def(&o.BotUserID, "U0EMUBOT1")
	def(&o.BotID, "B0EMUBOT1")
	def(&o.BotToken, "xoxb-emulator-bot-token")
	def(&o.AppToken, "xapp-emulator-app-token")
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 3 * time.Second
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 3
	}
	if o.RetryTypes == nil {
		o.RetryTypes = []string{EnvelopeEventsAPI}
	}
	if o.TriggerTTL <= 0 {
		o.TriggerTTL = 3 * time.Second
	}
	if o.DisconnectGrace <= 0 {
		o.DisconnectGrace = 2 * time.Second
	}
	return o
}

// Server is an emulated Slack workspace. All methods are safe for
// concurrent use.
type Server struct {
	opts Options
	http *httptest.Server

	// done is closed by Close so that waiting helpers and connection
	// goroutines stop.
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	started bool
	// changed is closed and replaced whenever the recorded state changes,
	// which lets Wait re-evaluate its condition without polling.
	changed chan struct{}
	seq     int
	lastTS  int64

	calls     []Call
	faults    map[string][]*fault
	users     map[string]*User
	userOrder []string
	channels  map[string]*channelState
	chanOrder []string
	groups    map[string]*Usergroup
	grpOrder  []string

	messages   map[string][]*Message // by channel, in posting order
	ephemerals []*Ephemeral
	scheduled  []*Scheduled

	triggers  map[string]*trigger
	views     map[string]*viewState
	viewOrder []string
	stacks    map[string][]string // open modal stack per user, root first

	hooks     map[string]*hook
	hookPosts []ResponsePost

	tickets     map[string]bool // apps.connections.open ticket -> used
	conns       map[int]*wsConn
	connsOpened int
	rr          int
	envelopes   map[string]*envelope
	envOrder    []string
	strayAcks   []Ack
	ims         map[string]string // user -> IM channel ID
}

// New returns an emulator that is not yet listening; call Start.
func New(opts Options) *Server {
	s := &Server{
		opts:      opts.withDefaults(),
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		faults:    map[string][]*fault{},
		users:     map[string]*User{},
		channels:  map[string]*channelState{},
		groups:    map[string]*Usergroup{},
		messages:  map[string][]*Message{},
		triggers:  map[string]*trigger{},
		views:     map[string]*viewState{},
		stacks:    map[string][]string{},
		hooks:     map[string]*hook{},
		tickets:   map[string]bool{},
		conns:     map[int]*wsConn{},
		envelopes: map[string]*envelope{},
		ims:       map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveLink)
	mux.HandleFunc("/hooks/", s.serveHook)
	s.http = httptest.NewUnstartedServer(mux)
	// The bot's own user exists in every workspace it is installed in.
	s.PutUser(User{ID: s.opts.BotUserID, Name: "secops-bot", RealName: "secops-bot", IsBot: true})
	return s
}

// Start begins listening on a loopback port.
func (s *Server) Start() {
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	s.http.Start()
}

// Close drops every connection, stops the listener and waits for the
// emulator's goroutines. It is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range conns {
		_ = c.ws.Close()
	}
	// An unstarted httptest server already holds its listener, so it is
	// closed either way.
	s.http.Close()
	s.wg.Wait()
}

// Options returns the effective options, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// URL is the emulator's base URL (scheme and host).
func (s *Server) URL() string { return s.http.URL }

// APIURL is the Web API base for slack.OptionAPIURL; it ends with "/api/".
func (s *Server) APIURL() string { return s.http.URL + "/api/" }

// Wait blocks until cond returns true, re-evaluating it after every change
// to the emulator's state (a Web API call, a connection, an ack). cond may
// call the emulator's query methods; it must not block.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for slack emulator state: %w", ctx.Err())
		case <-s.done:
			if cond() {
				return nil
			}
			return ErrClosed
		}
	}
}

// notifyLocked wakes every Wait. The caller holds s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextIDLocked returns a fresh Slack-looking ID with the given prefix.
func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08X", prefix, s.seq)
}

// nextTSLocked returns a message timestamp that is unique in the
// workspace and increases strictly, even for posts within one microsecond.
func (s *Server) nextTSLocked(now time.Time) string {
	us := now.UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) wsURL() string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http")
}
