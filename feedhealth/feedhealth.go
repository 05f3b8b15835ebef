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
// nor forgets to clear one.
package feedhealth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Notifier posts and edits a plain message in a channel.
type Notifier interface {
	Post(ctx context.Context, channel, text string) (ts string, err error)
	Update(ctx context.Context, channel, ts, text string) error
}

// KV is where warnings are remembered across restarts.
type KV interface {
	PutKV(ctx context.Context, ns, key string, value []byte) error
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
}

// Namespace is the KV namespace of the monitor's state.
const Namespace = "feedhealth"

// warningsKey holds every active warning in one value: there are few, and
// the KV has no listing.
const warningsKey = "warnings"

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
	// Interval between checks in Run; default one minute.
	Interval time.Duration
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

// stopped is a logging-disabled finding not yet warned about.
type stopped struct {
	findingID string
	since     time.Time
}

// Monitor watches the event feed. Observe and LoggingDisabled are cheap and
// safe to call from the pipeline; Check does the I/O.
type Monitor struct {
	kv    KV
	n     Notifier
	opts  Options
	start time.Time
	wake  chan struct{}

	mu      sync.Mutex
	newest  map[Target]time.Time
	watched map[Target]bool
	pending map[Target]stopped

	// checkMu serialises checks; the fields below belong to Check.
	checkMu  sync.Mutex
	loaded   bool
	dirty    bool
	warnings map[string]*warning
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
	m := &Monitor{
		kv: kv, n: n, opts: opts, start: opts.Clock.Now(), wake: make(chan struct{}, 1),
		newest: map[Target]time.Time{}, watched: map[Target]bool{}, pending: map[Target]stopped{},
		warnings: map[string]*warning{},
	}
	for _, t := range opts.Watch {
		m.watched[t] = true
	}
	return m
}

// Observe records an event of an account in a region.
func (m *Monitor) Observe(account, region string, eventTime time.Time) {
	if account == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range []Target{{account, region}, {account, ""}} {
		if eventTime.After(m.newest[t]) {
			m.newest[t] = eventTime
		}
	}
	m.watched[Target{Account: account}] = true
}

// LoggingDisabled reports that CloudTrail logging was stopped in an
// account and region; the warning is posted by the next check, which it
// brings forward.
func (m *Monitor) LoggingDisabled(account, region, findingID string) {
	t := Target{Account: account, Region: region}
	m.mu.Lock()
	since, ok := m.newest[t]
	if !ok {
		since = m.opts.Clock.Now()
	}
	m.pending[t] = stopped{findingID: findingID, since: since}
	m.watched[Target{Account: account}] = true
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
// until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		if err := m.Check(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.Error().Err(err).Msg("feed health check")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
	}
}

// Check posts the warnings that are due and clears the ones whose events
// flow again. A failed post or edit is retried by the next check.
func (m *Monitor) Check(ctx context.Context) error {
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	if !m.loaded {
		if err := m.load(ctx); err != nil {
			return err
		}
	}
	now := m.opts.Clock.Now()
	m.mu.Lock()
	newest := make(map[Target]time.Time, len(m.newest))
	for t, v := range m.newest {
		newest[t] = v
	}
	var watched []Target
	for t := range m.watched {
		watched = append(watched, t)
	}
	pending := make(map[Target]stopped, len(m.pending))
	for t, s := range m.pending {
		pending[t] = s
	}
	m.mu.Unlock()
	sort.Slice(watched, func(i, j int) bool { return watched[i].String() < watched[j].String() })

	var errs []error
	// Stopped logging first: it is the more urgent and specific news.
	for t, s := range pending {
		k := key(kindLogging, t)
		if _, ok := m.warnings[k]; !ok {
			w := &warning{Kind: kindLogging, Account: t.Account, Region: t.Region, Channel: m.opts.Channel, Raised: now, Since: s.since, FindingID: s.findingID}
			if err := m.raise(ctx, k, w, loggingText(w)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		m.mu.Lock()
		if cur, ok := m.pending[t]; ok && cur == s {
			delete(m.pending, t)
		}
		m.mu.Unlock()
	}
	if m.opts.MaxSilence > 0 {
		// Stopped logging already explains an account's silence; a
		// second warning for it would be noise.
		stoppedAccounts := map[string]bool{}
		for _, w := range m.warnings {
			if w.Kind == kindLogging {
				stoppedAccounts[w.Account] = true
			}
		}
		for _, t := range watched {
			k := key(kindSilence, t)
			if _, ok := m.warnings[k]; ok || stoppedAccounts[t.Account] {
				continue
			}
			last := newest[t]
			if now.Sub(laterOf(last, m.start)) < m.opts.MaxSilence {
				continue
			}
			w := &warning{Kind: kindSilence, Account: t.Account, Region: t.Region, Channel: m.opts.Channel, Raised: now, Since: last}
			if err := m.raise(ctx, k, w, silenceText(w, now, m.start)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, k := range sortedKeys(m.warnings) {
		w := m.warnings[k]
		last, seen := newest[w.target()]
		if !seen || !flowing(w, last, now, m.opts.MaxSilence) {
			continue
		}
		if err := m.n.Update(ctx, w.Channel, w.TS, clearedText(w, last)); err != nil {
			errs = append(errs, fmt.Errorf("clear warning for %s: %w", w.target(), err))
			continue
		}
		delete(m.warnings, k)
		m.dirty = true
		m.opts.Logger.Info().Str("account", w.Account).Str("region", w.Region).Str("kind", string(w.Kind)).Msg("events flowing again; feed warning cleared")
	}
	if m.dirty {
		if err := m.save(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

func (m *Monitor) raise(ctx context.Context, k string, w *warning, text string) error {
	ts, err := m.n.Post(ctx, w.Channel, text)
	if err != nil {
		return fmt.Errorf("post feed warning for %s: %w", w.target(), err)
	}
	w.TS = ts
	m.warnings[k] = w
	m.dirty = true
	m.opts.Logger.Warn().Str("account", w.Account).Str("region", w.Region).Str("kind", string(w.Kind)).Str("finding_id", w.FindingID).Msg("feed warning posted: the bot may be blind")
	return nil
}

func (m *Monitor) load(ctx context.Context) error {
	v, err := m.kv.GetKV(ctx, Namespace, warningsKey)
	if errors.Is(err, store.ErrNotFound) {
		m.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("load feed warnings: %w", err)
	}
	ws := map[string]*warning{}
	if err := json.Unmarshal(v, &ws); err != nil {
		// Unreadable state must not stop the monitor; at worst a warning
		// is posted again.
		m.opts.Logger.Error().Err(err).Msg("feed warnings in the store are unreadable; starting afresh")
		ws = map[string]*warning{}
	}
	m.warnings = ws
	m.mu.Lock()
	for _, w := range ws {
		if w.Kind == kindSilence {
			m.watched[w.target()] = true
		}
	}
	m.mu.Unlock()
	m.loaded = true
	return nil
}

func (m *Monitor) save(ctx context.Context) error {
	v, err := json.Marshal(m.warnings)
	if err != nil {
		return fmt.Errorf("encode feed warnings: %w", err)
	}
	if err := m.kv.PutKV(ctx, Namespace, warningsKey, v); err != nil {
		return fmt.Errorf("store feed warnings: %w", err)
	}
	m.dirty = false
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
