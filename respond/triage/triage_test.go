package triage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const team = "T0001"

var (
	alice   = authz.Actor{UserID: "UALICE", TeamID: team}
	bob     = authz.Actor{UserID: "UBOB", TeamID: team}
	mallory = authz.Actor{UserID: "UMALLORY", TeamID: team}
	broken  = authz.Actor{UserID: "UBROKEN", TeamID: team}
)

// fakeChecker allows alice and bob as responders, refuses mallory, and
// fails for broken.
type fakeChecker struct{}

func (fakeChecker) Check(_ context.Context, who authz.Actor, role authz.Role) (authz.Decision, error) {
	userID, teamID := who.UserID, who.TeamID
	if role != authz.Responder || teamID != team {
		return authz.Decision{Reason: "unexpected check"}, nil
	}
	switch userID {
	case "UALICE", "UBOB":
		return authz.Decision{Allowed: true, Reason: "<@" + userID + "> holds the responder role (listed by user ID)", Roles: []authz.Role{authz.Responder}}, nil
	case "UBROKEN":
		return authz.Decision{Reason: "your Slack account could not be looked up"}, errors.New("users.info: ratelimited")
	}
	return authz.Decision{Reason: "you do not hold the responder role"}, nil
}

// fakePlanner plans one item per routed channel, keyed so a test can tell
// which change and version produced it.
type fakePlanner struct{}

func (fakePlanner) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	var out []store.OutboxItem
	for _, r := range f.Routes {
		out = append(out, store.OutboxItem{
			Key:     fmt.Sprintf("%s|%s|%s|v%d", f.ID, r, change, f.Version),
			Kind:    "test.sync",
			Payload: []byte(fmt.Sprintf(`{"by":%q,"note":%q}`, by, note)),
		})
	}
	return out
}

var t0 = time.Date(2025, 3, 4, 3, 0, 0, 0, time.UTC)

type env struct {
	st  *sqlite.Store
	clk *clock.Fake
	svc *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewFake(t0)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "secops.db"), sqlite.Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{st: st, clk: clk, svc: New(st, fakeChecker{}, fakePlanner{}, clk)}
}

// bucket stores an open, public-bucket finding and returns it.
func (e *env) bucket(t *testing.T, account, name string) finding.Finding {
	t.Helper()
	key := finding.KeyFor("s3-bucket-public", account, "eu-west-1", "arn:aws:s3:::"+name)
	f := finding.Finding{
		ID: finding.IDFor(key), Version: 1, Key: key, Rule: "s3-bucket-public",
		Severity: finding.SeverityHigh, Status: finding.StatusOpen, Title: "S3 bucket made public",
		AccountID: account, Region: "eu-west-1",
		Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: name, ARN: "arn:aws:s3:::" + name},
		Routes:   []string{"slack:CSECOPS", "slack:CTEAM"},
		Count:    1, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(-time.Hour),
		OpenedAt: t0.Add(-time.Hour), DetectedAt: t0.Add(-time.Hour),
	}
	if err := e.st.UpsertFinding(context.Background(), f, store.FindingEvent{Status: f.Status, Actor: "system", Note: "raised"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetFinding(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *env) finding(t *testing.T, id string) finding.Finding {
	t.Helper()
	f, err := e.st.GetFinding(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) audit(t *testing.T) []store.AuditRecord {
	t.Helper()
	recs, err := e.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "finding."})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(recs) // oldest first
	return recs
}

// outboxKeys takes every pending outbox item out and returns their keys.
func (e *env) outboxKeys(t *testing.T) []string {
	t.Helper()
	items, err := e.st.Claim(context.Background(), "test", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
		if err := e.st.Complete(context.Background(), it.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(keys)
	return keys
}

func detailOf(t *testing.T, r store.AuditRecord) auditDetail {
	t.Helper()
	var d auditDetail
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("audit detail %s: %v", r.Detail, err)
	}
	return d
}

func TestAck(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111111111111", "customer-exports")
	e.clk.Advance(5 * time.Minute)

	got, err := e.svc.Ack(ctx, alice, f.ID, "button CSECOPS/1741057200.000100")
	if err != nil {
		t.Fatalf("Ack: %v", err)
	}
	stored := e.finding(t, f.ID)
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("returned finding differs from stored:\n got %+v\nwant %+v", got, stored)
	}
	if stored.AckedBy != "UALICE" || !stored.AckedAt.Equal(e.clk.Now()) || stored.Version != f.Version+1 || stored.Status != finding.StatusOpen {
		t.Errorf("stored: acked by %q at %v, version %d, status %s; want UALICE at %v, version %d, open",
			stored.AckedBy, stored.AckedAt, stored.Version, stored.Status, e.clk.Now(), f.Version+1)
	}

	hist, err := e.st.FindingHistory(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if len(hist) != 2 || last.Status != finding.StatusOpen || last.Actor != "UALICE" || last.Note != "acknowledged by <@UALICE>" {
		t.Errorf("history = %+v; want a second entry for the acknowledgement", hist)
	}

	want := []string{f.ID + "|slack:CSECOPS|acknowledged|v2", f.ID + "|slack:CTEAM|acknowledged|v2"}
	if keys := e.outboxKeys(t); !reflect.DeepEqual(keys, want) {
		t.Errorf("outbox = %v, want %v", keys, want)
	}

	recs := e.audit(t)
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(recs))
	}
	r := recs[0]
	if r.Actor != "UALICE@T0001" || r.Action != "finding.ack" || r.Target != f.ID || r.Result != "ok" || !strings.Contains(r.Reason, "holds the responder role") {
		t.Errorf("audit = %+v", r)
	}
	if d := detailOf(t, r); d.Origin != "button CSECOPS/1741057200.000100" || d.Version != 2 {
		t.Errorf("audit detail = %+v", d)
	}
}

func TestAckRace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111111111111", "customer-exports")

	actors := []authz.Actor{alice, bob}
	errs := make([]error, len(actors))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.svc.Ack(ctx, a, f.ID, "button")
		}()
	}
	close(start)
	wg.Wait()

	stored := e.finding(t, f.ID)
	var won, lost int
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			if stored.AckedBy != actors[i].UserID {
				t.Errorf("%s succeeded but the finding is acked by %q", actors[i].UserID, stored.AckedBy)
			}
		case errors.Is(err, ErrAlready):
			lost++
			wantMsg := fmt.Sprintf("%s was already acknowledged by <@%s> at %s", f.ID, stored.AckedBy, stamp(stored.AckedAt))
			if err.Error() != wantMsg {
				t.Errorf("loser's error = %q, want %q", err, wantMsg)
			}
		default:
			t.Errorf("%s: unexpected error %v", actors[i].UserID, err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d succeeded and %d were told it was already done; want 1 and 1", won, lost)
	}
	if stored.Version != f.Version+1 {
		t.Errorf("version = %d, want %d (one change)", stored.Version, f.Version+1)
	}
	if keys := e.outboxKeys(t); len(keys) != 2 {
		t.Errorf("outbox = %v, want the two items of the one change", keys)
	}
	var results []string
	for _, r := range e.audit(t) {
		results = append(results, r.Result)
	}
	slices.Sort(results)
	if !reflect.DeepEqual(results, []string{"noop", "ok"}) {
		t.Errorf("audit results = %v, want one ok and one noop", results)
	}
}

// TestOutcomes checks refusals, no-ops and failures: the error a caller sees,
// its audit record, and that the finding did not change.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// prepare moves the finding into the state under test.
		prepare func(t *testing.T, e *env, id string)
		act     func(e *env, id string) error
		want    error
		msg     string
		action  string
		result  string
	}{
		{
			name:   "refused user",
			act:    func(e *env, id string) error { _, err := e.svc.Ack(ctx, mallory, id, "button"); return err },
			want:   ErrForbidden,
			msg:    "you do not hold the responder role",
			action: "finding.ack", result: "refused",
		},
		{
			name: "authorisation unavailable",
			act: func(e *env, id string) error {
				_, err := e.svc.Resolve(ctx, broken, id, "fixed", "command")
				return err
			},
			msg:    "ratelimited",
			action: "finding.resolve", result: "error",
		},
		{
			name:   "unknown finding",
			act:    func(e *env, _ string) error { _, err := e.svc.Ack(ctx, alice, "F-0000000000", "command"); return err },
			want:   ErrNotFound,
			msg:    "there is no finding F-0000000000",
			action: "finding.ack", result: "error",
		},
		{
			name: "ack of a resolved finding",
			prepare: func(t *testing.T, e *env, id string) {
				if _, err := e.svc.Resolve(ctx, bob, id, "policy reverted", "command"); err != nil {
					t.Fatal(err)
				}
			},
			act:    func(e *env, id string) error { _, err := e.svc.Ack(ctx, alice, id, "button"); return err },
			want:   ErrState,
			msg:    "is already resolved; there is nothing to acknowledge",
			action: "finding.ack", result: "refused",
		},
		{
			name: "ack of an acked finding",
			prepare: func(t *testing.T, e *env, id string) {
				if _, err := e.svc.Ack(ctx, bob, id, "button"); err != nil {
					t.Fatal(err)
				}
			},
			act:    func(e *env, id string) error { _, err := e.svc.Ack(ctx, alice, id, "command"); return err },
			want:   ErrAlready,
			msg:    "was already acknowledged by <@UBOB> at 2025-03-04 03:00:00 UTC",
			action: "finding.ack", result: "noop",
		},
		{
			name:   "resolve without a reason",
			act:    func(e *env, id string) error { _, err := e.svc.Resolve(ctx, alice, id, "  ", "command"); return err },
			want:   ErrInvalid,
			msg:    "a reason is required for resolving",
			action: "finding.resolve", result: "refused",
		},
		{
			name: "resolve of a resolved finding",
			prepare: func(t *testing.T, e *env, id string) {
				if _, err := e.svc.Resolve(ctx, bob, id, "policy reverted", "command"); err != nil {
					t.Fatal(err)
				}
			},
			act:    func(e *env, id string) error { _, err := e.svc.Resolve(ctx, alice, id, "fixed", "button"); return err },
			want:   ErrAlready,
			msg:    "was already resolved by <@UBOB> at 2025-03-04 03:00:00 UTC: policy reverted",
			action: "finding.resolve", result: "noop",
		},
		{
			name: "resolve of a finding the bot resolved",
			prepare: func(t *testing.T, e *env, id string) {
				_, err := e.st.UpdateFinding(ctx, id, func(f *finding.Finding) (store.FindingEvent, error) {
					f.Status, f.ResolvedBy, f.ResolvedAt = finding.StatusResolved, "arn:aws:iam::111111111111:user/owner", t0
					f.ResolvedEvent = &finding.EventRef{Name: "DeleteBucketPolicy", Time: t0}
					return store.FindingEvent{Status: f.Status}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			act:    func(e *env, id string) error { _, err := e.svc.Resolve(ctx, alice, id, "fixed", "button"); return err },
			want:   ErrAlready,
			msg:    "was already resolved by arn:aws:iam::111111111111:user/owner with DeleteBucketPolicy at 2025-03-04 03:00:00 UTC",
			action: "finding.resolve", result: "noop",
		},
		{
			name: "mark expected of a suppressed finding",
			prepare: func(t *testing.T, e *env, id string) {
				if _, err := e.svc.MarkExpected(ctx, bob, id, "public website", Scope{Kind: ScopeResource}, "modal"); err != nil {
					t.Fatal(err)
				}
			},
			act: func(e *env, id string) error {
				_, err := e.svc.MarkExpected(ctx, alice, id, "again", Scope{Kind: ScopePattern, Pattern: "customer-*"}, "modal")
				return err
			},
			want:   ErrAlready,
			msg:    "is already suppressed: marked expected: public website",
			action: "finding.expected", result: "noop",
		},
		{
			name: "mark expected with a pattern that misses the resource",
			act: func(e *env, id string) error {
				_, err := e.svc.MarkExpected(ctx, alice, id, "ok", Scope{Kind: ScopePattern, Pattern: "public-*"}, "modal")
				return err
			},
			want:   ErrInvalid,
			msg:    `the pattern "public-*" does not match customer-exports`,
			action: "finding.expected", result: "refused",
		},
		{
			name: "mark expected with a match-all pattern",
			act: func(e *env, id string) error {
				_, err := e.svc.MarkExpected(ctx, alice, id, "ok", Scope{Kind: ScopePattern, Pattern: "*"}, "modal")
				return err
			},
			want:   ErrInvalid,
			msg:    `the pattern "*" matches everything`,
			action: "finding.expected", result: "refused",
		},
		{
			name: "mark expected with a malformed pattern",
			act: func(e *env, id string) error {
				_, err := e.svc.MarkExpected(ctx, alice, id, "ok", Scope{Kind: ScopePattern, Pattern: "customer-[a"}, "modal")
				return err
			},
			want:   ErrInvalid,
			msg:    "is malformed",
			action: "finding.expected", result: "refused",
		},
		{
			name: "mark expected by a refused user",
			act: func(e *env, id string) error {
				_, err := e.svc.MarkExpected(ctx, mallory, id, "ok", Scope{Kind: ScopeResource}, "modal")
				return err
			},
			want:   ErrForbidden,
			msg:    "you do not hold the responder role",
			action: "finding.expected", result: "refused",
		},
		{
			name:   "remove an unknown entry",
			act:    func(e *env, _ string) error { return e.svc.RemoveExpected(ctx, alice, "E-0000000000", "button") },
			want:   ErrNotFound,
			msg:    "there is no allowlist entry E-0000000000",
			action: "finding.expected.remove", result: "error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.bucket(t, "111111111111", "customer-exports")
			if tt.prepare != nil {
				tt.prepare(t, e, f.ID)
			}
			before := e.finding(t, f.ID)
			auditBefore := len(e.audit(t))
			e.outboxKeys(t)
			e.clk.Advance(time.Minute)

			err := tt.act(e, f.ID)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if after := e.finding(t, f.ID); !reflect.DeepEqual(after, before) {
				t.Errorf("finding changed:\n got %+v\nwant %+v", after, before)
			}
			if keys := e.outboxKeys(t); len(keys) != 0 {
				t.Errorf("outbox items enqueued: %v", keys)
			}
			recs := e.audit(t)
			if len(recs) != auditBefore+1 {
				t.Fatalf("%d audit records written, want 1", len(recs)-auditBefore)
			}
			r := recs[len(recs)-1]
			if r.Action != tt.action || r.Result != tt.result || !strings.Contains(r.Reason, tt.msg) || r.Actor == "" {
				t.Errorf("audit = %+v; want action %s, result %s, reason containing %q", r, tt.action, tt.result, tt.msg)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111111111111", "customer-exports")
	e.clk.Advance(20 * time.Minute)

	got, err := e.svc.Resolve(ctx, alice, f.ID, "  policy reverted by the owning team ", "command")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := f
	want.Status = finding.StatusResolved
	want.ResolvedBy, want.ResolvedAt = "UALICE", e.clk.Now()
	want.ResolveReason = "policy reverted by the owning team"
	want.OpenFor = e.clk.Now().Sub(f.OpenedAt)
	want.Version = f.Version + 1
	if stored := e.finding(t, f.ID); !reflect.DeepEqual(stored, want) || !reflect.DeepEqual(got, want) {
		t.Errorf("stored %+v\nreturned %+v\nwant %+v", stored, got, want)
	}
	if want.OpenFor != 80*time.Minute {
		t.Errorf("open for %v, want 80m", want.OpenFor)
	}
	hist, _ := e.st.FindingHistory(ctx, f.ID)
	if last := hist[len(hist)-1]; last.Status != finding.StatusResolved || last.Note != "resolved by <@UALICE>: policy reverted by the owning team" {
		t.Errorf("last history entry = %+v", last)
	}
	wantKeys := []string{f.ID + "|slack:CSECOPS|resolved|v2", f.ID + "|slack:CTEAM|resolved|v2"}
	if keys := e.outboxKeys(t); !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("outbox = %v, want %v", keys, wantKeys)
	}
	recs := e.audit(t)
	if len(recs) != 1 || recs[0].Result != "ok" || recs[0].Reason != "policy reverted by the owning team" || recs[0].Action != "finding.resolve" {
		t.Errorf("audit = %+v", recs)
	}
}

func TestMarkExpectedAndSuppressed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const acct, other = "111111111111", "222222222222"
	f := e.bucket(t, acct, "public-assets-eu")

	got, err := e.svc.MarkExpected(ctx, alice, f.ID, "static website assets", Scope{Kind: ScopePattern, Pattern: "public-assets-*"}, "modal CSECOPS/1741057200.000100")
	if err != nil {
		t.Fatalf("MarkExpected: %v", err)
	}
	if got.Status != finding.StatusSuppressed || got.Version != f.Version+1 ||
		got.SuppressedReason != `marked expected: static website assets (resources matching "public-assets-*" for rule s3-bucket-public in account 111111111111)` {
		t.Errorf("finding after mark expected: status %s, version %d, reason %q", got.Status, got.Version, got.SuppressedReason)
	}
	if !reflect.DeepEqual(e.finding(t, f.ID), got) {
		t.Error("returned finding differs from stored")
	}
	wantKeys := []string{f.ID + "|slack:CSECOPS|expected|v2", f.ID + "|slack:CTEAM|expected|v2"}
	if keys := e.outboxKeys(t); !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("outbox = %v, want %v", keys, wantKeys)
	}

	newFinding := func(account, bucket string) finding.Finding {
		return finding.Finding{Rule: "s3-bucket-public", AccountID: account, Resource: finding.Resource{ID: bucket}}
	}
	otherRule := newFinding(acct, "public-assets-us")
	otherRule.Rule = "s3-acl-public"
	tests := []struct {
		name string
		f    finding.Finding
		want bool
	}{
		{"another bucket matching the pattern", newFinding(acct, "public-assets-us"), true},
		{"the same bucket again", newFinding(acct, "public-assets-eu"), true},
		{"a bucket not matching", newFinding(acct, "customer-exports"), false},
		{"the pattern in another account", newFinding(other, "public-assets-us"), false},
		{"another rule", otherRule, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry, ok, err := e.svc.Suppressed(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Fatalf("Suppressed = %v, want %v", ok, tt.want)
			}
			if ok && (entry.Pattern != "public-assets-*" || entry.Kind != ScopePattern || entry.By != "UALICE" ||
				entry.Reason != "static website assets" || entry.Account != acct || entry.Finding != f.ID || !entry.At.Equal(t0)) {
				t.Errorf("entry = %+v", entry)
			}
		})
	}

	recs := e.audit(t)
	if len(recs) != 1 || recs[0].Action != "finding.expected" || recs[0].Result != "ok" {
		t.Fatalf("audit = %+v", recs)
	}
	if d := detailOf(t, recs[0]); d.Entry == nil || d.Entry.Pattern != "public-assets-*" || d.Origin != "modal CSECOPS/1741057200.000100" {
		t.Errorf("audit detail = %+v", d)
	}
}

func TestMarkExpectedResource(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111111111111", "public-site")
	if _, err := e.svc.MarkExpected(ctx, alice, f.ID, "public website", Scope{Kind: ScopeResource}, "modal"); err != nil {
		t.Fatal(err)
	}
	for bucket, want := range map[string]bool{"public-site": true, "public-site-2": false} {
		probe := finding.Finding{Rule: f.Rule, AccountID: f.AccountID, Resource: finding.Resource{ID: bucket}}
		if _, ok, err := e.svc.Suppressed(ctx, probe); err != nil || ok != want {
			t.Errorf("Suppressed(%s) = %v, %v; want %v", bucket, ok, err, want)
		}
	}
}

func TestRemoveExpected(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.bucket(t, "111111111111", "public-assets-eu")
	keep := e.bucket(t, "111111111111", "logs-public")
	if _, err := e.svc.MarkExpected(ctx, alice, f.ID, "assets", Scope{Kind: ScopePattern, Pattern: "public-assets-*"}, "modal"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MarkExpected(ctx, alice, keep.ID, "log delivery", Scope{Kind: ScopeResource}, "modal"); err != nil {
		t.Fatal(err)
	}
	probe := finding.Finding{Rule: f.Rule, AccountID: f.AccountID, Resource: finding.Resource{ID: "public-assets-us"}}
	entry, ok, err := e.svc.Suppressed(ctx, probe)
	if err != nil || !ok {
		t.Fatalf("Suppressed before removal = %v, %v", ok, err)
	}

	if err := e.svc.RemoveExpected(ctx, mallory, entry.ID, "button"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("removal by a refused user: %v, want ErrForbidden", err)
	}
	if _, ok, _ := e.svc.Suppressed(ctx, probe); !ok {
		t.Fatal("refused removal removed the entry")
	}

	e.clk.Advance(time.Hour)
	if err := e.svc.RemoveExpected(ctx, bob, entry.ID, "button"); err != nil {
		t.Fatalf("RemoveExpected: %v", err)
	}
	if _, ok, err := e.svc.Suppressed(ctx, probe); err != nil || ok {
		t.Errorf("Suppressed after removal = %v, %v; want false", ok, err)
	}
	entries, err := e.svc.Entries(ctx, f.AccountID)
	if err != nil || len(entries) != 1 || entries[0].Pattern != "logs-public" {
		t.Errorf("entries after removal = %+v, %v; want only the logs-public entry", entries, err)
	}
	if got := e.finding(t, f.ID); got.Status != finding.StatusSuppressed {
		t.Errorf("the marked finding is %s; removal should leave it as it is", got.Status)
	}

	err = e.svc.RemoveExpected(ctx, alice, entry.ID, "button")
	wantMsg := fmt.Sprintf(`allowlist entry %s (resources matching "public-assets-*" for rule s3-bucket-public in account 111111111111) was already removed by <@UBOB> at 2025-03-04 04:00:00 UTC`, entry.ID)
	if !errors.Is(err, ErrAlready) || err.Error() != wantMsg {
		t.Errorf("second removal: %v, want ErrAlready %q", err, wantMsg)
	}

	// Marking the same scope again brings the entry back.
	again := e.bucket(t, "111111111111", "public-assets-us")
	if _, err := e.svc.MarkExpected(ctx, alice, again.ID, "assets, really", Scope{Kind: ScopePattern, Pattern: "public-assets-*"}, "modal"); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := e.svc.Suppressed(ctx, probe); err != nil || !ok || got.ID != entry.ID || got.Reason != "assets, really" {
		t.Errorf("Suppressed after marking again = %+v, %v, %v", got, ok, err)
	}

	var results []string
	for _, r := range e.audit(t) {
		results = append(results, r.Action+":"+r.Result)
	}
	want := []string{"finding.expected:ok", "finding.expected:ok", "finding.expected.remove:refused",
		"finding.expected.remove:ok", "finding.expected.remove:noop", "finding.expected:ok"}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("audit = %v, want %v", results, want)
	}
}

// pausedStore is one replica's view of the shared store that stops after
// its next read of key until resumed, so that another replica can act
// between this one's read and its write.
type pausedStore struct {
	Store
	key          string
	read, resume chan struct{}
}

func (p *pausedStore) GetKV(ctx context.Context, ns, key string) ([]byte, error) {
	v, err := p.Store.GetKV(ctx, ns, key)
	if r := p.read; r != nil && key == p.key {
		p.read = nil
		r <- struct{}{}
		<-p.resume
	}
	return v, err
}

// Two replicas marking two exposures of one account expected at once, the
// second having read the account's index before the first wrote it: both
// entries are live. The index used to be written whole, so the second
// replica's write dropped the first entry and its exposure alerted again.
func TestMarkExpectedOnTwoReplicas(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const acct = "111111111111"
	first, second := e.bucket(t, acct, "public-site"), e.bucket(t, acct, "public-docs")
	read, resume := make(chan struct{}), make(chan struct{})
	replica := New(&pausedStore{Store: e.st, key: kvAccountIndex + acct, read: read, resume: resume}, fakeChecker{}, fakePlanner{}, e.clk)
	late := make(chan error, 1)
	go func() {
		_, err := replica.MarkExpected(ctx, bob, second.ID, "documentation site", Scope{Kind: ScopeResource}, "modal")
		late <- err
	}()
	<-read // the replica has read the account's index
	if _, err := e.svc.MarkExpected(ctx, alice, first.ID, "public website", Scope{Kind: ScopeResource}, "modal"); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	for _, f := range []finding.Finding{first, second} {
		probe := finding.Finding{Rule: f.Rule, AccountID: acct, Resource: finding.Resource{ID: f.Resource.ID}}
		if _, ok, err := e.svc.Suppressed(ctx, probe); err != nil || !ok {
			t.Errorf("Suppressed(%s) = %v, %v; want its entry live", f.Resource.ID, ok, err)
		}
	}
}
