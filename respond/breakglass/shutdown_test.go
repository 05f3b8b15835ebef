package breakglass_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
)

// claimWatch is the store, telling the test when a replica claims timers.
type claimWatch struct {
	outbox.Store
	claimed chan struct{}
}

func (c claimWatch) ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error) {
	items, err := c.Store.ClaimKinds(ctx, owner, kinds, n, lease)
	select {
	case c.claimed <- struct{}{}:
	default:
	}
	return items, err
}

// slowIAM holds the first PutRolePolicy (the revocation of a session)
// until answered, as a slow endpoint would.
type slowIAM struct {
	next     http.Handler
	once     sync.Once
	held     chan struct{}
	answer   chan struct{}
	answered sync.Once
}

func (s *slowIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strings.Contains(string(body), "Action=PutRolePolicy") {
		first := false
		s.once.Do(func() { first = true })
		if first {
			close(s.held)
			<-s.answer
		}
	}
	s.next.ServeHTTP(w, r)
}

func (s *slowIAM) reply() { s.answered.Do(func() { close(s.answer) }) }

// SIGTERM arrives while a grant's expiry waits for IAM to take the access
// back, with a second grant's expiry claimed and not started. The
// revocation in flight completes, and the other expiry is handed back at
// once: another replica ends that grant without waiting for the lease.
func TestShutdownMidExpiry(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for _, acct := range []string{prodAcct, stageAcct} {
		r := e.request(acct, 0)
		if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	slow := &slowIAM{next: e.iam, held: make(chan struct{}), answer: make(chan struct{})}
	t.Cleanup(slow.reply) // before the fake closes: it waits for its handlers
	e.aws.Handle("iam", slow)
	watch := claimWatch{Store: e.st, claimed: make(chan struct{}, 1)}
	svc, err := breakglass.New(e.cfg, breakglass.Deps{
		Store: e.st, Auth: e.auth, Notify: notifier{e.api}, Granter: e.grant, Threads: threads{teamChan, e.findingTS},
		OnCall: onCall{manager}, Emails: directory{e.api}, Clock: e.clk, Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, sigterm := context.WithCancel(e.ctx)
	done := make(chan struct{})
	rt := outbox.New(watch, "replica-1", e.clk, zerolog.Nop())
	if err := rt.Add(svc.Timers(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		rt.Run(ctx)
	}()
	// Past the start-up reconciliation (which would end the grants
	// itself), the windows run out.
	<-watch.claimed
	e.clk.Advance(31 * time.Minute)
	select {
	case <-slow.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no revocation reached IAM")
	}
	sigterm()
	time.Sleep(50 * time.Millisecond) // the call outlives the signal
	slow.reply()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}

	expired := 0
	for _, id := range ids {
		if r := e.get(id); r.State == breakglass.StateExpired {
			expired++
			if r.CleanupPending {
				t.Errorf("the revocation in flight at shutdown was cut off: cleanup still pending")
			}
		}
	}
	if expired != 1 {
		t.Fatalf("%d grants expired by the stopping replica, want the one in flight", expired)
	}
	e.timers("replica-2", e.st, e.svc).Drain(e.ctx)
	for i, id := range ids {
		if s := e.get(id).State; s != breakglass.StateExpired {
			t.Errorf("grant %d is %s after another replica ran the timers, want expired", i, s)
		}
	}
	for _, role := range []struct{ account, name string }{{prodAcct, "BreakGlassResponder"}, {stageAcct, "BreakGlass"}} {
		if doc, ok := e.revokePolicy(role.account, role.name); !ok || !strings.Contains(doc, `"Effect":"Deny"`) {
			t.Errorf("role %s in %s: revocation policy %q, want a deny", role.name, role.account, doc)
		}
	}
}

// Stray assignments are swept at start and then every sweep interval as
// the service's clock tells it, not the machine's: a clock moved on by the
// interval sweeps again, and the ticks in between do not.
func TestSweepEveryFollowsTheClock(t *testing.T) {
	e := newEnv(t)
	ctx, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	defer func() { stop(); <-done }()
	swept := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(e.sso.Assignments(instance, icAcct, permSet)) > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: stray assignment not swept", what)
			}
		}
	}
	e.sso.Assign(instance, icAcct, permSet, "user-stray")
	go func() { defer close(done); e.svc.SweepEvery(ctx, 5*time.Millisecond, time.Hour) }()
	swept("at start")

	e.sso.Assign(instance, icAcct, permSet, "user-stray-2")
	time.Sleep(50 * time.Millisecond) // ticks pass; the clock does not
	if a := e.sso.Assignments(instance, icAcct, permSet); len(a) != 1 {
		t.Fatalf("assignments %v before the sweep interval passed, want the stray left until then", a)
	}
	e.clk.Advance(time.Hour)
	swept("an hour later by the clock")
}
