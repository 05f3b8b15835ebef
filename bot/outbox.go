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
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/delivery/tickets"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/lease"
	"github.com/secops-bot/secops-bot/store"
)

// KV namespaces for Slack delivery state. Message timestamps live in the
// store, never read back from Slack's history (which is heavily rate
// limited).
const (
	nsPosting = "slack.posting" // finding|channel → who is posting the first message (a lease)
	nsMessage = "slack.msg"     // finding|channel → ts of the finding's message
	nsSynced  = "slack.synced"  // finding|channel → version last rendered
)

const (
	outboxPoll  = 500 * time.Millisecond
	outboxLease = time.Minute
	outboxBatch = 10
	maxBackoff  = 5 * time.Minute
)

// SlackLane is the outbox lane of the Slack deliveries (delivery's
// "slack." items): each finding's message in each routed channel, kept in
// sync, and its thread replies. Items run one at a time, in the order
// stored, and a stored change wakes the lane, so a new finding is posted
// at once. A delivery runs to its end (deliveryTimeout at most) even when
// shutdown begins, so a stopping bot never leaves a post half done.
func (b *Bot) SlackLane() outbox.Lane {
	ps := &poster{kit: b.kit, api: b.api, owner: b.cfg.Owner, ticketBase: b.cfg.TicketBaseURL}
	return outbox.Lane{
		Prefix: delivery.KindPrefix, Handler: outbox.HandlerFunc(ps.deliver),
		Poll: outboxPoll, Wake: true, Batch: outboxBatch, Lease: outboxLease,
		Timeout: deliveryTimeout, Grace: deliveryTimeout, Backoff: backoff,
	}
}

// poster posts the finding messages and their thread replies, and keeps
// the messages in sync with the findings.
type poster struct {
	*kit
	api        *slack.Client
	owner      string // this replica, for the posting claim
	ticketBase string // Jira base URL, to link tickets ("": none)
}

// retryLater is a delivery that cannot happen yet; it posted nothing.
func retryLater(after time.Duration, reason string) error {
	return later{reason: reason, outcome: outbox.RetryAfter(after)}
}

type later struct {
	reason  string
	outcome error
}

func (l later) Error() string { return l.reason }
func (l later) Unwrap() error { return l.outcome }

// deliver carries out one Slack item.
func (ps *poster) deliver(ctx context.Context, it store.OutboxItem) error {
	var err error
	switch it.Kind {
	case delivery.KindSlackSync:
		err = ps.sync(ctx, it)
	case delivery.KindSlackReply:
		err = ps.reply(ctx, it)
	default:
		// A kind of a newer version, during an upgrade: left for a
		// replica that knows it.
		err = retryLater(outboxLease, fmt.Sprintf("unknown Slack item kind %q", it.Kind))
	}
	if err == nil {
		return nil
	}
	return attempt{n: it.Attempts, err: err}
}

// attempt is a failed delivery as its item records it (see attemptNote).
// A refusal with Retry-After waits that long.
type attempt struct {
	n   int
	err error
}

func (a attempt) Error() string { return attemptNote(a.n, a.err) }

func (a attempt) Unwrap() []error {
	var rl *slack.RateLimitedError
	if errors.As(a.err, &rl) {
		return []error{a.err, outbox.RetryAfter(rl.RetryAfter)}
	}
	return []error{a.err}
}

// attemptNote is what an outbox item records of a failed attempt: its
// number, whether it certainly posted nothing (Slack refused, or the
// delivery was postponed before any call), and the error. The next attempt
// reads it back with postedNothing.
func attemptNote(attempt int, err error) string {
	if errors.As(err, new(later)) || refused(err) {
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

// backoff is the wait after a failed delivery.
func backoff(attempts int) time.Duration {
	return outbox.Exponential(time.Second, maxBackoff)(attempts)
}

func refKey(findingID, channelID string) string { return findingID + "|" + channelID }

func (ps *poster) render(ctx context.Context, f finding.Finding, channelID string) (string, []slack.Block) {
	opts := blocks.FindingOptions{Location: ps.location(f), Channel: channelID}
	if ps.ticketBase != "" {
		if t, ok, err := tickets.Lookup(ctx, ps.Store, f.ID); err == nil && ok {
			opts.TicketKey, opts.TicketURL = t.Key, tickets.BrowseURL(ps.ticketBase, t.Key)
		}
	}
	// Link the thread of the other channel (SecOps ↔ owning team).
	for _, name := range f.SlackChannels() {
		other, ok := ps.threads.channelID(name)
		if !ok || other == channelID {
			continue
		}
		if ts, err := ps.threads.messageTS(ctx, f.ID, other); err == nil && ts != "" {
			opts.ThreadPermalink = ps.threads.permalink(other, ts)
			opts.Channel = other
			break
		}
	}
	return blocks.FindingMessage(f, opts)
}

// sync posts the finding's message in a channel, or updates it in place.
// Several pending syncs converge: each renders the finding as stored now,
// and one older than what was already rendered is skipped.
func (ps *poster) sync(ctx context.Context, it store.OutboxItem) error {
	p, err := delivery.Decode(it)
	if err != nil {
		return err
	}
	chID, ok := ps.threads.channelID(p.Channel)
	if !ok {
		return fmt.Errorf("channel %s is not configured or not resolved", p.Channel)
	}
	f, err := ps.Store.GetFinding(ctx, p.FindingID)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	key := refKey(f.ID, chID)
	if v, err := ps.Store.GetKV(ctx, nsSynced, key); err == nil {
		if done, _ := strconv.Atoi(string(v)); done >= f.Version {
			return nil
		}
	}
	// A newer change's sync is waiting: it will show this one too, so
	// this one is done without a call. While Slack refuses updates, only
	// the newest version of a message retries.
	pending, err := ps.Store.PendingOutboxKeys(ctx, delivery.SyncKeyPrefix(p.FindingID, p.Channel))
	if err != nil {
		return fmt.Errorf("look for newer syncs of %s: %w", p.FindingID, err)
	}
	if delivery.LaterSync(pending, p.Version) {
		return nil
	}
	ts, err := ps.threads.messageTS(ctx, f.ID, chID)
	if err != nil {
		return err
	}
	text, blks := ps.render(ctx, f, chID)
	if ts == "" {
		// Only one replica posts a finding's first message in a channel:
		// others wait and then update it.
		mayHavePosted, err := ps.claimPosting(ctx, key)
		if err != nil {
			return err
		}
		if ts, err = ps.threads.messageTS(ctx, f.ID, chID); err != nil {
			return err
		}
		if ts == "" && mayHavePosted {
			// An earlier attempt may have posted and not recorded it (a
			// replica that died, or an answer lost to a timeout): adopt
			// that message rather than post again.
			if ts, err = ps.findPosted(ctx, chID, f.ID); err != nil {
				return err
			}
			if ts != "" {
				if err := ps.Store.PutKV(ctx, nsMessage, key, []byte(ts)); err != nil {
					return fmt.Errorf("remember message of %s in %s: %w", f.ID, p.Channel, err)
				}
				ps.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("ts", ts).Msg("adopted the message an earlier replica posted")
			}
		}
	}
	if ts == "" {
		_, ts, err = ps.api.PostMessageContext(ctx, chID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...),
			slack.MsgOptionMetadata(slack.SlackMetadata{EventType: findingEventType, EventPayload: map[string]any{"finding_id": f.ID}}))
		if err != nil {
			if refused(err) {
				// Slack answered and posted nothing: let whoever retries
				// post at once.
				ps.releasePosting(ctx, key)
			}
			return fmt.Errorf("post finding %s to %s: %w", f.ID, p.Channel, err)
		}
		if err := ps.Store.PutKV(ctx, nsMessage, key, []byte(ts)); err != nil {
			return fmt.Errorf("remember message of %s in %s: %w", f.ID, p.Channel, err)
		}
		ps.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("ts", ts).Msg("finding posted")
		ps.observePosted(f)
	} else {
		if _, _, _, err := ps.api.UpdateMessageContext(ctx, chID, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...)); err != nil {
			return fmt.Errorf("update finding %s in %s: %w", f.ID, p.Channel, err)
		}
	}
	return ps.Store.PutKV(ctx, nsSynced, key, []byte(strconv.Itoa(f.Version)))
}

// reply adds a change to the finding's thread.
func (ps *poster) reply(ctx context.Context, it store.OutboxItem) error {
	p, err := delivery.Decode(it)
	if err != nil {
		return err
	}
	chID, ok := ps.threads.channelID(p.Channel)
	if !ok {
		return fmt.Errorf("channel %s is not configured or not resolved", p.Channel)
	}
	ts, err := ps.threads.messageTS(ctx, p.FindingID, chID)
	if err != nil {
		return err
	}
	if ts == "" {
		return retryLater(time.Second, "thread parent not posted yet")
	}
	// A reply whose delivery failed and waits for its retry must not be
	// overtaken by the next one: the thread would say "resolved" before
	// "acknowledged".
	pending, err := ps.Store.PendingOutboxKeys(ctx, delivery.ReplyKeyPrefix(p.FindingID, p.Channel))
	if err != nil {
		return fmt.Errorf("look for earlier replies to %s: %w", p.FindingID, err)
	}
	if delivery.EarlierReply(pending, p.Version) {
		return retryLater(time.Second, "an earlier reply in this thread is not posted yet")
	}
	f, err := ps.Store.GetFinding(ctx, p.FindingID)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	text, blks := blocks.ThreadReply(p.Change, f, p.By, p.Note, ps.location(f))
	if needsReview(p.Change, f) {
		blks = append(blks, reviewButton(f))
	}
	if p.Change == finding.ChangeReadsReviewed {
		blks = append(blks, readsButtons(f))
	}
	if p.Change == finding.ChangeExpected {
		// The allowlist entry can be taken back from the thread.
		if e, ok, err := ps.Triage.Suppressed(ctx, f); err == nil && ok {
			btn := slack.NewButtonBlockElement(actionRemoveExpected, e.ID, slack.NewTextBlockObject(slack.PlainTextType, "Remove from allowlist", false, false))
			blks = append(blks, slack.NewActionBlock("expected.actions", btn))
		}
	}
	if !postedNothing(it) {
		// An earlier attempt may have posted the reply and not learnt
		// it (a replica that died, an answer lost to a timeout).
		posted, err := ps.findReply(ctx, chID, ts, it.Key)
		if err != nil {
			return err
		}
		if posted {
			ps.log.Info().Str("finding_id", f.ID).Str("channel", p.Channel).Str("key", it.Key).Msg("thread reply already posted by an earlier attempt")
			return nil
		}
	}
	meta := slack.SlackMetadata{EventType: replyEventType, EventPayload: map[string]any{"key": it.Key}}
	if _, _, err := ps.api.PostMessageContext(ctx, chID, slack.MsgOptionTS(ts), slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blks...), slack.MsgOptionMetadata(meta)); err != nil {
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
func (ps *poster) findReply(ctx context.Context, channelID, parentTS, key string) (bool, error) {
	params := &slack.GetConversationRepliesParameters{ChannelID: channelID, Timestamp: parentTS, Limit: 200, IncludeAllMetadata: true}
	for page := 0; page < 10; page++ {
		msgs, more, next, err := ps.api.GetConversationRepliesContext(ctx, params)
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

// Permalink links the finding's message in the first routed channel where
// it was posted ("" when not posted yet); tickets link back with it.
func (b *Bot) Permalink(ctx context.Context, findingID string) string {
	f, err := b.kit.Store.GetFinding(ctx, findingID)
	if err != nil {
		return ""
	}
	return b.threads.firstPosted(ctx, f)
}

// postingStale is how long a posting claim holds. A post is one Web API
// call, bounded by deliveryTimeout, so a claim older than this belongs to
// a replica that died mid-call.
const postingStale = deliveryTimeout + 15*time.Second

// deliveryTimeout bounds one delivery. Deliveries run to the end even when
// shutdown begins, so a stopping bot never leaves a post half done.
const deliveryTimeout = 30 * time.Second

// postingClaim is the right to post the first message of a finding in a
// channel (key), a lease in the store.
func (ps *poster) postingClaim(key string) *lease.Lease {
	return lease.New(ps.Store, nsPosting, key, ps.owner, postingStale)
}

// claimPosting takes the right to post the first message of a finding in a
// channel, so two replicas carrying two changes of one new finding do not
// both post it. A claim that ran out belonged to a replica that died and
// is taken over. A claim this replica already holds is an earlier
// attempt's that was not given back, so that attempt did not hear Slack
// refuse its post. In both cases mayHavePosted is set: the message may
// exist.
func (ps *poster) claimPosting(ctx context.Context, key string) (mayHavePosted bool, err error) {
	s, err := ps.postingClaim(key).Hold(ctx, ps.clock.Now())
	switch {
	case err != nil:
		return false, fmt.Errorf("claim posting of %s: %w", key, err)
	case !s.Held && s.Holder != "":
		return false, retryLater(2*time.Second, "another replica is posting this finding")
	case !s.Held:
		return false, retryLater(2*time.Second, "posting claim changed hands")
	case !s.Taken:
		return true, nil
	case s.Free:
		return false, nil
	case s.Previous != ps.owner:
		ps.log.Warn().Str("key", key).Str("previous", s.Previous).Msg("took over posting from a replica that stopped")
	}
	return true, nil
}

// findingEventType marks the bot's finding messages with the finding ID in
// Slack message metadata, so one posted by a replica that died before
// recording it can be found again.
const findingEventType = "secops_finding"

// findPosted looks through the channel's recent messages (one
// conversations.history call, only after a takeover) for the finding's
// message.
func (ps *poster) findPosted(ctx context.Context, channelID, findingID string) (string, error) {
	h, err := ps.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
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

// releasePosting gives the posting claim back after Slack refused the
// post, so that whoever retries posts at once.
func (ps *poster) releasePosting(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := ps.postingClaim(key).Release(ctx); err != nil {
		ps.log.Warn().Err(err).Str("key", key).Msg("release posting claim")
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
