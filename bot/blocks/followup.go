package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/playbooks"
)

// ActionFollowUpCancel is the Cancel button of the follow-up's note in the
// finding's thread; its value is the finding ID.
const ActionFollowUpCancel = "followup.cancel"

// FollowUpOptions carry what the finding alone does not know.
type FollowUpOptions struct {
	// Location is the owning team's time zone.
	Location *time.Location
	// TicketKey and TicketURL link the finding's ticket, when it has one.
	TicketKey, TicketURL string
	// ThreadURL links the finding's thread.
	ThreadURL string
}

// FollowUpMessage is the morning follow-up to the owning team, rendered
// when it is posted: whether the exposure is still open or resolved, what
// was contained by whom, how far the playbook got, and the ticket.
func FollowUpMessage(f finding.Finding, run *playbooks.Run, opts FollowUpOptions) (string, []slack.Block) {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	team := firstNonEmpty(f.Team, "team")
	head := fmt.Sprintf(":sunrise: Good morning %s. Overnight, SecOps responded to *%s* (%s) on %s in account %s.",
		esc(clip(team, 60)), esc(clip(titleOf(f), 150)), code(f.ID), code(clip(f.Resource.ID, 200)), esc(firstNonEmpty(f.AccountName, f.AccountID)))
	var lines []string
	switch f.Status {
	case finding.StatusResolved:
		lines = append(lines, resolvedLine(f, f.ResolvedBy, loc))
	case finding.StatusSuppressed:
		lines = append(lines, ":no_bell: It was marked expected; no fix is needed.")
	default:
		lines = append(lines, ":rotating_light: It is *still open*: the exposure has not been fixed yet.")
	}
	for _, c := range f.Containments {
		lines = append(lines, ":shield: Contained by "+who(c.By)+" at "+localTime(c.At, loc)+" ("+esc(clip(firstNonEmpty(c.Title, c.Action), 100))+")")
	}
	if f.AckedBy != "" {
		lines = append(lines, ":eyes: Acknowledged by "+who(f.AckedBy)+".")
	}
	if run != nil {
		done := 0
		for _, s := range run.Steps {
			if s.Closed() {
				done++
			}
		}
		lines = append(lines, fmt.Sprintf(":clipboard: Playbook: %d of %d steps done.", done, len(run.Steps)))
	}
	ask := "Please review what was done and make the permanent fix"
	if f.Status == finding.StatusResolved || f.Status == finding.StatusSuppressed {
		ask = "Please review what was done and check that the fix holds"
	}
	var refs []string
	if opts.TicketKey != "" {
		refs = append(refs, ":ticket: "+link(opts.TicketURL, opts.TicketKey))
	}
	if opts.ThreadURL != "" {
		refs = append(refs, link(opts.ThreadURL, "the finding's thread"))
	}
	body := head + "\n" + strings.Join(lines, "\n") + "\n" + ask
	if len(refs) > 0 {
		body += ": " + strings.Join(refs, " · ")
	}
	body += "."
	text := fmt.Sprintf("Morning follow-up: %s (%s) is %s", titleOf(f), f.ID, statusWord(f))
	return clip(text, 500), []slack.Block{section(clip(body, maxSectionText))}
}

// FollowUpNote tells the finding's thread when the morning follow-up goes
// out, with a button to cancel it while it is scheduled; once cancelled
// it says by whom.
func FollowUpNote(fu playbooks.FollowUp, loc *time.Location) (string, []slack.Block) {
	if loc == nil {
		loc = time.UTC
	}
	if fu.State == playbooks.FollowUpCancelled {
		line := ":no_bell: Morning follow-up cancelled by " + who(fu.By) + " at " + localTime(fu.On, loc) + "."
		return line, []slack.Block{section(line)}
	}
	line := ":sunrise: Morning follow-up for the owning team scheduled for *" + localTime(fu.At, loc) + "* in " + channelRef(fu.Channel) +
		"; it will say what was done by then."
	return "Morning follow-up scheduled", []slack.Block{
		section(line),
		slack.NewActionBlock("followup.actions", button(ActionFollowUpCancel, "Cancel follow-up", fu.FindingID, "")),
	}
}
