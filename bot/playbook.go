package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/delivery/tickets"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/containment"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox kinds of the playbook lane (see EnablePlaybooks).
const (
	// KindPlaybookPrefix is the prefix of the lane's kinds:
	// KindPlaybookStart, and playbooks.KindEscalate from the runner.
	KindPlaybookPrefix = "playbook."
	// KindPlaybookStart is the outbox item that starts a finding's
	// playbook once its SecOps message exists (the checklist goes in that
	// thread). Its payload is PlaybookStart.
	KindPlaybookStart = "playbook.start"
)

// PlaybookStart is the payload of a KindPlaybookStart item.
type PlaybookStart struct {
	FindingID string `json:"finding_id"`
}

// startPatience is how many claims of a start item may find the thread
// parent not posted yet before the retries back off: the Slack lane
// usually posts within a poll or two.
const startPatience = 20

// PlaybookNotifier posts playbook runs in Slack, for playbooks.Deps.
func (b *Bot) PlaybookNotifier() playbooks.Notifier { return playbookNotifier{b} }

type playbookNotifier struct{ b *Bot }

func (n playbookNotifier) loc(team string) *time.Location {
	if t, ok := n.b.org.Team(team); ok && t.Location != nil {
		return t.Location
	}
	if s := n.b.org.SecOps(); s.Location != nil {
		return s.Location
	}
	return time.UTC
}

func (n playbookNotifier) PostChecklist(ctx context.Context, pb playbooks.Playbook, run playbooks.Run) (string, error) {
	text, blks := blocks.PlaybookChecklist(pb, run, n.loc(run.Team))
	_, ts, err := n.b.api.PostMessageContext(ctx, run.Thread.Channel, slack.MsgOptionTS(run.Thread.TS), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...))
	if err != nil {
		return "", fmt.Errorf("post checklist: %w", err)
	}
	return ts, nil
}

func (n playbookNotifier) UpdateChecklist(ctx context.Context, pb playbooks.Playbook, run playbooks.Run) error {
	text, blks := blocks.PlaybookChecklist(pb, run, n.loc(run.Team))
	if _, _, _, err := n.b.api.UpdateMessageContext(ctx, run.Thread.Channel, run.MessageTS, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)); err != nil {
		return fmt.Errorf("update checklist: %w", err)
	}
	return nil
}

func (n playbookNotifier) Reply(ctx context.Context, channel, threadTS, text string) error {
	if _, _, err := n.b.api.PostMessageContext(ctx, n.channel(channel), slack.MsgOptionTS(threadTS), slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("reply in thread: %w", err)
	}
	return nil
}

// FollowUp posts the morning follow-up in the owning team's channel,
// rendered from the finding as it is now.
func (n playbookNotifier) FollowUp(ctx context.Context, fu playbooks.FollowUp, f finding.Finding, run *playbooks.Run) (string, error) {
	opts := blocks.FollowUpOptions{Location: n.loc(f.Team), ThreadURL: n.b.threads.firstPosted(ctx, f)}
	if run != nil && run.Thread.Permalink != "" {
		opts.ThreadURL = run.Thread.Permalink
	}
	if base := n.b.cfg.TicketBaseURL; base != "" {
		if t, ok, err := tickets.Lookup(ctx, n.b.kit.Store, f.ID); err == nil && ok {
			opts.TicketKey, opts.TicketURL = t.Key, tickets.BrowseURL(base, t.Key)
		}
	}
	text, blks := blocks.FollowUpMessage(f, run, opts)
	_, ts, err := n.b.api.PostMessageContext(ctx, n.channel(fu.Channel), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...))
	if err != nil {
		return "", fmt.Errorf("post follow-up: %w", err)
	}
	return ts, nil
}

// channel maps a configured channel name to its ID; an unknown one is
// passed on as given.
func (n playbookNotifier) channel(name string) string {
	if id, ok := n.b.threads.channelID(name); ok {
		return id
	}
	return name
}

// stepOf finds the open playbook step that previewed a record.
func (h *contain) stepOf(ctx context.Context, rec containment.Record) (runID, stepID string) {
	if h.runner == nil || rec.FindingID == "" {
		return "", ""
	}
	run, err := h.runner.RunFor(ctx, rec.FindingID)
	if err != nil {
		return "", ""
	}
	for _, s := range run.Steps {
		if s.Record == rec.ID && !s.Closed() {
			return run.ID, s.ID
		}
	}
	return "", ""
}

// checklist is a finding's playbook in its thread: the Done, Skip and Run
// buttons of the checklist the runner posts.
type checklist struct {
	*kit
	runner      *playbooks.Runner
	contain     *contain // previews a step's containment in a modal
	investigate investigation
	// teamID and users say who is a full member of the workspace, who
	// alone may tick the steps anyone in it may tick.
	teamID string
	users  userDirectory
}

// userDirectory looks up who a Slack user is now.
type userDirectory interface {
	User(ctx context.Context, id string) (authz.User, error)
}

// Routes adds the checklist buttons, one route per kind of button:
// playbook.done.<step>, playbook.skip.<step>, playbook.run.<step>.
func (h *checklist) Routes(r *Router) {
	r.Action(blocks.ActionPlaybookDone, h.onStep)
	r.Action(blocks.ActionPlaybookSkip, h.onStep)
	r.Action(blocks.ActionPlaybookRun, h.onStep)
	r.Action(blocks.ActionFollowUpCancel, h.onCancelFollowUp)
}

// onCancelFollowUp cancels a finding's morning follow-up from the note in
// its thread; the runner checks the responder role and audits it.
func (h *checklist) onCancelFollowUp(ctx context.Context, r *Request) {
	fu, err := h.runner.CancelFollowUp(ctx, r.Actor, r.Value)
	if err != nil {
		r.Reply(ctx, stepError(err), nil)
		return
	}
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "Morning follow-up cancelled.", nil)
		return
	}
	text, blks := blocks.FollowUpNote(fu, h.location(f))
	thread := r.ThreadTS
	if thread == "" {
		thread = r.MessageTS
	}
	if err := r.Post(ctx, r.ChannelID, thread, text, blks); err != nil {
		h.log.Warn().Err(err).Str("finding_id", f.ID).Msg("post follow-up cancellation")
		r.Reply(ctx, text, nil)
	}
}

// onStep handles the Done, Skip and Run buttons of a checklist.
func (h *checklist) onStep(ctx context.Context, r *Request) {
	kind, stepID, ok := blocks.StepAction(r.ActionID)
	runID, valueStep, err := blocks.ParseStepValue(r.Value)
	if !ok || err != nil || valueStep != stepID {
		h.log.Warn().Str("action_id", r.ActionID).Msg("malformed playbook button ignored")
		return
	}
	u := r.Actor
	switch kind {
	case blocks.ActionPlaybookDone, blocks.ActionPlaybookSkip:
		// Team steps may be ticked by any member of the workspace; the
		// runner checks roles for the others.
		if reason, ok := h.member(ctx, u); !ok {
			// Recorded like the runner's own refusals: every refusal is
			// in the audit log.
			h.audit(ctx, r.Actor, playbooks.AuditStep, runID+"/"+stepID, "refused", reason, nil)
			r.Reply(ctx, "Not allowed: "+reason, nil)
			return
		}
		var err error
		if kind == blocks.ActionPlaybookDone {
			_, err = h.runner.Done(ctx, u, runID, stepID, "")
		} else {
			_, err = h.runner.Skip(ctx, u, runID, stepID)
		}
		if err != nil {
			r.Reply(ctx, stepError(err), nil)
		}
	case blocks.ActionPlaybookRun:
		h.runStep(ctx, r, runID, stepID)
	}
}

// runStep runs a step's automation. A containment opens the confirmation
// modal first (the trigger expires in three seconds), then previews.
func (h *checklist) runStep(ctx context.Context, r *Request, runID, stepID string) {
	u := r.Actor
	run, err := h.runner.Get(ctx, runID)
	if err != nil {
		r.Reply(ctx, stepError(err), nil)
		return
	}
	pb, _ := h.runner.Playbook(run)
	step, _ := pb.Step(stepID)
	if step.Automation != nil && step.Automation.Kind == playbooks.AutoContain && h.contain != nil && h.contain.svc != nil {
		h.contain.previewInModal(ctx, r, func(ctx context.Context) (containment.Record, error) {
			res, err := h.runner.RunStep(ctx, u, runID, stepID)
			if err != nil {
				return containment.Record{}, err
			}
			if res.Preview == nil {
				return containment.Record{}, errors.New("the step previewed nothing")
			}
			return *res.Preview, nil
		})
		return
	}
	res, err := h.runner.RunStep(ctx, u, runID, stepID)
	if err != nil {
		r.Reply(ctx, stepError(err), nil)
		return
	}
	switch res.Kind {
	case playbooks.AutoInvestigate:
		thread := r.ThreadTS
		if thread == "" {
			thread = run.Thread.TS
		}
		post := func(text string, blks []slack.Block) {
			if err := r.Post(ctx, run.Thread.Channel, thread, text, blks); err != nil {
				h.log.Warn().Err(err).Msg("post investigation in thread")
			}
		}
		h.investigate.investigate(ctx, r.Actor, commands.Target{Kind: commands.TargetARN, Value: res.Actor}, 0, res.Until, "playbook "+runID+"/"+stepID, post)
	case playbooks.AutoAbuseReport:
		r.Reply(ctx, "The prefilled abuse report is in the thread.", nil)
	case playbooks.AutoBreakGlass:
		f, _ := h.Store.GetFinding(ctx, run.FindingID)
		r.Reply(ctx, fmt.Sprintf("Request access with `/secops breakglass %s 30m <reason>`; a manager approves it. Mark this step done once access is granted.", f.AccountID), nil)
	case playbooks.AutoFollowUp:
		r.Reply(ctx, "Follow-up scheduled: "+res.Text, nil)
	default:
		r.Reply(ctx, "Done.", nil)
	}
}

// stepError says in plain words why a step did not move.
func stepError(err error) string {
	switch {
	case isRefusal(err):
		return containError(err)
	case errors.Is(err, playbooks.ErrNoRun), errors.Is(err, playbooks.ErrNoStep):
		return "This playbook step no longer exists."
	case errors.Is(err, playbooks.ErrStepState):
		return "This step cannot do that now: " + err.Error()
	}
	return "The step failed: " + containment.PlainError(err)
}

// member reports whether the user is a current, full member of the
// workspace (not a guest, bot or Slack Connect outsider).
func (h *checklist) member(ctx context.Context, u authz.Actor) (string, bool) {
	if u.TeamID != h.teamID {
		return "only members of this workspace may act here", false
	}
	info, err := h.users.User(ctx, u.UserID)
	switch {
	case err != nil:
		return "your Slack account could not be looked up; try again in a minute", false
	case info.TeamID != "" && info.TeamID != h.teamID:
		return "only members of this workspace may act here", false
	case info.Deleted, info.IsBot, info.Restricted, info.UltraRestricted:
		return "guests, bots and deactivated accounts may not tick playbook steps", false
	}
	return "", true
}

// playbookStarts is the outbox lane of the playbooks (KindPlaybookPrefix):
// it starts a finding's run once its SecOps message exists, and fires the
// runs' escalations.
type playbookStarts struct {
	*kit
	api    *slack.Client
	runner *playbooks.Runner
}

// lane carries the items; a step in flight (a Slack post, an escalation)
// finishes even when shutdown starts, as Slack deliveries do.
func (h *playbookStarts) lane() outbox.Lane {
	return outbox.Lane{
		Prefix: KindPlaybookPrefix, Handler: outbox.HandlerFunc(h.deliver),
		Poll: outboxPoll, Batch: outboxBatch, Lease: outboxLease,
		Timeout: deliveryTimeout, Grace: deliveryTimeout, Backoff: backoff,
	}
}

// deliver starts a playbook, fires an escalation or ticks the steps of an
// action that ran.
func (h *playbookStarts) deliver(ctx context.Context, it store.OutboxItem) error {
	var err error
	switch it.Kind {
	case KindPlaybookStart:
		err = h.start(ctx, it)
	case playbooks.KindEscalate:
		err = h.runner.Escalate(ctx, it.Payload)
	case playbooks.KindFollowUp:
		err = h.runner.PostFollowUp(ctx, it.Payload)
		if errors.Is(err, playbooks.ErrNoRun) {
			return outbox.Drop(err)
		}
	case playbooks.KindFollowUpNote:
		err = h.followUpNote(ctx, it)
	case playbooks.KindRan, playbooks.KindFixed:
		err = h.runner.Tick(ctx, it)
		if errors.Is(err, playbooks.ErrNoRun) || errors.Is(err, playbooks.ErrNoStep) {
			return outbox.Drop(err)
		}
	default:
		return outbox.Drop(fmt.Errorf("unknown playbook item kind %q", it.Kind))
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Errorf("%w; %w", err, outbox.RetryAfter(rl.RetryAfter))
	}
	return err
}

// secopsThread is the finding's thread in the first routed channel (SecOps
// first), or a retry while its message is not posted yet.
func (h *playbookStarts) secopsThread(ctx context.Context, f finding.Finding, it store.OutboxItem) (playbooks.Thread, error) {
	var th playbooks.Thread
	for _, name := range h.routedChannels(f) {
		if id, ok := h.threads.channelID(name); ok {
			th.Channel = id
			break
		}
	}
	if th.Channel == "" {
		return th, nil
	}
	ts, err := h.threads.messageTS(ctx, f.ID, th.Channel)
	if err != nil {
		return th, err
	}
	if ts == "" {
		wait := time.Duration(0)
		if it.Attempts > startPatience {
			wait = backoff(it.Attempts - startPatience)
		}
		return th, retryLater(wait, "finding not posted yet")
	}
	th.TS, th.Permalink = ts, h.threads.permalink(th.Channel, ts)
	return th, nil
}

// followUpNote says in the finding's thread when its morning follow-up
// goes out, with the button that cancels it, unless it was cancelled or
// moved meanwhile.
func (h *playbookStarts) followUpNote(ctx context.Context, it store.OutboxItem) error {
	var tm playbooks.FollowUpTimer
	if err := json.Unmarshal(it.Payload, &tm); err != nil {
		return outbox.Drop(fmt.Errorf("undecodable follow-up note: %w", err))
	}
	fu, ok, err := h.runner.FollowUpOf(ctx, tm.FindingID)
	if err != nil {
		return err
	}
	if ok && (fu.State != playbooks.FollowUpScheduled || !fu.At.Equal(tm.At)) {
		return nil
	}
	f, err := h.Store.GetFinding(ctx, tm.FindingID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", tm.FindingID, err)
	}
	th, err := h.secopsThread(ctx, f, it)
	if err != nil || th.TS == "" {
		return err
	}
	channel := ""
	if t, ok := h.org.Team(f.Team); ok {
		channel = t.SlackChannel
	}
	if id, ok := h.threads.channelID(channel); ok {
		channel = id
	}
	text, blks := blocks.FollowUpNote(playbooks.FollowUp{FindingID: f.ID, Channel: channel, At: tm.At, State: playbooks.FollowUpScheduled}, h.location(f))
	if _, _, err := h.api.PostMessageContext(ctx, th.Channel, slack.MsgOptionTS(th.TS), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)); err != nil {
		return fmt.Errorf("post follow-up note of %s: %w", f.ID, err)
	}
	return nil
}

// start starts the finding's playbook in its SecOps thread once the
// message is posted.
func (h *playbookStarts) start(ctx context.Context, it store.OutboxItem) error {
	var p PlaybookStart
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return outbox.Drop(fmt.Errorf("undecodable playbook start: %w", err))
	}
	f, err := h.Store.GetFinding(ctx, p.FindingID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	if f.Status != finding.StatusOpen {
		return nil // resolved or suppressed before the thread existed
	}
	th, err := h.secopsThread(ctx, f, it)
	if err != nil {
		return err
	}
	if th.Channel == "" {
		h.log.Info().Str("finding_id", f.ID).Msg("finding has no Slack thread; playbook not started")
		return nil
	}
	run, err := h.runner.Start(ctx, f, th)
	if errors.Is(err, playbooks.ErrNoPlaybook) {
		return nil
	}
	if err != nil {
		return err
	}
	h.log.Info().Str("finding_id", f.ID).Str("run", run.ID).Str("playbook", run.Playbook).Msg("playbook started")
	return nil
}
