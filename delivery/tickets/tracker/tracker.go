// Package tracker is what the ticket worker and an issue tracker say to
// each other, free of any wire format: a new issue and its description as
// neutral rich text (Doc), an issue as read back, and the classes of
// failure the worker acts on (a setting to fix, an issue gone, an outage
// to wait out). providers/jira renders a Doc in Atlassian's formats and
// returns these errors; tickets reads them without importing the client.
package tracker

import (
	"errors"
	"fmt"
	"time"
)

// IssueRequest is a new issue.
type IssueRequest struct {
	Project     string // project key, e.g. "PAY"
	IssueType   string // e.g. "Task", "Bug"
	Summary     string
	Description Doc
	// Priority is a priority name; empty leaves the project's default.
	Priority string
	// Labels may not contain spaces (Jira refuses them).
	Labels []string
}

// Issue is what the bot reads back of an issue.
type Issue struct {
	Key     string
	Project string
	Summary string
	Status  string
	// StatusCategory is Jira's "new", "indeterminate" or "done".
	StatusCategory string
	Labels         []string
}

// User is the account the client authenticates as.
type User struct {
	AccountID   string // Cloud
	Name        string // Data Center user name
	DisplayName string
}

// Sentinel classes of errors; an *Error wraps exactly one of them.
var (
	// ErrUnauthorized: the credentials were rejected (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the account may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the project or issue does not exist or is not visible.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the tracker refused the request as invalid (400);
	// retrying the same request will not help until a setting or the
	// input changes.
	ErrInvalid = errors.New("invalid request")
	// ErrTransient: an outage, a rate limit or a network failure; retry.
	ErrTransient = errors.New("temporarily unavailable")
	// ErrNoTransition: the issue's workflow offers none of the wanted
	// transitions from its current status.
	ErrNoTransition = errors.New("no matching transition")
)

// Error is a failed Jira call, in words a person can act on.
type Error struct {
	Op     string // what was attempted, e.g. "create issue in PAY"
	Status int    // HTTP status, 0 for network failures
	Kind   error  // one of the sentinels
	// Msg explains the failure: Jira's own messages, or which setting to
	// check.
	Msg string
	// RetryAfter is Jira's Retry-After on 429 and 503, zero when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("jira %s: %d %s", e.Op, e.Status, e.Msg)
	}
	return fmt.Sprintf("jira %s: %s", e.Op, e.Msg)
}

// Unwrap returns the class.
func (e *Error) Unwrap() error { return e.Kind }

// Temporary reports whether err is worth retrying as is.
func Temporary(err error) bool { return errors.Is(err, ErrTransient) }

// RetryAfter returns how long the tracker asked to wait, zero when it did
// not.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
