// Package paging is what it takes to wake someone up for a finding: a page
// (one per finding and paged team, identified by a dedup key), the policy
// that decides which findings page which teams and when, who is on call now
// and where that answer came from, and what became of the pages the bot
// opened.
//
// A Slack mention wakes nobody at 3 a.m.: Do Not Disturb holds it back. A
// page goes to an incident provider (PagerDuty or Opsgenie, see
// providers/…) that calls, texts and escalates until someone acknowledges.
// This package declares what the rest of the bot needs from such a provider
// (Pager, OnCallSource, Tracker) and knows no provider itself. Configured
// rotations answer the on-call question when no provider is configured.
//
// Provider errors come in three kinds, so that the outbox retries what is
// worth retrying: *RateLimitedError (wait for its RetryAfter),
// *PermanentError (a setting to fix; retrying cannot help), and any other
// error, which is worth another try.
package paging

import (
	"context"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

// Ref identifies one page: the team it went to and its dedup key. The
// provider turns the team into a routing key (PagerDuty) or responders
// (Opsgenie); the dedup key makes a repeated trigger update the same
// incident instead of opening another.
type Ref struct {
	Team     string `json:"team"`
	DedupKey string `json:"dedup_key"`
}

// DedupKey is the dedup key (PagerDuty) or alias (Opsgenie) of the page of
// a finding to a team. It is stable, so every trigger, acknowledgement and
// resolution of one finding reaches the same incident, and it names the
// team, because Opsgenie aliases are unique across an account and two teams
// paged for one finding need two alerts. It keeps to letters, digits and
// hyphens: Opsgenie puts the alias in the URL path.
func DedupKey(findingID, team string) string {
	return "secops-bot-" + keyPart(findingID) + "-" + keyPart(team)
}

func keyPart(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '_'
	}, s)
}

// RefFor returns the Ref of the page of a finding to a team.
func RefFor(findingID, team string) Ref {
	return Ref{Team: team, DedupKey: DedupKey(findingID, team)}
}

// Link is a link shown on the incident (the finding's Slack thread, its
// ticket, the resource in the AWS console).
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Page is what a provider is asked to raise.
type Page struct {
	Ref
	FindingID string `json:"finding_id"`
	// Summary is the incident's title; providers cut it to their limit.
	Summary  string           `json:"summary,omitempty"`
	Severity finding.Severity `json:"severity,omitempty"`
	// Source is what is affected, as the provider shows it: the resource
	// ARN, or the account and region.
	Source  string            `json:"source,omitempty"`
	Links   []Link            `json:"links,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// Pager raises, acknowledges and resolves pages by dedup key. Each call is
// one request to the provider, without retries of its own: the outbox
// retries, guided by the error's kind.
type Pager interface {
	Trigger(ctx context.Context, p Page) error
	Acknowledge(ctx context.Context, ref Ref) error
	Resolve(ctx context.Context, ref Ref) error
}

// Person is someone on call, or who acted on an incident.
type Person struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	// SlackID is the Slack user, when known: configured rotations name
	// Slack users, and MatchSlack finds the others by e-mail.
	SlackID string `json:"slack_id,omitempty"`
}

// Label is how the person is named when there is no Slack user to
// mention: the name, else the e-mail address.
func (p Person) Label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Email
}

// OnCall is who is on call for a team at a moment, and where that answer
// came from, so that a responder can check it at the source.
type OnCall struct {
	Team   string
	People []Person
	// Source names where the answer came from: "PagerDuty schedule
	// Payments primary (PSCHED1)", "Opsgenie schedule payments_schedule",
	// or "configured rotation".
	Source string
}

// OnCallSource answers who is on call for a team at a moment. A team it
// knows nothing about gives an error wrapping ErrNoSchedule, so that the
// next source can answer (see Sources).
type OnCallSource interface {
	OnCall(ctx context.Context, team string, at time.Time) (OnCall, error)
}

// Status is where an incident the bot opened stands at the provider.
type Status string

// Statuses, in the order an incident moves through them. Opsgenie's
// "open" is StatusTriggered until acknowledged; its "closed" is
// StatusResolved.
const (
	StatusTriggered    Status = "triggered"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// State is what became of a page at the provider. Socket Mode has no
// public endpoint for the providers' webhooks, so the bot polls for it.
type State struct {
	// Provider is "PagerDuty" or "Opsgenie", for messages.
	Provider string
	Status   Status
	// URL opens the incident at the provider.
	URL string
	// AcknowledgedBy lists the people who acknowledged, first first.
	// Acknowledgements by an integration (the bot's own, when the finding
	// was acknowledged in Slack) are left out, so a Slack thread does not
	// announce the bot's own doing as news.
	AcknowledgedBy []Person
	AcknowledgedAt time.Time
	// ResolvedBy is the person who resolved the incident; zero when an
	// integration did (the bot's own resolve, a monitor).
	ResolvedBy Person
	ResolvedAt time.Time
}

// Tracker reads the state of a page the bot opened. A page the provider
// does not know (yet: both providers create incidents asynchronously)
// gives an error wrapping ErrNoIncident.
type Tracker interface {
	State(ctx context.Context, ref Ref) (State, error)
}
