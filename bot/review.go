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
	"github.com/secops-bot/secops-bot/triage"
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

func (b *Bot) registerReview() {
	b.actions[actionReviewDone] = func(cb slack.InteractionCallback, act slack.BlockAction) {
		a := triage.Actor{UserID: cb.User.ID, TeamID: userTeam(cb)}
		channelID := cb.Channel.ID
		thread := cb.Message.ThreadTimestamp
		if thread == "" {
			thread = cb.Container.MessageTs
		}
		b.work(func(ctx context.Context) {
			reply := func(text string, blks []slack.Block) { b.ephemeral(ctx, channelID, a.UserID, text, blks) }
			d, err := b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
			if err != nil || !d.Allowed {
				b.refuse(ctx, a, "finding.review", act.Value, d, err, reply)
				return
			}
			f, err := b.svc.Store.GetFinding(ctx, act.Value)
			if err != nil {
				reply("No such finding.", nil)
				return
			}
			when := b.clock.Now().UTC().Format("2006-01-02 15:04 UTC")
			// The first to close the review is kept, as "user when".
			reviews := store.NewTextDoc(b.svc.Store, nsReview)
			err = reviews.Create(ctx, f.ID, a.UserID+" "+when)
			if errors.Is(err, store.ErrConflict) {
				prev, _ := reviews.Get(ctx, f.ID)
				b.audit(ctx, a, "finding.review", f.ID, "noop", "already reviewed", nil)
				reply(fmt.Sprintf("The exposure review of %s was already closed (%s).", f.ID, prev), nil)
				return
			}
			if err != nil {
				reply("Could not record the review; try again.", nil)
				return
			}
			b.audit(ctx, a, "finding.review", f.ID, "ok", "", []byte(fmt.Sprintf(`{"channel":%q}`, channelID)))
			text := fmt.Sprintf(":white_check_mark: Exposure review of %s closed by <@%s>.", f.ID, a.UserID)
			if _, _, err := b.api.PostMessageContext(ctx, channelID, slack.MsgOptionTS(thread), slack.MsgOptionText(text, false)); err != nil {
				b.log.Warn().Err(err).Msg("announce exposure review")
			}
		})
	}
}

// needsReview says whether a resolved finding asks SecOps to review its
// exposure window.
func needsReview(change string, f finding.Finding) bool {
	return change == blocks.ReplyResolved && f.Severity >= finding.SeverityHigh
}
