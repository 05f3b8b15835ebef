package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

func key(b byte) string {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return base64.StdEncoding.EncodeToString(k)
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name, text  string
		wantCurrent string
		wantErr     string
	}{
		{"one key", "k1:" + key(1), "k1", ""},
		{"rotation, current first", "k2:" + key(2) + ",k1:" + key(1), "k2", ""},
		{"file with comments", "# rotated 2026-12\nk2:" + key(2) + "\n\nk1:" + key(1) + "\n", "k2", ""},
		{"empty", " \n# nothing\n", "", "no audit key"},
		{"no ID", key(1), "", "want ID:BASE64"},
		{"bad ID", "k 1:" + key(1), "", "key ID"},
		{"not base64", "k1:!!!", "", "not base64"},
		{"short", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "", "at least 32"},
		{"duplicate", "k1:" + key(1) + ",k1:" + key(2), "", "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.text)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), key(1)) || strings.Contains(err.Error(), key(2)) {
					t.Errorf("error shows key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Current() != tc.wantCurrent {
				t.Errorf("current = %q, want %q", k.Current(), tc.wantCurrent)
			}
		})
	}
}

// env is a SQLite store whose chain is sealed with keys, and a raw
// connection to its file to tamper with it as someone with the database
// would.
type env struct {
	path string
	st   *sqlite.Store
	clk  *clock.Fake
}

func open(t *testing.T, path string, keys string) *sqlite.Store {
	t.Helper()
	var sealer store.AuditSealer
	if keys != "" {
		k, err := ParseKeys(keys)
		if err != nil {
			t.Fatal(err)
		}
		sealer = NewSealer(k)
	}
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{AuditSealer: sealer, Clock: clock.NewFake(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func appendN(t *testing.T, st *sqlite.Store, n int, action string) {
	t.Helper()
	for i := range n {
		if _, err := st.AppendAudit(context.Background(), store.AuditRecord{Actor: "U1@T1", Action: action, Target: "BG-" + string(rune('A'+i)), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
}

// exec changes the database behind the store's back.
func exec(t *testing.T, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// rechain recomputes every hash from seq on without the key, as someone
// who can write to the database but has no key would after editing a
// record.
func rechain(t *testing.T, path string, st *sqlite.Store, from int64) {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Seq >= from {
			r.PrevHash = prev
			r.Hash = store.AuditHash(r)
			exec(t, path, "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", r.PrevHash, r.Hash, r.Seq)
		}
		prev = r.Hash
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	k1 := "k1:" + key(1)
	tests := []struct {
		name string
		// setup writes and tampers; it returns the anchor to check
		// against (nil for none).
		setup       func(t *testing.T, path string) (*sqlite.Store, *Anchor)
		wantProblem string
		wantUnkeyed int
	}{
		{"intact and anchored", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			st := open(t, path, k1)
			appendN(t, st, 5, "breakglass.approve")
			a, _, _ := Head(ctx, st)
			return st, &a
		}, "", 0},
		{"a record edited and the chain recomputed without the key", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			st := open(t, path, k1)
			appendN(t, st, 5, "breakglass.approve")
			exec(t, path, "UPDATE audit SET result = 'refused' WHERE seq = 3")
			rechain(t, path, st, 3)
			return st, nil
		}, "record 3 is sealed without a key", 3},
		{"a record edited, keyed chain left alone", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			st := open(t, path, k1)
			appendN(t, st, 5, "breakglass.approve")
			exec(t, path, "UPDATE audit SET actor = 'U9@T1' WHERE seq = 2")
			return st, nil
		}, "record 2 does not check out", 0},
		{"the end cut off", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			st := open(t, path, k1)
			appendN(t, st, 5, "breakglass.approve")
			a, _, _ := Head(ctx, st)
			exec(t, path, "DELETE FROM audit WHERE seq >= 4")
			return st, &a
		}, "records 4 to 5 were cut from the end", 0},
		{"an unkeyed log rewritten consistently, caught by its anchor", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			st := open(t, path, "")
			appendN(t, st, 4, "contain.iam.deny")
			a, _, _ := Head(ctx, st)
			exec(t, path, "UPDATE audit SET target = 'arn:aws:iam::111122223333:user/someone-else' WHERE seq = 2")
			rechain(t, path, st, 2)
			return st, &a
		}, "record 4 differs from the given anchor", 4},
		{"records before the key was set still verify", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			before := open(t, path, "")
			appendN(t, before, 2, "finding.ack")
			before.Close()
			st := open(t, path, k1)
			appendN(t, st, 2, "finding.ack")
			return st, nil
		}, "", 2},
		{"rotated keys verify with the old key kept", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			old := open(t, path, k1)
			appendN(t, old, 2, "finding.ack")
			old.Close()
			st := open(t, path, "k2:"+key(2)+",k1:"+key(1))
			appendN(t, st, 2, "finding.ack")
			return st, nil
		}, "", 0},
		{"a rotated-out key no longer verifies its records", func(t *testing.T, path string) (*sqlite.Store, *Anchor) {
			old := open(t, path, k1)
			appendN(t, old, 2, "finding.ack")
			old.Close()
			st := open(t, path, "k2:"+key(2))
			appendN(t, st, 2, "finding.ack")
			return st, nil
		}, "record 1 does not check out", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bot.db")
			st, anchor := tc.setup(t, path)
			rep, err := Verify(ctx, st, nil, anchor)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Unkeyed != tc.wantUnkeyed {
				t.Errorf("unkeyed = %d, want %d", rep.Unkeyed, tc.wantUnkeyed)
			}
			got := strings.Join(rep.Problems, "\n")
			if tc.wantProblem == "" {
				if !rep.OK() {
					t.Errorf("problems on an intact log: %s", got)
				}
				return
			}
			if !strings.Contains(got, tc.wantProblem) {
				t.Errorf("problems %q, want %q", got, tc.wantProblem)
			}
		})
	}
}

type memSink struct {
	name string
	got  []Anchor
	fail error
}

func (m *memSink) Name() string { return m.name }
func (m *memSink) Put(_ context.Context, a Anchor) error {
	if m.fail != nil {
		return m.fail
	}
	m.got = append(m.got, a)
	return nil
}
func (m *memSink) Newest(context.Context) (Anchor, bool, error) {
	if len(m.got) == 0 {
		return Anchor{}, false, nil
	}
	a := m.got[len(m.got)-1]
	a.Where = m.name
	return a, true, nil
}

// The head is anchored when it moved, not again when it did not; a sink
// that fails is tried again at the next round; verification reads the
// newest anchor back from the sink.
func TestAnchorer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bot.db")
	st := open(t, path, "k1:"+key(1))
	sink := &memSink{name: "test sink"}
	a := NewAnchorer(st, []Sink{sink}, clock.NewFake(time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)), time.Hour, zerolog.Nop())

	if _, wrote, err := a.AnchorNow(ctx); err != nil || wrote {
		t.Fatalf("empty log anchored: %v %v", wrote, err)
	}
	appendN(t, st, 3, "breakglass.grant")
	if got, wrote, err := a.AnchorNow(ctx); err != nil || !wrote || got.Seq != 3 || KeyID(got.Hash) != "k1" {
		t.Fatalf("anchor = %+v %v %v", got, wrote, err)
	}
	if _, wrote, _ := a.AnchorNow(ctx); wrote {
		t.Error("an unchanged head was anchored again")
	}
	appendN(t, st, 1, "breakglass.expire")
	sink.fail = errors.New("slack down")
	if _, wrote, err := a.AnchorNow(ctx); err == nil || wrote {
		t.Errorf("a failing sink was not reported: %v %v", wrote, err)
	}
	sink.fail = nil
	if got, wrote, err := a.AnchorNow(ctx); err != nil || !wrote || got.Seq != 4 {
		t.Errorf("after the sink came back: %+v %v %v", got, wrote, err)
	}

	exec(t, path, "DELETE FROM audit WHERE seq = 4")
	rep, err := Verify(ctx, st, []Source{sink}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Anchor == nil || rep.Anchor.Seq != 4 || !strings.Contains(strings.Join(rep.Problems, " "), "test sink") {
		t.Errorf("verification against the sink's anchor: %+v", rep)
	}
}

func TestParseAnchor(t *testing.T) {
	for _, s := range []string{"12:hmac-k1:abcd", `{"seq":12,"hash":"hmac-k1:abcd","at":"2026-12-01T04:00:00Z"}`} {
		a, err := ParseAnchor(s)
		if err != nil || a.Seq != 12 || a.Hash != "hmac-k1:abcd" {
			t.Errorf("ParseAnchor(%q) = %+v, %v", s, a, err)
		}
	}
	for _, s := range []string{"", "abc", "0:x", "12:", "{}"} {
		if _, err := ParseAnchor(s); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", s)
		}
	}
}
