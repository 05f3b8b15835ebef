// Package memory is an in-process store of event history and findings for
// offline runs (replay) where nothing needs to outlive the process and speed
// matters more than durability.
package memory

import (
	"context"
	"sort"
	"strings"
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
//
// Strings taken from events are copied, once per distinct value, before
// they are kept: a decoded event's fields share one buffer with its whole
// raw JSON, so keeping a field as is would keep the entire event alive.
type Store struct {
	mu sync.Mutex
	// uuids holds the event IDs in CloudTrail's UUID form as 16 bytes,
	// a fraction of the string and cheaper to hash; ids holds the rest.
	uuids       map[[16]byte]struct{}
	ids         map[string]struct{}
	strs        map[string]string // interned values
	byActor     map[string][]histEvent
	findings    map[string]finding.Finding // by key
	history     map[string][]store.FindingEvent
	quarantined []store.Quarantined
}

// New returns an empty store.
func New() *Store {
	return &Store{
		uuids:    map[[16]byte]struct{}{},
		ids:      map[string]struct{}{},
		strs:     map[string]string{},
		byActor:  map[string][]histEvent{},
		findings: map[string]finding.Finding{},
		history:  map[string][]store.FindingEvent{},
	}
}

// has reports whether an event ID is stored.
func (s *Store) has(id string) bool {
	if u, ok := parseUUID(id); ok {
		_, found := s.uuids[u]
		return found
	}
	_, found := s.ids[id]
	return found
}

// add stores an event ID, reporting whether it is new.
func (s *Store) add(id string) bool {
	if u, ok := parseUUID(id); ok {
		if _, dup := s.uuids[u]; dup {
			return false
		}
		s.uuids[u] = struct{}{}
		return true
	}
	if _, dup := s.ids[id]; dup {
		return false
	}
	s.ids[strings.Clone(id)] = struct{}{}
	return true
}

// reuse returns prev, an interned value, when it equals v, and interns v
// otherwise.
func (s *Store) reuse(prev, v string) string {
	if prev == v {
		return prev
	}
	return s.intern(v)
}

// intern returns a private copy of v, the same one for equal values.
func (s *Store) intern(v string) string {
	if c, ok := s.strs[v]; ok {
		return c
	}
	c := strings.Clone(v)
	s.strs[c] = c
	return c
}

// parseUUID packs a UUID in canonical form (8-4-4-4-12 hex digits, either
// case) into 16 bytes. Upper and lower case pack alike, so they must not
// both be accepted as distinct IDs: only lowercase, CloudTrail's form, is.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	bad := byte(0)
	for j, i := range uuidHexAt {
		hi, lo := hexDigit[s[i]], hexDigit[s[i+1]]
		bad |= hi | lo
		u[j] = hi<<4 | lo&0x0f
	}
	return u, bad&0xf0 == 0
}

// uuidHexAt is where each byte's two hex digits start in a canonical UUID.
var uuidHexAt = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexDigit maps a lower-case hex digit to its value and any other byte to
// 0xff, so that one OR over a UUID's digits tells whether all were valid.
var hexDigit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// HasEvents reports which event IDs are already stored.
func (s *Store) HasEvents(_ context.Context, events []store.Event) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(events))
	for i := range events {
		out[i] = s.has(events[i].EventID)
	}
	return out, nil
}

// AddEvents stores events, ignoring known IDs.
func (s *Store) AddEvents(_ context.Context, events []store.Event) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(events))
	for i := range events {
		e := &events[i]
		if !s.add(e.EventID) {
			continue
		}
		out[i] = true
		if e.ActorARN == "" {
			continue
		}
		hist, ok := s.byActor[e.ActorARN]
		var prev histEvent
		if len(hist) > 0 {
			prev = hist[len(hist)-1]
		}
		// An actor mostly repeats its last IP, agent, region and API, and
		// comparing with those is cheaper than hashing a long user agent.
		h := histEvent{t: e.Time, ip: s.reuse(prev.ip, e.SourceIP), ua: s.reuse(prev.ua, e.UserAgent),
			region: s.reuse(prev.region, e.Region), api: s.reuse(prev.api, e.EventName)}
		if ok {
			s.byActor[e.ActorARN] = append(hist, h)
		} else {
			s.byActor[strings.Clone(e.ActorARN)] = []histEvent{h}
		}
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
