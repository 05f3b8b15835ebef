// Package canary proves, on a schedule, that the bot can still see. It
// makes a harmless, tagged API call with the bot's own identity (tagging
// its own IAM role) and expects that call's CloudTrail event back through
// the event feed within a timeout. A feed that silently broke (a trail
// stopped, an EventBridge rule or the global-service forwarding deleted, a
// stuck queue) looks exactly like an account where nothing happens; the
// canary turns it into a high finding, which the bot resolves itself when
// a canary event comes back.
//
// Several replicas may run: any of them may ingest the canary's event, so
// its return is looked up in the shared event history, never observed in
// memory, and only the replica holding the canary lease (a compare-and-set
// in the store's KV) makes calls and raises findings. The lease and each
// target's progress live in the store, so a replica that takes over
// carries on where the last one stopped.
package canary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/lease"
	"github.com/secops-bot/secops-bot/store"
)

// RuleMissing is the rule ID of the finding raised when a canary does not
// come back.
const RuleMissing = "canary-missing"

// Region is where the canary's events are emitted: IAM is a global service
// whose CloudTrail events exist in us-east-1 only, so a canary that comes
// back also proves that global-service events are forwarded.
const Region = "us-east-1"

// TagKey is the tag the canary call writes; its value is the time of the
// call.
const TagKey = "secops-bot:canary"

// Namespace is the store KV namespace of the lease and the targets' state.
const Namespace = "canary"

const leaseKey = "lease"

// Call is a canary call that was made: which principal was tagged, by
// whom and when.
type Call struct {
	// Account is the account the call was made in.
	Account string `json:"account"`
	// PrincipalARN is the tagged role or user as the event history names
	// the call's resource: arn:aws:iam::ACCOUNT:role/NAME (no path).
	PrincipalARN string `json:"principal_arn"`
	// EventName is the CloudTrail event the call produces: TagRole or
	// TagUser.
	EventName string `json:"event_name"`
	// CallerARN is the identity that made the call (for a role, its
	// session).
	CallerARN string `json:"caller_arn"`
	// At is when the call was made, by the bot's clock.
	At time.Time `json:"at"`
}

// Caller makes the canary call. An empty account means the bot's own
// identity; otherwise the call is made in that member account through the
// role the bot assumes there.
type Caller interface {
	Call(ctx context.Context, account string, at time.Time) (Call, error)
}

// Store is the shared state: event history to find the canary's events
// in, and the KV for the lease and progress.
type Store interface {
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	store.KV
}

// Findings raises and resolves the canary's findings, delivered like any
// other finding.
type Findings interface {
	RaiseSystemFinding(ctx context.Context, f finding.Finding) error
	ResolveSystemFinding(ctx context.Context, key, note string) error
}

// Options configure a Canary.
type Options struct {
	// Owner names this replica in the lease.
	Owner string
	// Interval between canary calls; 15 minutes by default.
	Interval time.Duration
	// Timeout is how long a call's event may take to come back before a
	// finding is raised; 10 minutes by default. It must be shorter than
	// Interval, so a call is judged before the next one is made.
	Timeout time.Duration
	// Accounts are member accounts where a canary is made too, besides the
	// bot's own identity.
	Accounts []string
	// Poll is how often Run looks for returned canaries and due calls;
	// 10 seconds by default.
	Poll time.Duration
	// LeaseTTL is how long the lease lasts without renewal, so how long a
	// dead replica's canary waits for another; 2 minutes (and at least
	// four polls) by default.
	LeaseTTL time.Duration
	Clock    clock.Clock
	Logger   zerolog.Logger
}

// Canary makes the calls and judges their return.
type Canary struct {
	st       Store
	caller   Caller
	findings Findings
	opts     Options
	log      zerolog.Logger
	lease    *lease.Lease
}

// New returns a canary; Run starts it.
func New(st Store, caller Caller, findings Findings, opts Options) *Canary {
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Minute
	}
	if opts.Timeout <= 0 || opts.Timeout >= opts.Interval {
		opts.Timeout = min(10*time.Minute, opts.Interval*2/3)
	}
	if opts.Poll <= 0 {
		opts.Poll = 10 * time.Second
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = max(2*time.Minute, 4*opts.Poll)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Canary{
		st: st, caller: caller, findings: findings, opts: opts, log: opts.Logger,
		lease: lease.New(st, Namespace, leaseKey, opts.Owner, opts.LeaseTTL),
	}
}

// Run checks every Poll until ctx ends, then gives up the lease so another
// replica takes over at once.
func (c *Canary) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Poll)
	defer t.Stop()
	for {
		if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.log.Error().Err(err).Msg("canary check")
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := c.lease.Release(rctx); err != nil {
				c.log.Warn().Err(err).Msg("canary lease not released; another replica takes over when it expires")
			}
			cancel()
			return
		case <-t.C:
		}
	}
}

// Tick does one round: unless another replica holds the lease, it looks
// for each target's canary event, raises or resolves findings, and makes
// the calls that are due.
func (c *Canary) Tick(ctx context.Context) error {
	l, err := c.lease.Hold(ctx, c.opts.Clock.Now())
	if err != nil || !l.Held {
		return err
	}
	if l.Taken {
		c.log.Info().Str("previous", l.Previous).Msg("canary lease taken; this replica runs the canary")
	}
	var errs []error
	for _, target := range c.targets() {
		if err := c.check(ctx, target); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// targets are "" (the bot's own identity) and the member accounts.
func (c *Canary) targets() []string {
	return append([]string{""}, c.opts.Accounts...)
}

// state is one target's progress, kept in the store.
type state struct {
	// Call is the latest call made.
	Call Call `json:"call"`
	// Since is the earliest event time that counts as a return: the
	// latest call's, or, during an outage, the first unanswered call's,
	// since a late event of that one shows events flow again as well.
	Since time.Time `json:"since"`
	// Returned is when the latest call's event came back (zero until
	// then).
	Returned time.Time `json:"returned,omitzero"`
	// Missing is set while the finding of an unanswered call is open.
	Missing bool `json:"missing,omitempty"`
	// Failed is when the latest attempt at a call failed; the next
	// attempt waits for retryAfter.
	Failed time.Time `json:"failed,omitzero"`
}

func stateKey(target string) string {
	if target == "" {
		return "state|self"
	}
	return "state|" + target
}

// check advances one target: judge the outstanding call, then make the
// next one when it is due.
func (c *Canary) check(ctx context.Context, target string) error {
	// Unreadable state costs at most one extra call.
	docs := store.NewDoc[state](c.st, Namespace).OnUnreadable(func(_ string, err error) {
		c.log.Error().Err(err).Str("target", targetName(target)).Msg("canary state unreadable; starting afresh")
	})
	s, rev, err := docs.Read(ctx, stateKey(target))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load canary state: %w", err)
	}
	next := s
	now := c.opts.Clock.Now()
	log := c.log.With().Str("target", targetName(target)).Str("account", s.Call.Account).Logger()

	if !s.Call.At.IsZero() && s.Returned.IsZero() {
		ev, ok, err := c.lookup(ctx, s)
		switch {
		case err != nil:
			return err
		case ok:
			next.Returned = ev.Time
			if s.Missing {
				note := fmt.Sprintf("A canary event (%s at %s) came back: CloudTrail events from account %s reach the bot again.",
					ev.EventName, ev.Time.UTC().Format(time.RFC3339), s.Call.Account)
				if err := c.findings.ResolveSystemFinding(ctx, FindingKey(s.Call.Account), note); err != nil {
					return fmt.Errorf("resolve canary finding of account %s: %w", s.Call.Account, err)
				}
				next.Missing = false
				log.Info().Time("event_time", ev.Time).Msg("canary event back; events flow again")
			} else {
				log.Debug().Dur("delay", ev.Time.Sub(s.Call.At)).Msg("canary event back")
			}
		case !s.Missing && !now.Before(s.Call.At.Add(c.opts.Timeout)):
			if err := c.findings.RaiseSystemFinding(ctx, MissingFinding(s.Call, c.opts.Timeout)); err != nil {
				return fmt.Errorf("raise canary finding of account %s: %w", s.Call.Account, err)
			}
			next.Missing = true
			log.Warn().Time("call_time", s.Call.At).Dur("timeout", c.opts.Timeout).Msg("canary event missing: the bot may be blind to this account")
		}
	}

	if c.due(s, now) {
		call, err := c.caller.Call(ctx, target, now)
		if err != nil {
			next.Failed = now
			log.Error().Err(err).Msg("canary call failed; the feed cannot be checked until it works")
		} else {
			next.Call, next.Returned, next.Failed = call, time.Time{}, time.Time{}
			if !next.Missing {
				next.Since = call.At
			}
		}
	}
	// The round's calls and findings were decided on the state as read:
	// if another replica moved it meanwhile (it took the lease), its state
	// wins and this round's work is redone there.
	ok, err := docs.Swap(ctx, stateKey(target), rev, next)
	if err != nil {
		return fmt.Errorf("store canary state: %w", err)
	}
	if !ok {
		c.log.Debug().Str("target", targetName(target)).Msg("canary state changed by another replica")
	}
	return nil
}

// retryAfter is how long a failed call waits before the next attempt; a
// broken permission should be retried, not hammered.
func (c *Canary) retryAfter() time.Duration { return min(c.opts.Interval, time.Minute) }

func (c *Canary) due(s state, now time.Time) bool {
	if !s.Failed.IsZero() && s.Failed.After(s.Call.At) {
		return !now.Before(s.Failed.Add(c.retryAfter()))
	}
	return s.Call.At.IsZero() || !now.Before(s.Call.At.Add(c.opts.Interval))
}

// skew is how much earlier than the bot's clock an event may be stamped
// and still count: CloudTrail's clock is AWS's, and history keeps whole
// seconds. It stays well below the interval so that the previous call's
// event is never mistaken for this one's.
func (c *Canary) skew() time.Duration { return min(30*time.Second, c.opts.Interval/4) }

// lookup finds a canary event in the shared history: any replica may have
// ingested it. History names the tagged principal as the event's resource
// (without the role's path), which finds it whatever path the role has.
func (c *Canary) lookup(ctx context.Context, s state) (store.Event, bool, error) {
	evs, err := c.st.QueryEvents(ctx, store.EventQuery{
		ResourceARN: s.Call.PrincipalARN,
		Since:       s.Since.Truncate(time.Second).Add(-c.skew()),
		Limit:       50,
	})
	if err != nil {
		return store.Event{}, false, fmt.Errorf("look up canary events of %s: %w", s.Call.PrincipalARN, err)
	}
	for _, e := range evs {
		// A refused call is logged by CloudTrail all the same, so it
		// proves the feed as well as a granted one.
		if e.EventName == s.Call.EventName && (e.Account == "" || e.Account == s.Call.Account) {
			return e, true, nil
		}
	}
	return store.Event{}, false, nil
}

// FindingKey is the key of an account's canary finding: one per account,
// so one outage is one finding however many canaries go missing in it.
func FindingKey(account string) string {
	return finding.KeyFor(RuleMissing, account, Region, "")
}

// MissingFinding is the finding raised when call's event did not come
// back within timeout; it says in plain words what that means and where to
// look.
func MissingFinding(call Call, timeout time.Duration) finding.Finding {
	kind, name := principalOf(call.PrincipalARN)
	resType := awsarn.TypeIAMRole
	if kind == "user" {
		resType = awsarn.TypeIAMUser
	}
	actorType := "AssumedRole"
	if strings.Contains(call.CallerARN, ":user/") {
		actorType = "IAMUser"
	}
	return finding.Finding{
		Key:       FindingKey(call.Account),
		Rule:      RuleMissing,
		Severity:  finding.SeverityHigh,
		Title:     fmt.Sprintf("CloudTrail events from account %s are not reaching the bot", call.Account),
		Detail:    missingDetail(call, kind, name, timeout),
		AccountID: call.Account,
		Region:    Region,
		Resource:  finding.Resource{Type: resType, ID: name, ARN: call.PrincipalARN},
		Actor:     finding.Actor{ARN: call.CallerARN, Type: actorType, Name: name, AccountID: call.Account},
		Event:     finding.EventRef{Name: call.EventName, Source: "iam.amazonaws.com", Time: call.At},
	}
}

func missingDetail(call Call, kind, name string, timeout time.Duration) string {
	return fmt.Sprintf("The bot tagged its own IAM %s %s (%s, tag %s) at %s and expected that call's CloudTrail event "+
		"back through its event feed within %s. It has not arrived, so the bot may be blind to account %s: "+
		"a resource made public there now would go unnoticed. "+
		"Check, in this order: the trail is logging and records management events including global service events; "+
		"the EventBridge rule in us-east-1 that forwards IAM events to the bot's event bus (global-forwarder.yaml) exists and is enabled; "+
		"the bot's EventBridge rules deliver to its SQS queue, and the bot receives from that queue (messages piling up, access denied); "+
		"the queue's dead-letter queue holds no failed events. "+
		"This finding resolves itself when a canary event comes back.",
		kind, name, "iam:"+call.EventName, TagKey, call.At.UTC().Format(time.RFC3339), humanDuration(timeout), call.Account)
}

// principalOf splits arn:aws:iam::ACCOUNT:role/NAME into ("role", NAME).
func principalOf(arn string) (kind, name string) {
	p, err := awsarn.ParsePrincipal(arn)
	if err != nil || p.Kind != awsarn.KindUser && p.Kind != awsarn.KindRole {
		return "role", arn
	}
	return string(p.Kind), p.Name
}

// humanDuration writes 10m0s as 10m and 1h30m0s as 1h30m.
func humanDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func targetName(target string) string {
	if target == "" {
		return "self"
	}
	return target
}
