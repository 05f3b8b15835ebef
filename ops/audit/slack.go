package audit

import (
	"context"
	"fmt"
)

// Poster posts a plain message in a channel; *bot.Bot is one.
type Poster interface {
	PostText(ctx context.Context, channel, text string) (string, error)
}

// SlackSink anchors the head in a channel, where it cannot be edited by
// anyone with the database, and where a person can copy it into audit
// verify.
type SlackSink struct {
	p       Poster
	channel string
}

// NewSlackSink returns a sink posting in channel.
func NewSlackSink(p Poster, channel string) *SlackSink { return &SlackSink{p: p, channel: channel} }

// Name says where anchors go.
func (s *SlackSink) Name() string { return "Slack " + s.channel }

// Put posts the anchor with the command that checks the log against it.
func (s *SlackSink) Put(ctx context.Context, a Anchor) error {
	key := KeyID(a.Hash)
	if key == "" {
		key = "none"
	}
	text := fmt.Sprintf(":lock: Audit log anchor: record %d at %s, key %s. To check the log against it later: `secops-bot audit verify --anchor %s`",
		a.Seq, a.At.UTC().Format("2006-01-02 15:04 UTC"), key, a)
	_, err := s.p.PostText(ctx, s.channel, text)
	return err
}
