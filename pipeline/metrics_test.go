package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// recorder is a Metrics that remembers what it was told.
type recorder struct {
	events   []string
	findings []string
}

func (r *recorder) EventIngested(source, account, region string, at time.Time) {
	r.events = append(r.events, source+" "+account+" "+region+" "+at.Format(time.TimeOnly))
}

func (r *recorder) FindingCreated(f finding.Finding) {
	r.findings = append(r.findings, f.Rule+" "+f.Severity.String())
}

func TestMetricsObserveNewEventsAndFindings(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.p.opts.Metrics = rec
	ingestFrom := func(source string, recs ...cloudtrail.Record) {
		t.Helper()
		if err := e.p.Ingest(context.Background(), ingest.Batch{Source: source, Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	ingestFrom("sqs:m-1", share("e1", 0, []string{"444455556666"}, nil))
	// Redelivered, then a repeat of the same exposure from a file.
	ingestFrom("sqs:m-2", share("e1", 0, []string{"444455556666"}, nil))
	ingestFrom("/var/trail/f.json.gz", share("e2", 5, []string{"444455556666"}, nil))

	wantEvents := []string{"sqs 111122223333 eu-west-1 03:00:00", "dir 111122223333 eu-west-1 03:05:00"}
	if len(rec.events) != len(wantEvents) {
		t.Fatalf("events observed = %q, want %q", rec.events, wantEvents)
	}
	for i := range wantEvents {
		if rec.events[i] != wantEvents[i] {
			t.Errorf("event %d = %q, want %q", i, rec.events[i], wantEvents[i])
		}
	}
	f := e.only(t)
	if len(rec.findings) != 1 || rec.findings[0] != f.Rule+" "+f.Severity.String() {
		t.Errorf("findings observed = %q, want one for %s %s", rec.findings, f.Rule, f.Severity)
	}
}

func TestSourceKind(t *testing.T) {
	tests := []struct{ source, want string }{
		{"replay", "replay"},
		{"sqs:6f1c2b", "sqs"},
		{"s3://trail-bucket/AWSLogs/111122223333/CloudTrail/eu-west-1/f.json.gz", "sqs"},
		{"/var/lib/secops/incoming/f.json", "dir"},
		{"examples/story-one.json", "dir"},
	}
	for _, tc := range tests {
		t.Run(tc.source, func(t *testing.T) {
			if got := SourceKind(tc.source); got != tc.want {
				t.Errorf("SourceKind(%q) = %q, want %q", tc.source, got, tc.want)
			}
		})
	}
}

// A batch whose events could not be stored is retried by its source; its
// events count once, when they are stored, or events_in_total would grow
// with every retry during a store outage.
func TestMetricsCountEventsOnceStored(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.p.opts.Metrics = rec
	b := ingest.Batch{Source: "sqs:m-1", Records: []cloudtrail.Record{share("e1", 0, []string{"444455556666"}, nil)}}
	e.wrap.failAdd = 1
	if err := e.p.Ingest(context.Background(), b); err == nil {
		t.Fatal("Ingest succeeded with a failing store")
	}
	if len(rec.events) != 0 {
		t.Fatalf("events observed before they were stored: %q", rec.events)
	}
	if err := e.p.Ingest(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 {
		t.Errorf("events observed after the retry = %q, want one", rec.events)
	}
}
