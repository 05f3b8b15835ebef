package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/investigate"
)

// Investigator answers /secops investigate.
type Investigator interface {
	Investigate(ctx context.Context, q investigate.Query) (investigate.Report, error)
}

// investigation answers with the activity of an actor, key, account or
// resource: who it is, its API timeline, what is unusual against its
// baseline, what it touched and the findings involving it. It is asked by
// command, by a finding's Investigate button, and by playbook steps.
type investigation struct{ *kit }

// Routes adds /secops investigate and the buttons of a finding and of a
// report.
func (h investigation) Routes(r *Router) {
	r.Command(commands.Investigate, h.command)
	r.Action(blocks.ActionInvestigate, h.finding)
	r.Action(blocks.ActionInvestigatePage, h.page)
	r.Action(blocks.ActionInvestigateContain, h.containHint)
}

func (h investigation) command(ctx context.Context, r *Request) {
	c := r.Command
	h.investigate(ctx, r.Actor, c.Target, c.Since, c.Until, origin(r), r.replier(ctx))
}

// finding investigates the actor of a finding, over the window of its
// event.
func (h investigation) finding(ctx context.Context, r *Request) {
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	target := commands.Target{Kind: commands.TargetARN, Value: f.Actor.ARN}
	if f.Actor.ARN == "" && f.Actor.AccessKeyID != "" {
		// A detector may name only the access key used.
		target = commands.Target{Kind: commands.TargetAccessKey, Value: f.Actor.AccessKeyID}
	}
	h.investigate(ctx, r.Actor, target, 0, f.InvestigateUntil(), origin(r), r.replier(ctx))
}

// investigate answers through say, which posts privately or in a thread.
func (h investigation) investigate(ctx context.Context, a authz.Actor, t commands.Target, since time.Duration, until time.Time, origin string, say func(string, []slack.Block)) {
	d, err := h.Authz.Check(ctx, a, authz.Responder)
	if err != nil || !d.Allowed {
		h.refuse(ctx, a, "investigate", t.Value, d, err, say)
		return
	}
	if since <= 0 {
		since = commands.DefaultSince
	}
	if h.Investigator == nil {
		say("Investigation is not available in this deployment.", nil)
		return
	}
	rep, err := h.Investigator.Investigate(ctx, investigate.Query{Kind: t.Kind, Value: t.Value, Since: since, Until: until})
	if err != nil {
		h.log.Warn().Err(err).Str("target", t.Value).Msg("investigate")
		say(fmt.Sprintf("Could not investigate %s: %s", blocks.Code(t.Value), blocks.Escape(err.Error())), nil)
		return
	}
	h.audit(ctx, a, "investigate", t.Value, "ok", "", []byte(fmt.Sprintf(`{"origin":%q,"events":%d}`, origin, rep.Total)))
	text, blks := blocks.InvestigateReport(rep, h.secopsLocation())
	say(text, blks)
}

// page is a report's Page on-call button: it asks on-call in the SecOps
// channel to take the investigation over.
func (h investigation) page(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "investigate.page", r.Value) {
		return
	}
	secops, ok := h.threads.channelID(h.org.SecOps().SlackChannel)
	if !ok {
		r.Reply(ctx, "The SecOps channel is not configured.", nil)
		return
	}
	text := fmt.Sprintf(":rotating_light: <!here> <@%s> is paging on-call about %s after investigating it. Reply in this thread to take it.", r.UserID, blocks.Code(r.Value))
	if err := r.Post(ctx, secops, "", text, nil); err != nil {
		h.log.Error().Err(err).Msg("page on-call")
		r.Reply(ctx, "Could not page on-call; post in the SecOps channel yourself.", nil)
		return
	}
	h.audit(ctx, r.Actor, "investigate.page", r.Value, "ok", "", nil)
	r.Reply(ctx, "On-call paged in the SecOps channel.", nil)
}

// containHint is a report's Contain button: the commands that contain the
// principal, each previewed before anything runs.
func (h investigation) containHint(ctx context.Context, r *Request) {
	r.Reply(ctx, fmt.Sprintf("Contain this principal with %s, %s or, for a role, %s. Each shows a preview before anything runs.",
		blocks.Code("/secops contain iam-user-restrict-ip "+r.Value), blocks.Code("/secops contain iam-user-deactivate-keys "+r.Value), blocks.Code("/secops contain iam-role-revoke-sessions "+r.Value)), nil)
}
