package bot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// The Socket Mode side of the bot: every envelope is acknowledged at once
// (Slack gives up after 3 seconds), redeliveries are acknowledged but not
// acted on twice, and the work a routed request asks for runs afterwards on
// its own goroutine, tracked so that shutdown waits for it.

// socket serves one Socket Mode connection for a router.
type socket struct {
	router *Router
	// authz forgets cached roles when Slack says a user or group changed.
	authz    Checker
	log      zerolog.Logger
	seen     *seenSet
	inflight sync.WaitGroup
}

// run serves Socket Mode until ctx ends, then waits for work in flight.
func (s *socket) run(ctx context.Context, sm *socketmode.Client) error {
	h := socketmode.NewSocketmodeHandler(sm)
	h.Handle(socketmode.EventTypeSlashCommand, s.onSlashCommand)
	h.Handle(socketmode.EventTypeInteractive, s.onInteractive)
	h.Handle(socketmode.EventTypeEventsAPI, s.onEventsAPI)
	h.Handle(socketmode.EventTypeErrorWriteFailed, s.onWriteFailed)
	h.HandleDefault(s.onOther)

	err := h.RunEventLoopContext(ctx)
	s.inflight.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("slack socket mode: %w", err)
}

// workTimeout bounds the work of one request.
const workTimeout = 30 * time.Second

// work runs slow work after the envelope was acknowledged, tracked so
// shutdown can wait for it.
func (s *socket) work(fn func(ctx context.Context)) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		ctx, cancel := context.WithTimeout(context.Background(), workTimeout)
		defer cancel()
		fn(ctx)
	}()
}

// onInteractive routes button presses and modal submissions. A modal
// closes at once; its result goes to the thread, and a refusal or error to
// the user privately.
func (s *socket) onInteractive(evt *socketmode.Event, c *socketmode.Client) {
	s.ack(c, evt.Request, nil)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || !s.fresh(evt.Request) {
		return
	}
	for _, run := range s.router.interaction(cb) {
		s.work(run)
	}
}

// onSlashCommand routes /secops: a malformed command and an instant answer
// (help) go in the acknowledgement, the others run after it.
func (s *socket) onSlashCommand(evt *socketmode.Event, c *socketmode.Client) {
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok || !s.fresh(evt.Request) {
		s.ack(c, evt.Request, nil)
		return
	}
	answer, then := s.router.command(cmd)
	if answer != nil {
		s.ack(c, evt.Request, answer)
	} else {
		s.ack(c, evt.Request, nil)
	}
	if then != nil {
		s.work(then)
	}
}

func (s *socket) onOther(evt *socketmode.Event, c *socketmode.Client) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		s.ack(c, evt.Request, nil)
	}
}

// onWriteFailed sends again an acknowledgement whose write failed because
// its socket closed under it (a disconnect or a dropped connection):
// slack-go reports the response and moves to a new socket, where the ack
// still reaches Slack, usually within its 3 seconds. A response is sent
// again at most twice, so a socket failing for good cannot loop.
func (s *socket) onWriteFailed(evt *socketmode.Event, c *socketmode.Client) {
	wf, ok := evt.Data.(*socketmode.ErrorWriteFailed)
	if !ok || wf.Response == nil || wf.Response.EnvelopeID == "" {
		return
	}
	res := *wf.Response
	if !s.seen.add("resend:1:"+res.EnvelopeID) && !s.seen.add("resend:2:"+res.EnvelopeID) {
		s.log.Error().Err(wf.Cause).Str("envelope_id", res.EnvelopeID).Msg("acknowledgement lost twice; giving up on it")
		return
	}
	s.log.Warn().Err(wf.Cause).Str("envelope_id", res.EnvelopeID).Msg("acknowledgement lost with its socket; sending it again")
	// SendCtx waits for the next socket; the event loop must not.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := c.SendCtx(ctx, res); err != nil {
			s.log.Error().Err(err).Str("envelope_id", res.EnvelopeID).Msg("send acknowledgement again")
		}
	}()
}

// forgetter is the part of the authoriser that drops cached roles; an
// authoriser without a cache need not have it.
type forgetter interface {
	ForgetUser(userID string)
	ForgetGroups()
}

// onEventsAPI acts on the two events the bot subscribes to: a user who
// changed (deactivated, made a guest) and a user group whose members
// changed. Either may take a role away, so the authoriser forgets what it
// cached at once instead of honouring it for up to a minute more.
func (s *socket) onEventsAPI(evt *socketmode.Event, c *socketmode.Client) {
	// Forgetting is instant, so it happens before the ack: a click that
	// follows the event is checked afresh.
	defer s.ack(c, evt.Request, nil)
	outer, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return
	}
	f, ok := s.authz.(forgetter)
	if !ok {
		return
	}
	switch ev := outer.InnerEvent.Data.(type) {
	case *slackevents.UserChangeEvent:
		f.ForgetUser(ev.User.ID)
		s.log.Info().Str("user", ev.User.ID).Msg("user changed in Slack; roles will be checked afresh")
	case *slackevents.SubteamMembersChangedEvent:
		f.ForgetGroups()
		s.log.Info().Str("group", ev.SubteamID).Int("added", len(ev.AddedUsers)).Int("removed", len(ev.RemovedUsers)).Msg("user group members changed; roles will be checked afresh")
	}
}

func (s *socket) ack(c *socketmode.Client, req *socketmode.Request, payload any) {
	if req == nil {
		return
	}
	var err error
	if payload == nil {
		err = c.Ack(*req)
	} else {
		err = c.Ack(*req, payload)
	}
	if err != nil {
		s.log.Error().Err(err).Str("envelope_id", req.EnvelopeID).Msg("acknowledge envelope")
	}
}

// fresh reports whether the envelope is new; a redelivered envelope is
// acknowledged again but not acted on.
func (s *socket) fresh(req *socketmode.Request) bool {
	if req == nil {
		return true
	}
	return s.seen.add("envelope:" + req.EnvelopeID)
}

// seenSet remembers recent envelope and event IDs, so Slack's redeliveries
// are acknowledged but not acted on twice.
type seenSet struct {
	mu    sync.Mutex
	max   int
	order []string
	set   map[string]struct{}
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, set: make(map[string]struct{}, max)}
}

// add records id and reports whether it was new.
func (s *seenSet) add(id string) bool {
	if id == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.set[id]; dup {
		return false
	}
	s.set[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		drop := s.order[0]
		s.order = s.order[1:]
		delete(s.set, drop)
	}
	return true
}
