package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/finding"
)

// ThreadReply builds the reply posted in a finding's thread when its state
// changes. by is who caused the change (a Slack user ID, an IAM ARN or
// "system"); note is free text from that party (a reason, what changed).
// An unknown kind still produces a readable reply rather than nothing.
func ThreadReply(kind finding.ChangeKind, f finding.Finding, by string, note string, loc *time.Location) (text string, blocks []slack.Block) {
	if loc == nil {
		loc = time.UTC
	}
	note = strings.TrimSpace(note)
	var lines []string
	switch kind {
	case finding.ChangeCreated:
		_, word := severityBadge(f.Severity)
		lines = append(lines, fmt.Sprintf(":rotating_light: New %s finding: %s", word, esc(clip(titleOf(f), 150))))
	case finding.ChangeRepeated:
		lines = append(lines, fmt.Sprintf(":repeat: Seen again (%s in all): %s", plural(f.Count, "time", "times"), eventLine(f, loc)))
	case finding.ChangeAcknowledged:
		lines = append(lines, ":eyes: Acknowledged by "+who(by)+".")
	case finding.ChangeResolved:
		lines = append(lines, resolvedLine(f, by, loc))
		if reason := firstNonEmpty(note, f.ResolveReason); reason != "" {
			lines = append(lines, quote(reason))
		}
		if f.Severity >= finding.SeverityHigh {
			lines = append(lines, reviewPrompt(f))
		}
	case finding.ChangeReopened:
		_, word := severityBadge(f.Severity)
		lines = append(lines, fmt.Sprintf(":rotating_light: Reopened (%s), exposed again: %s", word, eventLine(f, loc)))
	case finding.ChangeSuppressed:
		lines = append(lines, ":no_bell: Suppressed by "+who(by)+".")
		if reason := firstNonEmpty(note, f.SuppressedReason); reason != "" {
			lines = append(lines, quote(reason))
		}
	case finding.ChangeExpected:
		lines = append(lines, ":no_bell: Marked expected by "+who(by)+"; no further alerts for this exposure.")
		if reason := firstNonEmpty(note, f.SuppressedReason); reason != "" {
			lines = append(lines, quote(reason))
		}
	case finding.ChangePage:
		lines = append(lines, pageLines(note, loc)...)
	case finding.ChangeReadsReviewed:
		lines = append(lines, readsReply(f, loc)...)
	case finding.ChangeRerouted:
		lines = append(lines, ":busts_in_silhouette: "+esc(clip(firstNonEmpty(note, "Owning team changed."), 1000)))
	case finding.ChangeUpdated:
		lines = append(lines, ":pencil2: Updated by "+who(by)+".")
		if note != "" {
			lines = append(lines, esc(clip(note, 1000)))
		}
		if unknown := f.UnknownTargets(); len(unknown) > 0 {
			names := make([]string, 0, len(unknown))
			for _, t := range unknown {
				names = append(names, "*"+esc(clip(t.Account, 60))+"*")
			}
			lines = append(lines, ":rotating_light: Still shared with "+strings.Join(names, ", ")+".")
		}
	default:
		lines = append(lines, ":information_source: "+esc(clip(string(kind), 60))+" by "+who(by)+".")
		if note != "" {
			lines = append(lines, esc(clip(note, 1000)))
		}
	}
	body := strings.Join(lines, "\n")
	blocks = []slack.Block{
		section(body),
		contextBlock("Finding " + code(f.ID) + " · " + statusWord(f)),
	}
	return clip(lines[0], 500), blocks
}

// pageLines tells what happened to a page: who was woken and why they were
// picked, or what they did at the provider.
func pageLines(note string, loc *time.Location) []string {
	n, err := paging.ParseNotice(note)
	if err != nil {
		return []string{":pager: Paging update: " + esc(clip(note, 500))}
	}
	team := "*" + esc(clip(n.Team, 60)) + "*"
	provider := esc(clip(firstNonEmpty(n.Provider, "the paging provider"), 40))
	switch n.Status {
	case paging.NoticePaged:
		line := ":pager: Paged " + team + " via " + provider
		if len(n.People) > 0 {
			line += " — on call: " + peopleList(n.People)
		} else {
			line += " — nobody is listed on call"
		}
		out := []string{line + "."}
		if n.Source != "" {
			out = append(out, "_Per "+esc(clip(n.Source, 200))+"._")
		}
		return out
	case paging.NoticeFailed:
		return []string{":warning: Could not page " + team + " through " + provider + ": " + esc(clip(n.Error, 500)), "*Nobody was woken*: call the on-call directly."}
	case paging.NoticeAcknowledged, paging.NoticeResolved:
		line := ":pager: " + strings.ToUpper(n.Status[:1]) + n.Status[1:] + " in " + provider + " by " + peopleList(n.By)
		if !n.At.IsZero() {
			line += " at " + when(n.At, loc)
		}
		if n.URL != "" {
			line += " · " + link(n.URL, "open the incident")
		}
		out := []string{line + "."}
		if n.Status == paging.NoticeResolved {
			out = append(out, "The finding stays open until the exposure is gone.")
		}
		return out
	}
	return []string{":pager: Paging update for " + team + "."}
}

// peopleList names people: a Slack mention when they have a Slack user,
// else their name and e-mail.
func peopleList(ps []paging.Person) string {
	var out []string
	for _, p := range ps {
		switch {
		case p.SlackID != "":
			out = append(out, "<@"+esc(clip(p.SlackID, 20))+">")
		case p.Name != "" && p.Email != "":
			out = append(out, esc(clip(p.Name, 80))+" ("+esc(clip(p.Email, 120))+", no Slack user with this address)")
		default:
			out = append(out, esc(clip(p.Label(), 120)))
		}
	}
	if len(out) == 0 {
		return "someone"
	}
	return strings.Join(out, ", ")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// quote renders a reason as a mrkdwn quote, line by line.
func quote(s string) string {
	s = clip(strings.TrimSpace(s), 1500)
	return "> " + strings.ReplaceAll(esc(s), "\n", "\n> ")
}

// eventLine names the event that touched a finding: "PutBucketPolicy by
// *contractor-alice* at Fri 27 Nov 04:04 CET (03:04 UTC)".
func eventLine(f finding.Finding, loc *time.Location) string {
	s := code(clip(f.Event.Name, 100))
	if s == "" {
		s = "an event"
	}
	if f.Actor.ARN != "" {
		s += " by " + who(f.Actor.ARN)
	} else if f.Actor.Name != "" {
		s += " by *" + esc(clip(f.Actor.Name, 100)) + "*"
	}
	if !f.Event.Time.IsZero() {
		s += " at " + when(f.Event.Time, loc)
	}
	return s
}

// resolvedLine says who fixed the exposure, when, and how long it lasted.
func resolvedLine(f finding.Finding, by string, loc *time.Location) string {
	by = firstNonEmpty(by, f.ResolvedBy)
	s := ":white_check_mark: Resolved by " + who(by)
	if f.ResolvedEvent != nil && f.ResolvedEvent.Name != "" {
		s += " with " + code(clip(f.ResolvedEvent.Name, 100))
	}
	at := f.ResolvedAt
	if at.IsZero() && f.ResolvedEvent != nil {
		at = f.ResolvedEvent.Time
	}
	if !at.IsZero() {
		s += " at " + when(at, loc)
	}
	if f.OpenFor > 0 {
		s += "; exposed for " + duration(f.OpenFor)
	}
	return s + "."
}

// reviewPrompt asks SecOps to check what happened while a high or critical
// exposure was open; fixing it does not undo any access in that window.
func reviewPrompt(f finding.Finding) string {
	what := code(clip(f.Resource.ID, 200))
	if what == "" {
		what = "the resource"
	}
	window := "while it was exposed"
	if f.OpenFor > 0 {
		window = "during the " + duration(f.OpenFor) + " it was exposed"
	}
	return ":mag: SecOps: review the access history of " + what + " " + window + " (access logs, CloudTrail data events)."
}

func statusWord(f finding.Finding) string {
	switch f.Status {
	case finding.StatusResolved:
		return "resolved"
	case finding.StatusSuppressed:
		return "suppressed"
	}
	if f.AckedBy != "" {
		return "open, acknowledged"
	}
	return "open"
}

// OnCall answers /secops oncall: who is on call for a team now, and where
// the answer came from, so a responder can check it at the source.
func OnCall(oc paging.OnCall) (string, []slack.Block) {
	team := "*" + esc(clip(oc.Team, 60)) + "*"
	line := ":telephone_receiver: On call for " + team + " now: "
	if len(oc.People) == 0 {
		line += "nobody is listed."
	} else {
		line += peopleList(oc.People) + "."
	}
	blks := []slack.Block{section(line)}
	if oc.Source != "" {
		blks = append(blks, contextBlock("From "+esc(clip(oc.Source, 200))+"."))
	}
	return clip(line, 500), blks
}
