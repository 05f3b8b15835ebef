package blocks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
)

var bgStart = time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)

func bgPending() breakglass.Request {
	return breakglass.Request{
		ID: "BG-3F9A1C2E0B7D", Version: 2, State: breakglass.StatePending,
		Requester: "U0RESPOND1", TeamID: "T0EMU0001",
		Account: "111122223333", AccountName: "payments-prod", Mode: breakglass.ModeAssumeRole,
		Level: "incident-responder", Duration: 30 * time.Minute,
		Reason:    "Snapshot rds:payments-2026-11-27 shared with unknown account 555566667777; removing the share. <!channel>",
		FindingID: "F-7C1D9E2A44", CreatedAt: bgStart, DecideBy: bgStart.Add(15 * time.Minute),
	}
}

func bgActive() breakglass.Request {
	r := bgPending()
	r.State = breakglass.StateActive
	r.Approvals = []breakglass.Approval{{User: "U0MANAGER1", At: bgStart.Add(3 * time.Minute)}}
	r.DecidedBy, r.DecidedAt = "U0MANAGER1", bgStart.Add(3*time.Minute)
	r.StartedAt, r.EndsAt = bgStart.Add(3*time.Minute), bgStart.Add(33*time.Minute)
	return r
}

func bgEnded(state breakglass.State, by string, after time.Duration) breakglass.Request {
	r := bgActive()
	r.State, r.EndedBy, r.EndedAt = state, by, r.StartedAt.Add(after)
	return r
}

func TestBreakglassMessagesGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	twoApprovers := bgPending()
	twoApprovers.TwoApprovers = true
	twoApprovers.Approvals = []breakglass.Approval{{User: "U0MANAGER1", At: bgStart.Add(time.Minute)}}
	capped := bgPending()
	capped.Duration, capped.CappedFrom = time.Hour, 4*time.Hour
	denied := bgPending()
	denied.State, denied.DecidedBy, denied.DecidedAt = breakglass.StateDenied, "U0MANAGER1", bgStart.Add(2*time.Minute)
	denied.DenyReason = "Use the read-only role first; the share can be removed by the platform team."
	timedOut := bgPending()
	timedOut.State = breakglass.StateTimedOut
	failed := bgActive()
	failed.State, failed.Error = breakglass.StateFailed, "the grant failed: assume role arn:aws:iam::111122223333:role/BreakGlass: AccessDenied"
	selfApproved := bgActive()
	selfApproved.SelfApproved, selfApproved.ReviewOpen = true, true
	selfApproved.Approvals = []breakglass.Approval{{User: "U0RESPOND1", At: bgStart.Add(10 * time.Minute)}}
	selfApproved.DecidedBy, selfApproved.DecidedAt = "U0RESPOND1", bgStart.Add(10*time.Minute)
	stuck := bgEnded(breakglass.StateExpired, "system", 30*time.Minute)
	stuck.CleanupPending = true
	summarised := bgEnded(breakglass.StateExpired, "system", 30*time.Minute)
	summarised.Summary = &breakglass.Summary{
		Events: 42, Errors: 1, FirstUse: bgStart.Add(5 * time.Minute),
		ByAPI: map[string]int{"rds:DescribeDBSnapshots": 30, "rds:DescribeDBSnapshotAttributes": 9, "rds:ModifyDBSnapshotAttribute": 2, "sts:GetCallerIdentity": 1},
		Writes: []breakglass.Call{
			{Time: bgStart.Add(9 * time.Minute), API: "rds:ModifyDBSnapshotAttribute", Resource: "arn:aws:rds:eu-central-1:111122223333:snapshot:payments-2026-11-27", ErrorCode: "AccessDenied", Source: breakglass.SourceHistory},
			{Time: bgStart.Add(10 * time.Minute), API: "rds:ModifyDBSnapshotAttribute", Resource: "arn:aws:rds:eu-central-1:111122223333:snapshot:payments-2026-11-27", Source: breakglass.SourceLookup},
		},
		FromHistory: 40, FromLookup: 2, Final: true,
	}
	creds := &breakglass.Access{
		ConsoleURL: "https://signin.aws.amazon.com/federation?Action=login&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&Issuer=secops-bot&SigninToken=TOKEN",
		Credentials: &breakglass.Credentials{
			AccessKeyID: "ASIAEXAMPLE0001", SecretAccessKey: "secret/example", SessionToken: "token-example", Expires: bgStart.Add(33 * time.Minute),
		},
	}
	ic := bgActive()
	ic.Mode = breakglass.ModeIdentityCenter
	tests := []struct {
		name string
		msg  breakglass.Message
	}{
		{"breakglass-pending", breakglass.Message{Kind: breakglass.KindRequest, Request: bgPending(), Mentions: []string{"U0MANAGER1", "S0APPROVE1", "not-an-id"}}},
		{"breakglass-pending-two-approvers", breakglass.Message{Kind: breakglass.KindRequest, Request: twoApprovers}},
		{"breakglass-pending-self-approve", breakglass.Message{Kind: breakglass.KindRequest, Request: capped, SelfApproveAt: bgStart.Add(10 * time.Minute)}},
		{"breakglass-active", breakglass.Message{Kind: breakglass.KindRequest, Request: bgActive()}},
		{"breakglass-self-approved-active", breakglass.Message{Kind: breakglass.KindRequest, Request: selfApproved}},
		{"breakglass-denied", breakglass.Message{Kind: breakglass.KindRequest, Request: denied}},
		{"breakglass-timed-out", breakglass.Message{Kind: breakglass.KindRequest, Request: timedOut}},
		{"breakglass-failed", breakglass.Message{Kind: breakglass.KindRequest, Request: failed}},
		{"breakglass-expired", breakglass.Message{Kind: breakglass.KindRequest, Request: bgEnded(breakglass.StateExpired, "system", 30*time.Minute)}},
		{"breakglass-expired-cleanup-pending", breakglass.Message{Kind: breakglass.KindRequest, Request: stuck}},
		{"breakglass-revoked", breakglass.Message{Kind: breakglass.KindRequest, Request: bgEnded(breakglass.StateRevoked, "U0MANAGER1", 12*time.Minute)}},
		{"breakglass-reminder", breakglass.Message{Kind: breakglass.KindReminder, Request: bgPending(), Mentions: []string{"U0MANAGER1"}}},
		{"breakglass-summary", breakglass.Message{Kind: breakglass.KindSummary, Request: summarised}},
		{"breakglass-summary-empty", breakglass.Message{Kind: breakglass.KindSummary, Request: bgEnded(breakglass.StateRevoked, "U0RESPOND1", time.Minute)}},
		{"breakglass-access", breakglass.Message{Kind: breakglass.KindAccess, Request: bgActive(), Access: creds}},
		{"breakglass-access-cli", breakglass.Message{Kind: breakglass.KindAccess, Request: bgActive(), Access: creds, ShowCLI: true}},
		{"breakglass-access-identity-center", breakglass.Message{Kind: breakglass.KindAccess, Request: ic, Access: &breakglass.Access{ConsoleURL: "https://d-1234567890.awsapps.com/start"}}},
		{"breakglass-access-ended", breakglass.Message{Kind: breakglass.KindAccessEnded, Request: bgEnded(breakglass.StateRevoked, "U0MANAGER1", 12*time.Minute)}},
		{"breakglass-self-approved", breakglass.Message{Kind: breakglass.KindSelfApproved, Request: selfApproved, Mentions: []string{"S0APPROVE1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := BreakglassMessage(tc.msg, berlin)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if text == "" {
				t.Error("empty fallback text")
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
			raw, _ := json.Marshal(blocks)
			if strings.Contains(string(raw), "<!channel>") {
				t.Error("the requester's reason pages the channel: <!channel> was not escaped")
			}
		})
	}
}

func TestBreakglassCredentialsOnlyWhenAsked(t *testing.T) {
	acc := &breakglass.Access{ConsoleURL: "https://signin.example/federation", Credentials: &breakglass.Credentials{AccessKeyID: "ASIAKEY", SecretAccessKey: "s3cr3t", SessionToken: "tok"}}
	for _, cli := range []bool{false, true} {
		_, blocks := BreakglassMessage(breakglass.Message{Kind: breakglass.KindAccess, Request: bgActive(), Access: acc, ShowCLI: cli}, time.UTC)
		raw, _ := json.Marshal(blocks)
		if got := strings.Contains(string(raw), "s3cr3t"); got != cli {
			t.Errorf("ShowCLI=%v: secret key shown = %v", cli, got)
		}
		if !strings.Contains(string(raw), acc.ConsoleURL) {
			t.Errorf("ShowCLI=%v: console link missing", cli)
		}
	}
	_, ended := BreakglassMessage(breakglass.Message{Kind: breakglass.KindAccessEnded, Request: bgEnded(breakglass.StateExpired, "system", 30*time.Minute)}, time.UTC)
	if raw, _ := json.Marshal(ended); strings.Contains(string(raw), "ASIAKEY") || strings.Contains(string(raw), "signin.example") {
		t.Error("the ended message still carries the access")
	}
}

func bgConfig() breakglass.Config {
	return breakglass.Config{
		ApproversChannel: "C0APPROVE", DefaultDuration: 30 * time.Minute, MaxDuration: 2 * time.Hour,
		Accounts: []breakglass.AccountPolicy{
			{ID: "444455556666", Name: "analytics", Mode: breakglass.ModeIdentityCenter, Levels: []breakglass.Level{
				{Name: "AdministratorAccess", PermissionSetARN: "arn:aws:sso:::permissionSet/ssoins-1/ps-1"},
			}},
			{ID: "111122223333", Name: "payments-prod", Mode: breakglass.ModeAssumeRole, TwoApprovers: true, Levels: []breakglass.Level{
				{Name: "incident-responder", RoleARN: "arn:aws:iam::111122223333:role/BreakGlassResponder"},
				{Name: "read-only", RoleARN: "arn:aws:iam::111122223333:role/BreakGlassReadOnly"},
			}},
		},
	}
}

func TestBreakglassModalsGolden(t *testing.T) {
	tests := []struct {
		name  string
		modal slack.ModalViewRequest
	}{
		{"breakglass-modal-request", BreakglassRequestModal(bgConfig(), BreakglassPrefill{Account: "111122223333", Reason: "snapshot shared", FindingID: "F-7C1D9E2A44"})},
		{"breakglass-modal-request-empty", BreakglassRequestModal(bgConfig(), BreakglassPrefill{})},
		{"breakglass-modal-deny", BreakglassDenyModal("BG-3F9A1C2E0B7D")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, tc.modal)
			if err := CheckModal(tc.modal); err != nil {
				t.Errorf("modal breaks Slack limits:\n%v", err)
			}
		})
	}
}

func TestReadBreakglassRequest(t *testing.T) {
	state := func(target, dur, reason, finding string) slack.View {
		return slack.View{State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			BlockBreakglassTarget:   {ActionBreakglassTarget: {SelectedOption: slack.OptionBlockObject{Value: target}}},
			BlockBreakglassDuration: {ActionBreakglassDur: {SelectedOption: slack.OptionBlockObject{Value: dur}}},
			BlockBreakglassReason:   {ActionBreakglassReason: {Value: reason}},
			BlockBreakglassFinding:  {ActionBreakglassFinding: {Value: finding}},
		}}}
	}
	tests := []struct {
		name    string
		view    slack.View
		want    BreakglassSubmission
		wantErr error
	}{
		{"complete", state("111122223333/read-only", "1h0m0s", " removing the share ", "F-1"),
			BreakglassSubmission{Account: "111122223333", Level: "read-only", Duration: time.Hour, Reason: "removing the share", FindingID: "F-1"}, nil},
		{"no duration means the default", state("111122223333/read-only", "", "r", ""),
			BreakglassSubmission{Account: "111122223333", Level: "read-only", Reason: "r"}, nil},
		{"no target", state("", "30m0s", "r", ""), BreakglassSubmission{Duration: 30 * time.Minute, Reason: "r"}, ErrNoTarget},
		{"blank reason", state("111122223333/read-only", "30m0s", "  ", ""),
			BreakglassSubmission{Account: "111122223333", Level: "read-only", Duration: 30 * time.Minute}, ErrNoReason},
		{"no state", slack.View{}, BreakglassSubmission{}, ErrNoTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadBreakglassRequest(tc.view)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("ReadBreakglassRequest = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestBreakglassAuditGolden(t *testing.T) {
	var recs []store.AuditRecord
	actions := []struct{ actor, action, result, reason string }{
		{"system", "breakglass.expire", "ok", ""},
		{"U0MANAGER2", "breakglass.approve", "refused", "this request was already approved by U0MANAGER1 at 03:15:00 UTC"},
		{"system", "breakglass.grant", "ok", "incident-responder in 111122223333 until 2026-11-27T03:45:00Z"},
		{"U0MANAGER1", "breakglass.approve", "ok", "approval 1 of 1"},
		{"U0RESPOND1", "breakglass.approve", "refused", "you cannot approve your own request"},
		{"U0RESPOND1", "breakglass.request", "ok", "snapshot shared <!here>"},
	}
	for i, a := range actions {
		recs = append(recs, store.AuditRecord{Seq: int64(10 - i), Time: bgStart.Add(time.Duration(30-i) * time.Minute), Actor: a.actor, Action: a.action, Target: "BG-3F9A1C2E0B7D", Result: a.result, Reason: a.reason})
	}
	tests := []struct {
		name string
		recs []store.AuditRecord
	}{
		{"breakglass-audit", recs},
		{"breakglass-audit-empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := BreakglassAudit(tc.recs, bgStart.Add(-7*24*time.Hour), time.UTC)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
	t.Run("many records stay within a message", func(t *testing.T) {
		many := make([]store.AuditRecord, 1000)
		for i := range many {
			many[i] = store.AuditRecord{Time: bgStart, Actor: "U0RESPOND1", Action: "breakglass.request", Target: "BG-X", Result: "ok", Reason: strings.Repeat("long reason ", 20)}
		}
		_, blocks := BreakglassAudit(many, bgStart, time.UTC)
		if err := CheckLimits(blocks, false); err != nil {
			t.Fatalf("payload breaks Slack limits:\n%v", err)
		}
		raw, _ := json.Marshal(blocks)
		if !strings.Contains(string(raw), "older records") {
			t.Error("no note that older records were left out")
		}
	})
}

// TestBreakglassRequesterNoteGolden is the requester's note in each state
// it is edited to: a Withdraw button only while the request waits, and
// once decided, who decided what and why.
func TestBreakglassRequesterNoteGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	denied := bgPending()
	denied.State, denied.DecidedBy, denied.DecidedAt = breakglass.StateDenied, "U0MANAGER1", bgStart.Add(2*time.Minute)
	denied.DenyReason = "Use the read-only role first. <!channel>"
	timedOut := bgPending()
	timedOut.State, timedOut.DecidedAt = breakglass.StateTimedOut, bgStart.Add(15*time.Minute)
	withdrawn := bgPending()
	withdrawn.State, withdrawn.DecidedBy, withdrawn.DecidedAt = breakglass.StateWithdrawn, "U0RESPOND1", bgStart.Add(time.Minute)
	const link = "https://emu.slack.test/archives/C0APPROVE1/p1700000000000100"
	tests := []struct {
		name     string
		req      breakglass.Request
		withdraw bool
		says     string
	}{
		{"breakglass-note-pending", bgPending(), true, "waiting for approval until"},
		{"breakglass-note-denied", denied, false, "denied* by <@U0MANAGER1>"},
		{"breakglass-note-timed-out", timedOut, false, "expired undecided"},
		{"breakglass-note-withdrawn", withdrawn, false, "withdrawn* by <@U0RESPOND1>"},
		{"breakglass-note-active", bgActive(), false, "approved by <@U0MANAGER1>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := BreakglassRequesterNote(tc.req, berlin, link)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(blocks); err != nil {
				t.Fatal(err)
			}
			raw := buf.String()
			if got := strings.Contains(raw, ActionBreakglassWithdraw); got != tc.withdraw {
				t.Errorf("Withdraw button shown: %v, want %v", got, tc.withdraw)
			}
			if !strings.Contains(raw, tc.says) {
				t.Errorf("note does not say %q: %s", tc.says, raw)
			}
			if strings.Contains(raw, "<!channel>") {
				t.Error("the deny reason pages the channel")
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}
