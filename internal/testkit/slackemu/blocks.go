package slackemu

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit limits Slack enforces; a bot that breaks one gets
// invalid_blocks (messages) or invalid_arguments (views) in production, so
// the emulator refuses the same payloads.
const (
	maxMessageBlocks   = 50
	maxModalBlocks     = 100
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxURL             = 3000
	maxID              = 255
	maxActionsElements = 25
	maxContextElements = 10
	maxLabelText       = 2000
	maxOptions         = 100
)

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type rawBlock struct {
	Type      string            `json:"type"`
	BlockID   string            `json:"block_id"`
	Text      *textObject       `json:"text"`
	Fields    []textObject      `json:"fields"`
	Accessory json.RawMessage   `json:"accessory"`
	Elements  []json.RawMessage `json:"elements"`
	Element   json.RawMessage   `json:"element"`
	Label     *textObject       `json:"label"`
}

type rawElement struct {
	Type     string            `json:"type"`
	ActionID string            `json:"action_id"`
	Text     *textObject       `json:"text"`
	Value    *string           `json:"value"`
	URL      string            `json:"url"`
	Style    string            `json:"style"`
	Options  []json.RawMessage `json:"options"`
}

// normalizeBlocks fills in a block_id wherever the sender left it out, as
// Slack does; those IDs then show up in interaction payloads.
func normalizeBlocks(raw json.RawMessage) (json.RawMessage, error) {
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("decode blocks: %w", err)
	}
	if blocks == nil {
		return json.RawMessage("[]"), nil
	}
	for _, b := range blocks {
		if b == nil {
			continue
		}
		if id, ok := b["block_id"]; !ok || string(id) == `""` {
			b["block_id"], _ = json.Marshal(randomHex(3)[:5])
		}
	}
	out, err := json.Marshal(blocks)
	if err != nil {
		return nil, fmt.Errorf("encode blocks: %w", err)
	}
	return out, nil
}

type blockValidator struct {
	msgs      []string
	blockIDs  map[string]bool
	actionIDs map[string]bool
}

func (v *blockValidator) fail(ptr, format string, args ...any) {
	v.msgs = append(v.msgs, fmt.Sprintf("[ERROR] %s [json-pointer:%s]", fmt.Sprintf(format, args...), ptr))
}

// validateBlocks checks a block array against Slack's limits and returns
// Slack-style error messages, empty when the blocks are acceptable.
func validateBlocks(raw json.RawMessage, ptr string, maxBlocks int) []string {
	v := &blockValidator{blockIDs: map[string]bool{}, actionIDs: map[string]bool{}}
	var blocks []json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		v.fail(ptr, "must be an array")
		return v.msgs
	}
	if len(blocks) > maxBlocks {
		v.fail(ptr, "no more than %d items allowed", maxBlocks)
	}
	for i, b := range blocks {
		v.block(b, fmt.Sprintf("%s/%d", ptr, i))
	}
	return v.msgs
}

func (v *blockValidator) block(raw json.RawMessage, ptr string) {
	var b rawBlock
	if err := json.Unmarshal(raw, &b); err != nil {
		v.fail(ptr, "must be an object")
		return
	}
	if b.BlockID != "" {
		if utf8.RuneCountInString(b.BlockID) > maxID {
			v.fail(ptr+"/block_id", "must be less than %d characters", maxID+1)
		}
		if v.blockIDs[b.BlockID] {
			v.fail(ptr+"/block_id", "duplicate block_id")
		}
		v.blockIDs[b.BlockID] = true
	}
	switch b.Type {
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			v.fail(ptr, "must provide either text or fields")
		}
		if b.Text != nil {
			v.text(b.Text, ptr+"/text", maxSectionText, false)
		}
		if len(b.Fields) > maxSectionFields {
			v.fail(ptr+"/fields", "no more than %d items allowed", maxSectionFields)
		}
		for i := range b.Fields {
			v.text(&b.Fields[i], fmt.Sprintf("%s/fields/%d", ptr, i), maxFieldText, false)
		}
		if len(b.Accessory) > 0 {
			v.element(b.Accessory, ptr+"/accessory")
		}
	case "header":
		if b.Text == nil {
			v.fail(ptr+"/text", "missing required field: text")
		} else {
			v.text(b.Text, ptr+"/text", maxHeaderText, true)
		}
	case "actions":
		v.count(len(b.Elements), maxActionsElements, ptr+"/elements")
		for i, e := range b.Elements {
			v.element(e, fmt.Sprintf("%s/elements/%d", ptr, i))
		}
	case "context":
		v.count(len(b.Elements), maxContextElements, ptr+"/elements")
	case "input":
		if b.Label == nil {
			v.fail(ptr+"/label", "missing required field: label")
		} else {
			v.text(b.Label, ptr+"/label", maxLabelText, true)
		}
		if len(b.Element) == 0 {
			v.fail(ptr+"/element", "missing required field: element")
		} else {
			v.element(b.Element, ptr+"/element")
		}
	case "divider", "image", "rich_text", "file", "video", "markdown", "table", "context_actions":
	case "":
		v.fail(ptr+"/type", "missing required field: type")
	default:
		v.fail(ptr+"/type", "unsupported block type: %s", b.Type)
	}
}

func (v *blockValidator) count(n, max int, ptr string) {
	switch {
	case n == 0:
		v.fail(ptr, "must provide at least 1 item")
	case n > max:
		v.fail(ptr, "no more than %d items allowed", max)
	}
}

func (v *blockValidator) text(t *textObject, ptr string, max int, plainOnly bool) {
	switch {
	case t.Type == "plain_text":
	case t.Type == "mrkdwn" && !plainOnly:
	default:
		v.fail(ptr+"/type", "must be a valid enum value")
	}
	n := utf8.RuneCountInString(t.Text)
	if n == 0 {
		v.fail(ptr+"/text", "must be more than 0 characters")
	}
	if n > max {
		v.fail(ptr+"/text", "must be less than %d characters", max+1)
	}
}

func (v *blockValidator) element(raw json.RawMessage, ptr string) {
	var e rawElement
	if err := json.Unmarshal(raw, &e); err != nil {
		v.fail(ptr, "must be an object")
		return
	}
	if e.ActionID != "" {
		if utf8.RuneCountInString(e.ActionID) > maxID {
			v.fail(ptr+"/action_id", "must be less than %d characters", maxID+1)
		}
		if v.actionIDs[e.ActionID] {
			v.fail(ptr+"/action_id", "duplicate action_id")
		}
		v.actionIDs[e.ActionID] = true
	}
	if len(e.Options) > maxOptions {
		v.fail(ptr+"/options", "no more than %d items allowed", maxOptions)
	}
	if e.Type != "button" {
		return
	}
	if e.Text == nil {
		v.fail(ptr+"/text", "missing required field: text")
	} else {
		v.text(e.Text, ptr+"/text", maxButtonText, true)
	}
	if e.Value != nil && utf8.RuneCountInString(*e.Value) > maxButtonValue {
		v.fail(ptr+"/value", "must be less than %d characters", maxButtonValue+1)
	}
	if utf8.RuneCountInString(e.URL) > maxURL {
		v.fail(ptr+"/url", "must be less than %d characters", maxURL+1)
	}
	switch e.Style {
	case "", "primary", "danger":
	default:
		v.fail(ptr+"/style", "must be a valid enum value")
	}
}
