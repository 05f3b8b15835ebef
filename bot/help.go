package bot

import (
	"slices"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
)

// help answers /secops help from the parser's table of sub-commands,
// listing only those this deployment routes. It answers in the
// acknowledgement: it reads nothing but the route table.
type help struct {
	// enabled lists the routed sub-commands (Router.Commands).
	enabled func() []commands.Kind
}

// Routes adds /secops help.
func (h help) Routes(r *Router) {
	r.Instant(commands.Help, h.answer)
}

func (h help) answer(r *Request) (string, []slack.Block) {
	enabled := h.enabled()
	if topic := r.Command.Topic; topic != commands.Help {
		return blocks.HelpTopic(topic, slices.Contains(enabled, topic))
	}
	return blocks.Help(enabled)
}
