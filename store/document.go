package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// KV is the part of the key-value space that typed documents live in;
// every Store implements it.
type KV interface {
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
	CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error)
	DeleteKV(ctx context.Context, ns, key string) error
	ListKV(ctx context.Context, ns, prefix string) ([]KVEntry, error)
}

// KVEntry is one key of a namespace and its value.
type KVEntry struct {
	Key   string
	Value []byte
}

// ErrUnchanged is returned by an Update or Upsert function to leave the
// document as it is: nothing is written and the call returns the current
// value with a nil error.
var ErrUnchanged = errors.New("unchanged")

// MaxUpdateAttempts bounds the compare-and-set retries of one Update. Each
// lost attempt means another writer stored a change to the same document
// in between, which the handful of writers a document has (a few replicas,
// a few people clicking) cannot keep doing for long; a document that is
// still changing after this many attempts is reported, not retried forever.
const MaxUpdateAttempts = 20

// Doc is one kind of document kept in a namespace of the key-value space:
// values of T, one per key. Every change is a read-modify-write with
// compare-and-set (Update), so writers on several replicas never lose each
// other's changes; whoever loses a race applies its change again to what
// the winner stored. Documents are JSON unless made with NewTextDoc.
//
// A Doc holds no state of its own beyond its configuration and is safe for
// concurrent use.
type Doc[T any] struct {
	kv     KV
	ns     string
	encode func(T) ([]byte, error)
	decode func([]byte) (T, error)
	// unreadable, when set, is told about a stored value that does not
	// decode, which then reads as T's zero value.
	unreadable func(key string, err error)
}

// NewDoc returns the documents of type T stored as JSON in namespace ns. An
// empty stored value (what PutKV makes of nil) reads as T's zero value.
func NewDoc[T any](kv KV, ns string) *Doc[T] {
	return &Doc[T]{
		kv: kv, ns: ns,
		encode: func(v T) ([]byte, error) { return json.Marshal(v) },
		decode: func(b []byte) (T, error) {
			var v T
			if len(b) == 0 {
				return v, nil
			}
			err := json.Unmarshal(b, &v)
			return v, err
		},
	}
}

// NewTextDoc returns documents that are plain strings, stored byte for byte
// as they are (for values that were never JSON, such as an ID or a line of
// text).
func NewTextDoc(kv KV, ns string) *Doc[string] {
	return &Doc[string]{
		kv: kv, ns: ns,
		encode: func(v string) ([]byte, error) { return []byte(v), nil },
		decode: func(b []byte) (string, error) { return string(b), nil },
	}
}

// OnUnreadable returns a copy of d that reads a stored value it cannot
// decode as T's zero value, after telling report, instead of failing. It
// suits state that is cheaper to rebuild than to be stuck on (a monitor's
// progress, a lease); an Update then replaces the unreadable value.
func (d *Doc[T]) OnUnreadable(report func(key string, err error)) *Doc[T] {
	c := *d
	c.unreadable = report
	return &c
}

// Get returns the document at key, or an error wrapping ErrNotFound.
func (d *Doc[T]) Get(ctx context.Context, key string) (T, error) {
	v, _, err := d.read(ctx, key)
	return v, err
}

// Create stores v at key only if no document is there yet; otherwise it
// returns an error wrapping ErrConflict and writes nothing.
func (d *Doc[T]) Create(ctx context.Context, key string, v T) error {
	raw, err := d.encode(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", d.ns, key, err)
	}
	ok, err := d.kv.CompareAndSwapKV(ctx, d.ns, key, nil, raw)
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", d.ns, key, err)
	}
	if !ok {
		return fmt.Errorf("create %s/%s: it exists already: %w", d.ns, key, ErrConflict)
	}
	return nil
}

// Update applies fn to the document at key and stores the result only if
// nobody else stored a change in between; otherwise it reads the document
// again and applies fn again, so fn always decides on the latest state and
// may be called several times. It returns the document as stored.
//
// A missing document is an error wrapping ErrNotFound. fn returning
// ErrUnchanged writes nothing and returns the current document; any other
// error from fn aborts and is returned, with the document as last read.
// After MaxUpdateAttempts lost races the error wraps ErrConflict.
func (d *Doc[T]) Update(ctx context.Context, key string, fn func(*T) error) (T, error) {
	return d.update(ctx, key, false, fn)
}

// Upsert is Update for a document that may not exist yet: fn then starts
// from T's zero value and the result is created.
func (d *Doc[T]) Upsert(ctx context.Context, key string, fn func(*T) error) (T, error) {
	return d.update(ctx, key, true, fn)
}

func (d *Doc[T]) update(ctx context.Context, key string, create bool, fn func(*T) error) (T, error) {
	for range MaxUpdateAttempts {
		cur, raw, err := d.read(ctx, key)
		if errors.Is(err, ErrNotFound) && create {
			err = nil
		}
		if err != nil {
			return cur, err
		}
		// fn gets a copy decoded afresh, so whatever it changes in place
		// (maps, slices) is never shared with cur.
		next, err := d.copyOf(cur, raw)
		if err != nil {
			return cur, fmt.Errorf("update %s/%s: %w", d.ns, key, err)
		}
		if err := fn(&next); err != nil {
			if errors.Is(err, ErrUnchanged) {
				return cur, nil
			}
			return cur, err
		}
		out, err := d.encode(next)
		if err != nil {
			return cur, fmt.Errorf("encode %s/%s: %w", d.ns, key, err)
		}
		if raw != nil && bytes.Equal(raw, out) {
			return next, nil // nothing changed: no write, no race to lose
		}
		ok, err := d.kv.CompareAndSwapKV(ctx, d.ns, key, raw, out)
		if err != nil {
			return cur, fmt.Errorf("update %s/%s: %w", d.ns, key, err)
		}
		if ok {
			return next, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("update %s/%s: still changing after %d attempts: %w", d.ns, key, MaxUpdateAttempts, ErrConflict)
}

// Revision is a document as it was read, for a later Swap: the bytes it was
// stored as, or a missing document.
type Revision struct {
	raw []byte // nil when the document was missing
}

// Read is Get that also returns the document's revision, for Swap. A
// missing document reads as T's zero value with an error wrapping
// ErrNotFound, and a revision that Swap takes to mean "still missing".
func (d *Doc[T]) Read(ctx context.Context, key string) (T, Revision, error) {
	v, raw, err := d.read(ctx, key)
	return v, Revision{raw: raw}, err
}

// Swap stores v at key only if the document is still at rev, and reports
// whether it did; a v that is exactly what was read is not written again,
// and counts as stored. Unlike Update it never retries: it is for a change
// decided together with side effects (a call made, a finding raised) that
// must not be applied to a document someone else changed since; their
// change stands, and Swap reports false.
func (d *Doc[T]) Swap(ctx context.Context, key string, rev Revision, v T) (bool, error) {
	out, err := d.encode(v)
	if err != nil {
		return false, fmt.Errorf("encode %s/%s: %w", d.ns, key, err)
	}
	if rev.raw != nil && bytes.Equal(rev.raw, out) {
		return true, nil // nothing changed: no write
	}
	ok, err := d.kv.CompareAndSwapKV(ctx, d.ns, key, rev.raw, out)
	if err != nil {
		return false, fmt.Errorf("swap %s/%s: %w", d.ns, key, err)
	}
	return ok, nil
}

// Delete removes the document at key, whatever it holds; deleting a
// missing document is not an error.
func (d *Doc[T]) Delete(ctx context.Context, key string) error {
	if err := d.kv.DeleteKV(ctx, d.ns, key); err != nil {
		return fmt.Errorf("delete %s/%s: %w", d.ns, key, err)
	}
	return nil
}

// Item is one document of a List.
type Item[T any] struct {
	Key   string
	Value T
}

// List returns the documents whose key starts with prefix, in byte order
// of their keys.
func (d *Doc[T]) List(ctx context.Context, prefix string) ([]Item[T], error) {
	entries, err := d.kv.ListKV(ctx, d.ns, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s/%s*: %w", d.ns, prefix, err)
	}
	out := make([]Item[T], 0, len(entries))
	for _, e := range entries {
		v, err := d.decodeAt(e.Key, e.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, Item[T]{Key: e.Key, Value: v})
	}
	return out, nil
}

// read returns the document at key and the exact bytes it was decoded
// from, for a later compare-and-set; nil bytes mean it is missing.
func (d *Doc[T]) read(ctx context.Context, key string) (T, []byte, error) {
	var zero T
	raw, err := d.kv.GetKV(ctx, d.ns, key)
	if errors.Is(err, ErrNotFound) {
		return zero, nil, fmt.Errorf("get %s/%s: %w", d.ns, key, ErrNotFound)
	}
	if err != nil {
		return zero, nil, fmt.Errorf("get %s/%s: %w", d.ns, key, err)
	}
	if raw == nil {
		raw = []byte{} // present but empty: not to be taken for missing
	}
	v, err := d.decodeAt(key, raw)
	return v, raw, err
}

func (d *Doc[T]) decodeAt(key string, raw []byte) (T, error) {
	v, err := d.decode(raw)
	if err == nil {
		return v, nil
	}
	var zero T
	if d.unreadable != nil {
		d.unreadable(key, err)
		return zero, nil
	}
	return zero, fmt.Errorf("decode %s/%s: %w", d.ns, key, err)
}

// copyOf returns a copy of cur that shares no memory with it: decoded
// again from raw, or, for a missing or unreadable document, T's zero value.
func (d *Doc[T]) copyOf(cur T, raw []byte) (T, error) {
	if raw == nil {
		return cur, nil
	}
	v, err := d.decode(raw)
	if err != nil {
		if d.unreadable != nil {
			var zero T
			return zero, nil
		}
		return v, err
	}
	return v, nil
}
