package slackemu

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	maxModalTitle      = 24
	maxPrivateMetadata = 3000
	maxViewStack       = 3
	triggerCodeUnknown = "invalid_trigger_id"
	triggerCodeExpired = "expired_trigger_id"
	triggerCodeReused  = "exchanged_trigger_id"
)

type trigger struct {
	user     string
	issuedAt time.Time
	used     bool
}

// View is a modal the bot opened, as the emulator currently holds it.
type View struct {
	ID              string
	ExternalID      string
	CallbackID      string
	PrivateMetadata string
	Hash            string
	UserID          string
	RootViewID      string
	PreviousViewID  string
	Title           string
	Blocks          json.RawMessage
	// JSON is the full view object as views.* return it.
	JSON json.RawMessage
	// Open is false once the user submitted or the bot cleared it.
	Open     bool
	OpenedAt time.Time
	// OpenedVia is views.open, views.push or response_action.
	OpenedVia string
	// Updates counts views.update calls and response_action updates.
	Updates int
	// Errors holds the last response_action "errors" answer, if any.
	Errors map[string]string
}

type viewState struct {
	View
	def map[string]json.RawMessage // the view definition the bot sent
}

// IssueTrigger returns a fresh trigger_id for a user, as Slack puts in an
// interaction payload.
func (s *Server) IssueTrigger(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTriggerLocked(userID, time.Now())
}

func (s *Server) issueTriggerLocked(userID string, now time.Time) string {
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", now.Unix(), s.seq, randomHex(16))
	s.triggers[id] = &trigger{user: userID, issuedAt: now}
	return id
}

// exchangeTriggerLocked spends a trigger_id; it works once, within the TTL.
func (s *Server) exchangeTriggerLocked(id string, now time.Time) (*trigger, string) {
	t, ok := s.triggers[id]
	switch {
	case id == "" || !ok:
		return nil, triggerCodeUnknown
	case t.used:
		return nil, triggerCodeReused
	case now.Sub(t.issuedAt) > s.opts.TriggerTTL:
		return nil, triggerCodeExpired
	}
	t.used = true
	return t, ""
}

// parseModal decodes and validates a modal definition.
func parseModal(raw string) (map[string]json.RawMessage, reply) {
	var def map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &def); err != nil || def == nil {
		return nil, failure("invalid_arguments", "[ERROR] failed to match all allowed schemas [json-pointer:/view]")
	}
	var msgs []string
	bad := func(ptr, format string, args ...any) {
		msgs = append(msgs, fmt.Sprintf("[ERROR] %s [json-pointer:/view%s]", fmt.Sprintf(format, args...), ptr))
	}
	var typ string
	_ = json.Unmarshal(def["type"], &typ)
	if typ != "modal" {
		bad("/type", "must be a valid enum value")
	}
	for _, key := range []string{"title", "submit", "close"} {
		raw, ok := def[key]
		if !ok || string(raw) == "null" {
			if key == "title" {
				bad("/title", "missing required field: title")
			}
			continue
		}
		var t textObject
		if err := json.Unmarshal(raw, &t); err != nil || t.Type != "plain_text" {
			bad("/"+key+"/type", "must be a valid enum value")
			continue
		}
		if n := utf8.RuneCountInString(t.Text); n == 0 || n > maxModalTitle {
			bad("/"+key+"/text", "must be less than %d characters", maxModalTitle+1)
		}
	}
	var pm string
	_ = json.Unmarshal(def["private_metadata"], &pm)
	if utf8.RuneCountInString(pm) > maxPrivateMetadata {
		bad("/private_metadata", "must be less than %d characters", maxPrivateMetadata+1)
	}
	blocks := def["blocks"]
	if len(blocks) == 0 {
		blocks = json.RawMessage("[]")
	}
	msgs = append(msgs, validateBlocks(blocks, "/view/blocks", maxModalBlocks)...)
	if _, hasSubmit := def["submit"]; !hasSubmit && hasInputBlock(blocks) {
		bad("/submit", "must provide submit if using input blocks")
	}
	if len(msgs) > 0 {
		return nil, failure("invalid_arguments", msgs...)
	}
	norm, err := normalizeBlocks(blocks)
	if err != nil {
		return nil, failure("invalid_arguments")
	}
	def["blocks"] = norm
	return def, nil
}

func hasInputBlock(blocks json.RawMessage) bool {
	var bs []rawBlock
	_ = json.Unmarshal(blocks, &bs)
	for _, b := range bs {
		if b.Type == "input" {
			return true
		}
	}
	return false
}

func defString(def map[string]json.RawMessage, key string) string {
	var v string
	_ = json.Unmarshal(def[key], &v)
	return v
}

// setDefLocked installs a (new) definition on a view and rebuilds the
// fields and JSON derived from it.
func (s *Server) setDefLocked(v *viewState, def map[string]json.RawMessage, now time.Time) {
	v.def = def
	v.CallbackID = defString(def, "callback_id")
	v.PrivateMetadata = defString(def, "private_metadata")
	v.ExternalID = defString(def, "external_id")
	v.Blocks = def["blocks"]
	var title textObject
	_ = json.Unmarshal(def["title"], &title)
	v.Title = title.Text
	v.Hash = strconv.FormatInt(now.Unix(), 10) + "." + randomHex(4)
	v.JSON = s.viewJSON(v)
}

func (s *Server) viewJSON(v *viewState) json.RawMessage {
	out := map[string]any{}
	for k, raw := range v.def {
		out[k] = raw
	}
	out["id"] = v.ID
	out["team_id"] = s.opts.TeamID
	out["state"] = map[string]any{"values": map[string]any{}}
	out["hash"] = v.Hash
	out["root_view_id"] = v.RootViewID
	if v.PreviousViewID != "" {
		out["previous_view_id"] = v.PreviousViewID
	} else {
		out["previous_view_id"] = nil
	}
	out["app_id"] = s.opts.AppID
	out["app_installed_team_id"] = s.opts.TeamID
	out["bot_id"] = s.opts.BotID
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	for _, k := range []string{"clear_on_close", "notify_on_close"} {
		if _, ok := out[k]; !ok {
			out[k] = false
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// openViewLocked creates a view on top of the user's modal stack.
func (s *Server) openViewLocked(user string, def map[string]json.RawMessage, via string, push bool, now time.Time) *viewState {
	v := &viewState{View: View{ID: s.nextIDLocked("V"), UserID: user, Open: true, OpenedAt: now, OpenedVia: via}}
	stack := s.stacks[user]
	if push && len(stack) > 0 {
		v.RootViewID = stack[0]
		v.PreviousViewID = stack[len(stack)-1]
	} else {
		// Opening a new modal replaces whatever the user had open.
		for _, id := range stack {
			s.views[id].Open = false
		}
		stack = nil
		v.RootViewID = v.ID
	}
	s.stacks[user] = append(stack, v.ID)
	s.setDefLocked(v, def, now)
	s.views[v.ID] = v
	s.viewOrder = append(s.viewOrder, v.ID)
	return v
}

// closeViewLocked closes a view and everything pushed on top of it; with
// all set it closes the whole stack.
func (s *Server) closeViewLocked(v *viewState, all bool) {
	stack := s.stacks[v.UserID]
	keep := len(stack)
	for i, id := range stack {
		if id == v.ID {
			keep = i
		}
	}
	if all {
		keep = 0
	}
	for _, id := range stack[keep:] {
		s.views[id].Open = false
	}
	v.Open = false
	s.stacks[v.UserID] = stack[:keep]
}

func (s *Server) viewsOpen(r *apiRequest) reply {
	t, code := s.exchangeTriggerLocked(r.params.Get("trigger_id"), r.now)
	if code != "" {
		return failure(code)
	}
	def, fail := parseModal(r.params.Get("view"))
	if fail != nil {
		return fail
	}
	if fail := s.checkExternalIDLocked(def, ""); fail != nil {
		return fail
	}
	v := s.openViewLocked(t.user, def, "views.open", false, r.now)
	return reply{"view": v.JSON}
}

func (s *Server) viewsPush(r *apiRequest) reply {
	t, code := s.exchangeTriggerLocked(r.params.Get("trigger_id"), r.now)
	if code != "" {
		return failure(code)
	}
	if len(s.stacks[t.user]) == 0 {
		return failure("invalid_arguments", "[ERROR] no open view to push onto [json-pointer:/trigger_id]")
	}
	if len(s.stacks[t.user]) >= maxViewStack {
		return failure("push_limit_reached")
	}
	def, fail := parseModal(r.params.Get("view"))
	if fail != nil {
		return fail
	}
	if fail := s.checkExternalIDLocked(def, ""); fail != nil {
		return fail
	}
	v := s.openViewLocked(t.user, def, "views.push", true, r.now)
	return reply{"view": v.JSON}
}

func (s *Server) checkExternalIDLocked(def map[string]json.RawMessage, self string) reply {
	ext := defString(def, "external_id")
	if ext == "" {
		return nil
	}
	for _, v := range s.views {
		if v.ExternalID == ext && v.ID != self {
			return failure("duplicate_external_id")
		}
	}
	return nil
}

func (s *Server) viewsUpdate(r *apiRequest) reply {
	var v *viewState
	if id := r.params.Get("view_id"); id != "" {
		v = s.views[id]
	} else if ext := r.params.Get("external_id"); ext != "" {
		for _, cand := range s.views {
			if cand.ExternalID == ext {
				v = cand
			}
		}
	} else {
		return failure("invalid_arguments", "[ERROR] view_id or external_id is required [json-pointer:/view_id]")
	}
	if v == nil {
		return failure("not_found")
	}
	if h := r.params.Get("hash"); h != "" && h != v.Hash {
		return failure("hash_conflict")
	}
	def, fail := parseModal(r.params.Get("view"))
	if fail != nil {
		return fail
	}
	if fail := s.checkExternalIDLocked(def, v.ID); fail != nil {
		return fail
	}
	s.setDefLocked(v, def, r.now)
	v.Updates++
	return reply{"view": v.JSON}
}

func copyView(v *viewState) View {
	out := v.View
	if v.Errors != nil {
		out.Errors = make(map[string]string, len(v.Errors))
		for k, e := range v.Errors {
			out.Errors[k] = e
		}
	}
	return out
}

// Views returns every view the bot opened or pushed, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, id := range s.viewOrder {
		out = append(out, copyView(s.views[id]))
	}
	return out
}

// View returns one view by ID.
func (s *Server) View(id string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.views[id]
	if !ok {
		return View{}, false
	}
	return copyView(v), true
}
