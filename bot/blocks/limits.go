package blocks

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// ErrLimit marks every limit violation, so callers can tell a payload
// Slack would reject (invalid_blocks) from other failures.
var ErrLimit = errors.New("slack limit exceeded")

// CheckLimits validates blocks against the Block Kit limits Slack enforces,
// on the JSON that would be sent: 50 blocks per message (100 per modal),
// section text and fields, header and button text, button values and URLs,
// block and action IDs (length and uniqueness across the payload), and the
// element counts of actions and context blocks. It reports every problem
// at once, each wrapping ErrLimit, or nil.
func CheckLimits(blocks []slack.Block, modal bool) error {
	raw, err := json.Marshal(blocks)
	if err != nil {
		return fmt.Errorf("encode blocks: %w", err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("decode blocks: %w", err)
	}
	c := &limitChecker{blockIDs: map[string]bool{}, actionIDs: map[string]bool{}}
	max := maxMessageBlocks
	if modal {
		max = maxModalBlocks
	}
	if len(list) > max {
		c.fail("blocks", "%d blocks, limit %d", len(list), max)
	}
	for i, b := range list {
		c.block(b, fmt.Sprintf("blocks[%d]", i))
	}
	return errors.Join(c.errs...)
}

// CheckModal validates a modal: the title, submit and close labels, the
// private metadata and callback ID, and its blocks as CheckLimits does.
func CheckModal(v slack.ModalViewRequest) error {
	c := &limitChecker{}
	if v.Title == nil {
		c.fail("title", "missing")
	} else {
		c.text(&textObj{Type: v.Title.Type, Text: v.Title.Text}, "title", maxModalTitle, true)
	}
	if v.Submit != nil {
		c.text(&textObj{Type: v.Submit.Type, Text: v.Submit.Text}, "submit", maxModalTitle, true)
	} else if hasInput(v.Blocks.BlockSet) {
		c.fail("submit", "missing, but the modal has inputs")
	}
	if v.Close != nil {
		c.text(&textObj{Type: v.Close.Type, Text: v.Close.Text}, "close", maxModalTitle, true)
	}
	if n := utf8.RuneCountInString(v.PrivateMetadata); n > maxPrivateMeta {
		c.fail("private_metadata", "%d characters, limit %d", n, maxPrivateMeta)
	}
	if n := utf8.RuneCountInString(v.CallbackID); n > maxID {
		c.fail("callback_id", "%d characters, limit %d", n, maxID)
	}
	return errors.Join(append(c.errs, CheckLimits(v.Blocks.BlockSet, true))...)
}

func hasInput(blocks []slack.Block) bool {
	for _, b := range blocks {
		if b != nil && b.BlockType() == slack.MBTInput {
			return true
		}
	}
	return false
}

type textObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type rawBlock struct {
	Type      string            `json:"type"`
	BlockID   string            `json:"block_id"`
	Text      *textObj          `json:"text"`
	Fields    []textObj         `json:"fields"`
	Accessory json.RawMessage   `json:"accessory"`
	Elements  []json.RawMessage `json:"elements"`
	Element   json.RawMessage   `json:"element"`
	Label     *textObj          `json:"label"`
}

type rawElement struct {
	Type     string   `json:"type"`
	ActionID string   `json:"action_id"`
	Text     *textObj `json:"text"`
	Value    string   `json:"value"`
	URL      string   `json:"url"`
}

type limitChecker struct {
	errs      []error
	blockIDs  map[string]bool
	actionIDs map[string]bool
}

func (c *limitChecker) fail(where, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s: %w", where, fmt.Sprintf(format, args...), ErrLimit))
}

func (c *limitChecker) block(raw json.RawMessage, where string) {
	var b rawBlock
	if err := json.Unmarshal(raw, &b); err != nil || string(raw) == "null" {
		c.fail(where, "not a block object")
		return
	}
	where += " (" + b.Type + ")"
	c.id(b.BlockID, where+".block_id", c.blockIDs)
	switch b.Type {
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			c.fail(where, "neither text nor fields")
		}
		if b.Text != nil {
			c.text(b.Text, where+".text", maxSectionText, false)
		}
		if len(b.Fields) > maxSectionFields {
			c.fail(where+".fields", "%d fields, limit %d", len(b.Fields), maxSectionFields)
		}
		for i := range b.Fields {
			c.text(&b.Fields[i], fmt.Sprintf("%s.fields[%d]", where, i), maxFieldText, false)
		}
		if len(b.Accessory) > 0 {
			c.element(b.Accessory, where+".accessory")
		}
	case "header":
		if b.Text == nil {
			c.fail(where, "no text")
		} else {
			c.text(b.Text, where+".text", maxHeaderText, true)
		}
	case "actions":
		c.count(len(b.Elements), maxActions, where+".elements")
		for i, e := range b.Elements {
			c.element(e, fmt.Sprintf("%s.elements[%d]", where, i))
		}
	case "context":
		c.count(len(b.Elements), maxContextElems, where+".elements")
	case "input":
		if b.Label == nil {
			c.fail(where, "no label")
		}
		if len(b.Element) == 0 {
			c.fail(where, "no element")
		} else {
			c.element(b.Element, where+".element")
		}
	case "":
		c.fail(where, "no type")
	}
}

func (c *limitChecker) count(n, max int, where string) {
	switch {
	case n == 0:
		c.fail(where, "no elements")
	case n > max:
		c.fail(where, "%d elements, limit %d", n, max)
	}
}

func (c *limitChecker) id(id, where string, seen map[string]bool) {
	if id == "" {
		return
	}
	if n := utf8.RuneCountInString(id); n > maxID {
		c.fail(where, "%d characters, limit %d", n, maxID)
	}
	if seen[id] {
		c.fail(where, "%q is used twice", id)
	}
	seen[id] = true
}

func (c *limitChecker) text(t *textObj, where string, max int, plainOnly bool) {
	if t.Type != "plain_text" && (plainOnly || t.Type != "mrkdwn") {
		c.fail(where, "text type %q not allowed here", t.Type)
	}
	n := utf8.RuneCountInString(t.Text)
	switch {
	case n == 0:
		c.fail(where, "empty text")
	case n > max:
		c.fail(where, "%d characters, limit %d", n, max)
	}
}

func (c *limitChecker) element(raw json.RawMessage, where string) {
	var e rawElement
	if err := json.Unmarshal(raw, &e); err != nil {
		c.fail(where, "not an element object")
		return
	}
	c.id(e.ActionID, where+".action_id", c.actionIDs)
	if e.Type != "button" {
		return
	}
	if e.Text == nil {
		c.fail(where, "button without text")
	} else {
		c.text(e.Text, where+".text", maxButtonText, true)
	}
	if n := utf8.RuneCountInString(e.Value); n > maxButtonValue {
		c.fail(where+".value", "%d characters, limit %d", n, maxButtonValue)
	}
	if n := utf8.RuneCountInString(e.URL); n > maxButtonURL {
		c.fail(where+".url", "%d characters, limit %d", n, maxButtonURL)
	}
}
