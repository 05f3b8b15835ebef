package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of the store the runtime uses: the outbox's claim and
// settle operations, each guarded by the claimer's lease.
type Store interface {
	ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error)
	Complete(ctx context.Context, id int64, owner string) error
	Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error
}

// Lane is a Handler with how its items are claimed and carried out. The
// zero values of the fields after Handler are the defaults.
type Lane struct {
	// Prefix selects the kinds the lane carries out ("jira."). Each lane
	// claims only its own, so a slow provider never holds up another's
	// items; no two lanes' prefixes may overlap.
	Prefix  string
	Handler Handler

	// Poll is how often the lane looks for due items when nothing wakes
	// it; 1s by default.
	Poll time.Duration
	// Wake says Runtime.Wake reaches the lane: its items are looked for as
	// soon as a change is stored (a new finding's message), not at the
	// next poll. Lanes whose items may wait for the poll leave it off, so
	// that a stored change does not set them racing the ones woken.
	Wake bool
	// Batch is how many items one claim takes; they are carried out one
	// after the other, in the order they were stored. 10 by default.
	// Lanes with a Concurrency above 1 claim instead as many as they can
	// start at once.
	Batch int
	// Concurrency is how many items run at once; 1 by default. Above 1, a
	// claim takes only as many items as there are free slots, so that no
	// lease runs out on an item nobody works on and other replicas get
	// the rest.
	Concurrency int
	// Serial names what an item must not run alongside (its finding): of
	// the items claimed with the same non-empty key, one runs at a time,
	// in order, and the others wait for it without taking a slot. Only
	// with a Concurrency above 1; a lane of one runs everything in order.
	Serial func(store.OutboxItem) string
	// Lease is how long a claim keeps the items from other replicas; one
	// minute by default. It should cover a batch: an item whose lease ran
	// out may be carried out again by another replica.
	Lease time.Duration
	// Timeout bounds one delivery; zero leaves it to the handler.
	Timeout time.Duration
	// Grace is how long the deliveries in flight at shutdown may take to
	// finish; 20s by default, within an orchestrator's usual 30s between
	// SIGTERM and SIGKILL. The items claimed and not started are handed
	// back at once.
	Grace time.Duration
	// Backoff is how long an item waits after a plain error; by default
	// Exponential(time.Second, 5*time.Minute).
	Backoff Backoff
	// Start, when set, runs once in Run before the lane first claims: a
	// start-up pass its items must not race (break-glass reconciles its
	// open requests with the clock before any timer fires).
	Start func(ctx context.Context)
}

func (l Lane) withDefaults() Lane {
	if l.Poll <= 0 {
		l.Poll = time.Second
	}
	if l.Batch <= 0 {
		l.Batch = 10
	}
	if l.Concurrency <= 0 {
		l.Concurrency = 1
	}
	if l.Lease <= 0 {
		l.Lease = time.Minute
	}
	if l.Grace <= 0 {
		l.Grace = 20 * time.Second
	}
	if l.Backoff == nil {
		l.Backoff = Exponential(time.Second, 5*time.Minute)
	}
	return l
}

// Runtime carries out the outbox items of every lane added to it. One runs
// per replica; replicas share the work through the store's leases.
type Runtime struct {
	st       Store
	owner    string
	clk      clock.Clock
	log      zerolog.Logger
	throttle *Throttle
	lanes    []*lane
}

// New returns a runtime that claims items as owner, a name unique to this
// replica.
func New(st Store, owner string, clk clock.Clock, log zerolog.Logger) *Runtime {
	if clk == nil {
		clk = clock.Real{}
	}
	log = log.With().Str("component", "outbox").Logger()
	return &Runtime{st: st, owner: owner, clk: clk, log: log, throttle: NewThrottle(clk, log)}
}

// Throttle is the runtime's record of providers' Retry-After per method,
// for the clients its handlers call through (see Throttle.Transport).
func (r *Runtime) Throttle() *Throttle { return r.throttle }

// Add registers a lane. Call it before Run; lanes whose prefixes overlap
// are refused, so that every kind has exactly one handler.
func (r *Runtime) Add(l Lane) error {
	if l.Prefix == "" || l.Handler == nil {
		return fmt.Errorf("outbox lane %q: a prefix and a handler are required", l.Prefix)
	}
	for _, o := range r.lanes {
		if strings.HasPrefix(l.Prefix, o.Prefix) || strings.HasPrefix(o.Prefix, l.Prefix) {
			return fmt.Errorf("outbox lane %q overlaps lane %q", l.Prefix, o.Prefix)
		}
	}
	l = l.withDefaults()
	r.lanes = append(r.lanes, &lane{
		Lane:   l,
		rt:     r,
		log:    r.log.With().Str("lane", strings.TrimSuffix(l.Prefix, ".")).Logger(),
		slots:  make(chan struct{}, l.Concurrency),
		serial: serial{busy: map[string]*inFlight{}},
		wake:   make(chan struct{}, 1),
	})
	return nil
}

// Wake asks the lanes that want it (Lane.Wake) to look for due items now,
// since a change was stored, rather than at their next poll.
func (r *Runtime) Wake() {
	for _, l := range r.lanes {
		if !l.Lane.Wake {
			continue
		}
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Run carries out items until ctx ends. Then each lane claims nothing
// more, hands the items it claimed but has not started back at once (the
// next replica need not wait for their lease to run out), and lets those
// in flight finish within its grace period. Run returns when they have.
func (r *Runtime) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range r.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(ctx)
		}()
	}
	wg.Wait()
}

// Drain claims one batch of due items in every lane, carries them out and
// returns how many it claimed. The end of ctx ends the deliveries in
// flight too; Run gives them a grace period instead.
func (r *Runtime) Drain(ctx context.Context) int {
	n := 0
	for _, l := range r.lanes {
		n += l.drain(ctx, ctx)
		l.running.Wait()
	}
	return n
}

// lane is a Lane at work.
type lane struct {
	Lane
	rt      *Runtime
	log     zerolog.Logger
	slots   chan struct{} // one per item being carried out
	serial  serial        // keeps the items of one key in order
	running sync.WaitGroup
	wake    chan struct{}
}

func (l *lane) run(ctx context.Context) {
	if l.Start != nil {
		l.Start(ctx)
	}
	work, stop := afterGrace(ctx, l.Grace)
	defer stop()
	// Deferred calls run last first: the unstarted items go back, then the
	// items in flight get the grace period to finish.
	defer l.running.Wait()
	defer func() { l.release(l.serial.dropQueued()) }()
	t := time.NewTicker(l.Poll)
	defer t.Stop()
	for {
		for l.drain(ctx, work) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
		}
	}
}

// drain waits for a free slot, claims due items and starts them under
// work, which may outlive ctx: the end of ctx only stops it from starting
// more. It returns how many it claimed without waiting for them.
func (l *lane) drain(ctx, work context.Context) int {
	free := l.acquire(ctx)
	if free == 0 {
		return 0
	}
	n := free
	if l.Concurrency == 1 {
		n = l.Batch
	}
	items, err := l.rt.st.ClaimKinds(ctx, l.rt.owner, []string{l.Prefix}, n, l.Lease)
	if err != nil {
		l.freeSlots(free)
		if ctx.Err() == nil {
			l.log.Error().Err(err).Msg("claim outbox items")
		}
		return 0
	}
	// Every item is queued before any starts: an item that found its key
	// free after the work before it had run out would take a slot of its
	// own, and run out of order.
	var start []store.OutboxItem
	for _, it := range items {
		if l.serial.enqueue(l.keyOf(it), it) {
			start = append(start, it)
		} // else it waits for the item of the same key in flight
	}
	for _, it := range start {
		free--
		l.running.Add(1)
		go func() {
			defer l.running.Done()
			defer l.freeSlots(1)
			l.carryOut(ctx, work, it)
			l.carryOutQueued(ctx, work, l.keyOf(it))
		}()
	}
	l.freeSlots(free)
	return len(items)
}

// inOrder is the serial key of every item of a lane of one: the batch
// queues behind its first item and runs in the order claimed.
const inOrder = "\x00in order"

func (l *lane) keyOf(it store.OutboxItem) string {
	switch {
	case l.Concurrency == 1:
		return inOrder
	case l.Serial != nil:
		return l.Serial(it)
	}
	return ""
}

// acquire takes one slot, waiting for it, and then every other slot free
// at the moment; it returns how many it took, 0 when ctx ended first.
func (l *lane) acquire(ctx context.Context) int {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	if ctx.Err() != nil {
		l.freeSlots(1)
		return 0
	}
	n := 1
	for n < cap(l.slots) {
		select {
		case l.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (l *lane) freeSlots(n int) {
	for range n {
		<-l.slots
	}
}

// carryOutQueued carries out the items that queued up behind the work on
// key, in order, until none is left and key is free again.
func (l *lane) carryOutQueued(ctx, work context.Context, key string) {
	for {
		it, ok := l.serial.next(key)
		if !ok {
			return
		}
		l.carryOut(ctx, work, it)
	}
}

// carryOut delivers one item and settles it, or hands it back at once
// when shutdown came before it started.
func (l *lane) carryOut(ctx, work context.Context, it store.OutboxItem) {
	if ctx.Err() != nil {
		l.release([]store.OutboxItem{it})
		return
	}
	dctx := context.WithValue(work, stoppingKey{}, ctx)
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(dctx, l.Timeout)
		defer cancel()
	}
	l.settle(work, it, l.Handler.Deliver(dctx, it))
}

// settle records the outcome of a delivery: complete, retry later, or hand
// back at once when the shutdown grace period cut it off.
func (l *lane) settle(work context.Context, it store.OutboxItem, err error) {
	log := l.log.With().Int64("outbox_id", it.ID).Str("kind", it.Kind).Int("attempt", it.Attempts).Logger()
	var drop *dropped
	var later *postponed
	wait := time.Duration(0)
	switch {
	case err == nil:
	case work.Err() != nil:
		log.Warn().Err(err).Msg("shutdown grace period over; outbox item handed back")
		l.release([]store.OutboxItem{it})
		return
	case errors.As(err, &drop):
		log.Error().Err(err).Msg("outbox item dropped")
		err = nil
	case errors.As(err, &later):
		wait = later.after
		log.Debug().Err(err).Dur("retry_in", wait).Msg("delivery postponed")
	default:
		// A warning: the item is kept, so nothing is lost yet; one that
		// can never succeed is dropped, which is an error.
		wait = l.Backoff(it.Attempts)
		log.Warn().Err(err).Dur("retry_in", wait).Msg("delivery failed; will retry")
	}
	if err == nil {
		if cerr := l.rt.st.Complete(work, it.ID, l.rt.owner); cerr != nil && work.Err() == nil {
			log.Error().Err(cerr).Msg("complete outbox item")
		}
		return
	}
	if rerr := l.rt.st.Retry(work, it.ID, l.rt.owner, l.rt.clk.Now().Add(wait), err.Error()); rerr != nil && work.Err() == nil {
		log.Error().Err(rerr).Msg("reschedule outbox item")
	}
}

// release hands claimed items back at once, so that another replica (or
// this one restarted) takes them without waiting for the lease to run out.
func (l *lane) release(items []store.OutboxItem) {
	if err := release(context.Background(), l.rt.st, l.rt.owner, l.rt.clk.Now(), items); err != nil {
		l.log.Warn().Err(err).Msg("release outbox items")
	}
}
