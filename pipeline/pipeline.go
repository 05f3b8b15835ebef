// Package pipeline turns batches of CloudTrail records into findings:
// history first, then detection, enrichment, routing and the finding's
// lifecycle (open, repeat, suppressed, resolved, reopened). The findings
// of AWS's own detectors that a batch carries take a short path of their
// own (native.go) into the same lifecycle. It is the Sink
// every ingestion source feeds, and it returns only once a batch is durably
// stored, so sources may acknowledge their input afterwards.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of the store the pipeline writes to.
type Store interface {
	HasEvents(ctx context.Context, events []store.Event) ([]bool, error)
	AddEvents(ctx context.Context, events []store.Event) ([]bool, error)
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	ActorStats(ctx context.Context, actorARN string, since, until time.Time) (store.ActorStats, error)
	GetFindingByKey(ctx context.Context, key string) (finding.Finding, error)
	UpsertFinding(ctx context.Context, f finding.Finding, ev store.FindingEvent) error
	Quarantine(ctx context.Context, q store.Quarantined) error
}

// Detector evaluates the rules on one record.
type Detector interface {
	Evaluate(rec *cloudtrail.Record) ([]detect.Result, []error)
}

// Planner plans the delivery of a change (Slack messages, tickets) as
// outbox items stored with it.
type Planner interface {
	Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem
}

// Suppressor says whether a person marked such a finding as expected (an
// allowlist entry), and why.
type Suppressor interface {
	Suppressed(ctx context.Context, f finding.Finding) (reason string, ok bool, err error)
}

// Notifier is told about every stored change of a finding, after it was
// stored. Delivery (Slack, tickets) hangs off it.
type Notifier interface {
	FindingChanged(ctx context.Context, f finding.Finding, c finding.ChangeKind) error
}

// Options wires the pipeline.
type Options struct {
	Store     Store
	Detector  Detector
	Directory *org.Directory
	Enricher  *enrich.Enricher
	Router    *route.Router
	Notifier  Notifier // optional
	Planner   Planner  // optional
	// Suppressor, when set, is consulted for new findings.
	Suppressor Suppressor
	Clock      clock.Clock
	// EventTime makes each event's own time the pipeline's "now" for the
	// findings it raises, repeats and resolves: replayed history is
	// detected as it would have been at the time, not days late.
	EventTime bool
	Logger    zerolog.Logger
	// DisabledRules are rule IDs whose results are ignored.
	DisabledRules map[string]bool
	// Metrics, when set, is told about every new event and finding
	// (metrics, feed health).
	Metrics Metrics
	// DataReads, when set, takes data events that only read a resource
	// out of history (see DataReads).
	DataReads DataReads
}

// Metrics observes what flows through the pipeline. Its methods are called
// on the ingest path, so they must not block.
type Metrics interface {
	// EventIngested is called once per new (not duplicate) event; source
	// is the kind of input: "dir", "sqs" or "replay".
	EventIngested(source, account, region string, eventTime time.Time)
	// FindingCreated is called after a new finding was stored.
	FindingCreated(f finding.Finding)
}

// SourceKind names the kind of input a batch came from, for metrics.
func SourceKind(source string) string {
	switch {
	case source == "replay":
		return "replay"
	case strings.HasPrefix(source, "sqs:"), strings.HasPrefix(source, "s3://"):
		return "sqs"
	default:
		return "dir"
	}
}

// Pipeline is the event-to-finding path.
type Pipeline struct {
	opts Options
	log  zerolog.Logger
}

// New returns a pipeline.
func New(opts Options) *Pipeline {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Pipeline{opts: opts, log: opts.Logger}
}

// Stats counts what one batch did.
type Stats struct {
	Records     int
	Duplicates  int
	Quarantined int
	Results     int
	// Native counts the native finding updates applied; updates already
	// applied count as Duplicates.
	Native int
}

// Ingest stores a batch and raises findings from it. Problems (malformed
// input) are quarantined, not dropped. Events already stored are skipped, so
// redelivery is harmless. An event that raises a finding is added to history
// only after its finding is stored: a crash in between redelivers the event
// and the finding is applied once, because it remembers applied event IDs.
func (p *Pipeline) Ingest(ctx context.Context, b ingest.Batch) error {
	_, err := p.IngestStats(ctx, b)
	return err
}

// IngestStats is Ingest returning counts.
func (p *Pipeline) IngestStats(ctx context.Context, b ingest.Batch) (Stats, error) {
	var st Stats
	for _, pr := range b.Problems {
		q := store.Quarantined{Time: p.opts.Clock.Now(), Source: pr.Source, Line: pr.Line, Reason: pr.Reason, Raw: pr.Raw}
		if err := p.opts.Store.Quarantine(ctx, q); err != nil {
			return st, fmt.Errorf("quarantine %s:%d: %w", pr.Source, pr.Line, err)
		}
		p.log.Warn().Str("source", pr.Source).Int("line", pr.Line).Str("reason", pr.Reason).Msg("malformed input set aside in quarantine")
		st.Quarantined++
	}
	recs := b.Records
	if len(recs) == 0 {
		return st, p.ingestNative(ctx, b.Native, &st)
	}
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return recs[order[a]].EventTime.Before(recs[order[b]].EventTime) })

	// Data reads counted by DataReads are never stored as history.
	// counted and hist are in processing order. The new rows of hist are
	// moved down over the duplicates and counted reads as they are met, so
	// that the rows waiting to be stored are always hist[from:to] and are
	// handed to the store where they lie.
	counted, commitReads := p.splitReads(recs)
	counted = inOrder(counted, order)
	hist := history(recs, order, counted)
	exists, err := p.hasEvents(ctx, hist, counted)
	if err != nil {
		return st, fmt.Errorf("check event history: %w", err)
	}
	seen := make(map[string]bool, len(recs))
	from, to := 0, 0
	// stored are the new events, reported to Metrics only once the whole
	// batch is stored: a batch that fails is retried and must not count
	// its events twice.
	stored := make([]int, 0, len(recs))
	flush := func() error {
		if to == from {
			return nil
		}
		if _, err := p.opts.Store.AddEvents(ctx, hist[from:to]); err != nil {
			return fmt.Errorf("store %d events: %w", to-from, err)
		}
		from = to
		return nil
	}
	for k, i := range order {
		rec := &recs[i]
		if exists[k] || seen[rec.EventID] {
			st.Duplicates++
			continue
		}
		seen[rec.EventID] = true
		st.Records++
		stored = append(stored, i)
		results, problems := p.opts.Detector.Evaluate(rec)
		for _, perr := range problems {
			p.log.Warn().Err(perr).Str("event_id", rec.EventID).Str("event_name", rec.EventName).Msg("event could not be fully evaluated")
		}
		if len(results) > 0 {
			// History up to this event must be visible to enrichment.
			if err := flush(); err != nil {
				return st, err
			}
			for _, res := range results {
				if p.opts.DisabledRules[res.Rule] {
					continue
				}
				st.Results++
				if err := p.apply(ctx, rec, res); err != nil {
					return st, fmt.Errorf("apply %s to event %s: %w", res.Rule, rec.EventID, err)
				}
			}
		}
		if !isCounted(counted, k) {
			if to != k {
				hist[to] = hist[k]
			}
			to++
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if commitReads != nil {
		if err := commitReads(ctx); err != nil {
			return st, fmt.Errorf("store data reads: %w", err)
		}
	}
	if p.opts.Metrics != nil {
		src := SourceKind(b.Source)
		for _, i := range stored {
			p.opts.Metrics.EventIngested(src, recs[i].Account(), recs[i].AWSRegion, recs[i].EventTime)
		}
	}
	// After the records, so that a native finding's resource history
	// includes the batch's own events.
	return st, p.ingestNative(ctx, b.Native, &st)
}

// HistoryEvent converts a record to its history row.
func HistoryEvent(rec *cloudtrail.Record) store.Event {
	_, _, arn := cloudtrail.ResourceOf(rec)
	ro := false
	if rec.ReadOnly != nil {
		ro = *rec.ReadOnly
	} else {
		ro = readOnlyName(rec.EventName)
	}
	return store.Event{
		EventID:        rec.EventID,
		Time:           rec.EventTime,
		Account:        rec.Account(),
		Region:         rec.AWSRegion,
		ActorARN:       rec.ActorARN(),
		ActorType:      rec.UserIdentity.Type,
		AccessKeyID:    rec.UserIdentity.AccessKeyID,
		SourceIdentity: rec.SourceIdentity(),
		EventSource:    rec.EventSource,
		EventName:      rec.EventName,
		SourceIP:       rec.SourceIPAddress,
		UserAgent:      rec.UserAgent,
		ResourceARN:    arn,
		ErrorCode:      rec.ErrorCode,
		ReadOnly:       ro,
	}
}

func readOnlyName(name string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Head", "Lookup", "BatchGet", "Search"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// regionless reports whether a resource type is global, so its findings
// do not depend on which regional endpoint an event came through.
func regionless(typ string) bool {
	return strings.HasPrefix(typ, "AWS::S3::") || strings.HasPrefix(typ, "AWS::IAM::")
}

func keyOf(rec *cloudtrail.Record, res detect.Result) (key, region string) {
	region = rec.AWSRegion
	if regionless(res.Resource.Type) {
		region = ""
	}
	subject := res.Resource.ARN
	if subject == "" {
		// A rule about an action rather than a resource (a Sigma rule
		// such as root use) keys its findings on the actor.
		subject = res.Subject
	}
	return finding.KeyFor(res.Rule, rec.Account(), region, subject), rec.AWSRegion
}

func eventRef(rec *cloudtrail.Record) finding.EventRef {
	return finding.EventRef{
		ID: rec.EventID, Name: rec.EventName, Source: rec.EventSource, Time: rec.EventTime,
		SourceIP: rec.SourceIPAddress, UserAgent: rec.UserAgent,
	}
}

// plan attaches the delivery of a change to the history event that stores
// it.
func (p *Pipeline) plan(f *finding.Finding, ev *store.FindingEvent, c finding.ChangeKind) {
	f.Version++
	if p.opts.Planner != nil {
		ev.Outbox = p.opts.Planner.Plan(*f, c, ev.Actor, ev.Note)
	}
}

func (p *Pipeline) notify(ctx context.Context, f finding.Finding, c finding.ChangeKind) {
	if c == finding.ChangeCreated && p.opts.Metrics != nil {
		p.opts.Metrics.FindingCreated(f)
	}
	if p.opts.Notifier == nil {
		return
	}
	if err := p.opts.Notifier.FindingChanged(ctx, f, c); err != nil {
		p.log.Error().Err(err).Str("finding_id", f.ID).Str("change", string(c)).Msg("finding stored but notification failed")
	}
}

func (p *Pipeline) apply(ctx context.Context, rec *cloudtrail.Record, res detect.Result) error {
	key, _ := keyOf(rec, res)
	f, err := p.opts.Store.GetFindingByKey(ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load finding: %w", err)
	}
	if found && f.Applied(rec.EventID) {
		return nil
	}
	switch res.Kind {
	case detect.Exposure:
		if !found {
			return p.create(ctx, rec, res, key)
		}
		return p.repeat(ctx, rec, res, f)
	case detect.Remediation:
		if !found {
			return nil
		}
		return p.remediate(ctx, rec, res, f)
	}
	return nil
}
