// Package storetest is the conformance suite every store.Store
// implementation runs, so that the embedded and the networked store behave
// the same way to the rest of the bot.
//
// Times used by the suite have whole-second precision for history and
// microsecond precision elsewhere, which every implementation keeps.
package storetest

import (
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Opener returns a new, empty store that takes "now" from clk. It is called
// once per subtest and should register cleanup (closing, removing files)
// with t.
type Opener func(t *testing.T, clk clock.Clock) store.Store

// start is the fake clock's initial time in every subtest.
var start = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// Run runs the whole suite against the implementation opened by open.
func Run(t *testing.T, open Opener) {
	groups := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"Events", testEvents},
		{"ActorStats", testActorStats},
		{"Findings", testFindings},
		{"UpdateFinding", testUpdateFinding},
		{"Audit", testAudit},
		{"Files", testFiles},
		{"Quarantine", testQuarantine},
		{"KV", func(t *testing.T, open Opener) {
			RunKV(t, func(t *testing.T, clk clock.Clock) KVStore { return open(t, clk) })
		}},
		{"Outbox", testOutbox},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// env is one subtest's store and the clock it was opened with.
type env struct {
	s   store.Store
	clk *clock.Fake
}

func newEnv(t *testing.T, open Opener) env {
	t.Helper()
	clk := clock.NewFake(start)
	return env{s: open(t, clk), clk: clk}
}
