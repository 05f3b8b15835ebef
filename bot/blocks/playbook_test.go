package blocks

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/playbooks"
)

func offHoursPlaybook(t *testing.T) playbooks.Playbook {
	t.Helper()
	lib, err := playbooks.Load("", playbooks.CatalogueIDs())
	if err != nil {
		t.Fatal(err)
	}
	pb, ok := lib.Get("data-exposure-off-hours")
	if !ok {
		t.Fatal("no data-exposure-off-hours playbook")
	}
	return pb
}

func startedRun(pb playbooks.Playbook) playbooks.Run {
	f := storyTwo()
	run := playbooks.Run{
		ID: "P-3C1D8E22A0F9", Playbook: pb.ID, FindingID: f.ID, Title: f.Title, Team: "payments", OffHours: true,
		Thread:    playbooks.Thread{Channel: "C0SECOPS", TS: "1764212680.000100"},
		MessageTS: "1764212681.000200", StartedAt: utc(time.November, 27, 3, 5, 0),
		OnCallSecOps: []string{"U024BE7LH"}, OnCallTeam: []string{"U0PAYANNA"},
	}
	for _, s := range pb.Steps {
		run.Steps = append(run.Steps, playbooks.StepState{ID: s.ID, Status: playbooks.StepPending})
	}
	return run
}

func progressedRun(pb playbooks.Playbook) playbooks.Run {
	run := startedRun(pb)
	set := func(id string, st playbooks.StepStatus, at time.Time, note, record string) {
		s, _ := run.Step(id)
		s.Status, s.By, s.At, s.Note, s.Record = st, "U024BE7LH", at, note, record
	}
	tm, _ := run.Step("team-ack")
	tm.Escalated = true
	run.Emergency, run.EmergencyAt = true, utc(time.November, 27, 3, 20, 0)
	set("investigate", playbooks.StepDone, utc(time.November, 27, 3, 12, 0), "investigation posted in the thread", "")
	set("review-resource", playbooks.StepSkipped, utc(time.November, 27, 3, 14, 0), "", "")
	set("abuse-report", playbooks.StepDone, utc(time.November, 27, 3, 16, 0), "report for 444455556666 posted in the thread", "")
	set("break-glass", playbooks.StepDone, utc(time.November, 27, 3, 26, 0), "approved by the payments manager; 30-minute session", "")
	set("unshare", playbooks.StepFailed, utc(time.November, 27, 3, 33, 10), "AWS refused rds:ModifyDBSnapshotAttribute in account 111122223333: AccessDenied", "C-5F2A91D04B7E")
	set("restrict-actor", playbooks.StepRunning, utc(time.November, 27, 3, 35, 0), "previewed; awaiting confirmation", "C-9B0C3E7A11F2")
	return run
}

func TestPlaybookGolden(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	pb := offHoursPlaybook(t)
	done := progressedRun(pb)
	for i := range done.Steps {
		done.Steps[i].Status, done.Steps[i].By, done.Steps[i].At = playbooks.StepDone, "U024BE7LH", utc(time.November, 27, 3, 50, 0)
	}
	tests := []struct {
		name string
		run  playbooks.Run
	}{
		{"playbook-started", startedRun(pb)},
		{"playbook-progress", progressedRun(pb)},
		{"playbook-complete", done},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := PlaybookChecklist(pb, tc.run, berlin)
			golden(t, tc.name, message{Text: text, Blocks: blocks})
			if err := CheckLimits(blocks, false); err != nil {
				t.Errorf("payload breaks Slack limits:\n%v", err)
			}
		})
	}
}

// TestPlaybookButtons checks that open steps carry Done / Skip (and Run
// when automated), closed ones none, and that button values round-trip.
func TestPlaybookButtons(t *testing.T) {
	pb := offHoursPlaybook(t)
	_, blocks := PlaybookChecklist(pb, progressedRun(pb), time.UTC)
	buttons := map[string]string{}
	for _, b := range blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				btn := e.(*slack.ButtonBlockElement)
				buttons[btn.ActionID] = btn.Value
			}
		}
	}
	for _, want := range []string{"playbook.run.unshare", "playbook.done.team-ack", "playbook.skip.follow-up", "playbook.run.follow-up"} {
		if _, ok := buttons[want]; !ok {
			t.Errorf("no %s button", want)
		}
	}
	for _, closed := range []string{"playbook.done.investigate", "playbook.run.abuse-report", "playbook.skip.review-resource"} {
		if _, ok := buttons[closed]; ok {
			t.Errorf("closed step has button %s", closed)
		}
	}
	run, step, err := ParseStepValue(buttons["playbook.run.unshare"])
	if err != nil || run != "P-3C1D8E22A0F9" || step != "unshare" {
		t.Errorf("ParseStepValue = %q %q %v", run, step, err)
	}
	if kind, step, ok := StepAction("playbook.skip.follow-up"); !ok || kind != ActionPlaybookSkip || step != "follow-up" {
		t.Errorf("StepAction = %q %q %t", kind, step, ok)
	}
	for _, bad := range []string{"", "P-1", "/x", "P-1/", strings.Repeat("x", 300) + "/y"} {
		if _, _, err := ParseStepValue(bad); err == nil {
			t.Errorf("ParseStepValue(%q) accepted", bad)
		}
	}
}

func TestPlaybookManySteps(t *testing.T) {
	pb := offHoursPlaybook(t)
	for i := 0; i < 40; i++ {
		pb.Steps = append(pb.Steps, playbooks.Step{ID: "extra-" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Title: "Extra", Owner: playbooks.OwnerSecOps})
	}
	run := startedRun(pb)
	_, blocks := PlaybookChecklist(pb, run, time.UTC)
	if err := CheckLimits(blocks, false); err != nil {
		t.Errorf("long playbook breaks limits:\n%v", err)
	}
}
