package postgres

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/storetest"
)

// dsnEnv names the database the tests run against; scripts/test.sh sets it
// from scripts/start-postgres.sh.
const dsnEnv = "SECOPS_TEST_POSTGRES_DSN"

// freshSchema creates an empty schema of its own for t, dropped when t
// ends, and returns a DSN whose connections use it. Tests therefore never
// see each other's rows and may run in parallel on one database.
func freshSchema(t testing.TB) string {
	t.Helper()
	return serveproc.FreshSchema(t, dsnEnv, "test_")
}

// testDSN returns the test database's DSN, skipping t when there is none.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set; run `eval \"$(scripts/start-postgres.sh)\"` to start a test PostgreSQL", dsnEnv)
	}
	return dsn
}

func openAt(t testing.TB, dsn string, clk clock.Clock) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{Clock: clk, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	storetest.Run(t, func(t *testing.T, clk clock.Clock) store.Store {
		return openAt(t, freshSchema(t), clk)
	})
}

var testStart = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// replicas opens two stores on one fresh schema, as two bot processes
// would, sharing a clock.
func replicas(t *testing.T) (a, b *Store, clk *clock.Fake) {
	t.Helper()
	dsn := freshSchema(t)
	clk = clock.NewFake(testStart)
	return openAt(t, dsn, clk), openAt(t, dsn, clk), clk
}

func TestReplicasClaimEachItemOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, _ := replicas(t)
	var want []string
	for i := range 300 {
		k := fmt.Sprintf("post/%03d", i)
		want = append(want, k)
		if added, err := a.Enqueue(ctx, store.OutboxItem{Key: k, Kind: "slack.post"}); err != nil || !added {
			t.Fatalf("Enqueue(%s) = %v, %v", k, added, err)
		}
	}
	var (
		mu   sync.Mutex
		got  []string
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("replica-%d/worker-%d", w%2, w)
			for {
				items, err := s.Claim(ctx, owner, 4, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				if len(items) == 0 {
					return
				}
				for _, it := range items {
					if err := s.Complete(ctx, it.ID, owner); err != nil {
						errs <- fmt.Errorf("complete %s by its claimer: %w", it.Key, err)
						return
					}
				}
				mu.Lock()
				for _, it := range items {
					got = append(got, it.Key)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %d items (%d distinct), want each of %d exactly once", len(got), len(slices.Compact(slices.Clone(got))), len(want))
	}
	for _, s := range []*Store{a, b} {
		if d, err := s.OutboxDepth(ctx); err != nil || d != 0 {
			t.Fatalf("OutboxDepth = %d, %v; want 0", d, err)
		}
	}
}

func TestReplicasAppendOneAuditChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, _ := replicas(t)
	const perWorker, workers = 15, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: fmt.Sprintf("U%d", w), Action: "finding.ack", Target: fmt.Sprint(i), Result: "ok"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAudit: %v", err)
	}
	for name, s := range map[string]*Store{"a": a, "b": b} {
		if broken, err := s.VerifyAudit(ctx); err != nil || broken != 0 {
			t.Fatalf("VerifyAudit on %s = %d, %v; want an intact chain", name, broken, err)
		}
	}
	recs, err := b.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != perWorker*workers || recs[0].Seq != perWorker*workers {
		t.Fatalf("%d records, head seq %d; want %d of each", len(recs), recs[0].Seq, perWorker*workers)
	}
}

// syncBuffer lets two stores log into one buffer concurrently.
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

func TestRacingOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := freshSchema(t)
	files, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn, Options{Clock: clock.NewFake(testStart), Logger: zerolog.New(&logs)})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	if got := strings.Count(logs.String(), "applied store migration"); got != len(files) {
		t.Fatalf("%d migrations applied by %d racing opens, want %d:\n%s", got, n, len(files), logs.String())
	}
	rows, err := stores[0].pool.Query(ctx, "SELECT version FROM schema_version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range files {
		want = append(want, m.version)
	}
	if !slices.Equal(versions, want) {
		t.Fatalf("schema_version = %v, want %v", versions, want)
	}
	// Every store works on the one schema.
	for i, s := range stores {
		if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "system", Action: "open", Target: fmt.Sprint(i), Result: "ok"}); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
}

func TestVerifyAuditFindsTampering(t *testing.T) {
	t.Parallel()
	testDSN(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string
		want   int64
	}{
		{"intact", "", 0},
		{"content changed", "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3", 3},
		{"record removed from the middle", "DELETE FROM audit WHERE seq = 2", 3},
		{"records cut from the end", "DELETE FROM audit WHERE seq >= 4", 4},
		{"last record replaced", "UPDATE audit SET result = 'refused', hash = 'x' WHERE seq = 5", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openAt(t, freshSchema(t), clock.NewFake(testStart))
			for i := range 5 {
				if _, err := s.AppendAudit(ctx, store.AuditRecord{Actor: "U1", Action: "finding.ack", Target: fmt.Sprint(i), Result: "ok"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tamper != "" {
				if _, err := s.pool.Exec(ctx, tc.tamper); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.VerifyAudit(ctx)
			if err != nil || got != tc.want {
				t.Fatalf("VerifyAudit = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// Hostile input must not fail the batch it arrives in: PostgreSQL text
// cannot hold NUL or invalid UTF-8, so such values are stored with the bad
// bytes replaced and the rest of the batch is unaffected.
func TestEventsWithUnstorableText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openAt(t, freshSchema(t), clock.NewFake(testStart))
	events := []store.Event{
		{EventID: "bad-agent", Time: testStart, ActorARN: "arn:aws:iam::111111111111:user/mallory", UserAgent: "curl\x00/8\xff"},
		{EventID: "fine", Time: testStart, ActorARN: "arn:aws:iam::111111111111:user/mallory", UserAgent: "curl/8"},
	}
	isNew, err := s.AddEvents(ctx, events)
	if err != nil || !slices.Equal(isNew, []bool{true, true}) {
		t.Fatalf("AddEvents = %v, %v; want both stored", isNew, err)
	}
	got, err := s.QueryEvents(ctx, store.EventQuery{ActorARN: "arn:aws:iam::111111111111:user/mallory"})
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]string{}
	for _, e := range got {
		agents[e.EventID] = e.UserAgent
	}
	want := map[string]string{"bad-agent": "curl\uFFFD/8\uFFFD", "fine": "curl/8"}
	if len(agents) != 2 || agents["bad-agent"] != want["bad-agent"] || agents["fine"] != want["fine"] {
		t.Fatalf("stored agents = %q, want %q", agents, want)
	}
}

// Two replicas adding overlapping batches at once (a redelivery racing the
// original) store each event once and agree on which call stored it.
func TestReplicasAddOverlappingEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, _ := replicas(t)
	events := synthEvents(2000, 0)
	rev := slices.Clone(events)
	slices.Reverse(rev)
	var newA, newB []bool
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); newA, errA = a.AddEvents(ctx, events) }()
	go func() { defer wg.Done(); newB, errB = b.AddEvents(ctx, rev) }()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("AddEvents: %v, %v", errA, errB)
	}
	for i := range events {
		if newA[i] == newB[len(events)-1-i] {
			t.Fatalf("event %s: new to replica a = %v and to replica b = %v; want exactly one", events[i].EventID, newA[i], newB[len(events)-1-i])
		}
	}
	all, err := b.QueryEvents(ctx, store.EventQuery{})
	if err != nil || len(all) != len(events) {
		t.Fatalf("stored %d events (%v), want %d", len(all), err, len(events))
	}
}

// synthEvents makes n distinct events starting at offset, from a few dozen
// actors with a realistic spread of values to intern.
func synthEvents(n, offset int) []store.Event {
	apis := []struct{ source, name string }{
		{"s3.amazonaws.com", "GetObject"}, {"s3.amazonaws.com", "PutBucketPolicy"}, {"sts.amazonaws.com", "AssumeRole"},
		{"ec2.amazonaws.com", "DescribeInstances"}, {"rds.amazonaws.com", "ModifyDBSnapshotAttribute"}, {"iam.amazonaws.com", "GetRole"},
	}
	out := make([]store.Event, n)
	for j := range out {
		i := offset + j
		actor := i % 40
		api := apis[i%len(apis)]
		out[j] = store.Event{
			EventID:     fmt.Sprintf("%08x-0000-4000-8000-%012x", i/7, i),
			Time:        testStart.Add(-90 * 24 * time.Hour).Add(time.Duration(i) * 7 * time.Second),
			Account:     fmt.Sprintf("%012d", 111111111111*(1+actor%5)),
			Region:      []string{"us-east-1", "eu-west-1", "ap-southeast-2"}[i%3],
			ActorARN:    fmt.Sprintf("arn:aws:iam::111111111111:role/app-%d", actor),
			ActorType:   "AssumedRole",
			AccessKeyID: fmt.Sprintf("ASIA%016d", actor*1000+i/5000),
			EventSource: api.source,
			EventName:   api.name,
			SourceIP:    fmt.Sprintf("198.51.100.%d", (actor*3+i%3)%256),
			UserAgent:   fmt.Sprintf("aws-sdk-go-v2/1.%d.0", actor%4),
			ResourceARN: fmt.Sprintf("arn:aws:s3:::data-%d", i%500),
			ReadOnly:    i%4 != 0,
		}
	}
	return out
}

// BenchmarkAddEvents ingests b.N synthetic events in batches of 1,000 into
// a fresh schema and reports the rate and the on-disk size per event
// (indexes and dictionaries included):
//
//	go test ./store/postgres -run '^$' -bench AddEvents -benchtime 100000x
func BenchmarkAddEvents(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, freshSchema(b), clock.NewFake(testStart))
	const batch = 1000
	var spent time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		events := synthEvents(min(batch, b.N-done), done)
		b.StartTimer()
		start := time.Now()
		if _, err := s.AddEvents(ctx, events); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/spent.Seconds(), "events/s")
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND (c.relname = 'events' OR c.relname LIKE 'dict\_%')`).Scan(&size)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(b.N), "bytes/event")
}

// The pool holds enough connections for a replica's concurrent work
// unless the DSN sizes it.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	sep := "&"
	if !strings.Contains(dsn, "://") {
		sep = " "
	}
	tests := []struct {
		name string
		dsn  string
		want int32
	}{
		{"default", dsn, defaultMaxConns},
		{"pool_max_conns in the DSN", dsn + sep + "pool_max_conns=3", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openAt(t, tc.dsn, clock.Real{})
			if got := s.pool.Config().MaxConns; got != tc.want {
				t.Errorf("pool size %d, want %d", got, tc.want)
			}
		})
	}
}
