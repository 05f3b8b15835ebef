package blocks

import (
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

// containedText says which containment actions are in force on the
// finding, one line each: "contained by <who> at <when> (<action>)". It is
// shown on the finding's main message as soon as an action ran, whichever
// channel the message is in, and goes when the action is undone.
func containedText(f finding.Finding, loc *time.Location) string {
	if len(f.Containments) == 0 {
		return ""
	}
	lines := make([]string, 0, len(f.Containments))
	for _, c := range f.Containments {
		what := firstNonEmpty(c.Title, c.Action)
		line := ":shield: *Contained* by " + who(c.By) + " at " + localTime(c.At, loc) + " (" + esc(clip(what, 100)) + ")"
		if c.Summary != "" {
			line += ": " + esc(clip(strings.ReplaceAll(c.Summary, "\n", " "), 300))
		}
		lines = append(lines, line)
	}
	return clip(strings.Join(lines, "\n"), maxSectionText)
}
