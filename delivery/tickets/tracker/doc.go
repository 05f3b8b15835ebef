package tracker

import "strings"

// Doc is rich text for a description or a comment, kept to what every
// tracker renders: headings, paragraphs, bullet lists and code blocks of
// plain, bold, monospace or linked text. It says nothing about markup;
// the client renders it for the tracker it talks to.
type Doc struct {
	Blocks []Block
}

// BlockKind is the kind of a Block.
type BlockKind int

// Block kinds.
const (
	Paragraph BlockKind = iota
	Heading
	Bullets
	Code
)

// Block is one block of a Doc. Paragraph and Heading use Text; Bullets use
// Items (one line of inline text each); Code uses Code verbatim.
type Block struct {
	Kind  BlockKind
	Text  []Inline
	Items [][]Inline
	Code  string
}

// Inline is a run of text with at most one style, or a link.
type Inline struct {
	Text string
	Bold bool
	Mono bool
	Link string // an http(s) URL; the text is the link's label
}

// Text returns a Doc of one plain paragraph per line of s.
func Text(s string) Doc {
	var d Doc
	for _, line := range strings.Split(s, "\n") {
		d.Blocks = append(d.Blocks, Block{Kind: Paragraph, Text: []Inline{{Text: line}}})
	}
	return d
}

// Plain returns the text of the Doc without markup, one line per
// paragraph or item; used for summaries and in logs.
func (d Doc) Plain() string {
	var b strings.Builder
	inl := func(in []Inline) {
		for _, r := range in {
			b.WriteString(r.Text)
		}
	}
	for i, bl := range d.Blocks {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch bl.Kind {
		case Bullets:
			for j, it := range bl.Items {
				if j > 0 {
					b.WriteByte('\n')
				}
				b.WriteString("- ")
				inl(it)
			}
		case Code:
			b.WriteString(bl.Code)
		default:
			inl(bl.Text)
		}
	}
	return b.String()
}
