package bot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/grace"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/tickets"
)

// KV namespaces for Slack delivery state. Message timestamps live in the
// store, never read back from Slack's history (which is heavily rate
// limited).
const (
	nsPosting = "slack.posting" // finding|channel → who is posting the first message, and since when
	nsMessage = "slack.msg"     // finding|channel → ts of the finding's message
	nsSynced  = "slack.synced"  // finding|channel → version last rendered
)

const (
	outboxPoll  = 500 * time.Millisecond
	outboxLease = time.Minute
	outboxBatch = 10
	maxBackoff  = 5 * time.Minute
)

func (b *Bot) runOutbox(ctx context.Context) {
	t := time.NewTicker(outboxPoll)
	defer t.Stop()
	for {
		for b.drainOnce(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
	}
}

// drainOnce claims a batch of due items and carries them out in order.
func (b *Bot) drainOnce(ctx context.Context) int {
	items, err := b.svc.Store.ClaimKinds(ctx, b.cfg.Owner, []string{"slack."}, outboxBatch, outboxLease)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error().Err(err).Msg("claim outbox items")
		}
		return 0
	}
	for i, it := range items {
		if ctx.Err() != nil {
			b.release(items[i:])
			return 0
		}
		b.deliver(ctx, it)
	}
	return len(items)
}

// release hands claimed items back at once on shutdown, so the next
// replica (or this one restarted) need not wait for the lease to run out.
func (b *Bot) release(items []store.OutboxItem) {
	if err := grace.Release(context.Background(), b.svc.Store, b.cfg.Owner, b.clock.Now(), items); err != nil {
		b.log.Warn().Err(err).Msg("release outbox items")
	}
}

// retryLater is returned by a delivery that cannot happen yet.
type retryLater struct {
	after  time.Duration
	reason string
}

func (r retryLater) Error() string { return r.reason }

func (b *Bot) deliver(ctx context.Context, it store.OutboxItem) {
	log := b.log.With().Int64("outbox_id", it.ID).Str("kind", it.Kind).Logger()
	// Finish what is in flight even when shutdown starts.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deliveryTimeout)
	defer cancel()
	var err error
	switch it.Kind {
	case delivery.KindSlackSync:
		err = b.sync(dctx, it)
	case delivery.KindSlackReply:
		err = b.reply(dctx, it)
	default:
		// Not ours (tickets are delivered by their own worker).
		return
	}
	if err == nil {
		if cerr := b.svc.Store.Complete(dctx, it.ID, b.cfg.Owner); cerr != nil {
			log.Error().Err(cerr).Msg("complete outbox item")
		}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: hand the item back for whoever runs next.
		b.release([]store.OutboxItem{it})
		return
	}
	wait := backoff(it.Attempts)
	var rl *slack.RateLimitedError
	var later retryLater
	switch {
	case errors.As(err, &rl):
		wait = rl.RetryAfter
		log.Warn().Dur("retry_after", wait).Msg("Slack rate limit; delivery postponed")
	case errors.As(err, &later):
		wait = later.after
		log.Debug().Str("reason", later.reason).Msg("delivery postponed")
	default:
		log.Error().Err(err).Int("attempt", it.Attempts).Dur("retry_in", wait).Msg("Slack delivery failed; will retry")
	}
	if rerr := b.svc.Store.Retry(dctx, it.ID, b.cfg.Owner, b.clock.Now().Add(wait), attemptNote(it.Attempts, err)); rerr != nil {
		log.Error().Err(rerr).Msg("reschedule outbox item")
	}
}

// attemptNote is what an outbox item records of a failed attempt: its
// number, whether it certainly posted nothing (Slack refused, or the
// delivery was postponed before any call), and the error. The next attempt
// reads it back with postedNothing.
func attemptNote(attempt int, err error) string {
	var later retryLater
	if errors.As(err, &later) || refused(err) {
		return fmt.Sprintf("attempt %d %s: %v", attempt, notPosted, err)
	}
	return fmt.Sprintf("attempt %d: %v", attempt, err)
}

const notPosted = "(nothing posted)"

// postedNothing reports whether every earlier attempt of the item is known
// to have posted nothing: it is the first, or the one before it recorded
// that it posted nothing. An attempt that ended without recording anything
// (its replica died) or failed after the call went out may have posted.
func postedNothing(it store.OutboxItem) bool {
	if it.Attempts <= 1 {
		return true
	}
	var n int
	if _, err := fmt.Sscanf(it.LastError, "attempt %d", &n); err != nil {
		return false
	}
	return n == it.Attempts-1 && strings.HasPrefix(it.LastError, fmt.Sprintf("attempt %d %s:", n, notPosted))
}

func backoff(attempts int) time.Duration {
	d := time.Second
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func refKey(findingID, channelID string) string { return findingID + "|" + channelID }

// messageTS returns the ts of the finding's message in a channel, "" when
// not posted yet.
func (b *Bot) messageTS(ctx context.Context, findingID, channelID string) (string, error) {
	v, err := b.svc.Store.GetKV(ctx, nsMessage, refKey(findingID, channelID))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}

func (b *Bot) render(ctx context.Context, f finding.Finding, channelID string) (string, []slack.Block) {
	opts := blocks.FindingOptions{Location: b.location(f), Channel: channelID}
	if b.cfg.TicketBaseURL != "" {
		if t, ok, err := tickets.Lookup(ctx, b.svc.Store, f.ID); err == nil && ok {
			opts.TicketKey, opts.TicketURL = t.Key, tickets.BrowseURL(b.cfg.TicketBaseURL, t.Key)
		}
	}
	// Link the thread of the other channel (SecOps ↔ owning team).
	for _, r := range f.Routes {
		name, ok := cutSlack(r)
		if !ok {
			continue
		}
		other, ok := b.channelID(name)
		if !ok || other == channelID {
			continue
		}
		if ts, err := b.messageTS(ctx, f.ID, other); err == nil && ts != "" {
			opts.ThreadPermalink = b.permalink(other, ts)
			opts.Channel = other
			break
		}
	}
	return blocks.FindingMessage(f, opts)
}

// sync posts the finding's message in a channel, or updates it in place.
// Several pending syncs converge: each renders the finding as stored now,
// and one older than what was already rendered is skipped.
func (b *Bot) sync(ctx context.Context, it store.OutboxItem) error {
	p, err := delivery.Decode(it)
	if err != nil {
		return err
	}
	chID, ok := b.channelID(p.Channel)
	if !ok {
		return fmt.Errorf("channel %s is not configured or not resolved", p.Channel)
	}
	f, err := b.svc.Store.GetFinding(ctx, p.FindingID)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	key := refKey(f.ID, chID)
	if v, err := b.svc.Store.GetKV(ctx, nsSynced, key); err == nil {
		if done, _ := strconv.Atoi(string(v)); done >= f.Version {
			return nil
		}
	}
	// A newer change's sync is waiting: it will show this one too, so
	// this one is done without a call. While Slack refuses updates, only
	// the newest version of a message retries.
	pending, err := b.svc.Store.PendingOutboxKeys(ctx, delivery.SyncKeyPrefix(p.FindingID, p.Channel))
	if err != nil {
		return fmt.Errorf("look for newer syncs of %s: %w", p.FindingID, err)
	}
	if delivery.LaterSync(pending, p.Version) {
		return nil
	}
	ts, err := b.messageTS(ctx, f.ID, chID)
	if err != nil {
		return err
	}
	text, blks := b.render(ctx, f, chID)
	if ts == "" {
		// Only one replica posts a finding's first message in a channel:
		// others wait and then update it.
		mayHavePosted, err := b.claimPosting(ctx, key)
		if err != nil {
			return err
		}
		if ts, err = b.messageTS(ctx, f.ID, chID); err != nil {
			return err
		}
		if ts == "" && mayHavePosted {
			// An earlier attempt may have posted and not recorded it (a
			// replica that died, or an answer lost to a timeout): adopt
			// that message rather than post again.
			if ts, err = b.findPosted(ctx, chID, f.ID); err != nil {
				return err
			}
			if ts != "" {
				if err := b.svc.Store.PutKV(ctx, nsMessage, key, []byte(ts)); err != nil {
					return fmt.Errorf("remember message of %s in %s: %w", f.ID, p.Channel, err)
				}
				b.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("ts", ts).Msg("adopted the message an earlier replica posted")
			}
		}
	}
	if ts == "" {
		_, ts, err = b.api.PostMessageContext(ctx, chID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...),
			slack.MsgOptionMetadata(slack.SlackMetadata{EventType: findingEventType, EventPayload: map[string]any{"finding_id": f.ID}}))
		if err != nil {
			if refused(err) {
				// Slack answered and posted nothing: let whoever retries
				// post at once.
				b.releasePosting(ctx, key)
			}
			return fmt.Errorf("post finding %s to %s: %w", f.ID, p.Channel, err)
		}
		if err := b.svc.Store.PutKV(ctx, nsMessage, key, []byte(ts)); err != nil {
			return fmt.Errorf("remember message of %s in %s: %w", f.ID, p.Channel, err)
		}
		b.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("ts", ts).Msg("finding posted")
		b.observePosted(f)
	} else {
		if _, _, _, err := b.api.UpdateMessageContext(ctx, chID, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)); err != nil {
			return fmt.Errorf("update finding %s in %s: %w", f.ID, p.Channel, err)
		}
	}
	return b.svc.Store.PutKV(ctx, nsSynced, key, []byte(strconv.Itoa(f.Version)))
}

// reply adds a change to the finding's thread.
func (b *Bot) reply(ctx context.Context, it store.OutboxItem) error {
	p, err := delivery.Decode(it)
	if err != nil {
		return err
	}
	chID, ok := b.channelID(p.Channel)
	if !ok {
		return fmt.Errorf("channel %s is not configured or not resolved", p.Channel)
	}
	ts, err := b.messageTS(ctx, p.FindingID, chID)
	if err != nil {
		return err
	}
	if ts == "" {
		return retryLater{after: time.Second, reason: "thread parent not posted yet"}
	}
	// A reply whose delivery failed and waits for its retry must not be
	// overtaken by the next one: the thread would say "resolved" before
	// "acknowledged".
	pending, err := b.svc.Store.PendingOutboxKeys(ctx, delivery.ReplyKeyPrefix(p.FindingID, p.Channel))
	if err != nil {
		return fmt.Errorf("look for earlier replies to %s: %w", p.FindingID, err)
	}
	if delivery.EarlierReply(pending, p.Version) {
		return retryLater{after: time.Second, reason: "an earlier reply in this thread is not posted yet"}
	}
	f, err := b.svc.Store.GetFinding(ctx, p.FindingID)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	text, blks := blocks.ThreadReply(p.Change, f, p.By, p.Note, b.location(f))
	if needsReview(p.Change, f) {
		blks = append(blks, reviewButton(f))
	}
	if p.Change == blocks.ReplyExpected {
		// The allowlist entry can be taken back from the thread.
		if e, ok, err := b.svc.Triage.Suppressed(ctx, f); err == nil && ok {
			btn := slack.NewButtonBlockElement(actionRemoveExpected, e.ID, slack.NewTextBlockObject(slack.PlainTextType, "Remove from allowlist", false, false))
			blks = append(blks, slack.NewActionBlock("expected.actions", btn))
		}
	}
	if !postedNothing(it) {
		// An earlier attempt may have posted the reply and not learnt
		// it (a replica that died, an answer lost to a timeout).
		posted, err := b.findReply(ctx, chID, ts, it.Key)
		if err != nil {
			return err
		}
		if posted {
			b.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("key", it.Key).Msg("thread reply already posted by an earlier attempt")
			return nil
		}
	}
	meta := slack.SlackMetadata{EventType: replyEventType, EventPayload: map[string]any{"key": it.Key}}
	if _, _, err := b.api.PostMessageContext(ctx, chID, slack.MsgOptionTS(ts), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...), slack.MsgOptionMetadata(meta)); err != nil {
		return fmt.Errorf("reply to %s in %s: %w", f.ID, p.Channel, err)
	}
	return nil
}

// replyEventType marks the bot's thread replies with their outbox key in
// Slack message metadata, so that a retry can tell whether an earlier
// attempt posted.
const replyEventType = "secops_thread_reply"

// findReply reports whether the thread under parentTS holds the reply
// with the outbox key (conversations.replies, only on a retry).
func (b *Bot) findReply(ctx context.Context, channelID, parentTS, key string) (bool, error) {
	params := &slack.GetConversationRepliesParameters{ChannelID: channelID, Timestamp: parentTS, Limit: 200, IncludeAllMetadata: true}
	for page := 0; page < 10; page++ {
		msgs, more, next, err := b.api.GetConversationRepliesContext(ctx, params)
		if err != nil {
			return false, fmt.Errorf("look for an earlier post of reply %s: %w", key, err)
		}
		for _, m := range msgs {
			if m.Metadata.EventType == replyEventType && fmt.Sprint(m.Metadata.EventPayload["key"]) == key {
				return true, nil
			}
		}
		if !more || next == "" {
			return false, nil
		}
		params.Cursor = next
	}
	return false, nil
}

func (b *Bot) location(f finding.Finding) *time.Location {
	if t, ok := b.org.OwnerOf(f.AccountID); ok && t.Location != nil {
		return t.Location
	}
	if s := b.org.SecOps(); s.Location != nil {
		return s.Location
	}
	return time.UTC
}

// actionRemoveExpected is the button on a "marked expected" reply; its
// value is the opaque allowlist entry ID.
const actionRemoveExpected = "expected.remove"

func cutSlack(route string) (string, bool) {
	const p = "slack:"
	if len(route) > len(p) && route[:len(p)] == p {
		return route[len(p):], true
	}
	return "", false
}

// Permalink links the finding's message in the first routed channel where
// it was posted ("" when not posted yet); tickets link back with it.
func (b *Bot) Permalink(ctx context.Context, findingID string) string {
	f, err := b.svc.Store.GetFinding(ctx, findingID)
	if err != nil {
		return ""
	}
	for _, r := range f.Routes {
		name, ok := cutSlack(r)
		if !ok {
			continue
		}
		if id, ok := b.channelID(name); ok {
			if ts, err := b.messageTS(ctx, f.ID, id); err == nil && ts != "" {
				return b.permalink(id, ts)
			}
		}
	}
	return ""
}

// postingStale is how long a posting claim holds. A post is one Web API
// call, bounded by deliveryTimeout, so a claim older than this belongs to
// a replica that died mid-call.
const postingStale = deliveryTimeout + 15*time.Second

// deliveryTimeout bounds one delivery. Deliveries run to the end even when
// shutdown begins, so a stopping bot never leaves a post half done.
const deliveryTimeout = 30 * time.Second

// claimPosting takes the right to post the first message of a finding in a
// channel (compare-and-set in the store), so two replicas carrying two
// changes of one new finding do not both post it. A claim older than
// postingStale belonged to a replica that died and is taken over. A claim
// this replica already holds is an earlier attempt's that was not given
// back, so that attempt did not hear Slack refuse its post. In both cases
// mayHavePosted is set: the message may exist.
func (b *Bot) claimPosting(ctx context.Context, key string) (mayHavePosted bool, err error) {
	now := b.clock.Now()
	mine := []byte(b.cfg.Owner + " " + now.UTC().Format(time.RFC3339Nano))
	ok, err := b.svc.Store.CompareAndSwapKV(ctx, nsPosting, key, nil, mine)
	if err != nil {
		return false, fmt.Errorf("claim posting of %s: %w", key, err)
	}
	if ok {
		return false, nil
	}
	cur, err := b.svc.Store.GetKV(ctx, nsPosting, key)
	if err != nil {
		return false, fmt.Errorf("read posting claim of %s: %w", key, err)
	}
	owner, at, _ := strings.Cut(string(cur), " ")
	if owner == b.cfg.Owner {
		return true, nil
	}
	since, perr := time.Parse(time.RFC3339Nano, at)
	if owner != released && perr == nil && now.Sub(since) < postingStale {
		return false, retryLater{after: 2 * time.Second, reason: "another replica is posting this finding"}
	}
	if ok, err := b.svc.Store.CompareAndSwapKV(ctx, nsPosting, key, cur, mine); err != nil || !ok {
		return false, retryLater{after: 2 * time.Second, reason: "posting claim changed hands"}
	}
	if owner == released {
		return false, nil
	}
	b.log.Warn().Str("key", key).Str("previous", owner).Msg("took over posting from a replica that stopped")
	return true, nil
}

// findingEventType marks the bot's finding messages with the finding ID in
// Slack message metadata, so one posted by a replica that died before
// recording it can be found again.
const findingEventType = "secops_finding"

// findPosted looks through the channel's recent messages (one
// conversations.history call, only after a takeover) for the finding's
// message.
func (b *Bot) findPosted(ctx context.Context, channelID, findingID string) (string, error) {
	h, err := b.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
		ChannelID: channelID, Limit: 100, IncludeAllMetadata: true,
	})
	if err != nil {
		return "", fmt.Errorf("look for an earlier post of %s: %w", findingID, err)
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType == findingEventType && fmt.Sprint(m.Metadata.EventPayload["finding_id"]) == findingID {
			return m.Timestamp, nil
		}
	}
	return "", nil
}

// released marks a posting claim given back after Slack refused the post.
const released = "-"

func (b *Bot) releasePosting(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	cur, err := b.svc.Store.GetKV(ctx, nsPosting, key)
	if err != nil {
		return
	}
	if owner, _, _ := strings.Cut(string(cur), " "); owner != b.cfg.Owner {
		return
	}
	free := []byte(released + " " + b.clock.Now().UTC().Format(time.RFC3339Nano))
	if _, err := b.svc.Store.CompareAndSwapKV(ctx, nsPosting, key, cur, free); err != nil {
		b.log.Warn().Err(err).Str("key", key).Msg("release posting claim")
	}
}

// refused reports whether Slack answered a call without carrying it out
// (rate limited, or an error response), as opposed to a transport failure
// after which the call may or may not have happened.
func refused(err error) bool {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	return errors.As(err, &rl) || errors.As(err, &se)
}
