// Package investigate answers `/secops investigate`: who or what a target
// is, what it did (or what was done to it) in a window of history, what of
// that is unusual against the actor's own baseline, which resources it
// touched and which findings involve it.
//
// History can hold tens of millions of events, so nothing here reads a
// target's whole history: per-API counts of an actor come from the store's
// aggregate (ActorStats), and everything that needs single events reads a
// bounded, newest-first sample. Whatever a limit leaves out is said in the
// report's Note, never cut silently.
package investigate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// Store is the part of the store an investigation reads.
type Store interface {
	QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	ActorStats(ctx context.Context, actor string, since, until time.Time) (store.ActorStats, error)
	ListFindings(ctx context.Context, f store.FindingFilter) ([]finding.Finding, error)
}

// Query is what to investigate and how far back.
type Query struct {
	Kind  commands.TargetKind
	Value string
	// Since is how far back from Until to look; commands.DefaultSince when
	// zero or negative, at most commands.MaxSince.
	Since time.Duration
	// Until is the end of the window, now when zero. An investigation
	// from a finding ends at the finding's event, so a look a week later
	// compares the same hours with the same baseline. A time in the future
	// is read as now.
	Until time.Time
}

// Subject is who or what was investigated, resolved from the query.
type Subject struct {
	Kind  commands.TargetKind
	Query string // the value as asked
	// ARN is the persistent principal (user, or role for a session) for
	// actor targets and access keys, the resource ARN for resources, and
	// empty for accounts.
	ARN string
	// Type is the CloudTrail identity type of a principal (IAMUser,
	// AssumedRole...) or the CloudFormation type of a resource.
	Type        string
	Name        string
	AccountID   string
	AccountName string
	Team        string
	Environment string
	// Class says whether an account target is ours, trusted or unknown.
	Class      finding.TargetClass
	Contractor bool
	// AccessKeys are the access keys the principal used in the sample.
	AccessKeys []string
	// Found is false when history holds nothing for the target.
	Found bool
}

// Principal reports whether the subject is an IAM identity, the kind that
// can be contained and has a console page in IAM.
func (s Subject) Principal() bool {
	return strings.HasPrefix(s.ARN, "arn:") && isPrincipalARN(s.ARN)
}

// Window is the span of history investigated: Since inclusive, Until
// exclusive.
type Window struct {
	Since, Until time.Time
}

// Duration is the window's length.
func (w Window) Duration() time.Duration { return w.Until.Sub(w.Since) }

// APIGroup is the calls to one API in the window.
type APIGroup struct {
	API    string // event name, e.g. ModifyDBSnapshotAttribute
	Source string // event source, e.g. rds.amazonaws.com
	Count  int
	First  time.Time
	Last   time.Time
	// Write is true for calls that change something (not read-only).
	Write bool
}

// ResourceTouch is what the target did to one resource in the window.
type ResourceTouch struct {
	ARN    string
	Writes int
	Reads  int
	Last   time.Time
}

// Report is the answer to an investigation.
type Report struct {
	Subject Subject
	Window  Window
	// Total is the number of events in the window: exact for principals,
	// at least this many for other targets when Truncated says so.
	Total int
	// ByAPI is newest activity first.
	ByAPI []APIGroup
	// APIs is how many distinct APIs were called, ByAPI may show fewer.
	APIs int
	// Unusual are the anomalies of the principal's recent calls (the last
	// 24 hours of the window) against its baseline, each with its reason.
	Unusual []finding.Signal
	// Resources lists resources written first, then those only read.
	Resources []ResourceTouch
	// Findings are the findings involving the target, as actor, resource,
	// account or share target, newest first.
	Findings []finding.Finding
	// Truncated is set when a limit left something out; Note says what.
	Truncated bool
	Note      string
	// Exposure is, for a resource, what it holds and who read it.
	Exposure Exposure
}

// Limits on what a report carries and on what is read to build it.
const (
	// MaxAPIs, MaxResources and MaxFindings bound the lists of a report.
	MaxAPIs      = 25
	MaxResources = 25
	MaxFindings  = 10

	// sampleLimit bounds the events read one by one (for resources, the
	// read/write split and recent calls); counts of principals come from
	// aggregates and are never limited.
	sampleLimit = 2000
	// findingScan bounds the findings read to find those involving the
	// target.
	findingScan = 500
	// recentSpan is the part of the window whose calls are compared with
	// the baseline.
	recentSpan = 24 * time.Hour
	// maxProbes bounds how many recent calls are checked against the
	// baseline; their baselines share most of their days, which are
	// read once (enrich.SignalsOf), and each adds two short spans.
	maxProbes = 4
)

// Investigator answers investigations from history.
type Investigator struct {
	st    Store
	dir   *org.Directory
	enr   *enrich.Enricher
	clock clock.Clock
}

// New returns an investigator. enr may be nil, in which case no anomaly
// signals are computed.
func New(st Store, dir *org.Directory, enr *enrich.Enricher, clk clock.Clock) *Investigator {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Investigator{st: st, dir: dir, enr: enr, clock: clk}
}

// ErrNoTarget is returned for a query without a target.
var ErrNoTarget = errors.New("nothing to investigate")

// Investigate resolves the target and summarises its history.
func (i *Investigator) Investigate(ctx context.Context, q Query) (Report, error) {
	if q.Kind == commands.TargetNone || strings.TrimSpace(q.Value) == "" {
		return Report{}, ErrNoTarget
	}
	since := q.Since
	if since <= 0 {
		since = commands.DefaultSince
	}
	since = min(since, commands.MaxSince)
	now := i.clock.Now().UTC()
	until := now
	if !q.Until.IsZero() && q.Until.Before(now) {
		until = q.Until.UTC()
	}
	until = until.Truncate(time.Second).Add(time.Second)
	r := Report{
		Window:  Window{Since: until.Add(-since), Until: until},
		Subject: Subject{Kind: q.Kind, Query: q.Value},
	}
	var notes []string

	sel, err := i.resolve(ctx, q, &r.Subject, &notes)
	if err != nil {
		return Report{}, err
	}
	if sel != nil {
		if err := i.history(ctx, sel, &r, &notes); err != nil {
			return Report{}, err
		}
	}
	i.describe(&r.Subject)
	if err := i.findings(ctx, &r, &notes); err != nil {
		return Report{}, err
	}
	exposure(&r)
	r.Note = strings.Join(notes, " ")
	return r, nil
}

// selector is the resolved history filter: one of the EventQuery keys.
type selector struct {
	q     store.EventQuery
	actor string // set when the target is one principal with a baseline
}

// resolve turns the query into a history filter and fills what the query
// alone says about the subject. A nil selector means nothing matched.
func (i *Investigator) resolve(ctx context.Context, q Query, sub *Subject, notes *[]string) (*selector, error) {
	v := strings.TrimSpace(q.Value)
	switch q.Kind {
	case commands.TargetUser:
		return i.resolveUser(ctx, v, sub, notes)
	case commands.TargetARN:
		arn := PrincipalARN(v)
		sub.ARN = arn
		if arn != v {
			*notes = append(*notes, fmt.Sprintf("History is kept per role, not per session: showing every session of %s.", arn))
		}
		found, err := i.has(ctx, store.EventQuery{ActorARN: arn})
		if err != nil || !found {
			return nil, err
		}
		sub.Found = true
		return &selector{q: store.EventQuery{ActorARN: arn}, actor: arn}, nil
	case commands.TargetAccessKey:
		sub.AccessKeys = []string{v}
		return &selector{q: store.EventQuery{AccessKeyID: v}}, nil
	case commands.TargetAccount:
		sub.AccountID = v
		return &selector{q: store.EventQuery{Account: v}}, nil
	case commands.TargetResource:
		return i.resolveResource(ctx, v, sub)
	}
	return nil, fmt.Errorf("investigate %q: unsupported target kind %s", v, q.Kind)
}

// resolveUser finds the IAM user of that name in the configured accounts,
// preferring the one active most recently.
func (i *Investigator) resolveUser(ctx context.Context, name string, sub *Subject, notes *[]string) (*selector, error) {
	type hit struct {
		arn  string
		last time.Time
	}
	var hits []hit
	var first string
	for _, a := range i.accounts() {
		arn := awsarn.IAMUser(awsarn.PartitionAWS, a, "", name).String()
		if first == "" {
			first = arn
		}
		evs, err := i.st.QueryEvents(ctx, store.EventQuery{ActorARN: arn, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("investigate user %s: %w", name, err)
		}
		if len(evs) > 0 {
			hits = append(hits, hit{arn, evs[0].Time})
		}
	}
	sub.Name = name
	sub.Type = "IAMUser"
	if len(hits) == 0 {
		sub.ARN = first
		*notes = append(*notes, fmt.Sprintf("No IAM user %s has any history in the %d configured accounts; give its ARN if it lives elsewhere or under a path.", name, len(i.accounts())))
		return nil, nil
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].last.After(hits[b].last) })
	sub.ARN, sub.Found = hits[0].arn, true
	if len(hits) > 1 {
		var others []string
		for _, h := range hits[1:] {
			others = append(others, accountOf(h.arn))
		}
		*notes = append(*notes, fmt.Sprintf("A user named %s also exists in %s; showing the most recently active one. Investigate by ARN for the others.", name, strings.Join(others, ", ")))
	}
	return &selector{q: store.EventQuery{ActorARN: sub.ARN}, actor: sub.ARN}, nil
}

// resolveResource tries the ARNs a resource name may be stored under and
// keeps the first with history.
func (i *Investigator) resolveResource(ctx context.Context, v string, sub *Subject) (*selector, error) {
	cands := ResourceCandidates(v)
	sub.ARN = cands[0]
	for _, arn := range cands {
		found, err := i.has(ctx, store.EventQuery{ResourceARN: arn})
		if err != nil {
			return nil, err
		}
		if found {
			sub.ARN, sub.Found = arn, true
			return &selector{q: store.EventQuery{ResourceARN: arn}}, nil
		}
	}
	// A snapshot or image ID names no region; without history the first
	// candidate would be a guess, so the ID stands alone.
	if len(cands) > 2 {
		sub.ARN = ""
	}
	return nil, nil
}

// has reports whether history holds any event for the filter.
func (i *Investigator) has(ctx context.Context, q store.EventQuery) (bool, error) {
	q.Limit = 1
	evs, err := i.st.QueryEvents(ctx, q)
	if err != nil {
		return false, fmt.Errorf("look up history: %w", err)
	}
	return len(evs) > 0, nil
}

func (i *Investigator) accounts() []string {
	if i.dir == nil {
		return nil
	}
	var out []string
	for _, a := range i.dir.Accounts() {
		out = append(out, a.ID)
	}
	return out
}

// history fills the report from the events the selector picks in the
// window.
func (i *Investigator) history(ctx context.Context, sel *selector, r *Report, notes *[]string) error {
	q := sel.q
	q.Since, q.Until, q.Limit = r.Window.Since, r.Window.Until, sampleLimit
	sample, err := i.st.QueryEvents(ctx, q)
	if err != nil {
		return fmt.Errorf("investigate %s: %w", r.Subject.Query, err)
	}
	if len(sample) > 0 {
		r.Subject.Found = true
	}
	sampled := len(sample) == sampleLimit
	actor := sel.actor
	if actor == "" && r.Subject.Kind == commands.TargetAccessKey {
		// An access key belongs to one principal: its baseline is the
		// principal's.
		actor = soleActor(sample)
	}
	if actor != "" {
		r.Subject.ARN = actor
	}

	written := writeFlags(sample)
	if sel.actor != "" {
		// A principal's counts come from the aggregate, exact however
		// much history there is.
		st, err := i.st.ActorStats(ctx, sel.actor, r.Window.Since, r.Window.Until)
		if err != nil {
			return fmt.Errorf("investigate %s: %w", r.Subject.Query, err)
		}
		r.Total = st.Total
		r.ByAPI = groupsFromStats(st, written)
	} else {
		r.Total = len(sample)
		r.ByAPI = groupsFromEvents(sample)
		if sampled {
			r.Truncated = true
			*notes = append(*notes, fmt.Sprintf("Counted from the most recent %s events only; there are more in the window.", thousands(sampleLimit)))
		}
	}
	r.APIs = len(r.ByAPI)
	if len(r.ByAPI) > MaxAPIs {
		r.Truncated = true
		*notes = append(*notes, fmt.Sprintf("Showing the %d most recently called of %d APIs.", MaxAPIs, len(r.ByAPI)))
		r.ByAPI = r.ByAPI[:MaxAPIs]
	}

	resources := touches(sample)
	if sampled && sel.actor != "" && len(resources) > 0 {
		r.Truncated = true
		*notes = append(*notes, fmt.Sprintf("Resources are from the most recent %s of %s events.", thousands(sampleLimit), thousands(r.Total)))
	}
	if len(resources) > MaxResources {
		r.Truncated = true
		*notes = append(*notes, fmt.Sprintf("Showing %d of %d resources touched.", MaxResources, len(resources)))
		resources = resources[:MaxResources]
	}
	r.Resources = resources
	r.Subject.fillFromSample(sample)

	if actor != "" {
		sigs, err := i.unusual(ctx, actor, sample, r.Window.Until)
		if err != nil {
			return fmt.Errorf("investigate %s: baseline: %w", r.Subject.Query, err)
		}
		r.Unusual = sigs
	}
	return nil
}

// fillFromSample takes the identity details history knows about the
// subject: its type, account and the access keys it used.
func (s *Subject) fillFromSample(sample []store.Event) {
	keys := map[string]bool{}
	for _, k := range s.AccessKeys {
		keys[k] = true
	}
	principal := s.Kind == commands.TargetUser || s.Kind == commands.TargetARN || s.Kind == commands.TargetAccessKey
	for _, e := range sample {
		if !principal {
			if s.AccountID == "" {
				s.AccountID = e.Account
			}
			continue
		}
		if s.Type == "" || s.Type == "IAMUser" && e.ActorType != "" {
			s.Type = e.ActorType
		}
		if s.AccountID == "" {
			s.AccountID = accountOf(e.ActorARN)
		}
		if e.AccessKeyID != "" && !keys[e.AccessKeyID] && len(keys) < 5 {
			keys[e.AccessKeyID] = true
			s.AccessKeys = append(s.AccessKeys, e.AccessKeyID)
		}
	}
}

// describe adds what the organisation knows: account name, owner,
// environment, contractor status, the class of an account target.
func (i *Investigator) describe(s *Subject) {
	if s.AccountID == "" && s.ARN != "" {
		s.AccountID = accountOf(s.ARN)
	}
	if s.Name == "" {
		switch {
		case s.Kind == commands.TargetAccount:
			s.Name = s.AccountID
		case s.ARN != "":
			s.Name = shortName(s.ARN)
		default:
			s.Name = s.Query
		}
	}
	if s.Type == "" && s.Kind == commands.TargetResource {
		s.Type = resourceType(s.ARN, s.Query)
	}
	if i.dir == nil {
		return
	}
	if a, ok := i.dir.Account(s.AccountID); ok {
		s.AccountName, s.Team, s.Environment = a.Name, a.Team, a.Environment
	}
	if s.Kind == commands.TargetAccount {
		s.Class = i.dir.Classify(s.AccountID)
		if s.AccountName == "" {
			s.AccountName = i.dir.TargetName(s.AccountID)
		}
	}
	if s.Principal() {
		s.Contractor = i.dir.IsContractor(s.ARN)
	}
}

// findings lists the findings involving the subject among the recent ones.
func (i *Investigator) findings(ctx context.Context, r *Report, notes *[]string) error {
	fs, err := i.st.ListFindings(ctx, store.FindingFilter{Since: r.Window.Since, Limit: findingScan})
	if err != nil {
		return fmt.Errorf("investigate %s: findings: %w", r.Subject.Query, err)
	}
	var out []finding.Finding
	for _, f := range fs {
		if involves(f, r.Subject) {
			out = append(out, f)
		}
	}
	if len(fs) == findingScan {
		r.Truncated = true
		*notes = append(*notes, fmt.Sprintf("Findings were searched among the %d most recent only.", findingScan))
	}
	if len(out) > MaxFindings {
		r.Truncated = true
		*notes = append(*notes, fmt.Sprintf("Showing %d of %d findings involving it.", MaxFindings, len(out)))
		out = out[:MaxFindings]
	}
	r.Findings = out
	return nil
}

// involves reports whether a finding concerns the subject.
func involves(f finding.Finding, s Subject) bool {
	switch s.Kind {
	case commands.TargetAccount:
		if f.AccountID == s.AccountID || f.Actor.AccountID == s.AccountID {
			return true
		}
		for _, t := range f.Targets {
			if t.Account == s.AccountID {
				return true
			}
		}
		return false
	case commands.TargetAccessKey:
		for _, k := range s.AccessKeys {
			if k != "" && f.Actor.AccessKeyID == k {
				return true
			}
		}
	case commands.TargetResource:
		if f.Resource.ID != "" && f.Resource.ID == s.Query {
			return true
		}
	}
	if s.ARN == "" {
		return false
	}
	return f.Actor.ARN == s.ARN || PrincipalARN(f.Actor.ARN) == s.ARN || f.Resource.ARN == s.ARN
}

// soleActor is the principal behind every event of the sample, or "" when
// there are several (or none).
func soleActor(sample []store.Event) string {
	actor := ""
	for _, e := range sample {
		switch {
		case e.ActorARN == "":
		case actor == "":
			actor = e.ActorARN
		case actor != e.ActorARN:
			return ""
		}
	}
	return actor
}

// writeFlags says, per "source:name", whether the sample saw the API as a
// write.
func writeFlags(sample []store.Event) map[string]bool {
	out := map[string]bool{}
	for _, e := range sample {
		k := e.EventSource + ":" + e.EventName
		if _, ok := out[k]; !ok {
			out[k] = !e.ReadOnly
		}
	}
	return out
}

func groupsFromStats(st store.ActorStats, written map[string]bool) []APIGroup {
	out := make([]APIGroup, 0, len(st.APIs))
	for k, v := range st.APIs {
		source, name := splitAPI(k)
		w, ok := written[k]
		if !ok {
			w = !readOnlyName(name)
		}
		out = append(out, APIGroup{API: name, Source: source, Count: v.Count, First: v.FirstSeen, Last: v.LastSeen, Write: w})
	}
	sortGroups(out)
	return out
}

func groupsFromEvents(sample []store.Event) []APIGroup {
	idx := map[string]int{}
	var out []APIGroup
	for _, e := range sample {
		k := e.EventSource + ":" + e.EventName
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, APIGroup{API: e.EventName, Source: e.EventSource, First: e.Time, Last: e.Time, Write: !e.ReadOnly})
		}
		g := &out[j]
		g.Count++
		if e.Time.Before(g.First) {
			g.First = e.Time
		}
		if e.Time.After(g.Last) {
			g.Last = e.Time
		}
	}
	sortGroups(out)
	return out
}

// sortGroups orders APIs newest activity first, so the list reads as a
// timeline and the latest (often the reason for asking) leads.
func sortGroups(gs []APIGroup) {
	sort.Slice(gs, func(a, b int) bool {
		if !gs[a].Last.Equal(gs[b].Last) {
			return gs[a].Last.After(gs[b].Last)
		}
		if gs[a].Count != gs[b].Count {
			return gs[a].Count > gs[b].Count
		}
		return gs[a].Source+gs[a].API < gs[b].Source+gs[b].API
	})
}

// touches summarises the resources of the sample, written ones first.
func touches(sample []store.Event) []ResourceTouch {
	idx := map[string]int{}
	var out []ResourceTouch
	for _, e := range sample {
		if e.ResourceARN == "" {
			continue
		}
		j, ok := idx[e.ResourceARN]
		if !ok {
			j = len(out)
			idx[e.ResourceARN] = j
			out = append(out, ResourceTouch{ARN: e.ResourceARN})
		}
		t := &out[j]
		if e.ReadOnly {
			t.Reads++
		} else {
			t.Writes++
		}
		if e.Time.After(t.Last) {
			t.Last = e.Time
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		wa, wb := out[a].Writes > 0, out[b].Writes > 0
		if wa != wb {
			return wa
		}
		if !out[a].Last.Equal(out[b].Last) {
			return out[a].Last.After(out[b].Last)
		}
		return out[a].ARN < out[b].ARN
	})
	return out
}

// unusual checks the principal's calls of the last day of the window
// against its baseline with the same rules that enrich findings. Each
// check adds to the history read, so only one call per origin (source
// IP, tool and region) is checked: the newest write from it, or its newest
// call when it wrote nothing. Origins are taken newest first.
func (i *Investigator) unusual(ctx context.Context, actor string, sample []store.Event, until time.Time) ([]finding.Signal, error) {
	out := []finding.Signal{}
	if i.enr == nil {
		return out, nil
	}
	loc := time.UTC
	var probes []store.Event
	origin := map[string]int{}
	for _, e := range sample {
		if e.Time.Before(until.Add(-recentSpan)) {
			break // the sample is newest first
		}
		if e.ActorARN != actor {
			continue
		}
		if len(probes) == 0 {
			loc = i.location(e.Account)
		}
		k := e.SourceIP + "\x00" + enrich.UAFamily(e.UserAgent) + "\x00" + e.Region
		j, ok := origin[k]
		switch {
		case !ok:
			origin[k] = len(probes)
			probes = append(probes, e)
		case probes[j].ReadOnly && !e.ReadOnly:
			probes[j] = e
		}
	}
	if len(probes) > maxProbes {
		probes = probes[:maxProbes]
	}
	recs := make([]*cloudtrail.Record, len(probes))
	for k, e := range probes {
		recs[k] = record(e)
	}
	all, err := i.enr.SignalsOf(ctx, recs, loc)
	if err != nil {
		return out, err
	}
	dup := map[string]bool{}
	for k, e := range probes {
		for _, s := range all[k] {
			k := s.Name + "\x00" + signalSubject(s.Name, e, loc)
			if dup[k] {
				continue
			}
			dup[k] = true
			out = append(out, finding.Signal{Name: s.Name, Reason: e.EventName + ": " + s.Reason})
		}
	}
	return out, nil
}

// signalSubject is the value a signal is about, so the same new IP seen
// in two calls is reported once.
func signalSubject(name string, e store.Event, loc *time.Location) string {
	switch name {
	case enrich.SignalUnusualHour:
		return e.Time.In(loc).Format("15")
	case enrich.SignalNewSourceIP:
		return e.SourceIP
	case enrich.SignalNewUserAgent:
		return enrich.UAFamily(e.UserAgent)
	case enrich.SignalNewAPI:
		return e.EventSource + ":" + e.EventName
	case enrich.SignalNewRegion:
		return e.Region
	}
	return e.EventID
}

// location is the owning team's time zone, the SecOps one otherwise.
func (i *Investigator) location(account string) *time.Location {
	if i.dir == nil {
		return time.UTC
	}
	t, ok := i.dir.OwnerOf(account)
	if !ok {
		t = i.dir.SecOps()
	}
	if t.Location == nil {
		return time.UTC
	}
	return t.Location
}

// record rebuilds the CloudTrail record fields enrichment reads from a
// history event.
func record(e store.Event) *cloudtrail.Record {
	ro := e.ReadOnly
	rec := &cloudtrail.Record{
		EventID:            e.EventID,
		EventTime:          e.Time,
		EventSource:        e.EventSource,
		EventName:          e.EventName,
		AWSRegion:          e.Region,
		SourceIPAddress:    e.SourceIP,
		UserAgent:          e.UserAgent,
		ErrorCode:          e.ErrorCode,
		ReadOnly:           &ro,
		RecipientAccountID: e.Account,
		UserIdentity: cloudtrail.UserIdentity{
			Type:        e.ActorType,
			ARN:         e.ActorARN,
			AccountID:   accountOf(e.ActorARN),
			AccessKeyID: e.AccessKeyID,
		},
	}
	if e.ActorType == "AssumedRole" {
		// History keeps the role, which is what a session's issuer is.
		rec.UserIdentity.SessionContext = &cloudtrail.SessionContext{
			SessionIssuer:  cloudtrail.SessionIssuer{Type: "Role", ARN: e.ActorARN, AccountID: accountOf(e.ActorARN)},
			SourceIdentity: e.SourceIdentity,
		}
	}
	return rec
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
