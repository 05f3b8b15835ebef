package slackemu

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// verificationToken is the deprecated per-app token Slack still puts in
// payloads; Socket Mode apps must not rely on it.
const verificationToken = "emulator-verification-token"

// SlashCommand is a user running a slash command.
type SlashCommand struct {
	Command   string // for example "/secops"
	Text      string
	UserID    string
	TeamID    string // defaults to the user's team
	ChannelID string
	// ResponseURL and TriggerID are issued by the emulator when empty.
	ResponseURL string
	TriggerID   string
}

// BlockAction is a user pressing a button in a message the bot posted.
type BlockAction struct {
	UserID    string
	TeamID    string // defaults to the user's team
	ChannelID string
	MessageTS string
	ActionID  string
	// BlockID narrows the search when an action_id appears in several
	// blocks; when empty the block holding ActionID is used.
	BlockID string
	// Value overrides the button's value, to model a forged payload; when
	// empty the value stored in the message is sent, as Slack does.
	Value string
}

// ViewSubmission is a user submitting a modal.
type ViewSubmission struct {
	UserID string // defaults to the user the view was opened for
	TeamID string // defaults to the user's team
	// ViewID selects the view; when empty the latest open view with
	// CallbackID is used.
	ViewID     string
	CallbackID string
	// PrivateMetadata overrides the stored private_metadata, to model a
	// forged payload; when empty the stored value is sent.
	PrivateMetadata string
	// Values holds what the user entered, by block_id then action_id. For
	// selects the value is an option's value; for multi-selects and
	// checkboxes several values are separated by commas.
	Values map[string]map[string]string
}

func (s *Server) teamOfLocked(userID, team string) string {
	if team != "" {
		return team
	}
	if u, ok := s.users[userID]; ok {
		return u.TeamID
	}
	return s.opts.TeamID
}

func (s *Server) userNameLocked(userID string) string {
	if u, ok := s.users[userID]; ok {
		return u.Name
	}
	return strings.ToLower(userID)
}

func (s *Server) wireActorLocked(userID, team string) map[string]any {
	name := s.userNameLocked(userID)
	return map[string]any{"id": userID, "username": name, "name": name, "team_id": team}
}

// SendSlashCommand delivers a slash_commands envelope and waits for the
// ack. A text or blocks payload in the ack is shown the way Slack shows it:
// to the user alone, or in the channel with "response_type":"in_channel".
func (s *Server) SendSlashCommand(ctx context.Context, cmd SlashCommand) (Ack, error) {
	now := time.Now()
	s.mu.Lock()
	team := s.teamOfLocked(cmd.UserID, cmd.TeamID)
	if cmd.TriggerID == "" {
		cmd.TriggerID = s.issueTriggerLocked(cmd.UserID, now)
	}
	if cmd.ResponseURL == "" {
		cmd.ResponseURL = s.newHookLocked(&hook{kind: "commands", channel: cmd.ChannelID, user: cmd.UserID}, now)
	}
	channelName := cmd.ChannelID
	if c, ok := s.channels[cmd.ChannelID]; ok {
		channelName = c.Name
		if c.isIM {
			channelName = "directmessage"
		}
	}
	payload := map[string]any{
		"token":                 verificationToken,
		"team_id":               team,
		"team_domain":           s.opts.TeamDomain,
		"channel_id":            cmd.ChannelID,
		"channel_name":          channelName,
		"user_id":               cmd.UserID,
		"user_name":             s.userNameLocked(cmd.UserID),
		"command":               cmd.Command,
		"text":                  cmd.Text,
		"api_app_id":            s.opts.AppID,
		"is_enterprise_install": "false",
		"response_url":          cmd.ResponseURL,
		"trigger_id":            cmd.TriggerID,
	}
	s.mu.Unlock()

	return s.send(ctx, EnvelopeSlashCommands, payload, func(a Ack) {
		s.showAckReplyLocked(cmd, a)
	})
}

func (s *Server) showAckReplyLocked(cmd SlashCommand, a Ack) {
	if a.Payload == nil {
		return
	}
	var body struct {
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
		ResponseType string          `json:"response_type"`
	}
	if err := json.Unmarshal(a.Payload, &body); err != nil || (body.Text == "" && len(body.Blocks) == 0) {
		return
	}
	if body.ResponseType == "in_channel" {
		if _, ok := s.channels[cmd.ChannelID]; ok {
			s.postLocked(cmd.ChannelID, content{text: body.Text, blocks: body.Blocks}, "", false, "ack", a.At)
		}
		return
	}
	s.ephemerals = append(s.ephemerals, &Ephemeral{
		Channel: cmd.ChannelID, User: cmd.UserID, TS: s.nextTSLocked(a.At), Text: body.Text, Blocks: body.Blocks, At: a.At, Via: "ack",
	})
}

// ClickButton delivers a block_actions interaction for a button in a stored
// message (or ephemeral message) and waits for the ack. The payload carries
// the message as currently stored, a fresh trigger_id and a response_url.
func (s *Server) ClickButton(ctx context.Context, a BlockAction) (Ack, error) {
	now := time.Now()
	s.mu.Lock()
	var (
		blocks    json.RawMessage
		message   map[string]any
		threadTS  string
		ephemeral bool
	)
	if m := s.findMessageLocked(a.ChannelID, a.MessageTS); m != nil && !m.Deleted {
		blocks, message, threadTS = m.Blocks, s.wireMessage(m), m.ThreadTS
	} else if e := s.findEphemeralLocked(a.ChannelID, a.MessageTS, a.UserID); e != nil {
		blocks, threadTS, ephemeral = e.Blocks, e.ThreadTS, true
	} else {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("click %s: message %s in %s: %w", a.ActionID, a.MessageTS, a.ChannelID, ErrNotFound)
	}
	button, blockID, err := findButton(blocks, a.BlockID, a.ActionID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("click %s in message %s: %w", a.ActionID, a.MessageTS, err)
	}
	team := s.teamOfLocked(a.UserID, a.TeamID)
	value := a.Value
	if value == "" && button.Value != nil {
		value = *button.Value
	}
	action := map[string]any{
		"type":      "button",
		"action_id": a.ActionID,
		"block_id":  blockID,
		"text":      button.Text,
		"value":     value,
		"action_ts": s.tsAt(now),
	}
	if button.Style != "" {
		action["style"] = button.Style
	}
	container := map[string]any{
		"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID, "is_ephemeral": ephemeral,
	}
	if threadTS != "" {
		container["thread_ts"] = threadTS
	}
	channelName := a.ChannelID
	if c, ok := s.channels[a.ChannelID]; ok {
		channelName = c.Name
	}
	payload := map[string]any{
		"type":                  "block_actions",
		"user":                  s.wireActorLocked(a.UserID, team),
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"container":             container,
		"trigger_id":            s.issueTriggerLocked(a.UserID, now),
		"team":                  map[string]any{"id": team, "domain": s.opts.TeamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": a.ChannelID, "name": channelName},
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url": s.newHookLocked(&hook{
			kind: "actions", channel: a.ChannelID, user: a.UserID, messageTS: a.MessageTS, ephemeral: ephemeral,
		}, now),
		"actions": []any{action},
	}
	if message != nil {
		payload["message"] = message
	}
	s.mu.Unlock()
	return s.send(ctx, EnvelopeInteractive, payload, nil)
}

func (s *Server) findEphemeralLocked(channel, ts, user string) *Ephemeral {
	for _, e := range s.ephemerals {
		if e.Channel == channel && e.TS == ts && (user == "" || e.User == user) && !e.Replaced {
			return e
		}
	}
	return nil
}

// findButton locates a button by action_id (and block_id when given) in
// actions blocks and section accessories.
func findButton(blocks json.RawMessage, blockID, actionID string) (rawElement, string, error) {
	var bs []rawBlock
	if err := json.Unmarshal(blocks, &bs); err != nil || len(bs) == 0 {
		return rawElement{}, "", fmt.Errorf("message has no blocks: %w", ErrNotFound)
	}
	for _, b := range bs {
		if blockID != "" && b.BlockID != blockID {
			continue
		}
		candidates := b.Elements
		if len(b.Accessory) > 0 {
			candidates = append(candidates, b.Accessory)
		}
		for _, raw := range candidates {
			var e rawElement
			if json.Unmarshal(raw, &e) != nil || e.ActionID != actionID {
				continue
			}
			if e.Type != "button" {
				return rawElement{}, "", fmt.Errorf("action %s is a %s, not a button", actionID, e.Type)
			}
			return e, b.BlockID, nil
		}
	}
	return rawElement{}, "", fmt.Errorf("button %q (block %q): %w", actionID, blockID, ErrNotFound)
}

// SubmitView delivers a view_submission for an open modal and waits for
// the ack, then applies the ack's response_action as Slack would: none
// closes the view, "clear" closes the stack, "update" replaces it, "push"
// pushes a new view and "errors" keeps it open with the errors recorded.
func (s *Server) SubmitView(ctx context.Context, sub ViewSubmission) (Ack, error) {
	now := time.Now()
	s.mu.Lock()
	v := s.views[sub.ViewID]
	if sub.ViewID == "" {
		for i := len(s.viewOrder) - 1; i >= 0; i-- {
			if cand := s.views[s.viewOrder[i]]; cand.Open && cand.CallbackID == sub.CallbackID {
				v = cand
				break
			}
		}
	}
	if v == nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("submit view %q (callback %q): %w", sub.ViewID, sub.CallbackID, ErrNotFound)
	}
	if !v.Open {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("submit view %s: view is closed: %w", v.ID, ErrNotFound)
	}
	user := sub.UserID
	if user == "" {
		user = v.UserID
	}
	if user != v.UserID {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("submit view %s: opened for %s, not %s", v.ID, v.UserID, user)
	}
	state, err := submissionState(v.Blocks, sub.Values)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("submit view %s: %w", v.ID, err)
	}
	view := map[string]json.RawMessage{}
	_ = json.Unmarshal(v.JSON, &view)
	view["state"], _ = json.Marshal(map[string]any{"values": state})
	if sub.PrivateMetadata != "" {
		view["private_metadata"], _ = json.Marshal(sub.PrivateMetadata)
	}
	team := s.teamOfLocked(user, sub.TeamID)
	payload := map[string]any{
		"type":                  "view_submission",
		"team":                  map[string]any{"id": team, "domain": s.opts.TeamDomain},
		"user":                  s.wireActorLocked(user, team),
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"trigger_id":            s.issueTriggerLocked(user, now),
		"view":                  view,
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	}
	s.mu.Unlock()
	return s.send(ctx, EnvelopeInteractive, payload, func(a Ack) {
		s.applyResponseActionLocked(v, a)
	})
}

func (s *Server) applyResponseActionLocked(v *viewState, a Ack) {
	var resp struct {
		ResponseAction string            `json:"response_action"`
		View           json.RawMessage   `json:"view"`
		Errors         map[string]string `json:"errors"`
	}
	if a.Payload != nil {
		_ = json.Unmarshal(a.Payload, &resp)
	}
	switch resp.ResponseAction {
	case "errors":
		v.Errors = resp.Errors
	case "clear":
		s.closeViewLocked(v, true)
	case "update":
		if def, fail := parseModal(string(resp.View)); fail == nil {
			s.setDefLocked(v, def, a.At)
			v.Updates++
			v.Errors = nil
		}
	case "push":
		if def, fail := parseModal(string(resp.View)); fail == nil && len(s.stacks[v.UserID]) < maxViewStack {
			s.openViewLocked(v.UserID, def, "response_action", true, a.At)
		}
	default:
		s.closeViewLocked(v, false)
	}
}

// submissionState builds view.state.values from the user's input, in the shape
// each element type has in a real payload. Inputs the user skipped are
// sent empty; a required one, or a value for an element the view does not
// have, is an error because Slack's client would not allow it.
func submissionState(blocks json.RawMessage, values map[string]map[string]string) (map[string]map[string]any, error) {
	var bs []struct {
		Type     string          `json:"type"`
		BlockID  string          `json:"block_id"`
		Optional bool            `json:"optional"`
		Element  json.RawMessage `json:"element"`
	}
	_ = json.Unmarshal(blocks, &bs)
	state := map[string]map[string]any{}
	seen := map[string]bool{}
	for _, b := range bs {
		if b.Type != "input" {
			continue
		}
		var el struct {
			Type         string            `json:"type"`
			ActionID     string            `json:"action_id"`
			Options      []json.RawMessage `json:"options"`
			OptionGroups []struct {
				Options []json.RawMessage `json:"options"`
			} `json:"option_groups"`
		}
		if err := json.Unmarshal(b.Element, &el); err != nil {
			continue
		}
		for _, g := range el.OptionGroups {
			el.Options = append(el.Options, g.Options...)
		}
		val, given := values[b.BlockID][el.ActionID]
		seen[b.BlockID+"\x00"+el.ActionID] = given
		if (!given || val == "") && !b.Optional {
			return nil, fmt.Errorf("required input %s/%s has no value", b.BlockID, el.ActionID)
		}
		entry, err := stateEntry(el.Type, el.Options, val)
		if err != nil {
			return nil, fmt.Errorf("input %s/%s: %w", b.BlockID, el.ActionID, err)
		}
		state[b.BlockID] = map[string]any{el.ActionID: entry}
	}
	for blockID, actions := range values {
		for actionID := range actions {
			if _, ok := seen[blockID+"\x00"+actionID]; !ok {
				return nil, fmt.Errorf("view has no input %s/%s: %w", blockID, actionID, ErrNotFound)
			}
		}
	}
	return state, nil
}

func stateEntry(typ string, options []json.RawMessage, val string) (map[string]any, error) {
	entry := map[string]any{"type": typ}
	var list []string
	if val != "" {
		for _, part := range strings.Split(val, ",") {
			list = append(list, strings.TrimSpace(part))
		}
	}
	option := func(v string) (json.RawMessage, error) {
		for _, raw := range options {
			var o struct {
				Value string `json:"value"`
			}
			if json.Unmarshal(raw, &o) == nil && o.Value == v {
				return raw, nil
			}
		}
		if typ == "external_select" || typ == "multi_external_select" {
			return json.Marshal(map[string]any{"text": map[string]any{"type": "plain_text", "text": v}, "value": v})
		}
		return nil, fmt.Errorf("no option with value %q: %w", v, ErrNotFound)
	}
	nullable := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	switch typ {
	case "static_select", "external_select", "radio_buttons":
		entry["selected_option"] = nil
		if val != "" {
			o, err := option(val)
			if err != nil {
				return nil, err
			}
			entry["selected_option"] = o
		}
	case "multi_static_select", "multi_external_select", "checkboxes":
		opts := []json.RawMessage{}
		for _, v := range list {
			o, err := option(v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, o)
		}
		entry["selected_options"] = opts
	case "users_select":
		entry["selected_user"] = nullable(val)
	case "multi_users_select":
		entry["selected_users"] = append([]string{}, list...)
	case "conversations_select":
		entry["selected_conversation"] = nullable(val)
	case "multi_conversations_select":
		entry["selected_conversations"] = append([]string{}, list...)
	case "channels_select":
		entry["selected_channel"] = nullable(val)
	case "multi_channels_select":
		entry["selected_channels"] = append([]string{}, list...)
	case "datepicker":
		entry["selected_date"] = nullable(val)
	case "timepicker":
		entry["selected_time"] = nullable(val)
	default:
		entry["value"] = nullable(val)
	}
	return entry, nil
}

// SendEvent delivers an Events API envelope wrapping event (for example an
// app_mention) and waits for the ack, redelivering it while unacknowledged.
// It returns the ack and the event_id the payload carried.
func (s *Server) SendEvent(ctx context.Context, event any) (Ack, string, error) {
	raw, ok := event.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(event); err != nil {
			return Ack{}, "", fmt.Errorf("encode event: %w", err)
		}
	}
	now := time.Now()
	s.mu.Lock()
	eventID := s.nextIDLocked("Ev")
	payload := map[string]any{
		"token":      verificationToken,
		"team_id":    s.opts.TeamID,
		"api_app_id": s.opts.AppID,
		"event":      raw,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": now.Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": s.opts.TeamID, "user_id": s.opts.BotUserID,
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + randomHex(12),
	}
	s.mu.Unlock()
	ack, err := s.send(ctx, EnvelopeEventsAPI, payload, nil)
	return ack, eventID, err
}
