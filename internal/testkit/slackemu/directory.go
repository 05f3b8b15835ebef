package slackemu

import (
	"strconv"
	"strings"
	"time"
)

// User is a workspace member as users.info describes it. The flags are the
// ones an authorisation check has to look at.
type User struct {
	ID       string
	TeamID   string // defaults to the workspace; set another for Slack Connect outsiders
	Name     string
	RealName string
	Email    string
	TZ       string

	Deleted           bool
	IsBot             bool
	IsAdmin           bool
	IsOwner           bool
	IsRestricted      bool // multi-channel guest
	IsUltraRestricted bool // single-channel guest
}

// Channel is a conversation in the workspace.
type Channel struct {
	ID        string // generated when empty
	Name      string
	IsPrivate bool
	// NotMember marks a channel the bot has not joined: posting answers
	// not_in_channel until conversations.join (public channels only).
	NotMember bool
	Archived  bool
}

// Usergroup is a user group (a "subteam") and its members.
type Usergroup struct {
	ID       string // generated when empty
	Handle   string
	Name     string
	Users    []string
	Disabled bool
}

type channelState struct {
	Channel
	isIM, isMPIM bool
	user         string // the other member of an IM
	created      time.Time
}

// PutUser adds or replaces a user, so a test can delete or demote someone
// between two actions.
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.TeamID == "" {
		u.TeamID = s.opts.TeamID
	}
	if u.Name == "" {
		u.Name = strings.ToLower(u.ID)
	}
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.users[u.ID] = &u
	s.notifyLocked()
}

// PutChannel adds or replaces a channel and returns its ID.
func (s *Server) PutChannel(c Channel) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := "C"
	if c.IsPrivate {
		prefix = "G"
	}
	if c.ID == "" {
		c.ID = s.nextIDLocked(prefix)
	}
	if c.Name == "" {
		c.Name = strings.ToLower(c.ID)
	}
	if old, ok := s.channels[c.ID]; ok {
		old.Channel = c
	} else {
		s.channels[c.ID] = &channelState{Channel: c, created: time.Now()}
		s.chanOrder = append(s.chanOrder, c.ID)
	}
	s.notifyLocked()
	return c.ID
}

// ArchiveChannel marks a channel archived: posting then answers is_archived.
func (s *Server) ArchiveChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[id]; ok {
		c.Archived = true
		s.notifyLocked()
	}
}

// SetMember sets whether the bot is a member of a channel.
func (s *Server) SetMember(id string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[id]; ok {
		c.NotMember = !member
		s.notifyLocked()
	}
}

// PutUsergroup adds or replaces a user group and returns its ID.
func (s *Server) PutUsergroup(g Usergroup) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		g.ID = s.nextIDLocked("S")
	}
	if g.Name == "" {
		g.Name = g.Handle
	}
	g.Users = append([]string(nil), g.Users...)
	if _, ok := s.groups[g.ID]; !ok {
		s.grpOrder = append(s.grpOrder, g.ID)
	}
	s.groups[g.ID] = &g
	s.notifyLocked()
	return g.ID
}

// SetFreePlan switches plan_upgrade_required answers for usergroups methods.
func (s *Server) SetFreePlan(free bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.FreePlan = free
}

// IMChannel returns the ID of the bot's DM with a user, if one was opened.
func (s *Server) IMChannel(userID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ims[userID]
	return id, ok
}

// resolveChannelLocked finds a channel by ID or name; a user ID resolves to
// the bot's DM with that user, which chat.postMessage accepts.
func (s *Server) resolveChannelLocked(ref string) *channelState {
	if c, ok := s.channels[ref]; ok {
		return c
	}
	if u, ok := s.users[ref]; ok && !u.Deleted {
		return s.openIMLocked(u.ID)
	}
	name := strings.TrimPrefix(ref, "#")
	for _, id := range s.chanOrder {
		if c := s.channels[id]; c.Name == name && !c.isIM {
			return c
		}
	}
	return nil
}

func (s *Server) openIMLocked(userID string) *channelState {
	if id, ok := s.ims[userID]; ok {
		return s.channels[id]
	}
	id := s.nextIDLocked("D")
	c := &channelState{Channel: Channel{ID: id, Name: id}, isIM: true, user: userID, created: time.Now()}
	s.channels[id] = c
	s.chanOrder = append(s.chanOrder, id)
	s.ims[userID] = id
	return c
}

func (s *Server) wireChannel(c *channelState) map[string]any {
	out := map[string]any{
		"id":              c.ID,
		"created":         c.created.Unix(),
		"is_archived":     c.Archived,
		"is_im":           c.isIM,
		"is_mpim":         c.isMPIM,
		"is_private":      c.IsPrivate || c.isIM || c.isMPIM,
		"is_member":       !c.NotMember,
		"context_team_id": s.opts.TeamID,
	}
	if c.isIM {
		out["user"] = c.user
		out["is_open"] = true
		return out
	}
	out["name"] = c.Name
	out["name_normalized"] = c.Name
	out["is_channel"] = !c.IsPrivate && !c.isMPIM
	out["is_group"] = c.IsPrivate && !c.isMPIM
	out["is_general"] = false
	out["is_shared"] = false
	out["is_ext_shared"] = false
	out["is_org_shared"] = false
	out["topic"] = map[string]any{"value": "", "creator": "", "last_set": 0}
	out["purpose"] = map[string]any{"value": "", "creator": "", "last_set": 0}
	return out
}

func (s *Server) conversationsInfo(r *apiRequest) reply {
	c, ok := s.channels[r.params.Get("channel")]
	if !ok {
		return failure("channel_not_found")
	}
	return reply{"channel": s.wireChannel(c)}
}

func channelKind(c *channelState) string {
	switch {
	case c.isIM:
		return "im"
	case c.isMPIM:
		return "mpim"
	case c.IsPrivate:
		return "private_channel"
	default:
		return "public_channel"
	}
}

func (s *Server) conversationsList(r *apiRequest) reply {
	types := map[string]bool{"public_channel": true}
	if t := r.params.Get("types"); t != "" {
		types = map[string]bool{}
		for _, k := range strings.Split(t, ",") {
			types[strings.TrimSpace(k)] = true
		}
	}
	excludeArchived := r.params.Get("exclude_archived") == "true"
	limit, _ := strconv.Atoi(r.params.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	start := 0
	if cur := r.params.Get("cursor"); cur != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(cur, "next:"))
		if err != nil || n < 0 {
			return failure("invalid_cursor")
		}
		start = n
	}
	var matched []*channelState
	for _, id := range s.chanOrder {
		c := s.channels[id]
		if !types[channelKind(c)] || (excludeArchived && c.Archived) {
			continue
		}
		// Private conversations are only listed to members, as in Slack.
		if c.IsPrivate && c.NotMember {
			continue
		}
		matched = append(matched, c)
	}
	chans := []map[string]any{}
	next := ""
	for i := start; i < len(matched); i++ {
		if len(chans) == limit {
			next = "next:" + strconv.Itoa(i)
			break
		}
		chans = append(chans, s.wireChannel(matched[i]))
	}
	return reply{"channels": chans, "response_metadata": map[string]any{"next_cursor": next}}
}

func (s *Server) conversationsJoin(r *apiRequest) reply {
	c, ok := s.channels[r.params.Get("channel")]
	switch {
	case !ok:
		return failure("channel_not_found")
	case c.Archived:
		return failure("is_archived")
	case c.IsPrivate || c.isIM || c.isMPIM:
		return failure("method_not_supported_for_channel_type")
	}
	out := reply{}
	if !c.NotMember {
		out["warning"] = "already_in_channel"
		out["response_metadata"] = map[string]any{"warnings": []string{"already_in_channel"}}
	}
	c.NotMember = false
	out["channel"] = s.wireChannel(c)
	return out
}

func (s *Server) conversationsOpen(r *apiRequest) reply {
	if ch := r.params.Get("channel"); ch != "" {
		c, ok := s.channels[ch]
		if !ok {
			return failure("channel_not_found")
		}
		return reply{"channel": s.wireChannel(c), "already_open": true}
	}
	raw := r.params.Get("users")
	if raw == "" {
		return failure("users_list_not_supplied")
	}
	ids := strings.Split(raw, ",")
	for _, id := range ids {
		u, ok := s.users[strings.TrimSpace(id)]
		if !ok {
			return failure("user_not_found")
		}
		if u.Deleted {
			return failure("user_disabled")
		}
	}
	if len(ids) > 1 {
		id := s.nextIDLocked("G")
		c := &channelState{Channel: Channel{ID: id, Name: "mpdm-" + strings.Join(ids, "--")}, isMPIM: true, created: r.now}
		s.channels[id] = c
		s.chanOrder = append(s.chanOrder, id)
		return reply{"channel": s.wireChannel(c)}
	}
	userID := strings.TrimSpace(ids[0])
	_, already := s.ims[userID]
	c := s.openIMLocked(userID)
	out := reply{"already_open": already}
	if r.params.Get("return_im") == "true" {
		out["channel"] = s.wireChannel(c)
	} else {
		out["channel"] = map[string]any{"id": c.ID}
	}
	return out
}

func (s *Server) wireUser(u *User) map[string]any {
	tz := u.TZ
	if tz == "" {
		tz = "UTC"
	}
	return map[string]any{
		"id":                  u.ID,
		"team_id":             u.TeamID,
		"name":                u.Name,
		"real_name":           u.RealName,
		"deleted":             u.Deleted,
		"tz":                  tz,
		"tz_label":            tz,
		"tz_offset":           0,
		"is_bot":              u.IsBot,
		"is_app_user":         false,
		"is_admin":            u.IsAdmin,
		"is_owner":            u.IsOwner,
		"is_primary_owner":    false,
		"is_restricted":       u.IsRestricted,
		"is_ultra_restricted": u.IsUltraRestricted,
		"is_stranger":         u.TeamID != s.opts.TeamID,
		"updated":             0,
		"profile": map[string]any{
			"real_name":               u.RealName,
			"real_name_normalized":    u.RealName,
			"display_name":            u.Name,
			"display_name_normalized": u.Name,
			"email":                   u.Email,
			"team":                    u.TeamID,
		},
	}
}

func (s *Server) usersInfo(r *apiRequest) reply {
	u, ok := s.users[r.params.Get("user")]
	if !ok {
		return failure("user_not_found")
	}
	return reply{"user": s.wireUser(u)}
}

func (s *Server) usersLookupByEmail(r *apiRequest) reply {
	email := strings.ToLower(strings.TrimSpace(r.params.Get("email")))
	for _, id := range s.userOrder {
		u := s.users[id]
		if email != "" && strings.ToLower(u.Email) == email && !u.Deleted {
			return reply{"user": s.wireUser(u)}
		}
	}
	return failure("users_not_found")
}

func (s *Server) wireUsergroup(g *Usergroup, withUsers bool) map[string]any {
	out := map[string]any{
		"id":           g.ID,
		"team_id":      s.opts.TeamID,
		"is_usergroup": true,
		"name":         g.Name,
		"handle":       g.Handle,
		"description":  "",
		"is_external":  false,
		"date_create":  0,
		"date_update":  0,
		"date_delete":  0,
		"auto_type":    nil,
		"prefs":        map[string]any{"channels": []string{}, "groups": []string{}},
		"user_count":   len(g.Users),
	}
	if withUsers {
		out["users"] = append([]string{}, g.Users...)
	}
	return out
}

func (s *Server) usergroupsList(r *apiRequest) reply {
	if s.opts.FreePlan {
		return failure("plan_upgrade_required")
	}
	withUsers := r.params.Get("include_users") == "true"
	withDisabled := r.params.Get("include_disabled") == "true"
	groups := []map[string]any{}
	for _, id := range s.grpOrder {
		g := s.groups[id]
		if g.Disabled && !withDisabled {
			continue
		}
		groups = append(groups, s.wireUsergroup(g, withUsers))
	}
	return reply{"usergroups": groups}
}

func (s *Server) usergroupsUsersList(r *apiRequest) reply {
	if s.opts.FreePlan {
		return failure("plan_upgrade_required")
	}
	g, ok := s.groups[r.params.Get("usergroup")]
	if !ok {
		return failure("no_such_subteam")
	}
	if g.Disabled && r.params.Get("include_disabled") != "true" {
		return failure("no_such_subteam")
	}
	return reply{"users": append([]string{}, g.Users...)}
}
