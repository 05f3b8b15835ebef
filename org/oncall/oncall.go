// Package oncall answers who is on call for SecOps and for each team at a
// given moment, from rotations in the configuration: members taking turns
// with a daily or weekly handoff in the rotation's time zone, and overrides
// for swaps and holidays. A PagerDuty source can answer the same question
// later through the same method.
package oncall

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/internal/problem"
)

// Config is the on_call section of the configuration.
type Config struct {
	Rotations []Rotation `yaml:"rotations"`
}

// Rotation is one team's rota.
type Rotation struct {
	// Team is a team name from teams[], or "secops".
	Team string `yaml:"team"`
	// Members are Slack user IDs, in turn order.
	Members []string `yaml:"members"`
	// Handoff is "daily" or "weekly".
	Handoff string `yaml:"handoff"`
	// HandoffTime is the local time shifts change, "09:00" by default.
	HandoffTime string `yaml:"handoff_time"`
	// HandoffDay is the weekday weekly shifts change, "Mon" by default.
	HandoffDay string `yaml:"handoff_day"`
	// Timezone is an IANA zone; UTC by default.
	Timezone string `yaml:"timezone"`
	// Start is the date (YYYY-MM-DD) the first member's first shift
	// begins; turns before it count backwards.
	Start string `yaml:"start"`
	// Overrides put someone else on call for a while.
	Overrides []Override `yaml:"overrides"`
}

// Override puts User on call from Start to End ("2006-01-02 15:04" in the
// rotation's zone).
type Override struct {
	User  string `yaml:"user"`
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

const overrideLayout = "2006-01-02 15:04"

var userIDRe = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Validate reports every problem at once, each at its key relative to the
// block (rotations[0].handoff).
func (c Config) Validate() problem.List {
	_, ps := build(c)
	return ps
}

// Schedule answers who is on call.
type Schedule struct {
	rotas map[string]rota
}

type rota struct {
	members   []string
	weekly    bool
	loc       *time.Location
	handoff   int // minutes after local midnight
	day       time.Weekday
	anchor    time.Time // local midnight of the first shift's date
	overrides []override
}

type override struct {
	user       string
	start, end time.Time
}

// New builds a schedule, reporting every configuration problem at once.
func New(cfg Config) (*Schedule, error) {
	s, ps := build(cfg)
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("on_call:\n%w", err)
	}
	return s, nil
}

func build(cfg Config) (*Schedule, problem.List) {
	s := &Schedule{rotas: map[string]rota{}}
	var ps problem.List
	for i, r := range cfg.Rotations {
		key := problem.Index("rotations", i)
		fail := func(sub, format string, args ...any) { ps.Addf(problem.Join(key, sub), format, args...) }
		ro := rota{loc: time.UTC, handoff: 9 * 60, day: time.Monday}
		if r.Team == "" {
			fail("team", "required (a team name, or secops)")
		} else if _, dup := s.rotas[r.Team]; dup {
			fail("team", "%q has two rotations", r.Team)
		}
		if len(r.Members) == 0 {
			fail("members", "at least one Slack user ID is required")
		}
		for j, m := range r.Members {
			if !userIDRe.MatchString(m) {
				fail(problem.Index("members", j), "%q is not a Slack user ID (U…)", m)
			}
		}
		ro.members = r.Members
		switch strings.ToLower(r.Handoff) {
		case "daily":
		case "weekly", "":
			ro.weekly = true
		default:
			fail("handoff", "%q, want daily or weekly", r.Handoff)
		}
		if r.Timezone != "" {
			loc, err := time.LoadLocation(r.Timezone)
			if err != nil {
				fail("timezone", "%q is not a known time zone", r.Timezone)
			} else {
				ro.loc = loc
			}
		}
		if r.HandoffTime != "" {
			t, err := time.Parse("15:04", r.HandoffTime)
			if err != nil {
				fail("handoff_time", "%q, want HH:MM", r.HandoffTime)
			}
			ro.handoff = t.Hour()*60 + t.Minute()
		}
		if r.HandoffDay != "" {
			d, ok := weekdays[strings.ToLower(r.HandoffDay)]
			if !ok {
				fail("handoff_day", "%q, want Mon, Tue, Wed, Thu, Fri, Sat or Sun", r.HandoffDay)
			}
			ro.day = d
		}
		start := "2024-01-01"
		if r.Start != "" {
			start = r.Start
		}
		anchor, err := time.ParseInLocation("2006-01-02", start, ro.loc)
		if err != nil {
			fail("start", "%q, want YYYY-MM-DD", r.Start)
		}
		if ro.weekly {
			// The first weekly shift begins on the handoff day on or
			// after the start date.
			for anchor.Weekday() != ro.day {
				anchor = anchor.AddDate(0, 0, 1)
			}
		}
		ro.anchor = anchor
		for j, o := range r.Overrides {
			st, err1 := time.ParseInLocation(overrideLayout, o.Start, ro.loc)
			en, err2 := time.ParseInLocation(overrideLayout, o.End, ro.loc)
			switch {
			case !userIDRe.MatchString(o.User):
				fail(problem.Index("overrides", j)+".user", "%q is not a Slack user ID", o.User)
			case err1 != nil || err2 != nil:
				fail(problem.Index("overrides", j), "start and end must look like %q", overrideLayout)
			case !en.After(st):
				fail(problem.Index("overrides", j), "end must be after start")
			default:
				ro.overrides = append(ro.overrides, override{user: o.User, start: st, end: en})
			}
		}
		if r.Team != "" {
			s.rotas[r.Team] = ro
		}
	}
	return s, ps
}

// ErrNoRotation is returned for a team without a rotation.
var ErrNoRotation = errors.New("no on-call rotation")

// OnCall returns the Slack user IDs on call for team at t: the override's
// user if one covers t, else the member whose turn it is.
func (s *Schedule) OnCall(_ context.Context, team string, at time.Time) ([]string, error) {
	ro, ok := s.rotas[team]
	if !ok {
		return nil, fmt.Errorf("team %s: %w", team, ErrNoRotation)
	}
	for _, o := range ro.overrides {
		if !at.Before(o.start) && at.Before(o.end) {
			return []string{o.user}, nil
		}
	}
	return []string{ro.members[ro.turn(at)]}, nil
}

// turn counts whole shifts since the anchor in the rotation's zone, on
// calendar days so that a DST change does not move the handoff.
func (ro rota) turn(at time.Time) int {
	local := at.In(ro.loc)
	y, m, d := local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	ay, am, ad := ro.anchor.Date()
	days := int(day.Sub(time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	if local.Hour()*60+local.Minute() < ro.handoff {
		days-- // before today's handoff, yesterday's shift still runs
	}
	shifts := days
	if ro.weekly {
		shifts = floorDiv(days, 7)
	}
	n := len(ro.members)
	return ((shifts % n) + n) % n
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
