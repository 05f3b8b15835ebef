package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

// share builds a real-shaped ModifyDBSnapshotAttribute record.
func share(id string, minute int, add, remove []string) cloudtrail.Record {
	params := map[string]any{"dBSnapshotIdentifier": "prod-customers", "attributeName": "restore"}
	if add != nil {
		params["valuesToAdd"] = add
	}
	if remove != nil {
		params["valuesToRemove"] = remove
	}
	p, _ := json.Marshal(params)
	return cloudtrail.Record{
		EventID: id, EventTime: t0.Add(time.Duration(minute) * time.Minute), EventSource: "rds.amazonaws.com",
		EventName: "ModifyDBSnapshotAttribute", AWSRegion: "eu-west-1", SourceIPAddress: "198.51.100.77",
		UserAgent: "aws-cli/2.15.30", RecipientAccountID: "111122223333", RequestParameters: p,
		UserIdentity: cloudtrail.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/BackupManager", AccountID: "111122223333", UserName: "BackupManager"},
	}
}

// call builds a real-shaped record of any other call by the same actor.
func call(id string, minute int, source, name string, params map[string]any) cloudtrail.Record {
	rec := share(id, minute, nil, nil)
	rec.EventSource, rec.EventName = source, name
	rec.RequestParameters, _ = json.Marshal(params)
	return rec
}

// ebsShare adds (or removes, with remove) an account to an EBS snapshot's
// create-volume permissions.
func ebsShare(id string, minute int, acct string, remove bool) cloudtrail.Record {
	op := "add"
	if remove {
		op = "remove"
	}
	return call(id, minute, "ec2.amazonaws.com", "ModifySnapshotAttribute", map[string]any{
		"snapshotId": "snap-0e3bac79ac432d549", "attributeType": "CREATE_VOLUME_PERMISSION",
		"createVolumePermission": map[string]any{op: map[string]any{"items": []map[string]string{{"userId": acct}}}},
	})
}

func ebsReset(id string, minute int) cloudtrail.Record {
	return call(id, minute, "ec2.amazonaws.com", "ResetSnapshotAttribute", map[string]any{"snapshotId": "snap-0e3bac79ac432d549", "attributeType": "CREATE_VOLUME_PERMISSION"})
}

// bucketPolicy writes a policy on payments-exports granting s3:GetObject
// to the accounts (none: a policy for the bucket's own account).
func bucketPolicy(id string, minute int, accts ...string) cloudtrail.Record {
	principals := []string{"arn:aws:iam::111122223333:root"}
	for _, a := range accts {
		principals = append(principals, "arn:aws:iam::"+a+":root")
	}
	return call(id, minute, "s3.amazonaws.com", "PutBucketPolicy", map[string]any{"bucketName": "payments-exports", "bucketPolicy": map[string]any{
		"Version":   "2012-10-17",
		"Statement": []map[string]any{{"Effect": "Allow", "Principal": map[string]any{"AWS": principals}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::payments-exports/*"}},
	}})
}

type env struct {
	st   *sqlite.Store
	p    *Pipeline
	wrap *flakyStore
}

// flakyStore fails AddEvents on demand, to simulate a crash between storing
// a finding and storing the event that raised it.
type flakyStore struct {
	*sqlite.Store
	failAdd int
}

func (f *flakyStore) AddEvents(ctx context.Context, evs []store.Event) ([]bool, error) {
	if f.failAdd > 0 {
		f.failAdd--
		return nil, errors.New("disk full")
	}
	return f.Store.AddEvents(ctx, evs)
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir, err := org.New(org.Options{
		SecOps:   org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Teams:    []org.TeamOptions{{Name: "payments", SlackChannel: "#team-payments", Timezone: "Europe/Berlin", BusinessHours: "Mon-Fri 09:00-18:00", JiraProject: "PAY"}},
		Accounts: []org.Account{{ID: "111122223333", Name: "payments-prod", Team: "payments", Environment: "production"}},
		Trusted:  map[string]string{"777788889999": "vendor"},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0.Add(time.Hour))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	wrap := &flakyStore{Store: st}
	p := New(Options{
		Store: wrap, Detector: detect.NewEngine(dir), Directory: dir,
		Enricher: enrich.New(dir, st, enrich.Options{Baseline: enrich.DefaultBaseline()}), Router: route.New(dir),
		Planner: delivery.Planner{}, Clock: clk, Logger: zerolog.Nop(),
	})
	return env{st: st, p: p, wrap: wrap}
}

func (e env) ingest(t *testing.T, recs ...cloudtrail.Record) {
	t.Helper()
	if err := e.p.Ingest(context.Background(), ingest.Batch{Source: "test", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func (e env) only(t *testing.T) finding.Finding {
	t.Helper()
	fs, err := e.st.ListFindings(context.Background(), store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1: %+v", len(fs), fs)
	}
	return fs[0]
}

func (e env) outboxKeys(t *testing.T) []string {
	t.Helper()
	items, err := e.st.Claim(context.Background(), "test", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name       string
		batches    [][]cloudtrail.Record
		wantStatus finding.Status
		wantCount  int
		wantUnk    int // unknown targets left
	}{
		{"share with an unknown account opens", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}}, finding.StatusOpen, 1, 1},
		{"redelivered event counts once", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e1", 4, []string{"444455556666"}, nil)}}, finding.StatusOpen, 1, 1},
		{"duplicate inside one batch counts once", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil), share("e1", 4, []string{"444455556666"}, nil)}}, finding.StatusOpen, 1, 1},
		{"repeat while open updates the same finding", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e2", 6, []string{"555566667777"}, nil)}}, finding.StatusOpen, 2, 2},
		{"removing the account resolves", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e2", 20, nil, []string{"444455556666"})}}, finding.StatusResolved, 1, 0},
		{"removing one of two stays open", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666", "555566667777"}, nil)}, {share("e2", 20, nil, []string{"444455556666"})}}, finding.StatusOpen, 1, 1},
		{"a fix older than the exposure is ignored", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e0", 2, nil, []string{"444455556666"})}}, finding.StatusOpen, 1, 1},
		{"exposure again after the fix reopens", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e2", 20, nil, []string{"444455556666"})}, {share("e3", 30, []string{"444455556666"}, nil)}}, finding.StatusOpen, 2, 1},
		{"a late exposure older than the fix does not reopen", [][]cloudtrail.Record{{share("e1", 4, []string{"444455556666"}, nil)}, {share("e2", 20, nil, []string{"444455556666"})}, {share("e3", 10, []string{"444455556666"}, nil)}}, finding.StatusResolved, 1, 0},
		{"trusted account only is no finding then unknown opens", [][]cloudtrail.Record{{share("e1", 4, []string{"777788889999"}, nil)}, {share("e2", 5, []string{"444455556666"}, nil)}}, finding.StatusOpen, 1, 1},
		{"resetting snapshot permissions resolves the share", [][]cloudtrail.Record{{ebsShare("e1", 4, "444455556666", false)}, {ebsShare("e2", 6, "555566667777", false)}, {ebsReset("e3", 20)}}, finding.StatusResolved, 2, 0},
		{"resetting snapshot permissions resolves the public share", [][]cloudtrail.Record{{ebsShare("e1", 4, "all", false)}, {ebsReset("e2", 20)}}, finding.StatusResolved, 1, 0},
		{"a reset older than the share does not resolve it", [][]cloudtrail.Record{{ebsShare("e1", 4, "444455556666", false)}, {ebsReset("e0", 2)}}, finding.StatusOpen, 1, 1},
		{"a bucket policy granting an unknown account opens", [][]cloudtrail.Record{{bucketPolicy("e1", 4, "444455556666")}}, finding.StatusOpen, 1, 1},
		{"a bucket policy granting the trusted vendor opens nothing until an unknown account", [][]cloudtrail.Record{{bucketPolicy("e1", 3, "777788889999")}, {bucketPolicy("e2", 4, "777788889999", "444455556666")}}, finding.StatusOpen, 1, 1},
		{"a replaced bucket policy keeps only the accounts it grants", [][]cloudtrail.Record{{bucketPolicy("e1", 4, "444455556666")}, {bucketPolicy("e2", 6, "555566667777")}}, finding.StatusOpen, 2, 1},
		{"a bucket policy without the grant resolves", [][]cloudtrail.Record{{bucketPolicy("e1", 4, "444455556666")}, {bucketPolicy("e2", 20, "777788889999")}}, finding.StatusResolved, 1, 0},
		{"deleting the bucket policy resolves", [][]cloudtrail.Record{{bucketPolicy("e1", 4, "444455556666")}, {call("e2", 20, "s3.amazonaws.com", "DeleteBucketPolicy", map[string]any{"bucketName": "payments-exports"})}}, finding.StatusResolved, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, b := range tc.batches {
				e.ingest(t, b...)
			}
			f := e.only(t)
			if f.Status != tc.wantStatus || f.Count != tc.wantCount || len(f.UnknownTargets()) != tc.wantUnk {
				t.Fatalf("status %s count %d unknown targets %d, want %s %d %d", f.Status, f.Count, len(f.UnknownTargets()), tc.wantStatus, tc.wantCount, tc.wantUnk)
			}
			if f.Status == finding.StatusResolved && (f.OpenFor != 16*time.Minute || f.ResolvedBy != "arn:aws:iam::111122223333:user/BackupManager") {
				t.Errorf("resolved after %v by %q, want 16m by BackupManager", f.OpenFor, f.ResolvedBy)
			}
		})
	}
}

func TestDeliveryIsPlannedWithEachChange(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, share("e1", 4, []string{"444455556666"}, nil))
	e.ingest(t, share("e2", 20, nil, []string{"444455556666"}))
	f := e.only(t)
	got := e.outboxKeys(t)
	var want []string
	for _, ch := range []string{"#secops", "#team-payments"} {
		want = append(want, fmt.Sprintf("slack.sync|%s|%s|v1", f.ID, ch))
	}
	for _, ch := range []string{"#secops", "#team-payments"} {
		want = append(want, fmt.Sprintf("slack.sync|%s|%s|v2", f.ID, ch), fmt.Sprintf("slack.reply|%s|%s|v2", f.ID, ch))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox = %v\nwant     %v", got, want)
	}
}

// TestCrashBetweenFindingAndHistory: the finding is stored but the event is
// not (the process died, here AddEvents fails); the source redelivers and the
// finding must be applied once, not counted twice.
func TestCrashBetweenFindingAndHistory(t *testing.T) {
	e := newEnv(t)
	e.wrap.failAdd = 1
	err := e.p.Ingest(context.Background(), ingest.Batch{Source: "test", Records: []cloudtrail.Record{share("e1", 4, []string{"444455556666"}, nil)}})
	if err == nil {
		t.Fatal("Ingest succeeded although history could not be stored")
	}
	e.ingest(t, share("e1", 4, []string{"444455556666"}, nil))
	f := e.only(t)
	if f.Count != 1 || f.Version != 1 {
		t.Fatalf("count %d version %d after redelivery, want 1 and 1", f.Count, f.Version)
	}
	has, err := e.st.HasEvents(context.Background(), []store.Event{HistoryEvent(ptr(share("e1", 4, nil, nil)))})
	if err != nil || !has[0] {
		t.Fatalf("event not in history after redelivery: %v %v", has, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestProblemsAreQuarantined(t *testing.T) {
	e := newEnv(t)
	err := e.p.Ingest(context.Background(), ingest.Batch{Source: "s3://bucket/key.json.gz", Problems: []ingest.Problem{{Source: "s3://bucket/key.json.gz", Line: 3, Reason: "malformed JSON", Raw: []byte("{oops")}}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.st.ListQuarantined(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].Line != 3 || string(q[0].Raw) != "{oops" {
		t.Fatalf("quarantine = %+v", q)
	}
}

func TestFindingCarriesResourceHistory(t *testing.T) {
	e := newEnv(t)
	e.ingest(t, share("e1", 1, []string{"777788889999"}, nil))
	e.ingest(t, share("e2", 4, []string{"444455556666"}, nil))
	f := e.only(t)
	if len(f.History) != 1 || f.History[0].EventName != "ModifyDBSnapshotAttribute" || !f.History[0].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("history = %+v, want the earlier share with the trusted vendor", f.History)
	}
}
