package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

func systemFinding() finding.Finding {
	return finding.Finding{
		Key: finding.KeyFor("canary-missing", "111122223333", "us-east-1", ""), Rule: "canary-missing",
		Severity: finding.SeverityHigh, Title: "CloudTrail events from account 111122223333 are not reaching the bot",
		AccountID: "111122223333", Region: "us-east-1",
		Event: finding.EventRef{Name: "TagRole", Source: "iam.amazonaws.com", Time: t0},
	}
}

// TestSystemFindingLifecycle: a system finding is raised once per outage,
// goes to SecOps only, is resolved by the system with a note, and a new
// outage reopens it; every change plans its Slack delivery.
func TestSystemFindingLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f := systemFinding()
	id := finding.IDFor(f.Key)

	if err := e.p.RaiseSystemFinding(ctx, f); err != nil {
		t.Fatal(err)
	}
	got := e.only(t)
	if got.ID != id || got.Status != finding.StatusOpen || got.Count != 1 || got.AccountName != "payments-prod" || !got.FirstSeen.Equal(t0) {
		t.Errorf("raised %s %s count %d account name %q first seen %v", got.ID, got.Status, got.Count, got.AccountName, got.FirstSeen)
	}
	if !slices.Equal(got.Routes, []string{"slack:#secops"}) {
		t.Errorf("routes = %v, want the SecOps channel only", got.Routes)
	}
	if keys := e.outboxKeys(t); !slices.Equal(keys, []string{"slack.sync|" + id + "|#secops|v1"}) {
		t.Errorf("outbox after raise = %v", keys)
	}

	// Raised again during the same outage: nothing changes.
	if err := e.p.RaiseSystemFinding(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got := e.only(t); got.Version != 1 || got.Count != 1 {
		t.Errorf("second raise changed the finding: version %d count %d", got.Version, got.Count)
	}
	if keys := e.outboxKeys(t); len(keys) != 0 {
		t.Errorf("second raise planned %v", keys)
	}

	if err := e.p.ResolveSystemFinding(ctx, f.Key, "events flow again"); err != nil {
		t.Fatal(err)
	}
	got = e.only(t)
	if got.Status != finding.StatusResolved || got.ResolvedBy != "system" || got.ResolveReason != "events flow again" || got.OpenFor <= 0 {
		t.Errorf("resolved: %s by %q (%q) open for %v", got.Status, got.ResolvedBy, got.ResolveReason, got.OpenFor)
	}
	if keys := e.outboxKeys(t); !slices.Equal(keys, []string{"slack.sync|" + id + "|#secops|v2", "slack.reply|" + id + "|#secops|v2"}) {
		t.Errorf("outbox after resolve = %v", keys)
	}
	hist, err := e.st.FindingHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if last := hist[len(hist)-1]; last.Status != finding.StatusResolved || last.Actor != "system" || last.Note != "events flow again" {
		t.Errorf("last history entry = %+v", last)
	}

	// Resolving what is not open does nothing.
	for _, key := range []string{f.Key, "canary-missing|999999999999|us-east-1|"} {
		if err := e.p.ResolveSystemFinding(ctx, key, "again"); err != nil {
			t.Fatal(err)
		}
	}
	if keys := e.outboxKeys(t); len(keys) != 0 {
		t.Errorf("resolving a closed or absent finding planned %v", keys)
	}

	// A new outage reopens the same finding.
	f.Event.Time = t0.Add(30 * time.Minute)
	if err := e.p.RaiseSystemFinding(ctx, f); err != nil {
		t.Fatal(err)
	}
	got = e.only(t)
	if got.Status != finding.StatusOpen || got.Count != 2 || !got.FirstSeen.Equal(t0) || !got.OpenedAt.Equal(f.Event.Time) || got.ResolvedBy != "" {
		t.Errorf("reopened: %s count %d first seen %v opened %v resolved by %q", got.Status, got.Count, got.FirstSeen, got.OpenedAt, got.ResolvedBy)
	}
	if keys := e.outboxKeys(t); !slices.Equal(keys, []string{"slack.sync|" + id + "|#secops|v3", "slack.reply|" + id + "|#secops|v3"}) {
		t.Errorf("outbox after reopen = %v", keys)
	}
}

func TestSystemFindingNeedsKeyAndRule(t *testing.T) {
	e := newEnv(t)
	if err := e.p.RaiseSystemFinding(context.Background(), finding.Finding{Title: "x"}); err == nil {
		t.Error("a finding without key and rule was raised")
	}
}
