package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/respond/breakglass/stepup"
	"github.com/secops-bot/secops-bot/store"
)

// BreakGlassSlack is the Slack side of break-glass access: it implements
// breakglass.Notifier, Threads, Emails and OnCall, so the service can be
// built before the bot routes any click to it.
type BreakGlassSlack struct {
	b   *Bot
	opt BreakGlassOptions
}

// BreakGlassOptions say where a request's copies go and whom to mention.
type BreakGlassOptions struct {
	// SecOpsChannel (a configured name or an ID) holds the finding thread
	// that a request made for a finding is copied to; the first routed
	// channel where the finding was posted is used otherwise.
	SecOpsChannel string
	// Approvers are roles.approvers: user IDs, user-group IDs (S…) or
	// handles (@handle), mentioned as their members.
	Approvers []string
}

var (
	_ breakglass.Notifier = (*BreakGlassSlack)(nil)
	_ breakglass.Threads  = (*BreakGlassSlack)(nil)
	_ breakglass.Emails   = (*BreakGlassSlack)(nil)
	_ breakglass.OnCall   = (*BreakGlassSlack)(nil)
)

// BreakGlassSlack returns the break-glass adapter of this bot.
func (b *Bot) BreakGlassSlack(opt BreakGlassOptions) *BreakGlassSlack {
	return &BreakGlassSlack{b: b, opt: opt}
}

// location renders break-glass times in the SecOps team's time zone: the
// approvers and responders are SecOps.
func (s *BreakGlassSlack) location() *time.Location {
	if s.b.org != nil {
		if l := s.b.org.SecOps().Location; l != nil {
			return l
		}
	}
	return time.UTC
}

// resolve maps a configured channel name to its ID; IDs (and the IM
// channels of DMs) pass through.
func (s *BreakGlassSlack) resolve(channel string) string {
	if id, ok := s.b.threads.channelID(channel); ok {
		return id
	}
	return channel
}

func (s *BreakGlassSlack) render(m breakglass.Message) []slack.MsgOption {
	text, blks := blocks.BreakglassMessage(m, s.location())
	if m.Kind == breakglass.KindRequesterNote {
		text, blks = blocks.BreakglassRequesterNote(m.Request, s.location(), s.requestLink(m.Request))
	}
	return []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)}
}

// requestLink is the permalink of the request's message in the approvers'
// channel, "" before it was posted.
func (s *BreakGlassSlack) requestLink(r breakglass.Request) string {
	ref, ok := r.Message(breakglass.PlaceApprovers)
	if !ok {
		return ""
	}
	return s.b.threads.permalink(s.resolve(ref.Channel), ref.TS)
}

// Post posts a break-glass message, in a thread when threadTS is set.
func (s *BreakGlassSlack) Post(ctx context.Context, channel, threadTS string, m breakglass.Message) (string, error) {
	opts := s.render(m)
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	_, ts, err := s.b.api.PostMessageContext(ctx, s.resolve(channel), opts...)
	if err != nil {
		return "", fmt.Errorf("post break-glass %s to %s: %w", m.Kind, channel, err)
	}
	return ts, nil
}

// Update edits a break-glass message in place.
func (s *BreakGlassSlack) Update(ctx context.Context, channel, ts string, m breakglass.Message) error {
	if _, _, _, err := s.b.api.UpdateMessageContext(ctx, s.resolve(channel), ts, s.render(m)...); err != nil {
		return fmt.Errorf("update break-glass %s in %s: %w", m.Kind, channel, err)
	}
	return nil
}

// DM sends a private message to user and returns its IM channel and ts.
func (s *BreakGlassSlack) DM(ctx context.Context, user string, m breakglass.Message) (string, string, error) {
	ch, _, _, err := s.b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return "", "", fmt.Errorf("open a direct message with %s: %w", user, err)
	}
	_, ts, err := s.b.api.PostMessageContext(ctx, ch.ID, s.render(m)...)
	if err != nil {
		return "", "", fmt.Errorf("send break-glass %s to %s: %w", m.Kind, user, err)
	}
	return ch.ID, ts, nil
}

// FindingThread returns the finding's message in the SecOps channel, or
// in the first routed channel where it was posted. A finding never posted
// has no thread ("" and no error).
func (s *BreakGlassSlack) FindingThread(ctx context.Context, findingID string) (string, string, error) {
	if s.b.kit.Store == nil {
		return "", "", nil
	}
	f, err := s.b.kit.Store.GetFinding(ctx, findingID)
	if err != nil {
		return "", "", fmt.Errorf("finding thread of %s: %w", findingID, err)
	}
	var candidates []string
	if id, ok := s.b.threads.channelID(s.opt.SecOpsChannel); ok {
		candidates = append(candidates, id)
	}
	for _, name := range f.SlackChannels() {
		if id, ok := s.b.threads.channelID(name); ok && !slices.Contains(candidates, id) {
			candidates = append(candidates, id)
		}
	}
	for _, ch := range candidates {
		ts, err := s.b.threads.messageTS(ctx, f.ID, ch)
		if err != nil {
			return "", "", fmt.Errorf("finding thread of %s: %w", findingID, err)
		}
		if ts != "" {
			return ch, ts, nil
		}
	}
	return "", "", nil
}

// Email is the user's Slack profile email (users.info, scope
// users:read.email), which identifies them in IAM Identity Center.
func (s *BreakGlassSlack) Email(ctx context.Context, userID string) (string, error) {
	u, err := s.b.api.GetUserInfoContext(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("users.info %s: %w", userID, err)
	}
	return u.Profile.Email, nil
}

// Approvers lists the user IDs of roles.approvers, groups expanded. A
// group that cannot be read is skipped and reported, so the others are
// still mentioned.
func (s *BreakGlassSlack) Approvers(ctx context.Context) ([]string, error) {
	var out []string
	var errs []error
	for _, a := range s.opt.Approvers {
		if strings.HasPrefix(a, "@") || strings.HasPrefix(a, "S") {
			members, err := s.b.dir.GroupMembers(ctx, a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, m := range members {
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
			continue
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, errors.Join(errs...)
}

// breakGlass is break-glass access in Slack: the request form, the
// approvers' buttons and the deny form, the requester's and the session's
// buttons, and the audit command. Buttons carry only an opaque request ID;
// the service reloads the request and checks the user.
type breakGlass struct {
	*kit
	svc *breakglass.Service
	loc *time.Location // times are shown in the SecOps team's zone
	// enrol issues one-time code secrets to approvers who have none;
	// nil when step-up is not configured.
	enrol Enroller
}

// Enroller issues one-time code secrets (stepup.Service).
type Enroller interface {
	StateOf(ctx context.Context, user string) (stepup.State, error)
	Enroll(ctx context.Context, user, label string) (stepup.Enrolment, error)
}

// Routes adds /secops breakglass and /secops audit, the break-glass buttons
// and the request and deny modals.
func (h *breakGlass) Routes(r *Router) {
	r.Command(commands.BreakGlass, h.onCommand)
	r.Command(commands.Audit, h.onAudit)
	r.View(blocks.CallbackBreakglassRequest, h.onRequestSubmitted)
	r.View(blocks.CallbackBreakglassDeny, h.onDenySubmitted)
	r.View(blocks.CallbackBreakglassStepUp, h.onStepUpSubmitted)
	r.Action(blocks.ActionBreakglassApprove, h.approve)
	r.Action(blocks.ActionBreakglassSelfApprove, h.selfApprove)
	r.Action(blocks.ActionBreakglassRevoke, h.revoke)
	r.Action(blocks.ActionBreakglassWithdraw, h.withdraw)
	r.Action(blocks.ActionBreakglassReview, h.review)
	r.Action(blocks.ActionBreakglassCLI, h.cli)
	r.Action(blocks.ActionBreakglassConsole, h.console)
	r.Action(blocks.ActionBreakglassDeny, h.onDenyClicked)
}

// say answers the user in plain words.
func say(ctx context.Context, r *Request) func(string) {
	return func(text string) { r.Reply(ctx, text, nil) }
}

func (h *breakGlass) approve(ctx context.Context, r *Request) {
	// An account that asks for a one-time code gets the code form first;
	// trigger_id lives 3 seconds, so only a store read comes before it.
	if need, err := h.svc.NeedsStepUp(ctx, r.Value); err == nil && need {
		h.askForCode(ctx, r)
		return
	}
	req, err := h.svc.Approve(ctx, r.Actor, r.Value)
	h.approved(ctx, r, req, err)
}

// askForCode opens the code form; an approver without a secret yet gets
// one by direct message first, shown once.
func (h *breakGlass) askForCode(ctx context.Context, r *Request) {
	if h.enrol == nil {
		r.Reply(ctx, "This account asks approvers for a one-time code, but one-time codes are not configured (step_up.keys); ask an admin.", nil)
		return
	}
	if err := h.svc.MayApprove(ctx, r.Actor, r.Value); err != nil {
		h.answer(err, say(ctx, r))
		return
	}
	state, err := h.enrol.StateOf(ctx, r.UserID)
	if err != nil {
		h.log.Error().Err(err).Msg("read one-time code enrolment")
		r.Reply(ctx, "Could not read your one-time code setup; try again.", nil)
		return
	}
	// A secret is issued once: an approver who has not entered its first
	// code yet uses the one already sent (an admin resets a lost one).
	if state == stepup.None {
		e, err := h.enrol.Enroll(ctx, r.UserID, r.UserID)
		if err != nil {
			r.Reply(ctx, asSentence(err.Error()), nil)
			return
		}
		text, blks := blocks.BreakglassEnrolment(e.Secret, e.URI)
		r.DM(ctx, text, blks)
	}
	if _, err := r.OpenView(ctx, blocks.BreakglassStepUpModal(r.Value, state != stepup.Confirmed)); err != nil {
		h.log.Warn().Err(err).Str("request", r.Value).Msg("open one-time code form")
		r.Reply(ctx, "Could not open the code form; press Approve again.", nil)
	}
}

func (h *breakGlass) onStepUpSubmitted(ctx context.Context, r *Request) {
	id, code, err := blocks.ReadBreakglassStepUp(*r.View)
	if err != nil {
		r.Reply(ctx, "The code form was incomplete: "+err.Error(), nil)
		return
	}
	req, err := h.svc.ApproveWithCode(ctx, r.Actor, id, code)
	if err == nil && (req.State == breakglass.StateApproved || req.State == breakglass.StateActive) {
		r.Reply(ctx, fmt.Sprintf("Code accepted: %s approved.", req.ID), nil)
	}
	h.approved(ctx, r, req, err)
}

// approved tells the approver what their approval did.
func (h *breakGlass) approved(ctx context.Context, r *Request, req breakglass.Request, err error) {
	switch {
	case err != nil:
		h.answer(err, say(ctx, r))
	case req.State == breakglass.StatePending:
		r.Reply(ctx, fmt.Sprintf("Your approval of %s is recorded; a second, different approver is needed.", req.ID), nil)
	case req.State == breakglass.StateFailed:
		r.Reply(ctx, fmt.Sprintf("Approved, but access to %s could not be granted; the request message says why.", accountLabel(req)), nil)
	}
}

func (h *breakGlass) selfApprove(ctx context.Context, r *Request) {
	if _, err := h.svc.SelfApprove(ctx, r.Actor, r.Value); err != nil {
		h.answer(err, say(ctx, r))
	}
}

func (h *breakGlass) revoke(ctx context.Context, r *Request) {
	if _, err := h.svc.Revoke(ctx, r.Actor, r.Value); err != nil {
		h.answer(err, say(ctx, r))
		return
	}
	r.Reply(ctx, "Access revoked: the session's credentials and sign-in link no longer work.", nil)
}

func (h *breakGlass) withdraw(ctx context.Context, r *Request) {
	req, err := h.svc.Withdraw(ctx, r.Actor, r.Value)
	if err != nil {
		h.answer(err, say(ctx, r))
		return
	}
	r.Reply(ctx, fmt.Sprintf("Request %s withdrawn; you can file a new one.", req.ID), nil)
}

func (h *breakGlass) review(ctx context.Context, r *Request) {
	if _, err := h.svc.CloseReview(ctx, r.Actor, r.Value, "closed from Slack"); err != nil {
		h.answer(err, say(ctx, r))
	}
}

func (h *breakGlass) cli(ctx context.Context, r *Request) {
	if err := h.svc.Deliver(ctx, r.Actor, r.Value, true); err != nil {
		h.answer(err, say(ctx, r))
	}
}

// console follows a press of the sign-in link button, which Slack reports
// as well as opening the link. A federation sign-in token is good for 15
// minutes, so a fresh link replaces the used one for the next press.
func (h *breakGlass) console(ctx context.Context, r *Request) {
	if err := h.svc.Deliver(ctx, r.Actor, r.Value, false); err != nil && !errors.Is(err, breakglass.ErrNotActive) {
		h.answer(err, say(ctx, r))
	}
}

// onDenyClicked asks the approver why; trigger_id lives 3 seconds, so the
// modal opens first and who may deny is checked on submission.
func (h *breakGlass) onDenyClicked(ctx context.Context, r *Request) {
	if _, err := r.OpenView(ctx, blocks.BreakglassDenyModal(r.Value)); err != nil {
		h.log.Warn().Err(err).Str("request", r.Value).Msg("open break-glass deny modal")
		r.Reply(ctx, "Could not open the form; press Deny again.", nil)
	}
}

func (h *breakGlass) onDenySubmitted(ctx context.Context, r *Request) {
	id, reason, err := blocks.ReadBreakglassDeny(*r.View)
	if err != nil {
		r.Reply(ctx, "The deny form was incomplete: "+err.Error(), nil)
		return
	}
	if _, err := h.svc.Deny(ctx, r.Actor, id, reason); err != nil {
		h.answer(err, say(ctx, r))
	}
}

// onCommand opens the request modal, prefilled from the command line. The
// form lists the accounts and levels that can be requested, so it opens
// only for those who may request; the role check is a cache hit or one
// usergroups call, well inside the 3 seconds a trigger_id lives. Whether
// this request is allowed is checked again when it is submitted.
func (h *breakGlass) onCommand(ctx context.Context, r *Request) {
	parsed := r.Command
	if err := h.svc.MayRequest(ctx, r.Actor); err != nil {
		h.answer(err, say(ctx, r))
		return
	}
	cfg := h.svc.Config()
	p := blocks.BreakglassPrefill{Duration: parsed.Duration, Reason: parsed.Reason, FindingID: findingIn(parsed.Reason)}
	var unknown string
	if parsed.Account != "" {
		if id, ok := cfg.Lookup(parsed.Account); ok {
			p.Account = id
		} else {
			unknown = parsed.Account
		}
	}
	if _, err := r.OpenView(ctx, blocks.BreakglassRequestModal(cfg, p)); err != nil {
		h.log.Warn().Err(err).Msg("open break-glass request modal")
		r.Reply(ctx, "Could not open the request form; run the command again.", nil)
		return
	}
	if unknown != "" {
		r.Reply(ctx, fmt.Sprintf("Break-glass access is not configured for %s; choose one of the configured accounts in the form.", blocks.Code(unknown)), nil)
	}
}

// findingIn returns the first finding ID mentioned in text, so
// `/secops breakglass prod 30m removing the share of F-…` links the
// request to its finding.
func findingIn(text string) string {
	for _, w := range strings.Fields(text) {
		w = strings.ToUpper(strings.Trim(w, ".,;:()[]\"'`"))
		if commands.IsFindingID(w) {
			return w
		}
	}
	return ""
}

func (h *breakGlass) onRequestSubmitted(ctx context.Context, r *Request) {
	sub, err := blocks.ReadBreakglassRequest(*r.View)
	if err != nil {
		r.Reply(ctx, "The break-glass form was incomplete: "+err.Error()+". Run /secops breakglass again.", nil)
		return
	}
	var note string
	if sub.FindingID != "" {
		id := strings.ToUpper(sub.FindingID)
		if _, err := h.Store.GetFinding(ctx, id); err != nil {
			// In an emergency a mistyped finding ID must not hold the
			// request up: it is filed without the link.
			note = fmt.Sprintf(" No finding %s was found, so the request is not linked to one.", id)
			id = ""
		}
		sub.FindingID = id
	}
	_, err = h.svc.Request(ctx, breakglass.NewRequest{
		Requester: r.Actor, Account: sub.Account, Level: sub.Level,
		Duration: sub.Duration, Reason: sub.Reason, FindingID: sub.FindingID,
	})
	if err != nil {
		h.answer(err, say(ctx, r))
		return
	}
	// The service sent the requester the note about the request, which
	// follows its decisions; only the lost finding link is said apart.
	if note != "" {
		r.DM(ctx, strings.TrimSpace(note), nil)
	}
}

// onAudit answers /secops audit breakglass, for approvers and admins.
func (h *breakGlass) onAudit(ctx context.Context, r *Request) {
	parsed := r.Command
	if !h.allowed(ctx, r, authz.Approver, "command.audit", parsed.Subject) {
		return
	}
	since := parsed.Since
	if since <= 0 {
		since = commands.DefaultSince
	}
	from := h.clock.Now().Add(-since)
	recs, err := h.svc.AuditLog(ctx, from, 0)
	if err != nil {
		h.log.Error().Err(err).Msg("read break-glass audit")
		r.Reply(ctx, "Could not read the audit log; try again.", nil)
		return
	}
	h.audit(ctx, r.Actor, "command.audit", parsed.Subject, "ok", "", nil)
	text, blks := blocks.BreakglassAudit(recs, from, h.loc)
	r.Reply(ctx, text, blks)
}

// answer tells the user, in plain words, why the service said no; a
// failure is logged and reported without its internals.
func (h *breakGlass) answer(err error, reply func(string)) {
	if msg, ok := breakGlassMessage(err, h.secopsLocation()); ok {
		reply(msg)
		return
	}
	h.log.Error().Err(err).Msg("break-glass action failed")
	reply("Something went wrong; nothing was changed. Try again, and tell SecOps if it keeps failing.")
}

// breakGlassMessage turns the service's answers into words for the user.
// Refusals and decisions are answers; anything wrapping a cause (the store,
// AWS, Slack) is a failure.
func breakGlassMessage(err error, loc *time.Location) (string, bool) {
	var refused *breakglass.RefusedError
	var decided *breakglass.DecidedError
	var dup *breakglass.DuplicateError
	switch {
	case errors.As(err, &refused):
		return "Not allowed: " + refused.Reason, true
	case errors.As(err, &dup):
		r := dup.Existing
		where := fmt.Sprintf("break-glass request %s for %s in %s", r.ID, r.Level, accountLabel(r))
		switch r.State {
		case breakglass.StateActive:
			return fmt.Sprintf("You already have %s, active until %s; a second one was not filed.", where, blocks.Date(r.EndsAt, loc)), true
		case breakglass.StateApproved:
			return fmt.Sprintf("You already have %s, approved and being granted; a second one was not filed.", where), true
		default:
			return fmt.Sprintf("You already have %s, waiting for approval until %s; a second one was not filed. If it is wrong, withdraw it (the button in the note about it), then file again.", where, blocks.Date(r.DecideBy, loc)), true
		}
	case errors.As(err, &decided):
		// Whatever happened since (granted, expired, revoked), the
		// decision the user collided with was an approval or a denial.
		decision := "approved"
		switch decided.State {
		case breakglass.StateTimedOut:
			return "This request expired undecided; ask the requester to file a new one.", true
		case breakglass.StateDenied:
			decision = "denied"
		case breakglass.StateWithdrawn:
			decision = "withdrawn"
		}
		if decided.By == "" || decided.By == "system" {
			return "This request was already " + decision + ".", true
		}
		return fmt.Sprintf("This request was already %s by <@%s> at %s.", decision, decided.By, blocks.Date(decided.At, loc)), true
	case errors.Is(err, breakglass.ErrNotFound):
		return "No such break-glass request.", true
	case errors.Is(err, breakglass.ErrSelfApproval), errors.Is(err, breakglass.ErrAlreadyApproved),
		errors.Is(err, breakglass.ErrNotActive), errors.Is(err, breakglass.ErrReasonRequired),
		errors.Is(err, breakglass.ErrUnknownAccount), errors.Is(err, breakglass.ErrUnknownLevel),
		errors.Is(err, breakglass.ErrSelfApproveOff), errors.Is(err, store.ErrConflict), errors.Is(err, breakglass.ErrStepUpRequired):
		return asSentence(bgCause(err)), true
	case errors.Unwrap(err) == nil:
		// The state machine's own refusals (no open review, reviewing
		// one's own self-approval) are plain errors without a cause.
		return asSentence(err.Error()), true
	}
	return "", false
}

// bgCause is the message of the sentinel at the bottom of err, without
// the request IDs and account numbers the service wrapped it in — except
// where the wrapping adds the state ("(it is expired)").
func bgCause(err error) string {
	msg := err.Error()
	for _, s := range []error{breakglass.ErrNotActive} {
		if i := strings.Index(msg, s.Error()); i >= 0 {
			return msg[i:]
		}
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == nil {
			if errors.Is(e, store.ErrConflict) {
				return "someone else changed this request at the same moment; try again"
			}
			return e.Error()
		}
	}
	return msg
}

func asSentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// accountLabel is the account's name, or its ID when it has none.
func accountLabel(r breakglass.Request) string {
	if r.AccountName != "" {
		return r.AccountName
	}
	return r.Account
}
