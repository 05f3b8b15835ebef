package authz

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

const team = "T0001"

// fakeDirectory is a workspace in memory. Its calls are counted so tests can
// tell a cached answer from a fresh lookup.
type fakeDirectory struct {
	mu         sync.Mutex
	users      map[string]User
	groups     map[string][]string
	groupErr   map[string]error
	userErr    error
	userCalls  int
	groupCalls int
}

func (d *fakeDirectory) User(_ context.Context, id string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.userCalls++
	if d.userErr != nil {
		return User{}, d.userErr
	}
	u, ok := d.users[id]
	if !ok {
		return User{}, fmt.Errorf("users.info %s: user_not_found: %w", id, ErrUnknownUser)
	}
	return u, nil
}

func (d *fakeDirectory) GroupMembers(_ context.Context, group string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groupCalls++
	if err := d.groupErr[group]; err != nil {
		return nil, err
	}
	return append([]string(nil), d.groups[group]...), nil
}

func (d *fakeDirectory) set(f func(d *fakeDirectory)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func newDirectory() *fakeDirectory {
	member := func(id, name string) User { return User{Actor: Actor{UserID: id, TeamID: team}, Name: name} }
	return &fakeDirectory{
		users: map[string]User{
			"UALICE":  member("UALICE", "alice"),
			"UBOB":    member("UBOB", "bob"),
			"UCAROL":  member("UCAROL", "carol"),
			"UDAVE":   member("UDAVE", "dave"),
			"WERIN":   member("WERIN", "erin"),
			"UMALLET": member("UMALLET", "mallet"),
			"UGONE":   {Actor: Actor{UserID: "UGONE", TeamID: team}, Name: "gone", Deleted: true},
			"UBOT":    {Actor: Actor{UserID: "UBOT", TeamID: team}, Name: "deploybot", IsBot: true},
			"UGUEST":  {Actor: Actor{UserID: "UGUEST", TeamID: team}, Name: "guest", Restricted: true},
			"UGUEST1": {Actor: Actor{UserID: "UGUEST1", TeamID: team}, Name: "guest1", UltraRestricted: true},
			"UOUT":    {Actor: Actor{UserID: "UOUT", TeamID: "T0OTHER"}, Name: "outsider"},
		},
		groups: map[string][]string{
			"SRESP":     {"UBOB", "UGONE", "UBOT", "UGUEST", "UGUEST1", "UOUT"},
			"@managers": {"UCAROL"},
			"SFREE":     {"UMALLET"},
		},
		groupErr: map[string]error{
			"SFREE": errors.New("plan_upgrade_required"),
		},
	}
}

var roles = Roles{
	Responders: []string{"UALICE", "SRESP", "SFREE"},
	Approvers:  []string{"@managers"},
	Admins:     []string{"WERIN"},
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		team      string
		role      Role
		allowed   bool
		roles     []Role
		reason    string
		wantError bool
	}{
		{name: "responder by user ID", user: "UALICE", team: team, role: Responder, allowed: true,
			roles: []Role{Responder}, reason: "<@UALICE> holds the responder role (listed by user ID)"},
		{name: "responder through group ID", user: "UBOB", team: team, role: Responder, allowed: true,
			roles: []Role{Responder}, reason: "member of user group SRESP"},
		{name: "approver through group handle", user: "UCAROL", team: team, role: Approver, allowed: true,
			roles: []Role{Approver}, reason: "member of user group @managers"},
		{name: "responder is not approver", user: "UALICE", team: team, role: Approver,
			roles: []Role{Responder}, reason: "you do not hold the approver role"},
		{name: "approver is not responder", user: "UCAROL", team: team, role: Responder,
			roles: []Role{Approver}, reason: "you do not hold the responder role"},
		{name: "admin is responder", user: "WERIN", team: team, role: Responder, allowed: true,
			roles: []Role{Responder, Approver, Admin}, reason: "as an admin, listed by user ID"},
		{name: "admin is approver", user: "WERIN", team: team, role: Approver, allowed: true,
			roles: []Role{Responder, Approver, Admin}},
		{name: "admin is admin", user: "WERIN", team: team, role: Admin, allowed: true,
			roles: []Role{Responder, Approver, Admin}},
		{name: "no role", user: "UDAVE", team: team, role: Responder,
			reason: "you do not hold the responder role"},
		{name: "other workspace", user: "UALICE", team: "T0OTHER", role: Responder,
			reason: "only members of this workspace may act here; you are signed in to another workspace (T0OTHER)"},
		{name: "no workspace", user: "UALICE", team: "", role: Responder,
			reason: "another workspace (none)"},
		{name: "account of another workspace", user: "UOUT", team: team, role: Responder,
			reason: "your account belongs to another workspace (T0OTHER)"},
		{name: "deleted", user: "UGONE", team: team, role: Responder,
			reason: "your Slack account is deactivated"},
		{name: "bot", user: "UBOT", team: team, role: Responder,
			reason: "bots and apps may not act"},
		{name: "multi-channel guest", user: "UGUEST", team: team, role: Responder,
			reason: "guest accounts may not act"},
		{name: "single-channel guest", user: "UGUEST1", team: team, role: Responder,
			reason: "guest accounts may not act"},
		{name: "unknown user", user: "UNOBODY", team: team, role: Responder,
			reason: "not known in this workspace"},
		{name: "not a user ID", user: "alice", team: team, role: Responder,
			reason: `"alice" is not a Slack user ID`},
		{name: "unknown role", user: "WERIN", team: team, role: Role("root"),
			reason: `"root" is not a role`},
		{name: "group lookup fails closed", user: "UMALLET", team: team, role: Responder,
			reason: "you do not hold the responder role; the members of user group SFREE (plan_upgrade_required) could not be listed, so only user IDs listed in the roles count"},
		{name: "user IDs still work when a group fails", user: "UALICE", team: team, role: Responder, allowed: true,
			roles: []Role{Responder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(roles, team, newDirectory(), clock.NewFake(time.Unix(1_700_000_000, 0)), 0)
			d, err := a.Check(context.Background(), Actor{UserID: tt.user, TeamID: tt.team}, tt.role)
			if (err != nil) != tt.wantError {
				t.Fatalf("Check error = %v, want error %v", err, tt.wantError)
			}
			if d.Allowed != tt.allowed {
				t.Errorf("Allowed = %v, want %v (reason %q)", d.Allowed, tt.allowed, d.Reason)
			}
			if !reflect.DeepEqual(d.Roles, tt.roles) {
				t.Errorf("Roles = %v, want %v", d.Roles, tt.roles)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
			if d.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestCheckDirectoryDown(t *testing.T) {
	dir := newDirectory()
	dir.userErr = errors.New("ratelimited")
	a := New(roles, team, dir, clock.NewFake(time.Unix(1_700_000_000, 0)), 0)
	d, err := a.Check(context.Background(), Actor{UserID: "UALICE", TeamID: team}, Responder)
	if err == nil || !strings.Contains(err.Error(), "ratelimited") {
		t.Fatalf("error = %v, want the directory's error", err)
	}
	if d.Allowed || !strings.Contains(d.Reason, "could not be looked up") {
		t.Fatalf("decision = %+v, want a refusal saying the lookup failed", d)
	}
	// A failed lookup is not cached: once the directory answers, so does
	// Check.
	dir.set(func(d *fakeDirectory) { d.userErr = nil })
	if d, err := a.Check(context.Background(), Actor{UserID: "UALICE", TeamID: team}, Responder); err != nil || !d.Allowed {
		t.Fatalf("after recovery: %+v, %v; want allowed", d, err)
	}
}

func TestCheckCache(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := newDirectory()
	a := New(roles, team, dir, clk, 30*time.Second)

	check := func(step, user string, want bool) {
		t.Helper()
		d, err := a.Check(ctx, Actor{UserID: user, TeamID: team}, Responder)
		if err != nil || d.Allowed != want {
			t.Fatalf("%s: Check(%s) = %+v, %v; want allowed %v", step, user, d, err, want)
		}
	}
	check("member", "UBOB", true)
	calls := dir.groupCalls

	dir.set(func(d *fakeDirectory) { d.groups["SRESP"] = nil })
	clk.Advance(29 * time.Second)
	check("removed, within ttl", "UBOB", true)
	if dir.groupCalls != calls {
		t.Errorf("group listed %d more times within the ttl, want cached", dir.groupCalls-calls)
	}
	clk.Advance(time.Second)
	check("removed, ttl passed", "UBOB", false)

	// Deactivation takes effect the same way.
	check("active", "UALICE", true)
	dir.set(func(d *fakeDirectory) {
		u := d.users["UALICE"]
		u.Deleted = true
		d.users["UALICE"] = u
	})
	check("deactivated, within ttl", "UALICE", true)
	clk.Advance(30 * time.Second)
	check("deactivated, ttl passed", "UALICE", false)
}

func TestCheckGroupFailureRetried(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := newDirectory()
	a := New(roles, team, dir, clk, 0) // DefaultTTL

	if d, _ := a.Check(ctx, Actor{UserID: "UMALLET", TeamID: team}, Responder); d.Allowed {
		t.Fatal("allowed through a group that could not be listed")
	}
	calls := dir.groupCalls
	dir.set(func(d *fakeDirectory) { delete(d.groupErr, "SFREE") })
	clk.Advance(DefaultTTL - time.Second)
	if d, _ := a.Check(ctx, Actor{UserID: "UMALLET", TeamID: team}, Responder); d.Allowed {
		t.Fatal("failure forgotten before the ttl")
	}
	if dir.groupCalls != calls {
		t.Errorf("failed group asked again %d times within the ttl", dir.groupCalls-calls)
	}
	clk.Advance(time.Second)
	if d, err := a.Check(ctx, Actor{UserID: "UMALLET", TeamID: team}, Responder); err != nil || !d.Allowed {
		t.Fatalf("after the group recovered and the ttl passed: %+v, %v; want allowed", d, err)
	}
}
