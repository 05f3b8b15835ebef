package blocks

import (
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/respond/triage"
)

func allowlist() []triage.AllowEntry {
	return []triage.AllowEntry{
		{ID: "E-0A1B2C3D4E", Rule: "s3-bucket-public", Account: "111122223333", Kind: triage.ScopePattern, Pattern: "payments-static-*",
			Reason: "Static site assets, public by design (ANA-290).", By: "U0ANALYTICS",
			At: utc(time.November, 20, 9, 30, 0), ExpiresAt: utc(time.December, 20, 9, 30, 0)},
		{ID: "E-5F6A7B8C9D", Rule: "snapshot-shared-external", Account: "222233334444", Kind: triage.ScopeResource, Pattern: "restore-test-nightly",
			Reason: "Nightly restore test in the vendor's account.", By: "U0DBA", At: utc(time.November, 2, 7, 0, 0)},
		{ID: "E-7E8F9A0B1C", Rule: "guardduty", Account: "111122223333", Kind: triage.ScopeResource, Pattern: "ci-deployer",
			Reason: "Pen test this week <!here>", By: "U0SECOPS", At: utc(time.November, 26, 8, 0, 0), ExpiresAt: utc(time.November, 27, 8, 0, 0)},
	}
}

func TestExpectedListGolden(t *testing.T) {
	names := map[string]string{"111122223333": "payments-prod", "222233334444": "data-prod"}
	now := utc(time.November, 26, 14, 0, 0)
	berlin := mustZone(t, "Europe/Berlin")
	many := make([]triage.AllowEntry, 60)
	for i := range many {
		many[i] = allowlist()[i%3]
		many[i].ID = fmt.Sprintf("E-%010X", i)
	}
	for name, entries := range map[string][]triage.AllowEntry{
		"expected_list":       allowlist(),
		"expected_list_empty": nil,
		"expected_list_many":  many,
	} {
		t.Run(name, func(t *testing.T) {
			text, blocks := ExpectedList(entries, names, now, berlin)
			golden(t, name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

// The modal offers the expiries, "until removed" chosen, and reads each
// back.
func TestExpectedModalExpiry(t *testing.T) {
	m := ExpectedModal(storyOne())
	var radio *slack.RadioButtonsBlockElement
	for _, b := range m.Blocks.BlockSet {
		if in, ok := b.(*slack.InputBlock); ok && in.BlockID == BlockExpectedExpiry {
			radio, _ = in.Element.(*slack.RadioButtonsBlockElement)
		}
	}
	if radio == nil {
		t.Fatal("the form has no expiry choice")
	}
	if radio.InitialOption == nil || radio.InitialOption.Value != "never" {
		t.Errorf("initial expiry %+v, want until removed", radio.InitialOption)
	}
	want := map[string]time.Duration{"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "never": 0}
	if len(radio.Options) != len(want) {
		t.Errorf("%d expiries offered, want %d", len(radio.Options), len(want))
	}
	for _, o := range radio.Options {
		v := viewWith("F-1", map[string]map[string]slack.BlockAction{
			BlockExpectedReason: {ActionExpectedReason: {Value: "why"}},
			BlockExpectedExpiry: {ActionExpectedExpiry: {SelectedOption: slack.OptionBlockObject{Value: o.Value}}},
		})
		got, err := ReadExpected(v)
		if err != nil || got.For != want[o.Value] {
			t.Errorf("option %s read as %v, %v; want %v", o.Value, got.For, err, want[o.Value])
		}
	}
}
