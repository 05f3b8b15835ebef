package blocks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// message is how a message payload is stored in a golden file: the
// fallback text beside the blocks, as chat.postMessage receives them.
type message struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// golden compares v, as indented JSON, with testdata/name.golden.json, or
// rewrites the file under -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode %s: %v", name, err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./bot/blocks -update to create it): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from %s; review the change and run go test ./bot/blocks -update\ngot:\n%s", name, path, buf.String())
	}
}

// messageCase is one message builder call and its golden file.
type messageCase struct {
	name  string
	build func(t *testing.T) (string, []slack.Block)
}

func messageCases() []messageCase {
	berlin := func(t *testing.T) *time.Location { return mustZone(t, "Europe/Berlin") }
	london := func(t *testing.T) *time.Location { return mustZone(t, "Europe/London") }
	many := manyFindings(84)
	return []messageCase{
		{"finding_public_bucket_contractor", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(storyOne(), FindingOptions{Location: london(t), TicketURL: "https://jira.example.com/browse/ANA-311", TicketKey: "ANA-311"})
		}},
		{"finding_snapshot_unknown_account", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(storyTwo(), storyTwoOptions(t))
		}},
		{"finding_snapshot_acknowledged", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(storyTwoAcked(), storyTwoOptions(t))
		}},
		{"finding_snapshot_contained", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(storyTwoContained(), storyTwoOptions(t))
		}},
		{"finding_resolved", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(storyOneResolved(), FindingOptions{Location: london(t), TicketKey: "ANA-311"})
		}},
		{"finding_suppressed", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(suppressedBucket(), FindingOptions{Location: london(t)})
		}},
		{"finding_huge", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(huge(), storyTwoOptions(t))
		}},
		{"finding_zero", func(t *testing.T) (string, []slack.Block) {
			return FindingMessage(finding.Finding{}, FindingOptions{})
		}},
		{"reply_repeated", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeRepeated, storyTwoAcked(), "system", "", berlin(t))
		}},
		{"reply_acknowledged", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeAcknowledged, storyTwoAcked(), "U024BE7LH", "", berlin(t))
		}},
		{"reply_resolved", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeResolved, storyOneResolved(), "", "", london(t))
		}},
		{"reply_reopened", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeReopened, storyOne(), "system", "", london(t))
		}},
		{"reply_suppressed", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeSuppressed, suppressedBucket(), "system", "", london(t))
		}},
		{"reply_expected", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeExpected, storyOne(), "U0ANALYTICS", "Vendor exports bucket; public by design until 2027-01-31 (ANA-290).", london(t))
		}},
		{"reply_updated", func(t *testing.T) (string, []slack.Block) {
			return ThreadReply(finding.ChangeUpdated, storyTwo(), "arn:aws:iam::111122223333:user/BackupManager", "555566667777 (payments-dr) removed from the restore attribute", berlin(t))
		}},
		{"list_few", func(t *testing.T) (string, []slack.Block) {
			resolved := storyOneResolved()
			resolved.Resource.ID, resolved.ID = "acme-analytics-staging", "F-0A1B2C3D4E"
			return FindingsList([]finding.Finding{resolved, storyOne(), storyTwoAcked(), suppressedBucket()}, map[string]string{
				storyTwo().ID: "https://example.slack.com/archives/C0SECOPS/p1764212680000100",
			})
		}},
		{"list_many", func(t *testing.T) (string, []slack.Block) {
			return FindingsList(many, nil)
		}},
		{"list_empty", func(t *testing.T) (string, []slack.Block) {
			return FindingsList(nil, nil)
		}},
		{"help", func(t *testing.T) (string, []slack.Block) {
			return Help(commands.Kinds())
		}},
		{"help-findings-only", func(t *testing.T) (string, []slack.Block) {
			return Help([]commands.Kind{commands.Help, commands.Findings, commands.Ack, commands.Resolve, commands.Investigate})
		}},
		{"help-breakglass", func(t *testing.T) (string, []slack.Block) {
			return HelpTopic(commands.BreakGlass, true)
		}},
		{"help-contain-disabled", func(t *testing.T) (string, []slack.Block) {
			return HelpTopic(commands.Contain, false)
		}},
		{"story-one-assessed", func(t *testing.T) (string, []slack.Block) {
			f := storyOne()
			f.Assessment = &finding.Assessment{
				ReadAt: utc(11, 26, 14, 21, 9), Exposed: true, Reason: "GetBucketPolicyStatus reports IsPublic",
				Diff: []string{"+ statement ShareWithPartner: s3:GetObject to everyone", "public access block: BlockPublicPolicy true → (deleted)"},
				Tags: map[string]string{"data-classification": "internal"},
			}
			f.Sensitivity = []string{"tag data-classification=internal"}
			f.Actor.Profile = &finding.Profile{Tags: map[string]string{"contractor-company": "acme-consulting", "owner": "payments"}}
			f.History = []finding.HistoryEntry{
				{Time: utc(11, 26, 14, 20, 58), EventName: "DeleteBucketPublicAccessBlock", Actor: "arn:aws:iam::111122223333:role/contractor-alice"},
				{Time: utc(11, 26, 14, 20, 33), EventName: "PutBucketPolicy", Actor: "arn:aws:iam::111122223333:role/contractor-alice", Failed: true, ErrorCode: "AccessDenied"},
			}
			return FindingMessage(f, FindingOptions{Location: mustZone(t, "Europe/Berlin")})
		}},
		{"story-two-state-unavailable", func(t *testing.T) (string, []slack.Block) {
			f := storyTwo()
			f.Assessment = &finding.Assessment{Unavailable: "state unavailable: access denied (AccessDenied)"}
			return FindingMessage(f, storyTwoOptions(t))
		}},
	}
}

// manyFindings returns n distinct findings of mixed severity and status.
func manyFindings(n int) []finding.Finding {
	out := make([]finding.Finding, 0, n)
	for i := 0; i < n; i++ {
		f := storyOne()
		f.Resource.ID = "bucket-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
		f.ID = finding.IDFor(f.Resource.ID)
		f.Severity = finding.Severity(1 + i%4)
		f.OpenedAt = f.OpenedAt.Add(time.Duration(i) * time.Minute)
		if i%5 == 0 {
			f.Status = finding.StatusResolved
			f.ResolvedAt = f.OpenedAt.Add(time.Hour)
			f.OpenFor = time.Hour
		}
		out = append(out, f)
	}
	return out
}

func TestMessagesGolden(t *testing.T) {
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := tc.build(t)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if text == "" {
				t.Error("empty fallback text; Slack needs it for notifications")
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

func TestModalsGolden(t *testing.T) {
	tests := []struct {
		name  string
		modal slack.ModalViewRequest
	}{
		{"modal_resolve", ResolveModal(storyTwo().ID)},
		{"modal_expected", ExpectedModal(storyOne())},
		{"modal_expected_zero", ExpectedModal(finding.Finding{})},
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
