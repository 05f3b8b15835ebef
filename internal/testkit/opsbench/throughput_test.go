package opsbench

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // counts a SQLite store's events while the bot writes it

	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
)

// TestThroughput preloads SECOPS_OPSBENCH_EVENTS benign events (default
// 100,000) into the queue, starts SECOPS_OPSBENCH_REPLICAS replicas (a
// comma-separated list of counts, default "1,2", each a run of its own on a
// fresh schema) and times them until every event is stored and the queue
// is empty. The store is PostgreSQL (SECOPS_TEST_POSTGRES_DSN), or SQLite
// with SECOPS_OPSBENCH_DRIVER=sqlite (one replica only).
func TestThroughput(t *testing.T) {
	heavy(t)
	n := envInt(t, "SECOPS_OPSBENCH_EVENTS", 100_000)
	driver := os.Getenv("SECOPS_OPSBENCH_DRIVER")
	if driver == "" {
		driver = "postgres"
	}
	counts := os.Getenv("SECOPS_OPSBENCH_REPLICAS")
	if counts == "" {
		counts = "1,2"
	}
	for _, c := range strings.Split(counts, ",") {
		replicas, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || replicas < 1 {
			t.Fatalf("SECOPS_OPSBENCH_REPLICAS=%q: want counts like 1,2", counts)
		}
		t.Run(fmt.Sprintf("%s-%d-replicas", driver, replicas), func(t *testing.T) {
			throughput(t, driver, replicas, n)
		})
	}
}

func throughput(t *testing.T, driver string, replicas, n int) {
	var dsn string
	var count func(ctx context.Context) (int, error)
	switch driver {
	case "postgres":
		dsn = freshSchema(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		count = func(ctx context.Context) (int, error) {
			var c int
			err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&c)
			if err != nil && strings.Contains(err.Error(), "does not exist") {
				return 0, nil // not migrated yet
			}
			return c, err
		}
	case "sqlite":
		if replicas != 1 {
			t.Skip("SQLite serves one replica")
		}
		dsn = filepath.Join(t.TempDir(), "secops-bot.db")
		count = func(ctx context.Context) (int, error) {
			if _, err := os.Stat(dsn); err != nil {
				return 0, nil
			}
			db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
			if err != nil {
				return 0, err
			}
			defer db.Close()
			var c int
			err = db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&c)
			if err != nil && strings.Contains(err.Error(), "no such table") {
				return 0, nil
			}
			return c, err
		}
	default:
		t.Fatalf("SECOPS_OPSBENCH_DRIVER=%q: want postgres or sqlite", driver)
	}

	sqsSrv := startSQS(t)
	queueURL := sqsSrv.CreateQueue(t, "secops-events", 30)
	ws := newWorkspace(t)
	config := writeConfig(t, ws.emu, queueURL, driver)
	bin := buildBot(t)

	// Preload, ten events a call from four senders.
	loadStart := time.Now()
	batches := make(chan []string, 16)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := sendBatch(context.Background(), sqsSrv.Client, queueURL, b); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(3, uint64(replicas)))
	at := time.Now().Add(-time.Duration(n) * time.Millisecond)
	for i := 0; i < n; i += 10 {
		b := make([]string, 0, 10)
		for j := i; j < min(i+10, n); j++ {
			b = append(b, benign(r, at.Add(time.Duration(j)*time.Millisecond)))
		}
		batches <- b
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("preload: %v", err)
	default:
	}
	t.Logf("preloaded %d events in %v", n, time.Since(loadStart).Round(time.Millisecond))

	var bots []*serveproc.Process
	started := time.Now()
	for i := range replicas {
		bots = append(bots, startReplica(t, bin, fmt.Sprintf("replica-%c", 'a'+i), config, botEnv(sqsSrv.Endpoint, dsn)))
	}
	var first time.Time
	ctx := context.Background()
	deadline := time.Now().Add(envDuration(t, "SECOPS_OPSBENCH_TIMEOUT", 30*time.Minute))
	stored := 0
	// A receive whose reply is lost keeps its messages hidden until their
	// visibility (30s) ends although the bot never got them (on a busy
	// machine the SDK and net/http could cut a reply; the SQS source now
	// sends request bodies from memory so that they do not); the longest
	// time without progress shows when a run was held up that way.
	var lastChange time.Time
	var longestStall time.Duration
	for {
		c, err := count(ctx)
		if err != nil {
			t.Fatalf("count stored events: %v", err)
		}
		if c > 0 && first.IsZero() {
			first = time.Now()
		}
		if c != stored {
			if !lastChange.IsZero() {
				longestStall = max(longestStall, time.Since(lastChange))
			}
			lastChange = time.Now()
		}
		stored = c
		if c >= n {
			break
		}
		for _, b := range bots {
			if !b.Alive() {
				t.Fatalf("%s exited:\n%s", b.Name(), b.Tail(4<<10))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events stored by the deadline", c, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	done := time.Now()
	depth := -1
	for time.Since(done) < 60*time.Second {
		if d, err := queueDepth(ctx, sqsSrv.Client, queueURL); err == nil {
			depth = d
			if d == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	emptied := time.Now()
	span := done.Sub(first)
	result(t, "throughput: %s, %d replica(s), %d events: %.0f events/s from the first stored event to the last (%v); %v from process start; queue empty %v after the last event was stored (depth %d); longest time without progress %v",
		driver, replicas, stored, float64(n)/span.Seconds(), span.Round(time.Millisecond), done.Sub(started).Round(time.Millisecond), emptied.Sub(done).Round(time.Millisecond), depth, longestStall.Round(100*time.Millisecond))
}
