package assess

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/store"
)

// lease is how long a claimed item is ours. Items are claimed only when a
// slot is free to start them, so the lease covers one state read (with the
// SDK's retries) and whatever waits behind it for the same finding.
const lease = 2 * time.Minute

// Lane is the outbox lane of the assessment items. Up to
// Options.Concurrency run at once, since each read mostly waits on AWS
// (and, when AWS throttles, on the SDK's backoff); the items of one
// finding still run one after the other, in the order they were queued:
// two reads of one resource recorded out of order would leave an older
// state on the finding. A read in flight at shutdown may finish within
// Options.ShutdownGrace: an abandoned item would otherwise wait out its
// lease before another replica reads the resource.
func (w *Worker) Lane() outbox.Lane {
	return outbox.Lane{
		Prefix: KindPrefix, Handler: w,
		Poll: time.Second, Concurrency: w.opts.Concurrency, Serial: serialKey,
		Lease: lease, Grace: w.opts.ShutdownGrace,
		Backoff: outbox.Exponential(4*time.Second, 512*time.Second),
	}
}

// Deliver carries out one assessment or re-check item.
func (w *Worker) Deliver(ctx context.Context, it store.OutboxItem) error {
	switch it.Kind {
	case KindAssess:
		id, err := findingID(it)
		if err != nil {
			return outbox.Drop(err)
		}
		return w.Assess(ctx, id)
	case KindRecheck:
		return w.Recheck(ctx)
	}
	return outbox.Drop(fmt.Errorf("unknown assessment item kind %q", it.Kind))
}

// Run keeps one re-check scheduled until ctx ends: every second it makes
// sure the item of the coming interval is in the outbox.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		w.schedule(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// schedule enqueues the re-check of the current interval; the key makes
// every replica agree on one item per interval.
func (w *Worker) schedule(ctx context.Context) {
	now := w.opts.Clock.Now()
	slot := now.Truncate(w.opts.Interval).Add(w.opts.Interval)
	_, err := w.st.Enqueue(ctx, store.OutboxItem{Key: fmt.Sprintf("%s|%d", KindRecheck, slot.Unix()), Kind: KindRecheck, NotBefore: slot})
	if err != nil && ctx.Err() == nil {
		w.log.Warn().Err(err).Msg("schedule re-check")
	}
}

// findingID is the finding an assessment item concerns.
func findingID(it store.OutboxItem) (string, error) {
	var p struct {
		FindingID string `json:"finding_id"`
	}
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return "", fmt.Errorf("decode assessment item %d: %w", it.ID, err)
	}
	return p.FindingID, nil
}

// serialKey is what an item must not run concurrently with: its finding.
// Items without one (the re-check sweep) run alongside anything.
func serialKey(it store.OutboxItem) string {
	if it.Kind != KindAssess {
		return ""
	}
	id, _ := findingID(it)
	return id
}

// keyLock lets one holder at a time work on a key.
type keyLock struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when the key is free again
}

// lock waits until nothing holds key and holds it; it returns false,
// holding nothing, when ctx ends first.
func (k *keyLock) lock(ctx context.Context, key string) bool {
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = map[string]chan struct{}{}
		}
		free, busy := k.held[key]
		if !busy {
			k.held[key] = make(chan struct{})
			k.mu.Unlock()
			return true
		}
		k.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return false
		}
	}
}

func (k *keyLock) unlock(key string) {
	k.mu.Lock()
	free := k.held[key]
	delete(k.held, key)
	k.mu.Unlock()
	close(free)
}
