package investigate

import (
	"context"
	"testing"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// TestInvestigateResourceExposure: an investigation of a resource says
// what it holds and who read it, from its finding; one of an actor does
// not.
func TestInvestigateResourceExposure(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	seedStory(t, e)
	f := storyTwoFinding()
	holds := &finding.Contents{Source: "DB instance prod-customers", Key: &finding.KeyAccess{Case: finding.KeyAWSManaged}}
	reads := &finding.ReadReview{Seq: 1, Answer: finding.ReadsNone, Summary: "nobody outside could read it"}
	if _, err := e.st.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
		f.Contents, f.Reads = holds, reads
		return store.FindingEvent{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	r, err := e.inv.Investigate(ctx, Query{Kind: commands.TargetResource, Value: customerSnap})
	if err != nil {
		t.Fatal(err)
	}
	if x := r.Exposure; x.Holds == nil || x.Holds.Source != holds.Source || x.HoldsFrom != f.ID || x.Reads == nil || x.Reads.Summary != reads.Summary || x.ReadsFrom != f.ID {
		t.Errorf("exposure = %+v, want the finding's contents and reads", x)
	}
	r, err = e.inv.Investigate(ctx, Query{Kind: commands.TargetUser, Value: "BackupManager"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Exposure.Holds != nil || r.Exposure.Reads != nil {
		t.Errorf("an actor's investigation carries %+v", r.Exposure)
	}
}
