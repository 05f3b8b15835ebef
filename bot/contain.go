package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/containment"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/triage"
)

// Containment in Slack: the Contain… button answers with the actions that
// fit the finding; Preview opens a modal at once (trigger_id lives three
// seconds) and fills it with the exact calls once AWS was read; submitting
// it runs the action, and the result goes to the finding's threads with an
// Undo button. `/secops contain <action> <target>` previews privately with
// a Confirm… button that opens the same modal. Buttons and the modal carry
// only opaque IDs: every step reloads the record and re-authorises.

// Action and callback IDs of this file; the others are in bot/blocks.
const (
	// actionContainReview is the Confirm… button under a command's
	// preview; its value is the record ID.
	actionContainReview = "containment.review"
	// callbackContainWait is the modal shown while AWS is read; it has no
	// submit button.
	callbackContainWait = "containment.wait"
)

// ops holds the containment and playbook handlers, which need each other:
// confirming a playbook step's preview moves the step, and a containment
// run from the picker ticks the matching step.
type ops struct {
	b      *Bot
	svc    *containment.Service // nil: containment is off
	runner *playbooks.Runner    // nil: playbooks are off
	lib    *playbooks.Library
}

// EnableContainment turns on the Contain… button, the containment buttons
// and modal, and /secops contain. Call it before Run.
func (b *Bot) EnableContainment(svc *containment.Service) {
	(&ops{b: b, svc: svc}).register()
}

func (h *ops) register() {
	b := h.b
	if h.svc != nil {
		b.actions[blocks.ActionContain] = h.onContain
		for _, a := range h.svc.Actions() {
			b.actions[blocks.ActionContainPreview+"."+a.ID] = h.onPreview
		}
		b.actions[blocks.ActionContainUndo] = h.onUndo
		b.actions[blocks.ActionContainRetry] = h.onRetry
		b.actions[actionContainReview] = h.onReview
		b.views[blocks.CallbackContain] = h.onConfirm
		b.commands[commands.Contain] = h.onCommand
	}
	if h.runner != nil && h.lib != nil {
		for _, pb := range h.lib.All() {
			for _, s := range pb.Steps {
				for _, k := range []string{blocks.ActionPlaybookDone, blocks.ActionPlaybookSkip, blocks.ActionPlaybookRun} {
					b.actions[k+"."+s.ID] = h.onStep
				}
			}
		}
	}
}

// click is what a button press tells us, the value being a pointer only.
type click struct {
	user    containment.User
	channel string
	trigger string
	value   string
	action  string
}

func clickOf(cb slack.InteractionCallback, act slack.BlockAction) click {
	ch := cb.Channel.ID
	if ch == "" {
		ch = cb.Container.ChannelID
	}
	return click{
		user:    containment.User{ID: cb.User.ID, TeamID: userTeam(cb)},
		channel: ch, trigger: cb.TriggerID, value: act.Value, action: act.ActionID,
	}
}

func (h *ops) replyTo(c click) func(ctx context.Context) func(string, []slack.Block) {
	return func(ctx context.Context) func(string, []slack.Block) {
		return func(text string, blks []slack.Block) { h.b.ephemeral(ctx, c.channel, c.user.ID, text, blks) }
	}
}

// onContain answers the finding's Contain… button with the fitting actions.
func (h *ops) onContain(cb slack.InteractionCallback, act slack.BlockAction) {
	c := clickOf(cb, act)
	reply := h.replyTo(c)
	h.b.work(func(ctx context.Context) {
		a := triage.Actor{UserID: c.user.ID, TeamID: c.user.TeamID}
		d, err := h.b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
		if err != nil || !d.Allowed {
			h.b.refuse(ctx, a, "finding.contain", c.value, d, err, reply(ctx))
			return
		}
		f, err := h.b.svc.Store.GetFinding(ctx, c.value)
		if err != nil {
			reply(ctx)("No such finding.", nil)
			return
		}
		text, blks := blocks.ContainPicker(f, h.svc.Offers(f))
		reply(ctx)(text, blks)
	})
}

// onPreview opens the confirmation modal for one action of the picker.
func (h *ops) onPreview(cb slack.InteractionCallback, act slack.BlockAction) {
	c := clickOf(cb, act)
	actionID := strings.TrimPrefix(c.action, blocks.ActionContainPreview+".")
	h.b.work(func(ctx context.Context) {
		h.previewInModal(ctx, c, func(ctx context.Context) (containment.Record, error) {
			f, err := h.b.svc.Store.GetFinding(ctx, c.value)
			if err != nil {
				return containment.Record{}, fmt.Errorf("no such finding %s", c.value)
			}
			return h.svc.Preview(ctx, c.user, actionID, f)
		})
	})
}

// previewInModal opens a waiting modal with the click's trigger, runs the
// (slow) preview and replaces the modal with the confirmation, or with what
// went wrong. When the modal cannot be opened the preview is answered
// privately with a Confirm… button instead.
func (h *ops) previewInModal(ctx context.Context, c click, preview func(context.Context) (containment.Record, error)) {
	view, openErr := h.b.api.OpenViewContext(ctx, c.trigger, waitModal("Reading the current state in AWS to show the exact calls…"))
	rec, err := preview(ctx)
	if openErr != nil {
		h.b.log.Warn().Err(openErr).Msg("open containment modal")
		if err != nil {
			h.b.ephemeral(ctx, c.channel, c.user.ID, containError(err), nil)
			return
		}
		text, blks := h.previewMessage(rec)
		h.b.ephemeral(ctx, c.channel, c.user.ID, text, blks)
		return
	}
	next := waitModal(containError(err))
	if err == nil {
		a, _ := h.svc.Action(rec.Action)
		next = blocks.ContainConfirmModal(rec, a)
	}
	if _, err := h.b.api.UpdateViewContext(ctx, next, "", view.Hash, view.ID); err != nil {
		h.b.log.Warn().Err(err).Msg("update containment modal")
		h.b.ephemeral(ctx, c.channel, c.user.ID, "Could not show the confirmation; use /secops contain instead.", nil)
	}
}

// waitModal is a modal without a submit button.
func waitModal(text string) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: callbackContainWait,
		Title:      slack.NewTextBlockObject(slack.PlainTextType, "Containment", false, false),
		Close:      slack.NewTextBlockObject(slack.PlainTextType, "Close", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(text, 2900), false, false), nil, nil),
		}},
	}
}

// previewMessage is the private answer to /secops contain: the same
// content as the confirmation modal, and a Confirm… button opening it.
func (h *ops) previewMessage(rec containment.Record) (string, []slack.Block) {
	a, _ := h.svc.Action(rec.Action)
	modal := blocks.ContainConfirmModal(rec, a)
	blks := modal.Blocks.BlockSet
	if len(blks) > 48 {
		blks = blks[:48]
	}
	btn := slack.NewButtonBlockElement(actionContainReview, rec.ID, slack.NewTextBlockObject(slack.PlainTextType, "Confirm…", false, false))
	btn.Style = slack.StyleDanger
	blks = append(append([]slack.Block(nil), blks...), slack.NewActionBlock("containment.review", btn))
	title := a.Title
	if title == "" {
		title = rec.Action
	}
	return fmt.Sprintf("Preview: %s on %s. Nothing has run yet; press Confirm… to review and run it.", title, rec.Target), blks
}

// onCommand previews /secops contain <action> <target> privately.
func (h *ops) onCommand(ctx context.Context, cmd slack.SlashCommand, parsed commands.Command) {
	u := containment.User{ID: cmd.UserID, TeamID: cmd.TeamID}
	reply := func(text string, blks []slack.Block) { h.b.ephemeral(ctx, cmd.ChannelID, cmd.UserID, text, blks) }
	if _, ok := h.svc.Action(parsed.Action); !ok {
		var ids []string
		for _, a := range h.svc.Actions() {
			ids = append(ids, "`"+a.ID+"`")
		}
		reply(fmt.Sprintf("%s is not a containment action. Available: %s.", blocks.Code(parsed.Action), strings.Join(ids, ", ")), nil)
		return
	}
	rec, err := h.svc.PreviewTarget(ctx, u, parsed.Action, parsed.Target.Value)
	if err != nil {
		reply(containError(err), nil)
		return
	}
	reply(h.previewMessage(rec))
}

// onReview opens the confirmation modal for a record previewed by command.
func (h *ops) onReview(cb slack.InteractionCallback, act slack.BlockAction) {
	c := clickOf(cb, act)
	h.b.work(func(ctx context.Context) {
		// Checked before opening so a forged value shows nobody a plan;
		// the run checks again.
		d, err := h.b.svc.Authz.Check(ctx, c.user.ID, c.user.TeamID, authz.Responder)
		if err != nil || !d.Allowed {
			a := triage.Actor{UserID: c.user.ID, TeamID: c.user.TeamID}
			h.b.refuse(ctx, a, actionContainReview, c.value, d, err, func(text string, blks []slack.Block) {
				h.b.ephemeral(ctx, c.channel, c.user.ID, text, blks)
			})
			return
		}
		rec, err := h.svc.Get(ctx, c.value)
		if err != nil {
			h.b.ephemeral(ctx, c.channel, c.user.ID, containError(err), nil)
			return
		}
		a, _ := h.svc.Action(rec.Action)
		if _, err := h.b.api.OpenViewContext(ctx, c.trigger, blocks.ContainConfirmModal(rec, a)); err != nil {
			h.b.log.Warn().Err(err).Msg("open containment confirmation")
			h.b.ephemeral(ctx, c.channel, c.user.ID, "Could not open the confirmation; press Confirm… again.", nil)
		}
	})
}

// onConfirm runs a confirmed preview. The modal closes at once; the result
// goes to the finding's threads, a refusal or error to the user privately.
func (h *ops) onConfirm(cb slack.InteractionCallback) {
	u := containment.User{ID: cb.User.ID, TeamID: userTeam(cb)}
	id, readErr := blocks.ReadContainConfirm(cb.View)
	h.b.work(func(ctx context.Context) {
		dm := func(text string) { h.b.direct(ctx, u.ID, text, nil) }
		if readErr != nil {
			dm("The confirmation carried no containment; preview the action again.")
			return
		}
		h.run(ctx, u, id, dm)
	})
}

// onRetry runs a failed record again.
func (h *ops) onRetry(cb slack.InteractionCallback, act slack.BlockAction) {
	c := clickOf(cb, act)
	h.b.work(func(ctx context.Context) {
		h.run(ctx, c.user, c.value, func(text string) { h.b.ephemeral(ctx, c.channel, c.user.ID, text, nil) })
	})
}

// run runs a record, through its playbook step when a step previewed it
// (so the checklist moves), and posts the result in the finding's threads.
func (h *ops) run(ctx context.Context, u containment.User, id string, tell func(string)) {
	rec, err := h.svc.Get(ctx, id)
	if err != nil {
		tell(containError(err))
		return
	}
	runID, stepID := h.stepOf(ctx, rec)
	if runID != "" {
		rec, err = h.runner.Confirm(ctx, u, runID, stepID)
	} else {
		rec, err = h.svc.Run(ctx, u, id)
	}
	if isRefusal(err) || errors.Is(err, containment.ErrBusy) || rec.ID == "" {
		tell(containError(err))
		return
	}
	if err != nil {
		h.b.log.Warn().Err(err).Str("record", rec.ID).Msg("containment run failed")
	}
	if err == nil && runID == "" {
		h.tickStep(ctx, u, rec)
	}
	if !h.postResult(ctx, rec) {
		a, _ := h.svc.Action(rec.Action)
		text, blks := blocks.ContainResult(rec, a, nil)
		h.b.direct(ctx, u.ID, text, blks)
	}
}

// onUndo restores a record's before-state.
func (h *ops) onUndo(cb slack.InteractionCallback, act slack.BlockAction) {
	c := clickOf(cb, act)
	h.b.work(func(ctx context.Context) {
		rec, err := h.svc.Undo(ctx, c.user, c.value)
		if isRefusal(err) || errors.Is(err, containment.ErrBusy) || rec.ID == "" {
			h.b.ephemeral(ctx, c.channel, c.user.ID, containError(err), nil)
			return
		}
		if err != nil {
			h.b.ephemeral(ctx, c.channel, c.user.ID, containError(err), nil)
		}
		h.postResult(ctx, rec)
	})
}

// postResult posts the record's result in every thread of its finding and
// reports whether there was one.
func (h *ops) postResult(ctx context.Context, rec containment.Record) bool {
	if rec.FindingID == "" {
		return false
	}
	f, err := h.b.svc.Store.GetFinding(ctx, rec.FindingID)
	if err != nil {
		return false
	}
	a, _ := h.svc.Action(rec.Action)
	text, blks := blocks.ContainResult(rec, a, h.b.location(f))
	posted := false
	for _, th := range h.threads(ctx, f) {
		if _, _, err := h.b.api.PostMessageContext(ctx, th.Channel, slack.MsgOptionTS(th.TS), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)); err != nil {
			h.b.log.Error().Err(err).Str("finding_id", f.ID).Str("record", rec.ID).Msg("post containment result")
			continue
		}
		posted = true
	}
	return posted
}

// threads lists the finding's posted messages, SecOps first.
func (h *ops) threads(ctx context.Context, f finding.Finding) []playbooks.Thread {
	var out []playbooks.Thread
	seen := map[string]bool{}
	for _, name := range h.b.routedChannels(f) {
		id, ok := h.b.channelID(name)
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		if ts, err := h.b.messageTS(ctx, f.ID, id); err == nil && ts != "" {
			out = append(out, playbooks.Thread{Channel: id, TS: ts, Permalink: h.b.permalink(id, ts)})
		}
	}
	return out
}

// routedChannels lists the finding's Slack channels, the SecOps channel
// first when the finding goes there.
func (b *Bot) routedChannels(f finding.Finding) []string {
	secops := b.org.SecOps().SlackChannel
	var out []string
	for _, r := range f.Routes {
		name, ok := cutSlack(r)
		if !ok {
			continue
		}
		if name == secops {
			out = append([]string{name}, out...)
		} else {
			out = append(out, name)
		}
	}
	return out
}

// isRefusal reports whether err is a refusal to the user (containment or
// playbook).
func isRefusal(err error) bool {
	return errors.Is(err, containment.ErrRefused) || errors.Is(err, playbooks.ErrRefused)
}

// containError says in plain words what went wrong.
func containError(err error) string {
	if err == nil {
		return ""
	}
	if isRefusal(err) {
		msg := err.Error()
		for _, s := range []error{containment.ErrRefused, playbooks.ErrRefused} {
			msg = strings.TrimSuffix(msg, ": "+s.Error())
		}
		return "Not allowed: " + msg
	}
	if errors.Is(err, containment.ErrBusy) {
		return "This containment is already running; its result will appear in the thread."
	}
	return "Containment: " + containment.PlainError(err)
}
