package blocks

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/store"
)

// Action IDs of the break-glass buttons. Every button's value is the
// request ID only: the handler reloads the request and authorises the
// click itself.
const (
	ActionBreakglassApprove     = "breakglass.approve"
	ActionBreakglassDeny        = "breakglass.deny"
	ActionBreakglassSelfApprove = "breakglass.self_approve"
	ActionBreakglassRevoke      = "breakglass.revoke"
	ActionBreakglassWithdraw    = "breakglass.withdraw"
	ActionBreakglassReview      = "breakglass.review"
	ActionBreakglassCLI         = "breakglass.cli"
	ActionBreakglassConsole     = "breakglass.console"
)

// Callback IDs and inputs of the break-glass modals.
const (
	CallbackBreakglassRequest = "breakglass.request"
	CallbackBreakglassDeny    = "breakglass.deny"
	CallbackBreakglassStepUp  = "breakglass.stepup"
	BlockBreakglassCode       = "breakglass.code"
	ActionBreakglassCode      = "code"

	BlockBreakglassTarget   = "breakglass.target"
	ActionBreakglassTarget  = "target"
	BlockBreakglassDuration = "breakglass.duration"
	ActionBreakglassDur     = "duration"
	BlockBreakglassReason   = "breakglass.reason"
	ActionBreakglassReason  = "reason"
	BlockBreakglassFinding  = "breakglass.finding"
	ActionBreakglassFinding = "finding"
	BlockBreakglassDenyWhy  = "breakglass.deny_reason"
	ActionBreakglassDenyWhy = "reason"
)

// BreakglassMessage renders a break-glass message of any kind; the bot's
// Notifier calls it for every Post, Update and DM.
func BreakglassMessage(m breakglass.Message, loc *time.Location) (text string, blocks []slack.Block) {
	switch m.Kind {
	case breakglass.KindReminder:
		return breakglassReminder(m, loc)
	case breakglass.KindSummary:
		return breakglassSummary(m.Request, loc)
	case breakglass.KindAccess:
		return breakglassAccess(m, loc)
	case breakglass.KindAccessEnded:
		return breakglassAccessEnded(m.Request, loc)
	case breakglass.KindSelfApproved:
		return breakglassSelfApproved(m, loc)
	case breakglass.KindRequesterNote:
		return BreakglassRequesterNote(m.Request, loc, "")
	default:
		return breakglassRequest(m, loc)
	}
}

// target is "*Level* in *Name* (`id`)".
func target(r breakglass.Request) string {
	acct := code(r.Account)
	if r.AccountName != "" {
		acct = "*" + esc(clip(r.AccountName, 100)) + "* (" + code(r.Account) + ")"
	}
	return "*" + esc(clip(r.Level, 100)) + "* in " + acct
}

func mentions(ids []string) string {
	var out []string
	for _, id := range ids {
		switch {
		case userIDPattern.MatchString(id):
			out = append(out, "<@"+id+">")
		case groupIDPattern.MatchString(id):
			out = append(out, "<!subteam^"+id+">")
		}
	}
	return strings.Join(out, " ")
}

// groupIDPattern matches Slack user-group IDs, mentioned as <!subteam^ID>.
var groupIDPattern = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)

func breakglassRequest(m breakglass.Message, loc *time.Location) (string, []slack.Block) {
	r := m.Request
	emoji, word := breakglassBadge(r.State)
	header := slack.NewHeaderBlock(plain(clip(emoji+" Break-glass "+word+": "+r.Level+" in "+firstNonEmpty(r.AccountName, r.Account), maxHeaderText)))
	asked := who(r.Requester) + " asks for " + target(r) + " for *" + duration(r.Duration) + "*"
	if r.CappedFrom > 0 {
		asked += " (asked " + duration(r.CappedFrom) + ", cut to the limit)"
	}
	body := asked + "\n*Reason:* " + esc(clip(r.Reason, 2000))
	if r.FindingID != "" {
		body += "\n*Finding:* " + code(r.FindingID)
	}
	blocks := []slack.Block{header, section(body)}

	var status []string
	switch r.State {
	case breakglass.StatePending:
		status = append(status, "Waiting for approval until "+localTime(r.DecideBy, loc))
		if r.TwoApprovers {
			line := fmt.Sprintf("%d of 2 approvers", len(r.Approvals))
			if len(r.Approvals) > 0 {
				line += " (" + who(r.Approvals[0].User) + ")"
			}
			status = append(status, line)
		}
		if !m.SelfApproveAt.IsZero() {
			status = append(status, "the requester may approve it themselves from "+localTime(m.SelfApproveAt, loc))
		}
	case breakglass.StateApproved:
		status = append(status, "Approved by "+approvers(r)+"; granting access…")
	case breakglass.StateActive:
		status = append(status, "Approved by "+approvers(r), ":unlock: Active until *"+localTime(r.EndsAt, loc)+"*")
	case breakglass.StateExpired:
		status = append(status, "Approved by "+approvers(r), "Expired at "+localTime(r.EndedAt, loc)+" after "+duration(r.EndedAt.Sub(r.StartedAt)))
	case breakglass.StateRevoked:
		status = append(status, "Approved by "+approvers(r), "Revoked by "+who(r.EndedBy)+" at "+localTime(r.EndedAt, loc)+" after "+duration(r.EndedAt.Sub(r.StartedAt)))
	case breakglass.StateDenied:
		status = append(status, "Denied by "+who(r.DecidedBy)+" at "+localTime(r.DecidedAt, loc)+": "+esc(clip(r.DenyReason, 1000)))
	case breakglass.StateWithdrawn:
		status = append(status, "Withdrawn by "+who(r.DecidedBy)+" at "+localTime(r.DecidedAt, loc))
	case breakglass.StateTimedOut:
		status = append(status, "Expired undecided at "+localTime(r.DecideBy, loc)+"; nobody approved it in time")
	case breakglass.StateFailed:
		status = append(status, "Access could not be granted: "+esc(clip(r.Error, 500)))
	}
	if r.CleanupPending && r.State.Final() {
		status = append(status, ":warning: taking the access back in AWS failed; retrying")
	}
	if r.SelfApproved {
		review := ":warning: self-approved; review open"
		if !r.ReviewOpen {
			review = "self-approved; reviewed by " + who(r.ReviewedBy)
		}
		status = append(status, review)
	}
	blocks = append(blocks, contextBlock(status...))
	if r.State == breakglass.StatePending && len(m.Mentions) > 0 {
		if ms := mentions(m.Mentions); ms != "" {
			blocks = append(blocks, section("Approvers on call: "+ms))
		}
	}

	var buttons []slack.BlockElement
	switch r.State {
	case breakglass.StatePending:
		buttons = append(buttons,
			button(ActionBreakglassApprove, "Approve", r.ID, slack.StylePrimary),
			button(ActionBreakglassDeny, "Deny", r.ID, slack.StyleDanger))
		if !m.SelfApproveAt.IsZero() {
			buttons = append(buttons, button(ActionBreakglassSelfApprove, "Approve my own request", r.ID, ""))
		}
	case breakglass.StateActive:
		buttons = append(buttons, button(ActionBreakglassRevoke, "Revoke now", r.ID, slack.StyleDanger))
	}
	if r.ReviewOpen {
		buttons = append(buttons, button(ActionBreakglassReview, "Close review", r.ID, ""))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("breakglass.actions", buttons...))
	}
	blocks = append(blocks, contextBlock("Request "+code(r.ID)))

	text := fmt.Sprintf("Break-glass %s: %s in %s for %s (requested by <@%s>)", word, r.Level, firstNonEmpty(r.AccountName, r.Account), duration(r.Duration), r.Requester)
	return clip(text, 3000), blocks
}

func approvers(r breakglass.Request) string {
	var ws []string
	for _, a := range r.Approvals {
		ws = append(ws, who(a.User))
	}
	if len(ws) == 0 {
		return who(r.DecidedBy)
	}
	return strings.Join(ws, " and ")
}

// BreakglassRequesterNote is the requester's private note about their
// request, edited as it moves: while it waits, when to expect a decision,
// a link to the approvers' message (requestURL, when known) and a Withdraw
// button; once decided, who decided what and why, and no button.
func BreakglassRequesterNote(r breakglass.Request, loc *time.Location, requestURL string) (string, []slack.Block) {
	what := "Your break-glass request " + code(r.ID) + " for " + target(r)
	var line string
	switch r.State {
	case breakglass.StatePending:
		line = ":hourglass_flowing_sand: " + what + " is waiting for approval until *" + localTime(r.DecideBy, loc) + "*. The access will arrive here."
	case breakglass.StateApproved:
		line = ":white_check_mark: " + what + " was approved by " + approvers(r) + " at " + localTime(r.DecidedAt, loc) + "; granting access…"
	case breakglass.StateActive:
		line = ":unlock: " + what + " was approved by " + approvers(r) + " at " + localTime(r.DecidedAt, loc) + "; the access is in the next message, until *" + localTime(r.EndsAt, loc) + "*."
	case breakglass.StateExpired, breakglass.StateRevoked:
		line = ":lock: " + what + " was approved by " + approvers(r) + "; the access ended at " + localTime(r.EndedAt, loc) + "."
	case breakglass.StateFailed:
		line = ":x: " + what + " was approved, but access could not be granted: " + esc(clip(r.Error, 500))
	case breakglass.StateDenied:
		line = ":no_entry: " + what + " was *denied* by " + who(r.DecidedBy) + " at " + localTime(r.DecidedAt, loc) + ".\n*Why:* " + esc(clip(r.DenyReason, 1000))
	case breakglass.StateTimedOut:
		line = ":hourglass: " + what + " *expired undecided* at " + localTime(r.DecideBy, loc) + ": no approver decided in time. File a new one if you still need the access."
	case breakglass.StateWithdrawn:
		line = ":leftwards_arrow_with_hook: " + what + " was *withdrawn* by " + who(r.DecidedBy) + " at " + localTime(r.DecidedAt, loc) + "; you can file a new one."
	default:
		line = what + " is " + esc(string(r.State)) + "."
	}
	if requestURL != "" {
		line += "\n" + link(requestURL, "The request in the approvers' channel")
	}
	blocks := []slack.Block{section(line)}
	if r.State == breakglass.StatePending {
		blocks = append(blocks, slack.NewActionBlock("breakglass.note", button(ActionBreakglassWithdraw, "Withdraw request", r.ID, "")))
	}
	return clip(line, 3000), blocks
}

func breakglassBadge(s breakglass.State) (emoji, word string) {
	switch s {
	case breakglass.StatePending:
		return ":hourglass_flowing_sand:", "request"
	case breakglass.StateApproved:
		return ":white_check_mark:", "approved"
	case breakglass.StateActive:
		return ":unlock:", "active"
	case breakglass.StateDenied:
		return ":no_entry:", "denied"
	case breakglass.StateWithdrawn:
		return ":leftwards_arrow_with_hook:", "withdrawn"
	case breakglass.StateTimedOut:
		return ":hourglass:", "expired undecided"
	case breakglass.StateExpired:
		return ":lock:", "expired"
	case breakglass.StateRevoked:
		return ":lock:", "revoked"
	case breakglass.StateFailed:
		return ":x:", "failed"
	}
	return ":grey_question:", "request"
}

func breakglassReminder(m breakglass.Message, loc *time.Location) (string, []slack.Block) {
	r := m.Request
	line := ":alarm_clock: Still waiting for a decision on " + who(r.Requester) + "'s request for " + target(r) +
		"; it expires undecided at *" + localTime(r.DecideBy, loc) + "*."
	if ms := mentions(m.Mentions); ms != "" {
		line += "\n" + ms
	}
	return "Reminder: a break-glass request is waiting for approval", []slack.Block{section(line)}
}

func breakglassSelfApproved(m breakglass.Message, loc *time.Location) (string, []slack.Block) {
	r := m.Request
	line := ":rotating_light: *" + who(r.Requester) + " approved their own break-glass request* for " + target(r) +
		" at " + localTime(r.DecidedAt, loc) + ": no approver answered in time.\n*Reason:* " + esc(clip(r.Reason, 1500)) +
		"\nAn approver must review it and close the review on the request message."
	if ms := mentions(m.Mentions); ms != "" {
		line += "\n" + ms
	}
	return "Self-approved break-glass access: review required", []slack.Block{
		section(line),
		contextBlock("Request " + code(r.ID)),
	}
}

func breakglassSummary(r breakglass.Request, loc *time.Location) (string, []slack.Block) {
	s := r.Summary
	if s == nil {
		s = &breakglass.Summary{}
	}
	head := fmt.Sprintf("*Session summary* for %s: %s", target(r), plural(s.Events, "event", "events"))
	if s.Errors > 0 {
		head += ", " + plural(s.Errors, "error", "errors")
	}
	if !s.FirstUse.IsZero() {
		head += "; first used at " + localTime(s.FirstUse, loc)
	}
	if s.FromHistory+s.FromLookup > 0 {
		head += fmt.Sprintf("\n_%d from the event history, %d from CloudTrail LookupEvents by the session's access key_", s.FromHistory, s.FromLookup)
	}
	if s.Partial {
		head += "\n:warning: the event history could not be read; the summary is incomplete."
	}
	if s.LookupFailed != "" {
		head += "\n:warning: CloudTrail LookupEvents failed (" + esc(clip(s.LookupFailed, 300)) + "); calls not yet in the history are missing."
	}
	blocks := []slack.Block{section(head)}
	if len(s.ByAPI) > 0 {
		apis := make([]string, 0, len(s.ByAPI))
		for a := range s.ByAPI {
			apis = append(apis, a)
		}
		sort.Slice(apis, func(i, j int) bool {
			if s.ByAPI[apis[i]] != s.ByAPI[apis[j]] {
				return s.ByAPI[apis[i]] > s.ByAPI[apis[j]]
			}
			return apis[i] < apis[j]
		})
		var lines []string
		for i, a := range apis {
			if i == 15 {
				lines = append(lines, fmt.Sprintf("… and %d more APIs", len(apis)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("%s ×%d", code(a), s.ByAPI[a]))
		}
		blocks = append(blocks, section("*Calls by API*\n"+strings.Join(lines, "\n")))
	}
	if len(s.Writes) > 0 {
		var lines []string
		for _, c := range s.Writes {
			l := c.Time.In(zoneOr(loc)).Format("15:04:05") + " " + code(c.API)
			if c.Resource != "" {
				l += " " + code(clip(c.Resource, 200))
			}
			if c.ErrorCode != "" {
				l += " (" + esc(clip(c.ErrorCode, 60)) + ")"
			}
			switch c.Source {
			case breakglass.SourceLookup:
				l += " · _LookupEvents_"
			case breakglass.SourceHistory:
				l += " · _history_"
			}
			lines = append(lines, l)
		}
		if s.MoreWrites > 0 {
			lines = append(lines, fmt.Sprintf("… and %d more", s.MoreWrites))
		}
		blocks = append(blocks, section("*Writes*\n"+strings.Join(lines, "\n")))
	} else if s.Events > 0 {
		blocks = append(blocks, contextBlock("No write calls."))
	}
	footer := "Events recorded so far; CloudTrail delivers the last minutes late, so this summary is completed in 15 minutes. Request " + code(r.ID)
	if s.Final {
		footer = "Complete: read again once CloudTrail had delivered the session's last calls. Request " + code(r.ID)
	}
	blocks = append(blocks, contextBlock(footer))
	return fmt.Sprintf("Break-glass session summary: %d events", s.Events), blocks
}

func zoneOr(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

func breakglassAccess(m breakglass.Message, loc *time.Location) (string, []slack.Block) {
	r := m.Request
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(clip(":unlock: Break-glass access: "+r.Level+" in "+firstNonEmpty(r.AccountName, r.Account), maxHeaderText))),
		section("Approved by " + approvers(r) + ". Your access ends at *" + localTime(r.EndsAt, loc) + "*; everything you do is recorded under your name."),
	}
	var buttons []slack.BlockElement
	if a := m.Access; a != nil && a.ConsoleURL != "" {
		label := "Open the AWS console"
		if r.Mode == breakglass.ModeIdentityCenter {
			label = "Open the AWS access portal"
		}
		if len(a.ConsoleURL) <= maxButtonURL {
			b := button(ActionBreakglassConsole, label, r.ID, slack.StylePrimary)
			b.URL = a.ConsoleURL
			buttons = append(buttons, b)
		} else {
			blocks = append(blocks, section(link(a.ConsoleURL, label)))
		}
	}
	if a := m.Access; a != nil && a.Credentials != nil && m.ShowCLI {
		c := a.Credentials
		creds := "```\nexport AWS_ACCESS_KEY_ID=" + c.AccessKeyID +
			"\nexport AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey +
			"\nexport AWS_SESSION_TOKEN=" + c.SessionToken + "\n```"
		blocks = append(blocks, section("*CLI credentials* (valid until "+localTime(c.Expires, loc)+"):\n"+creds))
	} else if r.Mode == breakglass.ModeAssumeRole {
		buttons = append(buttons, button(ActionBreakglassCLI, "Show CLI credentials", r.ID, ""))
	}
	buttons = append(buttons, button(ActionBreakglassRevoke, "End my access now", r.ID, slack.StyleDanger))
	blocks = append(blocks, slack.NewActionBlock("breakglass.access", buttons...), contextBlock("Request "+code(r.ID)+". The link and credentials are yours only: do not share them."))
	return "Your break-glass access is ready", blocks
}

func breakglassAccessEnded(r breakglass.Request, loc *time.Location) (string, []slack.Block) {
	how := "expired"
	if r.State == breakglass.StateRevoked {
		how = "was revoked by " + who(r.EndedBy)
	}
	line := ":lock: Your break-glass access to " + target(r) + " " + how + " at " + localTime(r.EndedAt, loc) + ". The sign-in link and credentials no longer work."
	return "Your break-glass access has ended", []slack.Block{section(line), contextBlock("Request " + code(r.ID))}
}

// BreakglassPrefill is what the slash command or the finding's button
// already knows.
type BreakglassPrefill struct {
	Account   string
	Duration  time.Duration
	Reason    string
	FindingID string
}

// durationChoices are the window lengths offered, cut to the maximum.
var durationChoices = []time.Duration{15 * time.Minute, 30 * time.Minute, 45 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour}

// windowChoices are the durations the form offers: the usual ones up to
// the maximum, plus the configured default and maximum themselves, so that
// a deployment whose maximum is below the shortest usual choice still
// offers one (a select without options cannot be submitted).
func windowChoices(cfg breakglass.Config) []time.Duration {
	var out []time.Duration
	for _, d := range append(slices.Clone(durationChoices), cfg.DefaultDuration, cfg.MaxDuration) {
		if d > 0 && (cfg.MaxDuration <= 0 || d <= cfg.MaxDuration) && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// BreakglassRequestModal asks for an account and access level (one choice,
// grouped by account), a duration, a reason and the finding served.
func BreakglassRequestModal(cfg breakglass.Config, p BreakglassPrefill) slack.ModalViewRequest {
	var groups []*slack.OptionGroupBlockObject
	var initial *slack.OptionBlockObject
	for _, pol := range cfg.SortedAccounts() {
		id := pol.ID
		var opts []*slack.OptionBlockObject
		for _, l := range pol.Levels {
			o := slack.NewOptionBlockObject(id+"/"+l.Name, plain(clip(l.Name, 75)), nil)
			opts = append(opts, o)
			if initial == nil && id == p.Account {
				initial = o
			}
		}
		label := id
		if pol.Name != "" {
			label = pol.Name + " (" + id + ")"
		}
		if len(opts) > 0 && len(groups) < 100 {
			groups = append(groups, slack.NewOptionGroupBlockElement(plain(clip(label, 75)), opts...))
		}
	}
	sel := slack.NewOptionsGroupSelectBlockElement(slack.OptTypeStatic, plain("Choose an account and access level"), ActionBreakglassTarget, groups...)
	sel.InitialOption = initial

	def := p.Duration
	if def <= 0 {
		def = cfg.DefaultDuration
	}
	var durs []*slack.OptionBlockObject
	var initialDur *slack.OptionBlockObject
	for _, d := range windowChoices(cfg) {
		o := slack.NewOptionBlockObject(d.String(), plain(duration(d)), nil)
		durs = append(durs, o)
		if d <= def {
			initialDur = o
		}
	}
	durSel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Duration"), ActionBreakglassDur, durs...)
	durSel.InitialOption = initialDur

	reason := slack.NewPlainTextInputBlockElement(plain("What is happening and what you need to do"), ActionBreakglassReason)
	reason.Multiline = true
	reason.MaxLength = maxReason
	reason.InitialValue = clip(p.Reason, maxReason)

	findingIn := slack.NewPlainTextInputBlockElement(plain("e.g. F-0A1B2C3D4E"), ActionBreakglassFinding)
	findingIn.InitialValue = clip(p.FindingID, 100)
	findingIn.MaxLength = 100

	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: CallbackBreakglassRequest,
		Title:      plain("Break-glass access"),
		Submit:     plain("Request"),
		Close:      plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("Emergency access needs an approver's yes. It ends by itself, can be revoked at any time, and every step is audited."),
			slack.NewInputBlock(BlockBreakglassTarget, plain("Account and access level"), nil, sel),
			slack.NewInputBlock(BlockBreakglassDuration, plain("Duration"), nil, durSel),
			slack.NewInputBlock(BlockBreakglassReason, plain("Reason"), nil, reason),
			slack.NewInputBlock(BlockBreakglassFinding, plain("Finding"), plain("The finding this access serves, if any."), findingIn).WithOptional(true),
		}},
	}
}

// BreakglassSubmission is a submitted request modal.
type BreakglassSubmission struct {
	Account, Level string
	Duration       time.Duration
	Reason         string
	FindingID      string
}

// ErrNoTarget is returned when no account and level was chosen.
var ErrNoTarget = errors.New("choose an account and access level")

// ReadBreakglassRequest extracts a request modal's submission. The account
// and level are only pointers: the service checks them against the
// configuration.
func ReadBreakglassRequest(v slack.View) (BreakglassSubmission, error) {
	t := inputValue(v.State, BlockBreakglassTarget, ActionBreakglassTarget).SelectedOption.Value
	account, lvl, _ := strings.Cut(t, "/")
	s := BreakglassSubmission{
		Account:   account,
		Level:     lvl,
		Reason:    strings.TrimSpace(inputValue(v.State, BlockBreakglassReason, ActionBreakglassReason).Value),
		FindingID: strings.TrimSpace(inputValue(v.State, BlockBreakglassFinding, ActionBreakglassFinding).Value),
	}
	if d, err := time.ParseDuration(inputValue(v.State, BlockBreakglassDuration, ActionBreakglassDur).SelectedOption.Value); err == nil && d > 0 {
		s.Duration = d
	}
	switch {
	case s.Account == "" || s.Level == "":
		return s, ErrNoTarget
	case s.Reason == "":
		return s, ErrNoReason
	}
	return s, nil
}

// BreakglassDenyModal asks an approver why they deny a request; its
// private_metadata is the request ID.
func BreakglassDenyModal(requestID string) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("Why, and what to do instead"), ActionBreakglassDenyWhy)
	reason.Multiline = true
	reason.MaxLength = maxReason
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackBreakglassDeny,
		Title:           plain("Deny break-glass"),
		Submit:          plain("Deny"),
		Close:           plain("Cancel"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("The requester sees this reason in the request's thread."),
			slack.NewInputBlock(BlockBreakglassDenyWhy, plain("Reason"), nil, reason),
		}},
	}
}

// BreakglassStepUpModal asks an approver for the one-time code of their
// authenticator app before the approval counts. enrolling says the secret
// was just sent to them by direct message: their first code also sets it
// up.
func BreakglassStepUpModal(requestID string, enrolling bool) slack.ModalViewRequest {
	code := slack.NewPlainTextInputBlockElement(plain("6 digits"), ActionBreakglassCode)
	code.MinLength, code.MaxLength = 6, 7
	intro := "This account asks approvers for a one-time code: enter the 6 digits your authenticator app shows for secops-bot."
	if enrolling {
		intro = "This account asks approvers for a one-time code, and yours is not set up yet. Its secret was sent to you by direct message, once: add it to your authenticator app (1Password, Google Authenticator, …), then enter the 6 digits it shows."
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackBreakglassStepUp,
		Title:           plain("Approve break-glass"),
		Submit:          plain("Approve"),
		Close:           plain("Cancel"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(intro),
			slack.NewInputBlock(BlockBreakglassCode, plain("One-time code"), nil, code),
		}},
	}
}

// ReadBreakglassStepUp extracts a step-up modal's request ID and code.
func ReadBreakglassStepUp(v slack.View) (requestID, code string, err error) {
	requestID = strings.TrimSpace(v.PrivateMetadata)
	code = strings.TrimSpace(inputValue(v.State, BlockBreakglassCode, ActionBreakglassCode).Value)
	if requestID == "" {
		return "", "", errors.New("no request id in the view")
	}
	return requestID, code, nil
}

// BreakglassEnrolment is the direct message that shows an approver their
// one-time code secret, once.
func BreakglassEnrolment(secret, uri string) (string, []slack.Block) {
	text := "Your secops-bot one-time code secret"
	return text, []slack.Block{
		section(":key: *Your secops-bot one-time code secret*, shown this once. Add it to your authenticator app, then enter the code it shows in the approval form.\n" +
			"Secret: " + code(secret) + "\n" +
			"Or open this link in an app that reads it: " + code(uri)),
		contextBlock("Delete this message once the secret is in your app. Lost it? A SecOps admin can reset it."),
	}
}

// ReadBreakglassDeny extracts a deny modal's request ID and reason.
func ReadBreakglassDeny(v slack.View) (requestID, reason string, err error) {
	requestID = strings.TrimSpace(v.PrivateMetadata)
	reason = strings.TrimSpace(inputValue(v.State, BlockBreakglassDenyWhy, ActionBreakglassDenyWhy).Value)
	switch {
	case requestID == "":
		return "", "", errors.New("no request id in the view")
	case reason == "":
		return requestID, "", ErrNoReason
	}
	return requestID, reason, nil
}

// maxAuditLines bounds the records one audit message lists.
const maxAuditLines = 200

// BreakglassAudit renders break-glass audit records (newest first) for
// /secops audit breakglass.
func BreakglassAudit(recs []store.AuditRecord, since time.Time, loc *time.Location) (string, []slack.Block) {
	head := "*Break-glass audit* since " + localTime(since, loc) + ": " + plural(len(recs), "record", "records")
	if len(recs) == 0 {
		return "No break-glass activity", []slack.Block{section(head)}
	}
	blocks := []slack.Block{section(head)}
	var chunk []string
	size := 0
	flush := func() {
		if len(chunk) > 0 {
			blocks = append(blocks, section(strings.Join(chunk, "\n")))
		}
		chunk, size = nil, 0
	}
	for i, r := range recs {
		if i == maxAuditLines || len(blocks) == maxMessageBlocks-2 {
			flush()
			blocks = append(blocks, contextBlock(fmt.Sprintf("… and %d older records; narrow with --since.", len(recs)-i)))
			break
		}
		mark := ""
		switch r.Result {
		case "refused":
			mark = " :no_entry_sign:"
		case "error":
			mark = " :warning:"
		}
		line := localTime(r.Time, loc) + " " + code(strings.TrimPrefix(r.Action, "breakglass.")) + mark + " " + code(r.Target) + " by " + who(r.Actor)
		if r.Reason != "" {
			line += ": " + esc(clip(r.Reason, 200))
		}
		if size+len(line) > maxSectionText-200 {
			flush()
		}
		chunk = append(chunk, line)
		size += len(line) + 1
	}
	flush()
	return fmt.Sprintf("Break-glass audit: %d records", len(recs)), blocks
}
