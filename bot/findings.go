package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ops/report"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/triage"
	"github.com/secops-bot/secops-bot/store"
)

// Triage is the finding-action service behind the buttons and commands.
type Triage interface {
	Ack(ctx context.Context, a authz.Actor, findingID, origin string) (finding.Finding, error)
	Resolve(ctx context.Context, a authz.Actor, findingID, reason, origin string) (finding.Finding, error)
	MarkExpected(ctx context.Context, a authz.Actor, findingID, reason string, scope triage.Scope, origin string) (finding.Finding, error)
	RemoveExpected(ctx context.Context, a authz.Actor, entryID, origin string) error
	ListExpected(ctx context.Context, a authz.Actor, origin string) ([]triage.AllowEntry, error)
	Suppressed(ctx context.Context, f finding.Finding) (triage.AllowEntry, bool, error)
}

// actionRemoveExpected is the button on a "marked expected" reply; its
// value is the opaque allowlist entry ID.
const actionRemoveExpected = "expected.remove"

// findings is what people do to a finding: list findings, acknowledge,
// resolve, mark expected and take that back, from commands and from the
// buttons of a finding's message. Who may do it is the triage service's
// to decide, at the moment it runs.
type findings struct{ *kit }

// Routes adds the finding commands, buttons and modals.
func (h findings) Routes(r *Router) {
	r.Command(commands.Findings, h.list)
	r.Command(commands.Ack, h.ackCommand)
	r.Command(commands.Resolve, h.resolveCommand)
	r.Command(commands.Expected, h.expectedCommand)
	r.Action(blocks.ActionAck, h.ack)
	r.Action(blocks.ActionResolve, h.openResolve)
	r.Action(blocks.ActionExpected, h.openExpected)
	r.Action(actionRemoveExpected, h.removeExpected)
	r.View(blocks.CallbackResolve, h.resolveSubmitted)
	r.View(blocks.CallbackExpected, h.expectedSubmitted)
}

// origin says where an action came from, for the audit log.
func origin(r *Request) string {
	switch {
	case r.View != nil:
		return "modal " + r.View.ID
	case r.ActionID != "":
		return fmt.Sprintf("button %s/%s", r.ChannelID, r.MessageTS)
	}
	return "command in " + r.ChannelID
}

func (h findings) ackCommand(ctx context.Context, r *Request) {
	_, err := h.Triage.Ack(ctx, r.Actor, r.Command.FindingID, origin(r))
	h.afterTriage(err, fmt.Sprintf("Acknowledged %s.", r.Command.FindingID), r.replier(ctx))
}

func (h findings) resolveCommand(ctx context.Context, r *Request) {
	_, err := h.Triage.Resolve(ctx, r.Actor, r.Command.FindingID, r.Command.Reason, origin(r))
	h.afterTriage(err, fmt.Sprintf("Resolved %s.", r.Command.FindingID), r.replier(ctx))
}

// ack is the Acknowledge button; its value is only ever an opaque finding
// ID, everything else is read from the store.
func (h findings) ack(ctx context.Context, r *Request) {
	_, err := h.Triage.Ack(ctx, r.Actor, r.Value, origin(r))
	h.afterTriage(err, "Acknowledged.", r.replier(ctx))
}

// openResolve opens the resolve form. trigger_id lives 3 seconds: the
// modal opens first; who may resolve is checked when it is submitted.
func (h findings) openResolve(ctx context.Context, r *Request) {
	if _, err := r.OpenView(ctx, blocks.ResolveModal(r.Value)); err != nil {
		h.log.Warn().Err(err).Msg("open resolve modal")
		r.Reply(ctx, fmt.Sprintf("Could not open the form; use /secops resolve %s <reason>.", r.Value), nil)
	}
}

func (h findings) openExpected(ctx context.Context, r *Request) {
	f, err := h.Store.GetFinding(ctx, r.Value)
	if err != nil {
		r.Reply(ctx, "No such finding.", nil)
		return
	}
	if _, err := r.OpenView(ctx, blocks.ExpectedModal(f)); err != nil {
		h.log.Warn().Err(err).Msg("open expected modal")
		r.Reply(ctx, "Could not open the form; try again.", nil)
	}
}

// removeExpected takes an allowlist entry back from the thread where the
// finding was marked expected, and says so there.
func (h findings) removeExpected(ctx context.Context, r *Request) {
	err := h.Triage.RemoveExpected(ctx, r.Actor, r.Value, origin(r))
	if err == nil && r.MessageTS != "" {
		text := fmt.Sprintf(":bell: <@%s> removed allowlist entry %s: matching exposures alert again.", r.UserID, blocks.Code(r.Value))
		if perr := r.Post(ctx, r.ChannelID, r.Thread(), text, nil); perr != nil {
			h.log.Warn().Err(perr).Msg("announce allowlist removal")
		}
	}
	h.afterTriage(err, "Allowlist entry removed; matching exposures alert again.", r.replier(ctx))
}

// expectedCommand answers /secops expected: the allowlist, or the removal
// of one entry. Who may do either is the triage service's to decide, and
// it audits both.
func (h findings) expectedCommand(ctx context.Context, r *Request) {
	c := r.Command
	if c.EntryOp == commands.ExpectedRemove {
		err := h.Triage.RemoveExpected(ctx, r.Actor, c.EntryID, origin(r))
		h.afterTriage(err, fmt.Sprintf("Allowlist entry %s removed; matching exposures alert again.", blocks.Code(c.EntryID)), r.replier(ctx))
		return
	}
	entries, err := h.Triage.ListExpected(ctx, r.Actor, origin(r))
	if err != nil {
		h.afterTriage(err, "", r.replier(ctx))
		return
	}
	names := map[string]string{}
	for _, e := range entries {
		if a, ok := h.org.Account(e.Account); ok {
			names[e.Account] = a.Name
		}
	}
	text, blks := blocks.ExpectedList(entries, names, h.clock.Now(), h.secopsLocation())
	r.Reply(ctx, text, blks)
}

func (h findings) resolveSubmitted(ctx context.Context, r *Request) {
	sub, err := blocks.ReadResolve(*r.View)
	if err != nil {
		r.Reply(ctx, "The resolve form was incomplete: "+err.Error(), nil)
		return
	}
	_, err = h.Triage.Resolve(ctx, r.Actor, sub.FindingID, sub.Reason, origin(r))
	h.afterTriageQuiet(err, r.replier(ctx))
}

func (h findings) expectedSubmitted(ctx context.Context, r *Request) {
	sub, err := blocks.ReadExpected(*r.View)
	if err != nil {
		r.Reply(ctx, "The form was incomplete: "+err.Error(), nil)
		return
	}
	scope := triage.Scope{Kind: sub.Scope, Pattern: sub.Pattern, For: sub.For}
	_, err = h.Triage.MarkExpected(ctx, r.Actor, sub.FindingID, sub.Reason, scope, origin(r))
	h.afterTriageQuiet(err, r.replier(ctx))
}

// list answers /secops findings.
func (h findings) list(ctx context.Context, r *Request) {
	if !h.allowed(ctx, r, authz.Responder, "command.findings", "") {
		return
	}
	filter := store.FindingFilter{Team: r.Command.Team, Limit: 200}
	if r.Command.Scope != commands.ScopeAll {
		filter.Statuses = []finding.Status{finding.StatusOpen}
	}
	fs, err := h.Store.ListFindings(ctx, filter)
	if err != nil {
		h.log.Error().Err(err).Msg("list findings")
		r.Reply(ctx, "Could not read the findings; try again.", nil)
		return
	}
	links := map[string]string{}
	for _, f := range fs {
		if link := h.threads.firstPosted(ctx, f); link != "" {
			links[f.ID] = link
		}
	}
	h.audit(ctx, r.Actor, "command.findings", "", "ok", "", nil)
	text, blks := blocks.FindingsList(fs, links)
	if summary := h.timesSummary(ctx, r.Command.Team); summary != "" && len(blks) < 49 {
		blks = append(blks, slack.NewContextBlock("findings.times", slack.NewTextBlockObject(slack.MarkdownType, summary, false, false)))
	}
	r.Reply(ctx, text, blks)
}

// timesSummary is the last 30 days' median time to detect, acknowledge
// and resolve, per team (or for the team asked about), as `secops-bot
// report` computes it.
func (h findings) timesSummary(ctx context.Context, team string) string {
	since := h.clock.Now().Add(-30 * 24 * time.Hour)
	all, err := h.Store.ListFindings(ctx, store.FindingFilter{Team: team, Limit: 5000})
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
	rep := report.Compute(fs, time.Time{})
	line := func(name string, st report.Stats) string {
		return fmt.Sprintf("*%s*: %d findings, median detect %s, acknowledge %s, resolve %s",
			name, st.Count, report.Duration(st.Detect.Median), report.Duration(st.Ack.Median), report.Duration(st.Resolve.Median))
	}
	lines := []string{"Last 30 days — " + line("all", rep.Total)}
	for i, row := range rep.ByTeam {
		if i == 8 {
			lines = append(lines, fmt.Sprintf("… and %d more teams (secops-bot report)", len(rep.ByTeam)-8))
			break
		}
		lines = append(lines, line(row.Name, row.Stats))
	}
	return truncate(strings.Join(lines, "\n"), 2900)
}
