package slackemu_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject("plain_text", s, false, false)
}

func reasonModal() slack.ModalViewRequest {
	opts := []*slack.OptionBlockObject{
		slack.NewOptionBlockObject("deactivate_keys", plain("Deactivate access keys"), nil),
		slack.NewOptionBlockObject("revoke_sessions", plain("Revoke sessions"), nil),
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plain("Contain BackupManager"),
		Submit:          plain("Contain"),
		CallbackID:      "contain",
		PrivateMetadata: "finding-1",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("reason", plain("Reason"), nil, slack.NewPlainTextInputBlockElement(plain("why"), "reason_input")),
			slack.NewInputBlock("opts", plain("Also"), nil, slack.NewCheckboxGroupsBlockElement("opts_cb", opts...)).WithOptional(true),
		}},
	}
}

func findingBlocks() []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*Snapshot shared with unknown account*", false, false), nil, nil),
		slack.NewActionBlock("finding-actions",
			slack.NewButtonBlockElement("ack", "finding-1", plain("Acknowledge")).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement("contain", "finding-1", plain("Contain")).WithStyle(slack.StyleDanger),
		),
	}
}

func TestButtonModalAndResponseURL(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	srv.PutUser(slackemu.User{ID: "U1", Name: "alice"})
	api := newAPI(srv)
	_, ts, err := api.PostMessage(ch, slack.MsgOptionText("Snapshot shared", false), slack.MsgOptionBlocks(findingBlocks()...))
	if err != nil {
		t.Fatal(err)
	}

	clicks := make(chan slack.InteractionCallback, 2)
	submits := make(chan slack.InteractionCallback, 2)
	openErrs := make(chan error, 2)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type != socketmode.EventTypeInteractive {
			return
		}
		cb := evt.Data.(slack.InteractionCallback)
		switch cb.Type {
		case slack.InteractionTypeBlockActions:
			// Open the modal before acking: the trigger lives 3 seconds.
			_, err := c.OpenView(cb.TriggerID, reasonModal())
			openErrs <- err
			clicks <- cb
			ack(c, evt)
		case slack.InteractionTypeViewSubmission:
			submits <- cb
			ack(c, evt)
		}
	})
	ctx := testCtx(t)

	if _, err := srv.ClickButton(ctx, slackemu.BlockAction{UserID: "U1", ChannelID: ch, MessageTS: ts, ActionID: "contain"}); err != nil {
		t.Fatalf("click: %v", err)
	}
	if err := <-openErrs; err != nil {
		t.Fatalf("views.open with the click's trigger: %v", err)
	}
	cb := <-clicks
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("actions = %+v", cb.ActionCallback)
	}
	act := cb.ActionCallback.BlockActions[0]
	if act.ActionID != "contain" || act.BlockID != "finding-actions" || act.Value != "finding-1" || act.Text.Text != "Contain" {
		t.Errorf("action = %+v", act)
	}
	if cb.User.ID != "U1" || cb.User.Name != "alice" || cb.User.TeamID != srv.Options().TeamID || cb.Team.ID != srv.Options().TeamID {
		t.Errorf("who = user %+v team %+v", cb.User, cb.Team)
	}
	if cb.Channel.ID != ch || cb.Container.ChannelID != ch || cb.Container.MessageTs != ts || cb.Message.Timestamp != ts ||
		len(cb.Message.Blocks.BlockSet) != 2 || cb.Message.Text != "Snapshot shared" || cb.ResponseURL == "" {
		t.Errorf("context: channel %+v container %+v message ts %q blocks %d response_url %q",
			cb.Channel, cb.Container, cb.Message.Timestamp, len(cb.Message.Blocks.BlockSet), cb.ResponseURL)
	}

	views := srv.Views()
	if len(views) != 1 || !views[0].Open || views[0].UserID != "U1" || views[0].CallbackID != "contain" || views[0].PrivateMetadata != "finding-1" {
		t.Fatalf("views = %+v", views)
	}

	_, err = srv.SubmitView(ctx, slackemu.ViewSubmission{
		CallbackID: "contain",
		Values: map[string]map[string]string{
			"reason": {"reason_input": "contractor role, unknown account"},
			"opts":   {"opts_cb": "deactivate_keys,revoke_sessions"},
		},
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	sub := <-submits
	state := sub.View.State.Values
	if sub.View.ID != views[0].ID || sub.View.PrivateMetadata != "finding-1" || sub.User.ID != "U1" {
		t.Errorf("submission view %s metadata %q user %s", sub.View.ID, sub.View.PrivateMetadata, sub.User.ID)
	}
	if got := state["reason"]["reason_input"].Value; got != "contractor role, unknown account" {
		t.Errorf("reason = %q", got)
	}
	if got := state["opts"]["opts_cb"].SelectedOptions; len(got) != 2 || got[0].Value != "deactivate_keys" || got[1].Text.Text != "Revoke sessions" {
		t.Errorf("checkboxes = %+v", got)
	}
	if v, _ := srv.View(views[0].ID); v.Open {
		t.Error("an empty ack did not close the modal")
	}

	// The bot answers through the click's response_url, replacing the card.
	if _, _, err := api.PostMessage("", slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("Contained by <@U1>", false)); err != nil {
		t.Fatalf("post to response_url: %v", err)
	}
	m, _ := srv.Message(ch, ts)
	if m.Text != "Contained by <@U1>" || len(m.Blocks) != 0 || len(m.Edits) != 1 || m.Edits[0].Via != "response_url" {
		t.Errorf("message after replace_original = %q blocks %s edits %+v", m.Text, m.Blocks, m.Edits)
	}
	if posts := srv.ResponsePosts(); len(posts) != 1 || !posts[0].ReplaceOriginal || posts[0].Kind != "actions" || posts[0].Status != 200 {
		t.Errorf("response posts = %+v", posts)
	}
}

func TestClickButtonRejectsWhatSlackWouldNotSend(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	api := newAPI(srv)
	_, ts, err := api.PostMessage(ch, slack.MsgOptionText("card", false), slack.MsgOptionBlocks(findingBlocks()...))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	tests := []struct {
		name   string
		action slackemu.BlockAction
	}{
		{"unknown message", slackemu.BlockAction{UserID: "U1", ChannelID: ch, MessageTS: "1.000001", ActionID: "ack"}},
		{"button not in the message", slackemu.BlockAction{UserID: "U1", ChannelID: ch, MessageTS: ts, ActionID: "approve"}},
		{"button in another block", slackemu.BlockAction{UserID: "U1", ChannelID: ch, MessageTS: ts, ActionID: "ack", BlockID: "other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.ClickButton(ctx, tc.action); !errors.Is(err, slackemu.ErrNotFound) {
				t.Errorf("error = %v, want ErrNotFound", err)
			}
		})
	}
	if n := len(srv.Envelopes()); n != 0 {
		t.Errorf("%d envelopes sent for impossible clicks", n)
	}
}

func TestViewsOpenTriggerRules(t *testing.T) {
	srv := newServer(t, slackemu.Options{TriggerTTL: 100 * time.Millisecond})
	api := newAPI(srv)

	used := srv.IssueTrigger("U1")
	if _, err := api.OpenView(used, reasonModal()); err != nil {
		t.Fatalf("fresh trigger: %v", err)
	}
	expired := srv.IssueTrigger("U1")
	time.Sleep(150 * time.Millisecond)

	tests := []struct {
		name    string
		trigger string
		want    string
	}{
		{"trigger used twice", used, "exchanged_trigger_id"},
		{"trigger past its lifetime", expired, "expired_trigger_id"},
		{"trigger never issued", "1.2.abc", "invalid_trigger_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := api.OpenView(tc.trigger, reasonModal()); slackErr(err) != tc.want {
				t.Errorf("error = %v, want %s", err, tc.want)
			}
		})
	}
	if n := len(srv.Views()); n != 1 {
		t.Errorf("%d views stored, want only the one opened with a fresh trigger", n)
	}
}

func TestViewsUpdatePushAndLimits(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	api := newAPI(srv)
	resp, err := api.OpenView(srv.IssueTrigger("U1"), reasonModal())
	if err != nil {
		t.Fatal(err)
	}
	root := resp.View

	next := reasonModal()
	next.Title = plain("Confirm")
	updated, err := api.UpdateView(next, "", root.Hash, root.ID)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.View.Hash == root.Hash || updated.View.Title.Text != "Confirm" {
		t.Errorf("updated view = %+v", updated.View)
	}
	if _, err := api.UpdateView(next, "", root.Hash, root.ID); slackErr(err) != "hash_conflict" {
		t.Errorf("update with a stale hash: %v, want hash_conflict", err)
	}

	pushed, err := api.PushView(srv.IssueTrigger("U1"), reasonModal())
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if pushed.View.RootViewID != root.ID || pushed.View.PreviousViewID != root.ID {
		t.Errorf("pushed view root %q previous %q, want %q", pushed.View.RootViewID, pushed.View.PreviousViewID, root.ID)
	}

	long := reasonModal()
	long.Title = plain(strings.Repeat("t", 25))
	if _, err := api.OpenView(srv.IssueTrigger("U1"), long); slackErr(err) != "invalid_arguments" {
		t.Errorf("title over 24 characters: %v, want invalid_arguments", err)
	}
}

func TestViewSubmissionErrorsKeepTheModalOpen(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	api := newAPI(srv)
	resp, err := api.OpenView(srv.IssueTrigger("U1"), reasonModal())
	if err != nil {
		t.Fatal(err)
	}
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeInteractive {
			ack(c, evt, slack.NewErrorsViewSubmissionResponse(map[string]string{"reason": "Give a reason of 10 characters or more"}))
		}
	})
	ctx := testCtx(t)

	if _, err := srv.SubmitView(ctx, slackemu.ViewSubmission{ViewID: resp.View.ID}); err == nil {
		t.Fatal("submitting without the required reason succeeded")
	}
	if _, err := srv.SubmitView(ctx, slackemu.ViewSubmission{ViewID: resp.View.ID, Values: map[string]map[string]string{
		"reason": {"reason_input": "short"},
	}}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	v, _ := srv.View(resp.View.ID)
	if !v.Open || v.Errors["reason"] == "" {
		t.Errorf("view after an errors response = open %v errors %v", v.Open, v.Errors)
	}
}

func TestCommandResponseURL(t *testing.T) {
	srv := newServer(t, slackemu.Options{})
	ch := srv.PutChannel(slackemu.Channel{Name: "secops"})
	urls := make(chan string, 1)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			urls <- evt.Data.(slack.SlashCommand).ResponseURL
			ack(c, evt)
		}
	})
	ctx := testCtx(t)
	if _, err := srv.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: "findings", UserID: "U1", ChannelID: ch}); err != nil {
		t.Fatal(err)
	}
	responseURL := <-urls
	api := newAPI(srv)

	tests := []struct {
		name         string
		responseType string
		wantChannel  int // channel messages after the post
		wantEphem    int // ephemeral messages after the post
		wantErr      bool
	}{
		{"default is ephemeral", "", 0, 1, false},
		{"in_channel posts for everyone", slack.ResponseTypeInChannel, 1, 1, false},
		{"third use", slack.ResponseTypeEphemeral, 1, 2, false},
		{"fourth use", slack.ResponseTypeEphemeral, 1, 3, false},
		{"fifth use", slack.ResponseTypeEphemeral, 1, 4, false},
		{"sixth use is refused", slack.ResponseTypeEphemeral, 1, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(responseURL, tc.responseType), slack.MsgOptionText("3 open findings", false))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if n := len(srv.Messages(ch)); n != tc.wantChannel {
				t.Errorf("channel messages = %d, want %d", n, tc.wantChannel)
			}
			if n := len(srv.Ephemerals()); n != tc.wantEphem {
				t.Errorf("ephemeral messages = %d, want %d", n, tc.wantEphem)
			}
		})
	}
	if e := srv.Ephemerals()[0]; e.User != "U1" || e.Channel != ch || e.Via != "response_url" {
		t.Errorf("ephemeral = %+v, want it shown to U1 in %s", e, ch)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	srv := slackemu.New(slackemu.Options{})
	srv.Close()
	srv.Close()
	if _, err := srv.SendEnvelope(testCtx(t), slackemu.EnvelopeEventsAPI, map[string]any{}); !errors.Is(err, slackemu.ErrClosed) {
		t.Errorf("send after close: %v, want ErrClosed", err)
	}
}
