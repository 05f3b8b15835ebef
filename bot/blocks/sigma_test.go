package blocks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

// sigmaRootUse is a finding raised by the catalogue's Sigma rule for root
// use: keyed on the actor, with no resource, and the rule's notes.
func sigmaRootUse() finding.Finding {
	event := utc(time.November, 27, 23, 7, 25)
	key := finding.KeyFor("31767720-670c-4f19-a2e9-830088fbd793", "111122223333", "us-east-1", "arn:aws:iam::111122223333:root")
	return finding.Finding{
		ID: finding.IDFor(key), Key: key, Rule: "31767720-670c-4f19-a2e9-830088fbd793",
		Severity: finding.SeverityHigh, Status: finding.StatusOpen,
		Title:     "Root user signed in or made a call",
		Detail:    "The account's root user signed in to the console or called an API. The root user cannot be restricted by IAM policies and should only be used for the few tasks that require it; any other use means its credentials are in use where they should not be.",
		AccountID: "111122223333", AccountName: "payments-prod", Region: "us-east-1",
		Actor: finding.Actor{ARN: "arn:aws:iam::111122223333:root", Type: "Root", Name: "root", AccountID: "111122223333"},
		Event: finding.EventRef{ID: "deb1e1f9-c99b-4612-8e9f-21f93b5cc87e", Name: "ConsoleLogin", Source: "signin.amazonaws.com", Time: event,
			SourceIP: "192.0.2.44", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"},
		Team: "payments", Environment: "production", Signals: []finding.Signal{}, Routes: []string{"slack:#secops", "slack:#team-payments"},
		Count: 1, FirstSeen: event, LastSeen: event, OpenedAt: event, DetectedAt: event.Add(52 * time.Second),
		RuleNotes: &finding.RuleNotes{
			Source: "sigma", File: "catalogue/root-account-use.yml", Status: "stable",
			FalsePositives: []string{"One of the tasks only the root user can do (closing the account, changing its support plan, restoring IAM permissions), done on purpose and announced"},
			References: []string{
				"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html",
				"https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-tasks.html",
			},
			Tags: []string{"attack.privilege-escalation", "attack.t1078.004"},
		},
	}
}

func TestSigmaFindingGolden(t *testing.T) {
	text, blocks := FindingMessage(sigmaRootUse(), FindingOptions{Location: mustZone(t, "Europe/Berlin")})
	golden(t, "finding_sigma_root_use", message{Text: text, Blocks: blocks})
	if err := CheckLimits(blocks, false); err != nil {
		t.Errorf("payload breaks Slack limits:\n%v", err)
	}
}

// TestRuleNotesAreUntrusted: a rule file comes from outside the bot, so
// its notes can neither mention nor link anything but web pages.
func TestRuleNotesAreUntrusted(t *testing.T) {
	got := ruleNotesText(&finding.RuleNotes{
		Source:         "sigma",
		FalsePositives: []string{"<!channel> when <@U024BE7LH> says so"},
		References:     []string{"javascript:alert(1)", "https://example.com/a|<!here>", "slack://open", "https://example.com/1", "https://example.com/2", "https://example.com/3", "https://example.com/4"},
	})
	for _, bad := range []string{"<!channel>", "<@U024BE7LH>", "<javascript:", "<slack:", "|<!here>"} {
		if strings.Contains(got, bad) {
			t.Errorf("notes render %q:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, "<https://example.com/a%7C%3C!here%3E|") || !strings.Contains(got, "_and 2 more_") {
		t.Errorf("notes:\n%s", got)
	}
}

// The Mark expected modal of a Sigma finding about an actor offers the
// actor, not a resource it does not have.
func TestExpectedModalForActor(t *testing.T) {
	b, err := json.Marshal(ExpectedModal(sigmaRootUse()))
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"This actor only", "An ARN pattern", `"initial_value":"arn:aws:iam::111122223333:root"`, "actor `arn:aws:iam::111122223333:root`"} {
		if !strings.Contains(got, want) {
			t.Errorf("modal lacks %s:\n%s", want, got)
		}
	}
}
