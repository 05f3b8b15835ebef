package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/delivery/tickets"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// soakDefault is long enough for three disconnects 30 s apart and for the
// half-open socket to be noticed, and short enough for CI.
const soakDefault = 90 * time.Second

// slackAckDeadline is Slack's: an envelope not acknowledged within it is a
// timeout for the user (or a redelivery for Events API).
const slackAckDeadline = 3 * time.Second

func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("SECOPS_SOAK_DURATION")
	if v == "" {
		return soakDefault
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 40*time.Second {
		t.Fatalf("SECOPS_SOAK_DURATION=%q: want a duration of at least 40s, such as 10m", v)
	}
	return d
}

// soak is the state of one run of TestSlackTroubleSoak shared by its
// drivers.
type soak struct {
	t     *testing.T
	e     *slackEnv
	start time.Time
	// wire is held (read) by every exchange of an envelope Slack does not
	// send again (slash commands, interactions) and taken (write) by every
	// fault that costs the bot its connection. Such an envelope in flight
	// at that moment can be lost: with a dropped or half-open socket, or
	// at a disconnect message, when slack-go closes the socket as soon as
	// it reads the message (an ack written an instant before can go with
	// it, and an envelope Slack routed there just before the message is
	// read by no one). Slack shows the user an error for it, and there is
	// nothing the bot could have acknowledged. Envelopes Slack sends again
	// (Events API, and redeliveries of envelopes already acknowledged)
	// race every fault; report checks that they were acknowledged in the
	// end (see lostToFault).
	wire sync.RWMutex

	mu sync.Mutex
	// faults counts the faults injected, by kind.
	faults map[string]int
	// gaps are the times from a fault to the next usable connection, by
	// kind of fault.
	gaps map[string][]time.Duration
	// connFaults are when the faults that cost the bot its connection
	// were injected (see lostToFault).
	connFaults []time.Time
	// acked and resolved are the findings a responder pressed Acknowledge
	// or submitted Resolve for, with the envelope that carried it.
	acked    map[string]string
	resolved map[string]string
	// planned holds what is still to be done to each finding seen.
	planned map[string]*plan
	order   []string
	created int
}

type plan struct {
	ack, resolve bool
	ackedAt      time.Time
}

func (s *soak) count(kind string, n int) {
	s.mu.Lock()
	s.faults[kind] += n
	s.mu.Unlock()
}

// exchange runs one envelope exchange with the bot under the wire lock,
// once the bot has a usable connection: a half-open socket is noticed only
// by the client's ping timeout, and a user pressing a button meanwhile
// would be told the app did not respond (and the emulator would hand the
// bot a trigger_id that expired while it waited).
func (s *soak) exchange(fn func(ctx context.Context) error) error {
	s.wire.RLock()
	defer s.wire.RUnlock()
	return s.exchangeRetried(fn)
}

// exchangeRetried is exchange for an envelope Slack sends again when its
// ack does not come: it races the connection faults.
func (s *soak) exchangeRetried(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.e.emu.WaitConnected(ctx, 1); err != nil {
		return err
	}
	return fn(ctx)
}

// TestSlackTroubleSoak runs the bot (Serve, SQLite, directory source, Jira
// fake) under a steady stream of new findings, acknowledgements and
// resolutions pressed in Slack, while Slack misbehaves for several minutes
// (SECOPS_SOAK_DURATION, default 90s): 429 storms with Retry-After on
// chat.postMessage and chat.update, a disconnect message every 30 seconds, a
// socket dropped without a close frame, a half-open socket that only the
// client's ping timeout can reveal, chat.update failing with internal_error
// and with HTTP 500 for a while, chat.postMessage answering 503, and
// envelopes delivered again under the same envelope_id. Then it checks what
// people see: every finding's message in each routed channel exists once
// and shows the finding as stored, each thread holds one reply per change,
// every press took effect once, and every envelope was acknowledged within
// Slack's 3 seconds; a delivery may lack its ack only when it was sent in
// the moment before a fault took its connection and Slack sent it again.
func TestSlackTroubleSoak(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("soak test; run without -short")
	}
	dur := soakDuration(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SECOPS_SOAK_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SECOPS_SOAK_SEED=%q: %v", v, err)
		}
	}
	t.Logf("soak for %v, seed %d (SECOPS_SOAK_SEED to repeat the choices)", dur, seed)

	e := newSlackEnv(t)
	jf := jirafake.New(jirafake.Options{Token: "soak-jira-token"})
	t.Cleanup(jf.Close)
	e.cfg.Jira.Enabled, e.cfg.Jira.BaseURL, e.cfg.Jira.Email, e.cfg.Jira.APIToken = true, jf.URL, "bot@example.com", "soak-jira-token"
	template, err := os.ReadFile(incident)
	if err != nil {
		t.Fatal(err)
	}
	e.start(t)
	running := true
	defer func() {
		if running {
			e.stop(t)
		}
	}()

	s := &soak{
		t: t, e: e, start: time.Now(),
		faults: map[string]int{}, gaps: map[string][]time.Duration{},
		acked: map[string]string{}, resolved: map[string]string{}, planned: map[string]*plan{},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	spawn := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	spawn(func() { s.produce(stop, template) })
	spawn(func() { s.act(stop, rand.New(rand.NewPCG(seed, 1))) })
	spawn(func() { s.redeliver(stop, rand.New(rand.NewPCG(seed, 2))) })
	spawn(func() { s.events(stop) })
	spawn(func() { s.inject(stop, dur) })
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	injected := time.Since(s.start)

	// Slack behaves again: the bot must converge by itself.
	e.emu.ClearFaults()
	calm := time.Now()
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := e.emu.WaitConnected(wctx, 1); err != nil {
		t.Fatalf("no usable connection after the faults stopped: %v", err)
	}
	cancel()
	var problems []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		problems = s.check(ctx)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	converged := time.Since(calm)
	// Give a late duplicate every chance to appear before the final count.
	time.Sleep(2 * time.Second)
	e.stop(t)
	running = false
	if problems = s.check(ctx); len(problems) > 0 {
		t.Errorf("%d messages not as people should see them after %v of calm:\n  %s", len(problems), converged, strings.Join(problems, "\n  "))
	}

	st, err := sqlite.Open(ctx, e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s.checkPresses(ctx, st)
	s.report(injected, converged)
}

// produce drops a new exposure into the watched directory every 1.5 s:
// each is a critical finding for #secops and #team-payments, with a Jira
// ticket whose link is added to both messages.
func (s *soak) produce(stop <-chan struct{}, template []byte) {
	staging := filepath.Join(filepath.Dir(s.e.cfg.Ingest.Dir), "staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		s.t.Error(err)
		return
	}
	tick := time.NewTicker(1500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ev := strings.NewReplacer(
			"prod-customers-2026-11-26", fmt.Sprintf("prod-customers-soak-%05d", i),
			"7bc293b4-9443-4fe9-95e3-aa7e01886f43", fmt.Sprintf("7bc293b4-9443-4fe9-95e3-%012d", i),
			"9bd172c1-fc84-4f79-a053-cffd759bbe56", fmt.Sprintf("9bd172c1-fc84-4f79-a053-%012d", i),
			"5079e1d6-5a8a-4c9f-affa-41eb634c305d", fmt.Sprintf("5079e1d6-5a8a-4c9f-affa-%012d", i),
		).Replace(string(template))
		// Written aside and renamed in, so the source never sees half a file.
		name := fmt.Sprintf("soak-%05d.json", i)
		if err := os.WriteFile(filepath.Join(staging, name), []byte(ev), 0o644); err != nil {
			s.t.Error(err)
			return
		}
		if err := os.Rename(filepath.Join(staging, name), filepath.Join(s.e.cfg.Ingest.Dir, name)); err != nil {
			s.t.Error(err)
			return
		}
		s.mu.Lock()
		s.created++
		s.mu.Unlock()
	}
}

// findingOf reads the finding ID the bot put in a message's metadata.
func findingOf(m slackemu.Message) string {
	var md struct {
		EventPayload struct {
			FindingID string `json:"finding_id"`
		} `json:"event_payload"`
	}
	if json.Unmarshal(m.Metadata, &md) != nil {
		return ""
	}
	return md.EventPayload.FindingID
}

// act is the responders: for each finding that appears, it decides once
// whether to acknowledge it (70%) and whether to resolve it later (40%),
// and presses the buttons in either channel, one press about every 600 ms.
// A fifth of the presses are delivered a second time at once under the
// same envelope_id, as if the ack had not reached Slack in time.
func (s *soak) act(stop <-chan struct{}, rng *rand.Rand) {
	tick := time.NewTicker(600 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		posted := map[string]map[string]slackemu.Message{} // finding → channel → message
		for _, ch := range []string{s.e.secops, s.e.payments} {
			for _, m := range topLevel(s.e.emu.Messages(ch)) {
				if id := findingOf(m); id != "" {
					if posted[id] == nil {
						posted[id] = map[string]slackemu.Message{}
					}
					posted[id][ch] = m
				}
			}
		}
		s.mu.Lock()
		for id := range posted {
			if _, ok := s.planned[id]; !ok {
				s.planned[id] = &plan{ack: rng.Float64() < 0.7, resolve: rng.Float64() < 0.4}
				s.order = append(s.order, id)
			}
		}
		var id string
		var p *plan
		for _, cand := range s.order {
			q := s.planned[cand]
			// Resolve a few seconds after the acknowledgement, as people do.
			if q.ack || (q.resolve && time.Since(q.ackedAt) > 3*time.Second) {
				id, p = cand, q
				break
			}
		}
		s.mu.Unlock()
		if p == nil {
			continue
		}
		chans := posted[id]
		ch := s.e.secops
		if _, ok := chans[s.e.payments]; ok && (rng.IntN(2) == 0 || chans[s.e.secops].TS == "") {
			ch = s.e.payments
		}
		msg, ok := chans[ch]
		if !ok {
			continue
		}
		again := rng.Float64() < 0.2
		if p.ack {
			envID, err := s.click(ch, msg.TS, blocks.ActionAck, again)
			s.mu.Lock()
			p.ack, p.ackedAt = false, time.Now()
			if err == nil {
				s.acked[id] = envID
			}
			s.mu.Unlock()
			if err != nil {
				s.t.Errorf("acknowledge %s: %v", id, err)
			}
			continue
		}
		s.mu.Lock()
		p.resolve = false
		s.mu.Unlock()
		envID, err := s.resolve(id, ch, msg.TS, again)
		if err != nil {
			s.t.Errorf("resolve %s: %v", id, err)
			continue
		}
		s.mu.Lock()
		s.resolved[id] = envID
		s.mu.Unlock()
	}
}

// click presses a button and, when again is set, delivers the same
// envelope a second time.
func (s *soak) click(channel, ts, action string, again bool) (string, error) {
	var envID string
	err := s.exchange(func(ctx context.Context) error {
		a, err := s.e.emu.ClickButton(ctx, slackemu.BlockAction{UserID: responder, ChannelID: channel, MessageTS: ts, ActionID: action})
		if err != nil {
			return err
		}
		envID = a.EnvelopeID
		if again {
			if _, err := s.e.emu.Redeliver(ctx, envID); err != nil {
				return err
			}
			s.count("envelope redelivered at once", 1)
		}
		return nil
	})
	return envID, err
}

// resolve presses Resolve…, waits for the modal and submits a reason.
func (s *soak) resolve(id, channel, ts string, again bool) (string, error) {
	if _, err := s.click(channel, ts, blocks.ActionResolve, false); err != nil {
		return "", err
	}
	var viewID string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.e.emu.Wait(ctx, func() bool {
		for _, v := range s.e.emu.Views() {
			if v.CallbackID == blocks.CallbackResolve && v.PrivateMetadata == id && v.Open {
				viewID = v.ID
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("the resolve modal did not open: %w", err)
	}
	var envID string
	err = s.exchange(func(ctx context.Context) error {
		a, err := s.e.emu.SubmitView(ctx, slackemu.ViewSubmission{ViewID: viewID, UserID: responder, Values: map[string]map[string]string{
			"resolve.reason": {"reason": "share removed during the soak"},
		}})
		if err != nil {
			return err
		}
		envID = a.EnvelopeID
		if again {
			if _, err := s.e.emu.Redeliver(ctx, envID); err != nil {
				return err
			}
			s.count("envelope redelivered at once", 1)
		}
		return nil
	})
	return envID, err
}

// redeliver sends an envelope the bot already acknowledged once more,
// every second, picked at random from all sent so far: Slack's retry of an
// envelope whose ack it did not get in time.
func (s *soak) redeliver(stop <-chan struct{}, rng *rand.Rand) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var ids []string
		for _, env := range s.e.emu.Envelopes() {
			if env.Ack != nil {
				ids = append(ids, env.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		id := ids[rng.IntN(len(ids))]
		var d slackemu.Delivery
		if err := s.exchangeRetried(func(ctx context.Context) error {
			var err error
			d, err = s.e.emu.Redeliver(ctx, id)
			return err
		}); err != nil {
			// Checked with every delivery in report.
			if errors.Is(err, slackemu.ErrAckTimeout) && s.lostToFault(d.SentAt) {
				continue
			}
			s.t.Errorf("redeliver %s: %v", id, err)
			continue
		}
		s.count("envelope redelivered later", 1)
	}
}

// events sends, every second, an Events API envelope (which Slack retries
// by itself when it is not acknowledged within 3 s) or a /secops help
// command (answered in the ack).
func (s *soak) events(stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if i%2 == 1 {
			if err := s.exchange(func(ctx context.Context) error {
				a, err := s.e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "help", UserID: responder, ChannelID: s.e.secops})
				if err == nil && !strings.Contains(string(a.Payload), "/secops findings") {
					err = fmt.Errorf("help answered %s", a.Payload)
				}
				return err
			}); err != nil {
				s.t.Errorf("/secops help: %v", err)
			}
			continue
		}
		ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), i)
		if err := s.exchangeRetried(func(ctx context.Context) error {
			_, _, err := s.e.emu.SendEvent(ctx, map[string]any{
				"type": "app_mention", "user": responder, "text": "<@U0EMUBOT1> status", "ts": ts, "channel": s.e.secops, "event_ts": ts,
			})
			return err
		}); err != nil {
			s.t.Errorf("app_mention event: %v", err)
		}
	}
}

type scheduled struct {
	at   time.Duration
	kind string
	do   func()
}

// inject runs the fault timeline. Every 150 s (the first cycle fits in the
// default 90 s): a disconnect message at 5 s and every 30 s, 429 storms of
// 5 s every 20 s from 8 s on chat.postMessage, chat.update or both, a
// dropped socket at 18 s, chat.update answering internal_error for 10 s at
// 30 s, a half-open socket at 40 s, chat.postMessage answering HTTP 503 for
// 3 s at 55 s and chat.update answering HTTP 500 for 8 s at 75 s.
func (s *soak) inject(stop <-chan struct{}, dur time.Duration) {
	emu := s.e.emu
	var timeline []scheduled
	for at := 5 * time.Second; at < dur; at += 30 * time.Second {
		timeline = append(timeline, scheduled{at, "disconnect message", nil})
	}
	storms := [][]string{{"chat.postMessage"}, {"chat.update"}, {"chat.postMessage", "chat.update"}}
	for k, at := 0, 8*time.Second; at < dur; k, at = k+1, at+20*time.Second {
		methods := storms[k%len(storms)]
		timeline = append(timeline, scheduled{at, "429 storm (5 s)", func() {
			for _, m := range methods {
				emu.RateLimitFor(m, 5*time.Second)
			}
		}})
	}
	for cycle := time.Duration(0); cycle < dur; cycle += 150 * time.Second {
		timeline = append(timeline,
			scheduled{cycle + 18*time.Second, "socket dropped without a close frame", nil},
			scheduled{cycle + 30*time.Second, "chat.update internal_error (10 s)", func() { emu.FailFor("chat.update", 10*time.Second, "internal_error") }},
			scheduled{cycle + 40*time.Second, "half-open socket", nil},
			scheduled{cycle + 55*time.Second, "chat.postMessage HTTP 503 (3 s)", func() {
				emu.FailHTTPFor("chat.postMessage", 3*time.Second, http.StatusServiceUnavailable, "service_unavailable")
			}},
			scheduled{cycle + 75*time.Second, "chat.update HTTP 500 (8 s)", func() {
				emu.FailHTTPFor("chat.update", 8*time.Second, http.StatusInternalServerError, "internal_error")
			}},
		)
	}
	// Each fault waits for its moment on its own, so that one held up (a
	// disconnect waiting for a socket it can reach) delays no other.
	var wg sync.WaitGroup
	for _, f := range timeline {
		if f.at >= dur {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-stop:
				return
			case <-time.After(time.Until(s.start.Add(f.at))):
			}
			switch f.kind {
			case "disconnect message":
				// Slack can only tell a connection it can reach: wait for
				// one while the socket is half-open, even past the end.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				err := emu.WaitConnected(ctx, 1)
				cancel()
				if err != nil {
					s.t.Errorf("no connection to send a disconnect to: %v", err)
					return
				}
				s.reconnect(f.kind, emu.DisconnectCount)
			case "socket dropped without a close frame":
				s.reconnect(f.kind, func() int {
					n := len(emu.Connections())
					emu.DropConnections()
					return n
				})
			case "half-open socket":
				s.reconnect(f.kind, emu.Stall)
			default:
				f.do()
				s.count(f.kind, 1)
			}
		}()
	}
	wg.Wait()
}

// reconnect injects a fault that costs the bot its connection and, in the
// background, times how long until it has a usable one again. It waits
// for the exchanges of envelopes Slack does not send again (see
// soak.wire).
func (s *soak) reconnect(kind string, fault func() int) {
	s.wire.Lock()
	before := s.e.emu.ConnectionsOpened()
	at := time.Now()
	n := fault()
	// Noted once the fault is in: a delivery routed to the connection
	// just before it was marked draining (or dropped) is stamped after
	// that routing, so a time taken before the fault could come before
	// the delivery it cost.
	s.mu.Lock()
	s.connFaults = append(s.connFaults, time.Now())
	s.mu.Unlock()
	s.wire.Unlock()
	if n == 0 {
		return
	}
	s.count(kind, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := s.e.emu.WaitConnected(ctx, before+1); err != nil {
			return
		}
		s.mu.Lock()
		s.gaps[kind] = append(s.gaps[kind], time.Since(at))
		s.mu.Unlock()
	}()
}

type messageRef struct {
	channel string
	msg     slackemu.Message
}

// check compares what Slack shows with the store: for every finding, one
// message in each routed channel, showing the finding as stored (fallback
// text, status line, buttons, ticket link), and one thread reply per
// acknowledgement and resolution; no message for a finding elsewhere.
func (s *soak) check(ctx context.Context) []string {
	st, err := sqlite.Open(ctx, s.e.cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		return []string{"open store: " + err.Error()}
	}
	defer st.Close()
	fs, err := st.ListFindings(ctx, store.FindingFilter{})
	if err != nil {
		return []string{"list findings: " + err.Error()}
	}
	dir, err := org.New(s.e.cfg.OrgOptions())
	if err != nil {
		return []string{"directory: " + err.Error()}
	}
	names := map[string]string{"#secops": s.e.secops, "#team-payments": s.e.payments}
	shown := map[string][]messageRef{} // finding → its messages
	var problems []string
	for _, ch := range names {
		for _, m := range topLevel(s.e.emu.Messages(ch)) {
			id := findingOf(m)
			if id == "" {
				continue
			}
			shown[id] = append(shown[id], messageRef{ch, m})
		}
	}
	s.mu.Lock()
	created := s.created
	s.mu.Unlock()
	if len(fs) < created {
		problems = append(problems, fmt.Sprintf("%d findings stored, %d exposures dropped in", len(fs), created))
	}
	for _, f := range fs {
		loc := time.UTC
		if tm, ok := dir.OwnerOf(f.AccountID); ok && tm.Location != nil {
			loc = tm.Location
		} else if so := dir.SecOps(); so.Location != nil {
			loc = so.Location
		}
		text, blks := blocks.FindingMessage(f, blocks.FindingOptions{Location: loc})
		wantBlocks, _ := json.Marshal(blks)
		ticket, hasTicket, err := tickets.Lookup(ctx, st, f.ID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: ticket lookup: %v", f.ID, err))
		}
		wantAck, wantResolve := 0, 0
		if f.AckedBy != "" {
			wantAck = 1
		}
		if f.Status == finding.StatusResolved {
			wantResolve = 1
		}
		routed := map[string]bool{}
		for _, r := range f.Routes {
			name, ok := strings.CutPrefix(r, "slack:")
			if !ok {
				continue
			}
			ch, ok := names[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: routed to %s, which the soak does not watch", f.ID, name))
				continue
			}
			routed[ch] = true
			var here []slackemu.Message
			for _, ref := range shown[f.ID] {
				if ref.channel == ch {
					here = append(here, ref.msg)
				}
			}
			if len(here) != 1 {
				problems = append(problems, fmt.Sprintf("%s in %s: %d messages, want 1", f.ID, name, len(here)))
				continue
			}
			m := here[0]
			switch {
			case m.Text != text:
				problems = append(problems, fmt.Sprintf("%s in %s: text %q, want %q", f.ID, name, m.Text, text))
			case statusLine(m.Blocks) != statusLine(wantBlocks):
				problems = append(problems, fmt.Sprintf("%s in %s: status %q, want %q", f.ID, name, statusLine(m.Blocks), statusLine(wantBlocks)))
			case !slices.Equal(buttons(m.Blocks), buttons(wantBlocks)):
				problems = append(problems, fmt.Sprintf("%s in %s: buttons %v, want %v", f.ID, name, buttons(m.Blocks), buttons(wantBlocks)))
			case hasTicket && !strings.Contains(string(m.Blocks), ticket.Key):
				problems = append(problems, fmt.Sprintf("%s in %s: no link to ticket %s", f.ID, name, ticket.Key))
			}
			acks, resolves, others := 0, 0, 0
			outOfOrder := false
			for _, r := range s.e.emu.Replies(ch, m.TS) {
				switch {
				case strings.Contains(r.Text, "Acknowledged by"):
					acks++
					// The finding was acknowledged before it was resolved
					// (a resolved one cannot be); its thread must say so
					// in that order.
					outOfOrder = outOfOrder || resolves > 0
				case strings.Contains(r.Text, "Resolved by"):
					resolves++
				default:
					others++
				}
			}
			if acks != wantAck || resolves != wantResolve || others != 0 {
				problems = append(problems, fmt.Sprintf("%s in %s: thread has %d acknowledgement, %d resolution and %d other replies; want %d, %d, 0",
					f.ID, name, acks, resolves, others, wantAck, wantResolve))
			}
			if outOfOrder {
				problems = append(problems, fmt.Sprintf("%s in %s: the thread shows the resolution before the acknowledgement", f.ID, name))
			}
		}
		for _, ref := range shown[f.ID] {
			if !routed[ref.channel] {
				problems = append(problems, fmt.Sprintf("%s: a message in %s, where it is not routed", f.ID, ref.channel))
			}
		}
	}
	return problems
}

// statusLine is the text of a finding message's "*Status:*" section.
func statusLine(raw []byte) string {
	var bs []struct {
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	_ = json.Unmarshal(raw, &bs)
	for _, b := range bs {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "*Status:*") {
			return b.Text.Text
		}
	}
	return ""
}

// buttons lists the action_ids of a finding message's buttons.
func buttons(raw []byte) []string {
	var bs []struct {
		BlockID  string `json:"block_id"`
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(raw, &bs)
	var out []string
	for _, b := range bs {
		if b.BlockID != blocks.BlockFindingActions {
			continue
		}
		for _, el := range b.Elements {
			out = append(out, el.ActionID)
		}
	}
	return out
}

// checkPresses checks that every press took effect exactly once, however
// often its envelope was delivered: one audit record and one history entry
// per acknowledgement and resolution, one resolve modal per Resolve… press,
// and no one told "already" or "something went wrong".
func (s *soak) checkPresses(ctx context.Context, st *sqlite.Store) {
	t := s.t
	for action, pressed := range map[string]map[string]string{"finding.ack": s.acked, "finding.resolve": s.resolved} {
		recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: action})
		if err != nil {
			t.Fatal(err)
		}
		byTarget := map[string][]string{}
		for _, r := range recs {
			if r.Action == action {
				byTarget[r.Target] = append(byTarget[r.Target], r.Result)
			}
		}
		for id := range pressed {
			if got := byTarget[id]; len(got) != 1 || got[0] != "ok" {
				t.Errorf("%s of %s audited as %v, want one ok record", action, id, got)
			}
		}
		if len(byTarget) != len(pressed) {
			t.Errorf("%s audited for %d findings, pressed for %d", action, len(byTarget), len(pressed))
		}
	}
	for id := range s.acked {
		f, err := st.GetFinding(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if f.AckedBy != responder {
			t.Errorf("%s acknowledged by %q, want %s", id, f.AckedBy, responder)
		}
	}
	for id := range s.resolved {
		f, err := st.GetFinding(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != finding.StatusResolved {
			t.Errorf("%s is %s after its resolution was submitted", id, f.Status)
		}
	}
	for id := range s.planned {
		hist, err := st.FindingHistory(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		byPeople := 0
		for _, h := range hist {
			if h.Actor == responder {
				byPeople++
			}
		}
		want := 0
		if _, ok := s.acked[id]; ok {
			want++
		}
		if _, ok := s.resolved[id]; ok {
			want++
		}
		if byPeople != want {
			t.Errorf("%s: %d changes by the responder in its history, want %d", id, byPeople, want)
		}
	}
	modals := map[string]int{}
	for _, v := range s.e.emu.Views() {
		if v.CallbackID == blocks.CallbackResolve {
			modals[v.PrivateMetadata]++
		}
	}
	for id, n := range modals {
		if n != 1 {
			t.Errorf("%d resolve modals opened for %s, want 1", n, id)
		}
	}
	for _, ep := range s.e.emu.Ephemerals() {
		low := strings.ToLower(ep.Text)
		if strings.Contains(low, "already") || strings.Contains(low, "went wrong") || strings.Contains(low, "could not") {
			t.Errorf("a responder was told %q", ep.Text)
		}
	}
}

// lostToFault reports whether a delivery was sent in the 3 seconds before
// a fault that cost the bot its connection: its ack may be lost with the
// connection, or the envelope itself (see soak.wire). Slack sends such an
// envelope again, and report requires the envelope to have been
// acknowledged in time in the end. Only such deliveries may lack an ack.
func (s *soak) lostToFault(sent time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, at := range s.connFaults {
		if !sent.After(at) && at.Sub(sent) < slackAckDeadline {
			return true
		}
	}
	return false
}

// report checks and logs the envelope figures and the faults injected.
func (s *soak) report(injected, converged time.Duration) {
	t := s.t
	var lat []time.Duration
	envs := s.e.emu.Envelopes()
	deliveries, lostToFault := 0, 0
	for _, env := range envs {
		if env.Ack == nil || env.Ack.Late {
			t.Errorf("envelope %s (%s) not acknowledged in time: %+v", env.ID, env.Type, env.Ack)
		}
		for i, d := range env.Deliveries {
			deliveries++
			if d.AckedAt.IsZero() {
				if s.lostToFault(d.SentAt) && env.Ack != nil && !env.Ack.Late {
					lostToFault++
					continue
				}
				t.Errorf("delivery %d of envelope %s (%s) on connection %d, %v into the soak, never acknowledged", i, env.ID, env.Type, d.ConnID, d.SentAt.Sub(s.start).Round(time.Millisecond))
				continue
			}
			lat = append(lat, d.AckLatency)
		}
	}
	slices.Sort(lat)
	var maxLat, p99 time.Duration
	if len(lat) > 0 {
		maxLat, p99 = lat[len(lat)-1], lat[(len(lat)*99)/100]
	}
	if maxLat >= slackAckDeadline {
		t.Errorf("slowest ack took %v, Slack's limit is %v", maxLat, slackAckDeadline)
	}
	if len(envs) == 0 || len(s.acked) == 0 || len(s.resolved) == 0 {
		t.Errorf("too little happened: %d envelopes, %d acknowledged, %d resolved", len(envs), len(s.acked), len(s.resolved))
	}

	status := map[string]int{}
	for _, c := range s.e.emu.Calls() {
		if c.Method == "chat.postMessage" || c.Method == "chat.update" {
			key := c.Method + " " + strconv.Itoa(c.Status)
			if c.Error != "" {
				key += " " + c.Error
			}
			status[key]++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	faultCauses := s.faults["disconnect message"] + s.faults["socket dropped without a close frame"] + s.faults["half-open socket"]
	if lostToFault > 2*faultCauses {
		t.Errorf("%d deliveries lost at %d connection faults: more than the few in flight at each", lostToFault, faultCauses)
	}
	if opened := s.e.emu.ConnectionsOpened(); opened != 1+faultCauses {
		t.Errorf("the bot opened %d connections for %d that cost it one: it reconnected without cause or missed a reconnect", opened, 1+faultCauses)
	}
	if s.faults["disconnect message"] < 3 && injected >= soakDefault {
		t.Errorf("%d disconnect messages sent, want at least 3", s.faults["disconnect message"])
	}

	var b strings.Builder
	fmt.Fprintf(&b, "faults for %v, calm again after %v:\n", injected.Round(time.Second), converged.Round(time.Second))
	kinds := make([]string, 0, len(s.faults))
	for k := range s.faults {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-40s %d", k, s.faults[k])
		if g := s.gaps[k]; len(g) > 0 {
			slices.Sort(g)
			fmt.Fprintf(&b, " (back on a usable socket after at most %v)", g[len(g)-1].Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	keys := make([]string, 0, len(status))
	for k := range status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  Web API %-40s %d\n", k, status[k])
	}
	fmt.Fprintf(&b, "  exposures %d, findings acknowledged %d, resolved %d\n", s.created, len(s.acked), len(s.resolved))
	fmt.Fprintf(&b, "  envelopes %d, deliveries %d, connections %d\n", len(envs), deliveries, s.e.emu.ConnectionsOpened())
	fmt.Fprintf(&b, "  ack latency max %v, p99 %v; deliveries lost at a connection fault and sent again by Slack: %d", maxLat.Round(time.Microsecond), p99.Round(time.Microsecond), lostToFault)
	t.Log(b.String())
}
