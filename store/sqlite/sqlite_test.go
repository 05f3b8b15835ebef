package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/storetest"
)

func openTemp(t *testing.T, clk clock.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secops.db"), Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk clock.Clock) store.Store { return openTemp(t, clk) })
}

// A cache smaller than the vocabulary makes most values known to the table
// but not to the cache, which takes the look-up path of interning.
func TestSmallDictCache(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "secops.db")
	small, err := Open(ctx, path, Options{Clock: clk, DictCacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := LoadSynthetic(ctx, small, 5000, 40, 7); err != nil {
		t.Fatal(err)
	}
	// The same events again are all repeats; every value is interned
	// already and mostly not cached.
	g := newSynth(5000, 40, 7, clk.Now())
	batch := make([]store.Event, 0, 1000)
	var want []store.Event
	for g.more() {
		batch = g.fill(batch[:0])
		isNew, err := small.AddEvents(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(isNew, true); i >= 0 {
			t.Fatalf("event %s stored twice", batch[i].EventID)
		}
		want = append(want, batch...)
	}
	// Nothing was interned twice: every dictionary value is unique, so
	// the counts match a store with the default cache.
	large := openTemp(t, clk)
	if _, err := large.AddEvents(ctx, want); err != nil {
		t.Fatal(err)
	}
	for _, d := range small.dicts.all() {
		var a, b int
		if err := small.r.QueryRowContext(ctx, "SELECT count(*) FROM "+d.table).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := large.r.QueryRowContext(ctx, "SELECT count(*) FROM "+d.table).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != b || a == 0 && d.table != "dict_error" {
			t.Fatalf("%s has %d rows with a small cache, %d with a large one", d.table, a, b)
		}
	}
	// And history reads back the same through both.
	for _, actor := range []string{want[0].ActorARN, want[len(want)-1].ActorARN} {
		a, err := small.QueryEvents(ctx, store.EventQuery{ActorARN: actor})
		if err != nil {
			t.Fatal(err)
		}
		b, err := large.QueryEvents(ctx, store.EventQuery{ActorARN: actor})
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Fatalf("actor %s: %d events with a small cache, %d with a large one", actor, len(a), len(b))
		}
		sa, err := small.ActorStats(ctx, actor, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		sb, err := large.ActorStats(ctx, actor, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if sa.Total == 0 || !reflect.DeepEqual(sa, sb) {
			t.Fatalf("actor %s: stats %+v with a small cache, %+v with a large one", actor, sa, sb)
		}
	}
}

// TestActorStatsReadsOneRange checks the plan of the baseline's one
// query: a search of the table's (actor, t) key, in its order, sorting
// nothing. A baseline over millions of events depends on it.
func TestActorStatsReadsOneRange(t *testing.T) {
	s := openTemp(t, clock.NewFake(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)))
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+actorRowsSQL, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.Contains(plan[0], "SEARCH events USING PRIMARY KEY (actor=? AND t>? AND t<?)") {
		t.Errorf("plan %q, want one search of the table's key and no sort", plan)
	}
}

func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string // SQL run against a chain of four records, or "rehash"
		want   int64
	}{
		{"intact", "", 0},
		{"content changed", "UPDATE audit SET reason = 'nothing to see' WHERE seq = 2", 2},
		{"time changed", "UPDATE audit SET t = t + 1 WHERE seq = 3", 3},
		{"record removed", "DELETE FROM audit WHERE seq = 2", 3},
		{"edit with a bad hash", "UPDATE audit SET result = 'ok', hash = 'f00d' WHERE seq = 2", 2},
		{"edit rehashed consistently", "rehash", 3},
		{"first record relinked", "UPDATE audit SET prev_hash = 'x' WHERE seq = 1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, clock.NewFake(time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)))
			for i, action := range []string{"breakglass.request", "breakglass.approve", "contain.iam.deny", "contain.iam.undo"} {
				r := store.AuditRecord{Actor: "U1", Action: action, Target: "BG-1", Result: "refused", Detail: []byte(`{"step":` + string(rune('0'+i)) + `}`)}
				if _, err := s.AppendAudit(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tamper == "rehash" {
				// A forger who recomputes the edited record's hash still
				// breaks the link from the record after it.
				recs, err := s.ListAudit(ctx, store.AuditFilter{})
				if err != nil {
					t.Fatal(err)
				}
				r := recs[len(recs)-2] // seq 2
				r.Result = "ok"
				if _, err := s.w.ExecContext(ctx, "UPDATE audit SET result = ?, hash = ? WHERE seq = ?", r.Result, store.AuditHash(r), r.Seq); err != nil {
					t.Fatal(err)
				}
			} else if tc.tamper != "" {
				if _, err := s.w.ExecContext(ctx, tc.tamper); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("VerifyAudit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("rejects what is not a file path", func(t *testing.T) {
		for _, dsn := range []string{"", ":memory:", "file::memory:?cache=shared", "x.db?_pragma=foo"} {
			if s, err := Open(ctx, dsn, Options{}); err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", dsn)
			}
		}
	})

	t.Run("reopening keeps data and applies no migration twice", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secops.db")
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutKV(ctx, "ns", "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v, err := s.GetKV(ctx, "ns", "k"); err != nil || string(v) != "v" {
			t.Fatalf("GetKV after reopen = %q, %v", v, err)
		}
		var rows, version int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*), max(version) FROM schema_version").Scan(&rows, &version); err != nil {
			t.Fatal(err)
		}
		files, err := migrationFiles()
		if err != nil {
			t.Fatal(err)
		}
		if rows != len(files) || version != files[len(files)-1].version {
			t.Fatalf("schema_version has %d rows up to %d, want %d up to %d", rows, version, len(files), files[len(files)-1].version)
		}
		var mode string
		if err := s.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
	})

	t.Run("refuses a schema newer than the binary", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secops.db")
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (9999, 0)"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err := Open(ctx, path, Options{}); err == nil {
			s.Close()
			t.Fatal("Open succeeded on a newer schema")
		}
	})
}

func TestEventIDEncoding(t *testing.T) {
	tests := []struct {
		name, id string
		packed   bool
	}{
		{"canonical UUID", "0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f0001", true},
		{"upper-case UUID stays text", "0B5E8A3C-1F0E-4A8E-9A43-5D2B7F6F0001", false},
		{"not hex", "0b5e8a3c-1f0e-4a8e-9a43-5d2b7f6f000g", false},
		{"misplaced dash", "0b5e8a3c1-f0e-4a8e-9a43-5d2b7f6f0001", false},
		{"short", "abc", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodeEventID(tc.id)
			b, packed := enc.([]byte)
			if packed != tc.packed || packed && len(b) != 16 {
				t.Fatalf("encodeEventID(%q) = %#v, want packed %v", tc.id, enc, tc.packed)
			}
			if got := decodeEventID(enc); got != tc.id {
				t.Fatalf("decodeEventID(encodeEventID(%q)) = %q", tc.id, got)
			}
		})
	}
}
