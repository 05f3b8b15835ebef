package pipeline

import (
	"context"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store"
)

// DataReads takes the CloudTrail data events that only read a resource out
// of a batch before history (exposure.Recorder): there are far more of
// them than of anything else, and most are the organisation's own work,
// which is counted rather than kept. The records it marks are still
// evaluated by the rules, but never stored as history; the others go on as
// before.
type DataReads interface {
	// Split marks the records taken out of history (counted[i]; nil when
	// none is) and returns the commit that stores what it kept of the
	// batch, run once the batch's history is stored (nil when there is
	// nothing to store).
	Split(recs []cloudtrail.Record) (counted []bool, commit func(context.Context) error)
}

// splitReads asks the DataReads, if any, which records to count.
func (p *Pipeline) splitReads(recs []cloudtrail.Record) (counted []bool, commit func(context.Context) error) {
	if p.opts.DataReads == nil {
		return nil, nil
	}
	return p.opts.DataReads.Split(recs)
}

// inOrder rearranges counted (indexed by record) into processing order.
func inOrder(counted []bool, order []int) []bool {
	if counted == nil {
		return nil
	}
	out := make([]bool, len(order))
	for k, i := range order {
		out[k] = counted[i]
	}
	return out
}

// history converts the records, in processing order, to their history
// rows; a counted record has none (a zero Event), since it is never stored.
func history(recs []cloudtrail.Record, order []int, counted []bool) []store.Event {
	hist := make([]store.Event, len(recs))
	for k, i := range order {
		if !isCounted(counted, k) {
			hist[k] = HistoryEvent(&recs[i])
		}
	}
	return hist
}

// hasEvents asks the store which rows it holds already; counted records,
// never stored, are not looked up.
func (p *Pipeline) hasEvents(ctx context.Context, hist []store.Event, counted []bool) ([]bool, error) {
	if counted == nil {
		return p.opts.Store.HasEvents(ctx, hist)
	}
	ask := make([]store.Event, 0, len(hist))
	at := make([]int, 0, len(hist))
	for i, h := range hist {
		if !counted[i] {
			ask = append(ask, h)
			at = append(at, i)
		}
	}
	got, err := p.opts.Store.HasEvents(ctx, ask)
	if err != nil {
		return nil, err
	}
	exists := make([]bool, len(hist))
	for j, i := range at {
		exists[i] = got[j]
	}
	return exists, nil
}

func isCounted(counted []bool, i int) bool { return counted != nil && counted[i] }
