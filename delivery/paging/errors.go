package paging

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels wrapped by the sources' and trackers' errors.
var (
	// ErrNoSchedule: the source has no schedule, escalation policy or
	// rotation for the team; another source may answer.
	ErrNoSchedule = errors.New("no on-call schedule for the team")
	// ErrNoIncident: the provider has no incident for the dedup key, or
	// has not created it yet.
	ErrNoIncident = errors.New("no incident with this dedup key")
)

// RateLimitedError is a provider's "too many requests" (HTTP 429). The
// request may be sent again once RetryAfter has passed.
type RateLimitedError struct {
	// Provider is "PagerDuty" or "Opsgenie".
	Provider string
	// Op is what was attempted, e.g. "trigger secops-bot-F-1-secops".
	Op string
	// RetryAfter is how long the provider asked to wait; zero when it did
	// not say, and the caller's own backoff applies.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s %s: rate limited, retry after %s", e.Provider, e.Op, e.RetryAfter)
	}
	return fmt.Sprintf("%s %s: rate limited", e.Provider, e.Op)
}

// PermanentError is a request the provider refused in a way that sending
// it again cannot fix: a bad routing key, a rejected API token, a schedule
// that does not exist. Msg says what to fix.
type PermanentError struct {
	Provider string
	Op       string
	// Status is the HTTP status, 0 when the request never left (a payload
	// that cannot be read, a team without a routing key).
	Status int
	Msg    string
}

func (e *PermanentError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s %s: %d %s: %s", e.Provider, e.Op, e.Status, http.StatusText(e.Status), e.Msg)
	}
	return fmt.Sprintf("%s %s: %s", e.Provider, e.Op, e.Msg)
}

// Retryable reports whether err is worth trying again: everything but a
// PermanentError is.
func Retryable(err error) bool {
	var p *PermanentError
	return err != nil && !errors.As(err, &p)
}

// RetryAfter returns how long a rate-limited provider asked to wait, and
// whether err is a rate limit at all.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RateLimitedError
	if errors.As(err, &r) {
		return r.RetryAfter, true
	}
	return 0, false
}

// ParseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date (taken relative to now). Anything else, or a moment already
// past, is zero.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
