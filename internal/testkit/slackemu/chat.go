package slackemu

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxTextRunes is where Slack cuts a message's text.
const maxTextRunes = 40000

// Message is a channel message as the emulator currently holds it.
type Message struct {
	Channel string
	TS      string
	// ThreadTS is the parent's ts for a thread reply, empty for a
	// top-level message.
	ThreadTS    string
	User        string
	BotID       string
	Text        string
	Blocks      json.RawMessage
	Attachments json.RawMessage
	Metadata    json.RawMessage
	Broadcast   bool
	Deleted     bool
	ReplyCount  int
	PostedAt    time.Time
	// Via names what created the message: chat.postMessage, response_url
	// or ack (a slash command answered in its acknowledgement).
	Via string
	// Edits holds the earlier versions, oldest first; the fields above are
	// the current one.
	Edits []Revision
}

// Revision is an earlier version of an edited message.
type Revision struct {
	Text        string
	Blocks      json.RawMessage
	Attachments json.RawMessage
	// ReplacedAt is when this version was replaced, and Via by what
	// (chat.update or response_url).
	ReplacedAt time.Time
	Via        string
}

// Ephemeral is a message only one user saw.
type Ephemeral struct {
	Channel  string
	User     string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	At       time.Time
	// Via is chat.postEphemeral, response_url or ack.
	Via string
	// Replaced is set when a later response_url post replaced it.
	Replaced bool
}

// Scheduled is a message queued with chat.scheduleMessage.
type Scheduled struct {
	ID        string
	Channel   string
	ThreadTS  string
	Text      string
	Blocks    json.RawMessage
	PostAt    time.Time
	CreatedAt time.Time
}

// content is the visible part of a message request.
type content struct {
	text        string
	blocks      json.RawMessage
	attachments json.RawMessage
	metadata    json.RawMessage
	hasText     bool
	hasBlocks   bool
	hasAttach   bool
}

func (c content) empty() bool {
	return strings.TrimSpace(c.text) == "" && !c.nonEmptyJSON(c.blocks) && !c.nonEmptyJSON(c.attachments)
}

func (content) nonEmptyJSON(raw json.RawMessage) bool {
	var arr []json.RawMessage
	return json.Unmarshal(raw, &arr) == nil && len(arr) > 0
}

// parseContentLocked reads text, blocks and attachments the way Slack
// does: blocks must be a JSON array of valid blocks, text is cut at 40,000
// characters, and generated block_ids are filled in.
func (s *Server) parseContentLocked(p url.Values) (content, reply) {
	var c content
	if _, ok := p["text"]; ok {
		c.hasText = true
		c.text = truncateRunes(p.Get("text"), maxTextRunes)
	}
	if _, ok := p["blocks"]; ok {
		c.hasBlocks = true
		raw := json.RawMessage(p.Get("blocks"))
		blocks, err := normalizeBlocks(raw)
		if err != nil {
			return c, failure("invalid_blocks_format")
		}
		if msgs := validateBlocks(raw, "/blocks", maxMessageBlocks); len(msgs) > 0 {
			return c, failure("invalid_blocks", msgs...)
		}
		c.blocks = blocks
	}
	if _, ok := p["attachments"]; ok {
		c.hasAttach = true
		var arr []json.RawMessage
		if err := json.Unmarshal([]byte(p.Get("attachments")), &arr); err != nil {
			return c, failure("invalid_attachments")
		}
		if len(arr) > 100 {
			return c, failure("too_many_attachments")
		}
		c.attachments = json.RawMessage(p.Get("attachments"))
	}
	if md := p.Get("metadata"); md != "" && md != "{}" {
		if !json.Valid([]byte(md)) {
			return c, failure("invalid_metadata_format")
		}
		c.metadata = json.RawMessage(md)
	}
	return c, nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// postableChannelLocked resolves a channel the bot wants to write to.
func (s *Server) postableChannelLocked(ref string) (*channelState, string) {
	c := s.resolveChannelLocked(ref)
	switch {
	case c == nil:
		return nil, "channel_not_found"
	case c.IsPrivate && c.NotMember:
		// A private channel the bot is not in is invisible to it.
		return nil, "channel_not_found"
	case c.Archived:
		return nil, "is_archived"
	case c.NotMember:
		return nil, "not_in_channel"
	}
	return c, ""
}

func (s *Server) findMessageLocked(channel, ts string) *Message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// threadRootLocked maps a thread_ts to the thread's parent: Slack files a
// reply to a reply under the original parent.
func (s *Server) threadRootLocked(channel, threadTS string) (string, string) {
	if threadTS == "" {
		return "", ""
	}
	parent := s.findMessageLocked(channel, threadTS)
	if parent == nil || parent.Deleted {
		return "", "thread_not_found"
	}
	if parent.ThreadTS != "" {
		return parent.ThreadTS, ""
	}
	return parent.TS, ""
}

func (s *Server) postLocked(channel string, c content, threadTS string, broadcast bool, via string, now time.Time) *Message {
	m := &Message{
		Channel:     channel,
		TS:          s.nextTSLocked(now),
		ThreadTS:    threadTS,
		User:        s.opts.BotUserID,
		BotID:       s.opts.BotID,
		Text:        c.text,
		Blocks:      c.blocks,
		Attachments: c.attachments,
		Metadata:    c.metadata,
		Broadcast:   broadcast,
		PostedAt:    now,
		Via:         via,
	}
	if threadTS != "" {
		if parent := s.findMessageLocked(channel, threadTS); parent != nil {
			parent.ReplyCount++
		}
	}
	s.messages[channel] = append(s.messages[channel], m)
	return m
}

// editLocked applies an edit, keeping the previous version. Fields the
// edit does not mention are kept, as chat.update does.
func (s *Server) editLocked(m *Message, c content, via string, now time.Time) {
	m.Edits = append(m.Edits, Revision{Text: m.Text, Blocks: m.Blocks, Attachments: m.Attachments, ReplacedAt: now, Via: via})
	if c.hasText {
		m.Text = c.text
	}
	if c.hasBlocks {
		m.Blocks = c.blocks
	}
	if c.hasAttach {
		m.Attachments = c.attachments
	}
}

func (s *Server) wireMessage(m *Message) map[string]any {
	out := map[string]any{
		"type":   "message",
		"text":   m.Text,
		"user":   m.User,
		"bot_id": m.BotID,
		"app_id": s.opts.AppID,
		"team":   s.opts.TeamID,
		"ts":     m.TS,
		"bot_profile": map[string]any{
			"id": m.BotID, "app_id": s.opts.AppID, "name": "secops-bot", "team_id": s.opts.TeamID, "deleted": false,
		},
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	if len(m.Attachments) > 0 {
		out["attachments"] = m.Attachments
	}
	if len(m.Metadata) > 0 {
		out["metadata"] = m.Metadata
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
		out["parent_user_id"] = s.parentUserLocked(m)
	} else if m.ReplyCount > 0 {
		out["thread_ts"] = m.TS
		out["reply_count"] = m.ReplyCount
	}
	if n := len(m.Edits); n > 0 {
		out["edited"] = map[string]any{"user": m.User, "ts": s.tsAt(m.Edits[n-1].ReplacedAt)}
	}
	return out
}

func (s *Server) parentUserLocked(m *Message) string {
	if p := s.findMessageLocked(m.Channel, m.ThreadTS); p != nil {
		return p.User
	}
	return ""
}

// tsAt formats a time as a Slack ts without reserving it.
func (s *Server) tsAt(t time.Time) string {
	us := t.UnixMicro()
	return strconv.FormatInt(us/1_000_000, 10) + "." + strconv.FormatInt(1_000_000+us%1_000_000, 10)[1:]
}

func (s *Server) chatPostMessage(r *apiRequest) reply {
	c, code := s.postableChannelLocked(r.params.Get("channel"))
	if code != "" {
		return failure(code)
	}
	body, fail := s.parseContentLocked(r.params)
	if fail != nil {
		return fail
	}
	if body.empty() {
		return failure("no_text")
	}
	thread, code := s.threadRootLocked(c.ID, r.params.Get("thread_ts"))
	if code != "" {
		return failure(code)
	}
	m := s.postLocked(c.ID, body, thread, r.params.Get("reply_broadcast") == "true", "chat.postMessage", r.now)
	return reply{"channel": c.ID, "ts": m.TS, "message": s.wireMessage(m)}
}

func (s *Server) chatUpdate(r *apiRequest) reply {
	c := s.resolveChannelLocked(r.params.Get("channel"))
	if c == nil {
		return failure("channel_not_found")
	}
	if c.Archived {
		return failure("is_archived")
	}
	m := s.findMessageLocked(c.ID, r.params.Get("ts"))
	if m == nil || m.Deleted {
		return failure("message_not_found")
	}
	if m.BotID != s.opts.BotID {
		return failure("cant_update_message")
	}
	body, fail := s.parseContentLocked(r.params)
	if fail != nil {
		return fail
	}
	if !body.hasText && !body.hasBlocks && !body.hasAttach {
		return failure("no_text")
	}
	s.editLocked(m, body, "chat.update", r.now)
	return reply{"channel": c.ID, "ts": m.TS, "text": m.Text, "message": s.wireMessage(m)}
}

func (s *Server) chatDelete(r *apiRequest) reply {
	c := s.resolveChannelLocked(r.params.Get("channel"))
	if c == nil {
		return failure("channel_not_found")
	}
	m := s.findMessageLocked(c.ID, r.params.Get("ts"))
	if m == nil || m.Deleted {
		return failure("message_not_found")
	}
	if m.BotID != s.opts.BotID {
		return failure("cant_delete_message")
	}
	m.Deleted = true
	return reply{"channel": c.ID, "ts": m.TS}
}

func (s *Server) chatPostEphemeral(r *apiRequest) reply {
	c, code := s.postableChannelLocked(r.params.Get("channel"))
	if code != "" {
		return failure(code)
	}
	user := r.params.Get("user")
	if u, ok := s.users[user]; user == "" || (ok && u.Deleted) {
		return failure("user_not_in_channel")
	}
	body, fail := s.parseContentLocked(r.params)
	if fail != nil {
		return fail
	}
	if body.empty() {
		return failure("no_text")
	}
	e := &Ephemeral{
		Channel: c.ID, User: user, TS: s.nextTSLocked(r.now), ThreadTS: r.params.Get("thread_ts"),
		Text: body.text, Blocks: body.blocks, At: r.now, Via: "chat.postEphemeral",
	}
	s.ephemerals = append(s.ephemerals, e)
	return reply{"message_ts": e.TS}
}

func (s *Server) chatScheduleMessage(r *apiRequest) reply {
	c, code := s.postableChannelLocked(r.params.Get("channel"))
	if code != "" {
		return failure(code)
	}
	postAt, err := strconv.ParseInt(r.params.Get("post_at"), 10, 64)
	if err != nil {
		return failure("invalid_time")
	}
	at := time.Unix(postAt, 0)
	switch {
	case !at.After(r.now):
		return failure("time_in_past")
	case at.After(r.now.Add(120 * 24 * time.Hour)):
		return failure("time_too_far")
	}
	body, fail := s.parseContentLocked(r.params)
	if fail != nil {
		return fail
	}
	if body.empty() {
		return failure("no_text")
	}
	thread, code := s.threadRootLocked(c.ID, r.params.Get("thread_ts"))
	if code != "" {
		return failure(code)
	}
	sm := &Scheduled{
		ID: s.nextIDLocked("Q"), Channel: c.ID, ThreadTS: thread, Text: body.text, Blocks: body.blocks,
		PostAt: at, CreatedAt: r.now,
	}
	s.scheduled = append(s.scheduled, sm)
	msg := map[string]any{"type": "delayed_message", "text": sm.Text, "bot_id": s.opts.BotID, "user": s.opts.BotUserID, "team": s.opts.TeamID}
	if len(sm.Blocks) > 0 {
		msg["blocks"] = sm.Blocks
	}
	return reply{"channel": c.ID, "scheduled_message_id": sm.ID, "post_at": postAt, "message": msg}
}

func (s *Server) chatGetPermalink(r *apiRequest) reply {
	c := s.resolveChannelLocked(r.params.Get("channel"))
	if c == nil {
		return failure("channel_not_found")
	}
	m := s.findMessageLocked(c.ID, r.params.Get("message_ts"))
	if m == nil || m.Deleted {
		return failure("message_not_found")
	}
	link := "https://" + s.opts.TeamDomain + ".slack.com/archives/" + c.ID + "/p" + strings.ReplaceAll(m.TS, ".", "")
	if m.ThreadTS != "" {
		link += "?thread_ts=" + m.ThreadTS + "&cid=" + c.ID
	}
	return reply{"channel": c.ID, "permalink": link}
}

func copyMessage(m *Message) Message {
	out := *m
	out.Edits = append([]Revision(nil), m.Edits...)
	return out
}

// readParamsLocked reads what the conversations.* read methods share: the
// channel, which the bot must be a member of; limit, capped at most (and
// most when absent); and include_all_metadata. fail is the error answer.
func (s *Server) readParamsLocked(r *apiRequest, most int) (c *channelState, limit int, withMeta bool, fail reply) {
	c = s.resolveChannelLocked(r.params.Get("channel"))
	if c == nil {
		return nil, 0, false, failure("channel_not_found")
	}
	if c.NotMember {
		return nil, 0, false, failure("not_in_channel")
	}
	limit = most
	if v, err := strconv.Atoi(r.params.Get("limit")); err == nil && v > 0 && v < limit {
		limit = v
	}
	withMeta = r.params.Get("include_all_metadata") == "true" || r.params.Get("include_all_metadata") == "1"
	return c, limit, withMeta, nil
}

// conversationsHistory lists a channel's top-level messages newest first,
// those after oldest (a ts) when given, up to limit (default 100). Slack
// includes message metadata only when include_all_metadata is set.
func (s *Server) conversationsHistory(r *apiRequest) reply {
	c, limit, withMeta, fail := s.readParamsLocked(r, 100)
	if fail != nil {
		return fail
	}
	oldest := r.params.Get("oldest")
	msgs := s.messages[c.ID]
	var out []map[string]any
	for i := len(msgs) - 1; i >= 0 && len(out) < limit; i-- {
		m := msgs[i]
		if m.ThreadTS != "" || m.Deleted || (oldest != "" && m.TS <= oldest) {
			continue
		}
		w := s.wireMessage(m)
		if !withMeta {
			delete(w, "metadata")
		}
		out = append(out, w)
	}
	return reply{"messages": out, "has_more": false}
}

// conversationsReplies lists a thread, its parent first and then the
// replies oldest first, up to limit (default 1000, as Slack's maximum).
// Message metadata is included only when include_all_metadata is set.
func (s *Server) conversationsReplies(r *apiRequest) reply {
	c, limit, withMeta, fail := s.readParamsLocked(r, 1000)
	if fail != nil {
		return fail
	}
	ts := r.params.Get("ts")
	var out []map[string]any
	found := false
	for _, m := range s.messages[c.ID] {
		parent := m.TS == ts && m.ThreadTS == ""
		if m.Deleted || !parent && m.ThreadTS != ts || len(out) >= limit {
			continue
		}
		found = found || parent
		w := s.wireMessage(m)
		if !withMeta {
			delete(w, "metadata")
		}
		out = append(out, w)
	}
	if !found {
		return failure("thread_not_found")
	}
	return reply{"messages": out, "has_more": false, "response_metadata": map[string]any{"next_cursor": ""}}
}

// Messages returns the top-level messages of a channel that still exist,
// oldest first, each in its current version.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if m.ThreadTS == "" && !m.Deleted {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Replies returns the replies in a thread that still exist, oldest first.
func (s *Server) Replies(channel, threadTS string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if m.ThreadTS == threadTS && !m.Deleted {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Message returns one message by channel and ts, including a deleted one
// (with Deleted set).
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.findMessageLocked(channel, ts); m != nil {
		return copyMessage(m), true
	}
	return Message{}, false
}

// Ephemerals returns every ephemeral message, in order.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ephemeral, len(s.ephemerals))
	for i, e := range s.ephemerals {
		out[i] = *e
	}
	return out
}

// ScheduledMessages returns every scheduled message, in order.
func (s *Server) ScheduledMessages() []Scheduled {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Scheduled, len(s.scheduled))
	for i, m := range s.scheduled {
		out[i] = *m
	}
	return out
}
