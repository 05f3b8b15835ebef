package triage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// An entry made with an expiry suppresses until then; after it, the next
// matching exposure is no longer covered, and the expiry is audited once.
func TestExpectedExpires(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		expiry   time.Duration
		after    time.Duration
		covered  bool
		audited  bool
		inReason string
	}{
		{"one day, an hour later", 24 * time.Hour, time.Hour, true, false, "until 2025-03-05 03:00:00 UTC"},
		{"one day, a day later", 24 * time.Hour, 24 * time.Hour, false, true, "until 2025-03-05 03:00:00 UTC"},
		{"seven days, six days later", 7 * 24 * time.Hour, 6 * 24 * time.Hour, true, false, "until 2025-03-11 03:00:00 UTC"},
		{"never, a year later", 0, 365 * 24 * time.Hour, true, false, "matching \"public-assets-*\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.bucket(t, "111122223333", "public-assets-1")
			marked, err := e.svc.MarkExpected(ctx, alice, f.ID, "website assets", Scope{Kind: ScopePattern, Pattern: "public-assets-*", For: tc.expiry}, "modal V1")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(marked.SuppressedReason, tc.inReason) {
				t.Errorf("suppressed reason %q does not say %q", marked.SuppressedReason, tc.inReason)
			}
			e.clk.Advance(tc.after)
			next := e.bucket(t, "111122223333", "public-assets-2")
			_, covered, err := e.svc.Suppressed(ctx, next)
			if err != nil {
				t.Fatal(err)
			}
			if covered != tc.covered {
				t.Errorf("covered = %v, want %v", covered, tc.covered)
			}
			// Seen again: the expiry is audited once.
			if _, _, err := e.svc.Suppressed(ctx, next); err != nil {
				t.Fatal(err)
			}
			var expiries int
			for _, r := range e.audit(t) {
				if r.Action == ActionExpectedExpire {
					expiries++
					if r.Actor != "system" || r.Result != ResultOK || !strings.Contains(r.Reason, "website assets") || !strings.Contains(r.Reason, "public-assets-*") {
						t.Errorf("expiry audit record = %+v", r)
					}
				}
			}
			if (expiries == 1) != tc.audited || expiries > 1 {
				t.Errorf("%d expiry audit records, want audited=%v once", expiries, tc.audited)
			}
			live, err := e.svc.Entries(ctx, "111122223333")
			if err != nil {
				t.Fatal(err)
			}
			if (len(live) == 1) != tc.covered {
				t.Errorf("%d live entries, want covered=%v", len(live), tc.covered)
			}
		})
	}
}

func TestExpiryBounds(t *testing.T) {
	ctx := context.Background()
	for name, d := range map[string]time.Duration{"negative": -time.Hour, "over a year": MaxExpiry + 24*time.Hour} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			f := e.bucket(t, "111122223333", "b1")
			_, err := e.svc.MarkExpected(ctx, alice, f.ID, "why", Scope{Kind: ScopeResource, For: d}, "modal V1")
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("MarkExpected with expiry %v = %v, want ErrInvalid", d, err)
			}
		})
	}
}

// Two replicas finding one entry expired at once record and audit the
// expiry once.
func TestExpiryAuditedOnceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	other := New(e.st, fakeChecker{}, fakePlanner{}, e.clk)
	f := e.bucket(t, "111122223333", "b1")
	if _, err := e.svc.MarkExpected(ctx, alice, f.ID, "restore test", Scope{Kind: ScopeResource, For: 24 * time.Hour}, "modal V1"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(25 * time.Hour)
	var wg sync.WaitGroup
	for _, svc := range []*Service{e.svc, other, e.svc, other} {
		wg.Go(func() {
			if _, err := svc.ExpireDue(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, r := range e.audit(t) {
		if r.Action == ActionExpectedExpire {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d expiry audit records, want 1", n)
	}
}

// /secops expected list: live entries only, by account then age, for
// responders, every call audited.
func TestListExpected(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mark := func(account, bucket, reason string, d time.Duration) {
		f := e.bucket(t, account, bucket)
		if _, err := e.svc.MarkExpected(ctx, alice, f.ID, reason, Scope{Kind: ScopeResource, For: d}, "modal V1"); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Minute)
	}
	mark("222233334444", "data-exports", "partner feed", 0)
	mark("111122223333", "short-lived", "demo for a day", 24*time.Hour)
	mark("111122223333", "website", "public website", 30*24*time.Hour)
	removed := e.bucket(t, "111122223333", "gone")
	if _, err := e.svc.MarkExpected(ctx, alice, removed.ID, "temporary", Scope{Kind: ScopeResource}, "modal V1"); err != nil {
		t.Fatal(err)
	}
	gone, _, err := e.svc.Suppressed(ctx, removed)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveExpected(ctx, bob, gone.ID, "command"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * 24 * time.Hour)

	list, err := e.svc.ListExpected(ctx, bob, "command in C1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range list {
		got = append(got, en.Account+"/"+en.Pattern)
	}
	want := "111122223333/website 222233334444/data-exports"
	if strings.Join(got, " ") != want {
		t.Errorf("listed %v, want %s (the expired and removed entries left out)", got, want)
	}
	if _, err := e.svc.ListExpected(ctx, mallory, "command in C1"); !errors.Is(err, ErrForbidden) {
		t.Errorf("mallory listed the allowlist: %v", err)
	}
	results := map[string]int{}
	for _, r := range e.audit(t) {
		results[r.Action+" "+r.Result]++
	}
	if results[ActionExpectedList+" ok"] != 1 || results[ActionExpectedList+" refused"] != 1 || results[ActionExpectedExpire+" ok"] != 1 {
		t.Errorf("audit = %v, want one listing, one refusal and the one expiry", results)
	}
}

// Removing an entry that already expired says so and changes nothing.
func TestRemoveExpiredEntry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111122223333", "b1")
	if _, err := e.svc.MarkExpected(ctx, alice, f.ID, "restore test", Scope{Kind: ScopeResource, For: time.Hour}, "modal V1"); err != nil {
		t.Fatal(err)
	}
	entry, _, err := e.svc.Suppressed(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Hour)
	err = e.svc.RemoveExpected(ctx, bob, entry.ID, "command")
	if !errors.Is(err, ErrAlready) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("RemoveExpected of an expired entry = %v, want ErrAlready saying it expired", err)
	}
}
