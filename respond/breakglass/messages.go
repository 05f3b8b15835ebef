package breakglass

import (
	"context"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// MessageKind says which message to render.
type MessageKind string

// Message kinds.
const (
	// KindRequest is the request's own message, in the approvers' channel
	// and in the finding's thread, edited in place as the state moves.
	KindRequest MessageKind = "request"
	// KindReminder is a thread reply nudging approvers halfway through.
	KindReminder MessageKind = "reminder"
	// KindSummary is the thread reply at the end: what the session did.
	KindSummary MessageKind = "summary"
	// KindAccess is the private message with the sign-in link and, when
	// asked for, CLI credentials; KindAccessEnded replaces it at the end.
	KindAccess      MessageKind = "access"
	KindAccessEnded MessageKind = "access_ended"
	// KindSelfApproved is the announcement of a self-approval in the
	// SecOps channel.
	KindSelfApproved MessageKind = "self_approved"
	// KindRequesterNote is the requester's private note about their
	// request: waiting (with a Withdraw button), then who decided what
	// and why.
	KindRequesterNote MessageKind = "requester_note"
)

// Message is what to show; the notifier renders it (bot/blocks).
type Message struct {
	Kind    MessageKind
	Request Request
	// Mentions are the approvers to notify (user or user-group IDs).
	Mentions []string
	// Access is set for KindAccess only. It holds secrets: render it, never
	// log or store it.
	Access *Access
	// ShowCLI asks KindAccess to include the CLI credentials.
	ShowCLI bool
	// SelfApproveAt is when the requester may approve their own request
	// (zero when self-approval is off).
	SelfApproveAt time.Time
}

// Notifier posts and edits Slack messages; the bot implements it.
type Notifier interface {
	// Post posts to a channel, in the thread of threadTS when set, and
	// returns the message's ts.
	Post(ctx context.Context, channel, threadTS string, m Message) (string, error)
	Update(ctx context.Context, channel, ts string, m Message) error
	// DM sends a private message to user and returns where it landed.
	DM(ctx context.Context, user string, m Message) (channel, ts string, err error)
}

// Threads finds a finding's Slack thread, so a request made for a finding
// shows up there too.
type Threads interface {
	FindingThread(ctx context.Context, findingID string) (channel, ts string, err error)
}

// OnCall names the approvers to mention on a new request.
type OnCall interface {
	Approvers(ctx context.Context) ([]string, error)
}

// Where a message of the request is shown.
const (
	PlaceApprovers = "approvers" // the request message in the approvers' channel
	PlaceFinding   = "finding"   // its copy in the finding's thread
	PlaceDM        = "dm"        // the access message sent to the requester
	// PlaceRequester is the private note the requester gets when the
	// request is filed; it follows every decision (approved, denied,
	// expired undecided, withdrawn) so the requester never reads a stale
	// "waiting for approval".
	PlaceRequester = "requester"
	// PlaceSummary is the session summary in the approvers' thread,
	// edited once CloudTrail has delivered the session's last calls.
	PlaceSummary = "summary"
)

// MessageRef locates a posted message so that it can be edited in place.
type MessageRef struct {
	Place   string `json:"place"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// Message returns the reference of the message at place, if posted.
func (r Request) Message(place string) (MessageRef, bool) {
	for _, m := range r.Messages {
		if m.Place == place {
			return m, true
		}
	}
	return MessageRef{}, false
}

// postRequest posts the request message to the approvers' channel and the
// finding's thread and records where. Failing to post is logged: the
// request stands, and the reminder posts again.
func (s *Service) postRequest(ctx context.Context, r Request) Request {
	msg := Message{Kind: KindRequest, Request: r, Mentions: s.approvers(ctx), SelfApproveAt: s.selfApproveAt(r)}
	var refs []MessageRef
	if ts, err := s.Notify.Post(ctx, s.cfg.ApproversChannel, "", msg); err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("post break-glass request to approvers")
	} else {
		refs = append(refs, MessageRef{Place: PlaceApprovers, Channel: s.cfg.ApproversChannel, TS: ts})
	}
	if r.FindingID != "" && s.Threads != nil {
		ch, thread, err := s.Threads.FindingThread(ctx, r.FindingID)
		if err == nil && ch != "" {
			ts, err := s.Notify.Post(ctx, ch, thread, msg)
			if err == nil {
				refs = append(refs, MessageRef{Place: PlaceFinding, Channel: ch, TS: ts})
			}
		}
		if err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Str("finding_id", r.FindingID).Msg("post break-glass request to the finding thread")
		}
	}
	if len(refs) == 0 {
		return r
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, refs...)
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record break-glass message references")
		return r
	}
	// A decision taken between posting and recording where we posted found
	// no message to update: bring the messages up to date now.
	if out.State != StatePending {
		s.sync(ctx, out)
	}
	return out
}

// noteRequester sends the requester the private note about their request
// and records where, so that every decision edits it (sync). A failure is
// logged: the request stands, and the approvers' message still shows it.
func (s *Service) noteRequester(ctx context.Context, r Request) Request {
	if _, ok := r.Message(PlaceRequester); ok {
		return r
	}
	ch, ts, err := s.Notify.DM(ctx, r.Requester, Message{Kind: KindRequesterNote, Request: r})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("send the requester the note about the request")
		return r
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, MessageRef{Place: PlaceRequester, Channel: ch, TS: ts})
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record the requester's note")
		return r
	}
	// Decided between the note and its record: bring the note up to date.
	if out.State != StatePending {
		s.sync(ctx, out)
	}
	return out
}

func (s *Service) approvers(ctx context.Context) []string {
	if s.OnCall == nil {
		return nil
	}
	ids, err := s.OnCall.Approvers(ctx)
	if err != nil {
		s.Log.Warn().Err(err).Msg("find approvers on call")
	}
	return ids
}

func (s *Service) selfApproveAt(r Request) time.Time {
	if s.cfg.SelfApproveAfter <= 0 {
		return time.Time{}
	}
	return r.CreatedAt.Add(s.cfg.SelfApproveAfter)
}

// sync edits every request message, and the requester's note, to show
// the current state. A failure is retried by the worker; it reports
// whether every edit went through.
func (s *Service) sync(ctx context.Context, r Request) bool {
	msg := Message{Kind: KindRequest, Request: r, SelfApproveAt: s.selfApproveAt(r)}
	var failed bool
	for _, ref := range r.Messages {
		m := msg
		switch ref.Place {
		case PlaceDM, PlaceSummary:
			continue
		case PlaceRequester:
			m = Message{Kind: KindRequesterNote, Request: r}
		}
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, m); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Str("channel", ref.Channel).Msg("update break-glass message; will retry")
			failed = true
		}
	}
	if failed {
		s.enqueue(ctx, store.OutboxItem{
			Key: fmt.Sprintf("%s/%s/%d", kindSync, r.ID, r.Version), Kind: kindSync,
			Payload: payload(r.ID), NotBefore: s.Clock.Now().Add(retryDelay),
		})
	}
	return !failed
}
