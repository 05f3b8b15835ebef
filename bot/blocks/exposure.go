package blocks

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/respond/investigate"
)

// Action IDs of the exposure buttons.
const (
	// ActionCheckReads asks the bot who read the resource in its exposure
	// window (again); the value is the finding ID.
	ActionCheckReads = "exposure.check"
)

// exposureBlocks are the finding message's sections on what the resource
// holds and who read it, each shown once there is something to say; the
// last carries the button that asks (again) who read it.
func exposureBlocks(f finding.Finding, loc *time.Location) []slack.Block {
	holds := contentsText(f.Contents)
	reads := ""
	if f.Reads != nil {
		reads = clip(strings.Join(readsLines(f.Reads, loc, true), "\n"), maxSectionText)
	}
	if holds == "" && reads == "" {
		return nil
	}
	var out []slack.Block
	label := "Who read it?"
	if reads != "" {
		label = "Check again"
	}
	btn := button(ActionCheckReads, label, f.ID, slack.StyleDefault)
	switch {
	case reads != "" && holds != "":
		out = append(out, section(holds), slack.NewSectionBlock(mrkdwn(reads), nil, slack.NewAccessory(btn)))
	case reads != "":
		out = append(out, slack.NewSectionBlock(mrkdwn(reads), nil, slack.NewAccessory(btn)))
	case f.ID != "":
		out = append(out, slack.NewSectionBlock(mrkdwn(holds), nil, slack.NewAccessory(btn)))
	default:
		out = append(out, section(holds))
	}
	return out
}

// contentsText says what the resource holds: for a bucket its objects,
// encryption and Macie's findings; for a snapshot or image its source and
// whether another account can use its key. Parts that could not be read
// say so and why.
func contentsText(c *finding.Contents) string {
	if c == nil {
		return ""
	}
	var lines []string
	var facts []string
	if o := c.Objects; o != nil {
		switch {
		case o.Count == 0 && o.Complete:
			facts = append(facts, "empty (no objects)")
		default:
			n := thousands(o.Count) + " objects"
			if !o.Complete {
				n = "at least " + n
			}
			if o.Count == 1 && o.Complete {
				n = "1 object"
			}
			n += ", " + bytesWord(o.Bytes)
			if !o.Newest.IsZero() {
				n += ", newest " + o.Newest.UTC().Format("2006-01-02 15:04 UTC")
			}
			facts = append(facts, n)
		}
	}
	if c.Source != "" {
		facts = append(facts, esc(clip(c.Source, 200)))
	}
	if c.Engine != "" {
		facts = append(facts, esc(clip(c.Engine, 60)))
	}
	if c.SizeGiB > 0 {
		facts = append(facts, fmt.Sprintf("%d GiB", c.SizeGiB))
	}
	if c.Encryption != "" {
		enc := c.Encryption
		if enc == "none" {
			enc = "no default encryption"
		} else {
			enc = "default encryption " + enc
		}
		facts = append(facts, esc(clip(enc, 300)))
	}
	head := ":package: *What it holds:*"
	if len(facts) > 0 {
		head += " " + strings.Join(facts, " · ")
	}
	lines = append(lines, head)
	if o := c.Objects; o != nil && len(o.Examples) > 0 {
		ex := make([]string, 0, len(o.Examples))
		for _, k := range o.Examples {
			ex = append(ex, code(clip(k, 120)))
		}
		lines = append(lines, "Newest keys: "+strings.Join(ex, ", "))
	}
	if m := c.Macie; m != nil {
		lines = append(lines, macieLine(m))
	}
	if k := c.Key; k != nil {
		lines = append(lines, keyLines(k)...)
	}
	for _, u := range c.Unreadable {
		lines = append(lines, "_"+esc(clip(u, 300))+"_")
	}
	return clip(strings.Join(lines, "\n"), maxSectionText)
}

func macieLine(m *finding.Macie) string {
	switch {
	case !m.Enabled:
		return ":grey_question: Amazon Macie is not enabled in this account and region: nothing says whether the objects hold sensitive data."
	case m.Findings == 0:
		return ":white_check_mark: Amazon Macie has no sensitive-data finding for this bucket."
	}
	n := plural(m.Findings, "sensitive-data finding", "sensitive-data findings")
	if m.More {
		n = "more than " + n
	}
	s := ":lock: *Amazon Macie:* " + n
	if m.Highest != "" {
		s += " (highest " + esc(m.Highest) + ")"
	}
	if len(m.Types) > 0 {
		s += ": " + esc(clip(strings.Join(m.Types, ", "), 300))
	}
	if len(m.Objects) > 0 {
		ks := make([]string, 0, len(m.Objects))
		for _, k := range m.Objects {
			ks = append(ks, code(clip(k, 120)))
		}
		s += " in " + strings.Join(ks, ", ")
	}
	return s
}

// keyLines say whether the accounts a snapshot is shared with can use it,
// which decides how urgent the share is.
func keyLines(k *finding.KeyAccess) []string {
	key := ""
	if k.KeyARN != "" {
		key = " " + code(clip(k.KeyARN, 200))
	}
	var lines []string
	switch k.Case {
	case finding.KeyUnencrypted:
		lines = append(lines, ":rotating_light: *Not encrypted:* whoever it is shared with can copy or restore it.")
	case finding.KeyCustomerUsable:
		var who []string
		for _, u := range k.Users {
			if u.Target {
				who = append(who, esc(accountWord(u.Account)))
			}
		}
		lines = append(lines, ":rotating_light: *Usable by "+strings.Join(who, ", ")+":* customer-managed key"+key+" lets them use it, so the share can be restored. Contain… offers to take them off the key.")
	case finding.KeyCustomerNotUsable:
		lines = append(lines, ":large_yellow_circle: *Not usable by the accounts it is shared with:* customer-managed key"+key+"; its policy and grants do not let them use it, unless someone changes them.")
	case finding.KeyAWSManaged:
		lines = append(lines, ":large_green_circle: *Not usable outside this account:* AWS-managed key"+key+", which no other account can use.")
	default:
		lines = append(lines, ":grey_question: *Encryption key not readable:* "+esc(clip(k.Why, 300))+key+".")
	}
	for _, u := range k.Users {
		lines = append(lines, "• "+esc(accountWord(u.Account))+": "+esc(clip(strings.Join(u.Via, "; "), 400)))
	}
	return lines
}

func accountWord(a string) string {
	if a == "*" {
		return "everyone"
	}
	return a
}

// readsLines answer who read the resource while it was exposed: the
// answer, the readers with their calls, IPs and keys, what the answer
// rests on and what it cannot see. brief leaves out the notes, for the
// finding message.
func readsLines(r *finding.ReadReview, loc *time.Location, brief bool) []string {
	emoji := ":grey_question:"
	switch r.Answer {
	case finding.ReadsFound:
		emoji = ":rotating_light:"
	case finding.ReadsNone:
		emoji = ":white_check_mark:"
	}
	window := span(r.Since, r.Until, loc)
	lines := []string{fmt.Sprintf("%s *Who read it while it was exposed* (%s): %s.", emoji, window, esc(clip(r.Summary, 500)))}
	for _, w := range r.Readers {
		lines = append(lines, readerLine(w, loc))
	}
	if r.More > 0 {
		lines = append(lines, fmt.Sprintf("_… and %s_", plural(r.More, "more principal", "more principals")))
	}
	if r.InsideReads > 0 {
		lines = append(lines, fmt.Sprintf("%s by the organisation's own principals (counted, not kept).", plural(r.InsideReads, "read", "reads")))
	}
	if len(r.Sources) > 0 {
		lines = append(lines, "_From "+esc(clip(strings.Join(r.Sources, "; "), 600))+"._")
	}
	for _, g := range r.Gaps {
		lines = append(lines, ":warning: "+esc(clip(g, 600)))
	}
	for _, u := range r.Unreadable {
		lines = append(lines, "_"+esc(clip(u, 300))+"_")
	}
	if !brief {
		for _, n := range r.Notes {
			lines = append(lines, "_"+esc(clip(n, 400))+"_")
		}
	}
	return lines
}

// readerLine is one principal's reads: "• *anonymous* — 12 calls
// (GetObject ×12) from `198.51.100.23`, e.g. `exports/a.csv` · 14:25–14:31".
func readerLine(w finding.Reader, loc *time.Location) string {
	name := "*" + esc(clip(w.Principal, 200)) + "*"
	if awsarn.IsAccountID(w.Account) && !strings.Contains(w.Principal, w.Account) {
		name += " of account " + code(w.Account)
	}
	switch w.Class {
	case finding.TargetUnknown:
		name += " (unknown account)"
	case finding.TargetTrusted:
		name += " (trusted account)"
	}
	acts := make([]string, 0, len(w.Actions))
	for a := range w.Actions {
		acts = append(acts, a)
	}
	sort.Slice(acts, func(i, j int) bool {
		if w.Actions[acts[i]] != w.Actions[acts[j]] {
			return w.Actions[acts[i]] > w.Actions[acts[j]]
		}
		return acts[i] < acts[j]
	})
	for i, a := range acts {
		acts[i] = fmt.Sprintf("%s ×%d", esc(a), w.Actions[a])
	}
	s := "• " + name + " — " + plural(w.Count, "call", "calls")
	if len(acts) > 0 {
		s += " (" + strings.Join(acts, ", ") + ")"
	}
	if len(w.SourceIPs) > 0 {
		ips := make([]string, 0, len(w.SourceIPs))
		for _, ip := range w.SourceIPs {
			ips = append(ips, code(clip(ip, 60)))
		}
		s += " from " + strings.Join(ips, ", ")
	}
	if len(w.Keys) > 0 {
		ks := make([]string, 0, len(w.Keys))
		for _, k := range w.Keys {
			ks = append(ks, code(clip(k, 120)))
		}
		s += ", e.g. " + strings.Join(ks, ", ")
	}
	if !w.First.IsZero() {
		s += " · " + span(w.First, w.Last, loc)
	}
	return s
}

// span renders a time range, the end without its day when it is the
// start's: "Thu 26 Nov 14:12 – 14:26 GMT".
func span(from, to time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	a, b := from.In(loc), to.In(loc)
	switch {
	case to.IsZero() || a.Equal(b):
		return localTime(from, loc)
	case a.YearDay() == b.YearDay() && a.Year() == b.Year():
		return a.Format("Mon 2 Jan 15:04") + " – " + b.Format("15:04 MST")
	}
	return localTime(from, loc) + " – " + localTime(to, loc)
}

// readsReply is the thread reply with the answer.
func readsReply(f finding.Finding, loc *time.Location) []string {
	if f.Reads == nil {
		return []string{":mag: Who read it while it was exposed: not reviewed yet."}
	}
	lines := readsLines(f.Reads, loc, false)
	if f.Reads.Requested != "" && f.Reads.Requested != "system" {
		lines = append(lines, "_Checked at the request of "+who(f.Reads.Requested)+"._")
	}
	return lines
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// bytesWord renders a size in bytes in the nearest unit.
func bytesWord(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d bytes", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// reportExposureBlocks show, in an investigation of a resource, what it
// holds and who read it while exposed, each from the finding that recorded
// it.
func reportExposureBlocks(e investigate.Exposure, loc *time.Location) []slack.Block {
	var out []slack.Block
	if t := contentsText(e.Holds); t != "" {
		out = append(out, section(clip(t+"\n_As read for finding "+code(e.HoldsFrom)+" at "+localTime(e.Holds.ReadAt, loc)+"._", maxSectionText)))
	}
	if e.Reads != nil {
		lines := readsLines(e.Reads, loc, true)
		lines = append(lines, "_From finding "+code(e.ReadsFrom)+", reviewed "+localTime(e.Reads.ReviewedAt, loc)+"._")
		out = append(out, section(clip(strings.Join(lines, "\n"), maxSectionText)))
	}
	return out
}
