package exposure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox kinds of the reviews.
const (
	// KindPrefix is the prefix of every kind below (the lane).
	KindPrefix = "exposure."
	// KindReview reviews one finding's reads.
	KindReview = "exposure.review"
)

// DefaultDelay is how long after a resolution the automatic review waits:
// data events reach the feed within minutes of the call, so a review at
// once could miss the last reads of the window.
const DefaultDelay = 5 * time.Minute

// Store is what the service reads and writes.
type Store interface {
	store.KV
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error)
	Enqueue(ctx context.Context, it store.OutboxItem) (bool, error)
}

// Planner plans the delivery of a change (Slack, tickets).
type Planner interface {
	Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem
}

// Options configure the service.
type Options struct {
	// Delivery plans where an answer goes (Slack threads and messages,
	// the ticket); Tickets plans the ticket comment alone, for a review
	// closed in Slack (which the bot announces itself). Either may be nil.
	Delivery Planner
	Tickets  Planner
	// Delay is how long after a resolution the automatic review runs;
	// DefaultDelay when zero.
	Delay  time.Duration
	Clock  clock.Clock
	Logger zerolog.Logger
}

// Service runs reviews: automatically after a high or critical finding
// resolves (its Planner) and whenever someone asks (Request), as outbox
// items of its lane, so a review survives restarts and runs once across
// replicas.
type Service struct {
	st   Store
	rv   *Reviewer
	opts Options
	log  zerolog.Logger
}

// NewService returns a service reviewing with rv.
func NewService(st Store, rv *Reviewer, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Delay <= 0 {
		opts.Delay = DefaultDelay
	}
	return &Service{st: st, rv: rv, opts: opts, log: opts.Logger}
}

type payload struct {
	FindingID string `json:"finding_id"`
	By        string `json:"by,omitempty"`
}

// Planner returns the planner that asks for a review when a high or
// critical finding resolves; it is one of the pipeline's planners.
func (s *Service) Planner() ResolvePlanner {
	return ResolvePlanner{Delay: s.opts.Delay, Clock: s.opts.Clock}
}

// ResolvePlanner plans the automatic review of a resolved high or
// critical finding, Delay after the bot learnt of the resolution (or after
// the resolution itself, when that is later): reads are delivered after
// the calls they record, and the batch that resolved the finding may
// still be storing the last of them.
type ResolvePlanner struct {
	Delay time.Duration
	Clock clock.Clock // the wall clock when nil
}

// Plan returns the review item of a resolution.
func (p ResolvePlanner) Plan(f finding.Finding, change finding.ChangeKind, _, _ string) []store.OutboxItem {
	if change != finding.ChangeResolved || f.Status != finding.StatusResolved || f.Severity < finding.SeverityHigh || !Reviewable(f) {
		return nil
	}
	clk := p.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	at := clk.Now()
	if f.ResolvedAt.After(at) {
		at = f.ResolvedAt
	}
	body, _ := json.Marshal(payload{FindingID: f.ID, By: "system"}) // two strings
	return []store.OutboxItem{{
		Key: fmt.Sprintf("%s|%s|v%d", KindReview, f.ID, f.Version), Kind: KindReview, Payload: body,
		NotBefore: at.Add(p.Delay),
	}}
}

// Request asks for a review of the finding now, on behalf of by (a Slack
// user ID); the answer is posted in the finding's threads.
func (s *Service) Request(ctx context.Context, findingID, by string) error {
	if _, err := s.st.GetFinding(ctx, findingID); err != nil {
		return fmt.Errorf("review reads of %s: %w", findingID, err)
	}
	body, _ := json.Marshal(payload{FindingID: findingID, By: by}) // two strings
	now := s.opts.Clock.Now()
	_, err := s.st.Enqueue(ctx, store.OutboxItem{Key: fmt.Sprintf("%s|%s|req|%s|%d", KindReview, findingID, by, now.UnixNano()), Kind: KindReview, Payload: body})
	if err != nil {
		return fmt.Errorf("review reads of %s: %w", findingID, err)
	}
	return nil
}

// Lane is the outbox lane of the reviews. Each reads AWS (trail
// selectors, access logs, event history) for a few seconds; two run at
// once.
func (s *Service) Lane() outbox.Lane {
	return outbox.Lane{
		Prefix: KindPrefix, Handler: outbox.HandlerFunc(s.deliver),
		Poll: time.Second, Concurrency: 2, Lease: 2 * time.Minute,
		Backoff: outbox.Exponential(5*time.Second, 5*time.Minute),
	}
}

func (s *Service) deliver(ctx context.Context, it store.OutboxItem) error {
	if it.Kind != KindReview {
		return outbox.Drop(fmt.Errorf("unknown exposure item kind %q", it.Kind))
	}
	var p payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return outbox.Drop(fmt.Errorf("decode review item %d: %w", it.ID, err))
	}
	_, err := s.Run(ctx, p.FindingID, p.By)
	if errors.Is(err, store.ErrNotFound) {
		return outbox.Drop(err)
	}
	return err
}

// Run reviews the finding's reads now and records the answer on it, which
// plans its delivery. by is who asked ("system" for a resolution).
func (s *Service) Run(ctx context.Context, findingID, by string) (finding.ReadReview, error) {
	f, err := s.st.GetFinding(ctx, findingID)
	if err != nil {
		return finding.ReadReview{}, fmt.Errorf("review reads of %s: %w", findingID, err)
	}
	now := s.opts.Clock.Now()
	rv, err := s.rv.Review(ctx, f, now)
	if err != nil {
		return finding.ReadReview{}, fmt.Errorf("review reads of %s: %w", findingID, err)
	}
	rv.Requested = by
	_, err = s.st.UpdateFinding(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
		rv.Seq = 1
		if f.Reads != nil {
			rv.Seq = f.Reads.Seq + 1
		}
		f.Reads = &rv
		f.Version++
		ev := store.FindingEvent{Time: now, Actor: "system", Note: "reads reviewed: " + rv.Summary}
		if s.opts.Delivery != nil {
			ev.Outbox = s.opts.Delivery.Plan(*f, finding.ChangeReadsReviewed, by, Answer(&rv))
		}
		return ev, nil
	})
	if err != nil {
		return finding.ReadReview{}, fmt.Errorf("record review of %s: %w", findingID, err)
	}
	s.log.Info().Str("finding_id", findingID).Str("answer", string(rv.Answer)).Int("readers", len(rv.Readers)).Msg("reads reviewed")
	return rv, nil
}

// Closed records on the finding's ticket that by closed its exposure review
// on answer, the answer they were shown.
func (s *Service) Closed(ctx context.Context, findingID, by, answer string) error {
	if s.opts.Tickets == nil {
		return nil
	}
	_, err := s.st.UpdateFinding(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
		f.Version++
		return store.FindingEvent{
			Time: s.opts.Clock.Now(), Actor: by, Note: "exposure review closed",
			Outbox: s.opts.Tickets.Plan(*f, finding.ChangeReviewClosed, by, answer),
		}, nil
	})
	if err != nil {
		return fmt.Errorf("record closed review of %s: %w", findingID, err)
	}
	return nil
}
