package blocks

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/playbooks"
)

// Action ID prefixes of the checklist's step buttons. Each button's
// action_id is the prefix + "." + the step ID (unique in the message), and
// its value is "<run ID>/<step ID>", which ParseStepValue reads back.
const (
	ActionPlaybookDone = "playbook.done"
	ActionPlaybookSkip = "playbook.skip"
	ActionPlaybookRun  = "playbook.run"
)

// PlaybookChecklist is a run's checklist message: one section per step with
// its owner and state (who and when), and Done / Skip / Run buttons on the
// steps still open. It is posted once and updated in place.
func PlaybookChecklist(pb playbooks.Playbook, run playbooks.Run, loc *time.Location) (text string, blocks []slack.Block) {
	if loc == nil {
		loc = time.UTC
	}
	done := 0
	for _, s := range run.Steps {
		if s.Closed() {
			done++
		}
	}
	title := firstNonEmpty(pb.Title, run.Playbook)
	text = fmt.Sprintf("Playbook: %s (%d of %d steps done)", title, done, len(run.Steps))
	blocks = append(blocks, slack.NewHeaderBlock(plain(clip(":clipboard: "+title, maxHeaderText))))

	meta := []string{
		"Finding " + code(run.FindingID),
		"started " + localTime(run.StartedAt, loc),
		fmt.Sprintf("%d of %d steps done", done, len(run.Steps)),
	}
	if run.OffHours {
		meta = append(meta, ":crescent_moon: off hours for "+esc(firstNonEmpty(run.Team, "the owning team")))
	}
	blocks = append(blocks, contextBlock(meta...))
	if oc := onCallLine(run); oc != "" {
		blocks = append(blocks, contextBlock(oc))
	}
	if run.Emergency {
		blocks = append(blocks, section(":rotating_light: *Emergency path* since "+localTime(run.EmergencyAt, loc)+": the owning team did not acknowledge in time. SecOps on-call leads."))
	}
	blocks = append(blocks, slack.NewDividerBlock())

	for i, step := range pb.Steps {
		st, ok := run.Step(step.ID)
		if !ok {
			continue
		}
		// Two blocks per step; stop short of the limit rather than fail.
		if len(blocks)+2 > maxMessageBlocks {
			blocks = append(blocks[:maxMessageBlocks-1], contextBlock(fmt.Sprintf("…%d more steps not shown.", len(pb.Steps)-i)))
			break
		}
		blocks = append(blocks, section(stepText(i+1, step, *st, loc)))
		if els := stepButtons(run.ID, step, *st); len(els) > 0 {
			blocks = append(blocks, slack.NewActionBlock("playbook.step."+step.ID, els...))
		}
	}
	return text, blocks
}

func onCallLine(run playbooks.Run) string {
	var parts []string
	if len(run.OnCallSecOps) > 0 {
		parts = append(parts, "SecOps "+mentionList(run.OnCallSecOps))
	}
	if len(run.OnCallTeam) > 0 {
		parts = append(parts, esc(firstNonEmpty(run.Team, "team"))+" "+mentionList(run.OnCallTeam))
	}
	if len(parts) == 0 {
		return ""
	}
	return ":pager: On call: " + strings.Join(parts, ", ")
}

func mentionList(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, who(id))
	}
	return strings.Join(out, " ")
}

var stepEmoji = map[playbooks.StepStatus]string{
	playbooks.StepPending: ":white_large_square:",
	playbooks.StepRunning: ":hourglass_flowing_sand:",
	playbooks.StepDone:    ":white_check_mark:",
	playbooks.StepSkipped: ":fast_forward:",
	playbooks.StepFailed:  ":x:",
}

var ownerWords = map[playbooks.Owner]string{
	playbooks.OwnerSecOps: "SecOps",
	playbooks.OwnerTeam:   "owning team",
	playbooks.OwnerOnCall: "on-call",
}

func stepText(n int, step playbooks.Step, st playbooks.StepState, loc *time.Location) string {
	emoji := stepEmoji[st.Status]
	if emoji == "" {
		emoji = ":white_large_square:"
	}
	if st.Escalated && !st.Closed() {
		emoji = ":rotating_light:"
	}
	head := fmt.Sprintf("%s *%d. %s*  _%s_", emoji, n, esc(clip(step.Title, 150)), ownerWords[step.Owner])
	if step.Path == playbooks.PathEmergency {
		head += "  `emergency path`"
	}
	lines := []string{head}
	if step.Text != "" {
		lines = append(lines, esc(clip(step.Text, 600)))
	}
	if e := step.Escalation; e != nil && !st.Closed() {
		if st.Escalated {
			lines = append(lines, ":rotating_light: Not acknowledged within "+duration(e.After)+"; escalated.")
		} else {
			lines = append(lines, ":alarm_clock: Escalates if not acknowledged within "+duration(e.After)+".")
		}
	}
	switch st.Status {
	case playbooks.StepDone:
		lines = append(lines, "Done by "+who(st.By)+" at "+localTime(st.At, loc)+noteSuffix(st.Note))
	case playbooks.StepSkipped:
		lines = append(lines, "Skipped by "+who(st.By)+" at "+localTime(st.At, loc)+noteSuffix(st.Note))
	case playbooks.StepRunning:
		lines = append(lines, "Started by "+who(st.By)+" at "+localTime(st.At, loc)+noteSuffix(st.Note))
	case playbooks.StepFailed:
		lines = append(lines, "Failed when "+who(st.By)+" ran it at "+localTime(st.At, loc)+noteSuffix(st.Note))
	}
	return strings.Join(lines, "\n")
}

func noteSuffix(note string) string {
	if strings.TrimSpace(note) == "" {
		return "."
	}
	return ": " + esc(clip(note, 800))
}

// runLabels are the Run button's words per automation.
var runLabels = map[string]string{
	playbooks.AutoContain:     "Preview & run",
	playbooks.AutoInvestigate: "Investigate",
	playbooks.AutoAbuseReport: "Prepare report",
	playbooks.AutoBreakGlass:  "Request access",
	playbooks.AutoFollowUp:    "Schedule follow-up",
}

func stepButtons(runID string, step playbooks.Step, st playbooks.StepState) []slack.BlockElement {
	if st.Closed() {
		return nil
	}
	value := runID + "/" + step.ID
	var els []slack.BlockElement
	if a := step.Automation; a != nil {
		label := runLabels[a.Kind]
		if st.Status == playbooks.StepFailed {
			label = "Retry"
		}
		style := slack.StylePrimary
		if a.Kind == playbooks.AutoContain {
			style = slack.StyleDanger
		}
		els = append(els, button(ActionPlaybookRun+"."+step.ID, firstNonEmpty(label, "Run"), value, style))
	}
	els = append(els,
		button(ActionPlaybookDone+"."+step.ID, "Done", value, slack.StyleDefault),
		button(ActionPlaybookSkip+"."+step.ID, "Skip", value, slack.StyleDefault),
	)
	return els
}

// ErrStepValue is returned for a step button value that is not
// "<run ID>/<step ID>".
var ErrStepValue = errors.New("not a playbook step reference")

// ParseStepValue reads a step button's value. The IDs are pointers only:
// the handler loads the run and authorises the user.
func ParseStepValue(v string) (runID, stepID string, err error) {
	runID, stepID, ok := strings.Cut(v, "/")
	if !ok || runID == "" || stepID == "" || len(v) > 200 {
		return "", "", ErrStepValue
	}
	return runID, stepID, nil
}

// StepAction splits a step button's action_id into its kind (one of the
// ActionPlaybook constants) and step ID.
func StepAction(actionID string) (kind, stepID string, ok bool) {
	for _, k := range []string{ActionPlaybookDone, ActionPlaybookSkip, ActionPlaybookRun} {
		if rest, found := strings.CutPrefix(actionID, k+"."); found && rest != "" {
			return k, rest, true
		}
	}
	return "", "", false
}
