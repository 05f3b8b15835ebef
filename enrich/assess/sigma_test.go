package assess

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// A Sigma finding reports an action on a resource (a bucket's versioning
// suspended), not its exposure: its state is never read, so a bucket that
// is not public never resolves it.
func TestSigmaFindingsAreNotAssessed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.seed(t, "versioned-bucket")
	if _, err := e.st.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
		f.Rule = "0b5d0f6e-51a6-4b0c-9c4e-6e3f2a1b0c9d"
		f.RuleNotes = &finding.RuleNotes{Source: "sigma"}
		return store.FindingEvent{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.rd.states[f.Resource.ARN] = State{Exposed: false, Reason: "not public", Raw: json.RawMessage(`{}`)}
	if err := e.w.Assess(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(5 * time.Minute)
	if err := e.w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetFinding(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if reads, _ := e.rd.calls(); reads != 0 || got.Status != finding.StatusOpen || got.Assessment != nil {
		t.Errorf("%d state reads, status %s, assessment %+v; want none, open, none", reads, got.Status, got.Assessment)
	}
}
