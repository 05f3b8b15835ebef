package opsbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/secops-bot/secops-bot/internal/testkit/serveproc"
)

// TestEventToPostLatency measures how long a public bucket takes from its
// CloudTrail event entering the queue to the finding's message in #secops,
// while benign events flow at SECOPS_OPSBENCH_RATE per second (default
// 1,000) for SECOPS_OPSBENCH_DURATION (default 60s). A probe event, each
// for its own bucket, is sent every SECOPS_OPSBENCH_PROBE_INTERVAL (default
// 200ms); the latency of a probe runs from just before its SendMessage to
// the moment the emulator recorded the chat.postMessage. It runs once per
// count of SECOPS_OPSBENCH_REPLICAS (default "1,2") on PostgreSQL
// (SECOPS_TEST_POSTGRES_DSN, a fresh schema each), or one replica on
// SQLite with SECOPS_OPSBENCH_DRIVER=sqlite. Targets: p99 under 100 ms,
// and the queue empty within a second of the load stopping.
func TestEventToPostLatency(t *testing.T) {
	heavy(t)
	rate := envInt(t, "SECOPS_OPSBENCH_RATE", 1000)
	duration := envDuration(t, "SECOPS_OPSBENCH_DURATION", 60*time.Second)
	probeEvery := envDuration(t, "SECOPS_OPSBENCH_PROBE_INTERVAL", 200*time.Millisecond)
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
			latency(t, driver, replicas, rate, duration, probeEvery)
		})
	}
}

func latency(t *testing.T, driver string, replicas, rate int, duration, probeEvery time.Duration) {
	var dsn string
	switch driver {
	case "postgres":
		dsn = freshSchema(t)
	case "sqlite":
		if replicas != 1 {
			t.Skip("SQLite serves one replica")
		}
		dsn = filepath.Join(t.TempDir(), "secops-bot.db")
	default:
		t.Fatalf("SECOPS_OPSBENCH_DRIVER=%q: want postgres or sqlite", driver)
	}
	sqsSrv := startSQS(t)
	queueURL := sqsSrv.CreateQueue(t, "secops-events", 30)
	ws := newWorkspace(t)
	bin := buildBot(t)
	// The bots' own histograms split the end-to-end figure: from receiving
	// a message to storing it, and from storing a finding to posting it.
	var metricsAddrs []string
	var bots []*serveproc.Process
	for i := range replicas {
		addr := freeAddr(t)
		metricsAddrs = append(metricsAddrs, addr)
		config := writeConfigMetrics(t, ws.emu, queueURL, driver, addr)
		bots = append(bots, startReplica(t, bin, fmt.Sprintf("bot-%d", i+1), config, botEnv(sqsSrv.Endpoint, dsn)))
	}
	waitConnected(t, ws.emu, replicas, bots...)

	loadBefore := loadAverage()
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup

	// Background traffic: a pacer hands out batches of ten as they fall
	// due and four senders put them on the queue, so that one slow call
	// does not hold the rate back.
	var sent, sendErrors atomic.Int64
	due := make(chan []string, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(due)
		r := rand.New(rand.NewPCG(1, 1))
		start := time.Now()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		queued := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for want := int(time.Since(start).Seconds() * float64(rate)); queued+10 <= want; queued += 10 {
				batch := make([]string, 10)
				now := time.Now()
				for i := range batch {
					batch[i] = benign(r, now)
				}
				select {
				case due <- batch:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range due {
				if err := sendBatch(context.Background(), sqsSrv.Client, queueURL, batch); err != nil {
					sendErrors.Add(1)
					continue
				}
				sent.Add(int64(len(batch)))
			}
		}()
	}

	// Queue depth, sampled twice a second.
	var depthMu sync.Mutex
	var depths []int
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if d, err := queueDepth(context.Background(), sqsSrv.Client, queueURL); err == nil {
				depthMu.Lock()
				depths = append(depths, d)
				depthMu.Unlock()
			}
		}
	}()

	// Probes.
	run := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	type probe struct {
		bucket string
		sentAt time.Time
	}
	var probes []probe
	r := rand.New(rand.NewPCG(2, 2))
	began := time.Now()
	tick := time.NewTicker(probeEvery)
probing:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			break probing
		case <-tick.C:
		}
		bucket := fmt.Sprintf("opsbench-probe-%s-%06d", run, i)
		body := publicBucketPolicy(r, bucket, time.Now())
		at := time.Now()
		if _, err := sqsSrv.Client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
			t.Errorf("send probe %d: %v", i, err)
			continue
		}
		probes = append(probes, probe{bucket: bucket, sentAt: at})
	}
	tick.Stop()
	elapsed := time.Since(began)
	wg.Wait()
	// The load has stopped: how long until every message is deleted.
	stopped := time.Now()
	drainTime := time.Duration(-1)
	for time.Since(stopped) < 60*time.Second {
		if d, err := queueDepth(context.Background(), sqsSrv.Client, queueURL); err == nil && d == 0 {
			drainTime = time.Since(stopped)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every probe's finding, however late.
	posted := func() map[string]time.Time {
		out := map[string]time.Time{}
		for _, m := range ws.emu.Messages(ws.secops) {
			if m.ThreadTS != "" && m.ThreadTS != m.TS {
				continue
			}
			text := m.Text + string(m.Blocks)
			i := strings.Index(text, "opsbench-probe-"+run+"-")
			if i < 0 {
				continue
			}
			bucket := text[i : i+len("opsbench-probe-"+run+"-")+6]
			if _, ok := out[bucket]; !ok {
				out[bucket] = m.PostedAt
			}
		}
		return out
	}
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer waitCancel()
	_ = ws.emu.Wait(waitCtx, func() bool { return len(posted()) >= len(probes) })

	got := posted()
	var lat []time.Duration
	missing := 0
	for _, p := range probes {
		at, ok := got[p.bucket]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, at.Sub(p.sentAt))
	}
	depthMu.Lock()
	maxDepth, sumDepth := 0, 0
	for _, d := range depths {
		maxDepth = max(maxDepth, d)
		sumDepth += d
	}
	meanDepth := 0.0
	if len(depths) > 0 {
		meanDepth = float64(sumDepth) / float64(len(depths))
	}
	depthMu.Unlock()

	achieved := float64(sent.Load()) / elapsed.Seconds()
	result(t, "latency: background %d events/s asked, %.0f/s sent (%d events in %v, %d failed batches); load %s at the start, %s at the end",
		rate, achieved, sent.Load(), elapsed.Round(time.Millisecond), sendErrors.Load(), loadBefore, loadAverage())
	drained := "not within 60s"
	if drainTime >= 0 {
		drained = drainTime.Round(time.Millisecond).String()
	}
	result(t, "latency: queue depth (messages not yet deleted) mean %.0f, max %d; empty %s after the load stopped (target 1s)", meanDepth, maxDepth, drained)
	result(t, "latency: %d probes, %d posted, %d missing; p50 %v, p99 %v, max %v (target p99 < 100ms)",
		len(probes), len(lat), missing, percentile(lat, 50).Round(100*time.Microsecond), percentile(lat, 99).Round(100*time.Microsecond), percentile(lat, 100).Round(100*time.Microsecond))
	if h, err := scrapeAll(metricsAddrs, "secops_bot_sqs_message_stored_seconds", `secops_bot_event_to_post_seconds{from="detected"`); err != nil {
		t.Logf("bot metrics: %v", err)
	} else {
		stored, posted := h["secops_bot_sqs_message_stored_seconds"], h[`secops_bot_event_to_post_seconds{from="detected"`]
		result(t, "latency: inside the bot: received→stored p50 ≤ %v, p99 ≤ %v (%d messages); stored→posted p50 ≤ %v, p99 ≤ %v (%d posts) — bucket upper bounds",
			stored.quantile(0.5), stored.quantile(0.99), stored.count, posted.quantile(0.5), posted.quantile(0.99), posted.count)
	}
	if missing > 0 {
		t.Errorf("%d of %d probes never reached #secops", missing, len(probes))
	}
	for _, bot := range bots {
		if !bot.Alive() {
			t.Errorf("%s exited:\n%s", bot.Name(), bot.Tail(4<<10))
		}
	}
	if achieved < 0.95*float64(rate) {
		t.Logf("the generator fell short of %d events/s; the latency was measured under less load", rate)
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// histogram is a Prometheus histogram read from the text format.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
	count  int
}

// quantile is the upper bound of the bucket holding the q-th quantile.
func (h histogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	want := q * float64(h.count)
	for i, c := range h.counts {
		if c >= want {
			if math.IsInf(h.bounds[i], 1) {
				return time.Duration(math.MaxInt64)
			}
			return time.Duration(h.bounds[i] * float64(time.Second))
		}
	}
	return time.Duration(math.MaxInt64)
}

// scrapeAll reads the named histograms from the /metrics page of every
// replica at addrs and adds them up.
func scrapeAll(addrs []string, names ...string) (map[string]histogram, error) {
	out := map[string]histogram{}
	for _, addr := range addrs {
		// A replica may not have posted anything: the other one claimed
		// every delivery.
		h, err := scrapeHistograms("http://"+addr+"/metrics", names...)
		if err != nil && !errors.Is(err, errNoObservations) {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		for name, one := range h {
			sum, ok := out[name]
			if !ok {
				out[name] = one
				continue
			}
			if !slices.Equal(sum.bounds, one.bounds) {
				return nil, fmt.Errorf("%s: buckets of %s differ between replicas", addr, name)
			}
			for i := range sum.counts {
				sum.counts[i] += one.counts[i]
			}
			sum.count += one.count
			out[name] = sum
		}
	}
	for _, name := range names {
		if out[name].count == 0 {
			return out, fmt.Errorf("%w of %s", errNoObservations, name)
		}
	}
	return out, nil
}

// errNoObservations is a histogram that counted nothing.
var errNoObservations = errors.New("no observations")

// scrapeHistograms reads the named histograms (a name may carry the start
// of a label set, e.g. `x_seconds{from="detected"`) from a /metrics page.
func scrapeHistograms(url string, names ...string) (map[string]histogram, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]histogram{}
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range names {
			base, labels, _ := strings.Cut(name, "{")
			if !strings.HasPrefix(line, base+"_bucket{") || !strings.Contains(line, labels) {
				continue
			}
			i := strings.Index(line, `le="`)
			j := strings.LastIndex(line, " ")
			if i < 0 || j < 0 {
				continue
			}
			le := line[i+4:]
			le = le[:strings.Index(le, `"`)]
			bound, err1 := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				bound, err1 = math.Inf(1), nil
			}
			n, err2 := strconv.ParseFloat(line[j+1:], 64)
			if err1 != nil || err2 != nil {
				continue
			}
			h := out[name]
			h.bounds = append(h.bounds, bound)
			h.counts = append(h.counts, n)
			h.count = int(n)
			out[name] = h
		}
	}
	for _, name := range names {
		if out[name].count == 0 {
			return out, fmt.Errorf("%w of %s", errNoObservations, name)
		}
	}
	return out, nil
}
