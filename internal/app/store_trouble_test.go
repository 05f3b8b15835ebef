package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/testkit/cttest"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/postgres"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// The store-trouble tests run the whole bot (Serve, in process) against
// goaws for SQS and the Slack emulator, take its store away for a while
// (an exclusive lock on the SQLite file, or every PostgreSQL connection cut
// and new ones refused) while events keep arriving, give it back, and
// check what an operator would see: nothing acknowledged before it was
// stored, every event stored in the end, every planted exposure posted
// exactly once per channel, no crash, and recovery without a restart
// within the retry backoff.
const (
	outageLength     = 10 * time.Second
	outageBackoff    = time.Second
	outageMaxBackoff = 4 * time.Second
	// outageRecovery bounds the time from the store coming back to every
	// event stored and every exposure posted: the longest backoff, a
	// SQLite busy wait that started just before, and the pipeline's own
	// work, with room for a machine busy with other tests. Without a
	// backoff the queue's visibility (outageVisibility, longer still)
	// would decide, so a recovery that waits for it still fails.
	outageRecovery   = 60 * time.Second
	outageVisibility = 120
	outageAccount    = "111122223333"
	outageRegion     = "eu-west-1"
	outageAccessKey  = "AKIDSECOPSTROUBLE001"
	outageSecretKey  = "store-trouble-secret"
)

// storeView is the test's own connection to the bot's store, to see what
// is stored without going through the bot. For PostgreSQL it bypasses the
// cut.
type storeView interface {
	HasEvents(ctx context.Context, events []store.Event) ([]bool, error)
	FileDone(ctx context.Context, path string, size int64, mtime time.Time) (bool, error)
	OutboxDepth(ctx context.Context) (int, error)
	Close() error
}

// outageEnv is one bot and what surrounds it.
type outageEnv struct {
	*slackEnv
	aws     *aws.Config
	sqs     *testserver.SQS
	queue   string
	spy     *sqsSpy
	view    storeView
	logs    *outageLog
	readyz  string
	viaSQS  bool
	sent    []string // SQS message bodies
	dropped int      // files written
}

// outageLog collects the bot's JSON log for the test to read.
type outageLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *outageLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *outageLog) count(sub string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), sub)
}

func newOutageEnv(t *testing.T, viaSQS bool, pgDSN string) *outageEnv {
	t.Helper()
	e := &outageEnv{slackEnv: newSlackEnv(t), viaSQS: viaSQS, logs: &outageLog{}}
	port := testserver.FreePort(t)
	e.cfg.Metrics.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	e.readyz = fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	e.cfg.Ingest.RetryBackoff, e.cfg.Ingest.MaxRetryBackoff = outageBackoff, outageMaxBackoff
	e.cfg.AWS.Region = outageRegion
	if pgDSN != "" {
		e.cfg.Store.Driver, e.cfg.Store.DSN = "postgres", pgDSN
	}
	if viaSQS {
		awsFor := func(endpoint string) aws.Config {
			return aws.Config{
				Region:       outageRegion,
				Credentials:  credentials.NewStaticCredentialsProvider(outageAccessKey, outageSecretKey, ""),
				BaseEndpoint: aws.String(endpoint),
			}
		}
		e.sqs = testserver.StartSQS(t, awsFor)
		e.queue = e.sqs.CreateQueue(t, "cloudtrail-events", outageVisibility)
		e.spy = newSQSSpy(t, e.sqs.Endpoint, e)
		c := awsFor(e.spy.srv.URL)
		e.aws = &c
		e.cfg.Ingest.Dir = ""
		e.cfg.Ingest.SQSQueueURL = e.queue
	}
	return e
}

// start runs Serve with the test's AWS endpoint and a log the test reads.
func (e *outageEnv) start(t *testing.T) {
	t.Helper()
	var out io.Writer = e.logs
	if os.Getenv("SECOPS_TEST_LOG") != "" {
		out = io.MultiWriter(e.logs, zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true})
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() {
		e.done <- Serve(ctx, ServeOptions{Config: e.cfg, Logger: zerolog.New(out).With().Timestamp().Logger(), AWS: e.aws, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-e.done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not become ready")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := e.emu.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
}

// running fails the test if Serve returned.
func (e *outageEnv) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-e.done:
		e.done <- err
		t.Fatalf("serve stopped during the outage: %v", err)
	default:
	}
}

// deliver hands events to the bot the way the environment's source takes
// them: SQS messages or files in the watched directory.
func (e *outageEnv) deliver(t *testing.T, bodies []string) {
	t.Helper()
	for _, b := range bodies {
		if e.viaSQS {
			e.sqs.Send(t, e.queue, b)
			e.sent = append(e.sent, b)
			continue
		}
		e.dropped++
		writeFile(t, filepath.Join(e.cfg.Ingest.Dir, fmt.Sprintf("event-%04d.json", e.dropped)), b)
	}
}

// unacknowledged counts what the source has not yet acknowledged: messages
// it has not asked SQS to delete (as the spy saw), or files not marked
// done.
func (e *outageEnv) unacknowledged(t *testing.T) int {
	t.Helper()
	if e.viaSQS {
		return e.spy.undeleted(e.sent)
	}
	entries, err := os.ReadDir(e.cfg.Ingest.Dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range entries {
		info, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		done, err := e.view.FileDone(context.Background(), filepath.Join(e.cfg.Ingest.Dir, de.Name()), info.Size(), info.ModTime().UTC().Truncate(time.Microsecond))
		if err != nil {
			t.Fatalf("read the file ledger: %v", err)
		}
		if !done {
			n++
		}
	}
	return n
}

// storedCount counts how many of evs the store holds.
func (e *outageEnv) storedCount(t *testing.T, evs []store.Event) int {
	t.Helper()
	got, err := e.view.HasEvents(context.Background(), evs)
	if err != nil {
		t.Fatalf("look up events: %v", err)
	}
	n := 0
	for _, ok := range got {
		if ok {
			n++
		}
	}
	return n
}

// postedOnce reports whether every resource has exactly one top-level
// message in #secops and one in #team-payments, and describes the first
// that has not.
func (e *outageEnv) postedOnce(resources []string) (bool, string) {
	for _, ch := range []struct{ name, id string }{{"#secops", e.secops}, {"#team-payments", e.payments}} {
		msgs := topLevel(e.emu.Messages(ch.id))
		for _, r := range resources {
			n := 0
			for _, m := range msgs {
				if strings.Contains(m.Text+string(m.Blocks), r) {
					n++
				}
			}
			if n != 1 {
				return false, fmt.Sprintf("%s has %d messages for %s", ch.name, n, r)
			}
		}
	}
	return true, ""
}

// outageProbe is what /readyz answered at one moment.
type outageProbe struct {
	at     time.Time
	status int
	body   string
}

// probeOnce asks /readyz once.
func (e *outageEnv) probeOnce() outageProbe {
	r := outageProbe{at: time.Now()}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(e.readyz)
	if err != nil {
		r.body = err.Error()
		return r
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.status, r.body = resp.StatusCode, strings.TrimSpace(string(b))
	return r
}

// probeReady polls /readyz until stop is closed.
func (e *outageEnv) probeReady(stop <-chan struct{}) <-chan []outageProbe {
	out := make(chan []outageProbe, 1)
	go func() {
		var seen []outageProbe
		for {
			seen = append(seen, e.probeOnce())
			select {
			case <-stop:
				out <- seen
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return out
}

// outage is how a test takes the store away and gives it back.
type outage struct {
	cut, restore func(t *testing.T)
	// storeNotReady says /readyz must report the store while it is away.
	storeNotReady bool
}

// runOutage is the scenario every store-trouble test shares.
func runOutage(t *testing.T, e *outageEnv, o outage) {
	t.Helper()
	r := mrand.New(mrand.NewPCG(9, 2026))
	now := time.Now().UTC().Truncate(time.Second)
	before, beforeEvents, beforeRes := outageEvents(r, "before", 12, 2, now.Add(-time.Hour))
	during, duringEvents, duringRes := outageEvents(r, "during", 24, 4, now.Add(-30*time.Minute))
	all := append(append([]store.Event(nil), beforeEvents...), duringEvents...)
	if e.spy != nil {
		for i, b := range before {
			e.spy.expect(b, beforeEvents[i])
		}
		for i, b := range during {
			e.spy.expect(b, duringEvents[i])
		}
	}

	// A healthy start: everything sent is stored, acknowledged and posted.
	e.deliver(t, before)
	e.settle(t, "the first events stored, acknowledged and posted", 30*time.Second, func() (bool, string) {
		if n := e.storedCount(t, beforeEvents); n != len(beforeEvents) {
			return false, fmt.Sprintf("%d of %d events stored", n, len(beforeEvents))
		}
		if n := e.unacknowledged(t); n != 0 {
			return false, fmt.Sprintf("%d not acknowledged", n)
		}
		return e.postedOnce(beforeRes)
	})

	// The outage: events keep arriving.
	o.cut(t)
	cutAt := time.Now()
	stopProbe := make(chan struct{})
	probes := e.probeReady(stopProbe)
	for i := 0; i < len(during); i += 6 {
		e.deliver(t, during[i:min(i+6, len(during))])
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Until(cutAt.Add(outageLength)))
	e.running(t)
	if n := e.storedCount(t, duringEvents); n != 0 {
		t.Fatalf("%d events stored while the store was away; the outage did not take", n)
	}
	// Nothing that could not be stored was acknowledged.
	if n := e.unacknowledged(t); n != len(during) {
		t.Errorf("%d of the %d %s sent during the outage are still unacknowledged, want all", n, len(during), e.unit())
	}

	o.restore(t)
	restoredAt := time.Now()
	e.settle(t, "recovery: every event stored and acknowledged, every exposure posted", outageRecovery, func() (bool, string) {
		if n := e.storedCount(t, all); n != len(all) {
			return false, fmt.Sprintf("%d of %d events stored", n, len(all))
		}
		if n := e.unacknowledged(t); n != 0 {
			return false, fmt.Sprintf("%d not acknowledged", n)
		}
		return e.postedOnce(append(beforeRes, duringRes...))
	})
	recovery := time.Since(restoredAt)
	// Whatever the outage left in the outbox is delivered, and no message
	// is posted twice on the way.
	e.settle(t, "the outbox drained", 90*time.Second, func() (bool, string) {
		n, err := e.view.OutboxDepth(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return n == 0, fmt.Sprintf("%d outbox items pending", n)
	})
	if ok, why := e.postedOnce(append(beforeRes, duringRes...)); !ok {
		t.Errorf("after the outbox drained: %s", why)
	}
	close(stopProbe)
	seen := <-probes
	e.running(t)

	// /readyz: ready again once the store is back.
	var away []outageProbe
	for _, p := range seen {
		if p.at.Before(restoredAt) {
			away = append(away, p)
		}
	}
	e.settle(t, "/readyz to report ready again", 15*time.Second, func() (bool, string) {
		p := e.probeOnce()
		return p.status == http.StatusOK, fmt.Sprintf("%d %s", p.status, p.body)
	})
	notReady := 0
	for _, p := range away {
		if p.status != http.StatusOK && strings.Contains(p.body, "store") {
			notReady++
		}
	}
	if o.storeNotReady && notReady == 0 {
		t.Errorf("/readyz never reported the store during the outage: %+v", away)
	}

	if e.spy != nil {
		e.spy.check(t, cutAt, restoredAt)
		if n := e.sqs.Depth(t, e.queue, true); n != 0 {
			t.Errorf("%d messages left on the queue after recovery", n)
		}
	}
	t.Logf("outage %v: %d %s arrived meanwhile; recovered %v after the store came back; /readyz not ready for the store in %d of %d probes during the outage; %d retry warnings logged",
		outageLength, len(during), e.unit(), recovery.Round(100*time.Millisecond), notReady, len(away),
		e.logs.count("message left on the queue for retry")+e.logs.count("ingest file failed; will retry")+e.logs.count("scan directory failed; will retry"))
	t.Logf("events_in_total after the run: %s (events stored: %d)", e.metric("secops_bot_events_in_total"), len(all))
	if e.logs.count(`"level":"panic"`) > 0 || e.logs.count("panic:") > 0 {
		t.Errorf("a panic was logged")
	}
}

// metric returns the sample lines of one metric from /metrics.
func (e *outageEnv) metric(name string) string {
	resp, err := http.Get(strings.TrimSuffix(e.readyz, "/readyz") + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

func (e *outageEnv) unit() string {
	if e.viaSQS {
		return "messages"
	}
	return "files"
}

func (e *outageEnv) settle(t *testing.T, what string, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %s", within, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockSQLite holds BEGIN EXCLUSIVE on the bot's database from another
// connection, as a backup tool or an operator's sqlite3 shell would.
type sqliteLock struct {
	db   *sql.DB
	conn *sql.Conn
}

func (l *sqliteLock) cut(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("lock the database: %v", err)
	}
	l.db, l.conn = db, conn
}

func (l *sqliteLock) restore(t *testing.T) {
	t.Helper()
	if _, err := l.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Errorf("unlock the database: %v", err)
	}
	l.conn.Close()
	l.db.Close()
}

func sqliteOutage(e *outageEnv) outage {
	l := &sqliteLock{}
	// In WAL mode an exclusive transaction blocks writers only; readers,
	// /readyz's probe among them, carry on.
	return outage{cut: func(t *testing.T) { l.cut(t, e.cfg.Store.DSN) }, restore: l.restore, storeNotReady: true}
}

func openSQLiteView(t *testing.T, path string) storeView {
	t.Helper()
	v, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// sources are the two ways events reach the bot in these tests.
var outageSources = []struct {
	name   string
	viaSQS bool
}{{"SQS", true}, {"Dir", false}}

func TestStoreTroubleSQLiteLocked(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("holds the store locked for 10s")
	}
	for _, src := range outageSources {
		t.Run(src.name, func(t *testing.T) {
			e := newOutageEnv(t, src.viaSQS, "")
			e.start(t)
			defer e.stop(t)
			e.view = openSQLiteView(t, e.cfg.Store.DSN)
			runOutage(t, e, sqliteOutage(e))
		})
	}
}

// TestStoreTroublePostgres puts a proxy between the bot and PostgreSQL and
// takes the database away through it in two ways:
//
//   - unreachable: every connection is closed and new ones are closed at
//     once, as a host that went away (or a failover in progress) looks;
//   - vanished: nothing is closed and nothing answers (open connections
//     stay silent for good, new ones are accepted and never answered), then
//     the database comes back at the same address on fresh connections, as
//     a host lost without a word and a failover to a new primary look.
//     Without a bound on each store commit, the messages in flight would
//     wait on their dead connections, kept invisible by their heartbeats,
//     for as long as TCP takes to give up (many minutes). The bot's store
//     and network timeouts are shortened to 2s so that the test need not
//     wait the production 30s.
//
// It does not run in parallel with the other tests: with commits bounded
// by 2s, a bot starved of CPU by its neighbours fails commits that would
// have succeeded, backs off again and misses the recovery bound.
func TestStoreTroublePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("takes the store away for 10s")
	}
	faults := []struct {
		name string
		take func(e *outageEnv, p *tcpCutter) outage
	}{
		{"Unreachable", func(_ *outageEnv, p *tcpCutter) outage {
			return outage{cut: p.cutOff, restore: p.reopen, storeNotReady: true}
		}},
		{"Vanished", func(e *outageEnv, p *tcpCutter) outage {
			e.cfg.Ingest.StoreTimeout = 2 * time.Second
			e.cfg.Store.NetworkTimeout = 2 * time.Second
			return outage{cut: p.vanish, restore: p.reopen, storeNotReady: true}
		}},
	}
	for _, fault := range faults {
		for _, src := range outageSources {
			t.Run(fault.name+src.name, func(t *testing.T) {
				dsn, p, direct := pgProxy(t)
				e := newOutageEnv(t, src.viaSQS, dsn)
				o := fault.take(e, p)
				e.start(t)
				defer e.stop(t)
				e.view = openPGView(t, direct)
				runOutage(t, e, o)
			})
		}
	}
}

// pgProxy puts a proxy between the bot and a fresh PostgreSQL schema and
// returns the bot's DSN, the proxy, and the direct DSN for the view.
func pgProxy(t *testing.T) (string, *tcpCutter, string) {
	t.Helper()
	direct := outageSchema(t)
	u, err := url.Parse(direct)
	if err != nil || u.Host == "" {
		t.Skipf("SECOPS_TEST_POSTGRES_DSN must be a postgres:// URL for the proxy: %v", err)
	}
	p := newTCPCutter(t, u.Host)
	u.Host = p.addr()
	return u.String(), p, direct
}

func openPGView(t *testing.T, dsn string) storeView {
	t.Helper()
	v, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// outageSchema creates an empty schema for the test, dropped when it
// ends, and returns a DSN whose connections use it; it skips the test when
// no PostgreSQL is configured, or when its DSN is not a URL the proxy can
// rewrite.
func outageSchema(t *testing.T) string {
	t.Helper()
	if dsn := os.Getenv("SECOPS_TEST_POSTGRES_DSN"); dsn != "" && !strings.Contains(dsn, "://") {
		t.Skipf("SECOPS_TEST_POSTGRES_DSN must be a postgres:// URL for the proxy")
	}
	return serveproc.FreshSchema(t, "SECOPS_TEST_POSTGRES_DSN", "trouble_")
}

// tcpCutter forwards TCP connections to upstream. Cut off, it closes every
// open connection and closes new ones at once, as a database host that
// went away (or a failover in progress) looks to a client. Vanished, it
// closes nothing and answers nothing: open connections go silent for good
// and new ones are accepted and stay silent until reopen, as when a
// host loses power or a partition drops packets and the database comes
// back elsewhere (a failover to a new primary).
type tcpCutter struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cut      bool
	vanished bool
	conns    map[net.Conn]*tcpLink
}

// tcpLink is one forwarded connection; silent ones drop every byte.
type tcpLink struct{ silent atomic.Bool }

func newTCPCutter(t *testing.T, upstream string) *tcpCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpCutter{ln: ln, upstream: upstream, conns: map[net.Conn]*tcpLink{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cutOff(t)
	})
	return p
}

func (p *tcpCutter) addr() string { return p.ln.Addr().String() }

func (p *tcpCutter) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &tcpLink{}
		p.mu.Lock()
		refuse, vanished := p.cut, p.vanished
		if vanished {
			l.silent.Store(true)
			p.conns[c] = l
		}
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		if vanished {
			go p.pipe(io.Discard, c, l)
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = l, l
		p.mu.Unlock()
		go p.pipe(c, up, l)
		go p.pipe(up, c, l)
	}
}

// pipe copies src to dst until either fails, dropping what a silent link
// carries.
func (p *tcpCutter) pipe(dst io.Writer, src net.Conn, l *tcpLink) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.silent.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	p.mu.Lock()
	delete(p.conns, src)
	if c, ok := dst.(net.Conn); ok {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *tcpCutter) cutOff(*testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpCutter) vanish(*testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.vanished = true
	for _, l := range p.conns {
		l.silent.Store(true)
	}
}

// reopen forwards new connections again; connections silenced by vanish
// stay silent until their client gives up on them.
func (p *tcpCutter) reopen(*testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut, p.vanished = false, false
}

// sqsSpy stands between the bot and goaws and watches the two calls that
// matter: which messages were received when, and whether every message
// deleted had its event stored at the moment of the delete.
type sqsSpy struct {
	srv      *httptest.Server
	upstream string
	env      *outageEnv
	client   *http.Client

	mu       sync.Mutex
	events   map[string]store.Event // message body → its event
	receipts map[string]string      // receipt handle → message body
	receives map[string][]time.Time // message body → when it was received
	deletes  []time.Time
	deleted  map[string]bool // message bodies the bot asked to delete
	early    []string        // deletes of messages whose event was not stored
}

func newSQSSpy(t *testing.T, upstream string, env *outageEnv) *sqsSpy {
	t.Helper()
	s := &sqsSpy{
		upstream: upstream, env: env, client: &http.Client{Timeout: 30 * time.Second},
		events: map[string]store.Event{}, receipts: map[string]string{}, receives: map[string][]time.Time{}, deleted: map[string]bool{},
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// undeleted counts the bodies the bot has not asked to delete.
func (s *sqsSpy) undeleted(bodies []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range bodies {
		if !s.deleted[b] {
			n++
		}
	}
	return n
}

func (s *sqsSpy) expect(body string, ev store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[body] = ev
}

func (s *sqsSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	switch op {
	case "DeleteMessageBatch":
		var in struct {
			Entries []struct{ ReceiptHandle string }
		}
		_ = json.Unmarshal(body, &in)
		var handles []string
		for _, en := range in.Entries {
			handles = append(handles, en.ReceiptHandle)
		}
		s.deleting(r.Context(), handles)
	case "DeleteMessage":
		var in struct{ ReceiptHandle string }
		_ = json.Unmarshal(body, &in)
		s.deleting(r.Context(), []string{in.ReceiptHandle})
	}
	resp, out, err := testserver.Relay(s.client, r, s.upstream, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if op == "ReceiveMessage" && resp.StatusCode == http.StatusOK {
		var got struct {
			Messages []struct{ ReceiptHandle, Body string }
		}
		if json.Unmarshal(out, &got) == nil {
			now := time.Now()
			s.mu.Lock()
			for _, m := range got.Messages {
				s.receipts[m.ReceiptHandle] = m.Body
				s.receives[m.Body] = append(s.receives[m.Body], now)
			}
			s.mu.Unlock()
		}
	}
	testserver.WriteRelayed(w, resp, out)
}

// deleting checks, before the delete reaches the queue, that the store
// holds the event of every message about to go.
func (s *sqsSpy) deleting(ctx context.Context, handles []string) {
	s.mu.Lock()
	var evs []store.Event
	var bodies []string
	for _, h := range handles {
		b := s.receipts[h]
		s.deleted[b] = true
		if ev, ok := s.events[b]; ok {
			evs = append(evs, ev)
			bodies = append(bodies, b)
		}
	}
	s.deletes = append(s.deletes, time.Now())
	s.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	stored, err := s.env.view.HasEvents(ctx, evs)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range evs {
		if err != nil || !stored[i] {
			s.early = append(s.early, fmt.Sprintf("event %s (%d bytes of message) deleted while not stored (lookup error: %v)", ev.EventID, len(bodies[i]), err))
		}
	}
}

// check asserts what the spy saw: no early delete, no delete at all while
// the store was away, and messages that failed came back no sooner than
// the retry backoff.
func (s *sqsSpy) check(t *testing.T, cutAt, restoredAt time.Time) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.early {
		t.Errorf("message deleted before its event was stored: %s", v)
	}
	for _, d := range s.deletes {
		if d.After(cutAt) && d.Before(restoredAt) {
			t.Errorf("a message was deleted at %v, during the outage (%v to %v)", d.Sub(cutAt).Round(time.Millisecond), 0, restoredAt.Sub(cutAt).Round(time.Millisecond))
		}
	}
	most, mostGaps := 0, ""
	for body, times := range s.receives {
		if len(times) > most {
			most, mostGaps = len(times), ""
			for i := 1; i < len(times); i++ {
				mostGaps += " " + times[i].Sub(times[i-1]).Round(100*time.Millisecond).String()
			}
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < outageBackoff-100*time.Millisecond {
				t.Errorf("message of event %s received again %v after a failure, want at least the %v backoff", s.events[body].EventID, gap, outageBackoff)
			}
		}
	}
	// goaws reports every receive as the first (ApproximateReceiveCount
	// stays 1), so here the backoff never grows past its base: a message
	// may come back once per base, no more. Against SQS it doubles. A
	// source spinning on the error would show hundreds.
	if limit := int(outageLength/outageBackoff) + 2; most > limit {
		t.Errorf("a message was received %d times during a %v outage, want a backoff (at most %d)", most, outageLength, limit)
	}
	t.Logf("SQS: at most %d receives of one message (apart:%s); %d delete calls", most, mostGaps, len(s.deletes))
}

// outageEvents returns EventBridge events for the payments account: total
// of them, the first exposures of which are planted exposures (public
// bucket policies and snapshots shared with an unknown account) and the
// rest reads that raise nothing. It returns the bodies, their history
// events and the exposed resources' names.
func outageEvents(r *mrand.Rand, tag string, total, exposures int, base time.Time) ([]string, []store.Event, []string) {
	var bodies []string
	var evs []store.Event
	var resources []string
	for i := range total {
		at := base.Add(time.Duration(i) * time.Second)
		id := cttest.UUID(r)
		var name, source string
		var req, resp any
		switch {
		case i < exposures && i%2 == 0:
			bucket := fmt.Sprintf("trouble-%s-bucket-%02d", tag, i)
			resources = append(resources, bucket)
			name, source = "PutBucketPolicy", "s3.amazonaws.com"
			req = map[string]any{
				"bucketName": bucket, "Host": bucket + ".s3.eu-west-1.amazonaws.com", "policy": []any{""},
				"bucketPolicy": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
					"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + bucket + "/*",
				}}},
			}
		case i < exposures:
			snap := fmt.Sprintf("trouble-%s-snap-%02d", tag, i)
			resources = append(resources, snap)
			name, source = "ModifyDBSnapshotAttribute", "rds.amazonaws.com"
			req = map[string]any{"dBSnapshotIdentifier": snap, "attributeName": "restore", "valuesToAdd": []any{"444455556666"}}
			resp = map[string]any{"dBSnapshotIdentifier": snap, "dBSnapshotAttributes": []any{map[string]any{"attributeName": "restore", "attributeValues": []any{"444455556666"}}}}
		default:
			name, source = "GetBucketPolicy", "s3.amazonaws.com"
			req = map[string]any{"bucketName": fmt.Sprintf("quiet-%s-%03d", tag, i), "policy": []any{""}}
		}
		detail := map[string]any{
			"eventVersion": "1.09",
			"userIdentity": map[string]any{
				"type": "IAMUser", "principalId": "AIDAEXAMPLEBACKUPMGR", "arn": "arn:aws:iam::" + outageAccount + ":user/BackupManager",
				"accountId": outageAccount, "accessKeyId": "AKIAEXAMPLEBACKUP001", "userName": "BackupManager",
			},
			"eventTime": at.Format(time.RFC3339), "eventSource": source, "eventName": name, "awsRegion": outageRegion,
			"sourceIPAddress": "198.51.100.77", "userAgent": "aws-cli/2.15.30 store-trouble-test",
			"requestParameters": req, "responseElements": resp, "requestID": cttest.UUID(r), "eventID": id,
			"readOnly": strings.HasPrefix(name, "Get"), "eventType": "AwsApiCall", "managementEvent": true,
			"recipientAccountId": outageAccount, "eventCategory": "Management",
		}
		bodies = append(bodies, cttest.EventBridge(cttest.UUID(r), "aws."+strings.TrimSuffix(source, ".amazonaws.com"), detail))
		evs = append(evs, store.Event{EventID: id, Time: at})
	}
	return bodies, evs, resources
}
