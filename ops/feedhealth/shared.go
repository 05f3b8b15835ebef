package feedhealth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// The state replicas share, one KV value each. Every value is small (a few
// hundred account/region pairs at most), so each is one JSON document
// changed with compare-and-set.
const (
	// warningsKey holds every active warning; only the lease holder
	// writes it.
	warningsKey = "warnings"
	// newestKey holds the newest event time per target, max-merged by
	// every replica, so times only move forward.
	newestKey = "newest"
	// pendingKey holds stopped-logging reports not warned about yet:
	// added by any replica, removed by the lease holder once posted.
	pendingKey = "pending"
	// leaseKey says which replica posts and edits warnings, until when.
	leaseKey = "lease"
)

// pendingPoll is how often the lease holder looks for stopped-logging
// reports from other replicas between checks.
const pendingPoll = 5 * time.Second

// update reads key, lets fn change the decoded value, and writes it back
// with compare-and-set (store.Doc), starting again from a fresh read
// whenever another replica wrote in between. fn reports whether it changed
// anything; nothing is written otherwise. It returns the value as stored.
// Unreadable state must not stop the monitor: it reads as empty, and at
// worst a warning is posted again.
func update[T any](ctx context.Context, m *Monitor, key string, fn func(*T) bool) (T, error) {
	doc := store.NewDoc[T](m.kv, Namespace).OnUnreadable(func(key string, err error) {
		m.opts.Logger.Error().Err(err).Str("key", key).Msg("feed health state in the store is unreadable; starting afresh")
	})
	v, err := doc.Upsert(ctx, key, func(v *T) error {
		if !fn(v) {
			return store.ErrUnchanged
		}
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("store feed health %s: %w", key, err)
	}
	return v, nil
}

func targetKey(t Target) string { return t.Account + "|" + t.Region }

func parseTarget(k string) (Target, bool) {
	account, region, ok := strings.Cut(k, "|")
	return Target{Account: account, Region: region}, ok && account != ""
}

// share merges this replica's newest event times and stopped-logging
// reports into the store and returns every replica's newest times.
func (m *Monitor) share(ctx context.Context) (map[Target]time.Time, error) {
	m.mu.Lock()
	local := make(map[string]time.Time, len(m.newest))
	for t, at := range m.newest {
		local[targetKey(t)] = at
	}
	reports := make(map[string]stopped, len(m.pending))
	for t, s := range m.pending {
		reports[targetKey(t)] = s
	}
	m.mu.Unlock()

	merged, err := update(ctx, m, newestKey, func(v *map[string]time.Time) bool {
		if *v == nil {
			*v = map[string]time.Time{}
		}
		changed := false
		for k, at := range local {
			if at.After((*v)[k]) {
				(*v)[k] = at
				changed = true
			}
		}
		return changed
	})
	if err != nil {
		return nil, err
	}
	if len(reports) > 0 {
		_, err := update(ctx, m, pendingKey, func(v *map[string]stopped) bool {
			if *v == nil {
				*v = map[string]stopped{}
			}
			changed := false
			for k, s := range reports {
				if (*v)[k] != s {
					(*v)[k] = s
					changed = true
				}
			}
			return changed
		})
		if err != nil {
			return nil, err
		}
		// Reports made while sharing stay for the next check.
		m.mu.Lock()
		for _, s := range reports {
			if t := s.target(); m.pending[t] == s {
				delete(m.pending, t)
			}
		}
		m.mu.Unlock()
	}
	out := make(map[Target]time.Time, len(merged))
	for k, at := range merged {
		if t, ok := parseTarget(k); ok {
			out[t] = at
		}
	}
	return out, nil
}

// acquire takes or renews the lease to post and edit warnings and reports
// whether this replica holds it. A replica that stops renewing it (it
// died, or is cut off from the store) loses it when it runs out.
func (m *Monitor) acquire(ctx context.Context, now time.Time) (bool, error) {
	l, err := m.lease.Hold(ctx, now)
	if err != nil {
		return false, fmt.Errorf("feed health lease: %w", err)
	}
	if l.Taken && l.Previous != "" && l.Previous != m.opts.Owner {
		m.opts.Logger.Info().Str("owner", m.opts.Owner).Str("previous_owner", l.Previous).Msg("took over the feed health warnings")
	}
	return l.Held, nil
}

// release gives the lease up at shutdown; ctx may be over already.
func (m *Monitor) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m.checkMu.Lock()
	defer m.checkMu.Unlock()
	if err := m.lease.Release(ctx); err != nil {
		m.opts.Logger.Warn().Err(err).Msg("give up the feed health lease; another replica takes over when it runs out")
	}
	m.holding.Store(false)
}

// warnings reads the active warnings.
func (m *Monitor) warnings(ctx context.Context) (map[string]*warning, error) {
	ws, err := update(ctx, m, warningsKey, func(*map[string]*warning) bool { return false })
	if err != nil {
		return nil, err
	}
	if ws == nil {
		ws = map[string]*warning{}
	}
	return ws, nil
}

// saveWarnings records warnings posted and cleared by this check.
func (m *Monitor) saveWarnings(ctx context.Context, added map[string]*warning, cleared []string) error {
	_, err := update(ctx, m, warningsKey, func(v *map[string]*warning) bool {
		if *v == nil {
			*v = map[string]*warning{}
		}
		for k, w := range added {
			(*v)[k] = w
		}
		for _, k := range cleared {
			delete(*v, k)
		}
		return true
	})
	return err
}

// reports reads the stopped-logging reports waiting for a warning, in a
// stable order.
func (m *Monitor) reports(ctx context.Context) ([]stopped, error) {
	v, err := update(ctx, m, pendingKey, func(*map[string]stopped) bool { return false })
	if err != nil {
		return nil, err
	}
	out := make([]stopped, 0, len(v))
	for _, s := range v {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return targetKey(out[i].target()) < targetKey(out[j].target()) })
	return out, nil
}

// settle removes reports whose warning is on record; a newer report for
// the same target, made meanwhile, stays.
func (m *Monitor) settle(ctx context.Context, handled []stopped) error {
	_, err := update(ctx, m, pendingKey, func(v *map[string]stopped) bool {
		changed := false
		for _, s := range handled {
			k := targetKey(s.target())
			if cur, ok := (*v)[k]; ok && cur == s {
				delete(*v, k)
				changed = true
			}
		}
		return changed
	})
	return err
}

// reportsWaiting says whether this replica holds the lease and a
// stopped-logging report from another replica waits for its warning.
func (m *Monitor) reportsWaiting(ctx context.Context) bool {
	if !m.holding.Load() {
		return false
	}
	pending, err := m.reports(ctx)
	return err == nil && len(pending) > 0
}

// randomOwner names a replica that was given no name.
func randomOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported platforms
	return host + "-" + hex.EncodeToString(b[:])
}
