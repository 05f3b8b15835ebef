// Package blocks builds the Slack Block Kit payloads the bot sends: finding
// messages, thread replies, modals, the findings list and help. Every
// builder is a pure function from domain types to slack-go values, so a
// payload can be reviewed as a golden file and checked against Slack's
// limits (CheckLimits) before it is ever sent.
//
// Everything that comes from AWS or from users (resource names, user
// agents, reasons) is escaped before it lands in mrkdwn: a user agent of
// "<!channel>" must not page a whole channel.
package blocks

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// Slack's limits, in characters, that the builders stay under.
const (
	maxMessageBlocks = 50
	maxModalBlocks   = 100
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
	maxHeaderText    = 150
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxButtonURL     = 3000
	maxID            = 255
	maxActions       = 25
	maxContextElems  = 10
	maxModalTitle    = 24
	maxPrivateMeta   = 3000
)

// Display formats for times. The day name is there because "04:04" alone
// is ambiguous the morning after.
const (
	dayTimeLayout = "Mon 2 Jan 15:04 MST"
	timeLayout    = "15:04 MST"
)

// severityBadge returns the emoji and upper-case word that lead a finding.
func severityBadge(s finding.Severity) (emoji, word string) {
	switch s {
	case finding.SeverityCritical:
		emoji = ":red_circle:"
	case finding.SeverityHigh:
		emoji = ":large_orange_circle:"
	case finding.SeverityMedium:
		emoji = ":large_yellow_circle:"
	case finding.SeverityLow:
		emoji = ":large_blue_circle:"
	default:
		emoji = ":white_circle:"
	}
	return emoji, strings.ToUpper(s.String())
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc makes untrusted text safe for mrkdwn: Slack reads <...> as links and
// mentions, so the three control characters must be entities.
func esc(s string) string { return mrkdwnEscaper.Replace(s) }

// codeEscaper also swaps backticks for a look-alike, because mrkdwn has no
// way to escape a backtick inside code and one would end the code span.
var codeEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "ˋ", "\n", " ", "\r", " ")

// Escape makes text a person typed (or a button value, which a client can
// forge) safe to echo in mrkdwn: no mention, link or broadcast survives.
func Escape(s string) string { return esc(s) }

// Code renders untrusted text as inline code, escaped.
func Code(s string) string { return code(s) }

// code renders untrusted text as inline code.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + codeEscaper.Replace(s) + "`"
}

// link renders a mrkdwn link. The URL is percent-escaped where mrkdwn would
// misread it; the label is escaped like any other text.
func link(url, label string) string {
	if url == "" {
		return esc(label)
	}
	url = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(url)
	if label == "" {
		return "<" + url + ">"
	}
	return "<" + url + "|" + strings.ReplaceAll(esc(label), "|", "¦") + ">"
}

// clip shortens s to at most n characters, marking the cut with an
// ellipsis. It counts runes because Slack's limits are in characters.
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s // fewer bytes than n means fewer runes too
	}
	i := 0
	for count := 0; count < n-1 && i < len(s); count++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if utf8.RuneCountInString(s[i:]) <= 1 {
		return s
	}
	return s[:i] + "…"
}

// clipMrkdwn shortens already escaped mrkdwn without cutting an entity or
// a link in half, which would make Slack reject or misrender the text.
func clipMrkdwn(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(clip(s, n))
	cut := len(r) - 1 // before the ellipsis
	for i := cut - 1; i >= 0 && i >= cut-12; i-- {
		if r[i] == '&' {
			cut = i
			break
		}
		if r[i] == ';' {
			break
		}
	}
	if open := lastIndex(r[:cut], '<'); open >= 0 && lastIndex(r[open:cut], '>') < 0 {
		cut = open
	}
	return string(r[:cut]) + "…"
}

func lastIndex(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

// mrkdwn builds a mrkdwn text object.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// plain builds a plain_text object that renders :emoji: codes.
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// section is a mrkdwn section, clipped to the section limit.
func section(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(clipMrkdwn(s, maxSectionText)), nil, nil)
}

// nonEmpty drops empty strings, so optional lines leave no gaps.
func nonEmpty(vs ...string) []string {
	out := vs[:0:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// contextBlock is a context block of mrkdwn elements (at most ten are kept).
func contextBlock(texts ...string) *slack.ContextBlock {
	var els []slack.MixedElement
	for _, t := range texts {
		if t == "" || len(els) == maxContextElems {
			continue
		}
		els = append(els, mrkdwn(clipMrkdwn(t, maxSectionText)))
	}
	return slack.NewContextBlock("", els...)
}

func button(actionID, text, value string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(clip(text, maxButtonText)))
	b.Style = style
	return b
}

// userIDPattern matches Slack user IDs, which can be turned into mentions.
var userIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// who names the party behind a status change: a Slack user becomes a
// mention, an IAM principal its short name with the ARN, the pipeline "the
// bot".
func who(s string) string {
	switch {
	case s == "":
		return "someone"
	case s == "system":
		return "secops-bot"
	case userIDPattern.MatchString(s):
		return "<@" + s + ">"
	case strings.HasPrefix(s, "arn:"):
		return "*" + esc(clip(principalName(s), 100)) + "* (" + code(clip(s, 300)) + ")"
	default:
		return esc(clip(s, 100))
	}
}

// principalName is the readable part of an IAM or STS ARN:
// "assumed-role/Role/session" becomes "Role/session", "user/path/Bob" "Bob".
func principalName(arn string) string {
	a, err := awsarn.Parse(arn)
	if err != nil {
		return arn
	}
	res := a.Resource
	switch {
	case strings.HasPrefix(res, "assumed-role/"):
		return strings.TrimPrefix(res, "assumed-role/")
	case res == "root":
		return "root"
	}
	if i := strings.LastIndex(res, "/"); i >= 0 && i < len(res)-1 {
		return res[i+1:]
	}
	return res
}

// when renders t in the team's zone with the UTC time alongside, e.g.
// "Fri 27 Nov 04:04 CET (03:04 UTC)". The UTC part carries its own day only
// when it differs.
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "unknown time"
	}
	if loc == nil {
		loc = time.UTC
	}
	local, utc := t.In(loc), t.UTC()
	if _, off := local.Zone(); off == 0 {
		// The same wall time (UTC itself, or London in winter): once is enough.
		return local.Format(dayTimeLayout)
	}
	if local.YearDay() == utc.YearDay() {
		return local.Format(dayTimeLayout) + " (" + utc.Format(timeLayout) + ")"
	}
	return local.Format(dayTimeLayout) + " (" + utc.Format(dayTimeLayout) + ")"
}

// localTime renders t in the team's zone only.
func localTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "unknown time"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(dayTimeLayout)
}

// duration renders how long something lasted, coarse enough to read at a
// glance: "45s", "14m", "2h 5m", "3d 4h".
func duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		days, h := int(d.Hours())/24, int(d.Hours())%24
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd %dh", days, h)
	}
}

// plural picks the singular or plural of a counted noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
