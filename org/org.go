// Package org answers questions about the organisation from configuration:
// who owns an account, whether an account is ours or trusted, whether an
// actor is a contractor, whether a bucket is meant to be public, and whether
// a moment is off hours for a team.
package org

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/bizhours"
)

// Team is a team with its schedule resolved.
type Team struct {
	Name         string
	SlackChannel string
	JiraProject  string
	Location     *time.Location
	Hours        bizhours.Spec
	holidays     map[string]bool
}

// OffHours reports whether t is outside the team's business hours (or on
// one of its holidays).
func (t Team) OffHours(at time.Time) bool {
	if t.holidays[at.In(t.Location).Format("2006-01-02")] {
		return true
	}
	return !t.Hours.Contains(at, t.Location)
}

// Account is one of our accounts.
type Account struct {
	ID                    string
	Name                  string
	Team                  string
	Environment           string
	ExpectedPublicBuckets []string
	RoleARN               string
}

// Directory is the organisation as configured, plus accounts learnt from
// AWS Organizations. It is safe for concurrent use.
type Directory struct {
	mu          sync.RWMutex
	accounts    map[string]Account
	orgAccounts map[string]string
	trusted     map[string]string
	teams       map[string]Team
	secops      Team
	contractors []string
}

// Options describe the organisation.
type Options struct {
	// SecOps is the SecOps team. Its time zone and business hours are the
	// defaults of every team, and it owns the findings of accounts no team
	// owns. Its name is always "secops".
	SecOps TeamOptions
	// Teams are the teams that own accounts.
	Teams    []TeamOptions
	Accounts []Account
	// Trusted maps the external accounts approved as share targets to
	// their names.
	Trusted map[string]string
	// Contractors are ARN glob patterns of actors who are contractors.
	Contractors []string
}

// TeamOptions describe one team. An empty Timezone or BusinessHours is
// the SecOps team's (for SecOps itself: UTC, Mon-Fri 09:00-18:00).
type TeamOptions struct {
	Name          string
	SlackChannel  string
	JiraProject   string
	Timezone      string
	BusinessHours string
	// Holidays are dates (YYYY-MM-DD) that are off hours all day.
	Holidays []string
}

// New builds a directory; the options are expected to have been checked
// already, so an error here is a schedule that cannot be read.
func New(opts Options) (*Directory, error) {
	d := &Directory{
		accounts:    map[string]Account{},
		orgAccounts: map[string]string{},
		trusted:     map[string]string{},
		teams:       map[string]Team{},
		contractors: append([]string(nil), opts.Contractors...),
	}
	s := opts.SecOps
	secops, err := newTeam("secops", s.SlackChannel, s.JiraProject, s.Timezone, s.BusinessHours, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("secops schedule: %w", err)
	}
	d.secops = secops
	for _, t := range opts.Teams {
		team, err := newTeam(t.Name, t.SlackChannel, t.JiraProject, t.Timezone, t.BusinessHours, t.Holidays, &secops)
		if err != nil {
			return nil, fmt.Errorf("team %s: %w", t.Name, err)
		}
		d.teams[t.Name] = team
	}
	for _, a := range opts.Accounts {
		d.accounts[a.ID] = a
	}
	for id, name := range opts.Trusted {
		d.trusted[id] = name
	}
	return d, nil
}

func newTeam(name, channel, jira, tz, hours string, holidays []string, fallback *Team) (Team, error) {
	t := Team{Name: name, SlackChannel: channel, JiraProject: jira, holidays: map[string]bool{}}
	switch {
	case tz != "":
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return Team{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
		t.Location = loc
	case fallback != nil:
		t.Location = fallback.Location
	default:
		t.Location = time.UTC
	}
	switch {
	case hours != "":
		spec, err := bizhours.Parse(hours)
		if err != nil {
			return Team{}, err
		}
		t.Hours = spec
	case fallback != nil:
		t.Hours = fallback.Hours
	default:
		spec, _ := bizhours.Parse("Mon-Fri 09:00-18:00")
		t.Hours = spec
	}
	for _, h := range holidays {
		t.holidays[h] = true
	}
	return t, nil
}

// Account returns one of our accounts.
func (d *Directory) Account(id string) (Account, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.accounts[id]
	if !ok {
		if name, inOrg := d.orgAccounts[id]; inOrg {
			return Account{ID: id, Name: name}, true
		}
	}
	return a, ok
}

// Accounts lists the configured accounts sorted by ID.
func (d *Directory) Accounts() []Account {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Account, 0, len(d.accounts))
	for _, a := range d.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Team returns a team by name.
func (d *Directory) Team(name string) (Team, bool) {
	t, ok := d.teams[name]
	return t, ok
}

// TeamNamed returns the team a value names, its name in any case, as
// people write it in resource tags ("Payments" for team payments).
func (d *Directory) TeamNamed(value string) (Team, bool) {
	if t, ok := d.teams[value]; ok {
		return t, true
	}
	for name, t := range d.teams {
		if strings.EqualFold(name, value) {
			return t, true
		}
	}
	return Team{}, false
}

// SecOps returns the SecOps team (its channel and default schedule).
func (d *Directory) SecOps() Team { return d.secops }

// OwnerOf returns the team owning an account, or false when no team does.
func (d *Directory) OwnerOf(accountID string) (Team, bool) {
	a, ok := d.Account(accountID)
	if !ok || a.Team == "" {
		return Team{}, false
	}
	return d.Team(a.Team)
}

// SetOrgAccounts records the accounts AWS Organizations lists; they count as
// known share targets.
func (d *Directory) SetOrgAccounts(accounts map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.orgAccounts = make(map[string]string, len(accounts))
	for id, name := range accounts {
		d.orgAccounts[id] = name
	}
}

// Classify says whether a share target is ours, trusted or unknown. "all"
// is public.
func (d *Directory) Classify(accountID string) finding.TargetClass {
	if accountID == "all" {
		return finding.TargetPublic
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if _, ok := d.accounts[accountID]; ok {
		return finding.TargetKnown
	}
	if _, ok := d.orgAccounts[accountID]; ok {
		return finding.TargetKnown
	}
	if _, ok := d.trusted[accountID]; ok {
		return finding.TargetTrusted
	}
	return finding.TargetUnknown
}

// TargetName names a share target when we know it.
func (d *Directory) TargetName(accountID string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if a, ok := d.accounts[accountID]; ok {
		return a.Name
	}
	if n, ok := d.orgAccounts[accountID]; ok {
		return n
	}
	return d.trusted[accountID]
}

// IsContractor reports whether the actor's persistent ARN (the role for an
// assumed-role session) matches a contractor pattern.
func (d *Directory) IsContractor(actorARN string) bool {
	for _, p := range d.contractors {
		if Glob(p, actorARN) {
			return true
		}
	}
	return false
}

// ExpectedPublicBucket returns the pattern that allows the bucket to be
// public in the account, if any.
func (d *Directory) ExpectedPublicBucket(accountID, bucket string) (string, bool) {
	a, ok := d.Account(accountID)
	if !ok {
		return "", false
	}
	for _, p := range a.ExpectedPublicBuckets {
		if Glob(p, bucket) {
			return p, true
		}
	}
	return "", false
}

// Glob matches s against a pattern where * matches any run of characters
// (including / and :, as in IAM) and ? matches one character.
func Glob(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
