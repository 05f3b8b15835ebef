package assess

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// fakeReader answers from a map of resource ARN to state or error, and
// counts the calls it answers (each would be a call to AWS).
type fakeReader struct {
	states map[string]State
	errs   map[string]error

	mu       sync.Mutex
	reads    int
	profiles int
}

func (r *fakeReader) calls() (reads, profiles int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.profiles
}

func (r *fakeReader) Read(_ context.Context, f finding.Finding) (State, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
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
	r.mu.Lock()
	r.profiles++
	r.mu.Unlock()
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
	w := New(st, rd, delivery.Planner{}, Options{Clock: clk, Logger: zerolog.Nop(),
		Sensitivity: Sensitivity{TagValues: map[string][]string{"data-classification": {"confidential", "pii"}}}})
	return env{st: st, rd: rd, w: w, clk: clk}
}

// runtime is a replica's outbox runtime carrying w's lane.
func (e env) runtime(t *testing.T, owner string, w *Worker) *outbox.Runtime {
	t.Helper()
	rt := outbox.New(e.st, owner, e.clk, w.log)
	if err := rt.Add(w.Lane()); err != nil {
		t.Fatal(err)
	}
	return rt
}

// run runs a replica's assessments as serve does, the outbox lane and the
// re-check schedule, until ctx ends and both have stopped.
func (e env) run(ctx context.Context, t *testing.T, owner string, w *Worker) {
	rt := e.runtime(t, owner, w)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	rt.Run(ctx)
	wg.Wait()
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

// A finding whose first read failed ("state unavailable") has its state
// recorded by the next re-check that reads it, as the first read would
// have: the exposure confirmed (or the finding resolved) and its messages
// updated, with no AWS call beyond the state read. A finding whose state
// was read is left as it is.
func TestRecheckRecordsStateOfUnavailableFindings(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		firstFails  bool  // the assessment's read failed
		now         State // what the re-check reads
		wantStatus  finding.Status
		wantVersion int // after the re-check; 2 after the assessment
		wantReadAt  time.Time
		wantExposed bool
		wantChanges []finding.ChangeKind
	}{
		{
			name: "state unavailable, still exposed: the exposure is confirmed", firstFails: true,
			now:        State{ReadAt: t0.Add(5 * time.Minute), Exposed: true, Reason: "bucket policy is public", Raw: json.RawMessage(`"public"`), Tags: map[string]string{"data-classification": "pii"}},
			wantStatus: finding.StatusOpen, wantVersion: 3, wantReadAt: t0.Add(5 * time.Minute), wantExposed: true, wantChanges: []finding.ChangeKind{finding.ChangeAssessed},
		},
		{
			name: "state unavailable, fixed meanwhile: recorded and resolved", firstFails: true,
			now:        State{ReadAt: t0.Add(5 * time.Minute), Exposed: false, Reason: "policy no longer public", Raw: json.RawMessage(`"private"`)},
			wantStatus: finding.StatusResolved, wantVersion: 4, wantReadAt: t0.Add(5 * time.Minute), wantChanges: []finding.ChangeKind{finding.ChangeAssessed, finding.ChangeResolved},
		},
		{
			name:       "state read: nothing to record",
			now:        State{ReadAt: t0.Add(5 * time.Minute), Exposed: true, Reason: "bucket policy is public", Raw: json.RawMessage(`"public"`)},
			wantStatus: finding.StatusOpen, wantVersion: 2, wantReadAt: t0.Add(time.Minute), wantExposed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.seed(t, "payments-exports")
			if tc.firstFails {
				e.rd.errs[f.Resource.ARN] = errors.New("SlowDown")
			} else {
				e.rd.states[f.Resource.ARN] = State{ReadAt: t0.Add(time.Minute), Exposed: true, Reason: "bucket policy is public", Raw: json.RawMessage(`"public"`)}
			}
			if err := e.w.Assess(ctx, f.ID); (err != nil) != tc.firstFails {
				t.Fatalf("assessment: %v", err)
			}
			// What the assessment planned is delivered.
			if _, err := e.st.Claim(ctx, "slack", 100, time.Hour); err != nil {
				t.Fatal(err)
			}
			delete(e.rd.errs, f.Resource.ARN)
			e.rd.states[f.Resource.ARN] = tc.now
			reads, profiles := e.rd.calls()

			e.clk.Advance(5 * time.Minute)
			if err := e.w.Recheck(ctx); err != nil {
				t.Fatal(err)
			}
			if r, p := e.rd.calls(); r-reads != 1 || p-profiles != 0 {
				t.Errorf("the re-check made %d state reads and %d profile reads, want 1 and 0", r-reads, p-profiles)
			}
			got, err := e.st.GetFinding(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || got.Version != tc.wantVersion {
				t.Errorf("status %s version %d, want %s %d", got.Status, got.Version, tc.wantStatus, tc.wantVersion)
			}
			a := got.Assessment
			if a == nil || a.Unavailable != "" || !a.ReadAt.Equal(tc.wantReadAt) || a.Exposed != tc.wantExposed {
				t.Errorf("assessment after the re-check = %+v, want the state read at %v (exposed %v)", a, tc.wantReadAt, tc.wantExposed)
			}
			if tc.firstFails && tc.now.Exposed && (len(got.Sensitivity) != 1 || got.Severity != finding.SeverityCritical) {
				t.Errorf("sensitivity %v severity %s, want the tag found and severity raised as the first read would have", got.Sensitivity, got.Severity)
			}
			items, err := e.st.Claim(ctx, "slack", 100, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var changes []finding.ChangeKind
			for _, it := range items {
				if it.Kind != delivery.KindSlackSync {
					continue
				}
				p, err := delivery.Decode(it)
				if err != nil {
					t.Fatal(err)
				}
				changes = append(changes, p.Change)
			}
			if !slices.Equal(changes, tc.wantChanges) {
				t.Errorf("message updates planned by the re-check = %v, want %v", changes, tc.wantChanges)
			}
		})
	}
}

// fakeOwners moves a finding to the team its "owner" tag names.
type fakeOwners map[string]string // team → channel

func (o fakeOwners) Reroute(f *finding.Finding, tags map[string]string) (string, bool) {
	team := tags["owner"]
	ch, ok := o[team]
	if !ok || team == f.Team {
		return "", false
	}
	f.Team, f.TeamTag = team, "owner="+team
	f.Routes = []string{"slack:#secops", "slack:" + ch}
	return "Owned by team " + team + ".", true
}

func TestAssessReroutesByTags(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		state     *State
		readErr   error
		wantTeam  string
		wantRoute []string
		// wantItems are the outbox items planned with the read.
		wantItems []string
	}{
		{
			name:      "a tag naming another team moves the message and says why in every thread",
			state:     &State{ReadAt: t0, Exposed: true, Tags: map[string]string{"owner": "payments"}, Raw: json.RawMessage(`{}`)},
			wantTeam:  "payments",
			wantRoute: []string{"slack:#secops", "slack:#team-payments"},
			wantItems: []string{
				"slack.sync|F|#secops|v2", "slack.reply|F|#secops|v2 rerouted: Owned by team payments.",
				"slack.sync|F|#team-payments|v2", "slack.reply|F|#team-payments|v2 rerouted: Owned by team payments.",
				"slack.sync|F|#team-core|v2", "slack.reply|F|#team-core|v2 rerouted: Owned by team payments.",
			},
		},
		{
			name:      "no owner tag: the message is only updated",
			state:     &State{ReadAt: t0, Exposed: true, Tags: map[string]string{"env": "prod"}, Raw: json.RawMessage(`{}`)},
			wantTeam:  "core",
			wantRoute: []string{"slack:#secops", "slack:#team-core"},
			wantItems: []string{"slack.sync|F|#secops|v2", "slack.sync|F|#team-core|v2"},
		},
		{
			name:      "a failed read moves nothing",
			readErr:   errors.New("AccessDenied"),
			wantTeam:  "core",
			wantRoute: []string{"slack:#secops", "slack:#team-core"},
			wantItems: []string{"slack.sync|F|#secops|v2", "slack.sync|F|#team-core|v2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.w.opts.Owners = fakeOwners{"payments": "#team-payments"}
			f := e.seed(t, "payments-exports")
			f.Team, f.Routes = "core", []string{"slack:#secops", "slack:#team-core"}
			if err := e.st.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
				t.Fatal(err)
			}
			if tc.state != nil {
				e.rd.states[f.Resource.ARN] = *tc.state
			}
			if tc.readErr != nil {
				e.rd.errs[f.Resource.ARN] = tc.readErr
			}
			_ = e.w.Assess(ctx, f.ID)
			got, err := e.st.GetFinding(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Team != tc.wantTeam || strings.Join(got.Routes, " ") != strings.Join(tc.wantRoute, " ") {
				t.Errorf("team %q routes %v, want %q %v", got.Team, got.Routes, tc.wantTeam, tc.wantRoute)
			}
			items, err := e.st.Claim(ctx, "test", 100, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, it := range items {
				if !strings.HasPrefix(it.Kind, delivery.KindPrefix) {
					continue
				}
				k := strings.Replace(it.Key, f.ID, "F", 1)
				if it.Kind == delivery.KindSlackReply {
					p, _ := delivery.Decode(it)
					k += " " + string(p.Change) + ": " + p.Note
				}
				keys = append(keys, k)
			}
			if strings.Join(keys, "\n") != strings.Join(tc.wantItems, "\n") {
				t.Errorf("planned:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(tc.wantItems, "\n"))
			}
		})
	}
}

// A finding AWS's own detector raised is resolved by that detector, not by
// the resource's state: an assessment reads nothing for it, and a re-check
// leaves it open however the resource reads.
func TestNativeFindingsAreNotAssessed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.seed(t, "flagged-by-guardduty")
	f.Native = &finding.Native{Product: "GuardDuty", ID: "a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9"}
	f.Version++
	if err := e.st.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	e.rd.states[f.Resource.ARN] = State{Exposed: false, Reason: "public access block on", Raw: json.RawMessage(`{}`)}
	if err := e.w.Assess(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetFinding(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != finding.StatusOpen || got.Assessment != nil {
		t.Errorf("status %s, assessment %+v after an assessment and a re-check; want it open and unread: GuardDuty decides", got.Status, got.Assessment)
	}
}

// contentsReader is a fakeReader that also reads what the resource holds.
type contentsReader struct {
	*fakeReader
	contents *finding.Contents
	asked    int
}

func (r *contentsReader) Contents(_ context.Context, _ finding.Finding, st State) (*finding.Contents, error) {
	r.asked++
	if string(st.Raw) == "" {
		return nil, errors.New("no state given")
	}
	return r.contents, nil
}

// TestAssessRecordsContents: a reader that can tell what the resource
// holds has it recorded with the state; the re-check sweep does not ask.
func TestAssessRecordsContents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	f := e.seed(t, "payments-exports")
	e.rd.states[f.Resource.ARN] = State{ReadAt: t0, Exposed: true, Reason: "IsPublic", Raw: json.RawMessage(`"public"`)}
	want := &finding.Contents{ReadAt: t0, Objects: &finding.Objects{Count: 3, Bytes: 42, Complete: true}, Unreadable: []string{"Macie findings: not readable: missing permission macie2:GetMacieSession"}}
	rd := &contentsReader{fakeReader: e.rd, contents: want}
	w := New(e.st, rd, delivery.Planner{}, Options{Clock: e.clk, Logger: zerolog.Nop()})
	if err := w.Assess(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetFinding(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Contents == nil || got.Contents.Objects == nil || got.Contents.Objects.Count != 3 || len(got.Contents.Unreadable) != 1 {
		t.Errorf("contents = %+v, want what the reader said", got.Contents)
	}
	if err := w.Recheck(ctx); err != nil {
		t.Fatal(err)
	}
	if rd.asked != 1 {
		t.Errorf("contents read %d times, want once (the sweep reads state only)", rd.asked)
	}
}
