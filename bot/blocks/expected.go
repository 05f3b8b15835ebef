package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/respond/triage"
)

// maxEntriesListed is how many allowlist entries one message shows: the
// rest of the 50 blocks go to the header, the summary and the "and N more"
// line.
const maxEntriesListed = maxMessageBlocks - 3

// ExpectedList renders /secops expected: every live allowlist entry with
// what it covers, who added it and why, and when it expires. names maps
// account IDs to their names; now and loc are the time to count expiries
// from and the zone to show times in.
func ExpectedList(entries []triage.AllowEntry, names map[string]string, now time.Time, loc *time.Location) (text string, blocks []slack.Block) {
	if loc == nil {
		loc = time.UTC
	}
	if len(entries) == 0 {
		msg := "Nothing is marked expected: every exposure alerts. A finding's *Mark expected…* button adds an entry."
		return "Nothing is marked expected.", []slack.Block{section(msg)}
	}
	expiring := 0
	for _, e := range entries {
		if !e.ExpiresAt.IsZero() {
			expiring++
		}
	}
	title := plural(len(entries), "allowlist entry", "allowlist entries")
	summary := fmt.Sprintf("%d expire by themselves, %d last until removed · take one back with %s",
		expiring, len(entries)-expiring, code("/secops expected remove E-…"))
	blocks = append(blocks, slack.NewHeaderBlock(plain(title)), contextBlock(summary))
	shown := entries
	if len(shown) > maxEntriesListed+1 {
		shown = shown[:maxEntriesListed]
	}
	for _, e := range shown {
		blocks = append(blocks, section(entryText(e, names, now, loc)))
	}
	if rest := len(entries) - len(shown); rest > 0 {
		blocks = append(blocks, section(fmt.Sprintf("_… and %d more_", rest)))
	}
	return title + " marked expected", blocks
}

// entryText is one entry: its ID and rule, what it covers where, who added
// it and why, and how long it lasts.
func entryText(e triage.AllowEntry, names map[string]string, now time.Time, loc *time.Location) string {
	account := code(e.Account)
	if n := names[e.Account]; n != "" {
		account = esc(clip(n, 100)) + " (" + code(e.Account) + ")"
	}
	covers := code(clip(e.Pattern, 255)) + " (this resource)"
	if e.Kind == triage.ScopePattern {
		covers = "names matching " + code(clip(e.Pattern, 255))
	}
	lines := []string{
		"*" + code(e.ID) + "* · rule " + code(clip(e.Rule, 80)) + " · " + account,
		"Covers " + covers,
		"Added by " + who(e.By) + " " + localTime(e.At, loc) + ": " + esc(clip(e.Reason, 500)),
	}
	if e.ExpiresAt.IsZero() {
		lines = append(lines, ":infinity: until removed")
	} else {
		lines = append(lines, ":hourglass_flowing_sand: expires "+localTime(e.ExpiresAt, loc)+" (in "+duration(e.ExpiresAt.Sub(now))+")")
	}
	return strings.Join(lines, "\n")
}
