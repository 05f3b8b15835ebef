package blocks

import (
	"strings"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/commands"
)

// Help lists the /secops sub-commands enabled in this deployment, from the
// parser's own table, with what each does.
func Help(enabled []commands.Kind) (text string, blocks []slack.Block) {
	lines := make([]string, 0, len(enabled))
	names := make([]string, 0, len(enabled))
	for _, k := range enabled {
		lines = append(lines, code(k.Usage())+" — "+esc(k.Summary()))
		names = append(names, k.String())
	}
	blocks = []slack.Block{
		slack.NewHeaderBlock(plain("secops-bot commands")),
		section(strings.Join(lines, "\n")),
		contextBlock("Finding IDs look like " + code("F-1A2B3C4D5E") + "; they are on every finding message. Buttons on the message do the same as these commands. " +
			code("/secops help <sub-command>") + " explains one, with examples."),
	}
	return "secops-bot commands: " + strings.Join(names, ", ") + ". /secops help <sub-command> explains one.", blocks
}

// HelpTopic explains one sub-command: its usage, what it does, who may use
// it and examples; enabled says whether this deployment offers it.
func HelpTopic(k commands.Kind, enabled bool) (text string, blocks []slack.Block) {
	var examples []string
	for _, ex := range k.Examples() {
		examples = append(examples, code(ex))
	}
	blocks = []slack.Block{
		slack.NewHeaderBlock(plain(clip("/secops "+k.String(), maxHeaderText))),
		section(code(k.Usage()) + "\n" + esc(k.Summary())),
		// The details are the table's own mrkdwn, never user input.
		section(k.Details()),
	}
	if len(examples) > 0 {
		blocks = append(blocks, section("*Examples*\n"+strings.Join(examples, "\n")))
	}
	var notes []string
	if aliases := k.Aliases(); len(aliases) > 0 {
		var spelt []string
		for _, a := range aliases {
			spelt = append(spelt, code(a))
		}
		notes = append(notes, "Also spelt "+strings.Join(spelt, ", ")+".")
	}
	if !enabled {
		notes = append(notes, "Not enabled in this deployment: ask the bot's operators.")
	}
	if len(notes) > 0 {
		blocks = append(blocks, contextBlock(strings.Join(notes, " ")))
	}
	text = esc(k.Usage() + " — " + k.Summary())
	if !enabled {
		text += " (not enabled in this deployment)"
	}
	return text, blocks
}
