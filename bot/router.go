package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/org/authz"
)

// Handler acts on one request after Slack was answered (the envelope
// acknowledged), on its own goroutine and with a deadline: it may call Slack,
// the store and AWS. It answers the person through the request.
type Handler func(ctx context.Context, r *Request)

// InstantHandler answers a command inside the acknowledgement itself, so the
// answer appears at once. It must not call Slack, the store or anything else
// that waits: Slack gives up on an acknowledgement after 3 seconds.
type InstantHandler func(r *Request) (text string, blks []slack.Block)

// Router is the one table of what the bot answers in Slack: /secops
// sub-commands by name, button presses by action ID prefix and modal
// submissions by callback ID. Each feature adds its routes in its Routes
// method; the order in which features do so does not matter, and a route
// added twice is an error when the bot starts, so two features can never
// both answer one button.
type Router struct {
	out      answerer
	log      zerolog.Logger
	actions  map[string]Handler
	views    map[string]Handler
	commands map[commands.Kind]commandRoute
	errs     []error
}

// commandRoute runs a command after the acknowledgement, or answers it in
// the acknowledgement (instant).
type commandRoute struct {
	run     Handler
	instant InstantHandler
}

func newRouter(out answerer, log zerolog.Logger) *Router {
	return &Router{
		out: out, log: log,
		actions:  map[string]Handler{},
		views:    map[string]Handler{},
		commands: map[commands.Kind]commandRoute{},
	}
}

// Action routes the buttons whose action ID is prefix, or starts with prefix
// and a dot: "containment.preview" takes "containment.preview.snapshot-unshare",
// so a button per step or per action needs one route. The longest
// registered prefix wins.
func (r *Router) Action(prefix string, h Handler) {
	r.add("action", prefix, r.actions, h)
}

// View routes the submissions of the modals with this callback ID.
func (r *Router) View(callbackID string, h Handler) {
	r.add("view", callbackID, r.views, h)
}

// Command routes /secops <k>. The command is acknowledged at once and h runs
// afterwards; it answers with r.Reply.
func (r *Router) Command(k commands.Kind, h Handler) {
	if h == nil {
		r.errs = append(r.errs, fmt.Errorf("command %s: no handler", k))
		return
	}
	r.addCommand(k, commandRoute{run: h})
}

// Instant routes /secops <k> to an answer given in the acknowledgement (see
// InstantHandler).
func (r *Router) Instant(k commands.Kind, h InstantHandler) {
	if h == nil {
		r.errs = append(r.errs, fmt.Errorf("command %s: no handler", k))
		return
	}
	r.addCommand(k, commandRoute{instant: h})
}

func (r *Router) addCommand(k commands.Kind, cr commandRoute) {
	if !slices.Contains(commands.Kinds(), k) {
		r.errs = append(r.errs, fmt.Errorf("command %d: not a /secops sub-command", k))
		return
	}
	if _, dup := r.commands[k]; dup {
		r.errs = append(r.errs, fmt.Errorf("command %s is routed twice", k))
		return
	}
	r.commands[k] = cr
}

func (r *Router) add(what, id string, table map[string]Handler, h Handler) {
	switch {
	case id == "" || strings.HasPrefix(id, ".") || strings.HasSuffix(id, "."):
		r.errs = append(r.errs, fmt.Errorf("%s %q: not a valid ID", what, id))
	case h == nil:
		r.errs = append(r.errs, fmt.Errorf("%s %s: no handler", what, id))
	case table[id] != nil:
		r.errs = append(r.errs, fmt.Errorf("%s %s is routed twice", what, id))
	default:
		table[id] = h
	}
}

// Err reports every route that could not be added (added twice, empty, or
// without a handler).
func (r *Router) Err() error { return errors.Join(r.errs...) }

// Commands lists the routed sub-commands, the features enabled in this
// deployment, in the order help lists them.
func (r *Router) Commands() []commands.Kind {
	var out []commands.Kind
	for _, k := range commands.Kinds() {
		if _, ok := r.commands[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// action finds the route of an action ID: the longest registered prefix
// that ends at a dot or at the end of the ID.
func (r *Router) action(id string) (Handler, bool) {
	for p := id; p != ""; {
		if h, ok := r.actions[p]; ok {
			return h, true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil, false
}

// call is a routed handler with its request, ready to run.
type call func(ctx context.Context)

// interaction returns the work an interaction asks for: one call per routed
// button of a block_actions payload, or the call of a submitted modal.
// Buttons and modals nobody routes are ignored.
func (r *Router) interaction(cb slack.InteractionCallback) []call {
	var out []call
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		for _, act := range cb.ActionCallback.BlockActions {
			h, ok := r.action(act.ActionID)
			if !ok {
				r.log.Debug().Str("action_id", act.ActionID).Msg("unknown action ignored")
				continue
			}
			req := r.click(cb)
			req.ActionID, req.Value = act.ActionID, act.Value
			out = append(out, func(ctx context.Context) { h(ctx, req) })
		}
	case slack.InteractionTypeViewSubmission:
		h, ok := r.views[cb.View.CallbackID]
		if !ok {
			r.log.Debug().Str("callback_id", cb.View.CallbackID).Msg("unknown modal ignored")
			return nil
		}
		req := r.click(cb)
		// A modal belongs to no channel: answers go to a direct message.
		req.ChannelID, req.MessageTS, req.ThreadTS = "", "", ""
		view := cb.View
		req.View = &view
		out = append(out, func(ctx context.Context) { h(ctx, req) })
	}
	return out
}

// click is the request of an interaction: who, in which channel and
// message, whatever shape of payload Slack sent (a message, an ephemeral
// message without one, a modal).
func (r *Router) click(cb slack.InteractionCallback) *Request {
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	msg := cb.Container.MessageTs
	if msg == "" {
		msg = cb.Message.Timestamp
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Message.ThreadTimestamp
	}
	return &Request{
		Actor:     authz.Actor{UserID: cb.User.ID, TeamID: userTeam(cb)},
		ChannelID: channel, MessageTS: msg, ThreadTS: thread, TriggerID: cb.TriggerID,
		out: r.out, log: r.log,
	}
}

// userTeam is the team the acting user belongs to: their own team for a
// Slack Connect user, else the workspace's.
func userTeam(cb slack.InteractionCallback) string {
	if cb.User.TeamID != "" {
		return cb.User.TeamID
	}
	return cb.Team.ID
}

// command returns the answer to put in the acknowledgement of a slash
// command (nil: an empty acknowledgement) and the work to do after it (nil:
// none).
func (r *Router) command(cmd slack.SlashCommand) (ack map[string]any, then call) {
	// Slack escapes &, < and > in command text.
	parsed, err := commands.Parse(unescape(cmd.Text))
	if err != nil {
		return ephemeralPayload(blocks.Escape(err.Error()), nil), nil
	}
	req := &Request{
		Actor:     authz.Actor{UserID: cmd.UserID, TeamID: cmd.TeamID},
		ChannelID: cmd.ChannelID, TriggerID: cmd.TriggerID,
		Command: parsed, out: r.out, log: r.log,
	}
	route, ok := r.commands[parsed.Name]
	switch {
	case !ok:
		return nil, func(ctx context.Context) {
			req.Reply(ctx, fmt.Sprintf("/secops %s is not enabled in this deployment.", parsed.Name), nil)
		}
	case route.instant != nil:
		return ephemeralPayload(route.instant(req)), nil
	}
	return nil, func(ctx context.Context) { route.run(ctx, req) }
}

func ephemeralPayload(text string, blks []slack.Block) map[string]any {
	p := map[string]any{"response_type": "ephemeral", "text": text}
	if len(blks) > 0 {
		p["blocks"] = blks
	}
	return p
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// Request is one thing a person did in Slack: a /secops command, a button
// press or a modal submission. It says who and where, and answers them.
// Nothing in it is trusted beyond naming the person and pointing at server
// state: a button's value is an opaque ID whose record the handler loads and
// authorises afresh.
type Request struct {
	// Actor is who acts (UserID, TeamID), handed as it is to the services;
	// the team is the user's own for a Slack Connect user.
	authz.Actor
	// ChannelID is where the command was typed or the button pressed; ""
	// for a modal, whose answers go to a direct message.
	ChannelID string
	// MessageTS is the message whose button was pressed, ThreadTS the
	// thread it is in ("" for a message at the top of the channel).
	MessageTS, ThreadTS string
	// TriggerID opens a modal, once and within 3 seconds of the press.
	TriggerID string
	// ActionID and Value are the button pressed.
	ActionID, Value string
	// View is the submitted modal.
	View *slack.View
	// Command is the parsed /secops command.
	Command commands.Command

	out answerer
	log zerolog.Logger
}

// Thread is the thread of the pressed message: the thread it is in, or the
// one it starts.
func (r *Request) Thread() string {
	if r.ThreadTS != "" {
		return r.ThreadTS
	}
	return r.MessageTS
}

// Reply answers the person privately: an ephemeral message in the channel,
// or a direct message when there is no channel (a modal) or the ephemeral
// message could not be posted.
func (r *Request) Reply(ctx context.Context, text string, blks []slack.Block) {
	if r.ChannelID != "" {
		err := r.out.PostEphemeral(ctx, r.ChannelID, r.UserID, text, blks)
		if err == nil {
			return
		}
		r.log.Warn().Err(err).Str("channel", r.ChannelID).Msg("ephemeral reply failed; sending a direct message instead")
	}
	r.DM(ctx, text, blks)
}

// DM sends the person a direct message.
func (r *Request) DM(ctx context.Context, text string, blks []slack.Block) {
	if err := r.out.PostDM(ctx, r.UserID, text, blks); err != nil {
		r.log.Error().Err(err).Str("user", r.UserID).Msg("send direct message")
	}
}

// replier is Reply bound to ctx, for helpers that answer through a
// function.
func (r *Request) replier(ctx context.Context) func(string, []slack.Block) {
	return func(text string, blks []slack.Block) { r.Reply(ctx, text, blks) }
}

// Post posts a message for everyone in a channel, in a thread when
// threadTS is set.
func (r *Request) Post(ctx context.Context, channel, threadTS, text string, blks []slack.Block) error {
	return r.out.Post(ctx, channel, threadTS, text, blks)
}

// OpenView opens a modal with the request's trigger.
func (r *Request) OpenView(ctx context.Context, v slack.ModalViewRequest) (*slack.ViewResponse, error) {
	return r.out.OpenView(ctx, r.TriggerID, v)
}

// UpdateView replaces an open modal (hash: the one it was opened with, so
// a modal the person moved on from is not overwritten).
func (r *Request) UpdateView(ctx context.Context, v slack.ModalViewRequest, hash, viewID string) error {
	return r.out.UpdateView(ctx, v, hash, viewID)
}

// answerer is how requests are answered in Slack.
type answerer interface {
	messenger
	modals
}

// messenger posts messages.
type messenger interface {
	PostEphemeral(ctx context.Context, channel, user, text string, blks []slack.Block) error
	PostDM(ctx context.Context, user, text string, blks []slack.Block) error
	Post(ctx context.Context, channel, threadTS, text string, blks []slack.Block) error
}

// modals opens and updates modals.
type modals interface {
	OpenView(ctx context.Context, trigger string, v slack.ModalViewRequest) (*slack.ViewResponse, error)
	UpdateView(ctx context.Context, v slack.ModalViewRequest, hash, viewID string) error
}

// webAnswerer answers through Slack's Web API.
type webAnswerer struct{ api *slack.Client }

func msgOptions(text string, blks []slack.Block) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blks...))
	}
	return opts
}

func (w webAnswerer) PostEphemeral(ctx context.Context, channel, user, text string, blks []slack.Block) error {
	_, err := w.api.PostEphemeralContext(ctx, channel, user, msgOptions(text, blks)...)
	return err
}

func (w webAnswerer) PostDM(ctx context.Context, user, text string, blks []slack.Block) error {
	ch, _, _, err := w.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return fmt.Errorf("open direct message: %w", err)
	}
	if _, _, err := w.api.PostMessageContext(ctx, ch.ID, msgOptions(text, blks)...); err != nil {
		return fmt.Errorf("post direct message: %w", err)
	}
	return nil
}

func (w webAnswerer) Post(ctx context.Context, channel, threadTS, text string, blks []slack.Block) error {
	opts := msgOptions(text, blks)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, _, err := w.api.PostMessageContext(ctx, channel, opts...)
	return err
}

func (w webAnswerer) OpenView(ctx context.Context, trigger string, v slack.ModalViewRequest) (*slack.ViewResponse, error) {
	return w.api.OpenViewContext(ctx, trigger, v)
}

func (w webAnswerer) UpdateView(ctx context.Context, v slack.ModalViewRequest, hash, viewID string) error {
	_, err := w.api.UpdateViewContext(ctx, v, "", hash, viewID)
	return err
}
