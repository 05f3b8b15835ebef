package assess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/grace"
	"github.com/secops-bot/secops-bot/store"
)

// lease is how long a claimed item is ours. Items are claimed only when a
// slot is free to start them, so the lease covers one state read (with the
// SDK's retries) and whatever waits behind it for the same finding.
const lease = 2 * time.Minute

// Run claims assessment items until ctx ends and keeps one re-check
// scheduled. It carries out up to Options.Concurrency items at once, since
// each read mostly waits on AWS (and, when AWS throttles, on the SDK's
// backoff); items of one finding still run one after the other, in the
// order they were queued. When ctx ends it claims nothing more, hands the
// items it claimed but has not started back at once, and lets the reads in
// flight finish within the shutdown grace period: an abandoned item would
// otherwise wait out its lease before another replica reads the resource.
func (w *Worker) Run(ctx context.Context) {
	work, stop := grace.After(ctx, w.opts.ShutdownGrace)
	defer stop()
	// Deferred calls run last first: the unstarted items go back, then the
	// items in flight get the grace period to finish.
	defer w.running.Wait()
	defer func() { w.release(w.serial.dropQueued()) }()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		w.schedule(ctx)
		for w.drain(ctx, work) > 0 && ctx.Err() == nil {
		}
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

// drain waits for a free slot, claims as many due items as there are free
// slots and starts them, under work, which may outlive ctx; it returns how
// many it claimed without waiting for them. Claiming no more than can start
// keeps leases from running out on items nobody works on, and leaves the
// rest to other replicas.
func (w *Worker) drain(ctx, work context.Context) int {
	free := w.acquire(ctx)
	if free == 0 {
		return 0
	}
	items, err := w.st.ClaimKinds(ctx, w.opts.Owner, []string{"aws."}, free, lease)
	if err != nil {
		w.freeSlots(free)
		if ctx.Err() == nil {
			w.log.Error().Err(err).Msg("claim assessment items")
		}
		return 0
	}
	for _, it := range items {
		key := serialKey(it)
		if !w.serial.enqueue(key, it) {
			continue // waits for the item of the same finding in flight
		}
		free--
		w.running.Add(1)
		go func() {
			defer w.running.Done()
			defer w.freeSlots(1)
			w.carryOut(ctx, work, it)
			w.carryOutQueued(ctx, work, key)
		}()
	}
	w.freeSlots(free)
	return len(items)
}

// wait blocks until every item drain started, and those queued behind
// them, is done.
func (w *Worker) wait() { w.running.Wait() }

// acquire takes one slot, waiting for it, and then every other slot free
// at the moment; it returns how many it took, 0 when ctx ended first.
func (w *Worker) acquire(ctx context.Context) int {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	if ctx.Err() != nil {
		w.freeSlots(1)
		return 0
	}
	n := 1
	for n < cap(w.slots) {
		select {
		case w.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (w *Worker) freeSlots(n int) {
	for range n {
		<-w.slots
	}
}

// carryOutQueued carries out the items that queued up behind the work on
// key, in order, until none is left and key is free again.
func (w *Worker) carryOutQueued(ctx, work context.Context, key string) {
	for {
		it, ok := w.serial.next(key)
		if !ok {
			return
		}
		w.carryOut(ctx, work, it)
	}
}

// carryOut does one item and settles it: complete, retry later with
// backoff, or hand back at once when shutdown interrupted it (or came
// before it started).
func (w *Worker) carryOut(ctx, work context.Context, it store.OutboxItem) {
	if ctx.Err() != nil {
		w.release([]store.OutboxItem{it})
		return
	}
	var err error
	switch it.Kind {
	case KindAssess:
		var id string
		if id, err = findingID(it); err == nil {
			err = w.Assess(work, id)
		}
	case KindRecheck:
		err = w.recheck(ctx, work)
	}
	if err == nil {
		if cerr := w.st.Complete(work, it.ID, w.opts.Owner); cerr != nil {
			w.log.Warn().Err(cerr).Str("kind", it.Kind).Msg("complete assessment item")
		}
		return
	}
	if work.Err() != nil || errors.Is(err, errInterrupted) {
		w.log.Warn().Err(err).Str("kind", it.Kind).Msg("assessment interrupted by shutdown; handed back")
		w.release([]store.OutboxItem{it})
		return
	}
	wait := time.Duration(1<<min(it.Attempts, 8)) * 2 * time.Second
	w.log.Warn().Err(err).Str("kind", it.Kind).Dur("retry_in", wait).Msg("assessment postponed")
	_ = w.st.Retry(work, it.ID, w.opts.Owner, w.opts.Clock.Now().Add(wait), err.Error())
}

// release hands claimed items back at once on shutdown, so that another
// replica takes them without waiting for the lease to run out.
func (w *Worker) release(items []store.OutboxItem) {
	if err := grace.Release(context.Background(), w.st, w.opts.Owner, w.opts.Clock.Now(), items); err != nil {
		w.log.Warn().Err(err).Msg("release assessment items")
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

// serial keeps the work on one finding in order. While an item (or a
// re-check's read) of a finding is in flight, later items of that finding
// wait in its queue and are carried out after it by the same goroutine:
// two reads of one resource recorded out of order would leave an older
// state on the finding.
type serial struct {
	mu   sync.Mutex
	busy map[string]*inFlight
}

// inFlight is the work on one key: what waits behind it, and a channel
// closed when the key is free again.
type inFlight struct {
	queued []store.OutboxItem
	free   chan struct{}
}

// enqueue reports whether it may start now (key was free and is now held);
// otherwise it is queued behind the work in flight on key.
func (s *serial) enqueue(key string, it store.OutboxItem) bool {
	if key == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.busy[key]; b != nil {
		b.queued = append(b.queued, it)
		return false
	}
	s.busy[key] = &inFlight{free: make(chan struct{})}
	return true
}

// hold waits until nothing is in flight on key and holds it; it returns
// false, holding nothing, when ctx ends first.
func (s *serial) hold(ctx context.Context, key string) bool {
	for {
		s.mu.Lock()
		b := s.busy[key]
		if b == nil {
			s.busy[key] = &inFlight{free: make(chan struct{})}
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-b.free:
		case <-ctx.Done():
			return false
		}
	}
}

// next pops the item queued next on key, or frees key when none is.
func (s *serial) next(key string) (store.OutboxItem, bool) {
	if key == "" {
		return store.OutboxItem{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.busy[key]
	if b == nil {
		return store.OutboxItem{}, false
	}
	if len(b.queued) == 0 {
		delete(s.busy, key)
		close(b.free)
		return store.OutboxItem{}, false
	}
	it := b.queued[0]
	b.queued = b.queued[1:]
	return it, true
}

// dropQueued takes every queued item out (the work in flight keeps its
// keys), for handing back at shutdown.
func (s *serial) dropQueued() []store.OutboxItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.OutboxItem
	for _, b := range s.busy {
		out = append(out, b.queued...)
		b.queued = nil
	}
	return out
}
