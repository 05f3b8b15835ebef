// Package lease elects one replica for a duty that must not run twice at
// once (the canary, posting feed-health warnings) through a value in the
// store's KV changed only by compare-and-set. A replica that dies stops
// renewing its lease and another takes over when it runs out; one that
// stops cleanly releases it so the takeover is immediate.
package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// KV is the part of the store a lease lives in.
type KV = store.KV

// Lease is one replica's view of one lease.
type Lease struct {
	kv      KV
	ns, key string
	owner   string
	ttl     time.Duration
}

// New returns owner's handle on the lease stored at ns/key, which lasts
// ttl without renewal.
func New(kv KV, ns, key, owner string, ttl time.Duration) *Lease {
	return &Lease{kv: kv, ns: ns, key: key, owner: owner, ttl: ttl}
}

// record is the stored lease.
type record struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// State is the outcome of Hold.
type State struct {
	// Held says this replica holds the lease now.
	Held bool
	// Taken says it was just taken (not renewed); Previous then names the
	// replica that held it before, "" when it was never held.
	Taken    bool
	Previous string
	// Free says the lease was free when taken: never held, or given back
	// with Release, rather than run out with its holder (or unreadable).
	// A duty whose holder may have stopped halfway checks what it left.
	Free bool
	// Holder is whoever holds the lease now.
	Holder string
}

// Hold takes the lease when it is free or has run out, renews it when this
// replica holds it and less than half its time is left, and otherwise
// leaves it to its holder. A stored value that cannot be read counts as a
// lease that has run out. Of replicas taking it at once, one does; the
// others find it held.
func (l *Lease) Hold(ctx context.Context, now time.Time) (State, error) {
	var s State
	unreadable := false
	doc := store.NewDoc[record](l.kv, l.ns).OnUnreadable(func(string, error) { unreadable = true })
	_, err := doc.Upsert(ctx, l.key, func(cur *record) error {
		mine := cur.Owner == l.owner
		if !mine && now.Before(cur.Until) {
			s = State{Holder: cur.Owner}
			return store.ErrUnchanged
		}
		s = State{Held: true, Holder: l.owner}
		if mine && cur.Until.Sub(now) > l.ttl/2 {
			return store.ErrUnchanged
		}
		if !mine || !now.Before(cur.Until) {
			s.Taken, s.Previous = true, cur.Owner
			// Never held (no owner, no time) or given back (Release
			// leaves its owner with no time); an unreadable value is
			// neither.
			s.Free = !unreadable && cur.Until.IsZero()
		}
		*cur = record{Owner: l.owner, Until: now.Add(l.ttl)}
		return nil
	})
	if err != nil {
		return State{}, fmt.Errorf("take lease %s/%s: %w", l.ns, l.key, err)
	}
	return s, nil
}

// Release ends the lease if this replica holds it, so that another replica
// takes over at once.
func (l *Lease) Release(ctx context.Context) error {
	_, err := l.doc().Update(ctx, l.key, func(cur *record) error {
		if cur.Owner != l.owner || cur.Until.IsZero() {
			return store.ErrUnchanged
		}
		*cur = record{Owner: l.owner} // over at once
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("release lease %s/%s: %w", l.ns, l.key, err)
	}
	return nil
}

// Holder returns who holds the lease at now, "" when nobody does.
func (l *Lease) Holder(ctx context.Context, now time.Time) (string, error) {
	cur, err := l.doc().Get(ctx, l.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read lease %s/%s: %w", l.ns, l.key, err)
	case !now.Before(cur.Until):
		return "", nil
	}
	return cur.Owner, nil
}

// doc is the lease as a document; an unreadable one reads as a lease that
// has run out, so that a replica takes it over instead of stalling.
func (l *Lease) doc() *store.Doc[record] {
	return store.NewDoc[record](l.kv, l.ns).OnUnreadable(func(string, error) {})
}
