package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/secops-bot/secops-bot/store"
)

// tally is the document the Doc tests change: a count and who counted.
type tally struct {
	N    int      `json:"n"`
	Seen []string `json:"seen,omitempty"`
}

func testDoc(t *testing.T, open KVOpener) {
	ctx := context.Background()
	e := newKVEnv(t, open)
	docs := store.NewDoc[tally](e.s, "doc")
	raw := func(t *testing.T, key string) string {
		t.Helper()
		v, err := e.s.GetKV(ctx, "doc", key)
		if err != nil {
			t.Fatalf("GetKV(%s): %v", key, err)
		}
		return string(v)
	}

	t.Run("get of a missing document", func(t *testing.T) {
		if v, err := docs.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get = %+v, %v; want ErrNotFound", v, err)
		}
	})
	t.Run("create, then get", func(t *testing.T) {
		if err := docs.Create(ctx, "created", tally{N: 1, Seen: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		got, err := docs.Get(ctx, "created")
		if err != nil || got.N != 1 || !slices.Equal(got.Seen, []string{"a"}) {
			t.Fatalf("Get = %+v, %v; want n 1 seen [a]", got, err)
		}
		if got, want := raw(t, "created"), `{"n":1,"seen":["a"]}`; got != want {
			t.Fatalf("stored %s, want %s", got, want)
		}
	})
	t.Run("create over an existing document", func(t *testing.T) {
		err := docs.Create(ctx, "created", tally{N: 99})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("Create again = %v; want ErrConflict", err)
		}
		if got, err := docs.Get(ctx, "created"); err != nil || got.N != 1 {
			t.Fatalf("after a refused Create: %+v, %v; want the first document", got, err)
		}
	})
	t.Run("update applies the change and returns what was stored", func(t *testing.T) {
		got, err := docs.Update(ctx, "created", func(v *tally) error {
			v.N++
			v.Seen = append(v.Seen, "b")
			return nil
		})
		if err != nil || got.N != 2 || !slices.Equal(got.Seen, []string{"a", "b"}) {
			t.Fatalf("Update = %+v, %v; want n 2 seen [a b]", got, err)
		}
		if again, err := docs.Get(ctx, "created"); err != nil || again.N != 2 {
			t.Fatalf("Get after Update = %+v, %v", again, err)
		}
	})
	t.Run("update of a missing document", func(t *testing.T) {
		called := false
		_, err := docs.Update(ctx, "missing", func(*tally) error { called = true; return nil })
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Fatalf("Update = %v (fn called: %v); want ErrNotFound without calling fn", err, called)
		}
		if _, err := e.s.GetKV(ctx, "doc", "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Update of a missing document created it: %v", err)
		}
	})
	t.Run("an error from fn writes nothing and comes back with the document as read", func(t *testing.T) {
		refuse := errors.New("refused")
		got, err := docs.Update(ctx, "created", func(v *tally) error {
			v.N = 100
			v.Seen = append(v.Seen[:0], "overwritten in place")
			return fmt.Errorf("decide: %w", refuse)
		})
		if !errors.Is(err, refuse) {
			t.Fatalf("Update = %v; want fn's error", err)
		}
		if got.N != 2 || !slices.Equal(got.Seen, []string{"a", "b"}) {
			t.Fatalf("Update returned %+v; want the document as read, untouched by fn", got)
		}
		if got, want := raw(t, "created"), `{"n":2,"seen":["a","b"]}`; got != want {
			t.Fatalf("stored %s, want %s", got, want)
		}
	})
	t.Run("ErrUnchanged writes nothing", func(t *testing.T) {
		// Spacing JSON would never be written with shows whether it was.
		if err := e.s.PutKV(ctx, "doc", "spaced", []byte(`{"n": 7}`)); err != nil {
			t.Fatal(err)
		}
		got, err := docs.Update(ctx, "spaced", func(v *tally) error { v.N = 8; return store.ErrUnchanged })
		if err != nil || got.N != 7 {
			t.Fatalf("Update = %+v, %v; want the document as stored and no error", got, err)
		}
		if got := raw(t, "spaced"); got != `{"n": 7}` {
			t.Fatalf("stored %s; want it untouched", got)
		}
	})
	t.Run("upsert creates a missing document from the zero value", func(t *testing.T) {
		got, err := docs.Upsert(ctx, "upserted", func(v *tally) error {
			if v.N != 0 || v.Seen != nil {
				return fmt.Errorf("fn started from %+v, want the zero value", *v)
			}
			v.N = 1
			return nil
		})
		if err != nil || got.N != 1 {
			t.Fatalf("Upsert = %+v, %v; want n 1", got, err)
		}
		got, err = docs.Upsert(ctx, "upserted", func(v *tally) error { v.N++; return nil })
		if err != nil || got.N != 2 {
			t.Fatalf("Upsert of an existing document = %+v, %v; want n 2", got, err)
		}
	})
	t.Run("upsert with ErrUnchanged creates nothing", func(t *testing.T) {
		if _, err := docs.Upsert(ctx, "never", func(*tally) error { return store.ErrUnchanged }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.GetKV(ctx, "doc", "never"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetKV = %v; want ErrNotFound", err)
		}
	})
	t.Run("an empty value reads as the zero value", func(t *testing.T) {
		if err := e.s.PutKV(ctx, "doc", "empty-json", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := docs.Get(ctx, "empty-json"); err != nil || got.N != 0 || got.Seen != nil {
			t.Fatalf("Get = %+v, %v; want the zero value", got, err)
		}
		if got, err := docs.Update(ctx, "empty-json", func(v *tally) error { v.N = 1; return nil }); err != nil || got.N != 1 {
			t.Fatalf("Update = %+v, %v; want n 1", got, err)
		}
	})
	t.Run("a value that does not decode is an error", func(t *testing.T) {
		if err := e.s.PutKV(ctx, "doc", "garbled", []byte("not json")); err != nil {
			t.Fatal(err)
		}
		if _, err := docs.Get(ctx, "garbled"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get = %v; want a decoding error", err)
		}
		if _, err := docs.Update(ctx, "garbled", func(v *tally) error { v.N = 1; return nil }); err == nil {
			t.Fatal("Update of an unreadable document succeeded")
		}
		if got := raw(t, "garbled"); got != "not json" {
			t.Fatalf("stored %q; want it untouched", got)
		}
	})
	t.Run("OnUnreadable reads it as the zero value and lets Update replace it", func(t *testing.T) {
		var reported []string
		lenient := docs.OnUnreadable(func(key string, err error) { reported = append(reported, key) })
		got, err := lenient.Get(ctx, "garbled")
		if err != nil || got.N != 0 {
			t.Fatalf("Get = %+v, %v; want the zero value", got, err)
		}
		got, err = lenient.Update(ctx, "garbled", func(v *tally) error { v.N++; return nil })
		if err != nil || got.N != 1 {
			t.Fatalf("Update = %+v, %v; want n 1", got, err)
		}
		if !slices.Equal(reported, []string{"garbled", "garbled"}) {
			t.Fatalf("reported %v; want the key once per read", reported)
		}
		if _, err := docs.Get(ctx, "garbled"); err != nil {
			t.Fatalf("strict Get after the update: %v", err)
		}
	})
	t.Run("list by prefix", func(t *testing.T) {
		for _, k := range []string{"list/b", "list/a", "listing"} {
			if err := docs.Create(ctx, k, tally{N: len(k)}); err != nil {
				t.Fatal(err)
			}
		}
		items, err := docs.List(ctx, "list/")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range items {
			got = append(got, fmt.Sprintf("%s=%d", it.Key, it.Value.N))
		}
		if want := []string{"list/a=6", "list/b=6"}; !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
	})
	t.Run("delete, then create again", func(t *testing.T) {
		if err := docs.Delete(ctx, "list/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := docs.Get(ctx, "list/a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete = %v; want ErrNotFound", err)
		}
		if err := docs.Delete(ctx, "list/a"); err != nil {
			t.Fatalf("Delete of a deleted document: %v", err)
		}
		if err := docs.Create(ctx, "list/a", tally{N: 1}); err != nil {
			t.Fatalf("Create after Delete: %v", err)
		}
	})
	t.Run("text documents are stored as they are", func(t *testing.T) {
		text := store.NewTextDoc(e.s, "doc")
		if err := text.Create(ctx, "text", "U123 2025-03-10 12:00 UTC"); err != nil {
			t.Fatal(err)
		}
		if got, want := raw(t, "text"), "U123 2025-03-10 12:00 UTC"; got != want {
			t.Fatalf("stored %q, want %q", got, want)
		}
		if err := e.s.PutKV(ctx, "doc", "empty", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := text.Get(ctx, "empty"); err != nil || got != "" {
			t.Fatalf("Get of an empty value = %q, %v; want an empty string", got, err)
		}
	})
	t.Run("swap from the revision read", func(t *testing.T) {
		v, rev, err := docs.Read(ctx, "swapped")
		if !errors.Is(err, store.ErrNotFound) || v.N != 0 {
			t.Fatalf("Read of a missing document = %+v, %v; want the zero value and ErrNotFound", v, err)
		}
		if ok, err := docs.Swap(ctx, "swapped", rev, tally{N: 1}); err != nil || !ok {
			t.Fatalf("Swap creating the document = %v, %v; want true", ok, err)
		}
		if ok, err := docs.Swap(ctx, "swapped", rev, tally{N: 2}); err != nil || ok {
			t.Fatalf("Swap from a stale revision = %v, %v; want false", ok, err)
		}
		v, rev, err = docs.Read(ctx, "swapped")
		if err != nil || v.N != 1 {
			t.Fatalf("Read = %+v, %v; want n 1", v, err)
		}
		if err := e.s.PutKV(ctx, "doc", "swapped", []byte(`{"n":5}`)); err != nil {
			t.Fatal(err)
		}
		if ok, err := docs.Swap(ctx, "swapped", rev, tally{N: 3}); err != nil || ok {
			t.Fatalf("Swap after another writer = %v, %v; want false", ok, err)
		}
		if got := raw(t, "swapped"); got != `{"n":5}` {
			t.Fatalf("stored %s; want the other writer's change", got)
		}
	})
	t.Run("swap replaces an unreadable document read leniently", func(t *testing.T) {
		if err := e.s.PutKV(ctx, "doc", "garbled2", []byte("not json")); err != nil {
			t.Fatal(err)
		}
		v, rev, err := docs.OnUnreadable(func(string, error) {}).Read(ctx, "garbled2")
		if err != nil || v.N != 0 {
			t.Fatalf("Read = %+v, %v; want the zero value", v, err)
		}
		if ok, err := docs.Swap(ctx, "garbled2", rev, tally{N: 1}); err != nil || !ok {
			t.Fatalf("Swap = %v, %v; want true", ok, err)
		}
		if got := raw(t, "garbled2"); got != `{"n":1}` {
			t.Fatalf("stored %s", got)
		}
	})
	t.Run("contention that never ends is an error", func(t *testing.T) {
		if err := docs.Create(ctx, "contended", tally{}); err != nil {
			t.Fatal(err)
		}
		// Another writer stores a change between every read and write.
		calls := 0
		_, err := docs.Update(ctx, "contended", func(v *tally) error {
			calls++
			if err := e.s.PutKV(ctx, "doc", "contended", fmt.Appendf(nil, `{"n":%d}`, 1000+calls)); err != nil {
				return err
			}
			v.N = -1
			return nil
		})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("still changing after %d attempts", store.MaxUpdateAttempts)) {
			t.Fatalf("Update = %v; want ErrConflict saying how many attempts were made", err)
		}
		if calls != store.MaxUpdateAttempts {
			t.Fatalf("fn called %d times, want %d", calls, store.MaxUpdateAttempts)
		}
		if got, err := docs.Get(ctx, "contended"); err != nil || got.N != 1000+calls {
			t.Fatalf("Get = %+v, %v; want the other writer's last change", got, err)
		}
	})
}

// testDocConcurrentUpdates has writers update one document at once, as
// replicas and concurrent clicks do: every change must be kept.
func testDocConcurrentUpdates(t *testing.T, open KVOpener) {
	ctx := context.Background()
	e := newKVEnv(t, open)
	// A write loses a race only to another writer's successful write, so
	// one update loses at most (writers-1)*updates times: 15 here, within
	// MaxUpdateAttempts, however the writers are scheduled.
	const writers, updates = 4, 5
	if (writers-1)*updates >= store.MaxUpdateAttempts {
		t.Fatalf("%d writers of %d updates may exceed MaxUpdateAttempts (%d)", writers, updates, store.MaxUpdateAttempts)
	}
	for _, tc := range []struct {
		name   string
		create bool // the document exists before the writers start
	}{
		{"update an existing document", true},
		{"upsert a document none of them created", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "-")
			if tc.create {
				if err := store.NewDoc[tally](e.s, "doc").Create(ctx, key, tally{}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers*updates)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Each writer has its own Doc, as each replica does.
					docs := store.NewDoc[tally](e.s, "doc")
					for u := range updates {
						_, err := docs.Upsert(ctx, key, func(v *tally) error {
							v.N++
							v.Seen = append(v.Seen, fmt.Sprintf("%d.%d", w, u))
							return nil
						})
						if err != nil {
							errs <- fmt.Errorf("writer %d update %d: %w", w, u, err)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			got, err := store.NewDoc[tally](e.s, "doc").Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got.N != writers*updates || len(got.Seen) != writers*updates {
				t.Fatalf("after %d updates: n %d, %d seen %v; a change was lost", writers*updates, got.N, len(got.Seen), got.Seen)
			}
			for w := range writers {
				for u := range updates {
					if id := fmt.Sprintf("%d.%d", w, u); !slices.Contains(got.Seen, id) {
						t.Fatalf("update %s was lost: %v", id, got.Seen)
					}
				}
			}
		})
	}
}
