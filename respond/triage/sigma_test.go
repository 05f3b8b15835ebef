package triage

import (
	"context"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// A Sigma finding about an action names no resource: it is keyed on its
// actor, so marking it expected covers the same rule for that actor (or
// the actors an ARN pattern matches), never a resource of the same name.
func TestMarkExpectedActor(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const rule, acct = "31767720-670c-4f19-a2e9-830088fbd793", "111111111111"
	root := "arn:aws:iam::" + acct + ":root"
	key := finding.KeyFor(rule, acct, "us-east-1", root)
	f := finding.Finding{
		ID: finding.IDFor(key), Version: 1, Key: key, Rule: rule, Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		Title: "Root user signed in or made a call", AccountID: acct, Region: "us-east-1",
		Actor: finding.Actor{ARN: root, Type: "Root"}, RuleNotes: &finding.RuleNotes{Source: "sigma"},
		Routes: []string{"slack:CSECOPS"}, Count: 1, OpenedAt: t0.Add(-time.Hour),
	}
	if err := e.st.UpsertFinding(ctx, f, store.FindingEvent{Status: f.Status, Actor: "system"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MarkExpected(ctx, alice, f.ID, "account closure, SEC-77", Scope{Kind: ScopePattern, Pattern: "arn:aws:iam::111111111111:role/*"}, "modal"); err == nil {
		t.Fatal("a pattern that does not match the actor was accepted")
	}
	got, err := e.svc.MarkExpected(ctx, alice, f.ID, "account closure, SEC-77", Scope{Kind: ScopeResource}, "modal")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != finding.StatusSuppressed || got.SuppressedReason != "marked expected: account closure, SEC-77 ("+root+" for rule "+rule+" in account "+acct+")" {
		t.Errorf("status %s, reason %q", got.Status, got.SuppressedReason)
	}
	sigma := func(actor, resource string) finding.Finding {
		p := finding.Finding{Rule: rule, AccountID: acct, Actor: finding.Actor{ARN: actor}, RuleNotes: &finding.RuleNotes{Source: "sigma"}}
		p.Resource.ID = resource
		return p
	}
	for name, tc := range map[string]struct {
		f    finding.Finding
		want bool
	}{
		"the root user again":                 {sigma(root, ""), true},
		"another actor":                       {sigma("arn:aws:iam::111111111111:user/mallory", ""), false},
		"a resource named like the actor":     {sigma("arn:aws:iam::111111111111:user/mallory", root), false},
		"a built-in finding with no resource": {finding.Finding{Rule: rule, AccountID: acct, Actor: finding.Actor{ARN: root}}, false},
	} {
		if _, ok, err := e.svc.Suppressed(ctx, tc.f); err != nil || ok != tc.want {
			t.Errorf("%s: Suppressed = %v, %v; want %v", name, ok, err, tc.want)
		}
	}
}
