package bot

import (
	"context"
	"errors"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/org/authz"
)

// OnCallSource answers who is on call now for a team (paging.Service).
type OnCallSource interface {
	OnCall(ctx context.Context, team string) (paging.OnCall, error)
}

// EnableOnCall turns on /secops oncall.
func (b *Bot) EnableOnCall(src OnCallSource) { b.onCall = src }

// onCall answers /secops oncall.
type onCall struct {
	*kit
	src OnCallSource
}

// Routes adds /secops oncall.
func (h onCall) Routes(r *Router) { r.Command(commands.OnCall, h.command) }

func (h onCall) command(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "command.oncall", r.Command.Team) {
		return
	}
	team := r.Command.Team
	if team == "" {
		team = paging.SecOps
	}
	oc, err := h.src.OnCall(ctx, team)
	switch {
	case errors.Is(err, paging.ErrNoSchedule):
		r.Reply(ctx, "No schedule or rotation says who is on call for "+blocks.Code(team)+".", nil)
		return
	case err != nil && len(oc.People) == 0:
		h.log.Warn().Err(err).Str("team", team).Msg("who is on call")
		r.Reply(ctx, "Could not read who is on call for "+blocks.Code(team)+": "+blocks.Escape(err.Error()), nil)
		return
	}
	text, blks := blocks.OnCall(oc)
	r.Reply(ctx, text, blks)
}
