// Package commands parses the text of the /secops slash command into a typed
// Command. Parsing is kept apart from running: this package knows the
// grammar of every sub-command and nothing about Slack's API, the store or
// AWS, so the grammar can be table-tested and fuzzed on its own, and the bot
// runs a Command it can trust to be well formed.
package commands

import (
	"slices"
	"strings"
	"time"
)

// Kind is a /secops sub-command.
type Kind int

// Sub-commands. Help is the zero value, so an empty command is a request for
// help.
const (
	Help Kind = iota
	Findings
	Ack
	Resolve
	Investigate
	BreakGlass
	Contain
	Audit
	OnCall
	Expected
)

// kinds describes every sub-command once; names, usage lines, the help
// overview, help on one sub-command and the Slack manifest's usage hint all
// come from here so they cannot drift apart. Details and examples are
// Slack mrkdwn written here, never user input.
var kinds = [...]struct {
	name     string
	usage    string
	summary  string
	details  string
	examples []string
}{
	Help: {"help", "/secops help [sub-command]",
		"Show what the bot can do, or how to use one sub-command.",
		"Without a sub-command, lists the sub-commands enabled in this deployment. With one, explains it: its usage, what it does and examples.",
		[]string{"/secops help", "/secops help breakglass"}},
	Findings: {"findings", "/secops findings [open|all] [team]",
		"List findings, open ones by default, optionally for one team.",
		"Lists open findings, most severe first, each linked to its thread. `all` adds the resolved and suppressed ones; a team name keeps only that team's. The list ends with the last 30 days' median times to detect, acknowledge and resolve. For responders.",
		[]string{"/secops findings", "/secops findings all", "/secops findings open payments"}},
	Ack: {"ack", "/secops ack <finding-id>",
		"Acknowledge a finding: you are looking at it.",
		"Records that you are on the finding; its messages show who acknowledged it. The finding's Acknowledge button does the same. For responders.",
		[]string{"/secops ack F-1A2B3C4D5E"}},
	Resolve: {"resolve", "/secops resolve <finding-id> <reason…>",
		"Resolve a finding by hand, saying why.",
		"Closes the finding with your reason, which its thread and the audit log keep. A finding whose exposure is gone from AWS resolves by itself; resolve by hand what does not apply. The finding's Resolve… button does the same. For responders.",
		[]string{"/secops resolve F-1A2B3C4D5E bucket made private, policy reverted"}},
	Investigate: {"investigate", "/secops investigate <user|ARN|access-key|resource|account> [--since 7d] [--until 2026-03-11T04:00Z]",
		"Show API activity in a window and what is unusual about it.",
		"Shows who or what the target is, its API calls in the window, what is unusual against its usual activity, what it touched and the findings that involve it. The window is the last 7 days unless `--since` says otherwise (at most 90 days); `--until` ends it at a past time, so an incident looked at later shows the same hours. For responders.",
		[]string{"/secops investigate BackupManager", "/secops investigate arn:aws:iam::111122223333:role/contractor --since 2d", "/secops investigate 111122223333 --since 12h --until 2026-03-11"}},
	BreakGlass: {"breakglass", "/secops breakglass [account] [duration] [reason…]",
		"Request time-boxed emergency access, approved by a manager.",
		"Opens the request form, filled in from what you typed: an account (its ID or name), how long, and why. An approver decides in the approvals channel; the access arrives in a direct message and ends by itself. Mention a finding ID in the reason to link the request to it. For responders.",
		[]string{"/secops breakglass", "/secops breakglass prod 30m removing the public share of F-1A2B3C4D5E"}},
	Contain: {"contain", "/secops contain <action> <target>",
		"Preview and run a vetted containment action.",
		"Shows you privately what the action would do: the exact AWS calls and the state they change. Nothing runs until you press Confirm… and confirm in the form; the result goes to the finding's thread with an Undo button. An unknown action name is answered with the list of actions. For responders.",
		[]string{"/secops contain iam-user-deactivate-keys BackupManager", "/secops contain iam-role-revoke-sessions arn:aws:iam::111122223333:role/contractor"}},
	Audit: {"audit", "/secops audit breakglass [--since 7d]",
		"Show recent break-glass requests, approvals and sessions.",
		"Lists the break-glass requests of the window, the last 7 days unless `--since` says otherwise (at most 90 days): who asked for which access and why, who decided, and the sessions. For approvers and admins.",
		[]string{"/secops audit breakglass", "/secops audit breakglass --since 30d"}},
	OnCall: {"oncall", "/secops oncall [team]",
		"Show who is on call now, and where that came from.",
		"Says who is on call now for SecOps, or for the team named, from the paging provider's schedule (PagerDuty or Opsgenie) or the configured rotation, with the people as Slack users where their e-mail matches one.",
		[]string{"/secops oncall", "/secops oncall payments"}},
	Expected: {"expected", "/secops expected [list|remove <entry-id>]",
		"List what was marked expected, or take an entry back.",
		"Lists the live allowlist entries the findings' Mark expected… button made: what each covers (rule, account, the resource or a name pattern), who added it, why, and when it expires. `remove E-…` takes an entry back, so matching exposures alert again; an expired entry stops suppressing by itself. For responders; every use is audited.",
		[]string{"/secops expected", "/secops expected remove E-1A2B3C4D5E"}},
}

// aliases are other spellings people type for a sub-command.
var aliases = map[string]Kind{
	"acknowledge": Ack,
	"break-glass": BreakGlass,
}

// Kinds returns every sub-command in the order help lists them.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i := range kinds {
		out[i] = Kind(i)
	}
	return out
}

func (k Kind) valid() bool { return k >= 0 && int(k) < len(kinds) }

// String returns the sub-command's name as typed after /secops.
func (k Kind) String() string {
	if !k.valid() {
		return "unknown"
	}
	return kinds[k].name
}

// Usage returns the one-line usage of the sub-command.
func (k Kind) Usage() string {
	if !k.valid() {
		return kinds[Help].usage
	}
	return kinds[k].usage
}

// Summary returns one sentence saying what the sub-command does.
func (k Kind) Summary() string {
	if !k.valid() {
		return ""
	}
	return kinds[k].summary
}

// Details says in a few sentences what the sub-command does and who may
// use it, for help on the sub-command.
func (k Kind) Details() string {
	if !k.valid() {
		return ""
	}
	return kinds[k].details
}

// Examples returns typical invocations of the sub-command.
func (k Kind) Examples() []string {
	if !k.valid() {
		return nil
	}
	return slices.Clone(kinds[k].examples)
}

// Aliases returns the other spellings of the sub-command's name.
func (k Kind) Aliases() []string {
	var out []string
	for name, a := range aliases {
		if a == k {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Lookup finds a sub-command by name or alias, ignoring case.
func Lookup(name string) (Kind, bool) { return lookupKind(name) }

// lookupKind finds a sub-command by name or alias, ignoring case.
func lookupKind(name string) (Kind, bool) {
	name = strings.ToLower(name)
	for i, k := range kinds {
		if k.name == name {
			return Kind(i), true
		}
	}
	k, ok := aliases[name]
	return k, ok
}

// Scope says which findings to list.
type Scope string

// Scopes of /secops findings.
const (
	ScopeOpen Scope = "open"
	ScopeAll  Scope = "all"
)

// Defaults and bounds of the --since window.
const (
	DefaultSince = 7 * 24 * time.Hour
	MaxSince     = 90 * 24 * time.Hour
)

// AuditBreakGlass is the only subject of /secops audit so far.
const AuditBreakGlass = "breakglass"

// Command is one parsed /secops invocation. Only the fields of its Name are
// set; the others are zero.
type Command struct {
	Name Kind

	// Topic is the sub-command help was asked about; Help for the
	// overview.
	Topic Kind

	// Scope and Team filter findings; Scope is ScopeOpen unless "all" was
	// asked for.
	Scope Scope
	Team  string

	// FindingID (ack, resolve) is a well-formed finding ID in upper case.
	FindingID string

	// Reason (resolve, breakglass) is the rest of the line. Resolve
	// requires one.
	Reason string

	// Target (investigate, contain) is classified by its shape.
	Target Target

	// Since (investigate, audit) is how far back to look: DefaultSince
	// unless given, at most MaxSince.
	Since time.Duration

	// Until (investigate) is the end of the window, so that an incident
	// looked at days later shows the same hours; zero means now.
	Until time.Time

	// Account (breakglass) is a 12-digit account ID or an account name;
	// empty when not given, as is Duration. Whether the account exists
	// and the duration is allowed is for the break-glass policy to say.
	Account  string
	Duration time.Duration

	// Action (contain) names a containment action in lower case.
	Action string

	// Subject (audit) is what to audit: AuditBreakGlass.
	Subject string

	// EntryOp (expected) is ExpectedList or ExpectedRemove, and EntryID
	// the well-formed allowlist entry ID to remove, in upper case.
	EntryOp string
	EntryID string
}

// Operations of /secops expected.
const (
	ExpectedList   = "list"
	ExpectedRemove = "remove"
)

// String renders the command as /secops text (without "/secops") in its
// canonical form: Parse(c.String()) returns c for every c Parse returned.
func (c Command) String() string {
	parts := []string{c.Name.String()}
	switch c.Name {
	case Help:
		if c.Topic != Help {
			parts = append(parts, c.Topic.String())
		}
	case Findings:
		parts = append(parts, string(c.Scope))
		if c.Team != "" {
			parts = append(parts, quote(c.Team))
		}
	case Ack:
		parts = append(parts, quote(c.FindingID))
	case Resolve:
		parts = append(parts, quote(c.FindingID), quote(c.Reason))
	case Investigate:
		parts = append(parts, quote(c.Target.String()))
		if c.Since != DefaultSince {
			parts = append(parts, "--since", formatDuration(c.Since))
		}
		if !c.Until.IsZero() {
			parts = append(parts, "--until", c.Until.UTC().Format(time.RFC3339Nano))
		}
	case BreakGlass:
		if c.Account != "" {
			parts = append(parts, quote(c.Account))
		}
		if c.Duration != 0 {
			parts = append(parts, formatDuration(c.Duration))
		}
		if c.Reason != "" {
			parts = append(parts, quote(c.Reason))
		}
	case Contain:
		parts = append(parts, quote(c.Action), quote(c.Target.String()))
	case OnCall:
		if c.Team != "" {
			parts = append(parts, quote(c.Team))
		}
	case Audit:
		parts = append(parts, quote(c.Subject))
		if c.Since != DefaultSince {
			parts = append(parts, "--since", formatDuration(c.Since))
		}
	case Expected:
		parts = append(parts, c.EntryOp)
		if c.EntryOp == ExpectedRemove {
			parts = append(parts, quote(c.EntryID))
		}
	}
	return strings.Join(parts, " ")
}

// UsageError is a command that does not follow its grammar. Its message is
// written for the person who typed it.
type UsageError struct {
	// Kind is the sub-command whose grammar was broken; Help when the
	// sub-command itself is unknown.
	Kind Kind
	// Usage is the one-line usage of Kind, or empty when the sub-command is
	// unknown (the message then points at help).
	Usage string
	Msg   string
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + " (usage: " + e.Usage + ")"
}

func usageErr(k Kind, msg string) *UsageError {
	return &UsageError{Kind: k, Usage: k.Usage(), Msg: msg}
}
