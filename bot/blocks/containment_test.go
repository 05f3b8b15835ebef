package blocks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/respond/containment"
)

func unshareAction() containment.Action {
	return containment.Action{
		ID: containment.SnapshotUnshare, Title: "Unshare the snapshot",
		Summary:       "Removes the unknown accounts (or every account) from an RDS DB or cluster snapshot, an EBS snapshot or an AMI. Undo shares it with them again and needs an admin.",
		Permissions:   []string{"rds:DescribeDBSnapshotAttributes", "rds:ModifyDBSnapshotAttribute"},
		UndoAdminOnly: true,
	}
}

func restrictAction() containment.Action {
	return containment.Action{
		ID: containment.IAMUserRestrictIP, Title: "Lock the user to the corporate network",
		Summary:     "Adds an inline policy denying every action from outside the corporate ranges. Undo removes it.",
		Permissions: []string{"iam:GetUser", "iam:GetUserPolicy", "iam:PutUserPolicy"},
	}
}

func unshareRecord() containment.Record {
	f := storyTwo()
	return containment.Record{
		ID: "C-5F2A91D04B7E", Action: containment.SnapshotUnshare, FindingID: f.ID, State: containment.StatePreviewed,
		Target: containment.Target{AccountID: f.AccountID, Region: f.Region, Type: f.Resource.Type, ID: f.Resource.ID, ARN: f.Resource.ARN, Accounts: []string{"444455556666"}},
		Plan: containment.Plan{
			Action: containment.SnapshotUnshare,
			Calls: []containment.Call{{API: "rds:ModifyDBSnapshotAttribute", Params: []containment.Param{
				{Name: "DBSnapshotIdentifier", Value: f.Resource.ID}, {Name: "AttributeName", Value: "restore"}, {Name: "ValuesToRemove", Value: "444455556666"},
			}}},
			Before: json.RawMessage(`{"shared_with":["555566667777","444455556666"]}`),
			Notes:  []string{"1 other share(s) stay in place.", "Undo shares it with them again and needs an admin. A copy the other account already made is not affected."},
		},
		PreviewedBy: "U024BE7LH", PreviewedAt: utc(time.November, 27, 3, 31, 0),
	}
}

const restrictDoc = `{
  "Statement": [
    {
      "Action": "*",
      "Condition": {
        "Bool": {
          "aws:ViaAWSService": "false"
        },
        "NotIpAddress": {
          "aws:SourceIp": [
            "198.51.100.0/24"
          ]
        }
      },
      "Effect": "Deny",
      "Resource": "*",
      "Sid": "SecOpsBotRestrictToCorporateNetwork"
    }
  ],
  "Version": "2012-10-17"
}`

func restrictRecord() containment.Record {
	f := storyTwo()
	return containment.Record{
		ID: "C-9B0C3E7A11F2", Action: containment.IAMUserRestrictIP, FindingID: f.ID, State: containment.StatePreviewed,
		Target: containment.Target{AccountID: f.AccountID, Region: f.Region, Type: awsarn.TypeIAMUser, ID: "BackupManager", ARN: f.Actor.ARN},
		Plan: containment.Plan{
			Action: containment.IAMUserRestrictIP,
			Calls: []containment.Call{{API: "iam:PutUserPolicy", Params: []containment.Param{
				{Name: "UserName", Value: "BackupManager"}, {Name: "PolicyName", Value: "secops-bot-restrict-ip"},
			}, Document: restrictDoc}},
			Notes: []string{"Allowed ranges: 198.51.100.0/24.", "IAM changes take from seconds to a few minutes to apply everywhere."},
		},
	}
}

func appliedRecord() containment.Record {
	r := unshareRecord()
	r.State, r.RanBy, r.RanAt = containment.StateApplied, "U024BE7LH", utc(time.November, 27, 3, 33, 10)
	r.Outcome = &containment.Outcome{
		Changed: true, Calls: r.Plan.Calls,
		Summary: "snapshot prod-customers-2026-11-26 is no longer shared with 444455556666; shared with 555566667777",
	}
	return r
}

// reviewRecord is an applied unshare whose snapshot the owner shared with
// one more account and unshared from a partner after the run.
func reviewRecord() containment.Record {
	r := appliedRecord()
	r.UndoReview = &containment.UndoPlan{
		Calls: []containment.Call{{API: "rds:ModifyDBSnapshotAttribute", Params: []containment.Param{
			{Name: "DBSnapshotIdentifier", Value: r.Target.ID}, {Name: "AttributeName", Value: "restore"}, {Name: "ValuesToAdd", Value: "444455556666"},
		}}},
		Changes: []string{"shared with 777788889999 after the run", "no longer shared with 555566667777, which the run left in place"},
		Notes:   []string{"555566667777 stays removed"},
		State:   "9f86d081884c7d65",
	}
	return r
}

// nothingLeftRecord is an applied IP lock whose policy someone edited
// since: undo has nothing it may put back.
func nothingLeftRecord() containment.Record {
	r := restrictRecord()
	r.State, r.RanBy = containment.StateApplied, "U024BE7LH"
	r.UndoReview = &containment.UndoPlan{
		Changes: []string{"the inline policy secops-bot-restrict-ip of user BackupManager was changed after the run"},
		Notes:   []string{"secops-bot-restrict-ip stays as changed; remove it by hand if it should go"},
		State:   "2c26b46b68ffc68f",
	}
	return r
}

func TestContainUndoConfirmCarriesTheState(t *testing.T) {
	m := ContainUndoModal(reviewRecord(), unshareAction())
	id, state, err := ReadContainUndoConfirm(slack.View{PrivateMetadata: m.PrivateMetadata})
	if err != nil || id != "C-5F2A91D04B7E" || state != "9f86d081884c7d65" {
		t.Errorf("ReadContainUndoConfirm = %q, %q, %v; want the record and the state shown", id, state, err)
	}
	for _, bad := range []string{"", "C-5F2A91D04B7E", "|9f86d081884c7d65", "C-5F2A91D04B7E|"} {
		if _, _, err := ReadContainUndoConfirm(slack.View{PrivateMetadata: bad}); err == nil {
			t.Errorf("metadata %q was accepted", bad)
		}
	}
	raw, _ := json.Marshal(m)
	for _, want := range []string{"777788889999", "ValuesToAdd", "444455556666", "stays removed", "Only an admin"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the undo confirmation lacks %s", want)
		}
	}
}

func TestContainmentGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	f := storyTwo()
	failed := unshareRecord()
	failed.State, failed.RanBy = containment.StateFailed, "U024BE7LH"
	failed.Error = "AWS refused rds:ModifyDBSnapshotAttribute in account 111122223333: AccessDenied (User is not authorized to perform rds:ModifyDBSnapshotAttribute). Likely cause: the bot's role in that account lacks this permission; add it to the role (see the action's permissions)."
	undone := appliedRecord()
	undone.State, undone.UndoneBy, undone.UndoneAt = containment.StateUndone, "U0ADMIN01", utc(time.November, 27, 9, 2, 0)
	undone.UndoOutcome = &containment.Outcome{Changed: true, Summary: "shared the snapshot again with 444455556666; left as changed since: 777788889999 stays shared; now shared with 555566667777, 777788889999, 444455556666"}
	offers := []containment.Offer{
		{Action: unshareAction(), Target: unshareRecord().Target},
		{Action: restrictAction(), Target: restrictRecord().Target},
	}
	messages := []struct {
		name  string
		build func() (string, []slack.Block)
	}{
		{"containment-picker", func() (string, []slack.Block) { return ContainPicker(f, offers) }},
		{"containment-picker-none", func() (string, []slack.Block) { return ContainPicker(f, nil) }},
		{"containment-result-applied", func() (string, []slack.Block) { return ContainResult(appliedRecord(), unshareAction(), berlin) }},
		{"containment-result-failed", func() (string, []slack.Block) { return ContainResult(failed, unshareAction(), berlin) }},
		{"containment-result-undone", func() (string, []slack.Block) { return ContainResult(undone, unshareAction(), berlin) }},
		{"containment-undo-review", func() (string, []slack.Block) { return ContainUndoReview(reviewRecord(), unshareAction()) }},
	}
	for _, tc := range messages {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := tc.build()
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
	modals := []struct {
		name  string
		modal slack.ModalViewRequest
	}{
		{"containment-confirm-unshare", ContainConfirmModal(unshareRecord(), unshareAction())},
		{"containment-confirm-restrict-ip", ContainConfirmModal(restrictRecord(), restrictAction())},
		{"containment-undo-confirm", ContainUndoModal(reviewRecord(), unshareAction())},
		{"containment-undo-confirm-nothing-left", ContainUndoModal(nothingLeftRecord(), restrictAction())},
	}
	for _, tc := range modals {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, tc.modal)
			if err := CheckModal(tc.modal); err != nil {
				t.Errorf("modal breaks Slack limits:\n%v", err)
			}
		})
	}
}

// TestContainConfirmShowsExactCalls checks what a responder must see before
// confirming: every parameter and the whole policy document.
func TestContainConfirmShowsExactCalls(t *testing.T) {
	m := ContainConfirmModal(restrictRecord(), restrictAction())
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"iam:PutUserPolicy", "secops-bot-restrict-ip", "BackupManager", `\"aws:ViaAWSService\": \"false\"`, "198.51.100.0/24"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("confirmation lacks %s", want)
		}
	}
	if id, err := ReadContainConfirm(slack.View{PrivateMetadata: m.PrivateMetadata}); err != nil || id != "C-9B0C3E7A11F2" {
		t.Errorf("ReadContainConfirm = %q, %v", id, err)
	}
	if _, err := ReadContainConfirm(slack.View{}); err == nil {
		t.Error("a view without a record was accepted")
	}
}

// TestContainConfirmHugePolicy keeps a preview with many large calls inside
// Slack's limits.
func TestContainConfirmHugePolicy(t *testing.T) {
	r := restrictRecord()
	doc := `{"Statement":[` + strings.Repeat(`{"Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::<bucket>/*"},`, 400) + `{}]}`
	for i := 0; i < 120; i++ {
		r.Plan.Calls = append(r.Plan.Calls, containment.Call{API: "iam:UpdateAccessKey", Document: doc,
			Params: []containment.Param{{Name: "AccessKeyId", Value: strings.Repeat("AKIA", 100)}}})
	}
	if err := CheckModal(ContainConfirmModal(r, restrictAction())); err != nil {
		t.Errorf("huge preview breaks limits:\n%v", err)
	}
}
