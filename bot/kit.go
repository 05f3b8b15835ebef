package bot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/respond/triage"
	"github.com/secops-bot/secops-bot/store"
)

// kit is what the features share: the services they drive, where the bot
// posted each finding, the teams' time zones, and the audit trail of what
// people did. One kit is made when the bot connects and filled by Attach;
// every feature holds a pointer to it.
type kit struct {
	Services
	threads *threads
	org     *org.Directory
	clock   clock.Clock
	log     zerolog.Logger
}

// wake asks the outbox to deliver what was just stored.
func (k *kit) wake() {
	if k.Wake != nil {
		k.Wake()
	}
}

// allowed checks that the person holds role now; when not, it tells them
// why and records the refusal under action and target.
func (k *kit) allowed(ctx context.Context, r *Request, role authz.Role, action, target string) bool {
	d, err := k.Authz.Check(ctx, r.Actor, role)
	if err != nil || !d.Allowed {
		k.refuse(ctx, r.Actor, action, target, d, err, r.replier(ctx))
		return false
	}
	return true
}

// refuse tells the user why and records the refusal.
func (k *kit) refuse(ctx context.Context, a authz.Actor, action, target string, d authz.Decision, err error, reply func(string, []slack.Block)) {
	reason := d.Reason
	result := "refused"
	if err != nil {
		reason = "authorisation check failed: " + err.Error()
		result = "error"
	}
	// The target may come from a button value: keep the record small.
	if len(target) > 128 {
		target = target[:128] + "…"
	}
	k.audit(ctx, a, action, target, result, reason, nil)
	reply("Not allowed: "+reason, nil)
}

func (k *kit) audit(ctx context.Context, a authz.Actor, action, target, result, reason string, detail []byte) {
	_, err := k.Store.AppendAudit(ctx, store.AuditRecord{
		Time: k.clock.Now(), Actor: a.String(), Action: action, Target: target,
		Result: result, Reason: reason, Detail: detail,
	})
	if err != nil {
		k.log.Error().Err(err).Str("action", action).Msg("write audit record")
	}
}

// afterTriage turns a triage result into words for the user.
func (k *kit) afterTriage(err error, ok string, reply func(string, []slack.Block)) {
	switch {
	case err == nil:
		k.wake()
		reply(ok, nil)
	case isUserError(err):
		reply(userMessage(err), nil)
	default:
		k.log.Error().Err(err).Msg("finding action failed")
		reply("Something went wrong; the action was not applied. Try again, and tell SecOps if it keeps failing.", nil)
	}
}

// afterTriageQuiet reports only problems: success shows in the thread.
func (k *kit) afterTriageQuiet(err error, reply func(string, []slack.Block)) {
	if err == nil {
		k.wake()
		return
	}
	k.afterTriage(err, "", reply)
}

// isUserError reports whether the error is an answer for the person who
// acted (refused, already done, no such finding) rather than a failure.
func isUserError(err error) bool {
	var te *triage.Error
	return errors.As(err, &te)
}

// userMessage is the part of an error meant for the person who acted.
func userMessage(err error) string {
	var te *triage.Error
	if errors.As(err, &te) && te.Msg != "" {
		if errors.Is(err, triage.ErrForbidden) {
			return "Not allowed: " + te.Msg
		}
		return te.Msg
	}
	msg := err.Error()
	return strings.ToUpper(msg[:1]) + msg[1:]
}

// location is the time zone of the team owning the finding's account, else
// SecOps', else UTC.
func (k *kit) location(f finding.Finding) *time.Location {
	if t, ok := k.org.OwnerOf(f.AccountID); ok && t.Location != nil {
		return t.Location
	}
	return k.secopsLocation()
}

// secopsLocation is the SecOps team's time zone, in which the bot writes
// times that belong to no one team; UTC when none is configured.
func (k *kit) secopsLocation() *time.Location {
	if k.org != nil {
		if s := k.org.SecOps(); s.Location != nil {
			return s.Location
		}
	}
	return time.UTC
}

// routedChannels lists the finding's Slack channels, the SecOps channel
// first when the finding goes there.
func (k *kit) routedChannels(f finding.Finding) []string {
	secops := k.org.SecOps().SlackChannel
	var out []string
	for _, name := range f.SlackChannels() {
		if name == secops {
			out = append([]string{name}, out...)
		} else {
			out = append(out, name)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// threads knows where the bot posted: the IDs of the configured channels,
// the ts of each finding's message in each (recorded in the store when it
// was posted, never read back from Slack's history, which is heavily rate
// limited) and links to them.
type threads struct {
	channels map[string]string // configured name or ID → channel ID
	url      string            // workspace URL, for permalinks
	kv       store.KV
}

// channelID maps a configured channel to its ID.
func (t *threads) channelID(name string) (string, bool) {
	id, ok := t.channels[name]
	return id, ok
}

// permalink builds a link to a message without an API call.
func (t *threads) permalink(channelID, ts string) string {
	base := strings.TrimSuffix(t.url, "/")
	if base == "" {
		base = "https://slack.com"
	}
	return base + "/archives/" + channelID + "/p" + strings.ReplaceAll(ts, ".", "")
}

// messageTS returns the ts of the finding's message in a channel, "" when
// not posted yet.
func (t *threads) messageTS(ctx context.Context, findingID, channelID string) (string, error) {
	v, err := t.kv.GetKV(ctx, nsMessage, refKey(findingID, channelID))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}

// firstPosted links the finding's message in the first of its routed
// channels where it was posted ("" when not posted yet).
func (t *threads) firstPosted(ctx context.Context, f finding.Finding) string {
	for _, name := range f.SlackChannels() {
		if id, ok := t.channelID(name); ok {
			if ts, err := t.messageTS(ctx, f.ID, id); err == nil && ts != "" {
				return t.permalink(id, ts)
			}
		}
	}
	return ""
}
