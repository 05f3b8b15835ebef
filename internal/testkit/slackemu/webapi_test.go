package slackemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

func newServer(t *testing.T, opts slackemu.Options) *slackemu.Server {
	t.Helper()
	srv := slackemu.New(opts)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func newAPI(srv *slackemu.Server, extra ...slack.Option) *slack.Client {
	o := srv.Options()
	opts := append([]slack.Option{slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(o.AppToken)}, extra...)
	return slack.New(o.BotToken, opts...)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// slackErr extracts the Slack error code from an error returned by slack-go.
func slackErr(err error) string {
	var resp slack.SlackErrorResponse
	if errors.As(err, &resp) {
		return resp.Err
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestPostMessageGivesUniqueIncreasingTimestamps(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)

	const posts = 30
	var stamps []string
	for i := range posts {
		_, ts, err := api.PostMessage(ch, slack.MsgOptionText("finding "+strconv.Itoa(i), false))
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		stamps = append(stamps, ts)
	}
	sameSecond := false
	for i := 1; i < len(stamps); i++ {
		prev, _ := strconv.ParseFloat(stamps[i-1], 64)
		cur, _ := strconv.ParseFloat(stamps[i], 64)
		if cur <= prev {
			t.Errorf("ts %s after %s is not increasing", stamps[i], stamps[i-1])
		}
		if strings.Split(stamps[i], ".")[0] == strings.Split(stamps[i-1], ".")[0] {
			sameSecond = true
		}
	}
	if !sameSecond {
		t.Fatalf("no two posts landed in the same second, the test proves nothing: %v", stamps)
	}
	got := srv.Messages(ch)
	if len(got) != posts {
		t.Fatalf("stored %d messages, want %d", len(got), posts)
	}
	for i, m := range got {
		if m.TS != stamps[i] || m.Text != "finding "+strconv.Itoa(i) {
			t.Errorf("message %d = %s %q, want %s %q", i, m.TS, m.Text, stamps[i], "finding "+strconv.Itoa(i))
		}
	}
}

func TestThreadReplies(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "team-payments"})
	api := newAPI(srv)

	_, parent, err := api.PostMessage(ch, slack.MsgOptionText("S3 bucket made public", false))
	if err != nil {
		t.Fatal(err)
	}
	_, first, err := api.PostMessage(ch, slack.MsgOptionText("owner notified", false), slack.MsgOptionTS(parent))
	if err != nil {
		t.Fatal(err)
	}
	// A reply addressed to a reply lands in the parent's thread.
	_, _, msg, err := api.PostMessageWithResponse(ch, slack.MsgOptionText("remediated", false), slack.MsgOptionTS(first))
	if err != nil {
		t.Fatal(err)
	}
	if msg.ThreadTimestamp != parent {
		t.Errorf("reply thread_ts = %q, want parent %q", msg.ThreadTimestamp, parent)
	}

	if top := srv.Messages(ch); len(top) != 1 || top[0].TS != parent || top[0].ReplyCount != 2 {
		t.Errorf("top-level messages = %+v, want only the parent with 2 replies", top)
	}
	replies := srv.Replies(ch, parent)
	if len(replies) != 2 || replies[0].Text != "owner notified" || replies[1].Text != "remediated" {
		t.Errorf("replies = %+v, want the two replies in order", replies)
	}

	_, _, err = api.PostMessage(ch, slack.MsgOptionText("lost", false), slack.MsgOptionTS("123.456"))
	if got := slackErr(err); got != "thread_not_found" {
		t.Errorf("reply to unknown thread: error %q, want thread_not_found", got)
	}

	// conversations.replies: the parent first, then the replies, with
	// metadata only when asked for.
	meta := slack.SlackMetadata{EventType: "secops_reply", EventPayload: map[string]any{"key": "k1"}}
	if _, _, err := api.PostMessage(ch, slack.MsgOptionText("with metadata", false), slack.MsgOptionTS(parent), slack.MsgOptionMetadata(meta)); err != nil {
		t.Fatal(err)
	}
	for _, withMeta := range []bool{false, true} {
		msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: parent, IncludeAllMetadata: withMeta})
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		if strings.Join(texts, "|") != "S3 bucket made public|owner notified|remediated|with metadata" {
			t.Errorf("conversations.replies = %q, want the parent then the replies in order", texts)
		}
		if got := msgs[len(msgs)-1].Metadata.EventType; (got != "") != withMeta {
			t.Errorf("include_all_metadata=%v: metadata event type %q", withMeta, got)
		}
	}
	if _, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: ch, Timestamp: "123.456"}); slackErr(err) != "thread_not_found" {
		t.Errorf("replies of an unknown thread: %v, want thread_not_found", err)
	}
}

// TestLostAnswers: the call takes effect, but the client is told it failed.
func TestLostAnswers(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)
	srv.LoseAnswers("chat.postMessage", 1)
	if _, _, err := api.PostMessage(ch, slack.MsgOptionText("posted in the dark", false)); err == nil {
		t.Fatal("the first post succeeded, want its answer lost")
	}
	if _, _, err := api.PostMessage(ch, slack.MsgOptionText("second", false)); err != nil {
		t.Fatalf("the second post: %v", err)
	}
	if top := srv.Messages(ch); len(top) != 2 || top[0].Text != "posted in the dark" {
		t.Errorf("messages = %+v, want both posts, the first included", top)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 2 || calls[0].Status != http.StatusGatewayTimeout || calls[1].Status != http.StatusOK {
		t.Errorf("calls = %+v, want a 504 then a 200", calls)
	}
}

func TestChatUpdateEditsInPlace(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)

	_, ts, err := api.PostMessage(ch, slack.MsgOptionText("open", false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*Finding* open", false, false), nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, text, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("resolved", false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*Finding* resolved", false, false), nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if text != "resolved" {
		t.Errorf("update answered text %q, want resolved", text)
	}
	m, ok := srv.Message(ch, ts)
	if !ok {
		t.Fatal("message vanished after update")
	}
	if m.Text != "resolved" || !strings.Contains(string(m.Blocks), "*Finding* resolved") {
		t.Errorf("current version = %q %s, want the edit", m.Text, m.Blocks)
	}
	if len(m.Edits) != 1 || m.Edits[0].Text != "open" || !strings.Contains(string(m.Edits[0].Blocks), "*Finding* open") || m.Edits[0].Via != "chat.update" {
		t.Errorf("edit history = %+v, want the original version", m.Edits)
	}
	if n := len(srv.Messages(ch)); n != 1 {
		t.Errorf("channel holds %d messages after an edit, want 1", n)
	}

	_, _, _, err = api.UpdateMessage(ch, "1.000001", slack.MsgOptionText("x", false))
	if got := slackErr(err); got != "message_not_found" {
		t.Errorf("update of unknown ts: error %q, want message_not_found", got)
	}
}

func TestWebAPIErrors(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	public := srv.PutChannel(slackemu.Channel{Name: "general"})
	outside := srv.PutChannel(slackemu.Channel{Name: "team-x", NotMember: true})
	archived := srv.PutChannel(slackemu.Channel{Name: "old", Archived: true})
	private := srv.PutChannel(slackemu.Channel{Name: "hidden", IsPrivate: true, NotMember: true})
	api := newAPI(srv)
	o := srv.Options()

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"wrong bot token", func() error {
			_, err := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.APIURL())).AuthTest()
			return err
		}, "invalid_auth"},
		{"app token on a bot method", func() error {
			_, err := slack.New(o.AppToken, slack.OptionAPIURL(srv.APIURL())).AuthTest()
			return err
		}, "not_allowed_token_type"},
		{"bot token opening a socket", func() error {
			_, _, err := slack.New(o.BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(o.BotToken)).StartSocketModeContext(context.Background())
			return err
		}, "not_allowed_token_type"},
		{"bot not in channel", func() error {
			_, _, err := api.PostMessage(outside, slack.MsgOptionText("hi", false))
			return err
		}, "not_in_channel"},
		{"archived channel", func() error {
			_, _, err := api.PostMessage(archived, slack.MsgOptionText("hi", false))
			return err
		}, "is_archived"},
		{"private channel the bot cannot see", func() error {
			_, _, err := api.PostMessage(private, slack.MsgOptionText("hi", false))
			return err
		}, "channel_not_found"},
		{"unknown channel", func() error {
			_, _, err := api.PostMessage("C404", slack.MsgOptionText("hi", false))
			return err
		}, "channel_not_found"},
		{"empty message", func() error {
			_, _, err := api.PostMessage(public)
			return err
		}, "no_text"},
		{"section text over 3000 characters", func() error {
			_, _, err := api.PostMessage(public, slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(
				slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("a", 3001), false, false), nil, nil)))
			return err
		}, "invalid_blocks"},
		{"header over 150 characters", func() error {
			_, _, err := api.PostMessage(public, slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(
				slack.NewHeaderBlock(slack.NewTextBlockObject("plain_text", strings.Repeat("h", 151), false, false))))
			return err
		}, "invalid_blocks"},
		{"more than 50 blocks", func() error {
			blocks := make([]slack.Block, 51)
			for i := range blocks {
				blocks[i] = slack.NewDividerBlock()
			}
			_, _, err := api.PostMessage(public, slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(blocks...))
			return err
		}, "invalid_blocks"},
		{"duplicate action_id", func() error {
			b1 := slack.NewButtonBlockElement("ack", "1", slack.NewTextBlockObject("plain_text", "Ack", false, false))
			b2 := slack.NewButtonBlockElement("ack", "2", slack.NewTextBlockObject("plain_text", "Ack", false, false))
			_, _, err := api.PostMessage(public, slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(slack.NewActionBlock("", b1, b2)))
			return err
		}, "invalid_blocks"},
		{"unknown user", func() error {
			_, err := api.GetUserInfo("U404")
			return err
		}, "user_not_found"},
		{"unknown email", func() error {
			_, err := api.GetUserByEmail("nobody@example.com")
			return err
		}, "users_not_found"},
		{"schedule in the past", func() error {
			_, _, err := api.ScheduleMessage(public, strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10), slack.MsgOptionText("x", false))
			return err
		}, "time_in_past"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := slackErr(tc.call()); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
	if n := len(srv.Messages(public)); n != 0 {
		t.Errorf("rejected posts left %d messages behind", n)
	}
}

func TestUnknownMethodIsRecorded(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	resp, err := http.PostForm(srv.APIURL()+"conversations.mark", url.Values{
		"token": {srv.Options().BotToken}, "channel": {"C1"}, "ts": {"1.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := decodeJSON(resp, &body); err != nil {
		t.Fatal(err)
	}
	if body.OK || body.Error != "unknown_method" {
		t.Errorf("answer = %+v, want unknown_method", body)
	}
	calls := srv.CallsTo("conversations.mark")
	if len(calls) != 1 || calls[0].Params.Get("channel") != "C1" || calls[0].Error != "unknown_method" {
		t.Errorf("recorded calls = %+v", calls)
	}
	if calls[0].Params.Has("token") {
		t.Error("the token was recorded with the params")
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name      string
		clientOpt []slack.Option
		wantErr   bool
	}{
		{name: "plain client sees RateLimitedError", wantErr: true},
		{name: "retrying client waits Retry-After and succeeds", clientOpt: []slack.Option{
			slack.OptionRetryConfig(slack.RetryConfig{MaxRetries: 1}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, slackemu.Options{})
			ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
			api := newAPI(srv, tc.clientOpt...)
			srv.RateLimit("chat.postMessage", 1, time.Second)

			start := time.Now()
			_, _, err := api.PostMessage(ch, slack.MsgOptionText("hi", false))
			var rl *slack.RateLimitedError
			if tc.wantErr {
				if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
					t.Fatalf("error = %v, want RateLimitedError with 1s", err)
				}
				if _, _, err := api.PostMessage(ch, slack.MsgOptionText("hi", false)); err != nil {
					t.Fatalf("second post after the limit: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("retrying post: %v", err)
				}
				if waited := time.Since(start); waited < time.Second {
					t.Errorf("client retried after %v, before Retry-After", waited)
				}
			}
			calls := srv.CallsTo("chat.postMessage")
			if len(calls) != 2 || calls[0].Status != http.StatusTooManyRequests || calls[1].Status != http.StatusOK {
				t.Errorf("calls = %+v, want a 429 then a 200", calls)
			}
			if n := len(srv.Messages(ch)); n != 1 {
				t.Errorf("%d messages stored, want 1", n)
			}
		})
	}
}

func TestInjectedFailures(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)

	srv.FailNext("chat.postMessage", 2, "fatal_error")
	for i := range 2 {
		if _, _, err := api.PostMessage(ch, slack.MsgOptionText("x", false)); slackErr(err) != "fatal_error" {
			t.Fatalf("post %d: error %v, want fatal_error", i, err)
		}
	}
	_, ts, err := api.PostMessage(ch, slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatalf("post after injected failures: %v", err)
	}

	srv.FailFor("chat.update", 300*time.Millisecond, "internal_error")
	if _, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("y", false)); slackErr(err) != "internal_error" {
		t.Fatalf("update inside the window: %v, want internal_error", err)
	}
	time.Sleep(350 * time.Millisecond)
	if _, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("y", false)); err != nil {
		t.Fatalf("update after the window: %v", err)
	}
	if m, _ := srv.Message(ch, ts); m.Text != "y" || len(m.Edits) != 1 {
		t.Errorf("message = %q with %d edits, want one successful edit", m.Text, len(m.Edits))
	}
}

func TestDirectory(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	srv.PutUser(slackemu.User{ID: "U1", Name: "alice", Email: "alice@example.com"})
	srv.PutUser(slackemu.User{ID: "U2", Name: "guest", IsRestricted: true})
	srv.PutUser(slackemu.User{ID: "U3", Name: "outsider", TeamID: "T0OTHER"})
	srv.PutUser(slackemu.User{ID: "U4", Name: "gone", Deleted: true})
	srv.PutUser(slackemu.User{ID: "U5", Name: "ci", IsBot: true})
	grp := srv.PutUsergroup(slackemu.Usergroup{Handle: "secops-oncall", Users: []string{"U1", "U3"}})
	open := srv.PutChannel(slackemu.Channel{Name: "team-a", NotMember: true})
	api := newAPI(srv)

	t.Run("users.info flags", func(t *testing.T) {
		tests := []struct {
			id   string
			want func(*slack.User) bool
		}{
			{"U1", func(u *slack.User) bool {
				return u.Profile.Email == "alice@example.com" && u.TeamID == srv.Options().TeamID
			}},
			{"U2", func(u *slack.User) bool { return u.IsRestricted && !u.IsUltraRestricted }},
			{"U3", func(u *slack.User) bool { return u.TeamID == "T0OTHER" }},
			{"U4", func(u *slack.User) bool { return u.Deleted }},
			{"U5", func(u *slack.User) bool { return u.IsBot }},
		}
		for _, tc := range tests {
			u, err := api.GetUserInfo(tc.id)
			if err != nil {
				t.Fatalf("%s: %v", tc.id, err)
			}
			if !tc.want(u) {
				t.Errorf("%s: unexpected user %+v", tc.id, u)
			}
		}
	})

	t.Run("lookup by email", func(t *testing.T) {
		u, err := api.GetUserByEmail("ALICE@example.com")
		if err != nil || u.ID != "U1" {
			t.Errorf("lookup = %v, %v; want U1", u, err)
		}
	})

	t.Run("usergroups and the free plan", func(t *testing.T) {
		members, err := api.GetUserGroupMembers(grp)
		if err != nil || strings.Join(members, ",") != "U1,U3" {
			t.Errorf("members = %v, %v", members, err)
		}
		groups, err := api.GetUserGroups(slack.GetUserGroupsOptionIncludeUsers(true))
		if err != nil || len(groups) != 1 || groups[0].Handle != "secops-oncall" || len(groups[0].Users) != 2 {
			t.Errorf("groups = %+v, %v", groups, err)
		}
		srv.SetFreePlan(true)
		defer srv.SetFreePlan(false)
		if _, err := api.GetUserGroupMembers(grp); slackErr(err) != "plan_upgrade_required" {
			t.Errorf("free plan: %v, want plan_upgrade_required", err)
		}
	})

	t.Run("conversations", func(t *testing.T) {
		dm, _, already, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U1"}})
		if err != nil || already || !strings.HasPrefix(dm.ID, "D") {
			t.Fatalf("open DM = %+v %v %v", dm, already, err)
		}
		again, _, already, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U1"}})
		if err != nil || !already || again.ID != dm.ID {
			t.Errorf("reopen DM = %+v %v %v, want the same channel", again, already, err)
		}
		if _, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U4"}}); slackErr(err) != "user_disabled" {
			t.Errorf("DM with deleted user: %v, want user_disabled", err)
		}
		if _, _, err := api.PostMessage(dm.ID, slack.MsgOptionText("your session expires in 5 min", false)); err != nil {
			t.Errorf("post to DM: %v", err)
		}

		info, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: open})
		if err != nil || info.Name != "team-a" || info.IsMember {
			t.Errorf("info = %+v, %v", info, err)
		}
		if _, _, _, err := api.JoinConversation(open); err != nil {
			t.Fatalf("join: %v", err)
		}
		if _, _, err := api.PostMessage(open, slack.MsgOptionText("joined", false)); err != nil {
			t.Errorf("post after join: %v", err)
		}
		chans, _, err := api.GetConversations(&slack.GetConversationsParameters{Types: []string{"public_channel"}})
		if err != nil || len(chans) != 1 || chans[0].ID != open {
			t.Errorf("list = %+v, %v", chans, err)
		}
	})
}

func TestEphemeralScheduledPermalink(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)

	if _, err := api.PostEphemeral(ch, "U1", slack.MsgOptionText("only you", false)); err != nil {
		t.Fatal(err)
	}
	if e := srv.Ephemerals(); len(e) != 1 || e[0].User != "U1" || e[0].Text != "only you" || e[0].Via != "chat.postEphemeral" {
		t.Errorf("ephemerals = %+v", e)
	}
	if n := len(srv.Messages(ch)); n != 0 {
		t.Errorf("an ephemeral message became a channel message")
	}

	postAt := time.Now().Add(10 * time.Hour).Unix()
	_, id, err := api.ScheduleMessage(ch, strconv.FormatInt(postAt, 10), slack.MsgOptionText("morning follow-up", false))
	if err != nil {
		t.Fatal(err)
	}
	if s := srv.ScheduledMessages(); len(s) != 1 || s[0].ID != id || s[0].PostAt.Unix() != postAt || s[0].Text != "morning follow-up" {
		t.Errorf("scheduled = %+v, want id %s", s, id)
	}

	_, parent, _ := api.PostMessage(ch, slack.MsgOptionText("parent", false))
	_, reply, _ := api.PostMessage(ch, slack.MsgOptionText("reply", false), slack.MsgOptionTS(parent))
	link, err := api.GetPermalink(&slack.PermalinkParameters{Channel: ch, Ts: reply})
	if err != nil {
		t.Fatal(err)
	}
	want := "/archives/" + ch + "/p" + strings.ReplaceAll(reply, ".", "") + "?thread_ts=" + parent
	if !strings.Contains(link, want) {
		t.Errorf("permalink %q lacks %q", link, want)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
