package bot

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
)

// /secops audit breakglass is for approvers: anyone else is refused and
// the refusal audited before the log is read.
func TestBreakGlassAuditIsForApprovers(t *testing.T) {
	e := newEnv(t)
	// The service is never reached: a zero service would fail.
	e.route(&breakGlass{kit: e.kit, svc: &breakglass.Service{}, loc: time.UTC})
	e.command(responder, "audit breakglass --since 30d")
	if got := e.lastTold(responder); got.text != "Not allowed: you do not hold the approver role" {
		t.Errorf("told %q", got.text)
	}
	if a := e.store.audited("command.audit"); !slices.Equal(a, []string{"refused U0RESPOND@T0ACME breakglass"}) {
		t.Errorf("audit %q", a)
	}
}

// The service's answers are told in plain words; a failure is not an
// answer (it is logged, and the user told that nothing changed).
func TestBreakGlassMessages(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 30, 0, 0, time.UTC)
	date := fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|27 Nov 03:30 UTC>", at.Unix())
	pending := breakglass.Request{ID: "BG-1", Level: "read-only", Account: "111122223333", AccountName: "prod", State: breakglass.StatePending, DecideBy: at}
	tests := []struct {
		name string
		err  error
		want string
		ok   bool
	}{
		{"refused", &breakglass.RefusedError{Reason: "you do not hold the approver role"}, "Not allowed: you do not hold the approver role", true},
		{"a request pending already", &breakglass.DuplicateError{Existing: pending},
			"You already have break-glass request BG-1 for read-only in prod, waiting for approval until " + date + "; a second one was not filed. If it is wrong, withdraw it (the button in the note about it), then file again.", true},
		{"decided by someone", fmt.Errorf("approve BG-1: %w", &breakglass.DecidedError{State: breakglass.StateDenied, By: "U0MANAGER", At: at}),
			"This request was already denied by <@U0MANAGER> at " + date + ".", true},
		{"expired", &breakglass.DecidedError{State: breakglass.StateTimedOut}, "This request expired undecided; ask the requester to file a new one.", true},
		{"no such request", fmt.Errorf("approve BG-NOPE: %w", breakglass.ErrNotFound), "No such break-glass request.", true},
		{"own request", fmt.Errorf("approve BG-1: %w", breakglass.ErrSelfApproval), "You cannot approve your own request.", true},
		{"changed at the same moment", fmt.Errorf("approve BG-1: %w", store.ErrConflict), "Someone else changed this request at the same moment; try again.", true},
		{"a failure", fmt.Errorf("grant BG-1: %w", errors.New("AccessDenied")), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := breakGlassMessage(tc.err, time.UTC)
			if got != tc.want || ok != tc.ok {
				t.Errorf("breakGlassMessage = %q, %v\nwant %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
