package tickets

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/testkit/jirafake"
)

// archive is a second exposure of story one's account, so that a worker
// claims two items at once.
func archive() finding.Finding {
	f := storyOne()
	f.Resource = finding.Resource{Type: "AWS::S3::Bucket", ID: "payments-archive", ARN: "arn:aws:s3:::payments-archive"}
	f.Key = finding.KeyFor(f.Rule, f.AccountID, f.Region, f.Resource.ARN)
	f.ID = finding.IDFor(f.Key)
	return f
}

// findingOf returns the finding a ticket was created for, from its label.
func findingOf(is jirafake.Issue) string {
	for _, l := range is.Labels {
		if id, ok := strings.CutPrefix(l, "secops-finding-"); ok {
			return id
		}
	}
	return ""
}

// SIGTERM arrives while the worker waits for Jira to answer a ticket
// creation, with a second item claimed and not started. Whether or not the
// call finishes within the grace period, the unstarted item is handed back
// at once (another replica takes it without waiting for the lease), and
// each finding ends up with exactly one ticket, recorded.
func TestShutdownMidCall(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		// finishes says the call in flight completes before the grace
		// period ends, so this replica records its ticket.
		finishes bool
	}{
		{name: "the call finishes within the grace period", grace: 10 * time.Second, finishes: true},
		{name: "the grace period ends first", grace: 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, jirafake.Cloud)
			first, second := storyOne(), archive()
			e.raise(first)
			e.raise(second)

			// Jira stores the issue, then takes its time to answer.
			creating := make(chan string, 1)
			answer := make(chan struct{})
			e.srv.AfterCreate(func(is jirafake.Issue) {
				creating <- findingOf(is)
				<-answer
			})
			answered := false
			reply := func() {
				if !answered {
					answered = true
					close(answer)
				}
			}
			t.Cleanup(reply) // before the fake closes: it waits for its handlers

			ctx, sigterm := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				e.worker("replica-1", WithShutdownGrace(tc.grace)).Run(ctx)
			}()
			var inFlight string
			select {
			case inFlight = <-creating:
			case <-time.After(10 * time.Second):
				t.Fatal("the worker never called Jira")
			}
			sigterm()
			began := time.Now()
			if tc.finishes {
				time.Sleep(50 * time.Millisecond) // the call outlives the signal
				reply()
			}
			select {
			case <-done:
			case <-time.After(tc.grace + 5*time.Second):
				t.Fatalf("Run did not return within the grace period (%v) after SIGTERM", tc.grace)
			}
			t.Logf("Run returned %v after SIGTERM", time.Since(began).Round(time.Millisecond))
			reply()
			e.srv.AfterCreate(nil)

			_, recorded, err := Lookup(context.Background(), e.st, inFlight)
			if err != nil {
				t.Fatal(err)
			}
			if recorded != tc.finishes {
				t.Fatalf("ticket of the finding in flight recorded by the stopping replica: %v, want %v", recorded, tc.finishes)
			}

			// Another replica at the same instant: nothing waits for a
			// lease to run out.
			e.drain(e.worker("replica-2"))
			issues := e.srv.Issues()
			if len(issues) != 2 {
				t.Fatalf("Jira holds %d issues, want one per finding: %+v", len(issues), issues)
			}
			for _, f := range []finding.Finding{first, second} {
				var keys []string
				for _, is := range issues {
					if findingOf(is) == f.ID {
						keys = append(keys, is.Key)
					}
				}
				rec, ok, err := Lookup(context.Background(), e.st, f.ID)
				if err != nil || !ok || len(keys) != 1 || rec.Key != keys[0] {
					t.Errorf("finding %s: tickets %v in Jira, recorded %+v (%v, %v); want one, recorded", f.Resource.ID, keys, rec, ok, err)
				}
			}
			creates := 0
			for _, r := range e.srv.Requests() {
				if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/issue") {
					creates++
				}
			}
			if creates != 2 {
				t.Errorf("%d creations sent to Jira, want 2", creates)
			}
			if d := e.depth(); d != 0 {
				t.Errorf("outbox depth = %d, want 0", d)
			}
		})
	}
}
