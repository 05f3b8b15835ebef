package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
)

// PostText posts a plain message in a configured channel (name or ID), for
// operational notices such as feed-health warnings that are not findings.
func (b *Bot) PostText(ctx context.Context, channel, text string) (string, error) {
	chID, ok := b.threads.channelID(channel)
	if !ok {
		return "", fmt.Errorf("channel %s is not configured or not resolved", channel)
	}
	_, ts, err := b.api.PostMessageContext(ctx, chID, slack.MsgOptionText(text, false))
	if err != nil {
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	return ts, nil
}

// UpdateText replaces the text of a message PostText posted.
func (b *Bot) UpdateText(ctx context.Context, channel, ts, text string) error {
	chID, ok := b.threads.channelID(channel)
	if !ok {
		return fmt.Errorf("channel %s is not configured or not resolved", channel)
	}
	if _, _, _, err := b.api.UpdateMessageContext(ctx, chID, ts, slack.MsgOptionText(text, false)); err != nil {
		return fmt.Errorf("update message %s in %s: %w", ts, channel, err)
	}
	return nil
}

// Ping checks that Slack answers with the bot's token (auth.test), for
// readiness probes.
func (b *Bot) Ping(ctx context.Context) error {
	if _, err := b.api.AuthTestContext(ctx); err != nil {
		return fmt.Errorf("slack auth.test: %w", err)
	}
	return nil
}

// PostObserver is told when a finding's first message reached a channel,
// to measure how long findings take to reach people. The store given in
// Services may implement it; the outbox checks by type assertion, so
// stores that do not care need not know about it.
type PostObserver interface {
	FindingPosted(f finding.Finding)
}

// observePosted reports a first post to the observer, if there is one.
func (ps *poster) observePosted(f finding.Finding) {
	if o, ok := ps.Store.(PostObserver); ok {
		o.FindingPosted(f)
	}
}
