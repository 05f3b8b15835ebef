package paging

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// fixedState is a provider whose incidents are all in one state.
type fixedState State

func (s fixedState) State(context.Context, Ref) (State, error) { return State(s), nil }

// racingStore lets another replica's poll, and a change of the finding,
// land between this replica's read of a page and its compare-and-set.
type racingStore struct {
	*sqlite.Store
	race func()
}

func (s *racingStore) CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error) {
	if race := s.race; ns == "paging" && race != nil {
		s.race = nil
		race()
	}
	return s.Store.CompareAndSwapKV(ctx, ns, key, old, new)
}

// Two replicas poll the same page at once: the one whose compare-and-set
// loses tells nothing, even when the finding changed in between (its
// ticket was linked), which gives its reply another key.
func TestPollTellsAResolutionOnceWhenReplicasRace(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "secops.db"), sqlite.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := finding.Finding{
		ID: "F-0A1B2C3D4E", Key: "snapshot-shared-external|prod-customers", Rule: "snapshot-shared-external",
		Severity: finding.SeverityCritical, Status: finding.StatusOpen, Version: 1,
		Routes: []string{finding.RouteSlack + "#secops"},
	}
	if err := st.UpsertFinding(ctx, f, store.FindingEvent{Status: f.Status, Actor: "system"}); err != nil {
		t.Fatal(err)
	}
	ref := RefFor(f.ID, SecOps)
	if err := store.NewDoc[record](st, "paging").Create(ctx, ref.DedupKey, record{FindingID: f.ID, Ref: ref, Status: StatusTriggered}); err != nil {
		t.Fatal(err)
	}
	resolved := fixedState{Provider: "PagerDuty", Status: StatusResolved, ResolvedBy: Person{Name: "Sam Ortiz", Email: "sam@example.com"}}

	other := NewService(st, Options{Provider: "PagerDuty", Tracker: resolved})
	racing := &racingStore{Store: st, race: func() {
		if err := other.Poll(ctx); err != nil {
			t.Errorf("the other replica's poll: %v", err)
		}
		if _, err := st.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
			f.Version++
			return store.FindingEvent{Actor: "system", Note: "ticket linked"}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}}
	if err := NewService(racing, Options{Provider: "PagerDuty", Tracker: resolved}).Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if racing.race != nil {
		t.Fatal("the race never happened")
	}
	keys, err := st.PendingOutboxKeys(ctx, delivery.KindSlackReply)
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, k := range keys {
		if strings.Contains(k, "page-resolved-") {
			told = append(told, k)
		}
	}
	if len(told) != 1 {
		t.Errorf("the resolution is told %d times (%v), want once", len(told), told)
	}
}
