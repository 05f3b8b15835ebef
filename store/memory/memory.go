// Package memory is an in-process store of event history, findings and the
// key-value space for offline runs (replay) where nothing needs to outlive
// the process and speed matters more than durability.
package memory

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// histEvent is one event of an actor's history. It holds no pointers
// (values are indexes into the store's tables), so the garbage collector
// never scans the millions of them a long replay keeps, and it is a third
// of the size of the strings and time it stands for.
type histEvent struct {
	sec                 int64
	nsec                int32
	loc                 uint32 // index into Store.locs
	ip, ua, region, api uint32 // indexes into Store.vals
}

// histBlock is how many events an actor's history grows by at a time, so
// that a long history is never copied as it grows (only a first block that
// is not yet full is).
const histBlock = 4096

// Store keeps history, findings and quarantined input in memory.
//
// Strings taken from events are copied, once per distinct value, before
// they are kept: a decoded event's fields share one buffer with its whole
// raw JSON, so keeping a field as is would keep the entire event alive.
type Store struct {
	mu sync.Mutex
	// uuids holds the event IDs in CloudTrail's UUID form as 16 bytes,
	// a fraction of the string and cheaper to hash; ids holds the rest.
	uuids    *uuidSet
	ids      map[string]struct{}
	vals     []string          // interned values; vals[0] is ""
	valIndex map[string]uint32 // value to index in vals
	locs     []*time.Location  // time zones of event times
	byActor  map[string][][]histEvent
	// writes keeps the write events of each resource (few, next to the
	// reads), for the resource history on findings.
	writes      map[string][]store.Event
	findings    map[string]finding.Finding // by key
	history     map[string][]store.FindingEvent
	quarantined []store.Quarantined
	kv          map[kvKey][]byte
}

// kvKey is a key of the key-value space in its namespace.
type kvKey struct{ ns, key string }

// New returns an empty store.
func New() *Store {
	return &Store{
		uuids:    newUUIDSet(),
		ids:      map[string]struct{}{},
		vals:     []string{""},
		valIndex: map[string]uint32{"": 0},
		byActor:  map[string][][]histEvent{},
		writes:   map[string][]store.Event{},
		findings: map[string]finding.Finding{},
		history:  map[string][]store.FindingEvent{},
		kv:       map[kvKey][]byte{},
	}
}

// has reports whether an event ID is stored.
func (s *Store) has(id string) bool {
	if u, ok := parseUUID(id); ok {
		return s.uuids.has(u)
	}
	_, found := s.ids[id]
	return found
}

// add stores an event ID, reporting whether it is new.
func (s *Store) add(id string) bool {
	if u, ok := parseUUID(id); ok {
		return s.uuids.add(u)
	}
	if _, dup := s.ids[id]; dup {
		return false
	}
	s.ids[strings.Clone(id)] = struct{}{}
	return true
}

// reuse returns prev, the index of an interned value, when that value is
// v, and interns v otherwise.
func (s *Store) reuse(prev uint32, v string) uint32 {
	if s.vals[prev] == v {
		return prev
	}
	return s.intern(v)
}

// intern returns the index of v in vals, adding a private copy of it when
// it is new.
func (s *Store) intern(v string) uint32 {
	if i, ok := s.valIndex[v]; ok {
		return i
	}
	c := strings.Clone(v)
	i := uint32(len(s.vals))
	s.vals = append(s.vals, c)
	s.valIndex[c] = i
	return i
}

// locIndex returns the index of a time's zone in locs. Zones are told apart
// by name and offset, so the fixed zones that parsing a numeric offset
// creates anew each time are kept once.
func (s *Store) locIndex(t time.Time) uint32 {
	name, off := t.Zone()
	for i, l := range s.locs {
		if l == t.Location() {
			return uint32(i)
		}
		if n, o := t.In(l).Zone(); n == name && o == off {
			return uint32(i)
		}
	}
	s.locs = append(s.locs, t.Location())
	return uint32(len(s.locs) - 1)
}

func (s *Store) timeOf(e *histEvent) time.Time {
	return time.Unix(e.sec, int64(e.nsec)).In(s.locs[e.loc])
}

// parseUUID packs a UUID in CloudTrail's form (8-4-4-4-12 lower-case hex
// digits) into 16 bytes. Upper case is refused: it would pack like lower
// case, and the two are different event IDs; such IDs stay strings.
//
// It runs twice per replayed event, so it decodes eight digits at a time.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	words := [4]uint64{
		le64(s, 0),
		le32(s, 9) | le32(s, 14)<<32,
		le32(s, 19) | le32(s, 24)<<32,
		le64(s, 28),
	}
	for i, w := range words {
		v, ok := hex8(w)
		if !ok {
			return [16]byte{}, false
		}
		binary.LittleEndian.PutUint32(u[4*i:], v)
	}
	return u, true
}

// hex8 decodes eight lower-case hex digits, the first in the lowest byte
// of w, into the value they spell.
func hex8(w uint64) (uint32, bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	if w&highs != 0 {
		return 0, false
	}
	// For ASCII bytes, adding 0x80-c sets a byte's high bit exactly when
	// the byte is at least c, and never carries into the next byte.
	digit := (w + ones*(0x80-'0')) &^ (w + ones*(0x80-'9'-1)) & highs
	letter := (w + ones*(0x80-'a')) &^ (w + ones*(0x80-'f'-1)) & highs
	if digit|letter != highs {
		return 0, false
	}
	nibbles := w&(ones*0x0f) + (letter>>7)*9 // 'a' is 0x61: 1+9 = 10
	// Pair the nibbles into bytes (first digit high), then gather the
	// four bytes, the first pair lowest.
	pairs := (nibbles<<4 | nibbles>>8) & 0x00ff00ff00ff00ff
	pairs = (pairs | pairs>>8) & 0x0000ffff0000ffff
	pairs = (pairs | pairs>>16) & 0xffffffff
	return uint32(pairs), true
}

// le64 and le32 read eight or four bytes of s at i, the first in the
// lowest byte (the compiler makes each one load).
func le64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func le32(s string, i int) uint64 {
	_ = s[i+3]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24
}

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
		if !e.ReadOnly && e.ResourceARN != "" {
			w := store.Event{EventID: strings.Clone(e.EventID), Time: e.Time, ActorARN: strings.Clone(e.ActorARN),
				EventName: strings.Clone(e.EventName), ErrorCode: strings.Clone(e.ErrorCode), ResourceARN: strings.Clone(e.ResourceARN)}
			s.writes[w.ResourceARN] = append(s.writes[w.ResourceARN], w)
		}
		if e.ActorARN == "" {
			continue
		}
		blocks, ok := s.byActor[e.ActorARN]
		var prev histEvent
		if ok {
			last := blocks[len(blocks)-1]
			prev = last[len(last)-1]
		}
		// An actor mostly repeats its last IP, agent, region and API, and
		// comparing with those is cheaper than hashing a long user agent.
		h := histEvent{sec: e.Time.Unix(), nsec: int32(e.Time.Nanosecond()), loc: s.locIndex(e.Time),
			ip: s.reuse(prev.ip, e.SourceIP), ua: s.reuse(prev.ua, e.UserAgent),
			region: s.reuse(prev.region, e.Region), api: s.reuse(prev.api, e.EventName)}
		switch {
		case !ok:
			s.byActor[strings.Clone(e.ActorARN)] = [][]histEvent{append(make([]histEvent, 0, 16), h)}
		case len(blocks[len(blocks)-1]) == histBlock:
			s.byActor[e.ActorARN] = append(blocks, append(make([]histEvent, 0, histBlock), h))
		default:
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], h)
		}
	}
	return out, nil
}

// QueryEvents answers resource queries from the kept write events, newest
// first; replay needs nothing else (reads are summarised per actor).
func (s *Store) QueryEvents(_ context.Context, q store.EventQuery) ([]store.Event, error) {
	if q.ResourceARN == "" || q.ActorARN != "" || q.AccessKeyID != "" || q.SourceIdentity != "" || q.Account != "" {
		return nil, fmt.Errorf("memory store: only resource queries are kept")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.writes[q.ResourceARN]
	var out []store.Event
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if (!q.Since.IsZero() && e.Time.Before(q.Since)) || (!q.Until.IsZero() && !e.Time.Before(q.Until)) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
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
	for _, block := range s.byActor[actorARN] {
		for i := range block {
			e := &block[i]
			t := s.timeOf(e)
			if t.Before(since) || !t.Before(until) {
				continue
			}
			st.Total++
			day := t.UTC().Format("2006-01-02")
			days[day] = true
			if st.FirstSeen.IsZero() || t.Before(st.FirstSeen) {
				st.FirstSeen = t
			}
			if t.After(st.LastSeen) {
				st.LastSeen = t
			}
			st.ByHourUTC[t.UTC().Hour()]++
			bump("ip", st.SourceIPs, s.vals[e.ip], t, day)
			bump("ua", st.UserAgents, s.vals[e.ua], t, day)
			bump("region", st.Regions, s.vals[e.region], t, day)
			bump("api", st.APIs, s.vals[e.api], t, day)
		}
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
