package assess

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// fakeReader answers from a map of resource ARN to state or error.
type fakeReader struct {
	states map[string]State
	errs   map[string]error
}

func (r *fakeReader) Read(_ context.Context, f finding.Finding) (State, error) {
	if err := r.errs[f.Resource.ARN]; err != nil {
		return State{}, err
	}
	st, ok := r.states[f.Resource.ARN]
	if !ok {
		return State{}, ErrUnsupported
	}
	return st, nil
}

func (r *fakeReader) Diff(before, after json.RawMessage) []string {
	return []string{string(before) + " → " + string(after)}
}

func (r *fakeReader) Explain(err error) string { return "access denied (AccessDenied)" }

func (r *fakeReader) Profile(context.Context, finding.Finding) (*finding.Profile, error) {
	return &finding.Profile{Tags: map[string]string{"team": "payments"}, Keys: 1}, nil
}

var t0 = time.Date(2026, 11, 26, 14, 21, 7, 0, time.UTC)

type env struct {
	st  *sqlite.Store
	rd  *fakeReader
	w   *Worker
	clk *clock.Fake
}

func newEnv(t *testing.T) env {
	t.Helper()
	clk := clock.NewFake(t0.Add(time.Minute))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rd := &fakeReader{states: map[string]State{}, errs: map[string]error{}}
	w := New(st, rd, delivery.Planner{}, Options{Owner: "test", Clock: clk, Logger: zerolog.Nop(),
		Sensitivity: Sensitivity{TagValues: map[string][]string{"data-classification": {"confidential", "pii"}}}})
	return env{st: st, rd: rd, w: w, clk: clk}
}

func (e env) seed(t *testing.T, bucket string) finding.Finding {
	t.Helper()
	arn := "arn:aws:s3:::" + bucket
	f := finding.Finding{
		ID: finding.IDFor(arn), Key: arn, Rule: "s3-bucket-public", Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		AccountID: "111122223333", Resource: finding.Resource{Type: "AWS::S3::Bucket", ID: bucket, ARN: arn},
		Event: finding.EventRef{ID: "ev-open", Name: "PutBucketPolicy", Time: t0}, OpenedAt: t0, FirstSeen: t0, LastSeen: t0,
		Routes: []string{"slack:#secops"}, Version: 1,
	}
	if err := e.st.UpsertFinding(context.Background(), f, store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAssess(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		state        *State
		readErr      error
		previous     string
		wantErr      bool
		wantStatus   finding.Status
		wantSeverity finding.Severity
		check        func(t *testing.T, f finding.Finding)
	}{
		{
			name: "exposure confirmed, sensitive data raises severity, diff against the last known state",
			state: &State{ReadAt: t0.Add(2 * time.Second), Exposed: true, Reason: "IsPublic", Raw: json.RawMessage(`"public"`),
				Tags: map[string]string{"data-classification": "confidential"}},
			previous: `"private"`, wantStatus: finding.StatusOpen, wantSeverity: finding.SeverityCritical,
			check: func(t *testing.T, f finding.Finding) {
				if f.Assessment == nil || !f.Assessment.Exposed || len(f.Assessment.Diff) != 1 || f.Assessment.Diff[0] != `"private" → "public"` {
					t.Errorf("assessment = %+v", f.Assessment)
				}
				if f.Actor.Profile == nil || f.Actor.Profile.Tags["team"] != "payments" {
					t.Errorf("actor profile = %+v", f.Actor.Profile)
				}
				if len(f.Sensitivity) != 1 || f.Sensitivity[0] != "tag data-classification=confidential" {
					t.Errorf("sensitivity = %v", f.Sensitivity)
				}
			},
		},
		{
			name: "AWS failure marks state unavailable and asks to retry", readErr: errors.New("AccessDenied"),
			wantErr: true, wantStatus: finding.StatusOpen, wantSeverity: finding.SeverityHigh,
			check: func(t *testing.T, f finding.Finding) {
				if f.Assessment == nil || !strings.Contains(f.Assessment.Unavailable, "state unavailable: access denied") {
					t.Errorf("assessment = %+v", f.Assessment)
				}
				// Never read: the message must not show a verdict (a zero
				// ReadAt is what tells it so).
				if f.Assessment != nil && (!f.Assessment.ReadAt.IsZero() || f.Assessment.Exposed) {
					t.Errorf("a failed first read is recorded as a read at %v (exposed %v)", f.Assessment.ReadAt, f.Assessment.Exposed)
				}
			},
		},
		{
			name:       "already fixed when read resolves, naming the last writer",
			state:      &State{ReadAt: t0.Add(time.Minute), Exposed: false, Reason: "policy no longer public", Raw: json.RawMessage(`"private"`)},
			wantStatus: finding.StatusResolved, wantSeverity: finding.SeverityHigh,
			check: func(t *testing.T, f finding.Finding) {
				if f.ResolvedBy != "arn:aws:iam::111122223333:role/payments-admin" || !strings.Contains(f.ResolveReason, "DeleteBucketPolicy") {
					t.Errorf("resolved by %q (%q)", f.ResolvedBy, f.ResolveReason)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.seed(t, "payments-exports")
			if tc.state != nil {
				e.rd.states[f.Resource.ARN] = *tc.state
			}
			if tc.readErr != nil {
				e.rd.errs[f.Resource.ARN] = tc.readErr
			}
			if tc.previous != "" {
				if err := e.st.PutKV(ctx, nsState, f.Resource.ARN, []byte(tc.previous)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.st.AddEvents(ctx, []store.Event{{EventID: "ev-fix", Time: t0.Add(30 * time.Second), ActorARN: "arn:aws:iam::111122223333:role/payments-admin", EventName: "DeleteBucketPolicy", ResourceARN: f.Resource.ARN}}); err != nil {
				t.Fatal(err)
			}
			err := e.w.Assess(ctx, f.ID)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Assess error = %v, want error %v", err, tc.wantErr)
			}
			got, err := e.st.GetFinding(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || got.Severity != tc.wantSeverity {
				t.Fatalf("status %s severity %s, want %s %s", got.Status, got.Severity, tc.wantStatus, tc.wantSeverity)
			}
			tc.check(t, got)
		})
	}
}

func TestRecheckResolvesOnlyFixedFindings(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fixed := e.seed(t, "fixed-bucket")
	still := e.seed(t, "still-public")
	e.rd.states[fixed.Resource.ARN] = State{Exposed: false, Reason: "public access block on", Raw: json.RawMessage(`{}`)}
	e.rd.states[still.Resource.ARN] = State{Exposed: true, Reason: "IsPublic", Raw: json.RawMessage(`{}`)}
	e.clk.Advance(5 * time.Minute)
	if err := e.w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    finding.Finding
		want finding.Status
	}{{fixed, finding.StatusResolved}, {still, finding.StatusOpen}} {
		got, err := e.st.GetFinding(ctx, tc.f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tc.want {
			t.Errorf("%s: status %s, want %s", tc.f.Resource.ID, got.Status, tc.want)
		}
		if tc.want == finding.StatusResolved && got.OpenFor != 6*time.Minute {
			t.Errorf("open for %v, want 6m", got.OpenFor)
		}
	}
	items, err := e.st.Claim(ctx, "t", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 { // the sync and the reply of the resolution
		t.Errorf("outbox has %d items after the re-check, want the resolution's sync and reply", len(items))
	}
}
