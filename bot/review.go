package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// actionReviewDone is the button under the exposure-window review prompt of
// a resolved high or critical finding; its value is the finding ID.
const actionReviewDone = "finding.review"

// nsReview records who closed the exposure review of a finding.
const nsReview = "finding.review"

// reviewButton is appended to the "resolved" reply of high and critical
// findings.
func reviewButton(f finding.Finding) slack.Block {
	btn := slack.NewButtonBlockElement(actionReviewDone, f.ID, slack.NewTextBlockObject(slack.PlainTextType, "Exposure review done", false, false))
	btn.Style = slack.StylePrimary
	return slack.NewActionBlock("finding.review.actions", btn)
}

// needsReview says whether a resolved finding asks SecOps to review its
// exposure window.
func needsReview(change finding.ChangeKind, f finding.Finding) bool {
	return change == finding.ChangeResolved && f.Severity >= finding.SeverityHigh
}

// review closes the exposure review of a resolved high or critical
// finding: the first responder to press the button is recorded, once, with
// the answer to who read the resource that they were shown.
type review struct {
	*kit
	// reads, when set, takes the closed review to the ticket.
	reads ExposureReview
}

// Routes adds the Exposure review done button.
func (h review) Routes(r *Router) {
	r.Action(actionReviewDone, h.done)
}

func (h review) done(ctx context.Context, r *Request) {
	id, seq := reviewTarget(r.Value)
	if !h.allowed(ctx, r, authz.Responder, "finding.review", id) {
		return
	}
	f, err := h.Store.GetFinding(ctx, id)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	// The answer shown is the one under the button; a newer one may have
	// come since, and the review is closed on what the person saw.
	if seq > 0 && (f.Reads == nil || f.Reads.Seq != seq) {
		r.Reply(ctx, fmt.Sprintf("A newer answer to who read %s was posted since this one; close the review under it.", f.ID), nil)
		return
	}
	answer := exposure.Answer(f.Reads)
	when := h.clock.Now().UTC().Format("2006-01-02 15:04 UTC")
	// The first to close the review is kept, as "user when", with the
	// answer on the next line.
	reviews := store.NewTextDoc(h.Store, nsReview)
	err = reviews.Create(ctx, f.ID, r.UserID+" "+when+"\n"+answer)
	if errors.Is(err, store.ErrConflict) {
		prev, _ := reviews.Get(ctx, f.ID)
		prev, _, _ = strings.Cut(prev, "\n")
		h.audit(ctx, r.Actor, "finding.review", f.ID, "noop", "already reviewed", nil)
		r.Reply(ctx, fmt.Sprintf("The exposure review of %s was already closed (%s).", f.ID, prev), nil)
		return
	}
	if err != nil {
		r.Reply(ctx, "Could not record the review; try again.", nil)
		return
	}
	detail, _ := json.Marshal(map[string]string{"channel": r.ChannelID, "answer": answer}) // strings only
	h.audit(ctx, r.Actor, "finding.review", f.ID, "ok", "", detail)
	if h.reads != nil {
		if err := h.reads.Closed(ctx, f.ID, r.UserID, answer); err != nil {
			h.log.Warn().Err(err).Str("finding_id", f.ID).Msg("record the closed review on the ticket")
		}
		h.wake()
	}
	text := fmt.Sprintf(":white_check_mark: Exposure review of %s closed by <@%s>.", f.ID, r.UserID)
	if f.Reads != nil {
		text += "\n> Answer recorded: " + blocks.Escape(f.Reads.Summary) + "."
	}
	if err := r.Post(ctx, r.ChannelID, r.Thread(), text, nil); err != nil {
		h.log.Warn().Err(err).Msg("announce exposure review")
	}
}
