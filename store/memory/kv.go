package memory

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/secops-bot/secops-bot/store"
)

// Values are copied in and out of the key-value space, so that a caller
// changing a slice it passed or got never changes what is stored.

// PutKV sets ns/key to value, replacing any previous value.
func (s *Store) PutKV(_ context.Context, ns, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[kvKey{ns, key}] = bytes.Clone(nonNil(value))
	return nil
}

// GetKV returns the value of ns/key, or store.ErrNotFound.
func (s *Store) GetKV(_ context.Context, ns, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[kvKey{ns, key}]
	if !ok {
		return nil, fmt.Errorf("get kv %s/%s: %w", ns, key, store.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// CompareAndSwapKV writes ns/key only if it holds old (absent for a nil
// old); the store's lock makes the comparison and the write one step.
func (s *Store) CompareAndSwapKV(_ context.Context, ns, key string, old, new []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := kvKey{ns, key}
	cur, ok := s.kv[k]
	if (old == nil && ok) || (old != nil && (!ok || !bytes.Equal(cur, old))) {
		return false, nil
	}
	s.kv[k] = bytes.Clone(nonNil(new))
	return true, nil
}

// DeleteKV removes ns/key; an absent key is not an error.
func (s *Store) DeleteKV(_ context.Context, ns, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kv, kvKey{ns, key})
	return nil
}

// ListKV returns the keys of ns starting with prefix and their values, in
// byte order of the keys.
func (s *Store) ListKV(_ context.Context, ns, prefix string) ([]store.KVEntry, error) {
	s.mu.Lock()
	var out []store.KVEntry
	for k, v := range s.kv {
		if k.ns == ns && strings.HasPrefix(k.key, prefix) {
			out = append(out, store.KVEntry{Key: k.key, Value: bytes.Clone(v)})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// nonNil stores a nil value as an empty one, as the other stores do.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
