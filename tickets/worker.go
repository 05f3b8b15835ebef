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

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/grace"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/tickets/tracker"
)

// Store is the part of the store the worker uses.
type Store interface {
	ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error)
	Complete(ctx context.Context, id int64, owner string) error
	Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error
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

// Client is the Jira API the worker uses (a *jira.Client).
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
	defaultPoll  = time.Second
	defaultLease = time.Minute
	defaultBatch = 10
	// defaultGrace lets a Jira call in flight at shutdown finish (the
	// client's own timeout is 30s), and still ends before an orchestrator's
	// usual 30s between SIGTERM and SIGKILL.
	defaultGrace = 20 * time.Second
	maxBackoff   = 10 * time.Minute
	// waitTicket is how soon a comment or transition looks again for a
	// ticket still being created.
	waitTicket = 5 * time.Second
)

// Option adjusts a Worker.
type Option func(*Worker)

// WithPermalink sets how the worker finds a finding's Slack thread for the
// ticket description; fn returns "" when there is none (yet).
func WithPermalink(fn func(ctx context.Context, findingID string) string) Option {
	return func(w *Worker) { w.permalink = fn }
}

// WithOnRecord is called after a ticket is recorded for a finding, so the
// Slack messages can link it.
func WithOnRecord(fn func(ctx context.Context, findingID string, t Ticket)) Option {
	return func(w *Worker) { w.onRecord = fn }
}

// WithPoll sets how often the worker looks for due items (default 1s).
func WithPoll(d time.Duration) Option { return func(w *Worker) { w.poll = d } }

// WithShutdownGrace sets how long, once Run's context ends, the item in
// flight may take to finish (default 20s).
func WithShutdownGrace(d time.Duration) Option { return func(w *Worker) { w.grace = d } }

// Worker carries out jira.* outbox items.
type Worker struct {
	st        Store
	jira      Client
	cfg       Config
	owner     string
	clk       clock.Clock
	log       zerolog.Logger
	permalink func(ctx context.Context, findingID string) string
	onRecord  func(ctx context.Context, findingID string, t Ticket)
	poll      time.Duration
	lease     time.Duration
	batch     int
	grace     time.Duration
	wake      chan struct{}
}

// NewWorker returns a worker that claims items as owner (unique per
// replica). client is a *jira.Client.
func NewWorker(st Store, client Client, cfg Config, owner string, clk clock.Clock, log zerolog.Logger, opts ...Option) *Worker {
	if clk == nil {
		clk = clock.Real{}
	}
	w := &Worker{
		st: st, jira: client, cfg: cfg.withDefaults(), owner: owner, clk: clk,
		log:  log.With().Str("component", "tickets").Logger(),
		poll: defaultPoll, lease: defaultLease, batch: defaultBatch, grace: defaultGrace,
		wake: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Wake asks the worker to look for items now (after a change was stored)
// instead of at its next poll.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run carries out items until ctx ends. Then it claims nothing more, hands
// the items it claimed but has not started back at once, and lets the one
// in flight finish within the shutdown grace period: abandoning a Jira
// call halfway would leave its item to wait out the lease on another
// replica, and a created ticket to be found by its label.
func (w *Worker) Run(ctx context.Context) {
	work, stop := grace.After(ctx, w.grace)
	defer stop()
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		for w.drain(ctx, work) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Drain claims one batch of due items and carries them out in order,
// returning how many it claimed. The end of ctx ends the item in flight
// too; Run gives it a grace period instead.
func (w *Worker) Drain(ctx context.Context) int { return w.drain(ctx, ctx) }

// drain is Drain with the items carried out under work, which may outlive
// ctx: ctx only stops it from starting the next item.
func (w *Worker) drain(ctx, work context.Context) int {
	items, err := w.st.ClaimKinds(ctx, w.owner, []string{KindPrefix}, w.batch, w.lease)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error().Err(err).Msg("claim ticket items")
		}
		return 0
	}
	for i, it := range items {
		if ctx.Err() != nil {
			w.release(items[i:])
			return 0
		}
		w.deliver(work, it)
	}
	return len(items)
}

// release hands claimed items back at once on shutdown, so the next worker
// need not wait for the lease to run out.
func (w *Worker) release(items []store.OutboxItem) {
	if err := grace.Release(context.Background(), w.st, w.owner, w.clk.Now(), items); err != nil {
		w.log.Warn().Err(err).Msg("release ticket items")
	}
}

// errWait is returned when an item cannot run yet (its ticket is still
// being created); it is retried soon and not logged as a failure.
var errWait = errors.New("ticket not created yet")

// errDrop is returned for an item that can never succeed (its ticket was
// deleted in Jira); it is completed after logging.
type errDrop struct{ err error }

func (e errDrop) Error() string { return e.err.Error() }
func (e errDrop) Unwrap() error { return e.err }

// deliver carries out one item; ctx ends only when the work must stop
// (the shutdown grace period is over), and the item is then handed back.
func (w *Worker) deliver(ctx context.Context, it store.OutboxItem) {
	log := w.log.With().Int64("outbox_id", it.ID).Str("kind", it.Kind).Int("attempt", it.Attempts).Logger()
	p, err := Decode(it)
	if err == nil {
		log = log.With().Str("finding_id", p.FindingID).Str("project", p.Project).Logger()
		switch it.Kind {
		case KindCreate:
			err = w.create(ctx, log, it, p)
		case KindComment:
			err = w.comment(ctx, p)
		case KindResolve:
			err = w.transition(ctx, log, p, true)
		case KindReopen:
			err = w.transition(ctx, log, p, false)
		default:
			err = errDrop{fmt.Errorf("unknown ticket item kind %q", it.Kind)}
		}
	} else {
		err = errDrop{err}
	}
	var drop errDrop
	if err != nil && errors.As(err, &drop) {
		log.Error().Err(err).Msg("ticket item dropped")
		err = nil
	}
	if err == nil {
		if cerr := w.st.Complete(ctx, it.ID, w.owner); cerr != nil && ctx.Err() == nil {
			log.Error().Err(cerr).Msg("complete ticket item")
		}
		return
	}
	if ctx.Err() != nil {
		log.Warn().Err(err).Msg("shutdown grace period over; ticket item handed back")
		w.release([]store.OutboxItem{it})
		return
	}
	wait := backoff(it.Attempts)
	switch {
	case errors.Is(err, errWait):
		wait = waitTicket
		log.Debug().Msg("ticket not created yet; postponed")
	case tracker.Temporary(err):
		if ra := tracker.RetryAfter(err); ra > 0 {
			wait = max(ra, time.Second)
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("Jira unavailable; ticket update postponed")
	default:
		// A setting to fix (credentials, project, priority names): keep
		// the item, so that nothing is lost once it is fixed, and say
		// what is wrong.
		log.Error().Err(err).Dur("retry_in", wait).Msg("ticket update failed; will retry")
	}
	if rerr := w.st.Retry(ctx, it.ID, w.owner, w.clk.Now().Add(wait), err.Error()); rerr != nil && ctx.Err() == nil {
		log.Error().Err(rerr).Msg("reschedule ticket item")
	}
}

func backoff(attempts int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// current reports whether rec is the ticket of the payload's open period.
func (w *Worker) current(rec Ticket, p Payload) bool {
	if w.cfg.ReopenMode != ReopenNew {
		return true
	}
	return rec.Period.IsZero() || p.Period.IsZero() || rec.Period.Equal(p.Period)
}

// create creates the finding's ticket unless it exists: recorded in KV,
// or, after an earlier attempt that may have created it before failing to
// record it, found by its label.
func (w *Worker) create(ctx context.Context, log zerolog.Logger, it store.OutboxItem, p Payload) error {
	rec, found, err := Lookup(ctx, w.st, p.FindingID)
	if err != nil {
		return err
	}
	if found && (w.current(rec, p) || p.Period.Before(rec.Period)) {
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
		issues, err := w.jira.SearchByLabel(ctx, Label(p.FindingID))
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
			return w.record(ctx, p.FindingID, next)
		}
	}
	f, err := w.st.GetFinding(ctx, p.FindingID)
	if errors.Is(err, store.ErrNotFound) {
		return errDrop{fmt.Errorf("finding %s no longer exists", p.FindingID)}
	}
	if err != nil {
		return fmt.Errorf("load finding %s: %w", p.FindingID, err)
	}
	link := ""
	if w.permalink != nil {
		link = w.permalink(ctx, f.ID)
	}
	labels := append(slices.Clone(w.cfg.Labels), Label(f.ID))
	if w.cfg.LinkSecOps && f.Severity >= finding.SeverityHigh && p.Project != w.cfg.SecOpsProject {
		labels = append(labels, ReviewLabel)
	}
	key, err := w.jira.CreateIssue(ctx, tracker.IssueRequest{
		Project: p.Project, IssueType: w.cfg.IssueType, Summary: Summary(f), Description: Describe(f, link),
		Priority: w.cfg.priority(f.Severity), Labels: labels,
	})
	if err != nil {
		return err
	}
	next.Key = key
	log.Info().Str("ticket", key).Str("severity", f.Severity.String()).Msg("ticket created")
	return w.record(ctx, p.FindingID, next)
}

func (w *Worker) record(ctx context.Context, findingID string, t Ticket) error {
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode ticket of %s: %w", findingID, err)
	}
	if err := w.st.PutKV(ctx, NSTicket, findingID, v); err != nil {
		return fmt.Errorf("record ticket %s of %s: %w", t.Key, findingID, err)
	}
	if w.onRecord != nil {
		w.onRecord(ctx, findingID, t)
	}
	return nil
}

// ticket returns the key of the ticket an item of p goes to, or errWait
// while that ticket is not created yet. In "new" reopen mode an item of an
// earlier open period (delayed by an outage, say) goes to that period's
// ticket, not the current one.
func (w *Worker) ticket(ctx context.Context, p Payload) (string, error) {
	rec, found, err := Lookup(ctx, w.st, p.FindingID)
	if err != nil {
		return "", err
	}
	switch {
	case !found:
		return "", errWait
	case w.current(rec, p):
		return rec.Key, nil
	case p.Period.After(rec.Period):
		return "", errWait
	}
	for _, t := range rec.Previous {
		if t.Period.Equal(p.Period) {
			return t.Key, nil
		}
	}
	return "", errDrop{fmt.Errorf("no ticket was created for the open period of %s that began %s", p.FindingID, stamp(p.Period))}
}

func (w *Worker) comment(ctx context.Context, p Payload) error {
	if p.Comment == "" {
		return nil
	}
	key, err := w.ticket(ctx, p)
	if err != nil {
		return err
	}
	if err := w.jira.AddComment(ctx, key, tracker.Text(p.Comment)); err != nil {
		if errors.Is(err, tracker.ErrNotFound) {
			return errDrop{err}
		}
		return err
	}
	return nil
}

func (w *Worker) transition(ctx context.Context, log zerolog.Logger, p Payload, resolve bool) error {
	key, err := w.ticket(ctx, p)
	if err != nil {
		return err
	}
	var name string
	if resolve {
		name, err = w.jira.Resolve(ctx, key, w.cfg.ResolveTransitions)
	} else {
		name, err = w.jira.Reopen(ctx, key, w.cfg.ReopenTransitions)
	}
	if errors.Is(err, tracker.ErrNotFound) {
		return errDrop{err}
	}
	if err != nil {
		return err
	}
	if name != "" {
		log.Info().Str("ticket", key).Str("transition", name).Msg("ticket moved")
	}
	return nil
}
