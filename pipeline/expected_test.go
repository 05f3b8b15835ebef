package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
)

// allowlist is a Suppressor whose answer the test sets.
type allowlist struct {
	covers bool
	err    error
}

func (a *allowlist) Suppressed(context.Context, finding.Finding) (string, bool, error) {
	if a.err != nil {
		return "", false, a.err
	}
	return "marked expected by U1: restore test", a.covers, nil
}

// A finding marked expected stays quiet while its allowlist entry lives;
// once the entry expired or was removed, the next matching exposure of the
// same resource alerts again. An allowlist that cannot be read leaves it
// as people left it.
func TestSuppressedFindingSeenAgain(t *testing.T) {
	tests := []struct {
		name    string
		list    allowlist
		status  finding.Status
		changes []finding.ChangeKind
	}{
		{"entry still live", allowlist{covers: true}, finding.StatusSuppressed, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeRepeated}},
		{"entry expired or removed", allowlist{}, finding.StatusOpen, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeReopened}},
		{"allowlist unreadable", allowlist{err: errors.New("store locked")}, finding.StatusSuppressed, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeRepeated}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			list := &allowlist{covers: true}
			rec := &changes{}
			e.p.opts.Suppressor, e.p.opts.Notifier = list, rec
			e.ingest(t, share("e1", 4, []string{"444455556666"}, nil))
			if f := e.only(t); f.Status != finding.StatusSuppressed {
				t.Fatalf("status %s, want suppressed by the allowlist", f.Status)
			}
			*list = tc.list
			e.ingest(t, share("e2", 30, []string{"555566667777"}, nil))
			f := e.only(t)
			if f.Status != tc.status {
				t.Errorf("status %s, want %s", f.Status, tc.status)
			}
			if !slices.Equal(rec.got, tc.changes) {
				t.Errorf("changes %v, want %v", rec.got, tc.changes)
			}
			if f.Status == finding.StatusOpen && f.SuppressedReason != "" {
				t.Errorf("an open finding keeps the reason it was suppressed: %q", f.SuppressedReason)
			}
		})
	}
}
