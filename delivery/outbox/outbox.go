// Package outbox carries out the side effects stored in the store's
// outbox: Slack posts and thread replies, Jira tickets, reads of AWS state,
// playbook and break-glass timers. A change and its deliveries commit
// together; this package is what delivers them afterwards, exactly once
// across restarts and replicas as far as the providers allow.
//
// Each feature owns a kind prefix ("jira.", "breakglass.") and hands the
// runtime one Handler for it, with how its items are claimed (a Lane). The
// runtime claims due items under a lease in the store, so that only one
// replica works on an item at a time, delivers them, and settles each by
// its outcome: done, tried again later, or dropped. It is the only claim
// loop, retry policy and shutdown sequence in the bot; the model is
// Alertmanager's one-method notifier and its single retry stage.
package outbox

import (
	"context"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// Handler carries out the items of one kind prefix. Deliver returns nil
// when the item is done, RetryAfter when it cannot happen yet, Drop when it
// never can, and any other error to be tried again with the lane's backoff
// (logged as a warning by the runtime, so the handler need not log it). ctx ends when the delivery must stop: its lane's Timeout, or the
// end of the shutdown grace period.
type Handler interface {
	Deliver(ctx context.Context, item store.OutboxItem) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, item store.OutboxItem) error

// Deliver calls f.
func (f HandlerFunc) Deliver(ctx context.Context, item store.OutboxItem) error { return f(ctx, item) }

// RetryAfter is the outcome "not yet": the item runs again once d has
// passed. A delivery returns it when it must wait for something (a ticket
// still being created, a thread parent not posted yet) or was told to (a
// provider's Retry-After); it is not logged as a failure and does not grow
// the backoff. Wrap it to say why:
//
//	fmt.Errorf("ticket not created yet: %w", outbox.RetryAfter(5*time.Second))
func RetryAfter(d time.Duration) error { return &postponed{after: max(d, 0)} }

type postponed struct{ after time.Duration }

func (p *postponed) Error() string { return "retry in " + p.after.String() }

// Drop is the outcome "never": the item can never succeed (its finding or
// ticket is gone, its payload cannot be read). It is completed, so it stops
// being tried, and err is logged as an error.
func Drop(err error) error { return &dropped{err: err} }

type dropped struct{ err error }

func (d *dropped) Error() string { return d.err.Error() }
func (d *dropped) Unwrap() error { return d.err }

// Backoff is how long an item waits after its attempts-th attempt failed
// with a plain error.
type Backoff func(attempts int) time.Duration

// Exponential waits first after the first failure and twice as long after
// each one that follows, never more than limit.
func Exponential(first, limit time.Duration) Backoff {
	return func(attempts int) time.Duration {
		d := first
		for i := 1; i < attempts && d < limit; i++ {
			d *= 2
		}
		return min(d, limit)
	}
}

// Constant waits d after every failure: for timers whose next attempt is
// cheap and whose lateness matters (taking access back).
func Constant(d time.Duration) Backoff {
	return func(int) time.Duration { return d }
}

type stoppingKey struct{}

// Stopping returns a context that ends once the runtime delivering ctx's
// item stops taking new work (shutdown began), while ctx itself runs on
// through the grace period. A delivery made of many steps (a sweep over
// every open finding) starts no new step once it has ended and returns
// RetryAfter(0), so the item is handed back whole. Outside a delivery it
// returns ctx.
func Stopping(ctx context.Context) context.Context {
	if stop, ok := ctx.Value(stoppingKey{}).(context.Context); ok {
		return stop
	}
	return ctx
}
