package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/containment"
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

// contain is containment in Slack (see above). A run previewed by a
// playbook step confirms that step; any other run ticks the steps that ask
// for its action through the containment service's recorder, like every
// other path.
type contain struct {
	*kit
	svc    *containment.Service // nil: containment is off
	runner *playbooks.Runner    // nil: playbooks are off
}

// Routes adds the Contain… button, the containment buttons and modal, and
// /secops contain; with containment off, only an answer to Contain… that
// says so.
func (h *contain) Routes(r *Router) {
	if h.svc == nil {
		r.Action(blocks.ActionContain, h.onContainOff)
		return
	}
	r.Action(blocks.ActionContain, h.onContain)
	r.Action(blocks.ActionContainPreview, h.onPreview)
	r.Action(blocks.ActionContainUndo, h.onUndo)
	r.Action(blocks.ActionContainUndoReview, h.onUndoReview)
	r.View(blocks.CallbackContainUndo, h.onUndoConfirm)
	r.Action(blocks.ActionContainRetry, h.onRetry)
	r.Action(actionContainReview, h.onReview)
	r.View(blocks.CallbackContain, h.onConfirm)
	r.Command(commands.Contain, h.onCommand)
}

// onContainOff answers the finding's Contain… button when no containment
// actions are configured.
func (h *contain) onContainOff(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "finding.contain", r.Value) {
		return
	}
	r.Reply(ctx, "No containment actions are enabled in this deployment.", nil)
}

// onContain answers the finding's Contain… button with the fitting actions.
func (h *contain) onContain(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "finding.contain", r.Value) {
		return
	}
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	text, blks := blocks.ContainPicker(f, h.svc.Offers(f))
	r.Reply(ctx, text, blks)
}

// onPreview opens the confirmation modal for one action of the picker
// (containment.preview.<action>).
func (h *contain) onPreview(ctx context.Context, r *Request) {
	actionID := strings.TrimPrefix(r.ActionID, blocks.ActionContainPreview+".")
	if _, ok := h.svc.Action(actionID); !ok {
		h.log.Debug().Str("action_id", r.ActionID).Msg("unknown containment action ignored")
		return
	}
	h.previewInModal(ctx, r, func(ctx context.Context) (containment.Record, error) {
		f, err := h.Store.GetFinding(ctx, r.Value)
		if err != nil {
			return containment.Record{}, fmt.Errorf("no such finding %s", r.Value)
		}
		return h.svc.Preview(ctx, r.Actor, actionID, f)
	})
}

// previewInModal opens a waiting modal with the click's trigger, runs the
// (slow) preview and replaces the modal with the confirmation, or with what
// went wrong. When the modal cannot be opened the preview is answered
// privately with a Confirm… button instead.
func (h *contain) previewInModal(ctx context.Context, r *Request, preview func(context.Context) (containment.Record, error)) {
	view, openErr := r.OpenView(ctx, waitModal("Reading the current state in AWS to show the exact calls…"))
	rec, err := preview(ctx)
	if openErr != nil {
		h.log.Warn().Err(openErr).Msg("open containment modal")
		if err != nil {
			r.Reply(ctx, containError(err), nil)
			return
		}
		text, blks := h.previewMessage(rec)
		r.Reply(ctx, text, blks)
		return
	}
	next := waitModal(containError(err))
	if err == nil {
		a, _ := h.svc.Action(rec.Action)
		next = blocks.ContainConfirmModal(rec, a)
	}
	if err := r.UpdateView(ctx, next, view.Hash, view.ID); err != nil {
		h.log.Warn().Err(err).Msg("update containment modal")
		r.Reply(ctx, "Could not show the confirmation; use /secops contain instead.", nil)
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
func (h *contain) previewMessage(rec containment.Record) (string, []slack.Block) {
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
func (h *contain) onCommand(ctx context.Context, r *Request) {
	parsed := r.Command
	if _, ok := h.svc.Action(parsed.Action); !ok {
		var ids []string
		for _, a := range h.svc.Actions() {
			ids = append(ids, "`"+a.ID+"`")
		}
		r.Reply(ctx, fmt.Sprintf("%s is not a containment action. Available: %s.", blocks.Code(parsed.Action), strings.Join(ids, ", ")), nil)
		return
	}
	rec, err := h.svc.PreviewTarget(ctx, r.Actor, parsed.Action, parsed.Target.Value)
	if err != nil {
		r.Reply(ctx, containError(err), nil)
		return
	}
	text, blks := h.previewMessage(rec)
	r.Reply(ctx, text, blks)
}

// onReview opens the confirmation modal for a record previewed by command.
func (h *contain) onReview(ctx context.Context, r *Request) {
	// Checked before opening so a forged value shows nobody a plan; the
	// run checks again.
	if !h.allowed(ctx, r, authz.Responder, actionContainReview, r.Value) {
		return
	}
	rec, err := h.svc.Get(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, containError(err), nil)
		return
	}
	a, _ := h.svc.Action(rec.Action)
	if _, err := r.OpenView(ctx, blocks.ContainConfirmModal(rec, a)); err != nil {
		h.log.Warn().Err(err).Msg("open containment confirmation")
		r.Reply(ctx, "Could not open the confirmation; press Confirm… again.", nil)
	}
}

// onConfirm runs a confirmed preview. The modal closed at once; the result
// goes to the finding's threads, a refusal or error to the user privately.
func (h *contain) onConfirm(ctx context.Context, r *Request) {
	id, err := blocks.ReadContainConfirm(*r.View)
	if err != nil {
		r.Reply(ctx, "The confirmation carried no containment; preview the action again.", nil)
		return
	}
	h.run(ctx, r, id)
}

// onRetry runs a failed record again.
func (h *contain) onRetry(ctx context.Context, r *Request) {
	h.run(ctx, r, r.Value)
}

// run runs a record, through its playbook step when a step previewed it,
// and posts the result in the finding's threads.
func (h *contain) run(ctx context.Context, r *Request, id string) {
	u := r.Actor
	rec, err := h.svc.Get(ctx, id)
	if err != nil {
		r.Reply(ctx, containError(err), nil)
		return
	}
	runID, stepID := h.stepOf(ctx, rec)
	if runID != "" {
		rec, err = h.runner.Confirm(ctx, u, runID, stepID)
	} else {
		rec, err = h.svc.Run(ctx, u, id)
	}
	if isRefusal(err) || errors.Is(err, containment.ErrBusy) || rec.ID == "" {
		r.Reply(ctx, containError(err), nil)
		return
	}
	if err != nil {
		h.log.Warn().Err(err).Str("record", rec.ID).Msg("containment run failed")
	}
	if !h.postResult(ctx, r, rec) {
		a, _ := h.svc.Action(rec.Action)
		text, blks := blocks.ContainResult(rec, a, nil)
		r.DM(ctx, text, blks)
	}
}

// onUndo undoes a record at once when its target is as the run left it.
// When it changed since, nothing is undone: the changes are shown in a
// modal to confirm (or, when the press's trigger has expired while AWS was
// read, privately with a button that opens it).
func (h *contain) onUndo(ctx context.Context, r *Request) {
	rec, err := h.svc.Undo(ctx, r.Actor, r.Value)
	if errors.Is(err, containment.ErrDrift) && rec.UndoReview != nil {
		h.reviewUndo(ctx, r, rec)
		return
	}
	if isRefusal(err) || errors.Is(err, containment.ErrBusy) || rec.ID == "" {
		r.Reply(ctx, containError(err), nil)
		return
	}
	if err != nil {
		r.Reply(ctx, containError(err), nil)
	}
	h.postResult(ctx, r, rec)
}

// reviewUndo shows the changes made to a record's target since the run,
// for the person to confirm the undo.
func (h *contain) reviewUndo(ctx context.Context, r *Request, rec containment.Record) {
	a, _ := h.svc.Action(rec.Action)
	_, err := r.OpenView(ctx, blocks.ContainUndoModal(rec, a))
	if err == nil {
		return
	}
	h.log.Debug().Err(err).Str("record", rec.ID).Msg("open undo confirmation; answering privately")
	text, blks := blocks.ContainUndoReview(rec, a)
	r.Reply(ctx, text, blks)
}

// onUndoReview opens the undo confirmation from the private message.
func (h *contain) onUndoReview(ctx context.Context, r *Request) {
	// Checked before opening so a forged value shows nobody the changes;
	// the undo checks again, with the admin role when the action needs it.
	if !h.allowed(ctx, r, authz.Responder, blocks.ActionContainUndoReview, r.Value) {
		return
	}
	rec, err := h.svc.Get(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, containError(err), nil)
		return
	}
	if !rec.Undoable() || rec.UndoReview == nil {
		r.Reply(ctx, "There is nothing to review: this containment is "+string(rec.State)+".", nil)
		return
	}
	a, _ := h.svc.Action(rec.Action)
	if _, err := r.OpenView(ctx, blocks.ContainUndoModal(rec, a)); err != nil {
		h.log.Warn().Err(err).Msg("open undo confirmation")
		r.Reply(ctx, "Could not open the confirmation; press Review and undo… again.", nil)
	}
}

// onUndoConfirm undoes a record whose changes the person reviewed. Should
// the target have changed again meanwhile, nothing is undone and the new
// changes come privately, to review again.
func (h *contain) onUndoConfirm(ctx context.Context, r *Request) {
	id, state, err := blocks.ReadContainUndoConfirm(*r.View)
	if err != nil {
		r.Reply(ctx, "The confirmation carried no containment; press Undo again.", nil)
		return
	}
	rec, err := h.svc.UndoReviewed(ctx, r.Actor, id, state)
	if errors.Is(err, containment.ErrDrift) && rec.UndoReview != nil {
		a, _ := h.svc.Action(rec.Action)
		text, blks := blocks.ContainUndoReview(rec, a)
		r.Reply(ctx, "It changed again while you reviewed it. "+text, blks)
		return
	}
	if err != nil || rec.ID == "" {
		r.Reply(ctx, containError(err), nil)
		if isRefusal(err) || errors.Is(err, containment.ErrBusy) || rec.ID == "" {
			return
		}
	}
	if !h.postResult(ctx, r, rec) {
		a, _ := h.svc.Action(rec.Action)
		text, blks := blocks.ContainResult(rec, a, nil)
		r.DM(ctx, text, blks)
	}
}

// postResult posts the record's result in every thread of its finding and
// reports whether there was one.
func (h *contain) postResult(ctx context.Context, r *Request, rec containment.Record) bool {
	if rec.FindingID == "" {
		return false
	}
	f, err := h.Store.GetFinding(ctx, rec.FindingID)
	if err != nil {
		return false
	}
	a, _ := h.svc.Action(rec.Action)
	text, blks := blocks.ContainResult(rec, a, h.location(f))
	posted := false
	for _, th := range h.findingThreads(ctx, f) {
		if err := r.Post(ctx, th.Channel, th.TS, text, blks); err != nil {
			h.log.Error().Err(err).Str("finding_id", f.ID).Str("record", rec.ID).Msg("post containment result")
			continue
		}
		posted = true
	}
	return posted
}

// findingThreads lists the finding's posted messages, SecOps first.
func (h *contain) findingThreads(ctx context.Context, f finding.Finding) []playbooks.Thread {
	var out []playbooks.Thread
	seen := map[string]bool{}
	for _, name := range h.routedChannels(f) {
		id, ok := h.threads.channelID(name)
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		if ts, err := h.threads.messageTS(ctx, f.ID, id); err == nil && ts != "" {
			out = append(out, playbooks.Thread{Channel: id, TS: ts, Permalink: h.threads.permalink(id, ts)})
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
