package paging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/org/oncall"
)

// SourceRotation is the Source of answers from configured rotations.
const SourceRotation = "configured rotation"

// RotationSchedule is the configured rotations (*oncall.Schedule): the
// Slack user IDs on call for a team.
type RotationSchedule interface {
	OnCall(ctx context.Context, team string, at time.Time) ([]string, error)
}

// Rotations answers from the rotations in the configuration, the answer
// when no provider is configured for a team.
type Rotations struct {
	s RotationSchedule
}

// FromRotations wraps configured rotations as an OnCallSource.
func FromRotations(s RotationSchedule) *Rotations { return &Rotations{s: s} }

// OnCall returns the rotation's member on call, as a Slack user.
func (r *Rotations) OnCall(ctx context.Context, team string, at time.Time) (OnCall, error) {
	if r == nil || r.s == nil {
		return OnCall{}, fmt.Errorf("on call for %s: %w", team, ErrNoSchedule)
	}
	ids, err := r.s.OnCall(ctx, team, at)
	if errors.Is(err, oncall.ErrNoRotation) {
		return OnCall{}, fmt.Errorf("on call for %s: %w", team, ErrNoSchedule)
	}
	if err != nil {
		return OnCall{}, fmt.Errorf("on call for %s: %w", team, err)
	}
	oc := OnCall{Team: team, Source: SourceRotation}
	for _, id := range ids {
		oc.People = append(oc.People, Person{SlackID: id})
	}
	return oc, nil
}

// Sources asks each source in turn and returns the first answer: a
// provider's schedules first, configured rotations after them. A source
// without a schedule for the team passes the question on; any other
// failure ends it, since a provider that is down should be reported, not
// silently replaced by a rotation that may be stale.
type Sources []OnCallSource

// OnCall returns the first source's answer for team.
func (s Sources) OnCall(ctx context.Context, team string, at time.Time) (OnCall, error) {
	for _, src := range s {
		oc, err := src.OnCall(ctx, team, at)
		if errors.Is(err, ErrNoSchedule) {
			continue
		}
		return oc, err
	}
	return OnCall{}, fmt.Errorf("on call for %s: %w", team, ErrNoSchedule)
}

// SlackUsers finds a Slack user by e-mail address (users.lookupByEmail).
// No user with that address is "" and no error.
type SlackUsers interface {
	UserIDByEmail(ctx context.Context, email string) (string, error)
}

// MatchSlack fills in the Slack user of each person on call who has an
// e-mail address and no Slack user yet, so that they can be mentioned.
// People without a match keep their name. Failed lookups are reported
// together after all were tried; the answer is complete as far as they
// allowed.
func MatchSlack(ctx context.Context, oc OnCall, users SlackUsers) (OnCall, error) {
	people := make([]Person, len(oc.People))
	copy(people, oc.People)
	var errs []error
	for i, p := range people {
		if p.SlackID != "" || p.Email == "" {
			continue
		}
		id, err := users.UserIDByEmail(ctx, p.Email)
		if err != nil {
			errs = append(errs, fmt.Errorf("slack user of %s: %w", p.Label(), err))
			continue
		}
		people[i].SlackID = id
	}
	oc.People = people
	return oc, errors.Join(errs...)
}
