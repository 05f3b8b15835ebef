package bot

import (
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/store"
)

// TestPostedNothing: a retried delivery looks for an earlier post unless
// the attempt just before it recorded that it posted nothing.
func TestPostedNothing(t *testing.T) {
	postponed := retryLater(time.Second, "thread parent not posted yet")
	refusedBySlack := slack.SlackErrorResponse{Err: "internal_error"}
	lost := errors.New("reply to F-1 in #secops: slack server error: 504 Gateway Timeout")
	tests := []struct {
		name      string
		attempts  int
		lastError string
		want      bool
	}{
		{"first attempt", 1, "", true},
		{"the attempt before was postponed", 2, attemptNote(1, postponed), true},
		{"the attempt before was refused by Slack", 4, attemptNote(3, refusedBySlack), true},
		{"the attempt before lost its answer", 2, attemptNote(1, lost), false},
		{"the attempt before ended without a word (its replica died)", 3, attemptNote(1, postponed), false},
		{"claimed again after a crash, nothing recorded", 2, "", false},
		{"a note written by an earlier version", 2, "thread parent not posted yet", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := store.OutboxItem{Attempts: tc.attempts, LastError: tc.lastError}
			if got := postedNothing(it); got != tc.want {
				t.Errorf("postedNothing(%d, %q) = %v, want %v", tc.attempts, tc.lastError, got, tc.want)
			}
		})
	}
}
