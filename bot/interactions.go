package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/triage"
)

// userTeam is the team the acting user belongs to: their own team for a
// Slack Connect user, else the workspace's.
func userTeam(cb slack.InteractionCallback) string {
	if cb.User.TeamID != "" {
		return cb.User.TeamID
	}
	return cb.Team.ID
}

func (b *Bot) onInteractive(evt *socketmode.Event, c *socketmode.Client) {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || !b.fresh(evt.Request) {
		b.ack(c, evt.Request, nil)
		return
	}
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		b.ack(c, evt.Request, nil)
		for _, act := range cb.ActionCallback.BlockActions {
			b.onBlockAction(cb, *act)
		}
	case slack.InteractionTypeViewSubmission:
		// Close the modal at once; the result goes to the thread, and a
		// refusal or error to the user privately.
		b.ack(c, evt.Request, nil)
		b.onViewSubmission(cb)
	default:
		b.ack(c, evt.Request, nil)
	}
}

func (b *Bot) onBlockAction(cb slack.InteractionCallback, act slack.BlockAction) {
	// Registered handlers come first, so a feature can take over a button
	// (Contain… once containment is configured).
	if h, ok := b.actions[act.ActionID]; ok {
		h(cb, act)
		return
	}
	a := triage.Actor{UserID: cb.User.ID, TeamID: userTeam(cb)}
	channelID := cb.Channel.ID
	if channelID == "" {
		channelID = cb.Container.ChannelID
	}
	msgTS := cb.Container.MessageTs
	if msgTS == "" {
		msgTS = cb.Message.Timestamp
	}
	origin := fmt.Sprintf("button %s/%s", channelID, msgTS)
	// The value is only ever an opaque finding ID; everything else is read
	// from the store.
	findingID := act.Value
	reply := func(ctx context.Context) func(string, []slack.Block) {
		return func(text string, blks []slack.Block) { b.ephemeral(ctx, channelID, a.UserID, text, blks) }
	}
	switch act.ActionID {
	case blocks.ActionAck:
		b.work(func(ctx context.Context) {
			_, err := b.svc.Triage.Ack(ctx, a, findingID, origin)
			b.afterTriage(ctx, err, "Acknowledged.", reply(ctx))
		})
	case blocks.ActionResolve:
		// trigger_id lives 3 seconds: open the modal first; who may resolve
		// is checked when the modal is submitted.
		b.work(func(ctx context.Context) {
			if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, blocks.ResolveModal(findingID)); err != nil {
				b.log.Warn().Err(err).Msg("open resolve modal")
				reply(ctx)(fmt.Sprintf("Could not open the form; use /secops resolve %s <reason>.", findingID), nil)
			}
		})
	case blocks.ActionExpected:
		b.work(func(ctx context.Context) {
			f, err := b.svc.Store.GetFinding(ctx, findingID)
			if err != nil {
				reply(ctx)("No such finding.", nil)
				return
			}
			if _, err := b.api.OpenViewContext(ctx, cb.TriggerID, blocks.ExpectedModal(f)); err != nil {
				b.log.Warn().Err(err).Msg("open expected modal")
				reply(ctx)("Could not open the form; try again.", nil)
			}
		})
	case blocks.ActionInvestigate:
		b.work(func(ctx context.Context) {
			f, err := b.svc.Store.GetFinding(ctx, findingID)
			if err != nil {
				reply(ctx)("No such finding.", nil)
				return
			}
			b.investigate(ctx, a, commands.Target{Kind: commands.TargetARN, Value: f.Actor.ARN}, 0, f.InvestigateUntil(), origin, reply(ctx))
		})
	case blocks.ActionContain:
		b.work(func(ctx context.Context) {
			d, err := b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
			if err != nil || !d.Allowed {
				b.refuse(ctx, a, "finding.contain", findingID, d, err, reply(ctx))
				return
			}
			reply(ctx)("No containment actions are enabled in this deployment.", nil)
		})
	case actionRemoveExpected:
		b.work(func(ctx context.Context) {
			err := b.svc.Triage.RemoveExpected(ctx, a, act.Value, origin)
			if err == nil && msgTS != "" {
				thread := cb.Message.ThreadTimestamp
				if thread == "" {
					thread = msgTS
				}
				text := fmt.Sprintf(":bell: <@%s> removed allowlist entry %s: matching exposures alert again.", a.UserID, blocks.Code(act.Value))
				if _, _, perr := b.api.PostMessageContext(ctx, channelID, slack.MsgOptionTS(thread), slack.MsgOptionText(text, false)); perr != nil {
					b.log.Warn().Err(perr).Msg("announce allowlist removal")
				}
			}
			b.afterTriage(ctx, err, "Allowlist entry removed; matching exposures alert again.", reply(ctx))
		})
	default:
		b.log.Debug().Str("action_id", act.ActionID).Msg("unknown action ignored")
	}
}

func (b *Bot) onViewSubmission(cb slack.InteractionCallback) {
	a := triage.Actor{UserID: cb.User.ID, TeamID: userTeam(cb)}
	origin := "modal " + cb.View.ID
	dm := func(ctx context.Context) func(string, []slack.Block) {
		return func(text string, blks []slack.Block) { b.direct(ctx, a.UserID, text, blks) }
	}
	if h, ok := b.views[cb.View.CallbackID]; ok {
		h(cb)
		return
	}
	switch cb.View.CallbackID {
	case blocks.CallbackResolve:
		sub, err := blocks.ReadResolve(cb.View)
		b.work(func(ctx context.Context) {
			if err != nil {
				dm(ctx)("The resolve form was incomplete: "+err.Error(), nil)
				return
			}
			_, err := b.svc.Triage.Resolve(ctx, a, sub.FindingID, sub.Reason, origin)
			b.afterTriageQuiet(ctx, err, dm(ctx))
		})
	case blocks.CallbackExpected:
		sub, err := blocks.ReadExpected(cb.View)
		b.work(func(ctx context.Context) {
			if err != nil {
				dm(ctx)("The form was incomplete: "+err.Error(), nil)
				return
			}
			scope := triage.Scope{Kind: sub.Scope, Pattern: sub.Pattern}
			_, err := b.svc.Triage.MarkExpected(ctx, a, sub.FindingID, sub.Reason, scope, origin)
			b.afterTriageQuiet(ctx, err, dm(ctx))
		})
	}
}

// afterTriageQuiet reports only problems: success shows in the thread.
func (b *Bot) afterTriageQuiet(ctx context.Context, err error, reply func(string, []slack.Block)) {
	if err == nil {
		b.Wake()
		return
	}
	b.afterTriage(ctx, err, "", reply)
}
