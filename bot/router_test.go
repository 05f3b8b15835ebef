package bot

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// nothing is a handler for routes whose handler does not matter.
func nothing(context.Context, *Request) {}

// A route added twice, or malformed, is an error when the routes are
// built, whatever the order the features add them in.
func TestRouterRefusesBadRoutes(t *testing.T) {
	tests := []struct {
		name string
		add  func(r *Router)
		want string
	}{
		{"one button twice", func(r *Router) { r.Action("finding.ack", nothing); r.Action("finding.ack", nothing) }, "action finding.ack is routed twice"},
		{"one modal twice", func(r *Router) { r.View("finding.resolve", nothing); r.View("finding.resolve", nothing) }, "view finding.resolve is routed twice"},
		{"one command twice", func(r *Router) { r.Command(commands.Ack, nothing); r.Command(commands.Ack, nothing) }, "command ack is routed twice"},
		{"a command both instant and not", func(r *Router) {
			r.Command(commands.Help, nothing)
			r.Instant(commands.Help, func(*Request) (string, []slack.Block) { return "", nil })
		}, "command help is routed twice"},
		{"an empty action ID", func(r *Router) { r.Action("", nothing) }, `action "": not a valid ID`},
		{"a prefix ending in a dot", func(r *Router) { r.Action("playbook.", nothing) }, `action "playbook.": not a valid ID`},
		{"no handler", func(r *Router) { r.View("x", nil) }, "view x: no handler"},
		{"no such command", func(r *Router) { r.Command(commands.Kind(99), nothing) }, "not a /secops sub-command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(&fakeSlack{}, zerolog.Nop())
			tc.add(r)
			if err := r.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Err() = %v, want %q", err, tc.want)
			}
		})
	}
	// The same routes in another order are fine.
	r := newRouter(&fakeSlack{}, zerolog.Nop())
	r.Action("playbook.done", nothing)
	r.Action("playbook", nothing)
	r.View("playbook.done", nothing) // another table
	if err := r.Err(); err != nil {
		t.Error(err)
	}
}

// A button goes to the longest route that is its action ID or ends where
// a dot follows in it.
func TestRouterMatchesPrefixes(t *testing.T) {
	r := newRouter(&fakeSlack{}, zerolog.Nop())
	var hit string
	for _, id := range []string{"finding.ack", "containment.preview", "containment", "playbook.done"} {
		r.Action(id, func(_ context.Context, req *Request) { hit = id + " ← " + req.ActionID })
	}
	tests := []struct{ actionID, want string }{
		{"finding.ack", "finding.ack ← finding.ack"},
		{"containment.preview.snapshot-unshare", "containment.preview ← containment.preview.snapshot-unshare"},
		{"containment.undo", "containment ← containment.undo"},
		{"playbook.done.review.resource", "playbook.done ← playbook.done.review.resource"},
		{"finding.ack2", ""},
		{"finding", ""},
		{"playbook.skip.x", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.actionID, func(t *testing.T) {
			hit = ""
			calls := r.interaction(slack.InteractionCallback{
				Type:           slack.InteractionTypeBlockActions,
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: tc.actionID}}},
			})
			for _, c := range calls {
				c(context.Background())
			}
			if hit != tc.want {
				t.Errorf("routed to %q, want %q", hit, tc.want)
			}
		})
	}
}

// Slack sends a press in several shapes: a message in a channel, a reply
// in a thread, an ephemeral message (no message in the payload), a Slack
// Connect user (their own team). The request says the same things of each.
func TestRequestOfEveryClickShape(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Request
	}{
		{"message in a channel", `{"type":"block_actions","user":{"id":"U0RESPOND","team_id":"T0ACME"},"team":{"id":"T0ACME"},
			"channel":{"id":"C0SECOPS"},"container":{"type":"message","message_ts":"1.1","channel_id":"C0SECOPS"},"message":{"ts":"1.1"},
			"trigger_id":"tr","actions":[{"type":"button","block_id":"b","action_id":"a","value":"v"}]}`,
			Request{Actor: authz.Actor{UserID: "U0RESPOND", TeamID: "T0ACME"}, ChannelID: "C0SECOPS", MessageTS: "1.1", TriggerID: "tr", ActionID: "a", Value: "v"}},
		{"reply in a thread", `{"type":"block_actions","user":{"id":"U0RESPOND"},"team":{"id":"T0ACME"},
			"channel":{"id":"C0SECOPS"},"container":{"type":"message","message_ts":"2.2","channel_id":"C0SECOPS","thread_ts":"1.1"},
			"message":{"ts":"2.2","thread_ts":"1.1"},"actions":[{"type":"button","block_id":"b","action_id":"a","value":"v"}]}`,
			Request{Actor: authz.Actor{UserID: "U0RESPOND", TeamID: "T0ACME"}, ChannelID: "C0SECOPS", MessageTS: "2.2", ThreadTS: "1.1", ActionID: "a", Value: "v"}},
		{"ephemeral message", `{"type":"block_actions","user":{"id":"U0RESPOND","team_id":"T0ACME"},"team":{"id":"T0ACME"},
			"container":{"type":"message","message_ts":"3.3","channel_id":"C0SECOPS","is_ephemeral":true},
			"actions":[{"type":"button","block_id":"b","action_id":"a","value":"v"}]}`,
			Request{Actor: authz.Actor{UserID: "U0RESPOND", TeamID: "T0ACME"}, ChannelID: "C0SECOPS", MessageTS: "3.3", ActionID: "a", Value: "v"}},
		{"Slack Connect user", `{"type":"block_actions","user":{"id":"U0GUEST","team_id":"T0OTHER"},"team":{"id":"T0ACME"},
			"channel":{"id":"C0SHARED"},"message":{"ts":"4.4","thread_ts":"1.1"},"actions":[{"type":"button","block_id":"b","action_id":"a","value":"v"}]}`,
			Request{Actor: authz.Actor{UserID: "U0GUEST", TeamID: "T0OTHER"}, ChannelID: "C0SHARED", MessageTS: "4.4", ThreadTS: "1.1", ActionID: "a", Value: "v"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var got *Request
			e.r = newRouter(e.slack, zerolog.Nop())
			e.r.Action("a", func(_ context.Context, r *Request) { got = r })
			if n := e.interact(tc.payload); n != 1 || got == nil {
				t.Fatalf("%d calls", n)
			}
			type said struct{ user, team, channel, msg, thread, trigger, action, value string }
			of := func(r Request) said {
				return said{r.UserID, r.TeamID, r.ChannelID, r.MessageTS, r.ThreadTS, r.TriggerID, r.ActionID, r.Value}
			}
			if of(*got) != of(tc.want) {
				t.Errorf("request\n%+v\nwant\n%+v", of(*got), of(tc.want))
			}
		})
	}
}

// Answers go privately to the person: an ephemeral message in the channel,
// a direct message for a modal (which has no channel) or when the
// ephemeral message cannot be posted.
func TestReplyIsPrivate(t *testing.T) {
	e := newEnv(t)
	e.r = newRouter(e.slack, zerolog.Nop())
	reply := func(ctx context.Context, r *Request) { r.Reply(ctx, "answer", nil) }
	e.r.Action("a", reply)
	e.r.View("v", reply)

	e.press(responder, "a", "")
	e.submit(responder, "v", "", nil)
	e.slack.failEphemeral = errors.New("channel_not_found")
	e.press(responder, "a", "")
	var hows []string
	for _, s := range e.slack.told(responder) {
		hows = append(hows, s.how+" "+s.channel)
	}
	if want := []string{"ephemeral " + secopsID, "dm ", "dm "}; !slices.Equal(hows, want) {
		t.Errorf("answered by %q, want %q", hows, want)
	}
}

// A command nobody routes is answered as not enabled; a malformed one is
// answered in the acknowledgement, what was typed escaped.
func TestCommandsNotRouted(t *testing.T) {
	e := newEnv(t)
	e.route(findings{e.kit})
	if ack := e.command(responder, "contain snapshot-unshare arn:aws:rds:eu-central-1:111122223333:snapshot:x"); ack != "" {
		t.Errorf("acknowledged with %s", ack)
	}
	if got := e.lastTold(responder); got.text != "/secops contain is not enabled in this deployment." {
		t.Errorf("told %q", got.text)
	}
	ack := e.command(responder, "frobnicate &lt;!channel&gt;")
	if !strings.Contains(ack, "frobnicate") || strings.Contains(ack, "<!channel>") || strings.Contains(ack, `\u003c!channel`) {
		t.Errorf("acknowledged with %s, want the error with the text escaped", ack)
	}
}

// The routes of a deployment: every feature adds its own, none twice, and
// help lists the commands of the enabled features only.
func TestDeploymentRoutes(t *testing.T) {
	basic := []commands.Kind{commands.Help, commands.Findings, commands.Ack, commands.Resolve, commands.Investigate, commands.Expected}
	tests := []struct {
		name   string
		enable func(b *Bot)
		want   []commands.Kind
	}{
		{"findings and investigation only", func(*Bot) {}, basic},
		{"everything", func(b *Bot) {
			b.containment = &containment.Service{}
			b.runner = &playbooks.Runner{}
			b.breakGlass = &breakGlass{kit: b.kit}
			b.onCall = rotationStub{}
		}, commands.Kinds()},
		{"playbooks without containment", func(b *Bot) { b.runner = &playbooks.Runner{} }, basic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := &Bot{kit: e.kit, log: zerolog.Nop(), teamID: acme}
			tc.enable(b)
			r, err := b.routes()
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Commands(); !slices.Equal(got, tc.want) {
				t.Errorf("commands %v, want %v", got, tc.want)
			}
			for _, id := range []string{"finding.ack", "finding.contain", "finding.review", "investigate.page", "expected.remove"} {
				if _, ok := r.action(id); !ok {
					t.Errorf("button %s is not routed", id)
				}
			}
			_, steps := r.action("playbook.done.team-ack")
			if want := b.runner != nil; steps != want {
				t.Errorf("checklist buttons routed %v, want %v", steps, want)
			}
		})
	}
	// Two features taking one button fail the start.
	e := newEnv(t)
	r := newRouter(e.slack, zerolog.Nop())
	findings{e.kit}.Routes(r)
	(&contain{kit: e.kit}).Routes(r)
	findings{e.kit}.Routes(r)
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "action finding.ack is routed twice") {
		t.Errorf("Err() = %v", err)
	}
}

// rotationStub says nobody is on call anywhere.
type rotationStub struct{}

func (rotationStub) OnCall(_ context.Context, team string) (paging.OnCall, error) {
	return paging.OnCall{Team: team}, nil
}
