package opsbench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestResidentMemory runs serve on a SQLite store of SECOPS_OPSBENCH_STORED
// events (default 10,000,000; synthetic history of 1,000 actors, built as
// BenchmarkInvestigate builds it) with SECOPS_OPSBENCH_MEM_RATE benign
// events per second (default 200) for SECOPS_OPSBENCH_MEM_DURATION (default
// 60s), sampling VmRSS every second and reading VmHWM at the end. Building
// 10 million events takes about ten minutes: SECOPS_OPSBENCH_DB names a
// store to reuse, or to build and keep when it does not exist. Serve adds
// to it, so a reused store grows by the traffic of each run. Target: under
// 200 MB.
func TestResidentMemory(t *testing.T) {
	heavy(t)
	stored := envInt(t, "SECOPS_OPSBENCH_STORED", 10_000_000)
	rate := envInt(t, "SECOPS_OPSBENCH_MEM_RATE", 200)
	duration := envDuration(t, "SECOPS_OPSBENCH_MEM_DURATION", 60*time.Second)
	path := os.Getenv("SECOPS_OPSBENCH_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "history.db")
	}
	ctx := context.Background()
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		s, err := sqlite.Open(ctx, path, sqlite.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := sqlite.LoadSynthetic(ctx, s, stored, 1000, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("built %s with %d events in %v", path, stored, time.Since(start).Round(time.Second))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	sqsSrv := startSQS(t)
	queueURL := sqsSrv.CreateQueue(t, "secops-events", 30)
	ws := newWorkspace(t)
	config := writeConfig(t, ws.emu, queueURL, "sqlite")
	bot := startReplica(t, buildBot(t), "bot", config, botEnv(sqsSrv.Endpoint, path))
	waitConnected(t, ws.emu, 1, bot)
	pid := bot.Pid()
	idle, _ := procStatus(pid)

	r := rand.New(rand.NewPCG(4, 4))
	begin := time.Now()
	sent, maxRSS := 0, 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	nextSample := begin
	for time.Since(begin) < duration {
		<-tick.C
		for want := int(time.Since(begin).Seconds() * float64(rate)); sent+10 <= want; sent += 10 {
			b := make([]string, 10)
			for i := range b {
				b[i] = benign(r, time.Now())
			}
			if err := sendBatch(ctx, sqsSrv.Client, queueURL, b); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		if time.Now().After(nextSample) {
			nextSample = nextSample.Add(time.Second)
			st, err := procStatus(pid)
			if err != nil {
				t.Fatalf("the bot is gone: %v\n%s", err, bot.Tail(4<<10))
			}
			maxRSS = max(maxRSS, st["VmRSS"])
		}
	}
	// One probe shows that detection ran over this history.
	bucket := fmt.Sprintf("opsbench-mem-probe-%x", time.Now().UnixNano()&0xffffff)
	if err := sendBatch(ctx, sqsSrv.Client, queueURL, []string{publicBucketPolicy(r, bucket, time.Now())}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := ws.emu.Wait(waitCtx, func() bool {
		for _, m := range ws.emu.Messages(ws.secops) {
			if strings.Contains(m.Text+string(m.Blocks), bucket) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Errorf("the probe's finding never reached #secops: %v", err)
	}
	final, err := procStatus(pid)
	if err != nil {
		t.Fatalf("the bot is gone: %v", err)
	}
	maxRSS = max(maxRSS, final["VmRSS"])
	depth, _ := queueDepth(ctx, sqsSrv.Client, queueURL)
	result(t, "memory: store of %d events (%d MiB), %d events sent at %d/s over %v (%d left on the queue): VmRSS idle %d MiB, max %d MiB, end %d MiB; VmHWM %d MiB (target < 200 MB)",
		stored, fi.Size()>>20, sent, rate, duration, depth, idle["VmRSS"]>>10, maxRSS>>10, final["VmRSS"]>>10, final["VmHWM"]>>10)
}

// procStatus reads the kB figures of /proc/PID/status.
func procStatus(pid int) (map[string]int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Vm") {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}
