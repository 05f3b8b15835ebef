package sqsource

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// combiner is group commit for the sink. Each Ingest call is one store
// transaction, and EventBridge delivers one CloudTrail event per message, so
// calling the sink once per message caps ingestion at the store's commit
// rate. The combiner runs at most `slots` sink calls at once. A batch that
// finds a call slot free is stored at once, on its own, so an idle source
// adds no delay; batches that arrive while every slot is busy wait, and the
// next caller to get a slot stores all of them (up to maxItems records and
// problems) in one call and reports its outcome to each. The busier the
// sink, the larger its transactions, without a timer tuned to the load.
type combiner struct {
	sink     ingest.Sink
	slots    chan struct{}
	maxItems int
	// timeout bounds each sink call.
	timeout time.Duration

	mu      sync.Mutex
	waiting []*ingestRequest
}

// ingestRequest is one batch waiting to be stored. done receives the outcome
// exactly once; it is buffered so that the caller storing it never blocks.
type ingestRequest struct {
	batch ingest.Batch
	done  chan error
}

func newCombiner(sink ingest.Sink, slots, maxItems int, timeout time.Duration) *combiner {
	return &combiner{sink: sink, slots: make(chan struct{}, slots), maxItems: maxItems, timeout: timeout}
}

// ingest stores b, possibly together with batches of other messages, and
// returns once it is stored or the call that carried it failed. With alone
// set the batch is never combined: a message that came back after a failure
// is stored by itself, so that one message the sink keeps refusing cannot
// send its neighbours to the dead-letter queue with it.
func (c *combiner) ingest(ctx context.Context, b ingest.Batch, alone bool) error {
	req := &ingestRequest{batch: b, done: make(chan error, 1)}
	select {
	case c.slots <- struct{}{}:
		c.store(ctx, []*ingestRequest{req})
		<-c.slots
		return <-req.done
	default:
	}
	if alone {
		select {
		case c.slots <- struct{}{}:
			c.store(ctx, []*ingestRequest{req})
			<-c.slots
			return <-req.done
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	c.mu.Lock()
	c.waiting = append(c.waiting, req)
	c.mu.Unlock()
	for {
		select {
		case err := <-req.done:
			return err
		case c.slots <- struct{}{}:
			// Whoever gets a slot stores what is waiting, which may or
			// may not include its own batch; a caller whose batch did
			// not fit goes round again.
			if group := c.take(); len(group) > 0 {
				c.store(ctx, group)
			}
			<-c.slots
			if !c.queued(req) {
				// Stored by this call, or taken by a call still
				// running: wait for its outcome rather than take
				// slots for nothing, which would spin.
				return <-req.done
			}
		case <-ctx.Done():
			if c.withdraw(req) {
				return ctx.Err()
			}
			// Another caller took the batch; its outcome follows.
			return <-req.done
		}
	}
}

// take removes the oldest waiting batches from the queue, as many as fit in
// maxItems, and always at least one.
func (c *combiner) take() []*ingestRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, items := 0, 0
	for n < len(c.waiting) {
		size := batchItems(c.waiting[n].batch)
		if n > 0 && items+size > c.maxItems {
			break
		}
		items += size
		n++
	}
	group := c.waiting[:n:n]
	c.waiting = append([]*ingestRequest(nil), c.waiting[n:]...)
	return group
}

// waitingCount is how many batches wait for a sink call.
func (c *combiner) waitingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiting)
}

// queued reports whether req still waits to be taken.
func (c *combiner) queued(req *ingestRequest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.waiting {
		if r == req {
			return true
		}
	}
	return false
}

// withdraw removes req from the queue and reports whether it was still
// there.
func (c *combiner) withdraw(req *ingestRequest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.waiting {
		if r == req {
			c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// store makes one sink call for the group and reports its outcome to every
// member: one transaction, so all were stored or none may count as stored.
func (c *combiner) store(ctx context.Context, group []*ingestRequest) {
	var err error
	if err = ctx.Err(); err == nil {
		sctx, cancel := context.WithTimeout(ctx, c.timeout)
		err = c.sink.Ingest(sctx, merge(group))
		cancel()
	}
	for _, r := range group {
		r.done <- err
	}
}

// merge joins the batches of a group. Every problem keeps the source of the
// message or log file it came from, so quarantine still names it; the
// combined source keeps the first batch's prefix, which is what the
// pipeline's metrics classify by (every batch here is "sqs:…" or "s3://…").
func merge(group []*ingestRequest) ingest.Batch {
	if len(group) == 1 {
		return group[0].batch
	}
	var records, problems int
	for _, r := range group {
		records += len(r.batch.Records)
		problems += len(r.batch.Problems)
	}
	b := ingest.Batch{
		Source: fmt.Sprintf("%s and %d more", group[0].batch.Source, len(group)-1),
	}
	if records > 0 {
		b.Records = make([]cloudtrail.Record, 0, records)
	}
	if problems > 0 {
		b.Problems = make([]ingest.Problem, 0, problems)
	}
	for _, r := range group {
		b.Records = append(b.Records, r.batch.Records...)
		b.Native = append(b.Native, r.batch.Native...)
		for _, p := range r.batch.Problems {
			if p.Source == "" {
				p.Source = r.batch.Source
			}
			b.Problems = append(b.Problems, p)
		}
		b.Ignored += r.batch.Ignored
	}
	return b
}

func batchItems(b ingest.Batch) int {
	return len(b.Records) + len(b.Problems) + len(b.Native)
}
