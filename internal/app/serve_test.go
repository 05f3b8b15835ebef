package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// TestServeIngestsDirectory drops the story-one log file into the watched
// directory of a running bot and checks the findings it stored, then
// restarts the bot on the same store and checks nothing is counted twice.
func TestServeIngestsDirectory(t *testing.T) {
	cfg := exampleConfig(t)
	work := t.TempDir()
	cfg.Ingest.Dir = filepath.Join(work, "inbox")
	cfg.Ingest.PollInterval = 50 * time.Millisecond
	cfg.Store.DSN = filepath.Join(work, "bot.db")
	if err := os.MkdirAll(cfg.Ingest.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "story-one", "111122223333_CloudTrail_eu-central-1_20261126T1440Z_story-one.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(cfg.Ingest.Dir, "story-one.json"), string(src))
	// A file with a malformed line beside it must not stop anything.
	writeFile(t, filepath.Join(cfg.Ingest.Dir, "bad.jsonl"), "{not json\n")

	runFor := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, ServeOptions{Config: cfg, Logger: zerolog.Nop()}) }()
		// Two full polls are enough for a file that is older than one.
		time.Sleep(600 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
	}
	runFor()
	runFor()

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
