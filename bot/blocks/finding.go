package blocks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
)

// Action IDs of the finding message's buttons. Each button's value is the
// finding ID and nothing else: handlers load the finding and check who
// pressed the button server side.
const (
	ActionAck         = "finding.ack"
	ActionInvestigate = "finding.investigate"
	ActionContain     = "finding.contain"
	ActionExpected    = "finding.expected"
	ActionResolve     = "finding.resolve"
)

// BlockFindingActions is the block_id of the finding message's buttons.
const BlockFindingActions = "finding.actions"

// FindingOptions carries what the finding alone does not know.
type FindingOptions struct {
	// Location is the owning team's time zone; times are shown in it, with
	// UTC alongside. Nil means UTC.
	Location *time.Location
	// TicketURL and TicketKey link the tracking ticket when there is one.
	TicketURL string
	TicketKey string
	// ConsoleURL overrides the AWS console link computed from the resource.
	ConsoleURL string
	// ThreadPermalink and Channel point at the same finding's thread in
	// another channel (the owning team's thread from the SecOps post and
	// back), so both sides can find each other.
	ThreadPermalink string
	Channel         string
}

// Share-target and signal lists give up their last lines, with a count of
// what is missing, when a section would otherwise pass Slack's limit; this
// is the room kept for that line.
const moreLineRoom = 80

// FindingMessage builds the message a finding is posted (and updated) as:
// the plain-text fallback Slack shows in notifications, and the blocks.
func FindingMessage(f finding.Finding, opts FindingOptions) (text string, blocks []slack.Block) {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	consoleURL := opts.ConsoleURL
	if consoleURL == "" {
		consoleURL = ConsoleURL(f)
	}

	blocks = append(blocks, slack.NewHeaderBlock(plain(clip(headerText(f), maxHeaderText))))
	if f.Detail != "" {
		blocks = append(blocks, section(esc(f.Detail)))
	}
	if n := ruleNotesText(f.RuleNotes); n != "" {
		blocks = append(blocks, section(n))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, []*slack.TextBlockObject{
		field("Account", accountText(f)),
		field("Resource", resourceText(f, consoleURL)),
		field("Actor", actorText(f.Actor)),
		field("When", eventText(f, loc)),
		field("Source", sourceText(f.Event)),
	}, nil))
	for _, s := range changeSections(f.Change) {
		blocks = append(blocks, section(s))
	}
	if n := nativeText(f, loc); n != "" {
		blocks = append(blocks, section(n))
	}
	if a := assessmentText(f); a != "" {
		blocks = append(blocks, section(a))
	}
	blocks = append(blocks, exposureBlocks(f, loc)...)
	if h := historyText(f, loc); h != "" {
		blocks = append(blocks, section(h))
	}
	if len(f.Targets) > 0 {
		blocks = append(blocks, section(targetsText(f.Targets)))
	}
	if len(f.Signals) > 0 {
		blocks = append(blocks, section(signalsText(f.Signals)))
	}
	blocks = append(blocks, section("*Status:* "+statusText(f, loc)))
	if c := containedText(f, loc); c != "" {
		blocks = append(blocks, section(c))
	}
	if notes := nonEmpty(seenText(f, loc), offHoursText(f), idText(f)); len(notes) > 0 {
		blocks = append(blocks, contextBlock(notes...))
	}
	if l := linksText(consoleURL, opts); l != "" {
		blocks = append(blocks, section(l))
	}
	// Without an ID a button could not say which finding it acts on.
	if f.ID != "" {
		if a := actionsBlock(f); len(a.Elements.ElementSet) > 0 {
			blocks = append(blocks, a)
		}
	}
	return fallbackText(f), blocks
}

// headerText leads with the severity while the finding is open and with
// the outcome once it is closed, so a scrolling reader sees which ones
// still need someone.
func headerText(f finding.Finding) string {
	emoji, word := severityBadge(f.Severity)
	title := titleOf(f)
	switch f.Status {
	case finding.StatusResolved:
		return ":white_check_mark: RESOLVED (" + word + "): " + title
	case finding.StatusSuppressed:
		return ":no_bell: SUPPRESSED (" + word + "): " + title
	default:
		return emoji + " " + word + ": " + title
	}
}

func titleOf(f finding.Finding) string {
	switch {
	case f.Title != "":
		return f.Title
	case f.Rule != "":
		return f.Rule
	default:
		return "Security finding"
	}
}

// fallbackText is the one line notifications and screen readers get, e.g.
// "CRITICAL: RDS snapshot shared with an unknown account —
// prod-customers-2026-11-26 in payments-prod (111122223333)".
func fallbackText(f finding.Finding) string {
	_, word := severityBadge(f.Severity)
	lead := word
	switch f.Status {
	case finding.StatusResolved:
		lead = "RESOLVED (" + word + ")"
	case finding.StatusSuppressed:
		lead = "SUPPRESSED (" + word + ")"
	}
	s := lead + ": " + clip(titleOf(f), 150)
	if f.Resource.ID != "" {
		s += " — " + clip(f.Resource.ID, 200)
	}
	switch {
	case f.AccountName != "" && f.AccountID != "":
		s += " in " + clip(f.AccountName, 100) + " (" + f.AccountID + ")"
	case f.AccountID != "":
		s += " in " + f.AccountID
	}
	return esc(s)
}

// field is one labelled cell of the summary grid.
func field(label, body string) *slack.TextBlockObject {
	if body == "" {
		body = "_unknown_"
	}
	return mrkdwn(clipMrkdwn("*"+label+"*\n"+body, maxFieldText))
}

func accountText(f finding.Finding) string {
	var lines []string
	switch {
	case f.AccountName != "" && f.AccountID != "":
		lines = append(lines, esc(clip(f.AccountName, 100))+" ("+code(f.AccountID)+")")
	case f.AccountID != "":
		lines = append(lines, code(f.AccountID))
	case f.AccountName != "":
		lines = append(lines, esc(clip(f.AccountName, 100)))
	}
	var env []string
	if f.Environment != "" {
		env = append(env, esc(clip(f.Environment, 50)))
	}
	if f.Team != "" {
		env = append(env, "team "+esc(clip(f.Team, 80)))
	}
	if len(env) > 0 {
		lines = append(lines, strings.Join(env, " · "))
	}
	return strings.Join(lines, "\n")
}

func resourceText(f finding.Finding, consoleURL string) string {
	r := f.Resource
	if r.ID == "" && r.ARN == "" {
		if f.RuleNotes != nil {
			// A Sigma finding about an action, keyed on its actor.
			return "_none named; the finding is about the actor_"
		}
		return ""
	}
	name := r.ID
	if name == "" {
		name = r.ARN
	}
	name = clip(name, 200)
	shown := code(name)
	if consoleURL != "" && len(consoleURL) <= maxButtonURL {
		shown = link(consoleURL, name)
	}
	line := resourceLabel(r.Type)
	if f.Region != "" {
		line += " in " + code(f.Region)
	}
	return line + "\n" + shown
}

// actorTypes are the CloudTrail userIdentity types in words.
var actorTypes = map[string]string{
	"IAMUser":            "IAM user",
	"AssumedRole":        "assumed role",
	"Root":               "root user",
	"FederatedUser":      "federated user",
	"AWSService":         "AWS service",
	"AWSAccount":         "AWS account",
	"IdentityCenterUser": "Identity Center user",
	"SAMLUser":           "SAML user",
	"WebIdentityUser":    "web identity user",
}

func actorText(a finding.Actor) string {
	name := a.Name
	if name == "" && a.ARN != "" {
		name = principalName(a.ARN)
	}
	if name == "" && a.ARN == "" {
		return ""
	}
	typ, ok := actorTypes[a.Type]
	if !ok {
		typ = esc(clip(a.Type, 40))
	}
	first := strings.TrimSpace(typ + " *" + esc(clip(name, 120)) + "*")
	if a.Contractor {
		first += " :warning: contractor"
	}
	lines := []string{first}
	if a.ARN != "" {
		lines = append(lines, code(clip(a.ARN, 400)))
	}
	if a.SessionName != "" {
		lines = append(lines, "session "+code(clip(a.SessionName, 100)))
	}
	if a.SourceIdentity != "" {
		lines = append(lines, "source identity "+code(clip(a.SourceIdentity, 100)))
	}
	switch a.MFA {
	case "yes":
		lines = append(lines, "signed in with MFA")
	case "no":
		lines = append(lines, "*no MFA* on this session")
	}
	if a.AccessKeyID != "" {
		key := "access key " + code(clip(a.AccessKeyID, 40))
		if p := a.Profile; p != nil && !p.KeyCreatedAt.IsZero() {
			key += fmt.Sprintf(" (%s, created %s", strings.ToLower(p.KeyStatus), p.KeyCreatedAt.UTC().Format("2006-01-02"))
			if !p.KeyLastUsedAt.IsZero() {
				key += ", last used " + p.KeyLastUsedAt.UTC().Format("2006-01-02")
			}
			key += ")"
		}
		lines = append(lines, key)
	}
	if p := a.Profile; p != nil && len(p.Tags) > 0 {
		keys := make([]string, 0, len(p.Tags))
		for k := range p.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var tags []string
		for _, k := range keys {
			tags = append(tags, k+"="+p.Tags[k])
		}
		lines = append(lines, "tags "+esc(clip(strings.Join(tags, ", "), 300)))
	}
	return strings.Join(lines, "\n")
}

func eventText(f finding.Finding, loc *time.Location) string {
	lines := []string{when(f.Event.Time, loc)}
	if f.Event.Name != "" {
		lines = append(lines, code(clip(f.Event.Name, 100)))
	}
	return strings.Join(lines, "\n")
}

// maxUserAgent keeps user agents to what identifies the tool; the full
// string is in the event.
const maxUserAgent = 80

func sourceText(e finding.EventRef) string {
	var lines []string
	if e.SourceIP != "" {
		lines = append(lines, "IP "+code(clip(e.SourceIP, 100)))
	}
	if e.UserAgent != "" {
		lines = append(lines, code(clip(e.UserAgent, maxUserAgent)))
	}
	return strings.Join(lines, "\n")
}

// inlineChange is the longest compact JSON shown on one line as
// `before` → `after` instead of in code blocks.
const inlineChange = 60

// changeSections renders what changed: the summary, and the before and
// after state either inline when short or as pretty-printed JSON code
// blocks, each cut to fit a section.
func changeSections(c *finding.Change) []string {
	if c == nil || c.Summary == "" && len(c.Before) == 0 && len(c.After) == 0 {
		return nil
	}
	head := "*What changed:*"
	if c.Summary != "" {
		head += " " + esc(clip(c.Summary, 500))
	}
	before, after := compactJSON(c.Before), compactJSON(c.After)
	if len(c.Before) == 0 && len(c.After) == 0 {
		return []string{head}
	}
	if utf8.RuneCountInString(before) <= inlineChange && utf8.RuneCountInString(after) <= inlineChange {
		return []string{head + "\n" + stateInline(before) + " → " + stateInline(after)}
	}
	out := []string{head}
	if len(c.Before) > 0 {
		out = append(out, codeSection("*Before*", prettyJSON(c.Before), maxSectionText))
	}
	if len(c.After) > 0 {
		out = append(out, codeSection("*After*", prettyJSON(c.After), maxSectionText))
	}
	return out
}

func stateInline(s string) string {
	if s == "" || s == "null" {
		return "_none_"
	}
	return code(s)
}

// compactJSON returns raw on one line; text that is not JSON is returned
// as it came, since showing it beats hiding it.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return strings.TrimSpace(string(raw))
	}
	return b.String()
}

// Indentation grows with nesting depth times size, so only documents of a
// plausible shape (policies are at most 20 KB and a few levels deep) are
// pretty-printed; anything else is shown as it came, cut like the rest.
const (
	maxPrettySize  = 64 << 10
	maxPrettyDepth = 32
)

func prettyJSON(raw json.RawMessage) string {
	if len(raw) > maxPrettySize || jsonDepth(raw) > maxPrettyDepth || !json.Valid(raw) {
		return strings.TrimSpace(string(raw))
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return strings.TrimSpace(string(raw))
	}
	return b.String()
}

// jsonDepth is the deepest nesting of arrays and objects in raw, ignoring
// brackets inside strings.
func jsonDepth(raw []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// codeBlockEscaper keeps newlines, unlike codeEscaper, because code blocks
// are multi-line.
var codeBlockEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "ˋ")

// truncationRoom is kept free for the truncation marker.
const truncationRoom = 60

// codeSection renders body as a code block under title within limit
// characters. A body that does not fit is cut (at a line break when one
// is near) and followed by "… (truncated, N more bytes)", N counting the
// bytes of body left out.
func codeSection(title, body string, limit int) string {
	const fence = "```"
	prefix, suffix := title+"\n"+fence+"\n", "\n"+fence
	whole := prefix + codeBlockEscaper.Replace(body) + suffix
	if utf8.RuneCountInString(whole) <= limit {
		return whole
	}
	avail := limit - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(suffix) - truncationRoom
	var kept strings.Builder
	used, cut, lastNL, lastNLBytes := 0, 0, -1, 0
	for i, r := range body {
		e := codeBlockEscaper.Replace(string(r))
		n := utf8.RuneCountInString(e)
		if used+n > avail {
			break
		}
		if r == '\n' {
			lastNL, lastNLBytes = kept.Len(), i
		}
		kept.WriteString(e)
		used += n
		cut = i + utf8.RuneLen(r)
	}
	shown := kept.String()
	// Cutting at the last line break keeps the JSON readable, unless that
	// throws away more than a few lines' worth.
	if lastNL > 0 && len(shown)-lastNL < 400 {
		shown, cut = shown[:lastNL], lastNLBytes
	}
	return prefix + shown + "\n…" + suffix + fmt.Sprintf("\n_… (truncated, %d more bytes)_", len(body)-cut)
}

// targetOrder shows the targets that make a finding bad first.
func targetOrder(ts []finding.Target) []finding.Target {
	out := append([]finding.Target(nil), ts...)
	rank := func(c finding.TargetClass) int {
		switch c {
		case finding.TargetPublic:
			return 0
		case finding.TargetUnknown:
			return 1
		case finding.TargetTrusted:
			return 3
		case finding.TargetKnown:
			return 4
		default:
			return 2
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Class) < rank(out[j].Class) })
	return out
}

func targetsText(ts []finding.Target) string {
	lines := make([]string, 0, len(ts))
	for _, t := range targetOrder(ts) {
		acct := clip(t.Account, 60)
		name := ""
		if t.Name != "" {
			name = " " + esc(clip(t.Name, 80))
		}
		switch t.Class {
		case finding.TargetPublic:
			lines = append(lines, "• :rotating_light: *"+esc(acct)+"* — public, anyone can use it")
		case finding.TargetUnknown:
			lines = append(lines, "• :rotating_light: *"+esc(acct)+"*"+name+" — unknown account")
		case finding.TargetKnown:
			lines = append(lines, "• "+code(acct)+name+" — known account")
		case finding.TargetTrusted:
			lines = append(lines, "• "+code(acct)+name+" — trusted account")
		default:
			lines = append(lines, "• "+code(acct)+name+" — "+esc(clip(string(t.Class), 40)))
		}
	}
	return fitLines("*Shared with* ("+plural(len(ts), "target", "targets")+")", lines, "targets")
}

func signalsText(ss []finding.Signal) string {
	lines := make([]string, 0, len(ss))
	for _, s := range ss {
		lines = append(lines, "• *"+esc(clip(s.Name, 60))+"*: "+esc(clip(s.Reason, 400)))
	}
	return fitLines(":mag: *Unusual for this actor* ("+plural(len(ss), "signal", "signals")+")", lines, "signals")
}

// fitLines joins a titled list into one section's worth of text; lines
// that do not fit are counted in a closing "… and N more" line rather than
// dropped silently.
func fitLines(title string, lines []string, noun string) string {
	out := title
	used := utf8.RuneCountInString(out)
	for i, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		if used+n > maxSectionText-moreLineRoom {
			return out + fmt.Sprintf("\n_… and %d more %s_", len(lines)-i, noun)
		}
		out += "\n" + l
		used += n
	}
	return out
}

// statusText is where the finding stands and who moved it there.
func statusText(f finding.Finding, loc *time.Location) string {
	switch f.Status {
	case finding.StatusResolved:
		s := ":white_check_mark: resolved"
		if f.ResolvedBy != "" {
			s += " by " + who(f.ResolvedBy)
		}
		if !f.ResolvedAt.IsZero() {
			s += " at " + localTime(f.ResolvedAt, loc)
		}
		if f.OpenFor > 0 {
			s += ", open for " + duration(f.OpenFor)
		}
		if f.ResolveReason != "" {
			s += "\n> " + esc(clip(strings.ReplaceAll(f.ResolveReason, "\n", " "), 1000))
		}
		return s
	case finding.StatusSuppressed:
		s := ":no_bell: suppressed"
		if f.SuppressedReason != "" {
			s += ": " + esc(clip(f.SuppressedReason, 1000))
		}
		return s
	}
	opened := f.OpenedAt
	if opened.IsZero() {
		opened = f.Event.Time
	}
	s := ":rotating_light: open"
	if f.AckedBy != "" {
		s = ":eyes: acknowledged by " + who(f.AckedBy)
		if !f.AckedAt.IsZero() {
			s += " at " + localTime(f.AckedAt, loc)
		}
		s += "; open"
	}
	if !opened.IsZero() {
		s += " since " + localTime(opened, loc)
	}
	return s
}

func seenText(f finding.Finding, loc *time.Location) string {
	if f.Count <= 1 {
		return ""
	}
	s := fmt.Sprintf(":repeat: seen %d times", f.Count)
	if !f.FirstSeen.IsZero() {
		s += ", first " + localTime(f.FirstSeen, loc)
	}
	if !f.LastSeen.IsZero() {
		s += ", last " + localTime(f.LastSeen, loc)
	}
	return s
}

func offHoursText(f finding.Finding) string {
	if !f.OffHours {
		return ""
	}
	if f.Team != "" {
		return ":crescent_moon: outside business hours for team " + esc(clip(f.Team, 80))
	}
	return ":crescent_moon: outside the owning team's business hours"
}

func idText(f finding.Finding) string {
	var parts []string
	if f.ID != "" {
		parts = append(parts, "Finding "+code(f.ID))
	}
	if f.Rule != "" {
		kind := "rule "
		if f.RuleNotes != nil && f.RuleNotes.Source == "sigma" {
			kind = "Sigma rule "
		}
		parts = append(parts, kind+code(clip(f.Rule, 100)))
	}
	s := strings.Join(parts, " · ")
	if !f.DetectedAt.IsZero() && !f.Event.Time.IsZero() && f.DetectedAt.After(f.Event.Time) {
		s += " · detected " + duration(f.DetectedAt.Sub(f.Event.Time)) + " after the event"
	}
	s = strings.TrimPrefix(s, " · ")
	return s
}

func linksText(consoleURL string, opts FindingOptions) string {
	var links []string
	if consoleURL != "" {
		links = append(links, link(consoleURL, "AWS console"))
	}
	switch {
	case opts.TicketURL != "":
		label := opts.TicketKey
		if label == "" {
			label = "ticket"
		}
		links = append(links, ":ticket: "+link(opts.TicketURL, clip(label, 60)))
	case opts.TicketKey != "":
		links = append(links, ":ticket: "+esc(clip(opts.TicketKey, 60)))
	}
	if opts.ThreadPermalink != "" {
		l := ":thread: " + link(opts.ThreadPermalink, "thread")
		if opts.Channel != "" {
			l += " in " + channelRef(opts.Channel)
		}
		links = append(links, l)
	}
	return strings.Join(links, " · ")
}

var channelIDPattern = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)

// channelRef shows a channel ID as a channel mention, which Slack renders
// with its current name, and anything else as a plain name.
func channelRef(c string) string {
	if channelIDPattern.MatchString(c) {
		return "<#" + c + ">"
	}
	return "#" + esc(clip(strings.TrimPrefix(c, "#"), 80))
}

// actionsBlock offers what can still be done. A closed finding keeps
// Investigate and Contain (the actor may still need containing after the
// exposure is fixed) but loses Acknowledge, Mark expected and Resolve; an
// acknowledged one loses Acknowledge. A detector's finding offers
// Investigate only when it names an actor and Contain only when it names a
// resource containment acts on.
func actionsBlock(f finding.Finding) *slack.ActionBlock {
	id := f.ID
	var els []slack.BlockElement
	open := f.Status != finding.StatusResolved && f.Status != finding.StatusSuppressed
	if open && f.AckedBy == "" {
		els = append(els, button(ActionAck, "Acknowledge", id, slack.StylePrimary))
	}
	if offersInvestigate(f) {
		els = append(els, button(ActionInvestigate, "Investigate actor", id, slack.StyleDefault))
	}
	if offersContain(f) {
		els = append(els, button(ActionContain, "Contain…", id, slack.StyleDanger))
	}
	if open {
		els = append(els, button(ActionExpected, "Mark expected…", id, slack.StyleDefault))
		els = append(els, button(ActionResolve, "Resolve…", id, slack.StyleDefault))
	}
	return slack.NewActionBlock(BlockFindingActions, els...)
}

// maxDiffLines keeps the state diff to what a reader takes in at a glance.
const maxDiffLines = 12

// assessmentText says what the bot found when it read the resource's
// actual state, and why the data counts as sensitive.
func assessmentText(f finding.Finding) string {
	var lines []string
	if a := f.Assessment; a != nil {
		switch {
		case a.Unavailable != "" && a.ReadAt.IsZero():
			lines = append(lines, ":grey_question: *AWS state:* "+esc(a.Unavailable)+" (will read again)")
		case a.Exposed:
			lines = append(lines, ":rotating_light: *AWS state confirms the exposure:* "+esc(a.Reason))
		default:
			lines = append(lines, ":white_check_mark: *AWS state shows no exposure now:* "+esc(a.Reason))
		}
		if a.Unavailable != "" && !a.ReadAt.IsZero() {
			lines = append(lines, "_latest read failed: "+esc(a.Unavailable)+"_")
		}
		for i, d := range a.Diff {
			if i == maxDiffLines {
				lines = append(lines, fmt.Sprintf("_… and %d more changes_", len(a.Diff)-maxDiffLines))
				break
			}
			lines = append(lines, "`"+strings.ReplaceAll(clip(d, 300), "`", "'")+"`")
		}
	}
	if len(f.Sensitivity) > 0 {
		lines = append(lines, ":lock: *Sensitive data:* "+esc(strings.Join(f.Sensitivity, "; ")))
	}
	if len(lines) == 0 {
		return ""
	}
	return clip(strings.Join(lines, "\n"), maxSectionText)
}

// historyText lists the resource's earlier changes, so a reader sees
// whether this is new or the latest of a series.
func historyText(f finding.Finding, loc *time.Location) string {
	if len(f.History) == 0 {
		return ""
	}
	lines := []string{"*Earlier changes to this resource:*"}
	for _, h := range f.History {
		failed := ""
		if h.Failed {
			failed = " _(failed)_"
			if h.ErrorCode != "" {
				failed = " _(failed: " + esc(clip(h.ErrorCode, 60)) + ")_"
			}
		}
		lines = append(lines, fmt.Sprintf("• %s `%s` by %s%s", h.Time.In(loc).Format("Jan 2 15:04 MST"), esc(h.EventName), esc(h.Actor), failed))
	}
	return clip(strings.Join(lines, "\n"), maxSectionText)
}

// maxReferences bounds the links a Sigma rule's references add.
const maxReferences = 5

// ruleNotesText shows what a rule written outside the code (a Sigma rule)
// says about itself: when it fires harmlessly, so that a responder can
// tell, and where to read more.
func ruleNotesText(n *finding.RuleNotes) string {
	if n == nil {
		return ""
	}
	var lines []string
	if len(n.FalsePositives) > 0 {
		lines = append(lines, "*Expected when*")
		for _, fp := range n.FalsePositives {
			lines = append(lines, "• "+esc(clip(fp, 300)))
		}
	}
	var refs []string
	for _, r := range n.References {
		if len(refs) == maxReferences {
			refs = append(refs, fmt.Sprintf("_and %d more_", len(n.References)-maxReferences))
			break
		}
		refs = append(refs, referenceLink(r))
	}
	if len(refs) > 0 {
		lines = append(lines, "*References:* "+strings.Join(refs, " · "))
	}
	return strings.Join(lines, "\n")
}

// referenceLink links a reference that is a web address, labelled with its
// host and path; anything else is shown as text. A rule file is written by
// people outside the bot, so nothing in it may become a mention or a
// link of another scheme.
func referenceLink(ref string) string {
	ref = strings.TrimSpace(ref)
	for _, scheme := range []string{"https://", "http://"} {
		if strings.HasPrefix(ref, scheme) && len(ref) <= maxButtonURL && !strings.ContainsAny(ref, " \t\n") {
			return link(ref, clip(strings.TrimPrefix(ref, scheme), 70))
		}
	}
	return esc(clip(ref, 200))
}
