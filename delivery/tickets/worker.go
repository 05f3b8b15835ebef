package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of the store the handler uses.
type Store interface {
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	KV
}

// KV is the key-value space where each finding's ticket is recorded.
type KV interface {
	PutKV(ctx context.Context, ns, key string, value []byte) error
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
}

// NSTicket is the KV namespace of finding → ticket records.
const NSTicket = "jira.ticket"

// Ticket is the record of a finding's ticket.
type Ticket struct {
	Key     string `json:"key"`
	Project string `json:"project"`
	// Period is the open period the ticket was created for.
	Period time.Time `json:"period,omitzero"`
	// Previous are earlier periods' tickets ("new" reopen mode): late
	// items of those periods go to them, and the label search must not
	// take them for the current one.
	Previous []Ticket `json:"previous,omitempty"`
}

// Lookup returns the finding's ticket, if it has one yet; the bot uses it
// to link the ticket from Slack.
func Lookup(ctx context.Context, kv KV, findingID string) (Ticket, bool, error) {
	v, err := kv.GetKV(ctx, NSTicket, findingID)
	if errors.Is(err, store.ErrNotFound) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("look up ticket of %s: %w", findingID, err)
	}
	var t Ticket
	if err := json.Unmarshal(v, &t); err != nil {
		return Ticket{}, false, fmt.Errorf("decode ticket of %s: %w", findingID, err)
	}
	return t, t.Key != "", nil
}

// BrowseURL is where a person opens a ticket.
func BrowseURL(baseURL, key string) string {
	return strings.TrimRight(baseURL, "/") + "/browse/" + key
}

// Client is the Jira API the handler uses (a *jira.Client).
type Client interface {
	CreateIssue(ctx context.Context, r tracker.IssueRequest) (string, error)
	AddComment(ctx context.Context, key string, body tracker.Doc) error
	Resolve(ctx context.Context, key string, names []string) (string, error)
	Reopen(ctx context.Context, key string, names []string) (string, error)
	SearchByLabel(ctx context.Context, label string) ([]tracker.Issue, error)
	Myself(ctx context.Context) (tracker.User, error)
	ProjectExists(ctx context.Context, key string) (bool, error)
}

const (
	// shutdownGrace lets a Jira call in flight at shutdown finish (the
	// client's own timeout is 30s), and still ends before an
	// orchestrator's usual 30s between SIGTERM and SIGKILL.
	shutdownGrace = 20 * time.Second
	maxBackoff    = 10 * time.Minute
	// waitTicket is how soon a comment or transition looks again for a
	// ticket still being created.
	waitTicket = 5 * time.Second
)

// Option adjusts a Handler.
type Option func(*Handler)

// WithPermalink sets how the handler finds a finding's Slack thread for
// the ticket description; fn returns "" when there is none (yet).
func WithPermalink(fn func(ctx context.Context, findingID string) string) Option {
	return func(h *Handler) { h.permalink = fn }
}

// WithOnRecord is called after a ticket is recorded for a finding, so the
// Slack messages can link it.
func WithOnRecord(fn func(ctx context.Context, findingID string, t Ticket)) Option {
	return func(h *Handler) { h.onRecord = fn }
}

// WithShutdownGrace sets how long, once shutdown begins, the item in
// flight may take to finish (default 20s).
func WithShutdownGrace(d time.Duration) Option { return func(h *Handler) { h.grace = d } }

// Handler carries out the jira.* outbox items: it creates, comments on
// and moves tickets.
type Handler struct {
	st        Store
	jira      Client
	cfg       Config
	log       zerolog.Logger
	permalink func(ctx context.Context, findingID string) string
	onRecord  func(ctx context.Context, findingID string, t Ticket)
	grace     time.Duration
}

// NewHandler returns the handler of the ticket items. client is a
// *jira.Client.
func NewHandler(st Store, client Client, cfg Config, log zerolog.Logger, opts ...Option) *Handler {
	h := &Handler{
		st: st, jira: client, cfg: cfg.withDefaults(),
		log:   log.With().Str("component", "tickets").Logger(),
		grace: shutdownGrace,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Lane is the outbox lane of the ticket items. One item runs at a time: a
// Jira call in flight at shutdown finishes within the grace period, since
// abandoning it halfway would leave its item to wait out the lease on
// another replica, and a created ticket to be found by its label.
func (h *Handler) Lane() outbox.Lane {
	return outbox.Lane{
		Prefix: KindPrefix, Handler: h,
		Poll: time.Second, Batch: 10, Lease: time.Minute, Grace: h.grace,
		Backoff: outbox.Exponential(2*time.Second, maxBackoff),
	}
}

// errWait is returned while an item cannot run yet because its ticket is
// still being created.
var errWait = fmt.Errorf("ticket not created yet: %w", outbox.RetryAfter(waitTicket))

// Deliver carries out one item. A Jira that asks to wait (Retry-After) is
// waited for; other failures, outages and settings to fix alike, keep the
// item, so that nothing is lost once Jira is back or the setting fixed.
func (h *Handler) Deliver(ctx context.Context, it store.OutboxItem) error {
	p, err := Decode(it)
	if err != nil {
		return outbox.Drop(err)
	}
	log := h.log.With().Int64("outbox_id", it.ID).Str("kind", it.Kind).Int("attempt", it.Attempts).
		Str("finding_id", p.FindingID).Str("project", p.Project).Logger()
	switch it.Kind {
	case KindCreate:
		err = h.create(ctx, log, it, p)
	case KindComment:
		err = h.comment(ctx, p)
	case KindResolve:
		err = h.transition(ctx, log, p, true)
	case KindReopen:
		err = h.transition(ctx, log, p, false)
	default:
		return outbox.Drop(fmt.Errorf("unknown ticket item kind %q", it.Kind))
	}
	if ra := tracker.RetryAfter(err); ra > 0 && tracker.Temporary(err) {
		return fmt.Errorf("%w; %w", err, outbox.RetryAfter(max(ra, time.Second)))
	}
	return err
}

// current reports whether rec is the ticket of the payload's open period.
func (h *Handler) current(rec Ticket, p Payload) bool {
	if h.cfg.ReopenMode != ReopenNew {
		return true
	}
	return rec.Period.IsZero() || p.Period.IsZero() || rec.Period.Equal(p.Period)
}

// create creates the finding's ticket unless it exists: recorded in KV,
// or, after an earlier attempt that may have created it before failing to
// record it, found by its label.
func (h *Handler) create(ctx context.Context, log zerolog.Logger, it store.OutboxItem, p Payload) error {
	rec, found, err := Lookup(ctx, h.st, p.FindingID)
	if err != nil {
		return err
	}
	if found && (h.current(rec, p) || p.Period.Before(rec.Period)) {
		// Created already, or a later period has its own ticket.
		return nil
	}
	next := Ticket{Project: p.Project, Period: p.Period}
	if found {
		prev := rec
		prev.Previous = nil
		next.Previous = append(slices.Clone(rec.Previous), prev)
	}
	if it.Attempts > 1 {
		issues, err := h.jira.SearchByLabel(ctx, Label(p.FindingID))
		if err != nil {
			return fmt.Errorf("look for the ticket of %s: %w", p.FindingID, err)
		}
		for i := len(issues) - 1; i >= 0; i-- {
			if !slices.ContainsFunc(next.Previous, func(t Ticket) bool { return t.Key == issues[i].Key }) {
				next.Key, next.Project = issues[i].Key, issues[i].Project
				break
			}
		}
		if next.Key != "" {
			log.Info().Str("ticket", next.Key).Msg("ticket found by label after an interrupted creation")
			return h.record(ctx, p.FindingID, next)
		}
	}
	f, err := h.st.GetFinding(ctx, p.FindingID)
	if errors.Is(err, store.ErrNotFound) {
		return outbox.Drop(fmt.Errorf("finding %s no longer exists", p.FindingID))
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	link := ""
	if h.permalink != nil {
		link = h.permalink(ctx, f.ID)
	}
	labels := append(slices.Clone(h.cfg.Labels), Label(f.ID))
	if h.cfg.LinkSecOps && f.Severity >= finding.SeverityHigh && p.Project != h.cfg.SecOpsProject {
		labels = append(labels, ReviewLabel)
	}
	key, err := h.jira.CreateIssue(ctx, tracker.IssueRequest{
		Project: p.Project, IssueType: h.cfg.IssueType, Summary: Summary(f), Description: Describe(f, link),
		Priority: h.cfg.priority(f.Severity), Labels: labels,
	})
	if err != nil {
		return err
	}
	next.Key = key
	log.Info().Str("ticket", key).Str("severity", f.Severity.String()).Msg("ticket created")
	return h.record(ctx, p.FindingID, next)
}

func (h *Handler) record(ctx context.Context, findingID string, t Ticket) error {
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode ticket of %s: %w", findingID, err)
	}
	if err := h.st.PutKV(ctx, NSTicket, findingID, v); err != nil {
		return fmt.Errorf("record ticket %s of %s: %w", t.Key, findingID, err)
	}
	if h.onRecord != nil {
		h.onRecord(ctx, findingID, t)
	}
	return nil
}

// ticket returns the key of the ticket an item of p goes to, or errWait
// while that ticket is not created yet. In "new" reopen mode an item of an
// earlier open period (delayed by an outage, say) goes to that period's
// ticket, not the current one.
func (h *Handler) ticket(ctx context.Context, p Payload) (string, error) {
	rec, found, err := Lookup(ctx, h.st, p.FindingID)
	if err != nil {
		return "", err
	}
	switch {
	case !found:
		return "", errWait
	case h.current(rec, p):
		return rec.Key, nil
	case p.Period.After(rec.Period):
		return "", errWait
	}
	for _, t := range rec.Previous {
		if t.Period.Equal(p.Period) {
			return t.Key, nil
		}
	}
	return "", outbox.Drop(fmt.Errorf("no ticket was created for the open period of %s that began %s", p.FindingID, stamp(p.Period)))
}

func (h *Handler) comment(ctx context.Context, p Payload) error {
	if p.Comment == "" {
		return nil
	}
	key, err := h.ticket(ctx, p)
	if err != nil {
		return err
	}
	if err := h.jira.AddComment(ctx, key, tracker.Text(p.Comment)); err != nil {
		if errors.Is(err, tracker.ErrNotFound) {
			return outbox.Drop(err)
		}
		return err
	}
	return nil
}

func (h *Handler) transition(ctx context.Context, log zerolog.Logger, p Payload, resolve bool) error {
	key, err := h.ticket(ctx, p)
	if err != nil {
		return err
	}
	var name string
	if resolve {
		name, err = h.jira.Resolve(ctx, key, h.cfg.ResolveTransitions)
	} else {
		name, err = h.jira.Reopen(ctx, key, h.cfg.ReopenTransitions)
	}
	if errors.Is(err, tracker.ErrNotFound) {
		return outbox.Drop(err)
	}
	if err != nil {
		return err
	}
	if name != "" {
		log.Info().Str("ticket", key).Str("transition", name).Msg("ticket moved")
	}
	return nil
}
