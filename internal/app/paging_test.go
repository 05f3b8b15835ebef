package app

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/delivery/paging"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/internal/testkit/pagerdutyfake"
	"github.com/secops-bot/secops-bot/internal/testkit/slackemu"
)

// Story two's 3 a.m. share pages SecOps (always, for critical) and the
// payments team (off hours only) through PagerDuty: both threads say who
// was paged and who is on call; Sam acknowledging in PagerDuty shows in the
// threads; acknowledging and resolving in Slack acknowledges and resolves
// the incidents.
func TestPagingThroughPagerDuty(t *testing.T) {
	t.Parallel()
	const (
		secopsKey   = "R0SECOPS0000000000000000000000AB"
		paymentsKey = "R0PAYMENTS00000000000000000000AB"
	)
	pd := pagerdutyfake.New(pagerdutyfake.Options{
		Services: []pagerdutyfake.Service{{ID: "PSVSEC1", Name: "SecOps", RoutingKey: secopsKey}, {ID: "PSVPAY1", Name: "Payments", RoutingKey: paymentsKey}},
		Users:    []pagerdutyfake.User{{ID: "PUSAM01", Name: "Sam Ortiz", Email: "sam@example.com"}, {ID: "PUBOR01", Name: "Boris Petrov", Email: "boris@example.com"}},
		Schedules: []pagerdutyfake.Schedule{
			{ID: "PSCHSEC", Name: "SecOps primary", OnCall: []string{"PUSAM01"}},
			{ID: "PSCHPAY", Name: "Payments primary", OnCall: []string{"PUBOR01"}},
		},
		EscalationPolicies: []pagerdutyfake.EscalationPolicy{
			{ID: "PEPSEC1", Name: "SecOps", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHSEC"}}}},
			{ID: "PEPPAY1", Name: "Payments", Levels: []pagerdutyfake.Level{{Schedules: []string{"PSCHPAY"}}}},
		},
	})
	t.Cleanup(pd.Close)

	e := newSlackEnv(t)
	e.emu.PutUser(slackemu.User{ID: "U0SAM00001", Name: "sam", Email: "sam@example.com"})
	e.cfg.Paging = config.Paging{
		Provider: "pagerduty", PollInterval: 100 * time.Millisecond,
		PagerDuty: config.PagerDuty{APIToken: "pd-api-token", EventsURL: pd.URL, APIURL: pd.URL},
		Teams: []config.PagingTeam{
			{Name: "secops", Severities: []string{"critical"}, RoutingKey: secopsKey, Schedule: "PSCHSEC"},
			{Name: "payments", Severities: []string{"critical"}, OffHoursOnly: true, RoutingKey: paymentsKey, Schedule: "PSCHPAY"},
		},
	}
	e.start(t)
	defer e.stop(t)
	ctx := context.Background()
	e.drop(t, "incident.json", incident)
	e.wait(t, "the finding in both channels", func() bool {
		return len(topLevel(e.emu.Messages(e.secops))) == 1 && len(topLevel(e.emu.Messages(e.payments))) == 1
	})
	msg := topLevel(e.emu.Messages(e.secops))[0]
	id := regexp.MustCompile(`"value":"(F-[0-9A-F]{10})"`).FindStringSubmatch(string(msg.Blocks))
	if id == nil {
		t.Fatal("no finding ID in the message")
	}
	events := func(action string) map[string]int {
		out := map[string]int{}
		for _, ev := range pd.Events() {
			if ev.Action == action {
				out[ev.DedupKey]++
			}
		}
		return out
	}
	secopsRef, paymentsRef := paging.RefFor(id[1], "secops"), paging.RefFor(id[1], "payments")
	e.wait(t, "a trigger for each team", func() bool {
		tr := events("trigger")
		return tr[secopsRef.DedupKey] >= 1 && tr[paymentsRef.DedupKey] >= 1
	})
	if tr := events("trigger"); tr[secopsRef.DedupKey] != 1 || tr[paymentsRef.DedupKey] != 1 {
		t.Errorf("triggers = %v, want one per team", tr)
	}

	// Both threads say who was paged and who is on call, by Slack user
	// where the e-mail matches and by name where it does not.
	threadHas := func(ch, ts string, subs ...string) bool {
		for _, r := range e.emu.Replies(ch, ts) {
			text := r.Text + string(r.Blocks)
			all := true
			for _, s := range subs {
				all = all && strings.Contains(text, s)
			}
			if all {
				return true
			}
		}
		return false
	}
	payMsg := topLevel(e.emu.Messages(e.payments))[0]
	for _, th := range []struct{ ch, ts string }{{e.secops, msg.TS}, {e.payments, payMsg.TS}} {
		e.wait(t, "the page notices in "+th.ch, func() bool {
			return threadHas(th.ch, th.ts, "Paged *secops* via PagerDuty", "\u003c@U0SAM00001\u003e") &&
				threadHas(th.ch, th.ts, "Paged *payments* via PagerDuty", "Boris Petrov (boris@example.com")
		})
	}

	// Who is on call, and where that came from.
	for _, tc := range []struct{ text, want, source string }{
		{"oncall", "U0SAM00001", "PagerDuty schedule SecOps primary"},
		{"oncall payments", "Boris Petrov (boris@example.com", "PagerDuty schedule Payments primary"},
	} {
		before := len(e.emu.Ephemerals())
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: tc.text, UserID: responder, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
		e.wait(t, "the answer to "+tc.text, func() bool { return len(e.emu.Ephemerals()) > before })
		got := string(e.emu.Ephemerals()[before].Blocks)
		if !strings.Contains(got, tc.want) || !strings.Contains(got, tc.source) {
			t.Errorf("/secops %s answered %s, want %q from %q", tc.text, got, tc.want, tc.source)
		}
	}

	// Sam acknowledges in PagerDuty: the threads say so.
	if !pd.Acknowledge(secopsRef.DedupKey, "PUSAM01") {
		t.Fatal("no incident for the SecOps page")
	}
	e.wait(t, "the acknowledgement from PagerDuty", func() bool {
		return threadHas(e.secops, msg.TS, "Acknowledged in PagerDuty by", "U0SAM00001")
	})

	// Acknowledged, then resolved in Slack: the incidents follow.
	for _, text := range []string{"ack " + id[1], "resolve " + id[1] + " share removed"} {
		if _, err := e.emu.SendSlashCommand(ctx, slackemu.SlashCommand{Command: "/secops", Text: text, UserID: responder, ChannelID: e.secops}); err != nil {
			t.Fatal(err)
		}
	}
	e.wait(t, "acknowledge and resolve events for both pages", func() bool {
		ack, res := events("acknowledge"), events("resolve")
		return ack[secopsRef.DedupKey] >= 1 && ack[paymentsRef.DedupKey] >= 1 && res[secopsRef.DedupKey] >= 1 && res[paymentsRef.DedupKey] >= 1
	})
}
