// Package assess reads the actual state of an exposed resource from AWS
// when a finding is raised, confirms (or refutes) the exposure, records the
// before → after change and the data's sensitivity, and re-checks open
// findings periodically so a fix that no event reported still resolves them.
// An AWS failure never drops a finding: it is marked "state unavailable"
// and read again later.
package assess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox kinds handled here, in the "aws." lane (see Worker.Lane).
const (
	// KindPrefix is the prefix of every kind below.
	KindPrefix = "aws."
	// KindAssess reads the state of one finding's resource.
	KindAssess = "aws.assess"
	// KindRecheck is the periodic sweep of open findings; one item per
	// interval, so only one replica sweeps.
	KindRecheck = "aws.recheck"
)

// State is a resource's state as a provider read it.
type State struct {
	ReadAt  time.Time
	Exposed bool
	Reason  string
	Tags    map[string]string
	// Raw is the provider's full state, kept as the "last known state"
	// for the next diff.
	Raw json.RawMessage
}

// Reader reads the state of a finding's resource.
type Reader interface {
	Read(ctx context.Context, f finding.Finding) (State, error)
	// Diff describes the change between two raw states in lines a person
	// can read.
	Diff(before, after json.RawMessage) []string
	// Explain turns an AWS error into plain words ("access denied").
	Explain(err error) string
	// Profile reads the actor's IAM user or role (tags, the access key of
	// the event). It returns nil for identities IAM cannot describe.
	Profile(ctx context.Context, f finding.Finding) (*finding.Profile, error)
}

// ContentsReader is a Reader that can also read what the resource holds
// (objects and sensitive-data findings, a snapshot's source and
// encryption). Assessment checks for it by type assertion: the contents are
// read with each assessment, never by the re-check sweep, and a part that
// cannot be read is named in the contents rather than failing the read.
type ContentsReader interface {
	Contents(ctx context.Context, f finding.Finding, st State) (*finding.Contents, error)
}

// Owners decides a finding's owning team again from its resource's tags.
type Owners interface {
	// Reroute sets the finding's team and routes from the tags, and
	// reports whether the team changed, with a note that says why.
	Reroute(f *finding.Finding, tags map[string]string) (note string, changed bool)
}

// ErrUnsupported is returned by a Reader for resource types it cannot read.
var ErrUnsupported = errors.New("resource type not supported")

// Store is what assessment reads and writes.
type Store interface {
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (store.FindingEvent, error)) (finding.Finding, error)
	ListFindings(ctx context.Context, f store.FindingFilter) ([]finding.Finding, error)
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
	PutKV(ctx context.Context, ns, key string, value []byte) error
	Enqueue(ctx context.Context, it store.OutboxItem) (bool, error)
	ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]store.OutboxItem, error)
	Complete(ctx context.Context, id int64, owner string) error
	Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error
}

// Delivery plans the delivery of a change (Slack, tickets).
type Delivery interface {
	Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem
}

// Sensitivity configures what makes data sensitive.
type Sensitivity struct {
	// TagValues maps a tag key to the values that mark sensitive data
	// ("*" for any value).
	TagValues map[string][]string
	// NamePatterns are glob patterns of resource names holding sensitive
	// data.
	NamePatterns []string
	// Environments are account environments that count as sensitive
	// (e.g. production).
	Environments []string
}

// Options configure the worker.
type Options struct {
	Interval time.Duration // periodic re-check, default 5m
	// Concurrency is how many items (and, within a re-check, reads) run
	// at once; default 4.
	Concurrency int
	// ShutdownGrace is how long, once shutdown begins, the reads in
	// flight may take to finish; default 20s, within an orchestrator's
	// usual 30s between SIGTERM and SIGKILL.
	ShutdownGrace time.Duration
	Sensitivity   Sensitivity
	// Owners, when set, routes a finding to the team its resource's tags
	// name once the state (with the tags) is read.
	Owners Owners
	Clock  clock.Clock
	Logger zerolog.Logger
}

// Worker carries out assessments and re-checks.
type Worker struct {
	st   Store
	rd   Reader
	plan Delivery
	opts Options
	log  zerolog.Logger

	// reading keeps an assessment and the re-check sweep from reading one
	// finding's resource at once (the outbox lane already runs the
	// assessments of one finding in turn).
	reading keyLock
}

// New returns a worker.
func New(st Store, rd Reader, plan Delivery, opts Options) *Worker {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 20 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Worker{st: st, rd: rd, plan: plan, opts: opts, log: opts.Logger}
}

// Planner asks for an assessment of every new, repeated or reopened
// finding, and of one whose containment ran or was undone, so that a
// contained exposure resolves as soon as AWS shows it gone; it is one of
// the pipeline's planners. The zero value is ready.
type Planner struct{}

// Plan returns the assessment item for a change.
func (Planner) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	switch change {
	case finding.ChangeCreated, finding.ChangeReopened, finding.ChangeRepeated, finding.ChangeContained, finding.ChangeUncontained:
	default:
		return nil
	}
	if f.Status == finding.StatusSuppressed {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"finding_id": f.ID})
	return []store.OutboxItem{{Key: fmt.Sprintf("%s|%s|v%d", KindAssess, f.ID, f.Version), Kind: KindAssess, Payload: body}}
}

// errInterrupted is a re-check cut short by shutdown; it is handed back
// whole, to run again at once, since reading a state again does no harm.
var errInterrupted = fmt.Errorf("re-check interrupted by shutdown: %w", outbox.RetryAfter(0))

const nsState = "aws.state" // resource ARN → last known raw state

// Assess reads the finding's resource, records what it found on the
// finding and returns an error only when it should be tried again (the
// finding is updated with "state unavailable" in the meantime).
func (w *Worker) Assess(ctx context.Context, id string) error {
	if !w.reading.lock(ctx, id) {
		return fmt.Errorf("assess %s: %w", id, ctx.Err())
	}
	defer w.reading.unlock(id)
	f, err := w.st.GetFinding(ctx, id)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", id, err)
	}
	if !f.ReportsExposure() {
		return nil
	}
	st, rerr := w.rd.Read(ctx, f)
	if errors.Is(rerr, ErrUnsupported) {
		return nil
	}
	profile, perr := w.rd.Profile(ctx, f)
	if perr != nil {
		w.log.Debug().Err(perr).Str("actor", f.Actor.ARN).Msg("actor profile unavailable")
	}
	var contents *finding.Contents
	if cr, ok := w.rd.(ContentsReader); ok && rerr == nil {
		c, cerr := cr.Contents(ctx, f, st)
		if cerr != nil {
			w.log.Debug().Err(cerr).Str("finding_id", f.ID).Msg("contents not read")
		}
		contents = c
	}
	if err := w.record(ctx, f, st, rerr, profile, contents, false); err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("read state of %s: %w", f.Resource.ARN, rerr)
	}
	if !st.Exposed && f.Status == finding.StatusOpen {
		return w.resolveFixed(ctx, f, st)
	}
	return nil
}

// record writes a read of the finding's resource (or its failure, rerr),
// and what it holds when read, on the finding, remembers the state for the
// next diff, and plans the update of its messages. With onlyUnavailable it records nothing unless the
// finding still says its state is unavailable, so a re-check never
// replaces a read an assessment recorded in the meantime.
func (w *Worker) record(ctx context.Context, f finding.Finding, st State, rerr error, profile *finding.Profile, contents *finding.Contents, onlyUnavailable bool) error {
	now := w.opts.Clock.Now()
	var before json.RawMessage
	if b, err := w.st.GetKV(ctx, nsState, f.Resource.ARN); err == nil {
		before = b
	}
	// A failed read leaves ReadAt zero: the message then says the state is
	// unavailable instead of judging an exposure from a state never read.
	a := &finding.Assessment{}
	if rerr != nil {
		a.Unavailable = "state unavailable: " + w.rd.Explain(rerr)
	} else {
		a.ReadAt, a.Exposed, a.Reason, a.Tags = st.ReadAt, st.Exposed, st.Reason, st.Tags
		if before != nil {
			a.Diff = w.rd.Diff(before, st.Raw)
		}
		if err := w.st.PutKV(ctx, nsState, f.Resource.ARN, st.Raw); err != nil {
			return fmt.Errorf("remember state of %s: %w", f.Resource.ARN, err)
		}
	}
	sens := w.sensitivity(f, a.Tags)
	_, err := w.st.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
		if onlyUnavailable && (f.Assessment == nil || f.Assessment.Unavailable == "") {
			return store.FindingEvent{}, errNoop
		}
		ev := store.FindingEvent{Time: now, Actor: "system"}
		// Keep the last good read when this one failed.
		if a.Unavailable != "" && f.Assessment != nil && f.Assessment.Unavailable == "" {
			f.Assessment.Unavailable = a.Unavailable
		} else {
			f.Assessment = a
		}
		if profile != nil {
			f.Actor.Profile = profile
		}
		if contents != nil {
			if k := exposingKey(f.Contents.KeyDuringExposure(), contents.Key); k != contents.Key {
				contents.ExposedKey = k
			}
			f.Contents = contents
		}
		if len(sens) > 0 && len(f.Sensitivity) == 0 {
			f.Sensitivity = sens
			if f.Severity < finding.SeverityCritical {
				f.Severity = f.Severity.Raise()
				ev.Note = "severity raised: sensitive data (" + strings.Join(sens, "; ") + ")"
			}
		}
		f.Version++
		if note, left, moved := w.reroute(f, a); moved {
			ev.Note = strings.TrimPrefix(ev.Note+"; "+note, "; ")
			ev.Outbox = w.planReroute(*f, note, left)
			return ev, nil
		}
		ev.Outbox = w.plan.Plan(*f, finding.ChangeAssessed, "system", ev.Note)
		return ev, nil
	})
	if err != nil && !errors.Is(err, errNoop) {
		return fmt.Errorf("record assessment of %s: %w", f.ID, err)
	}
	return nil
}

// Recheck reads every open finding's resource, resolves those no longer
// exposed and records the state of those still marked "state
// unavailable". Once the outbox stops taking work (outbox.Stopping) it
// starts no more reads, lets those in flight finish and returns
// errInterrupted. A finding with an assessment in flight is read once that
// assessment is done (a read started before AWS recovered may just have
// failed), and assessments of a finding that arrive while it is read here
// wait until this read is recorded.
func (w *Worker) Recheck(ctx context.Context) error {
	stop := outbox.Stopping(ctx)
	fs, err := w.st.ListFindings(ctx, store.FindingFilter{Statuses: []finding.Status{finding.StatusOpen}})
	if err != nil {
		return fmt.Errorf("list open findings: %w", err)
	}
	sem := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	interrupted := false
	for _, f := range fs {
		select {
		case sem <- struct{}{}:
		case <-stop.Done():
		}
		if stop.Err() != nil {
			mu.Lock()
			interrupted = true
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func(f finding.Finding) {
			defer wg.Done()
			defer func() { <-sem }()
			if !w.reading.lock(stop, f.ID) {
				mu.Lock()
				interrupted = true
				mu.Unlock()
				return
			}
			err := w.recheckOne(ctx, f.ID)
			w.reading.unlock(f.ID)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(f)
	}
	wg.Wait()
	if interrupted && firstErr == nil {
		return errInterrupted
	}
	return firstErr
}

// recheckOne reads one open finding's resource again. A finding whose
// first read failed gets this read recorded as that read would have been
// (the exposure confirmed, its message updated), without waiting for its
// assessment's next retry; the actor's profile is left to that retry, so
// the sweep makes no calls beyond the state read.
func (w *Worker) recheckOne(ctx context.Context, id string) error {
	// As it is now, not as listed: an assessment may have recorded a read
	// (or a failure) or resolved it since.
	f, err := w.st.GetFinding(ctx, id)
	if err != nil {
		return fmt.Errorf("load finding %s: %w", id, err)
	}
	if f.Status != finding.StatusOpen || !f.ReportsExposure() {
		return nil
	}
	st, err := w.rd.Read(ctx, f)
	if errors.Is(err, ErrUnsupported) {
		return nil
	}
	if err != nil {
		w.log.Warn().Err(err).Str("finding_id", f.ID).Msg("re-check could not read state")
		return nil
	}
	if f.Assessment != nil && f.Assessment.Unavailable != "" {
		if err := w.record(ctx, f, st, nil, nil, nil, true); err != nil {
			return err
		}
		w.log.Info().Str("finding_id", f.ID).Bool("exposed", st.Exposed).Msg("state read by re-check after it was unavailable")
	}
	if st.Exposed {
		return nil
	}
	return w.resolveFixed(ctx, f, st)
}

// resolveFixed resolves a finding whose resource is no longer exposed,
// naming the last writer of the resource since it opened as who fixed it,
// or, before its event reached the history, the containment that ran.
func (w *Worker) resolveFixed(ctx context.Context, f finding.Finding, st State) error {
	by, via := "", ""
	evs, err := w.st.QueryEvents(ctx, store.EventQuery{ResourceARN: f.Resource.ARN, Since: f.OpenedAt, Limit: 50})
	if err == nil {
		for _, e := range evs { // newest first
			if !e.ReadOnly && e.ErrorCode == "" && e.EventID != f.Event.ID {
				by, via = e.ActorARN, e.EventName
				break
			}
		}
	}
	if n := len(f.Containments); n > 0 && (by == "" || !lastWriteAfter(evs, f.Containments[n-1].At)) {
		c := f.Containments[n-1]
		by, via = c.By, "containment "+c.Action
	}
	now := w.opts.Clock.Now()
	_, err = w.st.UpdateFinding(ctx, f.ID, func(f *finding.Finding) (store.FindingEvent, error) {
		if f.Status != finding.StatusOpen {
			return store.FindingEvent{}, errNoop
		}
		f.Status = finding.StatusResolved
		f.ResolvedAt = now
		f.ResolvedBy = by
		if by == "" {
			f.ResolvedBy = "unknown (no write event in history)"
		}
		f.ResolveReason = "state re-check: " + st.Reason
		if via != "" {
			f.ResolveReason = fmt.Sprintf("state re-check after %s: %s", via, st.Reason)
		}
		f.OpenFor = now.Sub(f.OpenedAt)
		f.Version++
		ev := store.FindingEvent{Time: now, Status: finding.StatusResolved, Actor: "system", Note: f.ResolveReason}
		ev.Outbox = w.plan.Plan(*f, finding.ChangeResolved, f.ResolvedBy, f.ResolveReason)
		return ev, nil
	})
	if errors.Is(err, errNoop) {
		return nil
	}
	if err == nil {
		w.log.Info().Str("finding_id", f.ID).Str("resolved_by", by).Msg("finding resolved by state re-check")
	}
	return err
}

// lastWriteAfter reports whether the newest successful write in evs
// (newest first) came after t: then it, not a containment at t, is what
// left the resource as it is.
func lastWriteAfter(evs []store.Event, t time.Time) bool {
	for _, e := range evs {
		if !e.ReadOnly && e.ErrorCode == "" {
			return e.Time.After(t)
		}
	}
	return false
}

var errNoop = errors.New("no change")

// reroute lets the resource's tags, as just read, decide the finding's
// owner; it reports whether the finding moved to another team, and the
// routes it left. A failed read or a suppressed finding moves nothing.
func (w *Worker) reroute(f *finding.Finding, a *finding.Assessment) (note string, left []string, moved bool) {
	if w.opts.Owners == nil || a.Unavailable != "" || f.Status == finding.StatusSuppressed {
		return "", nil, false
	}
	before := f.Routes
	note, moved = w.opts.Owners.Reroute(f, a.Tags)
	if !moved {
		return "", nil, false
	}
	for _, r := range before {
		if !slices.Contains(f.Routes, r) {
			left = append(left, r)
		}
	}
	return note, left, true
}

// planReroute delivers a change of owner: the message is posted in the new
// team's channel and updated where it already was, and every thread, the
// one left behind included, is told why.
func (w *Worker) planReroute(f finding.Finding, note string, left []string) []store.OutboxItem {
	items := w.plan.Plan(f, finding.ChangeRerouted, "system", note)
	if len(left) > 0 {
		old := f
		old.Routes = left
		items = append(items, w.plan.Plan(old, finding.ChangeRerouted, "system", note)...)
	}
	return items
}

// sensitivity says why the resource's data is sensitive, if it is.
func (w *Worker) sensitivity(f finding.Finding, tags map[string]string) []string {
	var out []string
	cfg := w.opts.Sensitivity
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, want := range cfg.TagValues[k] {
			if want == "*" || strings.EqualFold(want, tags[k]) {
				out = append(out, fmt.Sprintf("tag %s=%s", k, tags[k]))
				break
			}
		}
	}
	for _, p := range cfg.NamePatterns {
		if ok, _ := path.Match(p, f.Resource.ID); ok {
			out = append(out, fmt.Sprintf("name matches %q", p))
			break
		}
	}
	for _, env := range cfg.Environments {
		if env != "" && strings.EqualFold(env, f.Environment) {
			out = append(out, "account environment "+f.Environment)
			break
		}
	}
	return out
}

// keyUrgency orders the known key cases from most to least urgent, as
// finding lists them.
var keyUrgency = map[finding.KeyCase]int{
	finding.KeyUnencrypted:       0,
	finding.KeyCustomerUsable:    1,
	finding.KeyCustomerNotUsable: 2,
	finding.KeyAWSManaged:        3,
}

// exposingKey is the key access that held during the exposure after a new
// read: the most urgent one seen for the same key. Once the outside account
// is taken off the key, a new read finds no account that may use it; the
// review of who read it during the exposure must still judge from the
// access the account had, or it would answer "nobody outside could" from
// the state after it.
func exposingKey(old, next *finding.KeyAccess) *finding.KeyAccess {
	if old == nil {
		return next
	}
	if next == nil {
		return old
	}
	switch {
	case old.KeyARN != next.KeyARN, old.Case == finding.KeyUnknown:
		return next
	case next.Case == finding.KeyUnknown:
		// A read that failed says nothing new about the key.
		return old
	}
	if oldU, ok := keyUrgency[old.Case]; ok {
		if nextU, ok := keyUrgency[next.Case]; !ok || oldU < nextU {
			return old
		}
	}
	return next
}
