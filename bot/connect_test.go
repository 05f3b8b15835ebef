package bot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
)

// A failed auth.test blames the token only when Slack refused it.
func TestAuthTestErrorSaysWhatToFix(t *testing.T) {
	dnsFailure := &url.Error{Op: "Post", URL: "https://slack.com/api/auth.test", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "slack.com", IsNotFound: true}}}
	refusedConn := &url.Error{Op: "Post", URL: "https://slack.com/api/auth.test", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	tests := []struct {
		name    string
		err     error
		want    []string
		notWant string
	}{
		{"token refused", slack.SlackErrorResponse{Err: "invalid_auth"}, []string{"refused the bot token", "invalid_auth", "SECOPS_SLACK_BOT_TOKEN"}, ""},
		{"token revoked", fmt.Errorf("auth: %w", slack.SlackErrorResponse{Err: "token_revoked"}), []string{"token_revoked", "SECOPS_SLACK_BOT_TOKEN"}, ""},
		{"DNS failure", dnsFailure, []string{"cannot reach Slack", "looking up slack.com", "no such host", "DNS"}, "TOKEN"},
		{"connection refused", refusedConn, []string{"cannot reach Slack at https://slack.com/api/", "connection refused", "HTTPS_PROXY"}, "TOKEN"},
		{"another Slack error", slack.SlackErrorResponse{Err: "ratelimited"}, []string{"ratelimited"}, "TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := authTestError("", tc.err).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			if tc.notWant != "" && strings.Contains(got, tc.notWant) {
				t.Errorf("%q mentions %s, which cannot be the cause", got, tc.notWant)
			}
		})
	}
}

// Against a host that does not resolve, Connect says so instead of
// blaming the token.
func TestConnectToAnUnknownHost(t *testing.T) {
	_, err := Connect(context.Background(), Config{AppToken: "xapp-1", BotToken: "xoxb-1", APIURL: "http://slack-api.invalid/api/"}, nil, nil, zerolog.Nop())
	if err == nil {
		t.Fatal("connected to a host that does not exist")
	}
	if !strings.Contains(err.Error(), "cannot reach Slack") || strings.Contains(err.Error(), "TOKEN") {
		t.Errorf("Connect: %v", err)
	}
}
