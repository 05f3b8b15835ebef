// Package clock lets code that depends on time (expiry, schedules, business
// hours) be driven by tests instead of sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock is the source of the current time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// Fake is a clock that only moves when told to.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// Set moves the fake clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

// Shifted is the wall clock moved to another date: it reads start when
// made and runs in real time from there. Tests use it to run the whole bot
// a month or a year after the events of their fixtures, where timers and
// network deadlines still need real time to pass.
type Shifted struct {
	offset time.Duration
}

// ShiftedTo returns a running clock that reads start now.
func ShiftedTo(start time.Time) Shifted { return Shifted{offset: time.Until(start)} }

// Now returns the wall clock's time moved by the shift.
func (s Shifted) Now() time.Time { return time.Now().Add(s.offset) }
