package tracker

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		text      string
		temporary bool
		retry     time.Duration
		kind      error
	}{
		{"rate limited, wrapped", fmt.Errorf("create ticket: %w", &Error{Op: "create issue in PAY", Status: 429, Kind: ErrTransient, Msg: "rate limited", RetryAfter: 7 * time.Second}),
			"create ticket: jira create issue in PAY: 429 rate limited", true, 7 * time.Second, ErrTransient},
		{"network failure has no status", &Error{Op: "check credentials", Kind: ErrTransient, Msg: "jira.base_url unreachable"},
			"jira check credentials: jira.base_url unreachable", true, 0, ErrTransient},
		{"issue gone", &Error{Op: "comment on PAY-9", Status: 404, Kind: ErrNotFound, Msg: "issue PAY-9 does not exist"},
			"jira comment on PAY-9: 404 issue PAY-9 does not exist", false, 0, ErrNotFound},
		{"not a tracker error", errors.New("boom"), "boom", false, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
			}
			if got := Temporary(tc.err); got != tc.temporary {
				t.Errorf("Temporary = %v, want %v", got, tc.temporary)
			}
			if got := RetryAfter(tc.err); got != tc.retry {
				t.Errorf("RetryAfter = %v, want %v", got, tc.retry)
			}
			if tc.kind != nil && !errors.Is(tc.err, tc.kind) {
				t.Errorf("error does not wrap %v", tc.kind)
			}
		})
	}
}
