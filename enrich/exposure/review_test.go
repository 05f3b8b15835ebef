package exposure

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/memory"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// evidence answers every query with the same evidence, and remembers the
// queries.
type evidence struct {
	ev      Evidence
	queries []Query
}

func (e *evidence) Evidence(_ context.Context, q Query) (Evidence, error) {
	e.queries = append(e.queries, q)
	return e.ev, nil
}

var (
	opened   = time.Date(2026, 11, 26, 14, 21, 7, 0, time.UTC)
	resolved = opened.Add(17*time.Minute + 33*time.Second)
)

func bucketFinding() finding.Finding {
	return finding.Finding{
		ID: "F-1", AccountID: owner, Region: "eu-central-1", Severity: finding.SeverityHigh, Status: finding.StatusResolved,
		Resource: finding.Resource{Type: awsarn.TypeS3Bucket, ID: "payments-exports", ARN: bucket},
		OpenedAt: opened, ResolvedAt: resolved.Add(4 * time.Second), ResolvedEvent: &finding.EventRef{Time: resolved},
	}
}

func snapshotFinding(key *finding.KeyAccess) finding.Finding {
	return finding.Finding{
		ID: "F-2", AccountID: owner, Region: "eu-west-1", Severity: finding.SeverityCritical, Status: finding.StatusOpen,
		Resource: finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod-customers-2026-11-26"},
		Targets:  []finding.Target{{Account: unknown, Class: finding.TargetUnknown}},
		OpenedAt: time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC), Contents: &finding.Contents{Key: key},
	}
}

func TestReview(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	covered := Evidence{Covered: true, Sources: []string{"CloudTrail data events of trail org-trail"}}
	tests := []struct {
		name        string
		finding     finding.Finding
		feed        bool // the testdata's events came through the feed
		ev          Evidence
		wantAnswer  finding.ReadAnswer
		wantSummary string
		check       func(t *testing.T, r finding.ReadReview)
	}{
		{
			name: "bucket nothing records: cannot tell, and how to record it", finding: bucketFinding(),
			wantAnswer: finding.ReadsUnknown, wantSummary: "cannot tell: data events are not recorded for this bucket",
			check: func(t *testing.T, r finding.ReadReview) {
				if len(r.Gaps) != 1 || !strings.Contains(r.Gaps[0], "AWS::S3::Object with arn:aws:s3:::payments-exports/") {
					t.Errorf("gaps = %q", r.Gaps)
				}
				if len(r.Readers) != 0 {
					t.Errorf("readers = %+v", r.Readers)
				}
			},
		},
		{
			name: "bucket read from outside, through the feed", finding: bucketFinding(), feed: true, ev: covered,
			wantAnswer: finding.ReadsFound, wantSummary: "2 principals outside the organisation (anonymous included) read it: 3 calls",
			check: func(t *testing.T, r finding.ReadReview) {
				if len(r.Readers) != 2 {
					t.Fatalf("readers = %+v", r.Readers)
				}
				w := r.Readers[0]
				if w.Principal != "AIDAZ7EXAMPLEOUTSIDE1" || w.Account != unknown || w.Class != finding.TargetUnknown || w.Count != 2 ||
					w.Actions["ListObjects"] != 1 || w.Actions["GetObject"] != 1 || !slices.Equal(w.SourceIPs, []string{"203.0.113.77"}) ||
					!slices.Equal(w.Keys, []string{"exports/2026-11-25/settlements.csv"}) {
					t.Errorf("first reader = %+v", w)
				}
				if a := r.Readers[1]; !a.Anonymous || a.Count != 1 || !slices.Equal(a.SourceIPs, []string{"198.51.100.23"}) {
					t.Errorf("second reader = %+v", a)
				}
				if r.InsideReads != 2 {
					t.Errorf("inside reads = %d, want the 2 counted", r.InsideReads)
				}
				if !slices.Contains(r.Notes, "CloudTrail event history (LookupEvents) keeps management events only, so it cannot show object reads.") {
					t.Errorf("notes = %q", r.Notes)
				}
			},
		},
		{
			name: "bucket recorded but nobody outside read it", finding: bucketFinding(), ev: covered,
			wantAnswer: finding.ReadsNone, wantSummary: "no reads by principals outside the organisation or anonymous",
		},
		{
			name: "events reaching the feed show coverage the trails did not", finding: bucketFinding(), feed: true,
			wantAnswer: finding.ReadsFound,
			check: func(t *testing.T, r finding.ReadReview) {
				if len(r.Sources) == 0 || !strings.Contains(r.Sources[0], "reached the bot") {
					t.Errorf("sources = %q", r.Sources)
				}
			},
		},
		{
			name: "the same request in CloudTrail and the access logs counts once", finding: bucketFinding(), feed: true,
			ev: Evidence{Covered: true, Sources: []string{"server access logs"}, Reads: []Read{
				{EventID: "F6Y9TZC0K1P2Q3R4", RequestID: "F6Y9TZC0K1P2Q3R4", Time: opened.Add(4 * time.Minute), Resource: bucket, Action: "GetObject", Principal: Anonymous, Anonymous: true, SourceIP: "198.51.100.23", Source: SourceAccessLog},
				{EventID: "LOGONLY00000001", RequestID: "LOGONLY00000001", Time: opened.Add(5 * time.Minute), Resource: bucket, Action: "GetObject", Principal: Anonymous, Anonymous: true, SourceIP: "198.51.100.99", Key: "exports/x.csv", Source: SourceAccessLog},
				{EventID: "LATER", RequestID: "LATER", Time: resolved.Add(time.Hour), Resource: bucket, Action: "GetObject", Principal: Anonymous, Anonymous: true, Source: SourceAccessLog},
			}},
			wantAnswer: finding.ReadsFound,
			check: func(t *testing.T, r finding.ReadReview) {
				for _, w := range r.Readers {
					if w.Anonymous && (w.Count != 2 || !slices.Equal(w.Sources, []string{SourceCloudTrail, SourceAccessLog})) {
						t.Errorf("anonymous reader = %+v, want 2 reads from both sources", w)
					}
				}
			},
		},
		{
			name: "unencrypted snapshot: cannot tell", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyUnencrypted}),
			wantAnswer: finding.ReadsUnknown, wantSummary: "cannot tell: it is not encrypted, so the other account can copy or restore it without any event in this account",
		},
		{
			name: "snapshot under an AWS-managed key: nobody outside could", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyAWSManaged}),
			wantAnswer: finding.ReadsNone, wantSummary: "nobody outside could read it: it is encrypted with an AWS-managed key, which no other account can use",
		},
		{
			name: "snapshot whose key the account may not use", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyCustomerNotUsable}),
			wantAnswer: finding.ReadsNone,
		},
		{
			name: "usable key the other account used", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyCustomerUsable, KeyARN: theKey}), feed: true,
			ev:         Evidence{Covered: true, Sources: []string{"CloudTrail event history of the key"}},
			wantAnswer: finding.ReadsFound, wantSummary: "1 principal outside the organisation used its key: 1 call",
			check: func(t *testing.T, r finding.ReadReview) {
				if r.Readers[0].Actions["CreateGrant"] != 1 {
					t.Errorf("reader = %+v", r.Readers[0])
				}
			},
		},
		{
			name: "usable key nobody used", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyCustomerUsable, KeyARN: theKey}),
			ev:         Evidence{Covered: true},
			wantAnswer: finding.ReadsNone, wantSummary: "no use of its key by the accounts it was shared with: they have not copied or restored it",
		},
		{
			name: "usable key whose history cannot be read", finding: snapshotFinding(&finding.KeyAccess{Case: finding.KeyCustomerUsable, KeyARN: theKey}),
			ev:         Evidence{Unreadable: []string{"key events: not readable: missing permission cloudtrail:LookupEvents"}},
			wantAnswer: finding.ReadsUnknown, wantSummary: "cannot tell: the key's use could not be read",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := memory.New()
			if tt.feed {
				_, commit := NewRecorder(kv, ours).Split(records(t))
				if err := commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			src := &evidence{ev: tt.ev}
			r, err := NewReviewer(kv, ours, src).Review(ctx, tt.finding, now)
			if err != nil {
				t.Fatal(err)
			}
			if r.Answer != tt.wantAnswer || tt.wantSummary != "" && r.Summary != tt.wantSummary {
				t.Errorf("answer %q: %q, want %q: %q", r.Answer, r.Summary, tt.wantAnswer, tt.wantSummary)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	since, until := Window(bucketFinding(), now)
	if !since.Equal(opened) || !until.Equal(resolved.Add(time.Second)) {
		t.Errorf("resolved window = %v – %v, want from the opening to the second after the fix", since, until)
	}
	f := bucketFinding()
	f.Status, f.ResolvedEvent, f.ResolvedAt = finding.StatusOpen, nil, time.Time{}
	if _, until := Window(f, now); !until.Equal(now.Add(time.Second)) {
		t.Errorf("open window ends %v, want now", until)
	}
}

func TestResolvePlanner(t *testing.T) {
	f := bucketFinding()
	f.Version = 3
	seen := f.ResolvedAt.Add(time.Hour) // the bot learnt of it later
	items := ResolvePlanner{Delay: DefaultDelay, Clock: clock.NewFake(seen)}.Plan(f, "resolved", "arn:…", "")
	if len(items) != 1 || items[0].Kind != KindReview || !items[0].NotBefore.Equal(seen.Add(DefaultDelay)) || items[0].Key != "exposure.review|F-1|v3" {
		t.Errorf("items = %+v, want one due %v after the bot saw the resolution", items, DefaultDelay)
	}
	f.Severity = finding.SeverityMedium
	if items := (ResolvePlanner{}).Plan(f, "resolved", "", ""); len(items) != 0 {
		t.Errorf("a medium finding planned %+v", items)
	}
	f.Severity = finding.SeverityHigh
	if items := (ResolvePlanner{}).Plan(f, "acknowledged", "", ""); len(items) != 0 {
		t.Errorf("an acknowledgement planned %+v", items)
	}
	trail := f
	trail.Resource = finding.Resource{Type: awsarn.TypeCloudTrailTrail, ID: "org-trail"}
	if items := (ResolvePlanner{}).Plan(trail, "resolved", "", ""); len(items) != 0 {
		t.Errorf("a stopped trail's resolution planned a review of reads: %+v", items)
	}
	sigma := f
	sigma.RuleNotes = &finding.RuleNotes{Source: "sigma"}
	if items := (ResolvePlanner{}).Plan(sigma, "resolved", "", ""); len(items) != 0 {
		t.Errorf("a Sigma finding planned a review of reads: %+v", items)
	}
}

// TestServiceRun: each review is recorded on the finding with the next
// sequence number and delivered as a change; a closed review reaches the
// ticket.
func TestServiceRun(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := bucketFinding()
	f.Key, f.Routes, f.Version = "k", []string{"slack:#secops"}, 1
	if err := st.UpsertFinding(ctx, f, store.FindingEvent{}); err != nil {
		t.Fatal(err)
	}
	tickets := &recordPlanner{}
	svc := NewService(st, NewReviewer(st, ours, &evidence{ev: Evidence{Covered: true}}), Options{Delivery: delivery.Planner{}, Tickets: tickets, Clock: clk})
	for want := 1; want <= 2; want++ {
		r, err := svc.Run(ctx, f.ID, "U123")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetFinding(ctx, f.ID)
		if r.Seq != want || got.Reads == nil || got.Reads.Seq != want || got.Reads.Requested != "U123" || got.Reads.Answer != finding.ReadsNone {
			t.Errorf("review %d = %+v, stored %+v", want, r, got.Reads)
		}
	}
	keys, err := st.PendingOutboxKeys(ctx, delivery.ReplyKeyPrefix(f.ID, "#secops"))
	if err != nil || len(keys) != 2 {
		t.Errorf("thread replies planned: %v (%v), want one per review", keys, err)
	}
	if err := svc.Closed(ctx, f.ID, "U123", "the answer"); err != nil {
		t.Fatal(err)
	}
	if len(tickets.notes) != 1 || tickets.notes[0] != string(finding.ChangeReviewClosed)+" U123: the answer" {
		t.Errorf("ticket told %q", tickets.notes)
	}
	if err := svc.Request(ctx, "F-nope", "U123"); err == nil {
		t.Error("a review of an unknown finding was queued")
	}
}

type recordPlanner struct{ notes []string }

func (p *recordPlanner) Plan(_ finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	p.notes = append(p.notes, string(change)+" "+by+": "+note)
	return nil
}
