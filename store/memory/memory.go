// Package memory is an in-process store of event history and findings for
// offline runs (replay) where nothing needs to outlive the process and speed
// matters more than durability.
package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

type histEvent struct {
	t      time.Time
	ip, ua string
	region string
	api    string
}

// Store keeps history, findings and quarantined input in memory.
type Store struct {
	mu          sync.Mutex
	ids         map[string]struct{}
	byActor     map[string][]histEvent
	findings    map[string]finding.Finding // by key
	history     map[string][]store.FindingEvent
	quarantined []store.Quarantined
}

// New returns an empty store.
func New() *Store {
	return &Store{
		ids:      map[string]struct{}{},
		byActor:  map[string][]histEvent{},
		findings: map[string]finding.Finding{},
		history:  map[string][]store.FindingEvent{},
	}
}

// HasEvents reports which event IDs are already stored.
func (s *Store) HasEvents(_ context.Context, events []store.Event) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(events))
	for i := range events {
		_, out[i] = s.ids[events[i].EventID]
	}
	return out, nil
}

// AddEvents stores events, ignoring known IDs.
func (s *Store) AddEvents(_ context.Context, events []store.Event) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(events))
	for i, e := range events {
		if _, dup := s.ids[e.EventID]; dup {
			continue
		}
		s.ids[e.EventID] = struct{}{}
		out[i] = true
		if e.ActorARN == "" {
			continue
		}
		s.byActor[e.ActorARN] = append(s.byActor[e.ActorARN], histEvent{t: e.Time, ip: e.SourceIP, ua: e.UserAgent, region: e.Region, api: e.EventName})
	}
	return out, nil
}

// ActorStats summarises an actor's events in [since, until).
func (s *Store) ActorStats(_ context.Context, actorARN string, since, until time.Time) (store.ActorStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := store.ActorStats{
		SourceIPs: map[string]store.ValueStats{}, UserAgents: map[string]store.ValueStats{},
		Regions: map[string]store.ValueStats{}, APIs: map[string]store.ValueStats{},
	}
	days := map[string]bool{}
	valueDays := map[string]map[string]bool{}
	bump := func(kind string, m map[string]store.ValueStats, v string, t time.Time, day string) {
		vs := m[v]
		vs.Count++
		if vs.FirstSeen.IsZero() || t.Before(vs.FirstSeen) {
			vs.FirstSeen = t
		}
		if t.After(vs.LastSeen) {
			vs.LastSeen = t
		}
		k := kind + "\x00" + v
		if valueDays[k] == nil {
			valueDays[k] = map[string]bool{}
		}
		if !valueDays[k][day] {
			valueDays[k][day] = true
			vs.Days++
		}
		m[v] = vs
	}
	for _, e := range s.byActor[actorARN] {
		if e.t.Before(since) || !e.t.Before(until) {
			continue
		}
		st.Total++
		day := e.t.UTC().Format("2006-01-02")
		days[day] = true
		if st.FirstSeen.IsZero() || e.t.Before(st.FirstSeen) {
			st.FirstSeen = e.t
		}
		if e.t.After(st.LastSeen) {
			st.LastSeen = e.t
		}
		st.ByHourUTC[e.t.UTC().Hour()]++
		bump("ip", st.SourceIPs, e.ip, e.t, day)
		bump("ua", st.UserAgents, e.ua, e.t, day)
		bump("region", st.Regions, e.region, e.t, day)
		bump("api", st.APIs, e.api, e.t, day)
	}
	st.Days = len(days)
	return st, nil
}

// GetFindingByKey returns a finding by its key.
func (s *Store) GetFindingByKey(_ context.Context, key string) (finding.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.findings[key]
	if !ok {
		return finding.Finding{}, store.ErrNotFound
	}
	return f, nil
}

// UpsertFinding stores a finding and appends to its history.
func (s *Store) UpsertFinding(_ context.Context, f finding.Finding, ev store.FindingEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.findings[f.Key] = f
	if ev.Status != "" {
		s.history[f.ID] = append(s.history[f.ID], ev)
	}
	return nil
}

// Findings lists every finding ordered by first event time.
func (s *Store) Findings() []finding.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]finding.Finding, 0, len(s.findings))
	for _, f := range s.findings {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstSeen.Before(out[j].FirstSeen) })
	return out
}

// Quarantine keeps malformed input.
func (s *Store) Quarantine(_ context.Context, q store.Quarantined) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q.ID = int64(len(s.quarantined) + 1)
	s.quarantined = append(s.quarantined, q)
	return nil
}

// Quarantined lists quarantined input in arrival order.
func (s *Store) Quarantined() []store.Quarantined {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Quarantined(nil), s.quarantined...)
}
