package commands

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// token is one word of the command line. Quoted tokens are literal: they are
// never taken for an option or a duration.
type token struct {
	s      string
	quoted bool
}

// isQuote reports whether r opens or closes a quoted argument. Slack clients
// turn straight quotes into curly ones as people type, and some keyboards
// produce low-9 quotes, so every double quote counts and any of them closes
// what another opened. Single quotes are not quotes here: they are
// apostrophes in reasons ("it's expected").
func isQuote(r rune) bool {
	switch r {
	case '"', '“', '”', '„':
		return true
	}
	return false
}

// tokenize splits text into words at white space, keeping quoted runs
// together. A quote inside a word joins the quoted run to it, as in a shell.
func tokenize(text string) ([]token, error) {
	if !utf8.ValidString(text) {
		return nil, &UsageError{Kind: Help, Msg: "the command is not valid UTF-8 text; try /secops help"}
	}
	var (
		out     []token
		cur     strings.Builder
		inWord  bool
		quoted  bool
		inQuote bool
	)
	for _, r := range text {
		switch {
		case inQuote:
			if isQuote(r) {
				inQuote = false
			} else {
				cur.WriteRune(r)
			}
		case isQuote(r):
			inWord, quoted, inQuote = true, true, true
		case unicode.IsSpace(r):
			if inWord {
				out = append(out, token{s: cur.String(), quoted: quoted})
				cur.Reset()
				inWord, quoted = false, false
			}
		default:
			inWord = true
			cur.WriteRune(r)
		}
	}
	if inQuote {
		// The words before the open quote usually name the sub-command,
		// whose usage is the helpful one to show.
		msg := "a quote is not closed; put a closing \" after the quoted words"
		if len(out) > 0 {
			if k, ok := lookupKind(out[0].s); ok {
				return nil, usageErr(k, msg)
			}
		}
		return nil, &UsageError{Kind: Help, Msg: msg}
	}
	if inWord {
		out = append(out, token{s: cur.String(), quoted: quoted})
	}
	return out, nil
}

// quote renders s as one token that Parse reads back as the literal s.
func quote(s string) string {
	if needsQuote(s) {
		return `"` + s + `"`
	}
	return s
}

func needsQuote(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "—") || strings.HasPrefix(s, "–") || durationRe.MatchString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsSpace(r) || isQuote(r) {
			return true
		}
	}
	return false
}

// flagName returns the option an unquoted token names ("since" for --since
// or --since=7d) and its inline value. Chat clients replace "--" with a
// dash, so a leading em or en dash counts as "--".
func flagName(t token) (name, value string, inline, ok bool) {
	if t.quoted {
		return "", "", false, false
	}
	var rest string
	switch {
	case strings.HasPrefix(t.s, "--"):
		rest = t.s[2:]
	case strings.HasPrefix(t.s, "—"):
		rest = strings.TrimPrefix(t.s, "—")
	case strings.HasPrefix(t.s, "–"):
		rest = strings.TrimPrefix(t.s, "–")
	default:
		return "", "", false, false
	}
	name, value, inline = strings.Cut(rest, "=")
	return strings.ToLower(name), value, inline, true
}

// Parse reads the text typed after /secops. Empty text is a request for
// help. Every error is a *UsageError. Parse expects the text as the person
// typed it: Slack's HTML escaping (&amp;, &lt;, &gt;) must be undone first.
func Parse(text string) (Command, error) {
	toks, err := tokenize(text)
	if err != nil {
		return Command{}, err
	}
	if len(toks) == 0 {
		return Command{Name: Help}, nil
	}
	k, ok := lookupKind(toks[0].s)
	if !ok {
		return Command{}, &UsageError{Kind: Help, Msg: fmt.Sprintf("unknown sub-command %q; try /secops help", clip(toks[0].s))}
	}
	args := toks[1:]
	switch k {
	case Help:
		return parseHelp(args)
	case Findings:
		return parseFindings(args)
	case Ack:
		return parseAck(args)
	case Resolve:
		return parseResolve(args)
	case Investigate:
		return parseInvestigate(args)
	case BreakGlass:
		return parseBreakGlass(args)
	case Contain:
		return parseContain(args)
	case Audit:
		return parseAudit(args)
	case OnCall:
		return parseOnCall(args)
	case Expected:
		return parseExpected(args)
	}
	return Command{}, usageErr(Help, fmt.Sprintf("sub-command %q is not supported", k))
}

func parseOnCall(args []token) (Command, error) {
	c := Command{Name: OnCall}
	switch len(args) {
	case 0:
	case 1:
		if !teamRe.MatchString(args[0].s) {
			return Command{}, usageErr(OnCall, fmt.Sprintf("%q is not a team name", clip(args[0].s)))
		}
		c.Team = args[0].s
	default:
		return Command{}, usageErr(OnCall, "oncall takes one team name at most")
	}
	return c, nil
}

func parseExpected(args []token) (Command, error) {
	if len(args) == 0 {
		return Command{Name: Expected, EntryOp: ExpectedList}, nil
	}
	switch op := strings.ToLower(args[0].s); {
	case op == ExpectedList && len(args) == 1:
		return Command{Name: Expected, EntryOp: ExpectedList}, nil
	case op == ExpectedList:
		return Command{}, usageErr(Expected, "list takes no arguments")
	case op == ExpectedRemove && len(args) == 2:
		id := strings.ToUpper(args[1].s)
		if !entryIDRe.MatchString(id) {
			return Command{}, usageErr(Expected, fmt.Sprintf("%q is not an allowlist entry ID; they look like E-1A2B3C4D5E (see /secops expected list)", clip(args[1].s)))
		}
		return Command{Name: Expected, EntryOp: ExpectedRemove, EntryID: id}, nil
	case op == ExpectedRemove:
		return Command{}, usageErr(Expected, "say which entry to remove: /secops expected remove E-1A2B3C4D5E")
	default:
		return Command{}, usageErr(Expected, fmt.Sprintf("%q is not something expected does; use list or remove", clip(args[0].s)))
	}
}

func parseHelp(args []token) (Command, error) {
	c := Command{Name: Help}
	switch len(args) {
	case 0:
		return c, nil
	case 1:
		topic, ok := lookupKind(args[0].s)
		if !ok {
			return Command{}, usageErr(Help, fmt.Sprintf("there is no sub-command %q to explain", clip(args[0].s)))
		}
		c.Topic = topic
		return c, nil
	}
	return Command{}, usageErr(Help, "help explains one sub-command at a time")
}

func parseFindings(args []token) (Command, error) {
	c := Command{Name: Findings, Scope: ScopeOpen}
	if len(args) > 0 && !args[0].quoted {
		switch strings.ToLower(args[0].s) {
		case string(ScopeOpen):
			args = args[1:]
		case string(ScopeAll):
			c.Scope = ScopeAll
			args = args[1:]
		}
	}
	switch len(args) {
	case 0:
	case 1:
		team := args[0].s
		if !teamRe.MatchString(team) {
			return Command{}, usageErr(Findings, fmt.Sprintf("%q is not a team name", clip(team)))
		}
		c.Team = team
	default:
		return Command{}, usageErr(Findings, "findings takes a scope (open or all) and one team name at most")
	}
	return c, nil
}

func parseAck(args []token) (Command, error) {
	if len(args) != 1 {
		return Command{}, usageErr(Ack, fmt.Sprintf("ack takes exactly one finding ID, got %d arguments", len(args)))
	}
	id, err := findingID(Ack, args[0].s)
	if err != nil {
		return Command{}, err
	}
	return Command{Name: Ack, FindingID: id}, nil
}

func parseResolve(args []token) (Command, error) {
	if len(args) == 0 {
		return Command{}, usageErr(Resolve, "say which finding to resolve and why")
	}
	id, err := findingID(Resolve, args[0].s)
	if err != nil {
		return Command{}, err
	}
	reason := joinTokens(args[1:])
	if strings.TrimSpace(reason) == "" {
		return Command{}, usageErr(Resolve, "a reason is required: say what was fixed or why the finding does not apply")
	}
	return Command{Name: Resolve, FindingID: id, Reason: reason}, nil
}

func parseInvestigate(args []token) (Command, error) {
	opts, rest, err := options(Investigate, args, "since", "until")
	if err != nil {
		return Command{}, err
	}
	if len(rest) != 1 {
		return Command{}, usageErr(Investigate, fmt.Sprintf("investigate takes exactly one target, got %d", len(rest)))
	}
	t, err := ParseTarget(rest[0].s)
	if err != nil {
		return Command{}, usageErr(Investigate, err.Error())
	}
	return Command{Name: Investigate, Target: t, Since: opts.since, Until: opts.until}, nil
}

func parseBreakGlass(args []token) (Command, error) {
	c := Command{Name: BreakGlass}
	if len(args) > 0 && !isDurationToken(args[0]) {
		acct := args[0].s
		if !accountIDRe.MatchString(acct) {
			if allDigits(acct) {
				return Command{}, usageErr(BreakGlass, fmt.Sprintf("%q is not an account ID: account IDs have 12 digits", clip(acct)))
			}
			if !accountNameRe.MatchString(acct) {
				return Command{}, usageErr(BreakGlass, fmt.Sprintf("%q is neither a 12-digit account ID nor an account name", clip(acct)))
			}
		}
		c.Account = acct
		args = args[1:]
	}
	if len(args) > 0 && isDurationToken(args[0]) {
		d, err := ParseDuration(args[0].s)
		if err != nil {
			return Command{}, usageErr(BreakGlass, err.Error())
		}
		c.Duration = d
		args = args[1:]
	}
	c.Reason = joinTokens(args)
	return c, nil
}

func parseContain(args []token) (Command, error) {
	if len(args) != 2 {
		return Command{}, usageErr(Contain, fmt.Sprintf("contain takes an action and a target, got %d arguments", len(args)))
	}
	action := strings.ToLower(args[0].s)
	if !actionRe.MatchString(action) {
		return Command{}, usageErr(Contain, fmt.Sprintf("%q is not a containment action name", clip(args[0].s)))
	}
	t, err := ParseTarget(args[1].s)
	if err != nil {
		return Command{}, usageErr(Contain, err.Error())
	}
	return Command{Name: Contain, Action: action, Target: t}, nil
}

func parseAudit(args []token) (Command, error) {
	opts, rest, err := options(Audit, args, "since")
	if err != nil {
		return Command{}, err
	}
	if len(rest) != 1 || !strings.EqualFold(rest[0].s, AuditBreakGlass) {
		return Command{}, usageErr(Audit, "audit can show break-glass activity: /secops audit breakglass")
	}
	return Command{Name: Audit, Subject: AuditBreakGlass, Since: opts.since}, nil
}

// windowOptions are the options of a command that reads a window of
// history.
type windowOptions struct {
	since time.Duration
	until time.Time
}

// options takes the named options (--since, --until) out of args, anywhere
// on the line, and returns the other arguments. Other options are refused
// rather than ignored, so a typo is not silently read as a target.
func options(k Kind, args []token, allowed ...string) (windowOptions, []token, error) {
	opts := windowOptions{since: DefaultSince}
	seen := map[string]bool{}
	var rest []token
	for i := 0; i < len(args); i++ {
		name, value, inline, ok := flagName(args[i])
		if !ok {
			rest = append(rest, args[i])
			continue
		}
		if !slices.Contains(allowed, name) {
			return opts, nil, usageErr(k, fmt.Sprintf("unknown option %q", clip(args[i].s)))
		}
		if seen[name] {
			return opts, nil, usageErr(k, "--"+name+" is given twice")
		}
		seen[name] = true
		if !inline {
			if i+1 >= len(args) {
				return opts, nil, usageErr(k, "--"+name+" needs "+optionHint[name])
			}
			i++
			value = args[i].s
		}
		switch name {
		case "since":
			d, err := ParseDuration(value)
			if err != nil {
				return opts, nil, usageErr(k, "--since: "+err.Error())
			}
			if d > MaxSince {
				return opts, nil, usageErr(k, fmt.Sprintf("--since %s is too far back: at most %s", clip(value), formatDuration(MaxSince)))
			}
			opts.since = d
		case "until":
			t, err := ParseTime(value)
			if err != nil {
				return opts, nil, usageErr(k, "--until: "+err.Error())
			}
			opts.until = t
		}
	}
	return opts, rest, nil
}

var optionHint = map[string]string{
	"since": "a duration such as 7d, 12h or 30m",
	"until": "a time such as 2026-03-11T04:00Z or 2026-03-11",
}

// timeLayouts are the shapes --until accepts, most precise first. A time
// without a zone is UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime reads a point in time as people type it in chat: RFC 3339, with
// or without seconds or a zone (UTC when none is given), or a date alone,
// which means the end of that day.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if layout == "2006-01-02" {
			t = t.Add(24 * time.Hour)
		}
		if t.Year() < 2006 {
			return time.Time{}, fmt.Errorf("%s is before CloudTrail existed", clip(s))
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use 2026-03-11T04:00Z, 2026-03-11T04:00:00+01:00 or 2026-03-11", clip(s))
}

var (
	findingIDRe   = regexp.MustCompile(`^F-[0-9A-F]{10}$`)
	entryIDRe     = regexp.MustCompile(`^E-[0-9A-F]{10}$`)
	accountIDRe   = regexp.MustCompile(`^[0-9]{12}$`)
	accountNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	teamRe        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)
	actionRe      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	durationRe    = regexp.MustCompile(`^(?i:[0-9]+[dhm])+$`)
)

// IsFindingID reports whether s has the shape of a finding ID (see
// finding.IDFor): "F-" and ten upper-case hex digits.
func IsFindingID(s string) bool { return findingIDRe.MatchString(s) }

// findingID normalises case, since people retype IDs, and checks the shape.
func findingID(k Kind, s string) (string, error) {
	id := strings.ToUpper(s)
	if !IsFindingID(id) {
		return "", usageErr(k, fmt.Sprintf("%q is not a finding ID; finding IDs look like F-1A2B3C4D5E", clip(s)))
	}
	return id, nil
}

func isDurationToken(t token) bool { return !t.quoted && durationRe.MatchString(t.s) }

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// joinTokens makes the rest of the line one string, words separated by one
// space, so that reasons compare equal however they were spaced.
func joinTokens(ts []token) string {
	words := make([]string, len(ts))
	for i, t := range ts {
		words[i] = t.s
	}
	return strings.Join(words, " ")
}

// clip shortens user input quoted back in an error message.
func clip(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// ParseDuration reads a duration in days, hours and minutes, such as 7d,
// 12h, 30m or 1d12h. Go's time.ParseDuration has no days, which is the unit
// people use for look-back windows.
func ParseDuration(s string) (time.Duration, error) {
	// A century bounds every sum below int64 nanoseconds, so no
	// arithmetic below can overflow whatever digits were typed.
	const maxDuration = 100 * 365 * 24 * time.Hour
	if !durationRe.MatchString(s) {
		return 0, fmt.Errorf("%q is not a duration; use a number and a unit, such as 7d, 12h or 30m", clip(s))
	}
	var total time.Duration
	num := 0
	digits := 0
	for _, r := range strings.ToLower(s) {
		if r >= '0' && r <= '9' {
			digits++
			// Nine digits of minutes are already centuries; more can
			// only overflow.
			if digits > 9 {
				return 0, fmt.Errorf("%q is too long a duration", clip(s))
			}
			num = num*10 + int(r-'0')
			continue
		}
		unit := time.Minute
		switch r {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		}
		if time.Duration(num) > maxDuration/unit {
			return 0, fmt.Errorf("%q is too long a duration", clip(s))
		}
		total += time.Duration(num) * unit
		if total > maxDuration {
			return 0, fmt.Errorf("%q is too long a duration", clip(s))
		}
		num, digits = 0, 0
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", clip(s))
	}
	return total, nil
}

// formatDuration writes d in the largest of days, hours or minutes that
// divides it, the form ParseDuration reads back.
func formatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	default:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
}
