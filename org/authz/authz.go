// Package authz decides who may do what from Slack. Roles come from the
// configuration as Slack user IDs, user-group IDs or user-group handles;
// users and group memberships are looked up through a Directory (the Slack
// adapter in bot/) and cached briefly, so that button clicks stay fast while
// a deactivation or a removal from a group takes effect within a minute.
//
// Only the user ID and team ID Slack attaches to an action are trusted; names,
// channel membership and anything carried in a button value are not. Every
// doubt refuses: a user from another workspace, a deleted user, a bot, a
// guest, and a group whose members cannot be listed.
package authz

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/problem"
)

// Role is a set of permissions granted through configuration.
type Role string

// Roles. Admins hold every role.
const (
	Responder Role = "responder"
	Approver  Role = "approver"
	Admin     Role = "admin"
)

// allRoles is the order roles are reported in.
var allRoles = []Role{Responder, Approver, Admin}

// DefaultTTL is how long a looked-up user or group membership is trusted.
const DefaultTTL = 60 * time.Second

// Actor is who acts in Slack (presses a button, types a command, submits a
// form) as Slack attached it to the action: the user's immutable ID and the
// ID of the workspace (team) they belong to, which is the user's own for a
// Slack Connect user. It is the only identity a decision trusts, and what
// every service acting for a person takes.
type Actor struct {
	UserID, TeamID string
}

// String is the actor as the audit log of triage and of the bot's own
// actions records it: "U…@T…".
func (a Actor) String() string { return a.UserID + "@" + a.TeamID }

// User is a workspace member as the directory describes them; the flags are
// the ones a decision looks at.
type User struct {
	Actor
	Name string

	Deleted, IsBot bool
	// Restricted is a multi-channel guest, UltraRestricted a
	// single-channel guest.
	Restricted, UltraRestricted bool
}

// ErrUnknownUser is what a Directory returns (wrapped) for a user ID the
// workspace does not know; Check then refuses instead of failing.
var ErrUnknownUser = errors.New("unknown user")

// Directory looks up users and user groups. It is implemented by the Slack
// adapter in bot/.
type Directory interface {
	User(ctx context.Context, id string) (User, error)
	// GroupMembers lists the user IDs of a user group given by ID (S…) or
	// handle (@handle).
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// Decision is the answer to "may this user act in this role?".
type Decision struct {
	Allowed bool
	// Reason is in plain words, fit for the ephemeral reply to the user and
	// for the audit log.
	Reason string
	// Roles are every role the user holds, admin implying the others.
	Roles []Role
}

// Authorizer answers Check from the configured roles and the directory.
type Authorizer struct {
	members map[Role][]string
	teamID  string
	dir     Directory
	clk     clock.Clock
	ttl     time.Duration

	mu     sync.Mutex
	users  map[string]cachedUser
	groups map[string]cachedGroup
}

type cachedUser struct {
	user    User
	expires time.Time
}

// cachedGroup remembers a failed lookup too: a free workspace answers every
// usergroups call with plan_upgrade_required, and asking again on every click
// would only spend the rate limit.
type cachedGroup struct {
	members map[string]bool
	err     error
	expires time.Time
}

// Roles lists who holds each role: Slack user IDs (U…/W…), user-group IDs
// (S…) or user-group handles (@handle). It is the roles block of the
// configuration.
type Roles struct {
	Responders []string `yaml:"responders"`
	Approvers  []string `yaml:"approvers"`
	Admins     []string `yaml:"admins"`
}

// handleRe is a user-group handle as Slack allows it.
var handleRe = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]*$`)

// Validate reports every entry that is neither a user ID, a user-group ID
// nor a handle, with keys relative to the block (approvers[0]).
func (r Roles) Validate() problem.List {
	var ps problem.List
	for _, l := range []struct {
		key     string
		members []string
	}{{"responders", r.Responders}, {"approvers", r.Approvers}, {"admins", r.Admins}} {
		for i, m := range l.members {
			if !userIDRe.MatchString(m) && !groupIDRe.MatchString(m) && !handleRe.MatchString(m) {
				ps.Addf(problem.Index(l.key, i), "%q is neither a Slack user ID (U…), a user-group ID (S…) nor a user-group handle (@handle)", m)
			}
		}
	}
	return ps
}

// New returns an Authorizer for the workspace teamID. A ttl of zero or less
// means DefaultTTL; a nil clock means the wall clock.
func New(roles Roles, teamID string, dir Directory, clk clock.Clock, ttl time.Duration) *Authorizer {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Authorizer{
		members: map[Role][]string{
			Responder: slices.Clone(roles.Responders),
			Approver:  slices.Clone(roles.Approvers),
			Admin:     slices.Clone(roles.Admins),
		},
		teamID: teamID,
		dir:    dir,
		clk:    clk,
		ttl:    ttl,
		users:  map[string]cachedUser{},
		groups: map[string]cachedGroup{},
	}
}

var (
	userIDRe  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupIDRe = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
)

// ForgetUser drops what is cached about a user, so the next check asks
// Slack: called when Slack says the user changed (deactivated, made a
// guest), which must not wait for the cache to expire.
func (a *Authorizer) ForgetUser(userID string) {
	a.mu.Lock()
	delete(a.users, userID)
	a.mu.Unlock()
}

// ForgetGroups drops every cached group membership, so the next check
// lists the members again: called when Slack says a group's members
// changed. Groups are cached under the configured handle or ID, which an
// event's group ID may not match, and there are only a few.
func (a *Authorizer) ForgetGroups() {
	a.mu.Lock()
	clear(a.groups)
	a.mu.Unlock()
}

// Check decides whether the actor may act in role. The actor must be the one
// Slack attached to the action. A refusal is a Decision with Allowed false
// and a nil error; an error means the user could not be looked up, and the
// Decision then refuses as well.
func (a *Authorizer) Check(ctx context.Context, who Actor, role Role) (Decision, error) {
	userID, teamID := who.UserID, who.TeamID
	if !slices.Contains(allRoles, role) {
		return Decision{Reason: fmt.Sprintf("%q is not a role", role)}, nil
	}
	if a.teamID == "" || teamID != a.teamID {
		// Slack Connect channels carry members of other organisations,
		// whose user IDs mean nothing in our configuration.
		return Decision{Reason: fmt.Sprintf("only members of this workspace may act here; you are signed in to another workspace (%s)", clipID(teamID))}, nil
	}
	if !userIDRe.MatchString(userID) {
		return Decision{Reason: fmt.Sprintf("%q is not a Slack user ID", clipID(userID))}, nil
	}
	u, err := a.user(ctx, userID)
	if errors.Is(err, ErrUnknownUser) {
		return Decision{Reason: "your Slack account is not known in this workspace"}, nil
	}
	if err != nil {
		return Decision{Reason: "your Slack account could not be looked up, so nothing is allowed; try again in a minute"},
			fmt.Errorf("authorise %s: %w", userID, err)
	}
	switch {
	case u.UserID != "" && u.UserID != userID:
		return Decision{Reason: "the directory answered for another user, so nothing is allowed"}, nil
	case u.TeamID != "" && u.TeamID != a.teamID:
		return Decision{Reason: fmt.Sprintf("only members of this workspace may act here; your account belongs to another workspace (%s)", clipID(u.TeamID))}, nil
	case u.Deleted:
		return Decision{Reason: "your Slack account is deactivated"}, nil
	case u.IsBot:
		return Decision{Reason: "bots and apps may not act on findings or access"}, nil
	case u.Restricted || u.UltraRestricted:
		return Decision{Reason: "guest accounts may not act on findings or access"}, nil
	}

	held, via, failed := a.roles(ctx, userID)
	d := Decision{Roles: held, Allowed: slices.Contains(held, role)}
	if d.Allowed {
		how := via[role]
		if how == "" {
			how = "as an admin, " + via[Admin]
		}
		d.Reason = fmt.Sprintf("<@%s> holds the %s role (%s)", userID, role, how)
		return d, nil
	}
	d.Reason = fmt.Sprintf("you do not hold the %s role", role)
	if len(failed) > 0 {
		var parts []string
		for _, f := range failed {
			parts = append(parts, fmt.Sprintf("%s (%v)", f.group, f.err))
		}
		d.Reason += "; the members of user group " + strings.Join(parts, ", ") +
			" could not be listed, so only user IDs listed in the roles count until that works"
	}
	return d, nil
}

// groupFailure is a user group whose members could not be listed.
type groupFailure struct {
	group string
	err   error
}

// roles returns the roles userID holds, how each was granted, and the groups
// whose members could not be listed. Groups that fail are treated as having
// no members: failing closed is the price of a broken lookup.
func (a *Authorizer) roles(ctx context.Context, userID string) ([]Role, map[Role]string, []groupFailure) {
	via := map[Role]string{}
	var failed []groupFailure
	for _, r := range allRoles {
		for _, entry := range a.members[r] {
			switch {
			case entry == userID:
				via[r] = "listed by user ID"
			case groupIDRe.MatchString(entry) || strings.HasPrefix(entry, "@"):
				in, err := a.inGroup(ctx, entry, userID)
				if err != nil {
					if !slices.ContainsFunc(failed, func(f groupFailure) bool { return f.group == entry }) {
						failed = append(failed, groupFailure{entry, err})
					}
					continue
				}
				if in {
					via[r] = "member of user group " + entry
				}
			}
			if via[r] != "" {
				break
			}
		}
	}
	var held []Role
	for _, r := range allRoles {
		if via[r] != "" || via[Admin] != "" {
			held = append(held, r)
		}
	}
	return held, via, failed
}

func (a *Authorizer) user(ctx context.Context, id string) (User, error) {
	now := a.clk.Now()
	a.mu.Lock()
	c, ok := a.users[id]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.user, nil
	}
	u, err := a.dir.User(ctx, id)
	if err != nil {
		// Failures are not cached: the next click asks again.
		return User{}, fmt.Errorf("look up user %s: %w", id, err)
	}
	a.mu.Lock()
	a.users[id] = cachedUser{user: u, expires: now.Add(a.ttl)}
	a.mu.Unlock()
	return u, nil
}

func (a *Authorizer) inGroup(ctx context.Context, group, userID string) (bool, error) {
	now := a.clk.Now()
	a.mu.Lock()
	c, ok := a.groups[group]
	a.mu.Unlock()
	if !ok || !now.Before(c.expires) {
		ids, err := a.dir.GroupMembers(ctx, group)
		c = cachedGroup{expires: now.Add(a.ttl)}
		if err != nil {
			c.err = err
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				// The caller gave up; that says nothing about the
				// group, so the next click asks again.
				c.expires = now
			}
		} else {
			c.members = make(map[string]bool, len(ids))
			for _, id := range ids {
				c.members[id] = true
			}
		}
		a.mu.Lock()
		a.groups[group] = c
		a.mu.Unlock()
	}
	if c.err != nil {
		return false, c.err
	}
	return c.members[userID], nil
}

// clipID bounds an identifier echoed back from a payload.
func clipID(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
