package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

// The people a provider names as on call are matched to Slack users by
// e-mail address, the way Slack answers users.lookupByEmail.
func TestUserIDByEmail(t *testing.T) {
	srv := slackemu.New(slackemu.Options{})
	srv.Start()
	t.Cleanup(srv.Close)
	srv.PutUser(slackemu.User{ID: "U0SAM", Name: "sam", Email: "sam@example.com"})
	srv.PutUser(slackemu.User{ID: "U0ANNA", Name: "anna", Email: "Anna.Schmidt@example.com"})
	srv.PutUser(slackemu.User{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Deleted: true})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	o := srv.Options()
	b, err := Connect(ctx, Config{AppToken: o.AppToken, BotToken: o.BotToken, APIURL: srv.APIURL()}, nil, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		email string
		want  string
		calls int
	}{
		{"a member", "sam@example.com", "U0SAM", 1},
		{"addresses match whatever their case", "anna.schmidt@EXAMPLE.com", "U0ANNA", 1},
		{"nobody with that address (users_not_found)", "contractor@elsewhere.example", "", 1},
		{"a deactivated member is not found", "gone@example.com", "", 1},
		{"no address: no call", " ", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.CallsTo("users.lookupByEmail"))
			got, err := b.UserIDByEmail(ctx, tc.email)
			if err != nil || got != tc.want {
				t.Errorf("UserIDByEmail(%q) = %q, %v; want %q", tc.email, got, err, tc.want)
			}
			if n := len(srv.CallsTo("users.lookupByEmail")) - before; n != tc.calls {
				t.Errorf("%d calls to users.lookupByEmail, want %d", n, tc.calls)
			}
		})
	}

	// Other failures are errors, so the caller can report them.
	srv.RateLimit("users.lookupByEmail", 1, 30*time.Second)
	_, err = b.UserIDByEmail(ctx, "sam@example.com")
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Errorf("rate limited: %v, want slack's RateLimitedError after 30s", err)
	}
	srv.FailNext("users.lookupByEmail", 1, "missing_scope")
	if _, err := b.UserIDByEmail(ctx, "sam@example.com"); err == nil {
		t.Error("missing_scope: no error")
	}
}
