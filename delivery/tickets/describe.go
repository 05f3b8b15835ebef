package tickets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
	"github.com/secops-bot/secops-bot/finding"
)

// Summary is the ticket's one-line title.
func Summary(f finding.Finding) string {
	s := "[" + strings.ToUpper(f.Severity.String()) + "] " + f.Title
	if f.Resource.ID != "" {
		s += ": " + f.Resource.ID
	}
	acct := f.AccountID
	if f.AccountName != "" {
		acct = f.AccountName
	}
	if acct != "" {
		s += " (" + acct + ")"
	}
	return s
}

// maxEvidence bounds each before/after block; the full state is in the
// finding, and Jira refuses fields over 32 KB.
const maxEvidence = 4000

// Describe builds a ticket's description: what is exposed, how badly, who
// did it and when, what changed, what looked unusual about the actor, and
// where the finding is discussed in Slack (slackLink, "" when unknown).
func Describe(f finding.Finding, slackLink string) tracker.Doc {
	txt := func(s string) tracker.Inline { return tracker.Inline{Text: s} }
	mono := func(s string) tracker.Inline { return tracker.Inline{Text: s, Mono: true} }
	bold := func(s string) tracker.Inline { return tracker.Inline{Text: s, Bold: true} }
	var d tracker.Doc
	add := func(b tracker.Block) { d.Blocks = append(d.Blocks, b) }

	if f.Detail != "" {
		add(tracker.Block{Kind: tracker.Paragraph, Text: []tracker.Inline{txt(f.Detail)}})
	}
	var facts [][]tracker.Inline
	fact := func(name string, v ...tracker.Inline) {
		facts = append(facts, append([]tracker.Inline{bold(name + ":"), txt(" ")}, v...))
	}
	fact("Severity", txt(strings.ToUpper(f.Severity.String())))
	if n := f.RuleNotes; n != nil && n.Source == "sigma" {
		rule := []tracker.Inline{mono(f.Rule), txt(" (Sigma rule")}
		if n.File != "" {
			rule = append(rule, txt(" in "), mono(n.File))
		}
		fact("Rule", append(rule, txt(")"))...)
	} else {
		fact("Rule", mono(f.Rule))
	}
	acct := []tracker.Inline{mono(f.AccountID)}
	var about []string
	if f.AccountName != "" {
		about = append(about, f.AccountName)
	}
	if f.Environment != "" {
		about = append(about, "environment "+f.Environment)
	}
	if f.Team != "" {
		about = append(about, "team "+f.Team)
	}
	if len(about) > 0 {
		acct = append(acct, txt(" ("+strings.Join(about, ", ")+")"))
	}
	fact("Account", acct...)
	if f.Region != "" {
		fact("Region", txt(f.Region))
	}
	res := []tracker.Inline{txt(f.Resource.Type + " "), mono(f.Resource.ID)}
	if f.Resource.ARN != "" && f.Resource.ARN != f.Resource.ID {
		res = append(res, txt(" ("), mono(f.Resource.ARN), txt(")"))
	}
	fact("Resource", res...)
	actor := []tracker.Inline{mono(f.Actor.ARN)}
	if f.Actor.Type != "" {
		actor = append(actor, txt(" ("+f.Actor.Type+")"))
	}
	if f.Actor.Contractor {
		actor = append(actor, txt(" — "), bold("role assigned to a contractor"))
	}
	fact("Actor", actor...)
	if f.Event.Name != "" {
		ev := []tracker.Inline{mono(f.Event.Name), txt(" at " + stamp(f.Event.Time))}
		if f.Event.SourceIP != "" {
			ev = append(ev, txt(" from "), mono(f.Event.SourceIP))
		}
		if f.Event.UserAgent != "" {
			ev = append(ev, txt(" with "), mono(f.Event.UserAgent))
		}
		fact("Event", ev...)
	}
	if !f.DetectedAt.IsZero() {
		det := stamp(f.DetectedAt)
		if !f.Event.Time.IsZero() && f.DetectedAt.After(f.Event.Time) {
			det += fmt.Sprintf(" (%s after the event)", Duration(f.DetectedAt.Sub(f.Event.Time)))
		}
		fact("Detected", txt(det))
	}
	if f.OffHours {
		fact("Off hours", txt("outside the owning team's business hours"))
	}
	for _, t := range f.Targets {
		v := []tracker.Inline{mono(t.Account), txt(" (" + string(t.Class))}
		if t.Name != "" {
			v = append(v, txt(", "+t.Name))
		}
		v = append(v, txt(")"))
		fact("Shared with", v...)
	}
	fact("Finding", mono(f.ID))
	add(tracker.Block{Kind: tracker.Bullets, Items: facts})

	if c := f.Change; c != nil && (c.Summary != "" || len(c.Before) > 0 || len(c.After) > 0) {
		add(tracker.Block{Kind: tracker.Heading, Text: []tracker.Inline{txt("What changed")}})
		if c.Summary != "" {
			add(tracker.Block{Kind: tracker.Paragraph, Text: []tracker.Inline{txt(c.Summary)}})
		}
		for _, side := range []struct {
			name string
			raw  json.RawMessage
		}{{"Before", c.Before}, {"After", c.After}} {
			if len(side.raw) == 0 {
				continue
			}
			add(tracker.Block{Kind: tracker.Paragraph, Text: []tracker.Inline{bold(side.name + ":")}})
			add(tracker.Block{Kind: tracker.Code, Code: evidence(side.raw)})
		}
	}
	if n := f.RuleNotes; n != nil {
		describeNotes(add, n)
	}
	if len(f.Signals) > 0 {
		add(tracker.Block{Kind: tracker.Heading, Text: []tracker.Inline{txt("Unusual activity of the actor")}})
		var items [][]tracker.Inline
		for _, s := range f.Signals {
			items = append(items, []tracker.Inline{bold(s.Name + ":"), txt(" " + s.Reason)})
		}
		add(tracker.Block{Kind: tracker.Bullets, Items: items})
	}
	if slackLink != "" {
		add(tracker.Block{Kind: tracker.Paragraph, Text: []tracker.Inline{txt("Discussion: "), {Text: "Slack thread", Link: slackLink}}})
	}
	closed := "closed when the exposure is fixed"
	if f.RuleNotes != nil {
		// No later event resolves what a Sigma rule raised; a person does.
		closed = "closed when the finding is resolved in Slack"
	}
	add(tracker.Block{Kind: tracker.Paragraph, Text: []tracker.Inline{txt("This ticket is kept up to date by secops-bot and " + closed + ". Label "), mono(Label(f.ID)), txt(" ties it to the finding.")}})
	return d
}

// describeNotes adds what a rule written outside the code says about
// itself: when it fires harmlessly and where to read more.
func describeNotes(add func(tracker.Block), n *finding.RuleNotes) {
	if len(n.FalsePositives) > 0 {
		add(tracker.Block{Kind: tracker.Heading, Text: []tracker.Inline{{Text: "Expected when"}}})
		var items [][]tracker.Inline
		for _, fp := range n.FalsePositives {
			items = append(items, []tracker.Inline{{Text: fp}})
		}
		add(tracker.Block{Kind: tracker.Bullets, Items: items})
	}
	if len(n.References) > 0 {
		add(tracker.Block{Kind: tracker.Heading, Text: []tracker.Inline{{Text: "References"}}})
		var items [][]tracker.Inline
		for _, r := range n.References {
			// The document links only http(s) addresses; anything else
			// stays text.
			items = append(items, []tracker.Inline{{Text: r, Link: r}})
		}
		add(tracker.Block{Kind: tracker.Bullets, Items: items})
	}
}

// evidence pretty-prints JSON state, bounded.
func evidence(raw json.RawMessage) string {
	var buf bytes.Buffer
	s := string(raw)
	if json.Indent(&buf, raw, "", "  ") == nil {
		s = buf.String()
	}
	if len(s) > maxEvidence {
		cut := maxEvidence
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "\n… (truncated; the full state is in the finding)"
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// who names the author of a change for a ticket: Slack user IDs mean
// nothing to Jira readers without saying they are Slack's.
func who(by string) string {
	switch {
	case by == "" || by == "system":
		return "secops-bot"
	case strings.HasPrefix(by, "arn:"):
		return by
	case isSlackUser(by):
		return "Slack user " + by
	}
	return by
}

func isSlackUser(s string) bool {
	if len(s) < 5 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Duration renders a duration for people: "45s", "14m", "2h 5m", "3d 4h".
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

func resolveComment(f finding.Finding, by, note string) string {
	var b strings.Builder
	if ev := f.ResolvedEvent; ev != nil {
		fixer := f.ResolvedBy
		if fixer == "" {
			fixer = who(by)
		}
		fmt.Fprintf(&b, "Resolved: fixed by %s with %s at %s.", fixer, ev.Name, stamp(ev.Time))
		if f.ResolveReason != "" {
			b.WriteString(" " + sentence(f.ResolveReason))
		}
	} else {
		fmt.Fprintf(&b, "Resolved by %s", who(by))
		reason := f.ResolveReason
		if reason == "" {
			reason = note
		}
		if reason != "" {
			b.WriteString(": " + reason)
		}
		b.WriteString(".")
	}
	if f.OpenFor > 0 {
		fmt.Fprintf(&b, " Open for %s (since %s).", Duration(f.OpenFor), stamp(f.OpenedAt))
	}
	return b.String()
}

func reopenComment(f finding.Finding, note string) string {
	if note == "" {
		note = fmt.Sprintf("%s by %s", f.Event.Name, f.Actor.ARN)
	}
	note = strings.TrimPrefix(note, "reopened: ")
	return fmt.Sprintf("Reopened: exposed again (%s) at %s.", note, stamp(f.OpenedAt))
}

func updateComment(change finding.ChangeKind, by, note string) string {
	switch change {
	case finding.ChangeContained, finding.ChangeUncontained:
		c := "Containment by " + who(by)
		if change == finding.ChangeUncontained {
			c = "Containment undone by " + who(by)
		}
		if note != "" {
			c += ": " + note
		}
		return sentence(c)
	}
	if note == "" {
		note = "the finding changed"
	}
	return "Update: " + sentence(note)
}

// sentence ends s with a full stop unless it already ends a sentence.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, ")") {
		return s
	}
	return s + "."
}
