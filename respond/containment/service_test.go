package containment

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// fakeProvider keeps one share list per target, the way a snapshot would.
type fakeProvider struct {
	shared   []string
	applies  int
	fail     error
	undoneBy string
}

func (p *fakeProvider) Catalogue() []Action {
	return []Action{
		{ID: SnapshotUnshare, Title: "Unshare the snapshot", UndoAdminOnly: true, Fit: FitSnapshot},
		{ID: IAMUserRestrictIP, Title: "Lock the user", Fit: FitUser},
		{ID: IAMUserDeactivateKeys, Title: "Deactivate keys", Fit: FitUserKeys},
		{ID: IAMRoleRevokeSessions, Title: "Revoke sessions", Fit: FitRole},
		{ID: S3BlockPublicAccess, Title: "Block public access", Fit: FitBucket},
	}
}

func (p *fakeProvider) remaining(remove []string) []string {
	return slices.DeleteFunc(slices.Clone(p.shared), func(v string) bool { return slices.Contains(remove, v) })
}

func (p *fakeProvider) Preview(_ context.Context, action string, t Target) (Plan, error) {
	before, _ := json.Marshal(p.shared)
	return Plan{Action: action, Target: t, Before: before, Calls: []Call{{API: "rds:ModifyDBSnapshotAttribute",
		Params: []Param{{Name: "ValuesToRemove", Value: strings.Join(t.Accounts, ",")}}}}}, nil
}

func (p *fakeProvider) Apply(_ context.Context, r Record) (Outcome, error) {
	p.applies++
	if p.fail != nil {
		return Outcome{}, p.fail
	}
	before, _ := json.Marshal(p.shared)
	p.shared = p.remaining(r.Plan.Target.Accounts)
	after, _ := json.Marshal(p.shared)
	return Outcome{Before: before, After: after, Changed: string(before) != string(after), Calls: r.Plan.Calls, Summary: "unshared"}, nil
}

// reverse re-adds what the run removed and is still gone, and tells a
// share list changed since the run.
func (p *fakeProvider) reverse(r Record) ([]string, UndoPlan, error) {
	var before, after []string
	if err := json.Unmarshal(r.Outcome.Before, &before); err != nil {
		return nil, UndoPlan{}, err
	}
	if err := json.Unmarshal(r.Outcome.After, &after); err != nil {
		return nil, UndoPlan{}, err
	}
	cur, _ := json.Marshal(p.shared)
	plan := UndoPlan{Current: cur, State: Fingerprint(cur)}
	if !slices.Equal(p.shared, after) {
		plan.Changes = []string{"shared with " + strings.Join(p.shared, ", ") + " now; the run left " + strings.Join(after, ", ")}
	}
	var readd []string
	for _, v := range before {
		if !slices.Contains(after, v) && !slices.Contains(p.shared, v) {
			readd = append(readd, v)
		}
	}
	plan.Calls = []Call{{API: "rds:ModifyDBSnapshotAttribute", Params: []Param{{Name: "ValuesToAdd", Value: strings.Join(readd, ",")}}}}
	return readd, plan, nil
}

func (p *fakeProvider) PreviewUndo(_ context.Context, r Record) (UndoPlan, error) {
	_, plan, err := p.reverse(r)
	return plan, err
}

func (p *fakeProvider) Undo(_ context.Context, r Record, by, state string) (Outcome, error) {
	readd, plan, err := p.reverse(r)
	if err != nil {
		return Outcome{}, err
	}
	if plan.Drifted() && plan.State != state {
		return Outcome{}, &DriftError{Plan: plan}
	}
	p.undoneBy = by
	p.shared = append(p.shared, readd...)
	return Outcome{Changed: len(readd) > 0, Before: plan.Current, Summary: "re-shared with " + strings.Join(readd, ", ")}, nil
}

// fakeAuthz grants roles by user ID.
type fakeAuthz map[string][]authz.Role

func (a fakeAuthz) Check(_ context.Context, who authz.Actor, role authz.Role) (authz.Decision, error) {
	roles := a[who.UserID]
	if slices.Contains(roles, role) || slices.Contains(roles, authz.Admin) {
		return authz.Decision{Allowed: true, Roles: roles}, nil
	}
	return authz.Decision{Reason: "you do not hold the " + string(role) + " role"}, nil
}

var (
	responder = authz.Actor{UserID: "U0RESPOND", TeamID: "T0ACME"}
	admin     = authz.Actor{UserID: "U0ADMIN", TeamID: "T0ACME"}
	outsider  = authz.Actor{UserID: "U0OUTSIDE", TeamID: "T0ACME"}
	roles     = fakeAuthz{responder.UserID: {authz.Responder}, admin.UserID: {authz.Admin}}
)

func storyTwo() finding.Finding {
	arn := "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26"
	return finding.Finding{
		ID: "F-STORY2", Key: "snapshot-shared-external|111122223333|eu-central-1|" + arn, Rule: "snapshot-shared-external", Severity: finding.SeverityCritical, Status: finding.StatusOpen,
		AccountID: "111122223333", Region: "eu-central-1",
		Resource: finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod-customers-2026-11-26", ARN: arn},
		Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:user/BackupManager", Type: "IAMUser", Name: "BackupManager", AccountID: "111122223333", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		Targets: []finding.Target{
			{Account: "555566667777", Class: finding.TargetKnown},
			{Account: "444455556666", Class: finding.TargetUnknown},
		},
		FirstSeen: time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC),
	}
}

func newService(t *testing.T) (*Service, *fakeProvider, store.Store) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 27, 3, 20, 0, 0, time.UTC))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &fakeProvider{shared: []string{"555566667777", "444455556666"}}
	return New(p, st, roles, clk, zerolog.Nop()), p, st
}

// pausedStore is one replica's view of the shared store that stops after
// its next read of a record until resumed, so that another replica can act
// between this one's read and its write.
type pausedStore struct {
	Store
	read, resume chan struct{}
}

func (p *pausedStore) GetKV(ctx context.Context, ns, key string) ([]byte, error) {
	v, err := p.Store.GetKV(ctx, ns, key)
	if r := p.read; r != nil {
		p.read = nil
		r <- struct{}{}
		<-p.resume
	}
	return v, err
}

// pausedReplica returns a second service over s's store and provider, as
// another bot process sharing the database and the AWS account would be,
// that stops after its next read until resume is closed.
func pausedReplica(s *Service) (replica *Service, read chan struct{}, resume chan struct{}) {
	read, resume = make(chan struct{}), make(chan struct{})
	st := &pausedStore{Store: s.store, read: read, resume: resume}
	return New(s.provider, st, s.authz, s.clk, zerolog.Nop()), read, resume
}

func audit(t *testing.T, st store.Store) []store.AuditRecord {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "containment."})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(recs) // oldest first
	return recs
}

func TestOffers(t *testing.T) {
	s, _, _ := newService(t)
	bucket := storyTwo()
	bucket.Resource = finding.Resource{Type: awsarn.TypeS3Bucket, ID: "acme-exports", ARN: "arn:aws:s3:::acme-exports"}
	bucket.Actor = finding.Actor{ARN: "arn:aws:sts::222233334444:assumed-role/contractor-alice/alice", Type: "AssumedRole"}
	tests := []struct {
		name string
		f    finding.Finding
		want []string
	}{
		{"shared snapshot by an IAM user", storyTwo(), []string{SnapshotUnshare, IAMUserRestrictIP, IAMUserDeactivateKeys}},
		{"public bucket by an assumed role", bucket, []string{IAMRoleRevokeSessions, S3BlockPublicAccess}},
		{"nothing fits", finding.Finding{ID: "F-0"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range s.Offers(tc.f) {
				got = append(got, o.Action.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("offers = %v, want %v", got, tc.want)
			}
		})
	}
	offers := s.Offers(storyTwo())
	if got := offers[0].Target.Accounts; !slices.Equal(got, []string{"444455556666"}) {
		t.Errorf("unshare would remove %v, want only the unknown account", got)
	}
	if got := offers[2].Target.AccessKeyID; got != "AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("deactivate-keys targets key %q, want the event's key", got)
	}
	for _, o := range s.Offers(bucket) {
		if o.Action.ID == IAMRoleRevokeSessions && (o.Target.ID != "contractor-alice" || o.Target.ARN != "arn:aws:iam::222233334444:role/contractor-alice") {
			t.Errorf("revoke-sessions target = %+v, want role contractor-alice", o.Target)
		}
	}
}

func TestFlow(t *testing.T) {
	ctx := context.Background()
	s, p, st := newService(t)

	rec, err := s.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	if rec.State != StatePreviewed || p.applies != 0 {
		t.Fatalf("after preview: state %s, %d applies; a preview must change nothing", rec.State, p.applies)
	}
	rec, err = s.Run(ctx, responder, rec.ID)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rec.State != StateApplied || !slices.Equal(p.shared, []string{"555566667777"}) {
		t.Fatalf("after run: state %s, shared %v", rec.State, p.shared)
	}
	if _, err := s.Run(ctx, responder, rec.ID); err != nil || p.applies != 1 {
		t.Errorf("second run: err %v, %d applies; running twice must be harmless", err, p.applies)
	}

	if _, err := s.Undo(ctx, responder, rec.ID); !errors.Is(err, ErrRefused) {
		t.Errorf("undo of an unshare by a responder: %v, want a refusal (admins only)", err)
	}
	rec, err = s.Undo(ctx, admin, rec.ID)
	if err != nil || rec.State != StateUndone || len(p.shared) != 2 {
		t.Fatalf("undo by admin: err %v state %s shared %v", err, rec.State, p.shared)
	}
	if _, err := s.Undo(ctx, admin, rec.ID); err != nil {
		t.Errorf("second undo: %v, want harmless", err)
	}

	var got []string
	for _, a := range audit(t, st) {
		got = append(got, a.Action+" "+a.Result)
	}
	want := []string{"containment.preview ok", "containment.run ok", "containment.undo refused", "containment.undo ok"}
	if !slices.Equal(got, want) {
		t.Errorf("audit = %v, want %v", got, want)
	}
	run := audit(t, st)[1]
	var detail struct {
		Before json.RawMessage `json:"before"`
		Calls  []Call          `json:"calls"`
	}
	if err := json.Unmarshal(run.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if string(detail.Before) != `["555566667777","444455556666"]` || len(detail.Calls) != 1 {
		t.Errorf("run audit detail = %s, want the before-state and the calls", run.Detail)
	}
	if run.Actor != responder.UserID || run.Target != storyTwo().Resource.ARN {
		t.Errorf("run audit actor/target = %s/%s", run.Actor, run.Target)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	s, p, st := newService(t)
	if _, err := s.Preview(ctx, outsider, SnapshotUnshare, storyTwo()); !errors.Is(err, ErrRefused) {
		t.Errorf("preview by a non-responder: %v, want refused", err)
	}
	rec, err := s.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	// Whoever previewed, the one who confirms is checked again.
	if _, err := s.Run(ctx, outsider, rec.ID); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "responder role") {
		t.Errorf("run by a non-responder: %v, want a refusal saying why", err)
	}
	if p.applies != 0 {
		t.Error("a refused run reached AWS")
	}
	recs := audit(t, st)
	if last := recs[len(recs)-1]; last.Action != AuditRun || last.Result != "refused" || last.Actor != outsider.UserID {
		t.Errorf("last audit = %+v, want the refused run", last)
	}
	if _, err := s.Preview(ctx, responder, S3BlockPublicAccess, storyTwo()); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("bucket action on a snapshot finding: %v, want not applicable", err)
	}
	if _, err := s.Preview(ctx, responder, "rm-rf", storyTwo()); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("unknown action: %v", err)
	}
}

func TestProviderErrorKeepsRecord(t *testing.T) {
	ctx := context.Background()
	s, p, st := newService(t)
	rec, err := s.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	p.fail = &ProviderError{API: "rds:ModifyDBSnapshotAttribute", Account: "111122223333", Code: "AccessDenied", Message: "not authorized"}
	got, err := s.Run(ctx, responder, rec.ID)
	if err == nil || got.State != StateFailed || !strings.Contains(got.Error, "AWS refused rds:ModifyDBSnapshotAttribute in account 111122223333: AccessDenied") {
		t.Fatalf("failed run: err %v, record %+v", err, got)
	}
	stored, err := s.Get(ctx, rec.ID)
	if err != nil || stored.State != StateFailed {
		t.Fatalf("stored record after failure: %+v, %v", stored, err)
	}
	if _, err := s.Undo(ctx, admin, rec.ID); !errors.Is(err, ErrState) {
		t.Errorf("undo of a failed run: %v, want a state error", err)
	}
	p.fail = nil
	if got, err := s.Run(ctx, responder, rec.ID); err != nil || got.State != StateApplied {
		t.Errorf("retry after the error: %v, %s", err, got.State)
	}
	if recs := audit(t, st); recs[1].Result != "error" || !strings.Contains(recs[1].Reason, "AccessDenied") {
		t.Errorf("audit of the failure = %+v", recs[1])
	}
}

func TestPreviewTarget(t *testing.T) {
	ctx := context.Background()
	s, _, st := newService(t)
	if err := st.UpsertFinding(ctx, storyTwo(), store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, action, target string
		wantErr              error
		wantID               string
	}{
		{"user by name", IAMUserRestrictIP, "BackupManager", nil, "BackupManager"},
		{"user by arn", IAMUserRestrictIP, "arn:aws:iam::111122223333:user/BackupManager", nil, "BackupManager"},
		{"snapshot by id", SnapshotUnshare, "prod-customers-2026-11-26", nil, "prod-customers-2026-11-26"},
		{"unknown user", IAMUserRestrictIP, "Mallory", ErrNotApplicable, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := s.PreviewTarget(ctx, responder, tc.action, tc.target)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (rec.Target.ID != tc.wantID || rec.Target.AccountID != "111122223333" || rec.FindingID != "F-STORY2") {
				t.Errorf("target = %+v (finding %s)", rec.Target, rec.FindingID)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{CorporateCIDRs: []string{"198.51.100.0/24", "10.0.0.300/8"}, VPCEndpoints: []string{"endpoint-1"}}.Validate().Err()
	if err == nil || !strings.Contains(err.Error(), "corporate_cidrs[1]") || !strings.Contains(err.Error(), "vpc_endpoints[0]") {
		t.Errorf("Validate = %v, want both problems named by key", err)
	}
	if err := (Config{CorporateCIDRs: []string{"198.51.100.0/24"}}).Validate().Err(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// Two replicas confirming the same containment at once, both having read
// the previewed record. Before records were written with compare-and-set,
// the second to write overwrote the first's applied record, ran again on a
// snapshot already unshared and kept the already-unshared list as the
// before-state, so undo could not share it again. Now it finds the record
// applied and does nothing.
func TestConcurrentRunsOnTwoReplicas(t *testing.T) {
	ctx := context.Background()
	a, p, _ := newService(t)
	b, read, resume := pausedReplica(a)
	rec, err := a.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rec Record
		err error
	}
	late := make(chan result, 1)
	go func() {
		r, err := b.Run(ctx, admin, rec.ID)
		late <- result{r, err}
	}()
	<-read // b has read the record as previewed

	if got, err := a.Run(ctx, responder, rec.ID); err != nil || got.State != StateApplied {
		t.Fatalf("first run: %+v, %v; want applied", got, err)
	}
	close(resume)
	got := <-late
	if got.err != nil || got.rec.State != StateApplied || got.rec.RanBy != responder.UserID {
		t.Fatalf("second run: %+v, %v; want the first run's applied record", got.rec, got.err)
	}
	if p.applies != 1 {
		t.Errorf("AWS was called %d times, want once", p.applies)
	}
	stored, err := a.Get(ctx, rec.ID)
	if err != nil || stored.Outcome == nil || string(stored.Outcome.Before) != `["555566667777","444455556666"]` {
		t.Fatalf("stored record: %+v, %v; want the before-state of the one run", stored, err)
	}
	if _, err := a.Undo(ctx, admin, rec.ID); err != nil || !slices.Equal(p.shared, []string{"555566667777", "444455556666"}) {
		t.Fatalf("undo: %v, shared %v; want both accounts shared again", err, p.shared)
	}
}

// Two replicas undoing the same containment at once, both having read the
// applied record: the one stored first stays on record, where the last
// written used to replace who undid it and when.
func TestConcurrentUndoKeepsTheFirst(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newService(t)
	b, read, resume := pausedReplica(a)
	rec, err := a.Preview(ctx, responder, IAMUserRestrictIP, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(ctx, responder, rec.ID); err != nil {
		t.Fatal(err)
	}
	late := make(chan error, 1)
	go func() {
		_, err := b.Undo(ctx, responder, rec.ID)
		late <- err
	}()
	<-read // b has read the record as applied
	first, err := a.Undo(ctx, admin, rec.ID)
	if err != nil || first.State != StateUndone {
		t.Fatalf("first undo: %+v, %v", first, err)
	}
	a.clk.(*clock.Fake).Advance(time.Minute)
	close(resume)
	if err := <-late; err != nil {
		t.Fatalf("second undo: %v", err)
	}
	stored, err := a.Get(ctx, rec.ID)
	if err != nil || stored.UndoneBy != admin.UserID || !stored.UndoneAt.Equal(first.UndoneAt) {
		t.Fatalf("stored record undone by %s at %v, %v; want the first undo, by %s at %v", stored.UndoneBy, stored.UndoneAt, err, admin.UserID, first.UndoneAt)
	}
}

// TestUndoAfterLaterChanges: the owner shares the snapshot with another
// account after the containment. Undo then changes nothing and says what
// changed; the undo the user confirms for that state re-adds only the
// account the run removed, and keeps the owner's share. Each step is
// audited.
func TestUndoAfterLaterChanges(t *testing.T) {
	ctx := context.Background()
	s, p, st := newService(t)
	rec, err := s.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, responder, rec.ID); err != nil {
		t.Fatal(err)
	}
	p.shared = append(p.shared, "777788889999") // the owner, after the run

	got, err := s.Undo(ctx, admin, rec.ID)
	var drift *DriftError
	if !errors.As(err, &drift) || !errors.Is(err, ErrDrift) {
		t.Fatalf("undo after a later change: %v, want a DriftError", err)
	}
	if got.State != StateApplied || got.UndoReview == nil || got.UndoReview.State != drift.Plan.State || len(got.UndoReview.Changes) != 1 {
		t.Fatalf("record after the refused undo: state %s, review %+v; want applied with the changes kept for review", got.State, got.UndoReview)
	}
	if !slices.Equal(p.shared, []string{"555566667777", "777788889999"}) {
		t.Fatalf("shared with %v; a refused undo must change nothing", p.shared)
	}
	if msg := PlainError(err); !strings.Contains(msg, "changed since the containment ran") || !strings.Contains(msg, "777788889999") {
		t.Errorf("plain error %q does not say what changed", msg)
	}

	if _, err := s.UndoReviewed(ctx, responder, rec.ID, got.UndoReview.State); !errors.Is(err, ErrRefused) {
		t.Errorf("reviewed undo of an unshare by a responder: %v, want refused (admins only)", err)
	}
	if _, err := s.UndoReviewed(ctx, admin, rec.ID, "0000000000000000"); !errors.Is(err, ErrDrift) {
		t.Errorf("reviewed undo confirming another state: %v, want a DriftError", err)
	}
	reviewed := got.UndoReview.State
	p.shared = append(p.shared, "888899990000") // and again, while the modal was open
	if _, err := s.UndoReviewed(ctx, admin, rec.ID, reviewed); !errors.Is(err, ErrDrift) {
		t.Fatalf("reviewed undo after a further change: %v, want a DriftError", err)
	}
	again, _ := s.Get(ctx, rec.ID)
	done, err := s.UndoReviewed(ctx, admin, rec.ID, again.UndoReview.State)
	if err != nil || done.State != StateUndone || done.UndoReview != nil || done.UndoneBy != admin.UserID || p.undoneBy != admin.UserID {
		t.Fatalf("reviewed undo: %+v, %v; want undone by the admin with the review cleared", done, err)
	}
	if want := []string{"555566667777", "777788889999", "888899990000", "444455556666"}; !slices.Equal(p.shared, want) {
		t.Errorf("shared with %v, want %v: the removed account back, the owner's shares kept", p.shared, want)
	}

	var trail []string
	for _, a := range audit(t, st) {
		trail = append(trail, a.Action+" "+a.Result)
	}
	want := []string{"containment.preview ok", "containment.run ok", "containment.undo_review changed", "containment.undo refused",
		"containment.undo_review changed", "containment.undo_review changed", "containment.undo ok"}
	if !slices.Equal(trail, want) {
		t.Errorf("audit = %v, want %v", trail, want)
	}
	review := audit(t, st)[2]
	var detail struct {
		Left    json.RawMessage `json:"left"`
		Current json.RawMessage `json:"current"`
		Changes []string        `json:"changes"`
	}
	if err := json.Unmarshal(review.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if string(detail.Left) != `["555566667777"]` || string(detail.Current) != `["555566667777","777788889999"]` || len(detail.Changes) != 1 {
		t.Errorf("review audit detail = %s, want the state the run left, the state found and the change", review.Detail)
	}
}

// heard records what a Recorder was told.
type heard struct{ events []string }

func (h *heard) Applied(_ context.Context, r Record) error {
	h.events = append(h.events, "applied "+r.ID+" by "+r.RanBy)
	return nil
}

func (h *heard) Undone(_ context.Context, r Record) error {
	h.events = append(h.events, "undone "+r.ID+" by "+r.UndoneBy)
	return nil
}

// TestRecorderHearsEveryStoredChange: the recorder is told of a run that
// left the target contained and of its undo, once each, and of nothing
// that failed, was refused or changed nothing.
func TestRecorderHearsEveryStoredChange(t *testing.T) {
	ctx := context.Background()
	s, p, _ := newService(t)
	h := &heard{}
	s.SetRecorder(h)
	rec, err := s.Preview(ctx, responder, SnapshotUnshare, storyTwo())
	if err != nil {
		t.Fatal(err)
	}
	p.fail = &ProviderError{API: "rds:ModifyDBSnapshotAttribute", Account: "111122223333", Code: "AccessDenied"}
	if _, err := s.Run(ctx, responder, rec.ID); err == nil {
		t.Fatal("the failing run succeeded")
	}
	if _, err := s.Run(ctx, outsider, rec.ID); !errors.Is(err, ErrRefused) {
		t.Fatalf("run by an outsider: %v", err)
	}
	p.fail = nil
	for range 2 { // the second run finds it applied and changes nothing
		if _, err := s.Run(ctx, responder, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := s.Undo(ctx, admin, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"applied " + rec.ID + " by " + responder.UserID, "undone " + rec.ID + " by " + admin.UserID}
	if !slices.Equal(h.events, want) {
		t.Errorf("recorder heard %q, want %q", h.events, want)
	}
}

// TestPreviewTargetOfAResolvedFinding: the actor of an exposure fixed
// meanwhile can still be locked by name.
func TestPreviewTargetOfAResolvedFinding(t *testing.T) {
	ctx := context.Background()
	s, _, st := newService(t)
	f := storyTwo()
	f.Status = finding.StatusResolved
	if err := st.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.PreviewTarget(ctx, responder, IAMUserRestrictIP, "BackupManager")
	if err != nil || rec.FindingID != f.ID {
		t.Fatalf("preview on the resolved finding's actor = %+v, %v", rec, err)
	}
}
