package blocks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/playbooks"
)

// TestFollowUpGolden is the morning follow-up as the owning team reads
// it, in the states a night can leave a finding in, and the note in the
// thread that says when it goes out.
func TestFollowUpGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	resolved := storyTwoContained()
	resolved.Status, resolved.ResolvedBy, resolved.ResolvedAt = finding.StatusResolved, "U024BE7LH", utc(time.November, 27, 3, 15, 0)
	resolved.ResolveReason = "state re-check after containment snapshot-unshare: shared with no account"
	run := &playbooks.Run{Steps: []playbooks.StepState{{ID: "a", Status: playbooks.StepDone}, {ID: "b", Status: playbooks.StepSkipped}, {ID: "c", Status: playbooks.StepPending}}}
	opts := FollowUpOptions{Location: berlin, TicketKey: "PAY-42", TicketURL: "https://jira.example.com/browse/PAY-42",
		ThreadURL: "https://emu.slack.test/archives/C0SECOPS/p1700000000000100"}
	fu := playbooks.FollowUp{FindingID: storyTwo().ID, Channel: "C0PAYMENTS", At: utc(time.November, 27, 8, 0, 0), State: playbooks.FollowUpScheduled}
	cancelled := fu
	cancelled.State, cancelled.By, cancelled.On = playbooks.FollowUpCancelled, "U024BE7LH", utc(time.November, 27, 3, 30, 0)
	tests := []struct {
		name  string
		build func() (string, []slack.Block)
		says  []string
	}{
		{"followup-open", func() (string, []slack.Block) {
			return (FollowUpMessage(storyTwo(), nil, FollowUpOptions{Location: berlin}))
		},
			[]string{"still open", "make the permanent fix"}},
		{"followup-contained-resolved", func() (string, []slack.Block) { return (FollowUpMessage(resolved, run, opts)) },
			[]string{"Resolved by", "Contained by <@U024BE7LH>", "Unshare the snapshot", "2 of 3 steps done", "PAY-42", "the finding's thread"}},
		{"followup-note", func() (string, []slack.Block) { return (FollowUpNote(fu, berlin)) },
			[]string{"Fri 27 Nov 09:00 CET", "<#C0PAYMENTS>", ActionFollowUpCancel}},
		{"followup-note-cancelled", func() (string, []slack.Block) { return (FollowUpNote(cancelled, berlin)) },
			[]string{"cancelled by <@U024BE7LH>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, bl := tc.build()
			golden(t, tc.name, message{Text: text, Blocks: bl})
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(bl); err != nil {
				t.Fatal(err)
			}
			raw := buf.String()
			if err := CheckLimits(bl, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
			for _, s := range tc.says {
				if !strings.Contains(raw, s) {
					t.Errorf("%s does not say %q:\n%s", tc.name, s, raw)
				}
			}
		})
	}
}
