package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/authz"
)

// ExposureReview answers who read a finding's resource while it was
// exposed (exposure.Service).
type ExposureReview interface {
	// Request asks for a review now; the answer reaches the finding's
	// threads through the outbox.
	Request(ctx context.Context, findingID, by string) error
	// Closed records on the ticket that by closed the exposure review on
	// the answer they were shown.
	Closed(ctx context.Context, findingID, by, answer string) error
}

// EnableExposureReview turns on the Who read it? / Check again buttons,
// and the ticket comment when an exposure review is closed.
func (b *Bot) EnableExposureReview(r ExposureReview) { b.exposure = r }

// exposureReads asks, from a button, who read the resource.
type exposureReads struct {
	*kit
	svc ExposureReview
}

// Routes adds the Who read it? and Check again buttons.
func (h exposureReads) Routes(r *Router) {
	r.Action(blocks.ActionCheckReads, h.check)
}

func (h exposureReads) check(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "finding.check_reads", r.Value) {
		return
	}
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	if err := h.svc.Request(ctx, f.ID, r.UserID); err != nil {
		h.log.Warn().Err(err).Str("finding_id", f.ID).Msg("request a review of reads")
		r.Reply(ctx, "Could not ask for the review; try again.", nil)
		return
	}
	h.audit(ctx, r.Actor, "finding.check_reads", f.ID, "ok", "", nil)
	h.wake()
	r.Reply(ctx, fmt.Sprintf("Checking who read %s while it was exposed; the answer goes to the finding's thread.", blocks.Code(f.Resource.ID)), nil)
}

// readsButtons go under the answer in the thread: close the exposure
// review on this answer (its sequence number rides with the finding ID, so
// the review records the answer the person saw), or check again.
func readsButtons(f finding.Finding) slack.Block {
	value := f.ID
	if f.Reads != nil {
		value += "|" + strconv.Itoa(f.Reads.Seq)
	}
	done := slack.NewButtonBlockElement(actionReviewDone, value, slack.NewTextBlockObject(slack.PlainTextType, "Exposure review done", false, false))
	done.Style = slack.StylePrimary
	again := slack.NewButtonBlockElement(blocks.ActionCheckReads, f.ID, slack.NewTextBlockObject(slack.PlainTextType, "Check again", false, false))
	return slack.NewActionBlock("finding.reads.actions", done, again)
}

// reviewTarget reads an Exposure review done button's value: the finding
// ID, and the answer's sequence number when the button was under one.
func reviewTarget(value string) (id string, seq int) {
	id, s, ok := strings.Cut(value, "|")
	if !ok {
		return value, 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return id, 0
	}
	return id, n
}
