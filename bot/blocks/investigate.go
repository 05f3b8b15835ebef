package blocks

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	cmds "github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/respond/investigate"
)

// Action IDs of the investigation report's buttons. Page and Contain carry
// the subject (the principal's ARN, or the target as asked) as their value;
// handlers resolve and authorise it again server side.
const (
	ActionInvestigatePage    = "investigate.page"
	ActionInvestigateContain = "investigate.contain"
	ActionInvestigateConsole = "investigate.console"
)

// BlockInvestigateActions is the block_id of the report's buttons.
const BlockInvestigateActions = "investigate.actions"

// InvestigateReport builds the answer to `/secops investigate`: who the
// subject is, its activity grouped by API, what is unusual about it,
// the resources it touched (writes first), the findings involving it, and
// buttons to page on-call, contain it and open it in the AWS console.
// Times are shown in loc (UTC when nil). Lists that do not fit end with a
// count of what is left out, as does the report itself.
func InvestigateReport(r investigate.Report, loc *time.Location) (text string, blocks []slack.Block) {
	if loc == nil {
		loc = time.UTC
	}
	s := r.Subject
	name := subjectName(s)
	blocks = append(blocks, slack.NewHeaderBlock(plain(clip(":mag: Investigation: "+name, maxHeaderText))))
	fields := []*slack.TextBlockObject{
		field(whoLabel(s), whoText(s)),
		field("Account", subjectAccountText(s)),
		field("Window", windowText(r.Window, loc)),
		field("Activity", activityText(r)),
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))

	if s.Principal() && s.Found {
		blocks = append(blocks, section(unusualText(r.Unusual)))
	}
	if len(r.ByAPI) > 0 {
		blocks = append(blocks, section(apisText(r, loc)))
	}
	if len(r.Resources) > 0 {
		blocks = append(blocks, section(resourcesText(r.Resources, loc)))
	}
	if len(r.Findings) > 0 {
		blocks = append(blocks, section(reportFindingsText(r.Findings, loc)))
	}
	blocks = append(blocks, reportExposureBlocks(r.Exposure, loc)...)
	notes := []string{}
	if r.Note != "" {
		prefix := ":information_source: "
		if r.Truncated {
			prefix = ":scissors: "
		}
		notes = append(notes, prefix+esc(clip(r.Note, 2000)))
	}
	notes = append(notes, "From secops-bot history · "+esc(s.Kind.String())+" "+code(clip(s.Query, 200)))
	blocks = append(blocks, contextBlock(notes...))
	blocks = append(blocks, reportActions(r))
	return reportFallback(r, name), blocks
}

// subjectName is the short name the report leads with.
func subjectName(s investigate.Subject) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.ARN != "":
		return principalName(s.ARN)
	case s.Query != "":
		return s.Query
	default:
		return "unknown target"
	}
}

func whoLabel(s investigate.Subject) string {
	switch s.Kind {
	case cmds.TargetAccount:
		return "Account target"
	case cmds.TargetResource:
		return "Resource"
	default:
		return "Who"
	}
}

func whoText(s investigate.Subject) string {
	var lines []string
	switch s.Kind {
	case cmds.TargetAccount:
		switch s.Class {
		case finding.TargetUnknown:
			lines = append(lines, ":rotating_light: *unknown account*: neither ours nor trusted")
		case finding.TargetTrusted:
			lines = append(lines, "trusted account")
		case finding.TargetKnown:
			lines = append(lines, "one of our accounts")
		case finding.TargetPublic:
			lines = append(lines, ":rotating_light: everyone (public)")
		}
		lines = append(lines, code(clip(s.AccountID, 60)))
	case cmds.TargetResource:
		lines = append(lines, resourceLabel(s.Type))
		switch {
		case s.ARN != "":
			lines = append(lines, code(clip(s.ARN, 400)))
		default:
			lines = append(lines, code(clip(s.Query, 400)))
		}
	default:
		typ, ok := actorTypes[s.Type]
		if !ok {
			typ = esc(clip(s.Type, 40))
		}
		first := strings.TrimSpace(typ + " *" + esc(clip(subjectName(s), 120)) + "*")
		if s.Contractor {
			first += " :warning: contractor"
		}
		lines = append(lines, first)
		if s.ARN != "" {
			lines = append(lines, code(clip(s.ARN, 400)))
		}
		if len(s.AccessKeys) > 0 {
			keys := make([]string, 0, len(s.AccessKeys))
			for _, k := range s.AccessKeys {
				keys = append(keys, code(clip(k, 40)))
			}
			lines = append(lines, "access keys "+strings.Join(keys, " "))
		}
	}
	return strings.Join(lines, "\n")
}

func subjectAccountText(s investigate.Subject) string {
	var lines []string
	switch {
	case s.AccountName != "" && s.AccountID != "":
		lines = append(lines, esc(clip(s.AccountName, 100))+" ("+code(s.AccountID)+")")
	case s.AccountID != "":
		lines = append(lines, code(clip(s.AccountID, 60)))
	}
	var env []string
	if s.Environment != "" {
		env = append(env, esc(clip(s.Environment, 50)))
	}
	if s.Team != "" {
		env = append(env, "team "+esc(clip(s.Team, 80)))
	}
	if len(env) > 0 {
		lines = append(lines, strings.Join(env, " · "))
	}
	return strings.Join(lines, "\n")
}

func windowText(w investigate.Window, loc *time.Location) string {
	if w.Since.IsZero() || w.Until.IsZero() {
		return ""
	}
	return "last " + duration(w.Duration()) + "\n" + localTime(w.Since, loc) + " →\n" + localTime(w.Until, loc)
}

func activityText(r investigate.Report) string {
	if !r.Subject.Found && r.Total == 0 {
		return "_no activity recorded_"
	}
	writes := 0
	for _, g := range r.ByAPI {
		if g.Write {
			writes += g.Count
		}
	}
	apis := max(r.APIs, len(r.ByAPI))
	s := plural(r.Total, "call", "calls") + " to " + plural(apis, "API", "APIs")
	if writes > 0 {
		s += "\n" + plural(writes, "write", "writes")
		if apis > len(r.ByAPI) {
			s += " among the APIs shown"
		}
	}
	if len(r.Findings) > 0 {
		s += "\n" + plural(len(r.Findings), "finding", "findings")
	}
	return s
}

func unusualText(ss []finding.Signal) string {
	if len(ss) == 0 {
		return ":white_check_mark: *Nothing unusual* in the last 24 hours against this actor's baseline"
	}
	lines := make([]string, 0, len(ss))
	for _, s := range ss {
		lines = append(lines, "• *"+esc(clip(s.Name, 60))+"*: "+esc(clip(s.Reason, 400)))
	}
	return fitList(":rotating_light: *Unusual activity* ("+plural(len(ss), "signal", "signals")+")", lines, 0, "signals")
}

// apisText is the timeline: one line per API, newest activity first.
func apisText(r investigate.Report, loc *time.Location) string {
	lines := make([]string, 0, len(r.ByAPI))
	for _, g := range r.ByAPI {
		l := "• " + code(clip(g.API, 100))
		if src := strings.TrimSuffix(g.Source, ".amazonaws.com"); src != "" {
			l += " " + esc(clip(src, 40))
		}
		if g.Write {
			l += " :pencil2: write"
		}
		if g.Count == 1 || g.First.Equal(g.Last) {
			l += " — " + plural(g.Count, "call", "calls") + " at " + localTime(g.Last, loc)
		} else {
			l += " — " + plural(g.Count, "call", "calls") + ", " + localTime(g.First, loc) + " → " + localTime(g.Last, loc)
		}
		lines = append(lines, l)
	}
	hidden := max(r.APIs-len(r.ByAPI), 0)
	return fitList("*Activity by API* (newest first)", lines, hidden, "APIs")
}

func resourcesText(rs []investigate.ResourceTouch, loc *time.Location) string {
	lines := make([]string, 0, len(rs))
	for _, t := range rs {
		var parts []string
		if t.Writes > 0 {
			parts = append(parts, ":pencil2: "+plural(t.Writes, "write", "writes"))
		}
		if t.Reads > 0 {
			parts = append(parts, plural(t.Reads, "read", "reads"))
		}
		l := "• " + code(clip(t.ARN, 300)) + " — " + strings.Join(parts, ", ")
		if !t.Last.IsZero() {
			l += ", last " + localTime(t.Last, loc)
		}
		lines = append(lines, l)
	}
	return fitList("*Resources touched* (writes first)", lines, 0, "resources")
}

func reportFindingsText(fs []finding.Finding, loc *time.Location) string {
	lines := make([]string, 0, len(fs))
	for _, f := range fs {
		emoji, word := severityBadge(f.Severity)
		l := "• " + emoji + " *" + word + "* " + code(f.ID) + " " + esc(clip(titleOf(f), 150))
		if r := f.Resource.ID; r != "" {
			l += " — " + code(clip(r, 150))
		}
		status := string(f.Status)
		if f.Open() && f.AckedBy != "" {
			status = "acknowledged"
		}
		if status != "" {
			l += " · " + esc(clip(status, 40))
		}
		if !f.FirstSeen.IsZero() {
			l += " · " + localTime(f.FirstSeen, loc)
		}
		lines = append(lines, l)
	}
	return fitList("*Findings involving it*", lines, 0, "findings")
}

// fitList joins a titled list into one section's worth of text. Lines that
// do not fit, and hidden items the report already left out, are counted in
// a closing "… and N more" line rather than dropped silently.
func fitList(title string, lines []string, hidden int, noun string) string {
	out := title
	used := utf8.RuneCountInString(out)
	for i, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		if used+n > maxSectionText-moreLineRoom {
			return out + fmt.Sprintf("\n_… and %d more %s_", len(lines)-i+hidden, noun)
		}
		out += "\n" + l
		used += n
	}
	if hidden > 0 {
		out += fmt.Sprintf("\n_… and %d more %s_", hidden, noun)
	}
	return out
}

// consoleOf is the AWS console page of the subject: the IAM page of a
// principal (an access key's user), the resource's page, or "".
func consoleOf(s investigate.Subject) string {
	if s.Principal() {
		arn := investigate.PrincipalARN(s.ARN)
		a, err := awsarn.Parse(arn)
		if err != nil {
			return ""
		}
		typ := awsarn.TypeOf(a)
		if typ != awsarn.TypeIAMUser && typ != awsarn.TypeIAMRole {
			return ""
		}
		return ConsoleURL(finding.Finding{Resource: finding.Resource{Type: typ, ARN: arn}})
	}
	if s.Kind == cmds.TargetResource && s.ARN != "" {
		return ConsoleURL(finding.Finding{AccountID: s.AccountID, Resource: finding.Resource{Type: s.Type, ARN: s.ARN}})
	}
	return ""
}

// reportActions offers paging on-call always, containment for principals
// (only an IAM identity can be contained) and the console when there is a
// page to open.
func reportActions(r investigate.Report) *slack.ActionBlock {
	s := r.Subject
	value := s.ARN
	if value == "" {
		value = cmds.Target{Kind: s.Kind, Value: s.Query}.String()
	}
	value = clip(value, maxButtonValue)
	els := []slack.BlockElement{button(ActionInvestigatePage, "Page on-call", value, slack.StyleDanger)}
	if s.Principal() {
		els = append(els, button(ActionInvestigateContain, "Contain…", value, slack.StyleDefault))
	}
	if u := consoleOf(s); u != "" && len(u) <= maxButtonURL {
		b := button(ActionInvestigateConsole, "Open console", "", slack.StyleDefault)
		b.URL = u
		els = append(els, b)
	}
	return slack.NewActionBlock(BlockInvestigateActions, els...)
}

// reportFallback is the notification line, e.g. "Investigation of
// BackupManager (payments-prod): 82 calls to 3 APIs in the last 7d, 4
// unusual signals, 1 finding".
func reportFallback(r investigate.Report, name string) string {
	s := "Investigation of " + clip(name, 150)
	if r.Subject.AccountName != "" {
		s += " (" + clip(r.Subject.AccountName, 100) + ")"
	}
	if !r.Subject.Found && r.Total == 0 {
		s += ": no activity"
	} else {
		s += ": " + plural(r.Total, "call", "calls") + " to " + plural(max(r.APIs, len(r.ByAPI)), "API", "APIs")
	}
	if d := r.Window.Duration(); d > 0 {
		s += " in the last " + duration(d)
	}
	if len(r.Unusual) > 0 {
		s += ", " + plural(len(r.Unusual), "unusual signal", "unusual signals")
	}
	if len(r.Findings) > 0 {
		s += ", " + plural(len(r.Findings), "finding", "findings")
	}
	return esc(s)
}
