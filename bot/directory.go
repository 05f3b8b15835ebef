package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org/authz"
)

// slackDirectory answers authz's questions from Slack: users.info for who a
// user is, usergroups.users.list for group members. Group handles are
// resolved through usergroups.list. Caching is the authoriser's business;
// the handle map is cached here because handles rarely change.
type slackDirectory struct {
	api   *slack.Client
	clock clock.Clock
	ttl   time.Duration

	mu        sync.Mutex
	handles   map[string]string
	handlesAt time.Time
}

func newSlackDirectory(api *slack.Client, clk clock.Clock, ttl time.Duration) *slackDirectory {
	return &slackDirectory{api: api, clock: clk, ttl: ttl}
}

// User returns the user's immutable facts as Slack reports them now.
func (d *slackDirectory) User(ctx context.Context, id string) (authz.User, error) {
	u, err := d.api.GetUserInfoContext(ctx, id)
	if err != nil {
		if err.Error() == "user_not_found" {
			return authz.User{}, fmt.Errorf("users.info %s: %w", id, authz.ErrUnknownUser)
		}
		return authz.User{}, fmt.Errorf("users.info %s: %w", id, err)
	}
	return authz.User{
		Actor: authz.Actor{UserID: u.ID, TeamID: u.TeamID}, Name: u.Name,
		Deleted: u.Deleted, IsBot: u.IsBot || u.IsAppUser,
		Restricted: u.IsRestricted, UltraRestricted: u.IsUltraRestricted,
	}, nil
}

// GroupMembers lists the members of a user group given by ID (S…) or handle
// (@handle).
func (d *slackDirectory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	id := group
	if handle, ok := strings.CutPrefix(group, "@"); ok {
		var err error
		if id, err = d.groupID(ctx, handle); err != nil {
			return nil, err
		}
	}
	members, err := d.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("usergroups.users.list %s: %w", group, err)
	}
	return members, nil
}

func (d *slackDirectory) groupID(ctx context.Context, handle string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.handles == nil || d.clock.Now().Sub(d.handlesAt) > d.ttl {
		groups, err := d.api.GetUserGroupsContext(ctx)
		if err != nil {
			return "", fmt.Errorf("usergroups.list: %w", err)
		}
		d.handles = make(map[string]string, len(groups))
		for _, g := range groups {
			d.handles[g.Handle] = g.ID
		}
		d.handlesAt = d.clock.Now()
	}
	id, ok := d.handles[handle]
	if !ok {
		return "", fmt.Errorf("no user group with handle @%s", handle)
	}
	return id, nil
}

var _ paging.SlackUsers = (*Bot)(nil)

// UserIDByEmail finds the Slack user with an e-mail address
// (users.lookupByEmail, scope users:read.email), so that the people
// PagerDuty or Opsgenie name as on call can be mentioned. When no active
// user has the address (Slack answers users_not_found, also for
// deactivated users) it returns "" and no error: that person is shown by
// name instead.
func (b *Bot) UserIDByEmail(ctx context.Context, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", nil
	}
	u, err := b.api.GetUserByEmailContext(ctx, email)
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && se.Err == "users_not_found" {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("users.lookupByEmail %s: %w", email, err)
	}
	if u.Deleted || u.IsBot {
		return "", nil
	}
	return u.ID, nil
}
