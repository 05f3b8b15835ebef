// Package lease elects one replica for a duty that must not run twice at
// once (the canary, posting feed-health warnings) through a value in the
// store's KV changed only by compare-and-set. A replica that dies stops
// renewing its lease and another takes over when it runs out; one that
// stops cleanly releases it so the takeover is immediate.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// KV is the part of the store a lease lives in.
type KV interface {
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
	CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error)
}

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
// lease that has run out.
func (l *Lease) Hold(ctx context.Context, now time.Time) (State, error) {
	raw, cur, err := l.read(ctx)
	if err != nil {
		return State{}, err
	}
	mine := cur.Owner == l.owner
	if !mine && now.Before(cur.Until) {
		return State{Holder: cur.Owner}, nil
	}
	if mine && cur.Until.Sub(now) > l.ttl/2 {
		return State{Held: true, Holder: l.owner}, nil
	}
	next, _ := json.Marshal(record{Owner: l.owner, Until: now.Add(l.ttl)}) // a string and a time
	ok, err := l.kv.CompareAndSwapKV(ctx, l.ns, l.key, raw, next)
	if err != nil {
		return State{}, fmt.Errorf("take lease %s/%s: %w", l.ns, l.key, err)
	}
	if !ok {
		// Another replica wrote in between: it holds the lease now.
		return State{}, nil
	}
	s := State{Held: true, Holder: l.owner}
	if !mine || !now.Before(cur.Until) {
		s.Taken, s.Previous = true, cur.Owner
		// Release leaves its owner with no time; an unreadable value
		// reads as no owner.
		s.Free = raw == nil || (cur.Owner != "" && cur.Until.IsZero())
	}
	return s, nil
}

// Release ends the lease if this replica holds it, so that another replica
// takes over at once.
func (l *Lease) Release(ctx context.Context) error {
	raw, cur, err := l.read(ctx)
	if err != nil || raw == nil || cur.Owner != l.owner || cur.Until.IsZero() {
		return err
	}
	next, _ := json.Marshal(record{Owner: l.owner}) // over at once
	if _, err := l.kv.CompareAndSwapKV(ctx, l.ns, l.key, raw, next); err != nil {
		return fmt.Errorf("release lease %s/%s: %w", l.ns, l.key, err)
	}
	return nil
}

// Holder returns who holds the lease at now, "" when nobody does.
func (l *Lease) Holder(ctx context.Context, now time.Time) (string, error) {
	_, cur, err := l.read(ctx)
	if err != nil || !now.Before(cur.Until) {
		return "", err
	}
	return cur.Owner, nil
}

func (l *Lease) read(ctx context.Context) ([]byte, record, error) {
	raw, err := l.kv.GetKV(ctx, l.ns, l.key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, record{}, nil
	}
	if err != nil {
		return nil, record{}, fmt.Errorf("read lease %s/%s: %w", l.ns, l.key, err)
	}
	var cur record
	if json.Unmarshal(raw, &cur) != nil {
		cur = record{}
	}
	return raw, cur, nil
}
