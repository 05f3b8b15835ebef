package paging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Planner turns finding changes into page outbox items, stored with the
// change: a trigger for each team the policy pages when a finding opens or
// reopens; an acknowledgement or a resolution for every team that can be
// paged when the finding is acknowledged or resolved in Slack (providers
// ignore pages they never opened).
type Planner struct {
	Policy Policy
	// OffHours says whether it is outside a team's business hours at a
	// moment.
	OffHours func(team string, at time.Time) bool
	// Links are shown on the incident (the finding in the AWS console).
	Links func(f finding.Finding) []Link
}

// Plan returns the page items of one change of f.
func (p Planner) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	var action Action
	var teams []string
	switch change {
	case finding.ChangeCreated, finding.ChangeReopened:
		action = ActionTrigger
		at := f.LastSeen
		teams = p.Policy.Targets(f, func(team string) bool { return p.OffHours != nil && p.OffHours(team, at) })
	case finding.ChangeAcknowledged:
		action = ActionAcknowledge
		teams = p.pageable(f)
	case finding.ChangeResolved, finding.ChangeSuppressed, finding.ChangeExpected:
		action = ActionResolve
		teams = p.pageable(f)
	default:
		return nil
	}
	var out []store.OutboxItem
	for _, team := range teams {
		page := Page{Ref: RefFor(f.ID, team), FindingID: f.ID}
		if action == ActionTrigger {
			page.Summary = fmt.Sprintf("[%s] %s — %s", f.Severity, firstNonEmpty(f.Title, f.Rule), firstNonEmpty(f.Resource.ID, f.Resource.ARN))
			page.Severity = f.Severity
			page.Source = firstNonEmpty(f.Resource.ARN, f.AccountID+" "+f.Region)
			page.Details = map[string]string{"finding": f.ID, "account": f.AccountID, "team": f.Team, "actor": f.Actor.ARN, "event": f.Event.Name, "detail": f.Detail}
			if p.Links != nil {
				page.Links = p.Links(f)
			}
		}
		out = append(out, store.OutboxItem{
			Key:     ItemKey(action, page.Ref, f.Version),
			Kind:    Kind(action),
			Payload: Payload{Action: action, Page: page}.Encode(),
		})
	}
	return out
}

// pageable lists SecOps and the owning team when they have a rule.
func (p Planner) pageable(f finding.Finding) []string {
	var out []string
	for _, team := range []string{SecOps, f.Team} {
		if _, ok := p.Policy.Teams[team]; ok && team != "" && !slices.Contains(out, team) {
			out = append(out, team)
		}
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Notice is what a thread reply about a page says: who was paged through
// which provider and who is on call, or what the provider says happened
// since.
type Notice struct {
	Team     string    `json:"team"`
	Provider string    `json:"provider"`
	Status   string    `json:"status"` // paged, failed, acknowledged, resolved
	People   []Person  `json:"people,omitempty"`
	Source   string    `json:"source,omitempty"`
	By       []Person  `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
	URL      string    `json:"url,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Notice statuses.
const (
	NoticePaged        = "paged"
	NoticeFailed       = "failed"
	NoticeAcknowledged = "acknowledged"
	NoticeResolved     = "resolved"
)

// ParseNotice reads a reply's note.
func ParseNotice(note string) (Notice, error) {
	var n Notice
	err := json.Unmarshal([]byte(note), &n)
	return n, err
}

// record is what the bot keeps of each page it opened, to poll for what
// people did with it at the provider.
type record struct {
	FindingID string `json:"finding_id"`
	Ref
	Status Status    `json:"status"`
	Opened time.Time `json:"opened"`
}

// Store is what the paging service reads and writes.
type Store interface {
	store.KV
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	Enqueue(ctx context.Context, it store.OutboxItem) (bool, error)
}

// Service carries out page items and follows the pages it opened.
type Service struct {
	deliver  *Deliverer
	provider string
	tracker  Tracker
	oncall   OnCallSource
	slack    SlackUsers
	st       Store
	pages    *store.Doc[record]
	clock    clock.Clock
	log      zerolog.Logger
	// Wake is called after thread replies were queued, so they go out at
	// once.
	Wake func()
}

// Options are the parts of a paging service.
type Options struct {
	// Provider names the provider in messages ("PagerDuty").
	Provider string
	Pager    Pager
	Tracker  Tracker
	// OnCall answers who is on call (the provider's schedules, then the
	// configured rotations); SlackUsers matches them to Slack users.
	OnCall     OnCallSource
	SlackUsers SlackUsers
	Clock      clock.Clock
	Logger     zerolog.Logger
}

// NewService returns a paging service over st.
func NewService(st Store, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Service{
		deliver: NewDeliverer(opts.Pager, opts.Provider), provider: opts.Provider,
		tracker: opts.Tracker, oncall: opts.OnCall, slack: opts.SlackUsers,
		st: st, pages: store.NewDoc[record](st, "paging"), clock: opts.Clock, log: opts.Logger,
	}
}

// Lane is the outbox lane of page items: one at a time per page, so an
// acknowledgement never overtakes its trigger.
func (s *Service) Lane() outbox.Lane {
	return outbox.Lane{
		Prefix:  KindPrefix,
		Handler: outbox.HandlerFunc(s.Deliver),
		Backoff: outbox.Exponential(5*time.Second, 5*time.Minute),
		Timeout: 30 * time.Second,
	}
}

// Deliver carries out one page item: a provider that limits the rate is
// waited for, one that refuses for good is told in the finding's threads
// (nobody was woken), anything else is tried again.
func (s *Service) Deliver(ctx context.Context, it store.OutboxItem) error {
	err := s.deliver.Deliver(ctx, it.Kind, it.Payload)
	var p Payload
	_ = json.Unmarshal(it.Payload, &p)
	if err != nil {
		if d, ok := RetryAfter(err); ok && d > 0 {
			return fmt.Errorf("%w: %w", err, outbox.RetryAfter(d))
		}
		if !Retryable(err) {
			if p.Action == ActionTrigger {
				s.reply(ctx, p.Page.FindingID, "failed-"+p.Page.Team, Notice{Team: p.Page.Team, Provider: s.provider, Status: NoticeFailed, Error: err.Error()})
			}
			return outbox.Drop(err)
		}
		return err
	}
	if p.Action != ActionTrigger {
		return nil
	}
	now := s.clock.Now().UTC()
	if _, err := s.pages.Upsert(ctx, p.Page.DedupKey, func(r *record) error {
		if r.FindingID != "" && r.Status == StatusTriggered {
			return store.ErrUnchanged
		}
		*r = record{FindingID: p.Page.FindingID, Ref: p.Page.Ref, Status: StatusTriggered, Opened: now}
		return nil
	}); err != nil {
		// Paged; only the follow-up is lost. Say so rather than page
		// again.
		s.log.Warn().Err(err).Str("finding_id", p.Page.FindingID).Msg("remember page for follow-up")
	}
	n := Notice{Team: p.Page.Team, Provider: s.provider, Status: NoticePaged}
	if s.oncall != nil {
		oc, err := s.oncall.OnCall(ctx, p.Page.Team, now)
		if err == nil && s.slack != nil {
			oc, err = MatchSlack(ctx, oc, s.slack)
		}
		if err != nil {
			s.log.Warn().Err(err).Str("team", p.Page.Team).Msg("who is on call")
		}
		n.People, n.Source = oc.People, oc.Source
	}
	s.reply(ctx, p.Page.FindingID, "paged-"+p.Page.Team, n)
	return nil
}

// reply queues a thread reply about a page in every channel of the finding.
func (s *Service) reply(ctx context.Context, findingID, tag string, n Notice) {
	f, err := s.st.GetFinding(ctx, findingID)
	if err != nil {
		s.log.Warn().Err(err).Str("finding_id", findingID).Msg("thread reply about a page")
		return
	}
	note, _ := json.Marshal(n) // plain fields: cannot fail
	queued := false
	for _, it := range delivery.NoteReplies(f, "page-"+tag, finding.ChangePage, s.provider, string(note)) {
		ok, err := s.st.Enqueue(ctx, it)
		if err != nil {
			s.log.Warn().Err(err).Str("finding_id", findingID).Msg("queue thread reply about a page")
		}
		queued = queued || ok
	}
	if queued && s.Wake != nil {
		s.Wake()
	}
}

// OnCall answers /secops oncall: who is on call for team now, with the
// Slack users matched.
func (s *Service) OnCall(ctx context.Context, team string) (OnCall, error) {
	if s.oncall == nil {
		return OnCall{}, fmt.Errorf("on call for %s: %w", team, ErrNoSchedule)
	}
	oc, err := s.oncall.OnCall(ctx, team, s.clock.Now())
	if err != nil {
		return oc, err
	}
	if s.slack != nil {
		return MatchSlack(ctx, oc, s.slack)
	}
	return oc, nil
}

// Run polls the pages the bot opened every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Poll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("follow pages")
			}
		}
	}
}

// Poll reads the state of every page still open and tells the finding's
// threads what people did at the provider: acknowledged, or resolved. What
// the bot itself did (its own acknowledgement and resolution) is not news
// and is only recorded. Replicas may poll at once: each move is recorded
// with compare-and-set and its reply has a stable key, so it is told once.
func (s *Service) Poll(ctx context.Context) error {
	if s.tracker == nil {
		return nil
	}
	entries, err := s.pages.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list pages: %w", err)
	}
	var errs []error
	for _, e := range entries {
		r := e.Value
		if r.Status == StatusResolved {
			continue
		}
		st, err := s.tracker.State(ctx, r.Ref)
		if errors.Is(err, ErrNoIncident) {
			continue // not created at the provider yet
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("page %s: %w", r.DedupKey, err))
			continue
		}
		if st.Status == r.Status || rank(st.Status) < rank(r.Status) {
			continue
		}
		// Update may call the function again after losing a race; only
		// the attempt that is stored says this replica moved the page.
		moved := false
		if _, err := s.pages.Update(ctx, e.Key, func(cur *record) error {
			moved = false
			if rank(st.Status) <= rank(cur.Status) {
				return store.ErrUnchanged
			}
			cur.Status, moved = st.Status, true
			return nil
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		if !moved {
			continue
		}
		n := Notice{Team: r.Team, Provider: firstNonEmpty(st.Provider, s.provider), URL: st.URL}
		switch {
		case st.Status == StatusAcknowledged && len(st.AcknowledgedBy) > 0:
			n.Status, n.By, n.At = NoticeAcknowledged, st.AcknowledgedBy, st.AcknowledgedAt
		case st.Status == StatusResolved && st.ResolvedBy != (Person{}):
			n.Status, n.By, n.At = NoticeResolved, []Person{st.ResolvedBy}, st.ResolvedAt
		default:
			continue // the bot's own doing
		}
		for i, p := range n.By {
			if p.SlackID == "" && p.Email != "" && s.slack != nil {
				if id, err := s.slack.UserIDByEmail(ctx, p.Email); err == nil {
					n.By[i].SlackID = id
				}
			}
		}
		s.reply(ctx, r.FindingID, n.Status+"-"+r.Team, n)
	}
	return errors.Join(errs...)
}

func rank(s Status) int {
	switch s {
	case StatusTriggered:
		return 1
	case StatusAcknowledged:
		return 2
	case StatusResolved:
		return 3
	}
	return 0
}
