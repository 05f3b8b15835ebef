package slackemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A response_url works for 30 minutes and five posts.
const (
	responseURLLifetime = 30 * time.Minute
	responseURLMaxUses  = 5
)

// hook is the context behind one response_url.
type hook struct {
	kind      string // "commands" or "actions"
	channel   string
	user      string
	messageTS string // the message an action came from
	ephemeral bool
	created   time.Time
	uses      int
}

// ResponsePost is one post the bot made to a response_url.
type ResponsePost struct {
	URL string
	// Kind is "commands" for a slash command's URL and "actions" for an
	// interaction's.
	Kind            string
	Channel         string
	User            string
	MessageTS       string
	Text            string
	Blocks          json.RawMessage
	ResponseType    string
	ReplaceOriginal bool
	DeleteOriginal  bool
	ThreadTS        string
	At              time.Time
	Status          int
	Error           string
}

func (s *Server) newHookLocked(h *hook, now time.Time) string {
	h.created = now
	path := "/hooks/" + h.kind + "/" + s.opts.TeamID + "/" + s.nextIDLocked("") + "/" + randomHex(12)
	s.hooks[path] = h
	return s.http.URL + path
}

// flexBool accepts true and "true", since clients send both.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	*b = flexBool(strings.Trim(string(data), `"`) == "true")
	return nil
}

// serveHook answers posts to response_urls the way Slack applies them to
// the conversation.
func (s *Server) serveHook(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal flexBool        `json:"replace_original"`
		DeleteOriginal  flexBool        `json:"delete_original"`
		ThreadTS        string          `json:"thread_ts"`
	}
	parseErr := json.Unmarshal(body, &msg)

	s.mu.Lock()
	post := ResponsePost{
		URL: s.http.URL + r.URL.Path, Text: msg.Text, Blocks: msg.Blocks, ResponseType: msg.ResponseType,
		ReplaceOriginal: bool(msg.ReplaceOriginal), DeleteOriginal: bool(msg.DeleteOriginal), ThreadTS: msg.ThreadTS, At: now,
	}
	post.Status, post.Error = s.applyHookLocked(r.URL.Path, &post, parseErr, now)
	s.hookPosts = append(s.hookPosts, post)
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(post.Status)
	if post.Error != "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": post.Error})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true})
}

func (s *Server) applyHookLocked(path string, post *ResponsePost, parseErr error, now time.Time) (int, string) {
	h, ok := s.hooks[path]
	if !ok {
		return http.StatusNotFound, "no_active_hooks"
	}
	post.Kind, post.Channel, post.User, post.MessageTS = h.kind, h.channel, h.user, h.messageTS
	switch {
	case now.Sub(h.created) > responseURLLifetime:
		return http.StatusNotFound, "expired_url"
	case h.uses >= responseURLMaxUses:
		return http.StatusNotFound, "used_url"
	case parseErr != nil:
		return http.StatusBadRequest, "invalid_payload"
	}
	h.uses++

	params := url.Values{}
	if post.Text != "" {
		params.Set("text", post.Text)
	}
	if len(post.Blocks) > 0 && string(post.Blocks) != "null" {
		params.Set("blocks", string(post.Blocks))
	}
	body, fail := s.parseContentLocked(params)
	if fail != nil {
		code, _ := fail["error"].(string)
		return http.StatusBadRequest, code
	}
	isAction := h.kind == "actions"

	switch {
	case post.DeleteOriginal && isAction:
		if h.ephemeral {
			if e := s.findEphemeralLocked(h.channel, h.messageTS, h.user); e != nil {
				e.Replaced = true
			}
		} else if m := s.findMessageLocked(h.channel, h.messageTS); m != nil {
			m.Deleted = true
		}
		return http.StatusOK, ""
	case body.empty():
		return http.StatusBadRequest, "no_text"
	case post.ReplaceOriginal && isAction && h.ephemeral:
		if e := s.findEphemeralLocked(h.channel, h.messageTS, h.user); e != nil {
			e.Text, e.Blocks = body.text, body.blocks
		}
		return http.StatusOK, ""
	case post.ReplaceOriginal && isAction:
		m := s.findMessageLocked(h.channel, h.messageTS)
		if m == nil || m.Deleted {
			return http.StatusNotFound, "message_not_found"
		}
		body.hasText, body.hasBlocks = true, true
		s.editLocked(m, body, "response_url", now)
		return http.StatusOK, ""
	case post.ResponseType == "in_channel":
		if _, ok := s.channels[h.channel]; !ok {
			return http.StatusNotFound, "channel_not_found"
		}
		thread, _ := s.threadRootLocked(h.channel, post.ThreadTS)
		s.postLocked(h.channel, body, thread, false, "response_url", now)
		return http.StatusOK, ""
	default:
		s.ephemerals = append(s.ephemerals, &Ephemeral{
			Channel: h.channel, User: h.user, TS: s.nextTSLocked(now), ThreadTS: post.ThreadTS,
			Text: body.text, Blocks: body.blocks, At: now, Via: "response_url",
		})
		return http.StatusOK, ""
	}
}

// ResponsePosts returns every post made to a response_url, in order.
func (s *Server) ResponsePosts() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponsePost(nil), s.hookPosts...)
}
