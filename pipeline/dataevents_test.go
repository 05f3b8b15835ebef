package pipeline

import (
	"context"
	"errors"
	"testing"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store"
)

// countReads takes the records named GetObject out of history and counts
// the commits.
type countReads struct {
	commits int
	fail    error
}

func (c *countReads) Split(recs []cloudtrail.Record) ([]bool, func(context.Context) error) {
	counted := make([]bool, len(recs))
	for i := range recs {
		counted[i] = recs[i].EventName == "GetObject"
	}
	return counted, func(context.Context) error {
		c.commits++
		return c.fail
	}
}

// TestDataReadsStayOutOfHistory: the records DataReads counts are never
// stored as history, nor looked up, and its commit runs once the rest of
// the batch is stored; a commit that fails fails the batch, so the source
// delivers it again.
func TestDataReadsStayOutOfHistory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	reads := &countReads{}
	e.p.opts.DataReads = reads
	get := call("ev-get", 1, "s3.amazonaws.com", "GetObject", map[string]any{"bucketName": "payments-exports", "key": "a.csv"})
	put := call("ev-put", 2, "s3.amazonaws.com", "PutObject", map[string]any{"bucketName": "payments-exports", "key": "b.csv"})
	st, err := e.p.IngestStats(ctx, ingest.Batch{Source: "test", Records: []cloudtrail.Record{get, put}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || reads.commits != 1 {
		t.Errorf("stats %+v after %d commits, want both records taken and one commit", st, reads.commits)
	}
	evs, err := e.st.QueryEvents(ctx, store.EventQuery{ResourceARN: "arn:aws:s3:::payments-exports"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].EventName != "PutObject" {
		t.Errorf("history holds %+v, want the PutObject only", evs)
	}
	reads.fail = errors.New("store down")
	if err := e.p.Ingest(ctx, ingest.Batch{Source: "test", Records: []cloudtrail.Record{get}}); err == nil {
		t.Error("a failed commit of the reads was not reported")
	}
}
