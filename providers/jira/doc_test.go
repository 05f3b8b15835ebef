package jira

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWikiEscapesTextFromOutside(t *testing.T) {
	tests := []struct {
		name string
		in   Inline
		want string
	}{
		{"hyphens inside names stay", Inline{Text: "payments-exports-2026"}, "payments-exports-2026"},
		{"strikethrough cannot start", Inline{Text: "-deleted- text"}, `\-deleted\- text`},
		{"bold and links cannot start", Inline{Text: "*all* [x|http://evil] {code}"}, `\*all\* \[x\|http://evil\] \{code\}`},
		{"a new line cannot start a block", Inline{Text: "a\nh1. b\r\n# c"}, "a h1. b # c"},
		{"heading marker at the start", Inline{Text: "#secops"}, `\#secops`},
		{"monospace keeps spaces outside", Inline{Text: " F-1 ", Mono: true}, " {{F-1}} "},
		{"bold keeps spaces outside", Inline{Text: "Severity: ", Bold: true}, "*Severity:* "},
		{"links keep their label escaped", Inline{Text: "thread [1]", Link: "https://x.example/a|b]"}, `[thread \[1\]|https://x.example/a%7Cb%5D]`},
		{"non-http links are plain text", Inline{Text: "click", Link: "javascript:alert(1)"}, "click"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wikiInline([]Inline{tc.in}); got != tc.want {
				t.Fatalf("wikiInline(%q) = %q, want %q", tc.in.Text, got, tc.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	d := Doc{Blocks: []Block{
		{Kind: Heading, Text: []Inline{{Text: "What changed"}}},
		{Kind: Paragraph, Text: []Inline{{Text: "Open "}, {Text: "", Bold: true}, {Text: "thread", Link: "https://slack.example/p1"}}},
		{Kind: Bullets, Items: [][]Inline{{{Text: "a"}}, {{Text: "b", Mono: true}}}},
		{Kind: Code, Code: "{\"a\":1}\n{noformat}"},
	}}
	wantWiki := "h3. What changed\n\nOpen [thread|https://slack.example/p1]\n\n* a\n* {{b}}\n\n{noformat}\n{\"a\":1}\n{ noformat}\n{noformat}"
	if got := Wiki(d); got != wantWiki {
		t.Errorf("Wiki =\n%s\nwant\n%s", got, wantWiki)
	}
	adf, _ := json.Marshal(ADF(d))
	wantADF := `{"content":[` +
		`{"attrs":{"level":3},"content":[{"text":"What changed","type":"text"}],"type":"heading"},` +
		`{"content":[{"text":"Open ","type":"text"},{"marks":[{"attrs":{"href":"https://slack.example/p1"},"type":"link"}],"text":"thread","type":"text"}],"type":"paragraph"},` +
		`{"content":[{"content":[{"content":[{"text":"a","type":"text"}],"type":"paragraph"}],"type":"listItem"},{"content":[{"content":[{"marks":[{"type":"code"}],"text":"b","type":"text"}],"type":"paragraph"}],"type":"listItem"}],"type":"bulletList"},` +
		`{"content":[{"text":"{\"a\":1}\n{noformat}","type":"text"}],"type":"codeBlock"}` +
		`],"type":"doc","version":1}`
	if string(adf) != wantADF {
		t.Errorf("ADF =\n%s\nwant\n%s", adf, wantADF)
	}
	if got, want := d.Plain(), "What changed\nOpen thread\n- a\n- b\n{\"a\":1}\n{noformat}"; got != want {
		t.Errorf("Plain = %q, want %q", got, want)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"cloud without email or token", Config{Flavor: Cloud, BaseURL: "https://acme.atlassian.net"}, []string{SettingToken, SettingEmail}},
		{"unknown flavour and bad URL", Config{Flavor: "server", BaseURL: "acme", Token: "t"}, []string{SettingFlavor, SettingBaseURL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("New = nil error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New = %q, lacks %q", err, w)
				}
			}
		})
	}
	if _, err := New(Config{Flavor: DataCenter, BaseURL: "https://jira.acme.internal/", Token: "pat"}); err != nil {
		t.Fatalf("Data Center without email: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"12", 12 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{time.Now().Add(-time.Hour).UTC().Format(time.RFC1123), 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
