package blocks

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
)

// shownText is every text a reader sees in blocks, one per line, as Slack
// receives it (escaped mrkdwn).
func shownText(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				out = append(out, s)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}

type shownButton struct{ actionID, value string }

func buttons(blocks []slack.Block) []shownButton {
	var out []shownButton
	for _, b := range blocks {
		a, ok := b.(*slack.ActionBlock)
		if !ok {
			continue
		}
		for _, e := range a.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok {
				out = append(out, shownButton{btn.ActionID, btn.Value})
			}
		}
	}
	return out
}

func TestFindingMessageButtons(t *testing.T) {
	all := []string{ActionAck, ActionInvestigate, ActionContain, ActionExpected, ActionResolve}
	tests := []struct {
		name string
		f    finding.Finding
		want []string
	}{
		{"open offers everything", storyTwo(), all},
		{"acknowledged drops acknowledge", storyTwoAcked(), all[1:]},
		{"resolved keeps investigate and contain", storyOneResolved(), []string{ActionInvestigate, ActionContain}},
		{"suppressed keeps investigate and contain", suppressedBucket(), []string{ActionInvestigate, ActionContain}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, blocks := FindingMessage(tc.f, FindingOptions{})
			var got []string
			for _, b := range buttons(blocks) {
				got = append(got, b.actionID)
				if b.value != tc.f.ID {
					t.Errorf("button %s carries %q, want only the finding ID %q", b.actionID, b.value, tc.f.ID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("buttons = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFindingMessageWithoutIDHasNoButtons(t *testing.T) {
	f := storyTwo()
	f.ID = ""
	_, blocks := FindingMessage(f, FindingOptions{})
	if b := buttons(blocks); len(b) != 0 {
		t.Errorf("buttons %v on a finding without ID; they could not say what they act on", b)
	}
}

func TestFindingMessageContent(t *testing.T) {
	tests := []struct {
		name     string
		f        finding.Finding
		opts     func(t testing.TB) FindingOptions
		text     string
		contains []string
		absent   []string
	}{
		{
			name: "story two: unknown account at 3 a.m.",
			f:    storyTwo(),
			opts: storyTwoOptions,
			text: "CRITICAL: RDS snapshot shared with an unknown account — prod-customers-2026-11-26 in payments-prod (111122223333)",
			contains: []string{
				":red_circle: CRITICAL: RDS snapshot shared with an unknown account",
				"payments-prod (`111122223333`)\nprod · team payments",
				"<https://eu-central-1.console.aws.amazon.com/rds/home?region=eu-central-1#db-snapshot:id=prod-customers-2026-11-26|prod-customers-2026-11-26>",
				"IAM user *BackupManager*",
				"`arn:aws:iam::111122223333:user/BackupManager`",
				"Fri 27 Nov 04:04 CET (03:04 UTC)",
				"IP `203.0.113.77`",
				"• :rotating_light: *444455556666* — unknown account",
				"• `555566667777` payments-dr — known account",
				"`[\"555566667777\"]` → `[\"555566667777\",\"444455556666\"]`",
				"• *unusual-hour*: 04:04 local",
				"• *new-source-ip*:",
				"• *new-user-agent*:",
				":crescent_moon: outside business hours for team payments",
				"*Status:* :rotating_light: open since Fri 27 Nov 04:04 CET",
				"<https://jira.example.com/browse/SEC-812|SEC-812>",
				"<#C0PAYMENTS>",
			},
			absent: []string{"contractor", "seen "},
		},
		{
			name: "story one: contractor and policy diff",
			f:    storyOne(),
			opts: func(t testing.TB) FindingOptions { return FindingOptions{Location: mustZone(t, "Europe/London")} },
			text: "HIGH: S3 bucket made public — acme-analytics-exports in analytics-dev (222233334444)",
			contains: []string{
				":large_orange_circle: HIGH: S3 bucket made public",
				"assumed role *contractor-alice* :warning: contractor",
				"<https://s3.console.aws.amazon.com/s3/buckets/acme-analytics-exports|acme-analytics-exports>",
				"*What changed:* bucket policy replaced",
				"*Before*\n```\n{\n  \"Version\": \"2012-10-17\",",
				"\"Sid\": \"ShareWithVendor\",\n      \"Effect\": \"Allow\",\n      \"Principal\": \"*\",",
				// London is on UTC in November: the time is shown once.
				"Thu 26 Nov 14:12 GMT\n",
			},
			absent: []string{"(14:12 UTC)", "outside business hours", ":ticket:"},
		},
		{
			name: "acknowledged and seen again",
			f:    storyTwoAcked(),
			opts: storyTwoOptions,
			contains: []string{
				":eyes: acknowledged by <@U024BE7LH> at Fri 27 Nov 04:09 CET; open since Fri 27 Nov 04:04 CET",
				":repeat: seen 3 times, first Fri 27 Nov 04:04 CET, last Fri 27 Nov 04:21 CET",
			},
		},
		{
			name: "resolved: who, when and for how long",
			f:    storyOneResolved(),
			opts: func(t testing.TB) FindingOptions { return FindingOptions{Location: mustZone(t, "Europe/Berlin")} },
			text: "RESOLVED (HIGH): S3 bucket made public — acme-analytics-exports in analytics-dev (222233334444)",
			contains: []string{
				":white_check_mark: RESOLVED (HIGH): S3 bucket made public",
				":white_check_mark: resolved by *contractor-alice/alice@vendor.example* (`arn:aws:sts::222233334444:assumed-role/contractor-alice/alice@vendor.example`) at Thu 26 Nov 15:26 CET, open for 14m",
				"> the bucket policy no longer grants access to everyone",
			},
			absent: []string{":large_orange_circle:"},
		},
		{
			name: "suppressed: the reason",
			f:    suppressedBucket(),
			opts: func(t testing.TB) FindingOptions { return FindingOptions{} },
			text: "SUPPRESSED (HIGH): S3 bucket made public — acme-public-website in analytics-dev (222233334444)",
			contains: []string{
				":no_bell: SUPPRESSED (HIGH): S3 bucket made public",
				`:no_bell: suppressed: bucket acme-public-website matches expected_public_buckets pattern "acme-public-*"`,
			},
		},
		{
			name: "console URL override",
			f:    storyTwo(),
			opts: func(t testing.TB) FindingOptions {
				return FindingOptions{ConsoleURL: "https://console.example.internal/rds?snap=1"}
			},
			contains: []string{"<https://console.example.internal/rds?snap=1|AWS console>"},
			absent:   []string{"eu-central-1.console.aws.amazon.com"},
		},
		{
			name: "nil location shows UTC",
			f:    storyTwo(),
			opts: func(t testing.TB) FindingOptions { return FindingOptions{} },
			contains: []string{
				"Fri 27 Nov 03:04 UTC\n",
				"open since Fri 27 Nov 03:04 UTC",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := FindingMessage(tc.f, tc.opts(t))
			if tc.text != "" && text != tc.text {
				t.Errorf("fallback text:\n got %q\nwant %q", text, tc.text)
			}
			shown := shownText(t, blocks)
			for _, s := range tc.contains {
				if !strings.Contains(shown, s) {
					t.Errorf("message lacks %q; it shows:\n%s", s, shown)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(shown, s) {
					t.Errorf("message shows %q, which does not apply", s)
				}
			}
		})
	}
}

// Text from AWS and from users must not become links or mentions.
func TestFindingMessageEscapesUntrustedText(t *testing.T) {
	f := storyTwo()
	f.Detail = "tag value <!channel> & <https://evil.example|click here>"
	f.Actor.Name = "<!here>"
	f.Event.UserAgent = "curl/8 <@U0ADMIN> `whoami`"
	f.Signals = []finding.Signal{{Name: "x<y", Reason: "<!everyone>"}}
	f.Targets = []finding.Target{{Account: "<!subteam^S123>", Class: finding.TargetUnknown}}
	f.SuppressedReason = "<#C0GENERAL>"
	f.Status = finding.StatusSuppressed
	text, blocks := FindingMessage(f, FindingOptions{})
	shown := shownText(t, blocks) + "\n" + text
	for _, bad := range []string{"<!channel>", "<!here>", "<@U0ADMIN>", "<!everyone>", "<https://evil.example", "<!subteam", "<#C0GENERAL>", "`whoami`"} {
		if strings.Contains(shown, bad) {
			t.Errorf("untrusted %q reached the message unescaped", bad)
		}
	}
	for _, good := range []string{"&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;", "*&lt;!here&gt;*", "&lt;@U0ADMIN&gt; ˋwhoamiˋ"} {
		if !strings.Contains(shown, good) {
			t.Errorf("message lacks the escaped form %q:\n%s", good, shown)
		}
	}
}

var truncatedMarker = regexp.MustCompile(`_… \(truncated, (\d+) more bytes\)_$`)

func TestFindingMessageHugeFindingIsCutVisibly(t *testing.T) {
	f := huge()
	_, blocks := FindingMessage(f, FindingOptions{})
	if err := CheckLimits(blocks, false); err != nil {
		t.Fatalf("huge finding breaks Slack limits: %v", err)
	}
	var sections []string
	for _, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			sections = append(sections, s.Text.Text)
		}
	}
	find := func(prefix string) string {
		for _, s := range sections {
			if strings.HasPrefix(s, prefix) {
				return s
			}
		}
		t.Fatalf("no section starting with %q", prefix)
		return ""
	}

	for _, tc := range []struct {
		title string
		raw   json.RawMessage
	}{{"*Before*", f.Change.Before}, {"*After*", f.Change.After}} {
		s := find(tc.title)
		m := truncatedMarker.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("%s section is not marked as truncated:\n…%s", tc.title, s[len(s)-200:])
			continue
		}
		missing, _ := strconv.Atoi(m[1])
		if total := len(prettyJSON(tc.raw)); missing <= 0 || missing >= total {
			t.Errorf("%s: %d more bytes of %d is not a plausible remainder", tc.title, missing, total)
		}
	}

	listed := func(s string) int { return strings.Count(s, "\n• ") }
	more := regexp.MustCompile(`_… and (\d+) more (\w+)_$`)
	for _, tc := range []struct {
		prefix, noun string
		total        int
	}{
		{":mag: *Unusual for this actor* (40 signals)", "signals", 40},
		{"*Shared with* (121 targets)", "targets", 121},
	} {
		s := find(tc.prefix)
		m := more.FindStringSubmatch(s)
		if m == nil || m[2] != tc.noun {
			t.Errorf("%s: no closing count of what was left out:\n…%s", tc.noun, s[len(s)-100:])
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if listed(s)+n != tc.total {
			t.Errorf("%s: %d listed + %d more != %d", tc.noun, listed(s), n, tc.total)
		}
	}
	// Public and unknown targets come first, so they survive the cut.
	targets := find("*Shared with*")
	if got, want := strings.Count(targets, "• :rotating_light:"), len(f.UnknownTargets()); got != want {
		t.Errorf("%d of %d public and unknown targets listed; they should lead the list", got, want)
	}
	if !strings.HasPrefix(targets, "*Shared with* (121 targets)\n• :rotating_light: *all* — public") {
		t.Errorf("the public target should come first:\n%s", targets[:200])
	}
}

func TestCodeSection(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		limit int
	}{
		{"fits", "{\n  \"a\": 1\n}", 3000},
		{"long lines", strings.Repeat("0123456789", 500), 3000},
		{"many lines", strings.Repeat("  \"key\": \"value\",\n", 400), 3000},
		{"escaped characters take room", strings.Repeat("<&>\n", 2000), 3000},
		{"multibyte", strings.Repeat("ü€𝄞\n", 2000), 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := codeSection("*After*", tc.body, tc.limit)
			if n := utf8.RuneCountInString(got); n > tc.limit {
				t.Fatalf("%d characters, limit %d", n, tc.limit)
			}
			m := truncatedMarker.FindStringSubmatch(got)
			inner := strings.TrimPrefix(got, "*After*\n```\n")
			inner = inner[:strings.LastIndex(inner, "\n```")]
			if m == nil {
				if inner != codeBlockEscaper.Replace(tc.body) {
					t.Errorf("untruncated body changed:\n%s", inner)
				}
				return
			}
			shown := strings.TrimSuffix(inner, "\n…")
			shown = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(shown)
			missing, _ := strconv.Atoi(m[1])
			if !strings.HasPrefix(tc.body, shown) {
				t.Errorf("shown part is not the start of the body")
			}
			if len(shown)+missing != len(tc.body) {
				t.Errorf("shown %d bytes + %d more != %d", len(shown), missing, len(tc.body))
			}
		})
	}
}

func TestWhen(t *testing.T) {
	at := utc(time.November, 27, 3, 4, 0)
	tests := []struct {
		zone string
		want string
	}{
		{"Europe/Berlin", "Fri 27 Nov 04:04 CET (03:04 UTC)"},
		{"UTC", "Fri 27 Nov 03:04 UTC"},
		{"Europe/London", "Fri 27 Nov 03:04 GMT"},
		{"America/Los_Angeles", "Thu 26 Nov 19:04 PST (Fri 27 Nov 03:04 UTC)"},
		{"Asia/Kolkata", "Fri 27 Nov 08:34 IST (03:04 UTC)"},
	}
	for _, tc := range tests {
		t.Run(tc.zone, func(t *testing.T) {
			if got := when(at, mustZone(t, tc.zone)); got != tc.want {
				t.Errorf("when = %q, want %q", got, tc.want)
			}
		})
	}
	if got := when(at, nil); got != "Fri 27 Nov 03:04 UTC" {
		t.Errorf("nil zone: %q", got)
	}
	if got := when(time.Time{}, nil); got != "unknown time" {
		t.Errorf("zero time: %q", got)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{42 * time.Second, "42s"},
		{14*time.Minute + 31*time.Second, "14m"},
		{2 * time.Hour, "2h"},
		{2*time.Hour + 5*time.Minute, "2h 5m"},
		{76 * time.Hour, "3d 4h"},
		{48 * time.Hour, "2d"},
	}
	for _, tc := range tests {
		if got := duration(tc.d); got != tc.want {
			t.Errorf("duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestClipMrkdwnKeepsEntitiesAndLinksWhole(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "a &amp; b", 20, "a &amp; b"},
		{"inside an entity", "abc &amp; def", 7, "abc …"},
		{"inside a link", "see <https://example.com/x|x> now", 12, "see …"},
		{"after a link", "<https://e.x|x> and more text", 20, "<https://e.x|x> and…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clipMrkdwn(tc.in, tc.n); got != tc.want {
				t.Errorf("clipMrkdwn(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

// FuzzFindingMessage feeds arbitrary text into every free-text field: the
// payload must stay within Slack's limits whatever AWS or users send.
func FuzzFindingMessage(f *testing.F) {
	f.Add("prod-customers", "<!channel>", "aws-cli/2", "{\"a\":1}", "reason", 3)
	f.Add(strings.Repeat("x", 5000), strings.Repeat("<&>", 2000), strings.Repeat("ü", 3000), strings.Repeat("[", 4000), strings.Repeat("`", 3000), 1000)
	f.Fuzz(func(t *testing.T, id, name, ua, change, reason string, n int) {
		fd := storyTwo()
		fd.Resource.ID, fd.Actor.Name, fd.Event.UserAgent = id, name, ua
		fd.Title, fd.Detail, fd.Team, fd.AccountName = name, reason, name, id
		fd.Change = &finding.Change{Summary: reason, Before: json.RawMessage(change), After: json.RawMessage(change + change)}
		n = min(max(n, 0), 300)
		for i := 0; i < n; i++ {
			fd.Signals = append(fd.Signals, finding.Signal{Name: name, Reason: reason})
			fd.Targets = append(fd.Targets, finding.Target{Account: id, Class: finding.TargetUnknown, Name: name})
		}
		fd.Status, fd.SuppressedReason = finding.StatusSuppressed, reason
		text, blocks := FindingMessage(fd, FindingOptions{TicketKey: id, Channel: name, ThreadPermalink: "https://x/" + id})
		if text == "" {
			t.Error("empty fallback text")
		}
		if err := CheckLimits(blocks, false); err != nil {
			t.Errorf("limits: %v", err)
		}
		for _, kind := range []finding.ChangeKind{finding.ChangeResolved, finding.ChangeUpdated, finding.ChangeSuppressed, finding.ChangeKind(reason)} {
			if _, blocks := ThreadReply(kind, fd, name, reason, nil); CheckLimits(blocks, false) != nil {
				t.Errorf("reply %q breaks limits: %v", kind, CheckLimits(blocks, false))
			}
		}
	})
}

// Deeply nested JSON would make indentation explode (depth times size), so
// it is shown as it came and cut like anything else.
func TestFindingMessageDeepJSONIsNotIndented(t *testing.T) {
	f := storyOne()
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	f.Change = &finding.Change{Summary: "odd policy", After: json.RawMessage(deep)}
	_, blocks := FindingMessage(f, FindingOptions{})
	if err := CheckLimits(blocks, false); err != nil {
		t.Fatal(err)
	}
	shown := shownText(t, blocks)
	if !strings.Contains(shown, "*After*\n```\n[[[[[[[[") {
		t.Errorf("deep JSON should be shown unindented:\n%.300s", shown)
	}
	if !strings.Contains(shown, "more bytes)_") {
		t.Error("deep JSON longer than a section is not marked as truncated")
	}
}

func TestJSONDepth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`1`, 0},
		{`{"a":[1,{"b":2}]}`, 3},
		{`{"a":"[[[[{{{"}`, 1},
		{`{"a":"x\"[[["}`, 1},
	}
	for _, tc := range tests {
		if got := jsonDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"üüü", 3, "üüü"},
		{"üüüü", 3, "üü…"},
		{"ab", 0, ""},
		{"", 5, ""},
	}
	for _, tc := range tests {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
