// Package grace gives work in flight a grace period at shutdown: the
// workers stop claiming new work when their context ends, but what they
// already started should finish (a Jira issue created and recorded, a
// state read stored, an expiry carried out) rather than be cut off and
// redone by another replica after its lease runs out.
package grace

import (
	"context"
	"time"
)

// After returns a context for the work in flight: it ignores the end of
// ctx for d longer, so a shutdown lets that work finish, and then ends it.
// Call the returned function when the work is done.
func After(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
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
