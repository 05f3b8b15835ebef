package blocks

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
)

// maxListed is how many findings one list message shows when some must be
// left out: the rest of the 50 blocks go to the header, the summary and the
// "and N more" line (which one more finding can take when it is the last).
const maxListed = maxMessageBlocks - 3

// FindingsList renders findings for /secops findings, one compact section
// each (severity, title linked to its thread, resource, status, age), open
// ones first and the most severe first. links maps finding IDs to thread
// permalinks. A list longer than a message can hold ends with how many were
// left out and how to narrow it.
func FindingsList(fs []finding.Finding, links map[string]string) (text string, blocks []slack.Block) {
	if len(fs) == 0 {
		msg := "No findings match. `/secops findings all` includes resolved and suppressed ones."
		return "No findings match.", []slack.Block{section(msg)}
	}
	sorted := append([]finding.Finding(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Open() != b.Open() {
			return a.Open()
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return a.OpenedAt.After(b.OpenedAt)
	})

	summary := listSummary(sorted)
	blocks = append(blocks,
		slack.NewHeaderBlock(plain(clip(plural(len(sorted), "finding", "findings"), maxHeaderText))),
		contextBlock(summary),
	)
	shown := sorted
	if len(shown) > maxListed+1 {
		shown = shown[:maxListed]
	}
	for _, f := range shown {
		blocks = append(blocks, section(listEntry(f, links[f.ID])))
	}
	if rest := len(sorted) - len(shown); rest > 0 {
		blocks = append(blocks, section(fmt.Sprintf("_… and %d more; narrow with_ `/secops findings open &lt;team&gt;`", rest)))
	}
	return plural(len(sorted), "finding", "findings") + ": " + summary, blocks
}

// listSummary counts findings by state and open ones by severity, e.g.
// "5 open (2 critical, 3 high) · 1 resolved".
func listSummary(fs []finding.Finding) string {
	bySev := map[finding.Severity]int{}
	var open, resolved, suppressed int
	for _, f := range fs {
		switch f.Status {
		case finding.StatusResolved:
			resolved++
		case finding.StatusSuppressed:
			suppressed++
		default:
			open++
			bySev[f.Severity]++
		}
	}
	var parts []string
	if open > 0 {
		var sev []string
		for s := finding.SeverityCritical; s >= finding.SeverityUnknown; s-- {
			if n := bySev[s]; n > 0 {
				sev = append(sev, fmt.Sprintf("%d %s", n, s))
			}
		}
		parts = append(parts, fmt.Sprintf("%d open (%s)", open, strings.Join(sev, ", ")))
	}
	if resolved > 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", resolved))
	}
	if suppressed > 0 {
		parts = append(parts, fmt.Sprintf("%d suppressed", suppressed))
	}
	return strings.Join(parts, " · ")
}

// listEntry is one finding in two lines: what and how bad, then where and
// since when. Times are Slack date tokens, rendered in each reader's zone
// and relative to their day ("yesterday 04:04"), so the list needs neither
// a clock nor a team zone.
func listEntry(f finding.Finding, permalink string) string {
	emoji, word := severityBadge(f.Severity)
	title := clip(titleOf(f), 150)
	first := emoji + " *" + word + "* "
	if permalink != "" && len(permalink) <= maxButtonURL {
		first += link(permalink, title)
	} else {
		first += esc(title)
	}
	first += " " + code(f.ID)

	var second []string
	if f.Resource.ID != "" {
		second = append(second, resourceLabel(f.Resource.Type)+" "+code(clip(f.Resource.ID, 120)))
	}
	if acct := firstNonEmpty(f.AccountName, f.AccountID); acct != "" {
		second = append(second, "in "+esc(clip(acct, 80)))
	}
	second = append(second, listStatus(f))
	return first + "\n" + strings.Join(second, " · ")
}

func listStatus(f finding.Finding) string {
	opened := f.OpenedAt
	if opened.IsZero() {
		opened = f.Event.Time
	}
	switch f.Status {
	case finding.StatusResolved:
		s := "resolved"
		if !f.ResolvedAt.IsZero() {
			s += " " + slackDate(f.ResolvedAt)
		}
		if f.OpenFor > 0 {
			s += " after " + duration(f.OpenFor)
		}
		return s
	case finding.StatusSuppressed:
		return "suppressed"
	}
	s := "open"
	if f.AckedBy != "" {
		s = "acknowledged by " + who(f.AckedBy)
	}
	if !opened.IsZero() {
		s += ", opened " + slackDate(opened)
	}
	if f.Count > 1 {
		s += fmt.Sprintf(", seen %d times", f.Count)
	}
	return s
}

// slackDate is a Slack date token: each reader sees t in their own zone,
// as "today 04:04" when recent, with the UTC time as the fallback for
// clients that cannot render it.
func slackDate(t time.Time) string { return Date(t, time.UTC) }

// Date is a Slack date token for t: each reader sees it in their own zone
// ("today 04:04"), and notifications and clients that cannot render it
// show the fallback, in loc (the team's zone).
func Date(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.In(loc).Format("2 Jan 15:04 MST"))
}
