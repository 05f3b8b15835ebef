// Package feedhealth tells SecOps when the bot is blind. Findings only come
// from CloudTrail events, so an account whose events stopped arriving (a
// trail stopped or deleted, a broken EventBridge rule, a stuck queue) looks
// exactly like an account where nothing risky happens. The monitor tracks
// the newest event time per account and region, and posts a warning in the
// SecOps channel when a watched account has been silent for too long, or at
// once when a finding says CloudTrail logging was stopped. When events flow
// again it edits the same message to say so.
//
// Warnings are kept in the store, so a restart neither repeats a warning
// nor forgets to clear one. Several replicas share the work through the
// store as well: each sees only part of the events (they share one queue),
// so each merges the newest event times it saw into the store, and only the
// replica holding a lease in the store posts and edits warnings, judging
// from the merged times (see shared.go).
package feedhealth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/lease"
	"github.com/secops-bot/secops-bot/store"
)

// Notifier posts and edits a plain message in a channel.
type Notifier interface {
	Post(ctx context.Context, channel, text string) (ts string, err error)
	Update(ctx context.Context, channel, ts, text string) error
}

// KV is where the monitor's state is shared between replicas and kept
// across restarts. Every write is a compare-and-set, because several
// replicas write the same keys.
type KV = store.KV

// Namespace is the KV namespace of the monitor's state.
const Namespace = "feedhealth"

// Target is an account, or one region of it, whose events are watched. An
// empty Region stands for any region.
type Target struct {
	Account string
	Region  string
}

func (t Target) String() string {
	if t.Region == "" {
		return "account " + t.Account
	}
	return "account " + t.Account + " in " + t.Region
}

// Options configure a Monitor.
type Options struct {
	// Channel is where warnings go (the SecOps channel).
	Channel string
	// MaxSilence is how long a watched target may go without an event
	// before a warning; 0 turns silence warnings off (stopped logging is
	// still reported).
	MaxSilence time.Duration
	// Watch are targets watched from the start, even before their first
	// event. Every account an event comes from is watched as a whole as
	// well; single regions are watched only when listed here, because
	// many regions are quiet for hours in a healthy account.
	Watch []Target
	// Interval between checks in Run; default one minute. Every check
	// also shares this replica's newest event times, so the lease
	// holder's view lags by up to one Interval.
	Interval time.Duration
	// Owner names this replica in the lease (unique per replica); default
	// a random name.
	Owner string
	// LeaseTTL is how long the lease to post warnings lasts unless
	// renewed; the holder renews it at the check that finds less than half
	// of it left. Default three
	// Intervals, so one slow check does not hand it over.
	LeaseTTL time.Duration
	Clock    clock.Clock
	Logger   zerolog.Logger
}

// kind tells the two reasons for a warning apart.
type kind string

const (
	kindSilence kind = "silence"
	kindLogging kind = "logging_disabled"
)

// warning is a posted message that has not been cleared yet.
type warning struct {
	Kind    kind      `json:"kind"`
	Account string    `json:"account"`
	Region  string    `json:"region,omitempty"`
	Channel string    `json:"channel"`
	TS      string    `json:"ts"`
	Raised  time.Time `json:"raised"`
	// Since is the newest event time known when the warning was raised;
	// a logging warning clears on any event newer than that.
	Since     time.Time `json:"since"`
	FindingID string    `json:"finding_id,omitempty"`
}

func (w warning) target() Target { return Target{Account: w.Account, Region: w.Region} }

func key(k kind, t Target) string { return string(k) + "|" + t.Account + "|" + t.Region }

// stopped is a logging-disabled finding not yet warned about. It waits in
// the store (pendingKey) until the lease holder posts its warning, so that
// a report seen by any replica is warned about once.
type stopped struct {
	Account   string    `json:"account"`
	Region    string    `json:"region,omitempty"`
	FindingID string    `json:"finding_id"`
	Since     time.Time `json:"since"`
}

func (s stopped) target() Target { return Target{Account: s.Account, Region: s.Region} }

// Monitor watches the event feed. Observe and LoggingDisabled are cheap and
// safe to call from the pipeline; Check does the I/O.
type Monitor struct {
	kv    KV
	n     Notifier
	opts  Options
	start time.Time
	wake  chan struct{}
	poll  time.Duration // how often Run looks for other replicas' reports

	mu sync.Mutex
	// newest and pending are what this replica saw; Check shares them
	// through the store.
	newest  map[Target]time.Time
	pending map[Target]stopped

	// checkMu serialises checks; holding says whether the last check held
	// the lease.
	checkMu sync.Mutex
	holding atomic.Bool
	lease   *lease.Lease
}

// New returns a monitor; time starts counting at its creation, so a
// watched target that never sends an event is reported MaxSilence later.
func New(kv KV, n Notifier, opts Options) *Monitor {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 3 * opts.Interval
	}
	if opts.Owner == "" {
		opts.Owner = randomOwner()
	}
	return &Monitor{
		kv: kv, n: n, opts: opts, start: opts.Clock.Now(), wake: make(chan struct{}, 1), poll: pendingPoll,
		newest: map[Target]time.Time{}, pending: map[Target]stopped{},
		lease: lease.New(kv, Namespace, leaseKey, opts.Owner, opts.LeaseTTL),
	}
}

// Observe records an event of an account in a region.
func (m *Monitor) Observe(account, region string, eventTime time.Time) {
	if account == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// The account-wide entry also makes the account watched: every
	// replica learns of it from the shared times.
	for _, t := range []Target{{account, region}, {account, ""}} {
		if eventTime.After(m.newest[t]) {
			m.newest[t] = eventTime
		}
	}
}

// LoggingDisabled reports that CloudTrail logging was stopped in an
// account and region; the warning is posted by the next check, which it
// brings forward.
func (m *Monitor) LoggingDisabled(account, region, findingID string) {
	if account == "" {
		return
	}
	t := Target{Account: account, Region: region}
	m.mu.Lock()
	since, ok := m.newest[t]
	if !ok {
		since = m.opts.Clock.Now()
	}
	m.pending[t] = stopped{Account: account, Region: region, FindingID: findingID, Since: since}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// EventIngested feeds the monitor from the pipeline.
func (m *Monitor) EventIngested(_, account, region string, eventTime time.Time) {
	m.Observe(account, region, eventTime)
}

// FindingCreated feeds the monitor from the pipeline. A stopped-logging
// finding that someone marked expected is left to the silence check.
func (m *Monitor) FindingCreated(f finding.Finding) {
	if f.Rule == detect.RuleLoggingDisabled && f.Status != finding.StatusSuppressed {
		m.LoggingDisabled(f.AccountID, f.Region, f.ID)
	}
}

// Run checks every Interval, and right after a stopped-logging report,
// until ctx ends; then it gives the lease up, so that another replica takes
// over at its next check rather than when the lease runs out.
func (m *Monitor) Run(ctx context.Context) {
	defer m.release(ctx)
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	// A stopped-logging report seen by another replica reaches the lease
	// holder through the store, so the holder looks for one more often
	// than it checks.
	poll := time.NewTicker(min(m.opts.Interval, m.poll))
	defer poll.Stop()
	check := true
	for {
		if check {
			if err := m.Check(ctx); err != nil && ctx.Err() == nil {
				m.opts.Logger.Error().Err(err).Msg("feed health check")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check = true
		case <-m.wake:
			check = true
		case <-poll.C:
			check = m.reportsWaiting(ctx)
		}
	}
}

// Check shares this replica's newest event times and stopped-logging
// reports through the store and, if this replica holds the lease (taking
// it when it is free or has run out), posts the warnings that are due and
// clears the ones whose events flow again, judging from every replica's
// times. A failed post or edit is retried by the next check.
func (m *Monitor) Check(ctx context.Context) error {
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	now := m.opts.Clock.Now()
	newest, err := m.share(ctx)
	if err != nil {
		return err
	}
	held, err := m.acquire(ctx, now)
	if err != nil {
		return err
	}
	m.holding.Store(held)
	if !held {
		return nil
	}
	return m.warn(ctx, now, newest)
}

// warn is the lease holder's part of a check. The warnings are read from
// the store every time: another replica may have held the lease since.
func (m *Monitor) warn(ctx context.Context, now time.Time, newest map[Target]time.Time) error {
	ws, err := m.warnings(ctx)
	if err != nil {
		return err
	}
	pending, err := m.reports(ctx)
	if err != nil {
		return err
	}
	watched := m.watched(newest, ws)

	var errs []error
	added := map[string]*warning{}
	var cleared []string
	var handled []stopped
	// Stopped logging first: it is the more urgent and specific news.
	for _, s := range pending {
		k := key(kindLogging, s.target())
		if _, ok := ws[k]; !ok {
			w := &warning{Kind: kindLogging, Account: s.Account, Region: s.Region, Channel: m.opts.Channel, Raised: now, Since: s.Since, FindingID: s.FindingID}
			if err := m.raise(ctx, w, loggingText(w)); err != nil {
				errs = append(errs, err)
				continue
			}
			ws[k], added[k] = w, w
		}
		handled = append(handled, s)
	}
	if m.opts.MaxSilence > 0 {
		// Stopped logging already explains an account's silence; a
		// second warning for it would be noise.
		stoppedAccounts := map[string]bool{}
		for _, w := range ws {
			if w.Kind == kindLogging {
				stoppedAccounts[w.Account] = true
			}
		}
		for _, t := range watched {
			k := key(kindSilence, t)
			if _, ok := ws[k]; ok || stoppedAccounts[t.Account] {
				continue
			}
			last := newest[t]
			if now.Sub(laterOf(last, m.start)) < m.opts.MaxSilence {
				continue
			}
			w := &warning{Kind: kindSilence, Account: t.Account, Region: t.Region, Channel: m.opts.Channel, Raised: now, Since: last}
			if err := m.raise(ctx, w, silenceText(w, now, m.start)); err != nil {
				errs = append(errs, err)
				continue
			}
			ws[k], added[k] = w, w
		}
	}
	for _, k := range sortedKeys(ws) {
		w := ws[k]
		last, seen := newest[w.target()]
		if !seen || !flowing(w, last, now, m.opts.MaxSilence) {
			continue
		}
		if err := m.n.Update(ctx, w.Channel, w.TS, clearedText(w, last)); err != nil {
			errs = append(errs, fmt.Errorf("clear warning for %s: %w", w.target(), err))
			continue
		}
		delete(ws, k)
		delete(added, k)
		cleared = append(cleared, k)
		m.opts.Logger.Info().Str("account", w.Account).Str("region", w.Region).Str("kind", string(w.Kind)).Msg("events flowing again; feed warning cleared")
	}
	if len(added) > 0 || len(cleared) > 0 {
		if err := m.saveWarnings(ctx, added, cleared); err != nil {
			// The reports stay pending: their warnings are not on
			// record.
			return errors.Join(append(errs, err)...)
		}
	}
	if len(handled) > 0 {
		if err := m.settle(ctx, handled); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// watched are the targets whose silence is warned about: the configured
// ones, every account any replica has seen an event from, and those
// already warned about (so that a restart keeps watching them).
func (m *Monitor) watched(newest map[Target]time.Time, ws map[string]*warning) []Target {
	set := map[Target]bool{}
	for _, t := range m.opts.Watch {
		set[t] = true
	}
	for t := range newest {
		if t.Region == "" {
			set[t] = true
		}
	}
	for _, w := range ws {
		switch w.Kind {
		case kindSilence:
			set[w.target()] = true
		case kindLogging:
			set[Target{Account: w.Account}] = true
		}
	}
	out := make([]Target, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// flowing says whether the events seen since a warning put an end to it.
func flowing(w *warning, last, now time.Time, maxSilence time.Duration) bool {
	if !last.After(w.Since) {
		return false
	}
	if w.Kind == kindSilence && maxSilence > 0 {
		// A single late event is not a feed: the newest event must be
		// recent, or the warning would be cleared and raised again.
		return now.Sub(last) < maxSilence
	}
	return true
}

func (m *Monitor) raise(ctx context.Context, w *warning, text string) error {
	ts, err := m.n.Post(ctx, w.Channel, text)
	if err != nil {
		return fmt.Errorf("post feed warning for %s: %w", w.target(), err)
	}
	w.TS = ts
	m.opts.Logger.Warn().Str("account", w.Account).Str("region", w.Region).Str("kind", string(w.Kind)).Str("finding_id", w.FindingID).Msg("feed warning posted: the bot may be blind")
	return nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sortedKeys(m map[string]*warning) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
