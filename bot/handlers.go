package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/investigate"
	"github.com/secops-bot/secops-bot/report"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/triage"
)

// Triage is the finding-action service behind the buttons and commands.
type Triage interface {
	Ack(ctx context.Context, a triage.Actor, findingID, origin string) (finding.Finding, error)
	Resolve(ctx context.Context, a triage.Actor, findingID, reason, origin string) (finding.Finding, error)
	MarkExpected(ctx context.Context, a triage.Actor, findingID, reason string, scope triage.Scope, origin string) (finding.Finding, error)
	RemoveExpected(ctx context.Context, a triage.Actor, entryID, origin string) error
	Suppressed(ctx context.Context, f finding.Finding) (triage.AllowEntry, bool, error)
}

// Checker decides whether a user holds a role, at the moment of asking.
type Checker interface {
	Check(ctx context.Context, userID, teamID string, role authz.Role) (authz.Decision, error)
}

// Investigator answers /secops investigate.
type Investigator interface {
	Investigate(ctx context.Context, q investigate.Query) (investigate.Report, error)
}

// Services are the domain services the bot drives.
type Services struct {
	Store        Store
	Authz        Checker
	Triage       Triage
	Investigator Investigator
	// Wake asks the outbox to deliver a change just stored at once (the
	// outbox Runtime's Wake); nil leaves it to the next poll.
	Wake func()
}

// work runs slow work after the envelope was acknowledged, tracked so
// shutdown can wait for it.
func (b *Bot) work(fn func(ctx context.Context)) {
	b.inflight.Add(1)
	go func() {
		defer b.inflight.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		fn(ctx)
	}()
}

func (b *Bot) onOther(evt *socketmode.Event, c *socketmode.Client) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" {
		b.ack(c, evt.Request, nil)
	}
}

// onWriteFailed sends again an acknowledgement whose write failed because
// its socket closed under it (a disconnect or a dropped connection):
// slack-go reports the response and moves to a new socket, where the ack
// still reaches Slack, usually within its 3 seconds. A response is sent
// again at most twice, so a socket failing for good cannot loop.
func (b *Bot) onWriteFailed(evt *socketmode.Event, c *socketmode.Client) {
	wf, ok := evt.Data.(*socketmode.ErrorWriteFailed)
	if !ok || wf.Response == nil || wf.Response.EnvelopeID == "" {
		return
	}
	res := *wf.Response
	if !b.seen.add("resend:1:"+res.EnvelopeID) && !b.seen.add("resend:2:"+res.EnvelopeID) {
		b.log.Error().Err(wf.Cause).Str("envelope_id", res.EnvelopeID).Msg("acknowledgement lost twice; giving up on it")
		return
	}
	b.log.Warn().Err(wf.Cause).Str("envelope_id", res.EnvelopeID).Msg("acknowledgement lost with its socket; sending it again")
	// SendCtx waits for the next socket; the event loop must not.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := c.SendCtx(ctx, res); err != nil {
			b.log.Error().Err(err).Str("envelope_id", res.EnvelopeID).Msg("send acknowledgement again")
		}
	}()
}

// forgetter is the part of the authoriser that drops cached roles; an
// authoriser without a cache need not have it.
type forgetter interface {
	ForgetUser(userID string)
	ForgetGroups()
}

// onEventsAPI acts on the two events the bot subscribes to: a user who
// changed (deactivated, made a guest) and a user group whose members
// changed. Either may take a role away, so the authoriser forgets what it
// cached at once instead of honouring it for up to a minute more.
func (b *Bot) onEventsAPI(evt *socketmode.Event, c *socketmode.Client) {
	// Forgetting is instant, so it happens before the ack: a click that
	// follows the event is checked afresh.
	defer b.ack(c, evt.Request, nil)
	outer, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return
	}
	f, ok := b.svc.Authz.(forgetter)
	if !ok {
		return
	}
	switch ev := outer.InnerEvent.Data.(type) {
	case *slackevents.UserChangeEvent:
		f.ForgetUser(ev.User.ID)
		b.log.Info().Str("user", ev.User.ID).Msg("user changed in Slack; roles will be checked afresh")
	case *slackevents.SubteamMembersChangedEvent:
		f.ForgetGroups()
		b.log.Info().Str("group", ev.SubteamID).Int("added", len(ev.AddedUsers)).Int("removed", len(ev.RemovedUsers)).Msg("user group members changed; roles will be checked afresh")
	}
}

func (b *Bot) ack(c *socketmode.Client, req *socketmode.Request, payload any) {
	if req == nil {
		return
	}
	var err error
	if payload == nil {
		err = c.Ack(*req)
	} else {
		err = c.Ack(*req, payload)
	}
	if err != nil {
		b.log.Error().Err(err).Str("envelope_id", req.EnvelopeID).Msg("acknowledge envelope")
	}
}

// fresh reports whether the envelope is new; a redelivered envelope is
// acknowledged again but not acted on.
func (b *Bot) fresh(req *socketmode.Request) bool {
	if req == nil {
		return true
	}
	return b.seen.add("envelope:" + req.EnvelopeID)
}

func ephemeralPayload(text string, blks []slack.Block) map[string]any {
	p := map[string]any{"response_type": "ephemeral", "text": text}
	if len(blks) > 0 {
		p["blocks"] = blks
	}
	return p
}

func (b *Bot) onSlashCommand(evt *socketmode.Event, c *socketmode.Client) {
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok || !b.fresh(evt.Request) {
		b.ack(c, evt.Request, nil)
		return
	}
	// Slack escapes &, < and > in command text.
	parsed, err := commands.Parse(unescape(cmd.Text))
	if err != nil {
		b.ack(c, evt.Request, ephemeralPayload(blocks.Escape(err.Error()), nil))
		return
	}
	if parsed.Name == commands.Help {
		text, blks := blocks.Help()
		b.ack(c, evt.Request, ephemeralPayload(text, blks))
		return
	}
	b.ack(c, evt.Request, nil)
	b.work(func(ctx context.Context) { b.runCommand(ctx, cmd, parsed) })
}

func (b *Bot) actor(userID, teamID string) triage.Actor {
	return triage.Actor{UserID: userID, TeamID: teamID}
}

func (b *Bot) runCommand(ctx context.Context, cmd slack.SlashCommand, parsed commands.Command) {
	reply := func(text string, blks []slack.Block) {
		b.ephemeral(ctx, cmd.ChannelID, cmd.UserID, text, blks)
	}
	a := b.actor(cmd.UserID, cmd.TeamID)
	origin := "command in " + cmd.ChannelID
	switch parsed.Name {
	case commands.Findings:
		b.listFindings(ctx, a, parsed, reply)
	case commands.Ack:
		_, err := b.svc.Triage.Ack(ctx, a, parsed.FindingID, origin)
		b.afterTriage(ctx, err, fmt.Sprintf("Acknowledged %s.", parsed.FindingID), reply)
	case commands.Resolve:
		_, err := b.svc.Triage.Resolve(ctx, a, parsed.FindingID, parsed.Reason, origin)
		b.afterTriage(ctx, err, fmt.Sprintf("Resolved %s.", parsed.FindingID), reply)
	case commands.Investigate:
		b.investigate(ctx, a, parsed.Target, parsed.Since, parsed.Until, origin, reply)
	default:
		if h, ok := b.commands[parsed.Name]; ok {
			h(ctx, cmd, parsed)
			return
		}
		reply(fmt.Sprintf("/secops %s is not enabled in this deployment.", parsed.Name), nil)
	}
}

// afterTriage turns a triage result into words for the user.
func (b *Bot) afterTriage(ctx context.Context, err error, ok string, reply func(string, []slack.Block)) {
	switch {
	case err == nil:
		b.Wake()
		reply(ok, nil)
	case isUserError(err):
		reply(userMessage(err), nil)
	default:
		b.log.Error().Err(err).Msg("finding action failed")
		reply("Something went wrong; the action was not applied. Try again, and tell SecOps if it keeps failing.", nil)
	}
}

// isUserError reports whether the error is an answer for the person who
// acted (refused, already done, no such finding) rather than a failure.
func isUserError(err error) bool {
	var te *triage.Error
	return errors.As(err, &te)
}

// userMessage is the part of an error meant for the person who acted.
func userMessage(err error) string {
	var te *triage.Error
	if errors.As(err, &te) && te.Msg != "" {
		if errors.Is(err, triage.ErrForbidden) {
			return "Not allowed: " + te.Msg
		}
		return te.Msg
	}
	msg := err.Error()
	return strings.ToUpper(msg[:1]) + msg[1:]
}

func (b *Bot) ephemeral(ctx context.Context, channelID, userID, text string, blks []slack.Block) {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blks...))
	}
	if _, err := b.api.PostEphemeralContext(ctx, channelID, userID, opts...); err != nil {
		b.log.Warn().Err(err).Str("channel", channelID).Msg("ephemeral reply failed; sending a direct message instead")
		b.direct(ctx, userID, text, blks)
	}
}

// direct sends a private message to the user (results of modal
// submissions, which have no channel).
func (b *Bot) direct(ctx context.Context, userID, text string, blks []slack.Block) {
	ch, _, _, err := b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}})
	if err != nil {
		b.log.Error().Err(err).Str("user", userID).Msg("open direct message")
		return
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blks...))
	}
	if _, _, err := b.api.PostMessageContext(ctx, ch.ID, opts...); err != nil {
		b.log.Error().Err(err).Str("user", userID).Msg("send direct message")
	}
}

func (b *Bot) listFindings(ctx context.Context, a triage.Actor, parsed commands.Command, reply func(string, []slack.Block)) {
	d, err := b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
	if err != nil || !d.Allowed {
		b.refuse(ctx, a, "command.findings", "", d, err, reply)
		return
	}
	filter := store.FindingFilter{Team: parsed.Team, Limit: 200}
	if parsed.Scope != commands.ScopeAll {
		filter.Statuses = []finding.Status{finding.StatusOpen}
	}
	fs, err := b.svc.Store.ListFindings(ctx, filter)
	if err != nil {
		b.log.Error().Err(err).Msg("list findings")
		reply("Could not read the findings; try again.", nil)
		return
	}
	links := map[string]string{}
	for _, f := range fs {
		for _, r := range f.Routes {
			name, ok := cutSlack(r)
			if !ok {
				continue
			}
			if id, ok := b.channelID(name); ok {
				if ts, err := b.messageTS(ctx, f.ID, id); err == nil && ts != "" {
					links[f.ID] = b.permalink(id, ts)
					break
				}
			}
		}
	}
	b.audit(ctx, a, "command.findings", "", "ok", "", nil)
	text, blks := blocks.FindingsList(fs, links)
	if summary := b.timesSummary(ctx, parsed.Team); summary != "" && len(blks) < 49 {
		blks = append(blks, slack.NewContextBlock("findings.times", slack.NewTextBlockObject(slack.MarkdownType, summary, false, false)))
	}
	reply(text, blks)
}

// timesSummary is the last 30 days' median time to detect, acknowledge
// and resolve, per team (or for the team asked about), as `secops-bot
// report` computes it.
func (b *Bot) timesSummary(ctx context.Context, team string) string {
	since := b.clock.Now().Add(-30 * 24 * time.Hour)
	all, err := b.svc.Store.ListFindings(ctx, store.FindingFilter{Team: team, Limit: 5000})
	if err != nil {
		return ""
	}
	// Judged by when the bot saw them, so replayed or backfilled old
	// events count when they were found.
	var fs []finding.Finding
	for _, f := range all {
		if !f.DetectedAt.Before(since) {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return ""
	}
	r := report.Compute(fs, time.Time{})
	line := func(name string, st report.Stats) string {
		return fmt.Sprintf("*%s*: %d findings, median detect %s, acknowledge %s, resolve %s",
			name, st.Count, report.Duration(st.Detect.Median), report.Duration(st.Ack.Median), report.Duration(st.Resolve.Median))
	}
	lines := []string{"Last 30 days — " + line("all", r.Total)}
	for i, row := range r.ByTeam {
		if i == 8 {
			lines = append(lines, fmt.Sprintf("… and %d more teams (secops-bot report)", len(r.ByTeam)-8))
			break
		}
		lines = append(lines, line(row.Name, row.Stats))
	}
	return truncate(strings.Join(lines, "\n"), 2900)
}

// refuse tells the user why and records the refusal.
func (b *Bot) refuse(ctx context.Context, a triage.Actor, action, target string, d authz.Decision, err error, reply func(string, []slack.Block)) {
	reason := d.Reason
	result := "refused"
	if err != nil {
		reason = "authorisation check failed: " + err.Error()
		result = "error"
	}
	// The target may come from a button value: keep the record small.
	if len(target) > 128 {
		target = target[:128] + "…"
	}
	b.audit(ctx, a, action, target, result, reason, nil)
	reply("Not allowed: "+reason, nil)
}

func (b *Bot) audit(ctx context.Context, a triage.Actor, action, target, result, reason string, detail []byte) {
	_, err := b.svc.Store.AppendAudit(ctx, store.AuditRecord{
		Time: b.clock.Now(), Actor: a.UserID + "@" + a.TeamID, Action: action, Target: target,
		Result: result, Reason: reason, Detail: detail,
	})
	if err != nil {
		b.log.Error().Err(err).Str("action", action).Msg("write audit record")
	}
}

// investigate answers with the activity of an actor, key, account or
// resource: who it is, its API timeline, what is unusual against its
// baseline, what it touched and the findings involving it.
func (b *Bot) investigate(ctx context.Context, a triage.Actor, t commands.Target, since time.Duration, until time.Time, origin string, reply func(string, []slack.Block)) {
	d, err := b.svc.Authz.Check(ctx, a.UserID, a.TeamID, authz.Responder)
	if err != nil || !d.Allowed {
		b.refuse(ctx, a, "investigate", t.Value, d, err, reply)
		return
	}
	if since <= 0 {
		since = commands.DefaultSince
	}
	if b.svc.Investigator == nil {
		reply("Investigation is not available in this deployment.", nil)
		return
	}
	r, err := b.svc.Investigator.Investigate(ctx, investigate.Query{Kind: t.Kind, Value: t.Value, Since: since, Until: until})
	if err != nil {
		b.log.Warn().Err(err).Str("target", t.Value).Msg("investigate")
		reply(fmt.Sprintf("Could not investigate %s: %s", blocks.Code(t.Value), blocks.Escape(err.Error())), nil)
		return
	}
	b.audit(ctx, a, "investigate", t.Value, "ok", "", []byte(fmt.Sprintf(`{"origin":%q,"events":%d}`, origin, r.Total)))
	text, blks := blocks.InvestigateReport(r, b.secopsLocation())
	reply(text, blks)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// secopsLocation is the SecOps team's time zone, in which the bot writes
// times that belong to no one team; UTC when none is configured.
func (b *Bot) secopsLocation() *time.Location {
	if b.org != nil {
		if s := b.org.SecOps(); s.Location != nil {
			return s.Location
		}
	}
	return time.UTC
}
