package jira

import (
	"strings"

	"github.com/secops-bot/secops-bot/delivery/tickets/tracker"
)

// The description types are the ticket worker's own (tickets/tracker),
// named here too so that callers of the client need not import both.
type (
	// Doc is rich text for a description or a comment; ADF and Wiki
	// render it.
	Doc = tracker.Doc
	// BlockKind is the kind of a Block.
	BlockKind = tracker.BlockKind
	// Block is one block of a Doc.
	Block = tracker.Block
	// Inline is a run of text with at most one style, or a link.
	Inline = tracker.Inline
)

// Block kinds.
const (
	Paragraph = tracker.Paragraph
	Heading   = tracker.Heading
	Bullets   = tracker.Bullets
	Code      = tracker.Code
)

// Text returns a Doc of one plain paragraph per line of s.
func Text(s string) Doc { return tracker.Text(s) }

// ADF renders a Doc in the Atlassian Document Format (Cloud, REST v3).
func ADF(d Doc) map[string]any {
	content := []any{}
	for _, bl := range d.Blocks {
		switch bl.Kind {
		case Heading:
			content = append(content, map[string]any{"type": "heading", "attrs": map[string]any{"level": 3}, "content": adfInline(bl.Text)})
		case Bullets:
			items := []any{}
			for _, it := range bl.Items {
				items = append(items, map[string]any{"type": "listItem", "content": []any{
					map[string]any{"type": "paragraph", "content": adfInline(it)},
				}})
			}
			if len(items) > 0 {
				content = append(content, map[string]any{"type": "bulletList", "content": items})
			}
		case Code:
			cb := map[string]any{"type": "codeBlock", "content": []any{}}
			if bl.Code != "" {
				cb["content"] = []any{map[string]any{"type": "text", "text": bl.Code}}
			}
			content = append(content, cb)
		default:
			content = append(content, map[string]any{"type": "paragraph", "content": adfInline(bl.Text)})
		}
	}
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

// adfInline renders inline runs; ADF rejects empty text nodes, so they
// are left out.
func adfInline(in []Inline) []any {
	out := []any{}
	for _, r := range in {
		if r.Text == "" {
			continue
		}
		n := map[string]any{"type": "text", "text": r.Text}
		var marks []any
		switch {
		case r.Link != "" && safeLink(r.Link):
			marks = append(marks, map[string]any{"type": "link", "attrs": map[string]any{"href": r.Link}})
		case r.Mono:
			// The code mark may not be combined with others.
			marks = append(marks, map[string]any{"type": "code"})
		case r.Bold:
			marks = append(marks, map[string]any{"type": "strong"})
		}
		if marks != nil {
			n["marks"] = marks
		}
		out = append(out, n)
	}
	return out
}

// Wiki renders a Doc as Jira wiki markup (Data Center, REST v2).
func Wiki(d Doc) string {
	var b strings.Builder
	for i, bl := range d.Blocks {
		if i > 0 {
			// A blank line ends a paragraph or list; a single newline
			// would only break the line inside it.
			b.WriteString("\n\n")
		}
		switch bl.Kind {
		case Heading:
			b.WriteString("h3. ")
			b.WriteString(wikiInline(bl.Text))
		case Bullets:
			for j, it := range bl.Items {
				if j > 0 {
					b.WriteByte('\n')
				}
				b.WriteString("* ")
				b.WriteString(wikiInline(it))
			}
		case Code:
			// Nothing inside {noformat} is markup, except its own end.
			b.WriteString("{noformat}\n")
			b.WriteString(strings.ReplaceAll(bl.Code, "{noformat}", "{ noformat}"))
			b.WriteString("\n{noformat}")
		default:
			b.WriteString(wikiInline(bl.Text))
		}
	}
	return b.String()
}

func wikiInline(in []Inline) string {
	var b strings.Builder
	for _, r := range in {
		if r.Text == "" {
			continue
		}
		t := wikiEscape(r.Text)
		switch {
		case r.Link != "" && safeLink(r.Link):
			b.WriteString("[" + t + "|" + wikiLinkEscape(r.Link) + "]")
		case r.Mono:
			b.WriteString(wrap(t, "{{", "}}"))
		case r.Bold:
			b.WriteString(wrap(t, "*", "*"))
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}

// wrap puts markers around text with the surrounding spaces outside them:
// Jira ignores "*bold *" with a space inside the marker.
func wrap(t, open, end string) string {
	core := strings.TrimSpace(t)
	if core == "" {
		return t
	}
	i := strings.Index(t, core)
	return t[:i] + open + core + end + t[i+len(core):]
}

// wikiSpecial are the characters that start markup in Jira wiki text
// anywhere in a line; a backslash makes each stand for itself. Newlines
// become spaces so that text from outside (a bucket name, a reason) cannot
// start a new block.
var wikiSpecial = strings.NewReplacer(
	`\`, `\\`, `*`, `\*`, `_`, `\_`, `{`, `\{`, `}`, `\}`, `[`, `\[`, `]`, `\]`,
	`|`, `\|`, `^`, `\^`, `~`, `\~`, `+`, `\+`, `!`, `\!`, `??`, `\?\?`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

// wikiEscape escapes markup. A hyphen is markup (strikethrough, a list, a
// rule) only at the edge of a word, so the hyphens inside names such as
// "payments-exports" stay as they are; "#" is markup only at the start.
func wikiEscape(s string) string {
	s = wikiSpecial.Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' && (i == 0 || i == len(s)-1 || !wordByte(s[i-1]) || !wordByte(s[i+1])):
			b.WriteString(`\-`)
		case c == '#' && i == 0:
			b.WriteString(`\#`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// wikiLinkEscape keeps a URL from closing the link early.
func wikiLinkEscape(u string) string {
	return strings.NewReplacer("|", "%7C", "]", "%5D", " ", "%20", "\n", "").Replace(u)
}

func safeLink(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}
