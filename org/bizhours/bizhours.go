// Package bizhours parses business-hours specifications such as
// "Mon-Fri 09:00-18:00" and answers whether a moment falls inside them in a
// given time zone. Off-hours routing and playbooks depend on it.
package bizhours

import (
	"fmt"
	"strings"
	"time"
)

// Spec is a parsed business-hours specification.
type Spec struct {
	days  [7]bool // indexed by time.Weekday
	start int     // minutes after midnight
	end   int     // minutes after midnight, exclusive; 1440 means midnight
	text  string
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads "<days> <HH:MM>-<HH:MM>", where days is a range ("Mon-Fri",
// wrapping ranges such as "Sun-Thu" allowed), a comma list ("Mon,Wed,Fri")
// or a mix ("Mon-Wed,Fri"). The end time may be 24:00 and must be after the
// start.
func Parse(spec string) (Spec, error) {
	s := Spec{text: spec}
	fields := strings.Fields(spec)
	if len(fields) != 2 {
		return Spec{}, fmt.Errorf("business hours %q: want \"<days> <HH:MM>-<HH:MM>\", e.g. \"Mon-Fri 09:00-18:00\"", spec)
	}
	for _, part := range strings.Split(fields[0], ",") {
		from, to, isRange := strings.Cut(part, "-")
		d1, ok := dayNames[strings.ToLower(from)]
		if !ok {
			return Spec{}, fmt.Errorf("business hours %q: unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", spec, from)
		}
		if !isRange {
			s.days[d1] = true
			continue
		}
		d2, ok := dayNames[strings.ToLower(to)]
		if !ok {
			return Spec{}, fmt.Errorf("business hours %q: unknown day %q (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", spec, to)
		}
		for d := d1; ; d = (d + 1) % 7 {
			s.days[d] = true
			if d == d2 {
				break
			}
		}
	}
	from, to, ok := strings.Cut(fields[1], "-")
	if !ok {
		return Spec{}, fmt.Errorf("business hours %q: want a time range such as 09:00-18:00", spec)
	}
	var err error
	if s.start, err = parseClock(from); err != nil {
		return Spec{}, fmt.Errorf("business hours %q: %w", spec, err)
	}
	if s.end, err = parseClock(to); err != nil {
		return Spec{}, fmt.Errorf("business hours %q: %w", spec, err)
	}
	if s.end <= s.start {
		return Spec{}, fmt.Errorf("business hours %q: end %s is not after start %s", spec, to, from)
	}
	return s, nil
}

func parseClock(v string) (int, error) {
	var h, m int
	if len(v) != 5 || v[2] != ':' {
		return 0, fmt.Errorf("time %q: want HH:MM", v)
	}
	if _, err := fmt.Sscanf(v, "%02d:%02d", &h, &m); err != nil {
		return 0, fmt.Errorf("time %q: want HH:MM", v)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: out of range", v)
	}
	return h*60 + m, nil
}

// Contains reports whether t, read in loc, falls inside business hours.
func (s Spec) Contains(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	if !s.days[lt.Weekday()] {
		return false
	}
	min := lt.Hour()*60 + lt.Minute()
	return min >= s.start && min < s.end
}

// NextStart returns the first moment at or after t when business hours
// begin, in loc. Follow-ups for the owning team are scheduled there.
func (s Spec) NextStart(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	for i := 0; i < 8; i++ {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 0, 0, 0, 0, loc)
		if !s.days[day.Weekday()] {
			continue
		}
		start := day.Add(time.Duration(s.start) * time.Minute)
		if !start.Before(lt) {
			return start
		}
	}
	return lt
}

// String returns the specification as written.
func (s Spec) String() string { return s.text }
