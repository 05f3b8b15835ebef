package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/finding"
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
func needsReview(change string, f finding.Finding) bool {
	return change == blocks.ReplyResolved && f.Severity >= finding.SeverityHigh
}

// review closes the exposure review of a resolved high or critical
// finding: the first responder to press the button is recorded, once.
type review struct{ *kit }

// Routes adds the Exposure review done button.
func (h review) Routes(r *Router) {
	r.Action(actionReviewDone, h.done)
}

func (h review) done(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "finding.review", r.Value) {
		return
	}
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	when := h.clock.Now().UTC().Format("2006-01-02 15:04 UTC")
	// The first to close the review is kept, as "user when".
	reviews := store.NewTextDoc(h.Store, nsReview)
	err = reviews.Create(ctx, f.ID, r.UserID+" "+when)
	if errors.Is(err, store.ErrConflict) {
		prev, _ := reviews.Get(ctx, f.ID)
		h.audit(ctx, r.Actor(), "finding.review", f.ID, "noop", "already reviewed", nil)
		r.Reply(ctx, fmt.Sprintf("The exposure review of %s was already closed (%s).", f.ID, prev), nil)
		return
	}
	if err != nil {
		r.Reply(ctx, "Could not record the review; try again.", nil)
		return
	}
	h.audit(ctx, r.Actor(), "finding.review", f.ID, "ok", "", []byte(fmt.Sprintf(`{"channel":%q}`, r.ChannelID)))
	text := fmt.Sprintf(":white_check_mark: Exposure review of %s closed by <@%s>.", f.ID, r.UserID)
	if err := r.Post(ctx, r.ChannelID, r.Thread(), text, nil); err != nil {
		h.log.Warn().Err(err).Msg("announce exposure review")
	}
}
