package outbox

import (
	"sync"

	"github.com/secops-bot/secops-bot/store"
)

// serial keeps the items of one key in order. While an item of a key is
// in flight, later items of that key wait in its queue and are carried out
// after it by the same goroutine: two reads of one resource recorded out
// of order would leave an older state on the finding, and a batch of
// Slack deliveries runs in the order it was stored.
type serial struct {
	mu   sync.Mutex
	busy map[string]*inFlight
}

// inFlight is what waits behind the work on one key.
type inFlight struct {
	queued []store.OutboxItem
}

// enqueue reports whether it may start now (key was free and is now held);
// otherwise it is queued behind the work in flight on key. Items without a
// key always start.
func (s *serial) enqueue(key string, it store.OutboxItem) bool {
	if key == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.busy[key]; b != nil {
		b.queued = append(b.queued, it)
		return false
	}
	s.busy[key] = &inFlight{}
	return true
}

// next pops the item queued next on key, or frees key when none is.
func (s *serial) next(key string) (store.OutboxItem, bool) {
	if key == "" {
		return store.OutboxItem{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.busy[key]
	if b == nil {
		return store.OutboxItem{}, false
	}
	if len(b.queued) == 0 {
		delete(s.busy, key)
		return store.OutboxItem{}, false
	}
	it := b.queued[0]
	b.queued = b.queued[1:]
	return it, true
}

// dropQueued takes every queued item out (the work in flight keeps its
// keys), for handing back at shutdown.
func (s *serial) dropQueued() []store.OutboxItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.OutboxItem
	for _, b := range s.busy {
		out = append(out, b.queued...)
		b.queued = nil
	}
	return out
}
