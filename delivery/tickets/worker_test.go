package tickets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
	"github.com/secops-bot/secops-bot/providers/jira"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const (
	email = "secops-bot@example.com"
	token = "ATATT3xFfGF0-s3cr3t-t0ken"
)

func utc(month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(2026, month, day, hour, min, sec, 0, time.UTC)
}

// storyOne is a bucket made public with a role assigned to a contractor,
// in an account of the payments team.
func storyOne() finding.Finding {
	before := `{"Version":"2012-10-17","Statement":[{"Sid":"Reports","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/reporting"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"}]}`
	after := `{"Version":"2012-10-17","Statement":[{"Sid":"Reports","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/reporting"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"},{"Sid":"Vendor","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::payments-exports/*"}]}`
	event := utc(time.November, 26, 14, 12, 9)
	key := finding.KeyFor("s3-bucket-public", "111122223333", "eu-central-1", "arn:aws:s3:::payments-exports")
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Version: 1,
		Rule: "s3-bucket-public", Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		Title:       "S3 bucket made public",
		Detail:      `The bucket policy of payments-exports grants s3:GetObject to Principal "*": anyone on the internet can read its objects.`,
		AccountID:   "111122223333",
		AccountName: "payments-prod",
		Region:      "eu-central-1",
		Resource:    finding.Resource{Type: "AWS::S3::Bucket", ID: "payments-exports", ARN: "arn:aws:s3:::payments-exports"},
		Actor: finding.Actor{
			ARN:  "arn:aws:sts::111122223333:assumed-role/contractor-alice/alice@vendor.example",
			Type: "AssumedRole", Name: "contractor-alice", Contractor: true,
		},
		Event: finding.EventRef{
			ID: "6f1c0f3e-7d0a-4b8e-9a53-1f0e6c2b7a11", Name: "PutBucketPolicy", Source: "s3.amazonaws.com",
			Time: event, SourceIP: "198.51.100.23", UserAgent: "aws-cli/2.15.30",
		},
		Team: "payments", Environment: "prod",
		Signals: []finding.Signal{{Name: "new_source_ip", Reason: "198.51.100.23 was never seen for this role in 30 days"}},
		Routes:  []string{"slack:#secops", "slack:#payments", "jira:PAY"},
		Vectors: []string{"policy"},
		Change:  &finding.Change{Summary: "bucket policy replaced", Before: json.RawMessage(before), After: json.RawMessage(after)},
		Count:   1, FirstSeen: event, LastSeen: event, DetectedAt: event.Add(41 * time.Second), OpenedAt: event,
	}
}

// syncBuffer collects log output written from the worker.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t       *testing.T
	st      *sqlite.Store
	srv     *jirafake.Server
	client  *jira.Client
	clk     *clock.Fake
	cfg     Config
	planner Planner
	logs    *syncBuffer
}

func newEnv(t *testing.T, flavor string, adjust ...func(*Config)) *env {
	t.Helper()
	clk := clock.NewFake(utc(time.November, 26, 14, 13, 0))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "secops.db"), sqlite.Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := jirafake.New(jirafake.Options{Flavor: flavor, Email: email, Token: token, Now: clk.Now})
	t.Cleanup(srv.Close)
	cfg := Config{
		Enabled: true, Flavor: flavor, BaseURL: srv.URL, Email: email, Token: token,
		Labels: []string{"secops"}, SecOpsProject: "SEC",
	}
	for _, a := range adjust {
		a(&cfg)
	}
	client, err := jira.New(jira.Config{Flavor: jira.Flavor(flavor), BaseURL: srv.URL, Email: email, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, srv: srv, client: client, clk: clk, cfg: cfg, planner: NewPlanner(cfg), logs: &syncBuffer{}}
}

// worker is a replica's outbox runtime carrying the ticket lane.
func (e *env) worker(owner string, opts ...Option) *outbox.Runtime {
	return e.workerWith(e.client, owner, opts...)
}

func (e *env) workerWith(client Client, owner string, opts ...Option) *outbox.Runtime {
	e.t.Helper()
	log := zerolog.New(e.logs).Level(zerolog.DebugLevel)
	opts = append([]Option{WithPermalink(func(_ context.Context, id string) string {
		return "https://acme.slack.com/archives/C0SECOPS/p1764166329000100"
	})}, opts...)
	rt := outbox.New(e.st, owner, e.clk, log)
	if err := rt.Add(NewHandler(e.st, client, e.cfg, log, opts...).Lane()); err != nil {
		e.t.Fatal(err)
	}
	return rt
}

// raise stores a new finding with its planned items, as the pipeline does.
func (e *env) raise(f finding.Finding) {
	e.t.Helper()
	ev := store.FindingEvent{Status: f.Status, Actor: "system", Note: "PutBucketPolicy by " + f.Actor.ARN}
	ev.Outbox = e.planner.Plan(f, finding.ChangeCreated, ev.Actor, ev.Note)
	if err := e.st.UpsertFinding(context.Background(), f, ev); err != nil {
		e.t.Fatal(err)
	}
}

// change applies a change to a stored finding with its planned items, as
// triage and the pipeline do.
func (e *env) change(id string, change finding.ChangeKind, by, note string, fn func(*finding.Finding)) finding.Finding {
	e.t.Helper()
	f, err := e.st.UpdateFinding(context.Background(), id, func(f *finding.Finding) (store.FindingEvent, error) {
		fn(f)
		f.Version++
		ev := store.FindingEvent{Status: f.Status, Actor: by, Note: note}
		ev.Outbox = e.planner.Plan(*f, change, by, note)
		return ev, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// drain runs the worker until no item is due.
func (e *env) drain(w *outbox.Runtime) {
	e.t.Helper()
	for range 100 {
		if w.Drain(context.Background()) == 0 {
			return
		}
	}
	e.t.Fatal("the worker kept finding due items")
}

func (e *env) depth() int {
	e.t.Helper()
	n, err := e.st.OutboxDepth(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) only() jirafake.Issue {
	e.t.Helper()
	issues := e.srv.Issues()
	if len(issues) != 1 {
		e.t.Fatalf("Jira holds %d issues, want 1: %+v", len(issues), issues)
	}
	return issues[0]
}

func commentTexts(is jirafake.Issue) []string {
	var out []string
	for _, c := range is.Comments {
		out = append(out, c.Text)
	}
	return out
}

func ack(f *finding.Finding) { f.AckedBy, f.AckedAt = "U0ALICE", utc(time.November, 26, 14, 15, 0) }

func remediate(f *finding.Finding) {
	fixed := utc(time.November, 26, 14, 26, 40)
	f.Status = finding.StatusResolved
	f.Vectors = nil
	f.ResolvedAt = fixed
	f.ResolvedBy = f.Actor.ARN
	f.ResolvedEvent = &finding.EventRef{ID: "0b7e", Name: "DeleteBucketPolicy", Time: fixed}
	f.ResolveReason = "the bucket policy no longer grants access to everyone"
	f.OpenFor = fixed.Sub(f.OpenedAt)
}

// Story one, end to end for both flavours: a ticket in the owning team's
// project with the priority of the severity, a comment when SecOps
// acknowledges, and the ticket done with who fixed it and how long it was
// open when the bot sees the fix.
func TestStoryOneTicketLifecycle(t *testing.T) {
	for _, flavor := range []string{jirafake.Cloud, jirafake.DataCenter} {
		t.Run(flavor, func(t *testing.T) {
			e := newEnv(t, flavor)
			w := e.worker("replica-1")
			f := storyOne()
			e.raise(f)
			e.drain(w)

			is := e.only()
			if is.Key != "PAY-1" || is.Priority != "High" || is.IssueType != "Task" || is.Status != "To Do" {
				t.Fatalf("ticket = %s in %s, priority %q, type %q; want PAY-1, High, Task, To Do", is.Key, is.Status, is.Priority, is.IssueType)
			}
			if want := []string{"secops", "secops-finding-" + f.ID}; !slices.Equal(is.Labels, want) {
				t.Fatalf("labels = %q, want %q", is.Labels, want)
			}
			if want := "[HIGH] S3 bucket made public: payments-exports (payments-prod)"; is.Summary != want {
				t.Fatalf("summary = %q, want %q", is.Summary, want)
			}
			desc := is.DescriptionText()
			for _, want := range []string{
				"payments-exports", "arn:aws:sts::111122223333:assumed-role/contractor-alice/alice@vendor.example",
				"role assigned to a contractor", "PutBucketPolicy", " at 2026-11-26 14:12:09 UTC", "41s after the event",
				`"Principal": "*"`, "new_source_ip", "198.51.100.23 was never seen",
			} {
				if !strings.Contains(desc, want) {
					t.Errorf("description lacks %q:\n%s", want, desc)
				}
			}
			switch body := is.Description.(type) {
			case string: // wiki markup
				if flavor != jirafake.DataCenter || !strings.Contains(body, "h3. What changed") || !strings.Contains(body, "{{payments-exports}}") {
					t.Errorf("%s description is wiki text:\n%s", flavor, body)
				}
			case map[string]any: // ADF
				if flavor != jirafake.Cloud || body["type"] != "doc" {
					t.Errorf("%s description is an ADF document: %v", flavor, body)
				}
			default:
				t.Errorf("description of type %T", body)
			}
			if !strings.Contains(flatBody(is.Description), "https://acme.slack.com/archives/C0SECOPS/p1764166329000100") {
				t.Errorf("description does not link the Slack thread: %v", is.Description)
			}
			if rec, ok, err := Lookup(context.Background(), e.st, f.ID); err != nil || !ok || rec.Key != "PAY-1" || rec.Project != "PAY" {
				t.Fatalf("Lookup = %+v, %v, %v; want PAY-1 in PAY", rec, ok, err)
			}

			e.change(f.ID, finding.ChangeAcknowledged, "U0ALICE", "", ack)
			e.drain(w)
			if got := commentTexts(e.only()); !slices.Equal(got, []string{"Acknowledged by Slack user U0ALICE."}) {
				t.Fatalf("comments after ack = %q", got)
			}

			e.change(f.ID, finding.ChangeResolved, f.Actor.ARN, "remediated by DeleteBucketPolicy", remediate)
			e.drain(w)
			is = e.only()
			want := []string{
				"Acknowledged by Slack user U0ALICE.",
				"Resolved: fixed by arn:aws:sts::111122223333:assumed-role/contractor-alice/alice@vendor.example with DeleteBucketPolicy at 2026-11-26 14:26:40 UTC. " +
					"the bucket policy no longer grants access to everyone. Open for 14m (since 2026-11-26 14:12:09 UTC).",
			}
			if got := commentTexts(is); !slices.Equal(got, want) {
				t.Fatalf("comments after resolve = %q\nwant %q", got, want)
			}
			if is.Status != "Done" || !slices.Equal(is.Transitions, []string{"Done"}) {
				t.Fatalf("ticket %s after %v, want Done", is.Status, is.Transitions)
			}
			if d := e.depth(); d != 0 {
				t.Fatalf("outbox depth = %d, want 0", d)
			}
		})
	}
}

// flatBody renders a stored body as JSON or text, links included.
func flatBody(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// A Jira outage in the middle of the story delays tickets but loses and
// duplicates nothing: each finding ends with one ticket and each change
// with one comment.
func TestOutageDelaysButLosesNothing(t *testing.T) {
	e := newEnv(t, jirafake.Cloud)
	w := e.worker("replica-1")
	first := storyOne()
	e.raise(first)
	e.drain(w)

	e.srv.SetDown(true)
	second := storyOne()
	second.Resource = finding.Resource{Type: "AWS::S3::Bucket", ID: "payments-archive", ARN: "arn:aws:s3:::payments-archive"}
	second.Key = finding.KeyFor(second.Rule, second.AccountID, second.Region, second.Resource.ARN)
	second.ID = finding.IDFor(second.Key)
	e.raise(second)
	e.change(first.ID, finding.ChangeAcknowledged, "U0ALICE", "", ack)
	e.change(first.ID, finding.ChangeResolved, first.Actor.ARN, "", remediate)
	// Several rounds during the outage: every item fails and is put back.
	for range 4 {
		e.drain(w)
		e.clk.Advance(maxBackoff)
	}
	if n := len(e.srv.Issues()); n != 1 {
		t.Fatalf("%d issues during the outage, want the one created before", n)
	}
	if d := e.depth(); d != 4 {
		t.Fatalf("outbox depth during the outage = %d, want 4 (create, comment, comment, resolve)", d)
	}
	failed := 0
	for _, r := range e.srv.Requests() {
		if r.Status == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed < 8 {
		t.Fatalf("%d requests failed during the outage; the worker did not keep retrying", failed)
	}

	e.srv.SetDown(false)
	e.clk.Advance(maxBackoff)
	e.drain(w)
	issues := e.srv.Issues()
	if len(issues) != 2 {
		t.Fatalf("%d issues after the outage, want one per finding", len(issues))
	}
	byFinding := map[string]jirafake.Issue{}
	for _, is := range issues {
		for _, l := range is.Labels {
			if id, ok := strings.CutPrefix(l, "secops-finding-"); ok {
				if _, dup := byFinding[id]; dup {
					t.Fatalf("two tickets for %s", id)
				}
				byFinding[id] = is
			}
		}
	}
	if is := byFinding[first.ID]; is.Status != "Done" || len(is.Comments) != 2 {
		t.Fatalf("first ticket %s with %d comments, want Done with ack and resolve comments", is.Status, len(is.Comments))
	}
	if is := byFinding[second.ID]; is.Status != "To Do" || is.Key != "PAY-2" {
		t.Fatalf("second ticket %s %s, want PAY-2 To Do", is.Key, is.Status)
	}
	if d := e.depth(); d != 0 {
		t.Fatalf("outbox depth = %d, want 0", d)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "Jira is unavailable") || !strings.Contains(logs, "delivery failed; will retry") {
		t.Fatalf("the outage was not logged:\n%s", e.logs)
	}
}

// A rate limit is honoured: the item waits for Jira's Retry-After, not the
// (shorter) backoff of a first failure.
func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, jirafake.Cloud)
	w := e.worker("replica-1")
	e.raise(storyOne())
	e.srv.FailNext(1, http.StatusTooManyRequests, 30*time.Second)
	if n := w.Drain(context.Background()); n != 1 {
		t.Fatalf("Drain claimed %d items, want the create", n)
	}
	e.clk.Advance(29 * time.Second)
	if n := w.Drain(context.Background()); n != 0 {
		t.Fatalf("Drain before Retry-After claimed %d items", n)
	}
	e.clk.Advance(time.Second)
	e.drain(w)
	if is := e.only(); is.Key != "PAY-1" {
		t.Fatalf("ticket %s, want PAY-1", is.Key)
	}
}

// A worker stopped between creating the ticket and recording it leaves no
// record; the next one (here another replica) finds the ticket by its
// label instead of creating a second.
func TestCrashBetweenCreateAndRecord(t *testing.T) {
	for _, flavor := range []string{jirafake.Cloud, jirafake.DataCenter} {
		t.Run(flavor, func(t *testing.T) {
			e := newEnv(t, flavor)
			f := storyOne()
			e.raise(f)
			ctx, stop := context.WithCancel(context.Background())
			e.srv.AfterCreate(func(jirafake.Issue) { stop() })
			e.worker("replica-1").Drain(ctx)
			e.srv.AfterCreate(nil)
			if n := len(e.srv.Issues()); n != 1 {
				t.Fatalf("%d issues after the interrupted creation, want 1", n)
			}
			if _, ok, _ := Lookup(context.Background(), e.st, f.ID); ok {
				t.Fatal("the ticket was recorded although the worker stopped before")
			}

			e.change(f.ID, finding.ChangeAcknowledged, "U0ALICE", "", ack)
			e.drain(e.worker("replica-2"))
			is := e.only()
			if rec, ok, _ := Lookup(context.Background(), e.st, f.ID); !ok || rec.Key != is.Key {
				t.Fatalf("recorded %+v, want %s", rec, is.Key)
			}
			if got := commentTexts(is); !slices.Equal(got, []string{"Acknowledged by Slack user U0ALICE."}) {
				t.Fatalf("comments = %q; the ack did not reach the recovered ticket", got)
			}
			creates, searches := 0, 0
			for _, r := range e.srv.Requests() {
				switch {
				case r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/issue"):
					creates++
				case strings.Contains(r.Path, "/search"):
					searches++
				}
			}
			if creates != 1 || searches != 1 {
				t.Fatalf("%d creates and %d searches, want 1 of each", creates, searches)
			}
			if !strings.Contains(e.logs.String(), "ticket found by label after an interrupted creation") {
				t.Fatalf("the recovery was not logged:\n%s", e.logs)
			}
		})
	}
}

// Comments wait for the ticket: with the create failing, the ack comment
// is retried, not sent elsewhere or dropped.
func TestCommentsWaitForTheTicket(t *testing.T) {
	e := newEnv(t, jirafake.Cloud)
	w := e.worker("replica-1")
	f := storyOne()
	e.raise(f)
	e.change(f.ID, finding.ChangeAcknowledged, "U0ALICE", "", ack)
	e.srv.FailNext(1, http.StatusBadGateway, 0) // the create
	if n := w.Drain(context.Background()); n != 2 {
		t.Fatalf("Drain claimed %d items, want create and comment", n)
	}
	if len(e.srv.Issues()) != 0 || e.depth() != 2 {
		t.Fatalf("after a failed create: %d issues, depth %d; want none created and both items kept", len(e.srv.Issues()), e.depth())
	}
	e.clk.Advance(maxBackoff)
	e.drain(w)
	if got := commentTexts(e.only()); !slices.Equal(got, []string{"Acknowledged by Slack user U0ALICE."}) {
		t.Fatalf("comments = %q", got)
	}
}

func TestReopenModes(t *testing.T) {
	reopen := func(f *finding.Finding) {
		f.Status = finding.StatusOpen
		f.OpenedAt = utc(time.November, 27, 9, 0, 0)
		f.ResolvedAt, f.ResolvedBy, f.ResolvedEvent, f.ResolveReason, f.OpenFor = time.Time{}, "", nil, "", 0
		f.AckedBy, f.AckedAt = "", time.Time{}
	}
	tests := []struct {
		mode       string
		wantKeys   []string
		wantStatus []string
	}{
		{ReopenTicket, []string{"PAY-1"}, []string{"To Do"}},
		{ReopenNew, []string{"PAY-1", "PAY-2"}, []string{"Done", "To Do"}},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			e := newEnv(t, jirafake.Cloud, func(c *Config) { c.ReopenMode = tc.mode })
			w := e.worker("replica-1")
			f := storyOne()
			e.raise(f)
			e.change(f.ID, finding.ChangeResolved, f.Actor.ARN, "", remediate)
			e.drain(w)
			e.change(f.ID, finding.ChangeReopened, "system", "reopened: PutBucketAcl by arn:aws:iam::111122223333:user/bob", reopen)
			e.drain(w)
			e.change(f.ID, finding.ChangeAcknowledged, "U0BOB", "", ack)
			e.drain(w)
			var keys, statuses []string
			for _, is := range e.srv.Issues() {
				keys = append(keys, is.Key)
				statuses = append(statuses, is.Status)
			}
			if !slices.Equal(keys, tc.wantKeys) || !slices.Equal(statuses, tc.wantStatus) {
				t.Fatalf("issues %v in %v, want %v in %v", keys, statuses, tc.wantKeys, tc.wantStatus)
			}
			last := e.srv.Issues()[len(keys)-1]
			if got := commentTexts(last); !slices.Contains(got, "Acknowledged by Slack user U0BOB.") {
				t.Fatalf("comments of %s = %q; the ack of the new period belongs here", last.Key, got)
			}
			if tc.mode == ReopenTicket {
				if got := commentTexts(last); !slices.Contains(got, "Reopened: exposed again (PutBucketAcl by arn:aws:iam::111122223333:user/bob) at 2026-11-27 09:00:00 UTC.") {
					t.Fatalf("comments = %q, want the reopening explained", got)
				}
			}
		})
	}
}

// The token must never reach the logs, nor the errors kept on outbox
// items, whatever Jira answers.
func TestTokenNeverLeaks(t *testing.T) {
	e := newEnv(t, jirafake.Cloud)
	w := e.worker("replica-1")
	e.raise(storyOne())
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadRequest} {
		e.srv.FailNext(1, status, time.Second)
		w.Drain(context.Background())
		e.clk.Advance(maxBackoff)
	}
	// A connection failure, too.
	down, err := jira.New(jira.Config{Flavor: jira.Cloud, BaseURL: "http://127.0.0.1:1", Email: email, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	e.workerWith(down, "replica-2").Drain(context.Background())
	e.clk.Advance(maxBackoff)
	items, err := e.st.ClaimKinds(context.Background(), "inspector", []string{KindPrefix}, 10, time.Minute)
	if err != nil || len(items) != 1 || items[0].LastError == "" {
		t.Fatalf("items = %+v, %v; want the create with its last error", items, err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "jira.api_token") || !strings.Contains(logs, "unreachable") {
		t.Fatalf("the failures were not logged with the setting to fix:\n%s", logs)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(email + ":" + token))
	for _, secret := range []string{token, basic, "s3cr3t"} {
		if strings.Contains(logs, secret) || strings.Contains(items[0].LastError, secret) {
			t.Fatalf("%q leaked:\n%s\n%s", secret, logs, items[0].LastError)
		}
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		setup    func(e *env) *jira.Client
		projects []string
		want     []string // substrings; none means no error
	}{
		{"all good", nil, []string{"PAY", "DATA"}, nil},
		{"unknown project", nil, []string{"PAY", "NOPE"}, []string{"jira project NOPE", "does not exist"}},
		{"token rejected", func(e *env) *jira.Client {
			e.srv.FailNext(1, http.StatusUnauthorized, 0)
			return e.client
		}, nil, []string{"jira.api_token rejected (401)"}},
		{"unreachable", func(e *env) *jira.Client {
			c, _ := jira.New(jira.Config{Flavor: jira.Cloud, BaseURL: "http://127.0.0.1:1", Email: email, Token: token})
			return c
		}, nil, []string{"jira.base_url unreachable"}},
		{"wrong flavour", func(e *env) *jira.Client {
			c, _ := jira.New(jira.Config{Flavor: jira.DataCenter, BaseURL: e.srv.URL, Token: token})
			return c
		}, nil, []string{"jira.api_token rejected (401)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jirafake.Cloud)
			client := e.client
			if tc.setup != nil {
				client = tc.setup(e)
			}
			err := NewHandler(e.st, client, e.cfg, zerolog.Nop()).Check(ctx, tc.projects...)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %q, lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("Check error contains the token")
			}
		})
	}
}

// The description is a payload reviewed like code: golden files for both
// flavours.
func TestDescriptionGolden(t *testing.T) {
	f := storyOne()
	d := Describe(f, "https://acme.slack.com/archives/C0SECOPS/p1764166329000100")
	adf, err := json.MarshalIndent(jira.ADF(d), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		got  []byte
	}{
		{"description.cloud.golden.json", append(adf, '\n')},
		{"description.datacenter.golden.txt", []byte(jira.Wiki(d) + "\n")},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tc.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Fatalf("%s differs (run with -update after review):\n%s", tc.file, tc.got)
			}
		})
	}
}

// With LinkSecOps, high and critical tickets in a team's project carry the
// label SecOps' board filters on; SecOps' own tickets and lower severities
// do not.
func TestLinkSecOpsLabel(t *testing.T) {
	tests := []struct {
		name     string
		route    string
		severity finding.Severity
		want     bool
	}{
		{"high in a team project", "jira:PAY", finding.SeverityHigh, true},
		{"critical in a team project", "jira:DATA", finding.SeverityCritical, true},
		{"medium in a team project", "jira:PAY", finding.SeverityMedium, false},
		{"high in SecOps' project", "jira:SEC", finding.SeverityHigh, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jirafake.Cloud, func(c *Config) { c.LinkSecOps = true })
			f := storyOne()
			f.Routes, f.Severity = []string{tc.route}, tc.severity
			e.raise(f)
			e.drain(e.worker("replica-1"))
			is := e.only()
			if got := slices.Contains(is.Labels, ReviewLabel); got != tc.want {
				t.Fatalf("labels of %s = %q; %s present = %v, want %v", is.Key, is.Labels, ReviewLabel, got, tc.want)
			}
		})
	}
}
