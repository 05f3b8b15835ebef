package breakglass_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
)

// Story two: request, approval, credentials by DM, expiry after 30
// minutes, and every message updated in place.
func TestHappyPath(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	if r.State != breakglass.StatePending || r.Duration != 30*time.Minute || !r.DecideBy.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("new request = %+v; want pending, 30 minutes, decided by 03:27", r)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "Approve", "Deny", "<@"+manager+">", "payments-prod", findingID)
	contains(t, "finding thread copy", e.shown(r, breakglass.PlaceFinding), "Approve", "incident-responder")
	if ref, _ := e.get(r.ID).Message(breakglass.PlaceFinding); len(e.emu.Replies(teamChan, e.findingTS)) != 1 || ref.Channel != teamChan {
		t.Fatalf("the request is not in the finding's thread")
	}

	e.clk.Advance(3 * time.Minute)
	got, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != breakglass.StateActive || !got.EndsAt.Equal(t0.Add(33*time.Minute)) {
		t.Fatalf("approved request = %s until %v; want active until 03:45", got.State, got.EndsAt)
	}
	calls := e.sts.AssumeRoleCalls()
	if len(calls) != 1 || calls[0].RoleARN != roleARN || calls[0].DurationSeconds != 1800 || calls[0].SourceIdentity != requester || calls[0].Tags["secops-breakglass-request"] != r.ID {
		t.Fatalf("AssumeRole calls = %+v; want one for 1800 s as %s tagged with the request", calls, requester)
	}
	dm := e.shown(r, breakglass.PlaceDM)
	contains(t, "access DM", dm, "Open the AWS console", "SigninToken=signin-"+calls[0].AccessKeyID, "Show CLI credentials")
	lacks(t, "access DM", dm, "secret-"+calls[0].AccessKeyID)
	ref, _ := e.get(r.ID).Message(breakglass.PlaceDM)
	if im, ok := e.emu.IMChannel(requester); !ok || ref.Channel != im {
		t.Fatalf("access went to %s, not the requester's DM", ref.Channel)
	}
	active := e.shown(r, breakglass.PlaceApprovers)
	contains(t, "approvers' message", active, "Active until", "Revoke now", "<@"+manager+">")
	lacks(t, "approvers' message", active, `"action_id":"breakglass.approve"`)

	t.Run("CLI credentials on request", func(t *testing.T) {
		if err := e.svc.Deliver(e.ctx, actor(requester, team), r.ID, true); err != nil {
			t.Fatal(err)
		}
		calls := e.sts.AssumeRoleCalls()
		if len(calls) != 2 || calls[1].SourceIdentity != requester {
			t.Fatalf("AssumeRole calls = %d; want a fresh session as %s", len(calls), requester)
		}
		contains(t, "access DM", e.shown(r, breakglass.PlaceDM), "AWS_SECRET_ACCESS_KEY=secret-"+calls[1].AccessKeyID)
		var refused *breakglass.RefusedError
		if err := e.svc.Deliver(e.ctx, actor(manager, team), r.ID, true); !errors.As(err, &refused) {
			t.Fatalf("Deliver to the approver = %v; want a refusal", err)
		}
	})

	// Activity of the session, as ingestion would have stored it.
	_, err = e.st.AddEvents(e.ctx, []store.Event{
		{EventID: "ev-1", Time: t0.Add(5 * time.Minute), Account: prodAcct, SourceIdentity: requester, EventSource: "rds.amazonaws.com", EventName: "DescribeDBSnapshotAttributes", ReadOnly: true},
		{EventID: "ev-2", Time: t0.Add(9 * time.Minute), Account: prodAcct, SourceIdentity: requester, EventSource: "rds.amazonaws.com", EventName: "ModifyDBSnapshotAttribute", ResourceARN: "arn:aws:rds:eu-central-1:" + prodAcct + ":snapshot:payments"},
		{EventID: "ev-3", Time: t0.Add(9 * time.Minute), Account: prodAcct, SourceIdentity: "someone-else", EventSource: "rds.amazonaws.com", EventName: "DeleteDBSnapshot"},
	})
	if err != nil {
		t.Fatal(err)
	}

	e.clk.Advance(30*time.Minute - time.Second)
	e.run()
	if s := e.get(r.ID).State; s != breakglass.StateActive {
		t.Fatalf("a second before the end the request is %s", s)
	}
	e.clk.Advance(time.Second)
	e.run()
	end := e.get(r.ID)
	if end.State != breakglass.StateExpired || !end.EndedAt.Equal(t0.Add(33*time.Minute)) || end.CleanupPending {
		t.Fatalf("at the end the request is %s at %v (cleanup pending %v); want expired at 03:45", end.State, end.EndedAt, end.CleanupPending)
	}
	expired := e.shown(r, breakglass.PlaceApprovers)
	contains(t, "approvers' message", expired, "Expired at", "after 30m")
	lacks(t, "approvers' message", expired, "Revoke now")
	contains(t, "finding thread copy", e.shown(r, breakglass.PlaceFinding), "Expired at")
	ended := e.shown(r, breakglass.PlaceDM)
	contains(t, "access DM", ended, "expired")
	lacks(t, "access DM", ended, "SigninToken", "AWS_SECRET_ACCESS_KEY")
	if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); !ok {
		t.Error("no revocation policy on the role at the end: a console session could outlive the window")
	}
	aref, _ := end.Message(breakglass.PlaceApprovers)
	replies := e.emu.Replies(approvers, aref.TS)
	if len(replies) != 1 {
		t.Fatalf("approvers' thread has %d replies, want the summary", len(replies))
	}
	contains(t, "summary", replies[0].Text+unescapeJSON.Replace(string(replies[0].Blocks)), "2 events", "rds:ModifyDBSnapshotAttribute", "snapshot:payments")
	lacks(t, "summary", string(replies[0].Blocks), "DeleteDBSnapshot")

	want := []string{
		"request:ok:" + requester, "approve:ok:" + manager, "grant:ok:system",
		"deliver:ok:" + requester, "deliver:refused:" + manager, "expire:ok:system", "use:ok:" + requester,
	}
	if got := e.audit(); !slices.Equal(got, want) {
		t.Fatalf("audit = %v\nwant %v", got, want)
	}
}

func TestApprovalRefusals(t *testing.T) {
	tests := []struct {
		name      string
		requester string
		approver  string
		want      func(error) bool
	}{
		{"the requester cannot approve their own request", lead, lead, func(err error) bool { return errors.Is(err, breakglass.ErrSelfApproval) }},
		{"a responder outside the approvers is refused", requester, outsider, func(err error) bool {
			var r *breakglass.RefusedError
			return errors.As(err, &r) && strings.Contains(r.Reason, "approver role")
		}},
		{"a user from another workspace is refused", requester, manager + "@T0OTHER", func(err error) bool {
			var r *breakglass.RefusedError
			return errors.As(err, &r)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r, err := e.svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(tc.requester, team), Account: prodAcct, Reason: "incident"})
			if err != nil {
				t.Fatal(err)
			}
			user, tm, _ := strings.Cut(tc.approver, "@")
			if tm == "" {
				tm = team
			}
			if _, err := e.svc.Approve(e.ctx, actor(user, tm), r.ID); !tc.want(err) {
				t.Fatalf("Approve = %v", err)
			}
			if s := e.get(r.ID).State; s != breakglass.StatePending {
				t.Fatalf("after the refusal the request is %s, want pending", s)
			}
			if n := len(e.sts.AssumeRoleCalls()); n != 0 {
				t.Fatalf("AssumeRole called %d times", n)
			}
			if a := e.audit(); a[len(a)-1] != "approve:refused:"+user {
				t.Fatalf("audit = %v; want the refusal recorded", a)
			}
		})
	}

	t.Run("only responders may request", func(t *testing.T) {
		e := newEnv(t)
		var ref *breakglass.RefusedError
		if _, err := e.svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(manager, team), Account: prodAcct, Reason: "x"}); !errors.As(err, &ref) {
			t.Fatalf("Request by a non-responder = %v, want a refusal", err)
		}
		if len(e.emu.Messages(approvers)) != 0 {
			t.Fatal("a refused request was posted")
		}
	})
	t.Run("a request needs a reason and a configured account", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(requester, team), Account: prodAcct, Reason: "  "}); !errors.Is(err, breakglass.ErrReasonRequired) {
			t.Fatalf("blank reason: %v", err)
		}
		if _, err := e.svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(requester, team), Account: "999999999999", Reason: "x"}); !errors.Is(err, breakglass.ErrUnknownAccount) {
			t.Fatalf("unknown account: %v", err)
		}
		if _, err := e.svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(requester, team), Account: prodAcct, Level: "root", Reason: "x"}); !errors.Is(err, breakglass.ErrUnknownLevel) {
			t.Fatalf("unknown level: %v", err)
		}
	})
}

func TestDurationIsCapped(t *testing.T) {
	tests := []struct {
		name    string
		account string
		roleMax time.Duration
		asked   time.Duration
		want    time.Duration
	}{
		{"the default", prodAcct, 0, 0, 30 * time.Minute},
		{"as asked", prodAcct, 0, 45 * time.Minute, 45 * time.Minute},
		{"the configured maximum", prodAcct, 0, 3 * time.Hour, time.Hour},
		{"the role's maximum session", stageAcct, 20 * time.Minute, 0, 20 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *breakglass.Config) { c.MaxDuration = time.Hour })
			if tc.roleMax > 0 {
				e.iam.AddRole(stageAcct, awsfake.IAMRole{Name: "BreakGlass", MaxSessionDuration: int(tc.roleMax / time.Second)})
			}
			r := e.request(tc.account, tc.asked)
			if r.Duration != tc.want {
				t.Fatalf("duration = %v, want %v", r.Duration, tc.want)
			}
			if capped := tc.asked > tc.want || (tc.asked == 0 && tc.roleMax > 0); capped != (r.CappedFrom > 0) {
				t.Fatalf("capped from %v; want a cut recorded = %v", r.CappedFrom, capped)
			}
		})
	}
}

func TestConcurrentApprovalsGiveOneDecision(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	for _, who := range []string{manager, manager2, admin} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Approve(e.ctx, actor(who, team), r.ID)
			mu.Lock()
			results[who] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	var winner string
	for who, err := range results {
		if err == nil {
			if winner != "" {
				t.Fatalf("both %s and %s won", winner, who)
			}
			winner = who
		}
	}
	if winner == "" {
		t.Fatalf("nobody won: %v", results)
	}
	for who, err := range results {
		if who == winner {
			continue
		}
		var d *breakglass.DecidedError
		if !errors.As(err, &d) || d.By != winner || d.State == breakglass.StatePending {
			t.Fatalf("%s got %v; want to be told %s decided first", who, err, winner)
		}
	}
	if n := len(e.sts.AssumeRoleCalls()); n != 1 {
		t.Fatalf("AssumeRole called %d times, want once", n)
	}
	if got := e.get(r.ID); got.State != breakglass.StateActive || got.DecidedBy != winner || len(got.Approvals) != 1 {
		t.Fatalf("request = %s decided by %s with %d approvals", got.State, got.DecidedBy, len(got.Approvals))
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	note := e.shown(r, breakglass.PlaceRequester)
	contains(t, "requester's note", note, "waiting for approval", `"action_id":"breakglass.withdraw"`)
	if _, err := e.svc.Deny(e.ctx, actor(manager, team), r.ID, " "); !errors.Is(err, breakglass.ErrReasonRequired) {
		t.Fatalf("Deny without a reason = %v", err)
	}
	var ref *breakglass.RefusedError
	if _, err := e.svc.Deny(e.ctx, actor(outsider, team), r.ID, "no"); !errors.As(err, &ref) {
		t.Fatalf("Deny by a non-approver = %v", err)
	}
	got, err := e.svc.Deny(e.ctx, actor(manager, team), r.ID, "Use the read-only role <!here>")
	if err != nil || got.State != breakglass.StateDenied {
		t.Fatalf("Deny = %s, %v", got.State, err)
	}
	shown := e.shown(r, breakglass.PlaceApprovers)
	contains(t, "approvers' message", shown, "Denied by <@"+manager+">", "Use the read-only role &lt;!here&gt;")
	lacks(t, "approvers' message", shown, "Approve", "<!here>")
	// The requester learns it at once, with who and why, and can no
	// longer withdraw.
	note = e.shown(r, breakglass.PlaceRequester)
	contains(t, "requester's note", note, "denied* by <@"+manager+">", "Use the read-only role &lt;!here&gt;")
	lacks(t, "requester's note", note, "waiting for approval", `"action_id":"breakglass.withdraw"`)
	var d *breakglass.DecidedError
	if _, err := e.svc.Approve(e.ctx, actor(manager2, team), r.ID); !errors.As(err, &d) || d.State != breakglass.StateDenied || d.By != manager {
		t.Fatalf("Approve after the denial = %v", err)
	}
	if n := len(e.sts.AssumeRoleCalls()); n != 0 {
		t.Fatalf("AssumeRole called %d times", n)
	}
}

func TestUndecidedRequestExpires(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	ref, _ := e.get(r.ID).Message(breakglass.PlaceApprovers)

	e.clk.Advance(7*time.Minute + 30*time.Second)
	e.run()
	replies := e.emu.Replies(approvers, ref.TS)
	if len(replies) != 1 {
		t.Fatalf("thread replies halfway = %d, want the reminder", len(replies))
	}
	contains(t, "reminder", unescapeJSON.Replace(string(replies[0].Blocks)), "Still waiting", "<@"+manager+">")
	e.run()
	if n := len(e.emu.Replies(approvers, ref.TS)); n != 1 {
		t.Fatalf("reminded %d times", n)
	}

	e.clk.Advance(7*time.Minute + 30*time.Second)
	e.run()
	got := e.get(r.ID)
	if got.State != breakglass.StateTimedOut {
		t.Fatalf("after 15 minutes the request is %s", got.State)
	}
	shown := e.shown(r, breakglass.PlaceApprovers)
	contains(t, "approvers' message", shown, "Expired undecided")
	lacks(t, "approvers' message", shown, `"action_id":"breakglass.approve"`)
	note := e.shown(r, breakglass.PlaceRequester)
	contains(t, "requester's note", note, "expired undecided", "no approver decided in time")
	lacks(t, "requester's note", note, "waiting for approval", `"action_id":"breakglass.withdraw"`)
	var d *breakglass.DecidedError
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); !errors.As(err, &d) || d.State != breakglass.StateTimedOut {
		t.Fatalf("Approve after the expiry = %v", err)
	}
	want := []string{"request:ok:" + requester, "remind:ok:system", "expire_undecided:ok:system", "approve:refused:" + manager}
	if got := e.audit(); !slices.Equal(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}

func TestApprovalAfterTheDeadlineBeforeTheTimer(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	e.clk.Advance(16 * time.Minute) // the worker has not run yet
	var d *breakglass.DecidedError
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); !errors.As(err, &d) || d.State != breakglass.StateTimedOut {
		t.Fatalf("Approve past the deadline = %v", err)
	}
}

func TestRestartDuringActiveGrant(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	e.start() // a new process on the same store
	if err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.run()
	if s := e.get(r.ID).State; s != breakglass.StateActive {
		t.Fatalf("after the restart the grant is %s, want still active", s)
	}
	e.clk.Advance(20 * time.Minute)
	e.run()
	got := e.get(r.ID)
	if got.State != breakglass.StateExpired || !got.EndedAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("the grant is %s at %v; want expired on time at 03:42", got.State, got.EndedAt)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "Expired at")
}

func TestRestartAfterTheEndFailsClosed(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
		t.Fatal(err)
	}
	// The bot was down across the end of the window.
	e.clk.Advance(2 * time.Hour)
	e.start()
	if err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := e.get(r.ID)
	if got.State != breakglass.StateExpired || !got.EndedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("at start the overdue grant is %s at %v; want ended at once", got.State, got.EndedAt)
	}
	if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); !ok {
		t.Fatal("the overdue grant's sessions were not revoked")
	}
	// The expiry timer still in the outbox finds nothing more to do.
	e.run()
	if a := e.audit(); slices.Index(a, "expire:ok:system") != len(a)-1 || strings.Count(strings.Join(a, ","), "expire:") != 1 {
		t.Fatalf("audit = %v; want one expiry", a)
	}
}

func TestRevokeNow(t *testing.T) {
	tests := []struct {
		name    string
		by      string
		allowed bool
	}{
		{"the requester", requester, true},
		{"an approver", manager2, true},
		{"an admin", admin, true},
		{"another responder", outsider, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.request(prodAcct, 0)
			if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(12*time.Minute + 500*time.Millisecond)
			got, err := e.svc.Revoke(e.ctx, actor(tc.by, team), r.ID)
			if !tc.allowed {
				var ref *breakglass.RefusedError
				if !errors.As(err, &ref) || e.get(r.ID).State != breakglass.StateActive {
					t.Fatalf("Revoke = %v; want a refusal and the grant still active", err)
				}
				if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); ok {
					t.Fatal("a refused revocation changed the role")
				}
				return
			}
			if err != nil || got.State != breakglass.StateRevoked || got.EndedBy != tc.by {
				t.Fatalf("Revoke = %s by %s, %v", got.State, got.EndedBy, err)
			}
			doc, ok := e.revokePolicy(prodAcct, "BreakGlassResponder")
			if !ok {
				t.Fatal("no revocation policy on the role")
			}
			contains(t, "revocation policy", doc, `"Effect":"Deny"`, `"Action":"*"`, `"aws:TokenIssueTime":"2026-11-27T03:24:01Z"`, `"aws:SourceIdentity":"`+requester+`"`)
			shown := e.shown(r, breakglass.PlaceApprovers)
			contains(t, "approvers' message", shown, "Revoked by <@"+tc.by+">", "after 12m")
			lacks(t, "approvers' message", shown, "Revoke now")
			contains(t, "access DM", e.shown(r, breakglass.PlaceDM), "was revoked")
			if _, err := e.svc.Revoke(e.ctx, actor(tc.by, team), r.ID); !errors.Is(err, breakglass.ErrNotActive) {
				t.Fatalf("revoking twice = %v, want ErrNotActive", err)
			}
			// The expiry timer later changes nothing.
			e.clk.Advance(time.Hour)
			e.run()
			if s := e.get(r.ID).State; s != breakglass.StateRevoked {
				t.Fatalf("after the window the request is %s", s)
			}
		})
	}
}

func TestRevocationFailureIsRetried(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
		t.Fatal(err)
	}
	e.aws.Inject(awsfake.Fault{Service: "iam", Action: "PutRolePolicy", Code: "AccessDenied", Status: 403, Times: 2})
	got, err := e.svc.Revoke(e.ctx, actor(requester, team), r.ID)
	if err != nil || got.State != breakglass.StateRevoked || !got.CleanupPending {
		t.Fatalf("Revoke with IAM failing = %s (cleanup pending %v), %v; want revoked with cleanup pending", got.State, got.CleanupPending, err)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "retrying")
	e.clk.Advance(31 * time.Second)
	e.run() // fails again
	if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); ok {
		t.Fatal("policy present while IAM fails")
	}
	e.clk.Advance(31 * time.Second)
	e.run()
	if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); !ok || e.get(r.ID).CleanupPending {
		t.Fatal("the revocation was not retried to success")
	}
	lacks(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "retrying")
}

func TestTwoApprovers(t *testing.T) {
	e := newEnv(t, func(c *breakglass.Config) {
		c.Accounts[0].TwoApprovers = true // prodAcct
	})
	r := e.request(prodAcct, 0)
	got, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID)
	if err != nil || got.State != breakglass.StatePending || len(got.Approvals) != 1 {
		t.Fatalf("first approval = %s with %d approvals, %v; want still pending", got.State, len(got.Approvals), err)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "1 of 2 approvers", "Approve")
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); !errors.Is(err, breakglass.ErrAlreadyApproved) {
		t.Fatalf("the same approver twice = %v", err)
	}
	if n := len(e.sts.AssumeRoleCalls()); n != 0 {
		t.Fatalf("AssumeRole after one approval: %d calls", n)
	}
	got, err = e.svc.Approve(e.ctx, actor(manager2, team), r.ID)
	if err != nil || got.State != breakglass.StateActive {
		t.Fatalf("second approval = %s, %v; want active", got.State, err)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "<@"+manager+"> and <@"+manager2+">")
}

func TestSelfApproval(t *testing.T) {
	e := newEnv(t, func(c *breakglass.Config) { c.SelfApproveAfter = 10 * time.Minute })
	r := e.request(prodAcct, 0)
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "Approve my own request")
	if _, err := e.svc.SelfApprove(e.ctx, actor(requester, team), r.ID); !errors.Is(err, breakglass.ErrSelfApproveOff) {
		t.Fatalf("self-approval before the wait = %v", err)
	}
	e.clk.Advance(10 * time.Minute)
	if _, err := e.svc.SelfApprove(e.ctx, actor(outsider, team), r.ID); !errors.Is(err, breakglass.ErrSelfApproveOff) {
		t.Fatalf("self-approval by someone else = %v", err)
	}
	got, err := e.svc.SelfApprove(e.ctx, actor(requester, team), r.ID)
	if err != nil || got.State != breakglass.StateActive || !got.ReviewOpen {
		t.Fatalf("self-approval = %s (review %v), %v", got.State, got.ReviewOpen, err)
	}
	msgs := e.emu.Messages(secops)
	if len(msgs) != 1 {
		t.Fatalf("SecOps channel has %d messages, want the announcement", len(msgs))
	}
	contains(t, "announcement", string(msgs[0].Blocks), "approved their own", "review")
	if _, err := e.svc.CloseReview(e.ctx, actor(requester, team), r.ID, "fine"); err == nil {
		t.Fatal("the requester closed the review of their own self-approval")
	}
	if got, err := e.svc.CloseReview(e.ctx, actor(manager, team), r.ID, "checked the session"); err != nil || got.ReviewOpen || got.ReviewedBy != manager {
		t.Fatalf("CloseReview = %+v, %v", got, err)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "reviewed by <@"+manager+">")
}

func TestIdentityCenterGrant(t *testing.T) {
	e := newEnv(t)
	e.sso.SetPolls(2)
	r := e.request(icAcct, 0)
	if r.Email != "ana@example.com" {
		t.Fatalf("email = %q", r.Email)
	}
	got, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID)
	if err != nil || got.State != breakglass.StateActive || got.PrincipalID != "user-ana" {
		t.Fatalf("Approve = %s for %q, %v", got.State, got.PrincipalID, err)
	}
	if a := e.sso.Assignments(instance, icAcct, permSet); !slices.Equal(a, []string{"user-ana"}) {
		t.Fatalf("assignments = %v", a)
	}
	contains(t, "access DM", e.shown(r, breakglass.PlaceDM), "Open the AWS access portal", "awsapps.com/start")

	// A stray assignment made by hand is swept; the active grant stays.
	e.sso.Assign(instance, icAcct, permSet, "user-stray")
	if err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if a := e.sso.Assignments(instance, icAcct, permSet); !slices.Equal(a, []string{"user-ana"}) {
		t.Fatalf("after the sweep = %v, want only the active grant", a)
	}

	e.clk.Advance(30 * time.Minute)
	e.run()
	if s := e.get(r.ID).State; s != breakglass.StateExpired {
		t.Fatalf("after 30 minutes = %s", s)
	}
	if a := e.sso.Assignments(instance, icAcct, permSet); len(a) != 0 {
		t.Fatalf("after the expiry assignments = %v", a)
	}
}

func TestGrantFailureTakesBackAndReports(t *testing.T) {
	e := newEnv(t)
	e.sts.Deny(roleARN)
	r := e.request(prodAcct, 0)
	got, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != breakglass.StateFailed || !strings.Contains(got.Error, "AccessDenied") || got.CleanupPending {
		t.Fatalf("request = %s (%s), cleanup pending %v", got.State, got.Error, got.CleanupPending)
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "could not be granted", "AccessDenied")
	if _, ok := e.get(r.ID).Message(breakglass.PlaceDM); ok {
		t.Fatal("an access message was sent for a failed grant")
	}
	if a := e.audit(); a[len(a)-1] != "grant:error:system" {
		t.Fatalf("audit = %v; want the failed grant last", a)
	}
}

func TestInterruptedGrantFailsClosed(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	// The process stopped inside Approve, after the decision was stored
	// and before the grant was recorded, so nobody knows whether AWS
	// issued credentials.
	e.forceApproved(r.ID, manager)
	e.clk.Advance(6 * time.Minute)
	e.start()
	if err := e.svc.Reconcile(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := e.get(r.ID)
	if got.State != breakglass.StateFailed || !strings.Contains(got.Error, "restarted") || got.CleanupPending {
		t.Fatalf("after the restart = %s (%s); want failed and cleaned up", got.State, got.Error)
	}
	if _, ok := e.revokePolicy(prodAcct, "BreakGlassResponder"); !ok {
		t.Fatal("an interrupted grant was not revoked")
	}
	contains(t, "approvers' message", e.shown(r, breakglass.PlaceApprovers), "could not be granted", "restarted")
}

func TestMessageUpdateIsRetried(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)
	e.emu.FailNext("chat.update", 2, "internal_error")
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); err != nil {
		t.Fatal(err)
	}
	contains(t, "approvers' message while Slack fails", e.shown(r, breakglass.PlaceApprovers), "Waiting for approval")
	e.clk.Advance(31 * time.Second)
	e.run()
	contains(t, "approvers' message after the retry", e.shown(r, breakglass.PlaceApprovers), "Active until", "Revoke now")
	contains(t, "finding thread copy after the retry", e.shown(r, breakglass.PlaceFinding), "Active until")
}

// TestDuplicateRequestIsRefused: a second request by the same person for
// the same account and level, while the first is open, is refused and
// audited; approvers see one request. Another level, another person, or a
// request after the first ended are filed. Submissions racing on two
// replicas file one request.
func TestDuplicateRequestIsRefused(t *testing.T) {
	e := newEnv(t)
	ask := func(svc *breakglass.Service, user, account string) (breakglass.Request, error) {
		return svc.Request(e.ctx, breakglass.NewRequest{Requester: actor(user, team), Account: account, Reason: "snapshot shared with an unknown account"})
	}
	first := e.request(prodAcct, 0)
	posted := len(e.emu.Messages(approvers))

	_, err := ask(e.svc, requester, prodAcct)
	var dup *breakglass.DuplicateError
	if !errors.As(err, &dup) || dup.Existing.ID != first.ID || dup.Existing.State != breakglass.StatePending {
		t.Fatalf("second request = %v; want a refusal naming pending %s", err, first.ID)
	}
	if n := len(e.emu.Messages(approvers)); n != posted {
		t.Errorf("approvers' channel holds %d messages after the refusal, want %d", n, posted)
	}
	if got := e.audit(); !slices.ContainsFunc(got, func(s string) bool { return s == "request:refused:"+requester }) {
		t.Errorf("audit = %q, want the refused request", got)
	}

	// Active is still open.
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(e.svc, requester, prodAcct); !errors.As(err, &dup) || dup.Existing.State != breakglass.StateActive {
		t.Fatalf("request while active = %v; want a refusal naming the active access", err)
	}
	// Another account, another person: filed.
	if _, err := ask(e.svc, requester, stageAcct); err != nil {
		t.Fatalf("request for another account: %v", err)
	}
	if _, err := ask(e.svc, lead, prodAcct); err != nil {
		t.Fatalf("request by another person: %v", err)
	}
	// Once the access ended, a new request is filed.
	if _, err := e.svc.Revoke(e.ctx, actor(requester, team), first.ID); err != nil {
		t.Fatal(err)
	}
	again, err := ask(e.svc, requester, prodAcct)
	if err != nil {
		t.Fatalf("request after the first ended: %v", err)
	}

	// Two replicas, one store: of racing submissions one is filed.
	if _, err := e.svc.Deny(e.ctx, actor(manager, team), again.ID, "not needed"); err != nil {
		t.Fatal(err)
	}
	e.start()
	other := e.svc
	e.start()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = ask(svc, requester, prodAcct)
		}()
	}
	wg.Wait()
	filed := 0
	for _, err := range errs {
		switch {
		case err == nil:
			filed++
		case !errors.As(err, &dup):
			t.Errorf("racing request: %v", err)
		}
	}
	if filed != 1 {
		t.Errorf("%d of %d racing requests filed, want 1", filed, len(errs))
	}
}

// TestWithdraw: only the requester takes back a pending request; the
// approvers' message says so, nobody can approve it afterwards, and a new
// request for the same access is filed at once.
func TestWithdraw(t *testing.T) {
	e := newEnv(t)
	r := e.request(prodAcct, 0)

	var refused *breakglass.RefusedError
	if _, err := e.svc.Withdraw(e.ctx, actor(manager, team), r.ID); !errors.As(err, &refused) {
		t.Fatalf("withdraw by an approver = %v; want a refusal", err)
	}
	got, err := e.svc.Withdraw(e.ctx, actor(requester, team), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != breakglass.StateWithdrawn || got.DecidedBy != requester {
		t.Fatalf("withdrawn request = %s by %s", got.State, got.DecidedBy)
	}
	shown := e.shown(r, breakglass.PlaceApprovers)
	contains(t, "approvers' message", shown, "withdrawn", "Withdrawn by <@"+requester+">")
	lacks(t, "approvers' message", shown, `"action_id":"breakglass.approve"`)
	note := e.shown(r, breakglass.PlaceRequester)
	contains(t, "requester's note", note, "withdrawn* by <@"+requester+">")
	lacks(t, "requester's note", note, "waiting for approval", `"action_id":"breakglass.withdraw"`)

	var decided *breakglass.DecidedError
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), r.ID); !errors.As(err, &decided) || decided.State != breakglass.StateWithdrawn {
		t.Fatalf("approve after the withdrawal = %v; want it refused as withdrawn", err)
	}
	if _, err := e.svc.Withdraw(e.ctx, actor(requester, team), r.ID); !errors.As(err, &decided) {
		t.Fatalf("a second withdrawal = %v; want it refused as decided", err)
	}
	again := e.request(prodAcct, 0)
	if again.State != breakglass.StatePending {
		t.Fatalf("the request filed again is %s", again.State)
	}
	if _, err := e.svc.Approve(e.ctx, actor(manager, team), again.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Withdraw(e.ctx, actor(requester, team), again.ID); !errors.As(err, &decided) {
		t.Fatalf("withdrawing granted access = %v; want it refused (Revoke ends access)", err)
	}
	want := []string{"withdraw:refused:" + manager, "withdraw:ok:" + requester}
	for _, w := range want {
		if !slices.Contains(e.audit(), w) {
			t.Errorf("audit = %q, want %q", e.audit(), w)
		}
	}
}
