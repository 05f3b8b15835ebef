package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/triage"
)

// registerInvestigate handles the buttons of an investigation report.
func (b *Bot) registerInvestigate() {
	b.actions[blocks.ActionInvestigatePage] = func(cb slack.InteractionCallback, act slack.BlockAction) {
		a := triage.Actor{UserID: cb.User.ID, TeamID: userTeam(cb)}
		channelID := cb.Channel.ID
		b.work(func(ctx context.Context) {
			reply := func(text string, blks []slack.Block) { b.ephemeral(ctx, channelID, a.UserID, text, blks) }
			d, err := b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
			if err != nil || !d.Allowed {
				b.refuse(ctx, a, "investigate.page", act.Value, d, err, reply)
				return
			}
			secops, ok := b.channelID(b.org.SecOps().SlackChannel)
			if !ok {
				reply("The SecOps channel is not configured.", nil)
				return
			}
			text := fmt.Sprintf(":rotating_light: <!here> <@%s> is paging on-call about %s after investigating it. Reply in this thread to take it.", a.UserID, blocks.Code(act.Value))
			if _, _, err := b.api.PostMessageContext(ctx, secops, slack.MsgOptionText(text, false)); err != nil {
				b.log.Error().Err(err).Msg("page on-call")
				reply("Could not page on-call; post in the SecOps channel yourself.", nil)
				return
			}
			b.audit(ctx, a, "investigate.page", act.Value, "ok", "", nil)
			reply("On-call paged in the SecOps channel.", nil)
		})
	}
	if _, taken := b.actions[blocks.ActionInvestigateContain]; !taken {
		b.actions[blocks.ActionInvestigateContain] = func(cb slack.InteractionCallback, act slack.BlockAction) {
			channelID, user := cb.Channel.ID, cb.User.ID
			b.work(func(ctx context.Context) {
				b.ephemeral(ctx, channelID, user, fmt.Sprintf("Contain this principal with %s, %s or, for a role, %s. Each shows a preview before anything runs.", blocks.Code("/secops contain iam-user-restrict-ip "+act.Value), blocks.Code("/secops contain iam-user-deactivate-keys "+act.Value), blocks.Code("/secops contain iam-role-revoke-sessions "+act.Value)), nil)
			})
		}
	}
}
