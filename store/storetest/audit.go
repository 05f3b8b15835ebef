package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// checkChain verifies records given oldest first: sequence numbers count up
// from 1, each record links to its predecessor's hash, and each hash is the
// hash of the record's content.
func checkChain(t *testing.T, oldestFirst []store.AuditRecord) {
	t.Helper()
	prev := ""
	for i, r := range oldestFirst {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has Seq %d, want %d", i, r.Seq, i+1)
		}
		if r.PrevHash != prev {
			t.Fatalf("record %d PrevHash = %q, want %q (fork or gap)", r.Seq, r.PrevHash, prev)
		}
		if want := store.AuditHash(r); r.Hash != want {
			t.Fatalf("record %d Hash = %q, recomputed %q", r.Seq, r.Hash, want)
		}
		prev = r.Hash
	}
}

func listAudit(t *testing.T, s store.Store, f store.AuditFilter) []store.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return recs
}

func testAudit(t *testing.T, open Opener) {
	ctx := context.Background()

	t.Run("chain links, verifies and lists newest first", func(t *testing.T) {
		e := newEnv(t, open)
		inputs := []store.AuditRecord{
			{Actor: "U1", Action: "finding.ack", Target: "F-AAAA", Result: "ok"},
			{Time: t0.Add(time.Hour + 123456*time.Microsecond), Actor: "U2", Action: "breakglass.request", Target: "BG-1", Result: "ok", Reason: "incident 42"},
			{Actor: "U3", Action: "breakglass.approve", Target: "BG-1", Result: "refused", Reason: "not a manager"},
			{Actor: "U1", Action: "contain.iam.deny", Target: "arn:aws:iam::111111111111:user/BackupManager", Result: "ok",
				Detail: []byte(`{"before":{"policies":[]}}`)},
		}
		var returned []store.AuditRecord
		for _, in := range inputs {
			e.clk.Advance(time.Second)
			r, err := e.s.AppendAudit(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			wantTime := in.Time
			if wantTime.IsZero() {
				wantTime = e.clk.Now()
			}
			if !r.Time.Equal(wantTime) || r.Actor != in.Actor || r.Action != in.Action || r.Target != in.Target ||
				r.Result != in.Result || r.Reason != in.Reason || !bytes.Equal(r.Detail, in.Detail) {
				t.Fatalf("AppendAudit returned %+v for %+v (time want %v)", r, in, wantTime)
			}
			returned = append(returned, r)
		}
		checkChain(t, returned)

		listed := listAudit(t, e.s, store.AuditFilter{})
		slices.Reverse(listed)
		checkChain(t, listed)
		for i := range listed {
			if !sameAudit(listed[i], returned[i]) {
				t.Fatalf("listed %+v, appended %+v", listed[i], returned[i])
			}
		}
	})

	t.Run("concurrent appends do not fork", func(t *testing.T) {
		e := newEnv(t, open)
		const workers = 20
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.s.AppendAudit(ctx, store.AuditRecord{Actor: fmt.Sprintf("U%d", i), Action: "finding.ack", Result: "ok"})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
		}
		recs := listAudit(t, e.s, store.AuditFilter{})
		if len(recs) != workers {
			t.Fatalf("%d records, want %d", len(recs), workers)
		}
		slices.Reverse(recs)
		checkChain(t, recs)
	})

	t.Run("filters", func(t *testing.T) {
		e := newEnv(t, open)
		actions := []string{"finding.ack", "breakglass.request", "finding.resolve", "breakglass.approve", "findings.list"}
		for _, a := range actions {
			e.clk.Advance(time.Minute)
			if _, err := e.s.AppendAudit(ctx, store.AuditRecord{Actor: "U1", Action: a, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name   string
			filter store.AuditFilter
			want   []int64
		}{
			{"all newest first", store.AuditFilter{}, []int64{5, 4, 3, 2, 1}},
			{"action prefix", store.AuditFilter{ActionPrefix: "finding."}, []int64{3, 1}},
			{"prefix is not a substring match", store.AuditFilter{ActionPrefix: "request"}, []int64{}},
			{"since is inclusive", store.AuditFilter{Since: start.Add(3 * time.Minute)}, []int64{5, 4, 3}},
			{"limit", store.AuditFilter{Limit: 2}, []int64{5, 4}},
			{"prefix and limit", store.AuditFilter{ActionPrefix: "breakglass.", Limit: 1}, []int64{4}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := []int64{}
				for _, r := range listAudit(t, e.s, tc.filter) {
					got = append(got, r.Seq)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("ListAudit(%+v) seqs = %v, want %v", tc.filter, got, tc.want)
				}
			})
		}
	})
}

func sameAudit(a, b store.AuditRecord) bool {
	return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Actor == b.Actor && a.Action == b.Action && a.Target == b.Target &&
		a.Result == b.Result && a.Reason == b.Reason && bytes.Equal(a.Detail, b.Detail) && a.PrevHash == b.PrevHash && a.Hash == b.Hash
}
