package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// afterGrace returns a context for the work in flight: it ignores the end
// of ctx for d longer, so a shutdown lets that work finish, and then ends
// it. A lane stops claiming when its context ends, but what it already
// started should finish (a Jira issue created and recorded, a state read
// stored, an expiry carried out) rather than be cut off and redone by
// another replica once its lease runs out. Call the returned function when
// the work is done.
func afterGrace(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-work.Done():
		}
	})
	return work, func() { stop(); cancel() }
}

// release hands owner's claimed items back to run at once, so that another
// replica (or this one restarted) takes them without waiting for their
// lease to run out. It runs even after ctx ended, for a few seconds at
// most, and returns what failed.
func release(ctx context.Context, r retrier, owner string, now time.Time, items []store.OutboxItem) error {
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var errs []error
	for _, it := range items {
		if err := r.Retry(ctx, it.ID, owner, now, "released at shutdown"); err != nil {
			errs = append(errs, fmt.Errorf("release %s (outbox item %d): %w", it.Key, it.ID, err))
		}
	}
	return errors.Join(errs...)
}

// retrier hands a claimed outbox item back to run again at notBefore.
type retrier interface {
	Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error
}
