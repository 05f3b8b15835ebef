package bizhours

import (
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, spec string
	}{
		{"empty", ""},
		{"no range", "Mon-Fri"},
		{"bad day", "Mon-Fry 09:00-18:00"},
		{"bad time", "Mon-Fri 9-18"},
		{"end before start", "Mon-Fri 18:00-09:00"},
		{"minute out of range", "Mon-Fri 09:61-18:00"},
		{"hour out of range", "Mon-Fri 09:00-25:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.spec); err == nil {
				t.Fatalf("Parse(%q) succeeded, want error", tc.spec)
			}
		})
	}
}

func TestContains(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec string
		at   string // UTC
		want bool
	}{
		{"story two 03:04 UTC is 04:04 Berlin", "Mon-Fri 09:00-18:00", "2026-11-27T03:04:00Z", false},
		{"Friday 10:00 Berlin", "Mon-Fri 09:00-18:00", "2026-11-27T09:00:00Z", true},
		{"end is exclusive", "Mon-Fri 09:00-18:00", "2026-11-27T17:00:00Z", false},
		{"Saturday", "Mon-Fri 09:00-18:00", "2026-11-28T10:00:00Z", false},
		{"wrapping range includes Sunday", "Sun-Thu 08:00-17:00", "2026-11-29T09:00:00Z", true},
		{"comma list excludes Tuesday", "Mon,Wed 08:00-17:00", "2026-11-24T09:00:00Z", false},
		{"until midnight", "Mon-Sun 00:00-24:00", "2026-11-24T22:59:00Z", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := time.Parse(time.RFC3339, tc.at)
			if got := s.Contains(at, berlin); got != tc.want {
				t.Fatalf("Contains(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestNextStart(t *testing.T) {
	s, err := Parse("Mon-Fri 09:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	// Friday 2026-11-27 22:00 New York → Monday 2026-11-30 09:00.
	at := time.Date(2026, 11, 27, 22, 0, 0, 0, ny)
	got := s.NextStart(at, ny)
	want := time.Date(2026, 11, 30, 9, 0, 0, 0, ny)
	if !got.Equal(want) {
		t.Fatalf("NextStart = %v, want %v", got, want)
	}
}
