package canary

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

const (
	botAccount    = "111122223333"
	memberAccount = "444455556666"
	interval      = 15 * time.Minute
	timeout       = 10 * time.Minute
)

// fakeCaller tags a role named after the account, the way the AWS caller
// would report it.
type fakeCaller struct {
	mu    sync.Mutex
	calls []Call
	fail  error
}

func roleARN(account string) string { return "arn:aws:iam::" + account + ":role/secops-bot" }

func (f *fakeCaller) Call(_ context.Context, account string, at time.Time) (Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return Call{}, f.fail
	}
	if account == "" {
		account = botAccount
	}
	c := Call{
		Account: account, PrincipalARN: roleARN(account), EventName: "TagRole",
		CallerARN: "arn:aws:sts::" + account + ":assumed-role/secops-bot/i-0abc", At: at,
	}
	f.calls = append(f.calls, c)
	return c, nil
}

func (f *fakeCaller) made() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// fakeFindings records what the canary raised and resolved.
type fakeFindings struct {
	mu       sync.Mutex
	raised   []finding.Finding
	resolved []string // keys
	notes    []string
}

func (f *fakeFindings) RaiseSystemFinding(_ context.Context, fd finding.Finding) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raised = append(f.raised, fd)
	return nil
}

func (f *fakeFindings) ResolveSystemFinding(_ context.Context, key, note string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resolved = append(f.resolved, key)
	f.notes = append(f.notes, note)
	return nil
}

type env struct {
	t        *testing.T
	st       *sqlite.Store
	clk      *clock.Fake
	caller   *fakeCaller
	findings *fakeFindings
	start    time.Time
	seq      int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "bot.db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, st: st, clk: clk, caller: &fakeCaller{}, findings: &fakeFindings{}, start: start}
}

func (e *env) canary(owner string, accounts ...string) *Canary {
	return New(e.st, e.caller, e.findings, Options{
		Owner: owner, Interval: interval, Timeout: timeout, Accounts: accounts, Clock: e.clk,
	})
}

func (e *env) tick(c *Canary) {
	e.t.Helper()
	if err := c.Tick(context.Background()); err != nil {
		e.t.Fatalf("tick: %v", err)
	}
}

// arrive stores the CloudTrail event of a canary call as the pipeline
// would, at the given event time.
func (e *env) arrive(account string, at time.Time) {
	e.t.Helper()
	e.seq++
	_, err := e.st.AddEvents(context.Background(), []store.Event{{
		EventID: fmt.Sprintf("canary-%d", e.seq), Time: at.Truncate(time.Second), Account: account, Region: Region,
		ActorARN: roleARN(account), ActorType: "AssumedRole", EventSource: "iam.amazonaws.com", EventName: "TagRole",
		ResourceARN: roleARN(account),
	}})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) at(d time.Duration) { e.clk.Set(e.start.Add(d)) }

func TestCanaryRounds(t *testing.T) {
	type step struct {
		at     time.Duration
		arrive time.Duration // event time after start; -1 for none
	}
	tests := []struct {
		name         string
		steps        []step
		wantCalls    int
		wantRaised   int
		wantResolved int
	}{
		{
			name:      "event back in time: no finding",
			steps:     []step{{0, -1}, {30 * time.Second, 2 * time.Second}, {timeout + time.Minute, -1}},
			wantCalls: 1,
		},
		{
			name:       "no event within the timeout: one finding",
			steps:      []step{{0, -1}, {timeout - time.Second, -1}, {timeout, -1}, {timeout + time.Minute, -1}},
			wantCalls:  1,
			wantRaised: 1,
		},
		{
			name:      "an event just inside the clock skew still counts",
			steps:     []step{{0, -1}, {time.Minute, -time.Second}, {timeout + time.Minute, -1}},
			wantCalls: 1,
		},
		{
			name: "the previous round's event does not answer the next call",
			steps: []step{
				{0, -1}, {time.Minute, time.Second},
				{interval, -1}, {interval + timeout, -1},
			},
			wantCalls:  2,
			wantRaised: 1,
		},
		{
			name: "an outage over several rounds is one finding, resolved when an event comes back",
			steps: []step{
				{0, -1}, {timeout, -1},
				{interval, -1}, {interval + timeout, -1},
				{2 * interval, -1}, {2*interval + time.Minute, 2*interval + 3*time.Second}, {2*interval + 2*time.Minute, -1},
			},
			wantCalls:    3,
			wantRaised:   1,
			wantResolved: 1,
		},
		{
			name: "a late event of the first missing call resolves too",
			steps: []step{
				{0, -1}, {timeout, -1},
				{interval, -1}, {interval + time.Minute, 5 * time.Second},
			},
			wantCalls:    2,
			wantRaised:   1,
			wantResolved: 1,
		},
		{
			name: "a new outage after a resolved one is raised again",
			steps: []step{
				{0, -1}, {timeout, -1}, {timeout + time.Minute, time.Second},
				{interval, -1}, {interval + timeout, -1},
			},
			wantCalls:    2,
			wantRaised:   2,
			wantResolved: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.canary("replica-a")
			for _, s := range tt.steps {
				e.at(s.at)
				if s.arrive != -1 {
					e.arrive(botAccount, e.start.Add(s.arrive))
				}
				e.tick(c)
			}
			if got := len(e.caller.made()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if got := len(e.findings.raised); got != tt.wantRaised {
				t.Errorf("findings raised = %d, want %d", got, tt.wantRaised)
			}
			if got := len(e.findings.resolved); got != tt.wantResolved {
				t.Errorf("findings resolved = %d, want %d", got, tt.wantResolved)
			}
			for _, k := range e.findings.resolved {
				if k != FindingKey(botAccount) {
					t.Errorf("resolved %q, want the account's canary finding %q", k, FindingKey(botAccount))
				}
			}
		})
	}
}

func TestMissingFindingSaysWhatToCheck(t *testing.T) {
	e := newEnv(t)
	c := e.canary("replica-a")
	e.tick(c)
	e.at(timeout)
	e.tick(c)
	if len(e.findings.raised) != 1 {
		t.Fatalf("raised %d findings, want 1", len(e.findings.raised))
	}
	f := e.findings.raised[0]
	if f.Rule != RuleMissing || f.Severity != finding.SeverityHigh || f.AccountID != botAccount || f.Region != "us-east-1" {
		t.Errorf("finding = rule %s, severity %s, account %s, region %s; want canary-missing, high, %s, us-east-1",
			f.Rule, f.Severity, f.AccountID, f.Region, botAccount)
	}
	if f.Key != FindingKey(botAccount) {
		t.Errorf("key = %q, want %q", f.Key, FindingKey(botAccount))
	}
	if f.Resource.ARN != roleARN(botAccount) || f.Resource.ID != "secops-bot" || f.Resource.Type != "AWS::IAM::Role" {
		t.Errorf("resource = %+v, want the tagged role", f.Resource)
	}
	if !f.Event.Time.Equal(e.start) || f.Event.Name != "TagRole" {
		t.Errorf("event = %+v, want TagRole at the call time", f.Event)
	}
	if !strings.Contains(f.Title, botAccount) || !strings.Contains(f.Title, "not reaching the bot") {
		t.Errorf("title %q does not say which account's events are missing", f.Title)
	}
	for _, want := range []string{"secops-bot", "iam:TagRole", "10m", "trail is logging", "EventBridge rule in us-east-1", "SQS queue", "dead-letter queue", "resolves itself"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, f.Detail)
		}
	}
}

func TestCanaryMemberAccounts(t *testing.T) {
	e := newEnv(t)
	c := e.canary("replica-a", memberAccount)
	e.tick(c)
	if got := len(e.caller.made()); got != 2 {
		t.Fatalf("calls = %d, want one for the bot and one for the member account", got)
	}
	// Only the bot's own canary comes back.
	e.at(time.Minute)
	e.arrive(botAccount, e.start.Add(time.Second))
	e.tick(c)
	e.at(timeout)
	e.tick(c)
	if len(e.findings.raised) != 1 || e.findings.raised[0].AccountID != memberAccount {
		t.Fatalf("raised %+v, want one finding for %s", e.findings.raised, memberAccount)
	}
	// An event of the bot's account does not answer the member's canary.
	e.at(timeout + time.Minute)
	e.arrive(botAccount, e.start.Add(timeout))
	e.tick(c)
	if len(e.findings.resolved) != 0 {
		t.Fatalf("resolved %v by another account's event", e.findings.resolved)
	}
	e.arrive(memberAccount, e.start.Add(timeout))
	e.tick(c)
	if len(e.findings.resolved) != 1 || e.findings.resolved[0] != FindingKey(memberAccount) {
		t.Fatalf("resolved %v, want the member account's finding", e.findings.resolved)
	}
	if !strings.Contains(e.findings.notes[0], memberAccount) {
		t.Errorf("resolve note %q does not name the account", e.findings.notes[0])
	}
}

func TestCanaryFailedCallIsRetriedNotJudged(t *testing.T) {
	e := newEnv(t)
	c := e.canary("replica-a")
	e.caller.fail = errors.New("access denied")
	e.tick(c)
	e.at(30 * time.Second)
	e.tick(c) // too early to retry
	e.caller.fail = nil
	e.tick(c)
	if got := len(e.caller.made()); got != 0 {
		t.Fatalf("calls = %d before the retry delay, want 0", got)
	}
	e.at(time.Minute)
	e.tick(c)
	calls := e.caller.made()
	if len(calls) != 1 || !calls[0].At.Equal(e.start.Add(time.Minute)) {
		t.Fatalf("calls = %+v, want one a minute after the failure", calls)
	}
	e.at(time.Minute + timeout - time.Second)
	e.tick(c)
	if len(e.findings.raised) != 0 {
		t.Errorf("a finding was raised before the successful call timed out")
	}
}

func TestCanaryLease(t *testing.T) {
	e := newEnv(t)
	a, b := e.canary("replica-a"), e.canary("replica-b")
	e.tick(a)
	e.tick(b)
	if got := len(e.caller.made()); got != 1 {
		t.Fatalf("calls = %d with two replicas, want 1", got)
	}
	// Replica a renews its lease, then dies without releasing it: b
	// takes over once the lease expires and judges a's call from the
	// shared state.
	e.at(timeout - time.Minute)
	e.tick(a)
	e.at(timeout)
	e.tick(b)
	if len(e.findings.raised) != 0 {
		t.Fatal("replica b acted while a's lease was valid")
	}
	e.at(timeout + 2*time.Minute)
	e.tick(b)
	if len(e.findings.raised) != 1 {
		t.Fatalf("raised %d findings after the takeover, want 1 for a's unanswered call", len(e.findings.raised))
	}
	e.tick(a) // a is back, but b holds the lease now
	if len(e.findings.raised) != 1 || len(e.caller.made()) != 1 {
		t.Fatalf("replica a acted without the lease")
	}

	// A replica that stops releases the lease, and the other one takes
	// over at once.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	cancel()
	<-done
	e.at(interval)
	e.tick(a)
	if got := len(e.caller.made()); got != 2 {
		t.Fatalf("calls = %d after b stopped, want a's next call", got)
	}
}
