package blocks

import (
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

func sections(n int) []slack.Block {
	out := make([]slack.Block, n)
	for i := range out {
		out[i] = slack.NewSectionBlock(mrkdwn("x"), nil, nil)
	}
	return out
}

func btn(actionID, text, value, url string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(text))
	b.URL = url
	return b
}

func fields(n, size int) []*slack.TextBlockObject {
	out := make([]*slack.TextBlockObject, n)
	for i := range out {
		out[i] = mrkdwn(strings.Repeat("f", size))
	}
	return out
}

func contextOf(n int) *slack.ContextBlock {
	els := make([]slack.MixedElement, n)
	for i := range els {
		els[i] = mrkdwn("c")
	}
	return slack.NewContextBlock("", els...)
}

func actionsOf(n int) *slack.ActionBlock {
	els := make([]slack.BlockElement, n)
	for i := range els {
		els[i] = btn(strings.Repeat("a", i+1), "b", "v", "")
	}
	return slack.NewActionBlock("", els...)
}

func TestCheckLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		blocks []slack.Block
		modal  bool
		// want is a fragment of the error; empty means the payload is valid.
		want string
	}{
		{"50 blocks in a message", sections(50), false, ""},
		{"51 blocks in a message", sections(51), false, "51 blocks, limit 50"},
		{"100 blocks in a modal", sections(100), true, ""},
		{"101 blocks in a modal", sections(101), true, "101 blocks, limit 100"},
		{"section text at the limit", []slack.Block{section(long(3000))}, false, ""},
		{"section text over", []slack.Block{slack.NewSectionBlock(mrkdwn(long(3001)), nil, nil)}, false, "blocks[0] (section).text: 3001 characters, limit 3000"},
		{"section text counts characters, not bytes", []slack.Block{slack.NewSectionBlock(mrkdwn(strings.Repeat("ü", 3000)), nil, nil)}, false, ""},
		{"empty section text", []slack.Block{slack.NewSectionBlock(mrkdwn(""), nil, nil)}, false, "empty text"},
		{"section without text or fields", []slack.Block{slack.NewSectionBlock(nil, nil, nil)}, false, "neither text nor fields"},
		{"ten fields", []slack.Block{slack.NewSectionBlock(nil, fields(10, 2000), nil)}, false, ""},
		{"eleven fields", []slack.Block{slack.NewSectionBlock(nil, fields(11, 10), nil)}, false, "11 fields, limit 10"},
		{"field over 2000", []slack.Block{slack.NewSectionBlock(nil, fields(1, 2001), nil)}, false, "fields[0]: 2001 characters, limit 2000"},
		{"header at the limit", []slack.Block{slack.NewHeaderBlock(plain(long(150)))}, false, ""},
		{"header over", []slack.Block{slack.NewHeaderBlock(plain(long(151)))}, false, "(header).text: 151 characters, limit 150"},
		{"header in mrkdwn", []slack.Block{slack.NewHeaderBlock(mrkdwn("x"))}, false, `text type "mrkdwn" not allowed`},
		{"button text over", []slack.Block{slack.NewActionBlock("", btn("a", long(76), "v", ""))}, false, "elements[0].text: 76 characters, limit 75"},
		{"button value over", []slack.Block{slack.NewActionBlock("", btn("a", "b", long(2001), ""))}, false, "elements[0].value: 2001 characters, limit 2000"},
		{"button url over", []slack.Block{slack.NewActionBlock("", btn("a", "b", "v", "https://x/"+long(2991)))}, false, "elements[0].url: 3001 characters, limit 3000"},
		{"button limits met", []slack.Block{slack.NewActionBlock("", btn("a", long(75), long(2000), "https://x/"+long(2990)))}, false, ""},
		{"accessory button checked too", []slack.Block{slack.NewSectionBlock(mrkdwn("x"), nil, slack.NewAccessory(btn("a", long(76), "v", "")))}, false, "accessory.text: 76 characters"},
		{"action_id over 255", []slack.Block{slack.NewActionBlock("", btn(long(256), "b", "v", ""))}, false, "action_id: 256 characters, limit 255"},
		{"duplicate action_id", []slack.Block{slack.NewActionBlock("", btn("same", "b", "v", "")), slack.NewActionBlock("", btn("same", "c", "v", ""))}, false, `"same" is used twice`},
		{"block_id over 255", []slack.Block{slack.NewSectionBlock(mrkdwn("x"), nil, nil, slack.SectionBlockOptionBlockID(long(256)))}, false, "block_id: 256 characters, limit 255"},
		{"duplicate block_id", []slack.Block{slack.NewDividerBlock(), slack.NewActionBlock("b1", btn("a", "b", "v", "")), slack.NewContextBlock("b1", mrkdwn("c"))}, false, `"b1" is used twice`},
		{"25 action elements", []slack.Block{actionsOf(25)}, false, ""},
		{"26 action elements", []slack.Block{actionsOf(26)}, false, "26 elements, limit 25"},
		{"empty actions block", []slack.Block{slack.NewActionBlock("")}, false, "no elements"},
		{"10 context elements", []slack.Block{contextOf(10)}, false, ""},
		{"11 context elements", []slack.Block{contextOf(11)}, false, "11 elements, limit 10"},
		{"nil block", []slack.Block{nil}, false, "not a block object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLimits(tc.blocks, tc.modal)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid payload rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("payload accepted; want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not contain %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, ErrLimit):
				t.Errorf("error %v is not ErrLimit", err)
			}
		})
	}
}

func TestCheckLimitsReportsEveryProblem(t *testing.T) {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(strings.Repeat("h", 151))),
		slack.NewSectionBlock(mrkdwn(strings.Repeat("s", 3001)), nil, nil),
		contextOf(11),
	}
	err := CheckLimits(blocks, false)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"blocks[0] (header)", "blocks[1] (section)", "blocks[2] (context)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestCheckModal(t *testing.T) {
	valid := func() slack.ModalViewRequest { return ResolveModal("F-1") }
	tests := []struct {
		name   string
		modify func(*slack.ModalViewRequest)
		want   string
	}{
		{"valid", func(*slack.ModalViewRequest) {}, ""},
		{"title at 24", func(v *slack.ModalViewRequest) { v.Title = plain(strings.Repeat("t", 24)) }, ""},
		{"title over 24", func(v *slack.ModalViewRequest) { v.Title = plain(strings.Repeat("t", 25)) }, "title: 25 characters, limit 24"},
		{"no title", func(v *slack.ModalViewRequest) { v.Title = nil }, "title: missing"},
		{"submit over 24", func(v *slack.ModalViewRequest) { v.Submit = plain(strings.Repeat("s", 25)) }, "submit: 25 characters, limit 24"},
		{"no submit with inputs", func(v *slack.ModalViewRequest) { v.Submit = nil }, "submit: missing"},
		{"close over 24", func(v *slack.ModalViewRequest) { v.Close = plain(strings.Repeat("c", 25)) }, "close: 25 characters, limit 24"},
		{"private_metadata at 3000", func(v *slack.ModalViewRequest) { v.PrivateMetadata = strings.Repeat("m", 3000) }, ""},
		{"private_metadata over 3000", func(v *slack.ModalViewRequest) { v.PrivateMetadata = strings.Repeat("m", 3001) }, "private_metadata: 3001 characters, limit 3000"},
		{"callback_id over 255", func(v *slack.ModalViewRequest) { v.CallbackID = strings.Repeat("c", 256) }, "callback_id: 256 characters"},
		{"blocks checked with the modal limit", func(v *slack.ModalViewRequest) {
			v.Blocks.BlockSet = append(v.Blocks.BlockSet, sections(99)...)
		}, "101 blocks, limit 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := valid()
			tc.modify(&v)
			err := CheckModal(v)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("valid modal rejected: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("modal accepted; want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
