package oncall

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

func TestOnCall(t *testing.T) {
	s, err := New(Config{Rotations: []Rotation{
		{Team: "payments", Members: []string{"U0ANNA", "U0BORIS", "U0CHEN"}, Handoff: "weekly", HandoffDay: "Mon", HandoffTime: "09:00",
			Timezone: "Europe/Berlin", Start: "2026-11-02",
			Overrides: []Override{{User: "U0DANA", Start: "2026-11-28 18:00", End: "2026-11-29 18:00"}}},
		{Team: "secops", Members: []string{"U0SAM", "U0TOM"}, Handoff: "daily", HandoffTime: "08:00", Timezone: "America/New_York", Start: "2026-11-01"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name string
		team string
		at   time.Time
		want string
	}{
		{"first week", "payments", time.Date(2026, 11, 4, 12, 0, 0, 0, berlin), "U0ANNA"},
		{"monday before the handoff is still last week", "payments", time.Date(2026, 11, 9, 8, 59, 0, 0, berlin), "U0ANNA"},
		{"monday at the handoff", "payments", time.Date(2026, 11, 9, 9, 0, 0, 0, berlin), "U0BORIS"},
		{"third week", "payments", time.Date(2026, 11, 20, 10, 0, 0, 0, berlin), "U0CHEN"},
		{"wraps around: story two at 04:04 Berlin", "payments", time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC), "U0ANNA"},
		{"before the start counts backwards", "payments", time.Date(2026, 10, 28, 10, 0, 0, 0, berlin), "U0CHEN"},
		{"override", "payments", time.Date(2026, 11, 28, 20, 0, 0, 0, berlin), "U0DANA"},
		{"override ended", "payments", time.Date(2026, 11, 29, 18, 0, 0, 0, berlin), "U0ANNA"},
		{"daily, before the handoff", "secops", time.Date(2026, 11, 2, 7, 0, 0, 0, ny), "U0SAM"},
		{"daily, after the handoff", "secops", time.Date(2026, 11, 2, 8, 0, 0, 0, ny), "U0TOM"},
		{"daily across the DST change", "secops", time.Date(2026, 11, 3, 8, 30, 0, 0, ny), "U0SAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.OnCall(context.Background(), tc.team, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("on call = %v, want %s", got, tc.want)
			}
		})
	}
	if _, err := s.OnCall(context.Background(), "analytics", time.Now()); !errors.Is(err, ErrNoRotation) {
		t.Errorf("team without rotation: %v", err)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Rotations: []Rotation{
		{Team: "payments", Members: []string{"alice"}, Handoff: "hourly", Timezone: "Mars/Olympus", HandoffDay: "Funday",
			Overrides: []Override{{User: "U0DANA", Start: "tomorrow", End: "later"}}},
		{Team: "payments", Members: []string{"U0ANNA"}},
		{Members: nil},
	}}.Validate().Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"rotations[0].members[0]", "rotations[0].handoff:", "rotations[0].timezone", "rotations[0].handoff_day",
		"rotations[0].overrides[0]", "rotations[1].team: \"payments\" has two", "rotations[2].team: required", "rotations[2].members",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
