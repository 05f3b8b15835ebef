package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestServeIngestsDirectory drops the story-one log file into the watched
// directory of a running bot and checks the findings it stored, then
// restarts the bot on the same store and checks nothing is counted twice.
func TestServeIngestsDirectory(t *testing.T) {
	t.Parallel()
	e := newSlackEnv(t)
	cfg := e.cfg
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "story-one", "111122223333_CloudTrail_eu-central-1_20261126T1440Z_story-one.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cfg.Ingest.Dir, "story-one.json"), string(src))
	// A file with a malformed line beside it must not stop anything.
	writeFile(t, filepath.Join(cfg.Ingest.Dir, "bad.jsonl"), "{not json\n")

	for run := 0; run < 2; run++ {
		e.start(t)
		e.wait(t, "the public bucket posted and resolved in place", func() bool {
			msgs := topLevel(e.emu.Messages(e.secops))
			return len(msgs) == 1 && strings.Contains(msgs[0].Text, "RESOLVED")
		})
		// The file is done once all of it is in history.
		deadline := time.Now().Add(10 * time.Second)
		for historySize(t, cfg.Store.DSN) < 8 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		e.stop(t)
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFindings(ctx, store.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byStatus := map[finding.Status]int{}
	for _, f := range fs {
		byStatus[f.Status]++
		if f.Count != 1 {
			t.Errorf("finding %s counted %d times after a restart, want 1", f.ID, f.Count)
		}
	}
	if byStatus[finding.StatusResolved] != 2 || byStatus[finding.StatusSuppressed] != 1 || len(fs) != 3 {
		t.Errorf("findings by status = %v (total %d), want 2 resolved and 1 suppressed", byStatus, len(fs))
	}
	q, err := st.ListQuarantined(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || filepath.Base(q[0].Source) != "bad.jsonl" {
		t.Errorf("quarantined = %+v, want the malformed line of bad.jsonl", q)
	}
	evs, err := st.QueryEvents(ctx, store.EventQuery{Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 8 {
		t.Errorf("history holds %d events, want the 8 of the file once", len(evs))
	}
}

// historySize counts the events of the story's account in the store, read
// beside the running bot.
func historySize(t *testing.T, dsn string) int {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dsn, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.QueryEvents(context.Background(), store.EventQuery{Account: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}
