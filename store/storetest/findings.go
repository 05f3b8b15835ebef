package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// newFinding builds a finding for resource, first seen hours after t0.
func newFinding(rule, team, resource string, status finding.Status, hours int) finding.Finding {
	key := finding.KeyFor(rule, "111111111111", "us-east-1", resource)
	seen := t0.Add(time.Duration(hours) * time.Hour)
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: rule, Severity: finding.SeverityHigh, Status: status,
		Title: "S3 bucket made public", AccountID: "111111111111", Region: "us-east-1",
		Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: resource, ARN: resource},
		Actor:    finding.Actor{ARN: alice, Type: "IAMUser", Name: "alice", Contractor: true},
		Event:    finding.EventRef{ID: "ev-1", Name: "PutBucketPolicy", Time: seen, SourceIP: "198.51.100.7", UserAgent: "aws-cli"},
		Team:     team, Count: 1, FirstSeen: seen, LastSeen: seen, DetectedAt: seen.Add(3 * time.Second),
		Signals: []finding.Signal{{Name: "new_ip", Reason: "first call from 198.51.100.7 in 30 days"}},
		Routes:  []string{"#secops", "#team-" + team},
		Targets: []finding.Target{{Account: "all", Class: finding.TargetPublic}},
		Vectors: []string{"policy"},
		Change:  &finding.Change{Summary: "policy grants s3:GetObject to *", Before: json.RawMessage(`{"a":1}`), After: json.RawMessage(`{"b":[2]}`)},
		AckedBy: "U123", AckedAt: seen.Add(time.Minute), OpenFor: 90 * time.Second,
	}
}

// sameFinding compares findings through their JSON form, which is both
// exhaustive and insensitive to how a store represents time zones.
func sameFinding(t *testing.T, got, want finding.Finding) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("finding =\n%s\nwant\n%s", g, w)
	}
}

func findingIDs(fs []finding.Finding) []string {
	ids := []string{}
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}

func findingHistory(t *testing.T, s store.Store, id string) []store.FindingEvent {
	t.Helper()
	h, err := s.FindingHistory(context.Background(), id)
	if err != nil {
		t.Fatalf("FindingHistory(%s): %v", id, err)
	}
	return h
}

func sameHistory(t *testing.T, got, want []store.FindingEvent) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.FindingID == w.FindingID && g.Time.Equal(w.Time) && g.Status == w.Status && g.Actor == w.Actor && g.Note == w.Note
	}
	if !ok {
		t.Fatalf("history =\n%+v\nwant\n%+v", got, want)
	}
}

func testFindings(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("get by id and by key return what was stored", func(t *testing.T) {
		e := newEnv(t, open)
		f := newFinding("s3-public", "payments", "arn:aws:s3:::exports", finding.StatusOpen, 1)
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.GetFinding(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameFinding(t, got, f)
		got, err = e.s.GetFindingByKey(ctx, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		sameFinding(t, got, f)
	})

	t.Run("absent findings are ErrNotFound", func(t *testing.T) {
		e := newEnv(t, open)
		if _, err := e.s.GetFinding(ctx, "F-0000000000"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFinding error = %v, want ErrNotFound", err)
		}
		if _, err := e.s.GetFindingByKey(ctx, "rule|1|r|arn"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFindingByKey error = %v, want ErrNotFound", err)
		}
	})

	t.Run("upsert replaces and appends history", func(t *testing.T) {
		e := newEnv(t, open)
		f := newFinding("s3-public", "payments", "arn:aws:s3:::exports", finding.StatusOpen, 1)
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{Status: finding.StatusOpen, Actor: "system", Note: "detected"}); err != nil {
			t.Fatal(err)
		}
		detected := e.clk.Now()
		e.clk.Advance(time.Minute)
		f.Count = 2
		// An event without a status records nothing.
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{Actor: "system", Note: "repeat"}); err != nil {
			t.Fatal(err)
		}
		f.Status, f.ResolvedBy = finding.StatusResolved, "system"
		resolved := t0.Add(48 * time.Hour)
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{Time: resolved, Status: finding.StatusResolved, Actor: "system", Note: "policy removed"}); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.GetFinding(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameFinding(t, got, f)
		sameHistory(t, findingHistory(t, e.s, f.ID), []store.FindingEvent{
			{FindingID: f.ID, Time: detected, Status: finding.StatusOpen, Actor: "system", Note: "detected"},
			{FindingID: f.ID, Time: resolved, Status: finding.StatusResolved, Actor: "system", Note: "policy removed"},
		})
		stillOpen, err := e.s.ListFindings(ctx, store.FindingFilter{Statuses: []finding.Status{finding.StatusOpen}})
		if err != nil {
			t.Fatal(err)
		}
		if len(stillOpen) != 0 {
			t.Fatalf("open findings = %v, want none", findingIDs(stillOpen))
		}
	})

	t.Run("a key held by another finding conflicts", func(t *testing.T) {
		e := newEnv(t, open)
		f := newFinding("s3-public", "payments", "arn:aws:s3:::exports", finding.StatusOpen, 1)
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
			t.Fatal(err)
		}
		other := f
		other.ID = "F-OTHER00000"
		if err := e.s.UpsertFinding(ctx, other, store.FindingEvent{Status: finding.StatusOpen}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UpsertFinding error = %v, want ErrConflict", err)
		}
		if _, err := e.s.GetFinding(ctx, other.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("conflicting finding was stored (GetFinding error = %v)", err)
		}
		if h := findingHistory(t, e.s, other.ID); len(h) != 0 {
			t.Fatalf("conflicting upsert left history %+v", h)
		}
	})

	t.Run("list filters, order and limit", func(t *testing.T) {
		e := newEnv(t, open)
		a := newFinding("s3-public", "payments", "arn:aws:s3:::a", finding.StatusOpen, 1)
		b := newFinding("rds-snapshot-shared", "payments", "arn:aws:rds:us-east-1:111111111111:snapshot:b", finding.StatusResolved, 2)
		c := newFinding("s3-public", "data", "arn:aws:s3:::c", finding.StatusSuppressed, 3)
		d := newFinding("s3-public", "data", "arn:aws:s3:::d", finding.StatusOpen, 4)
		for _, f := range []finding.Finding{b, d, a, c} {
			if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(fs ...finding.Finding) []string { return findingIDs(fs) }
		tests := []struct {
			name   string
			filter store.FindingFilter
			want   []string
		}{
			{"all newest first", store.FindingFilter{}, ids(d, c, b, a)},
			{"one status", store.FindingFilter{Statuses: []finding.Status{finding.StatusOpen}}, ids(d, a)},
			{"two statuses", store.FindingFilter{Statuses: []finding.Status{finding.StatusOpen, finding.StatusResolved}}, ids(d, b, a)},
			{"team", store.FindingFilter{Team: "payments"}, ids(b, a)},
			{"rule", store.FindingFilter{Rule: "s3-public"}, ids(d, c, a)},
			{"since is inclusive", store.FindingFilter{Since: t0.Add(2 * time.Hour)}, ids(d, c, b)},
			{"limit", store.FindingFilter{Limit: 2}, ids(d, c)},
			{"team and status", store.FindingFilter{Team: "data", Statuses: []finding.Status{finding.StatusOpen}}, ids(d)},
			{"no match", store.FindingFilter{Rule: "ami-public"}, ids()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := e.s.ListFindings(ctx, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				if g := findingIDs(got); !slices.Equal(g, tc.want) {
					t.Fatalf("ListFindings(%+v) = %v, want %v", tc.filter, g, tc.want)
				}
			})
		}
	})
}

func testUpdateFinding(t *testing.T, open Opener) {
	ctx := context.Background()
	seed := func(t *testing.T) (env, finding.Finding) {
		e := newEnv(t, open)
		f := newFinding("s3-public", "payments", "arn:aws:s3:::exports", finding.StatusOpen, 1)
		f.AckedBy, f.AckedAt = "", time.Time{}
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{Status: finding.StatusOpen, Actor: "system", Note: "detected"}); err != nil {
			t.Fatal(err)
		}
		return e, f
	}

	t.Run("applies fn and records its event", func(t *testing.T) {
		e, f := seed(t)
		e.clk.Advance(time.Hour)
		got, err := e.s.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
			f.AckedBy, f.AckedAt = "U42", e.clk.Now()
			return store.FindingEvent{Status: f.Status, Actor: "U42", Note: "acknowledged"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := f
		want.AckedBy, want.AckedAt = "U42", e.clk.Now()
		sameFinding(t, got, want)
		stored, err := e.s.GetFinding(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameFinding(t, stored, want)
		h := findingHistory(t, e.s, f.ID)
		if len(h) != 2 || h[1].Note != "acknowledged" || h[1].Actor != "U42" || !h[1].Time.Equal(e.clk.Now()) {
			t.Fatalf("history = %+v, want detection then acknowledgement at %v", h, e.clk.Now())
		}
	})

	t.Run("fn error aborts without writing", func(t *testing.T) {
		e, f := seed(t)
		refused := errors.New("refused")
		_, err := e.s.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
			f.Status = finding.StatusResolved
			return store.FindingEvent{Status: finding.StatusResolved}, refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("UpdateFinding error = %v, want the error from fn", err)
		}
		stored, err := e.s.GetFinding(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameFinding(t, stored, f)
		if h := findingHistory(t, e.s, f.ID); len(h) != 1 {
			t.Fatalf("history = %+v, want only the detection", h)
		}
	})

	t.Run("outbox items are enqueued with the change and only with it", func(t *testing.T) {
		e, f := seed(t)
		item := func(key string) store.OutboxItem {
			return store.OutboxItem{Key: key, Kind: "slack.sync", Payload: []byte(`{"finding":"` + f.ID + `"}`)}
		}
		_, err := e.s.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
			return store.FindingEvent{Outbox: []store.OutboxItem{item("refused")}}, errors.New("refused")
		})
		if err == nil {
			t.Fatal("UpdateFinding succeeded, want the error from fn")
		}
		_, err = e.s.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
			f.Count++
			return store.FindingEvent{Outbox: []store.OutboxItem{item("update-1")}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		f.Count++
		if err := e.s.UpsertFinding(ctx, f, store.FindingEvent{Outbox: []store.OutboxItem{item("upsert-1"), item("update-1")}}); err != nil {
			t.Fatal(err)
		}
		items, err := e.s.Claim(ctx, "w", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, it := range items {
			keys = append(keys, it.Key)
		}
		if !reflect.DeepEqual(keys, []string{"update-1", "upsert-1"}) {
			t.Fatalf("outbox = %v, want update-1 and upsert-1 once each, and nothing from the refused update", keys)
		}
		if h := findingHistory(t, e.s, f.ID); len(h) != 1 {
			t.Fatalf("history = %+v, want only the detection (events without a status are not history)", h)
		}
	})

	t.Run("absent finding is ErrNotFound and fn is not called", func(t *testing.T) {
		e, _ := seed(t)
		called := false
		_, err := e.s.UpdateFinding(ctx, "F-0000000000", func(*finding.Finding) (store.FindingEvent, error) {
			called = true
			return store.FindingEvent{}, nil
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Fatalf("UpdateFinding error = %v, fn called = %v; want ErrNotFound without calling fn", err, called)
		}
	})

	t.Run("concurrent updates serialise", func(t *testing.T) {
		e, f := seed(t)
		const workers = 20
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.s.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
					f.Count++
					return store.FindingEvent{Status: f.Status, Actor: "system", Note: "repeat"}, nil
				})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("UpdateFinding: %v", err)
			}
		}
		got, err := e.s.GetFinding(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Count != f.Count+workers {
			t.Fatalf("Count = %d after %d concurrent increments from %d", got.Count, workers, f.Count)
		}
		if h := findingHistory(t, e.s, f.ID); len(h) != 1+workers {
			t.Fatalf("history has %d entries, want %d", len(h), 1+workers)
		}
	})
}
