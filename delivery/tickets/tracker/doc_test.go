package tracker

import "testing"

func TestPlain(t *testing.T) {
	tests := []struct {
		name string
		doc  Doc
		want string
	}{
		{"empty", Doc{}, ""},
		{"text keeps its lines", Text("Acknowledged by alice.\nSee the thread."), "Acknowledged by alice.\nSee the thread."},
		{"every kind of block", Doc{Blocks: []Block{
			{Kind: Heading, Text: []Inline{{Text: "What changed"}}},
			{Kind: Paragraph, Text: []Inline{{Text: "Open "}, {Text: "", Bold: true}, {Text: "thread", Link: "https://slack.example/p1"}}},
			{Kind: Bullets, Items: [][]Inline{{{Text: "Severity: ", Bold: true}, {Text: "high"}}, {{Text: "b", Mono: true}}}},
			{Kind: Code, Code: "{\"a\":1}"},
		}}, "What changed\nOpen thread\n- Severity: high\n- b\n{\"a\":1}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.doc.Plain(); got != tc.want {
				t.Errorf("Plain() = %q, want %q", got, tc.want)
			}
		})
	}
}
