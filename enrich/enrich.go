// Package enrich adds the context a responder needs to a finding without
// calling AWS: the owning team and environment, whether the actor is a
// contractor, whether the change happened off hours, and what is unusual
// about the actor against its own history.
package enrich

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/problem"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// Signal names.
const (
	SignalUnusualHour  = "unusual-hour"
	SignalNewSourceIP  = "new-source-ip"
	SignalNewUserAgent = "new-user-agent"
	SignalNewAPI       = "new-api"
	SignalNewRegion    = "new-region"
)

// History is the part of the store baselines are computed from.
type History interface {
	ActorStats(ctx context.Context, actorARN string, since, until time.Time) (store.ActorStats, error)
}

// Options tune the enrichment.
type Options struct {
	Baseline Baseline
	// Severities replace the default severity of a rule's findings, by
	// rule ID; sensitive data still raises them one level.
	Severities map[string]finding.Severity
}

// Baseline tunes the actor anomaly signals. It is the baseline block of
// the configuration.
type Baseline struct {
	// Window is how much of the actor's history is considered.
	Window time.Duration `yaml:"window"`
	// MinDays is how many distinct days of activity an actor needs before
	// any anomaly signal is raised.
	MinDays int `yaml:"min_days"`
	// MinEvents is the least number of events for a baseline.
	MinEvents int `yaml:"min_events"`
	// UnusualHourShare: an hour holding less than this share of the
	// actor's activity is unusual.
	UnusualHourShare float64 `yaml:"unusual_hour_share"`
	// Settle: a value first seen less than this long ago is still new.
	Settle time.Duration `yaml:"settle"`
}

// DefaultBaseline is the documented baseline: 30 days, of which 14 active
// with 50 events, 3 % for an unusual hour, one day to settle.
func DefaultBaseline() Baseline {
	return Baseline{Window: 30 * 24 * time.Hour, MinDays: 14, MinEvents: 50, UnusualHourShare: 0.03, Settle: 24 * time.Hour}
}

// Validate reports every value no baseline can work with.
func (b Baseline) Validate() problem.List {
	var ps problem.List
	if b.Window <= 0 {
		ps.Addf("window", "must be positive (e.g. 30d)")
	}
	if b.MinDays < 1 {
		ps.Addf("min_days", "must be at least 1")
	}
	if b.UnusualHourShare <= 0 || b.UnusualHourShare >= 1 {
		ps.Addf("unusual_hour_share", "must be between 0 and 1 (e.g. 0.03 for 3%%)")
	}
	return ps
}

// Enricher fills in ownership, contractor, off-hours and anomaly signals.
type Enricher struct {
	dir      *org.Directory
	history  History
	baseline Baseline
	severity map[string]finding.Severity
}

// New returns an enricher.
func New(dir *org.Directory, history History, opts Options) *Enricher {
	return &Enricher{dir: dir, history: history, baseline: opts.Baseline, severity: opts.Severities}
}

// Actor builds the finding's actor from the record.
func (e *Enricher) Actor(rec *cloudtrail.Record) finding.Actor {
	arn := rec.ActorARN()
	return finding.Actor{
		ARN:            arn,
		Type:           rec.UserIdentity.Type,
		Name:           rec.ActorName(),
		AccountID:      rec.UserIdentity.AccountID,
		AccessKeyID:    rec.UserIdentity.AccessKeyID,
		SessionName:    rec.SessionName(),
		SourceIdentity: rec.SourceIdentity(),
		MFA:            rec.MFA(),
		Contractor:     e.dir.IsContractor(arn),
	}
}

// Enrich fills the finding's ownership, schedule and signal fields from the
// record that raised it. A history failure is returned but leaves the rest
// of the enrichment in place: the finding is never dropped for it.
func (e *Enricher) Enrich(ctx context.Context, f *finding.Finding, rec *cloudtrail.Record) error {
	f.Actor = e.Actor(rec)
	team := e.Own(f, rec.EventTime)
	if s, ok := e.severity[f.Rule]; ok {
		f.Severity = s
	}
	if f.Signals == nil {
		f.Signals = []finding.Signal{}
	}
	sigs, err := e.Signals(ctx, rec, team.Location)
	if err != nil {
		return fmt.Errorf("actor baseline for %s: %w", f.Actor.ARN, err)
	}
	f.Signals = sigs
	return nil
}

// Own fills the finding's account name, environment and owning team, and
// whether at is outside that team's business hours; it returns the team
// (SecOps when no team owns the account). It is the part of Enrich that
// needs no event: findings AWS's detectors raised get it too.
func (e *Enricher) Own(f *finding.Finding, at time.Time) org.Team {
	if a, ok := e.dir.Account(f.AccountID); ok {
		f.AccountName = a.Name
		f.Environment = a.Environment
		if f.TeamTag == "" {
			// A team named by the resource's own tags stays its owner.
			f.Team = a.Team
		}
	}
	team, ok := e.dir.OwnerOf(f.AccountID)
	if t, tagged := e.dir.Team(f.Team); tagged && f.TeamTag != "" {
		team, ok = t, true
	}
	if !ok {
		team = e.dir.SecOps()
	}
	f.OffHours = team.OffHours(at)
	if f.Actor.ARN != "" {
		f.Actor.Contractor = e.dir.IsContractor(f.Actor.ARN)
	}
	return team
}

// Signals compares the record with the actor's established baseline: the
// window before the settle period, so a value first seen minutes ago in the
// same burst is still new.
func (e *Enricher) Signals(ctx context.Context, rec *cloudtrail.Record, loc *time.Location) ([]finding.Signal, error) {
	out := []finding.Signal{}
	actor := rec.ActorARN()
	if actor == "" || e.history == nil {
		return out, nil
	}
	since, until := e.window(rec.EventTime)
	st, err := e.history.ActorStats(ctx, actor, since, until)
	if err != nil {
		return out, err
	}
	return e.signalsFrom(rec, st, loc), nil
}

// window is the baseline a call at t is compared with.
func (e *Enricher) window(t time.Time) (since, until time.Time) {
	return t.Add(-e.baseline.Window), t.Add(-e.baseline.Settle)
}

// signalsFrom compares the record with st, the actor's baseline for it.
func (e *Enricher) signalsFrom(rec *cloudtrail.Record, st store.ActorStats, loc *time.Location) []finding.Signal {
	out := []finding.Signal{}
	if st.Days < e.baseline.MinDays || st.Total < e.baseline.MinEvents {
		return out
	}
	days := int(e.baseline.Window.Hours() / 24)
	if loc == nil {
		loc = time.UTC
	}

	// Hour of day in the owning team's time zone.
	_, off := rec.EventTime.In(loc).Zone()
	shift := off / 3600
	var hours [24]int
	for h, n := range st.ByHourUTC {
		hours[((h+shift)%24+24)%24] += n
	}
	local := rec.EventTime.In(loc)
	share := float64(hours[local.Hour()]) / float64(st.Total)
	if share < e.baseline.UnusualHourShare {
		from, to, pct := busiestSpan(hours, st.Total, 0.9)
		out = append(out, finding.Signal{Name: SignalUnusualHour, Reason: fmt.Sprintf(
			"%s local (%s); %.0f%% of this actor's calls are at this hour, %d%% between %02d:00 and %02d:00",
			local.Format("15:04"), loc.String(), share*100, pct, from, to)})
	}

	if ip, err := netip.ParseAddr(rec.SourceIPAddress); err == nil {
		if _, known := st.SourceIPs[rec.SourceIPAddress]; !known {
			netw := network(ip)
			sameNet := 0
			for k, v := range st.SourceIPs {
				if a, err := netip.ParseAddr(k); err == nil && network(a) == netw {
					sameNet += v.Count
				}
			}
			if sameNet == 0 {
				top, n := topValue(st.SourceIPs)
				out = append(out, finding.Signal{Name: SignalNewSourceIP, Reason: fmt.Sprintf(
					"first call from %s (network %s never seen); usual %s (%d calls in %d days)",
					rec.SourceIPAddress, netw, top, n, days)})
			}
		}
	}

	fam := UAFamily(rec.UserAgent)
	families := map[string]int{}
	for ua, v := range st.UserAgents {
		families[UAFamily(ua)] += v.Count
	}
	if _, known := families[fam]; !known {
		top, n := topCount(families)
		out = append(out, finding.Signal{Name: SignalNewUserAgent, Reason: fmt.Sprintf(
			"first use of %s (%s); usual %s (%d calls in %d days)", fam, truncate(rec.UserAgent, 60), top, n, days)})
	}

	// Stores key APIs as "eventSource:eventName"; a bare name is accepted
	// too for summaries built without the source.
	_, known := st.APIs[rec.EventSource+":"+rec.EventName]
	if !known {
		_, known = st.APIs[rec.EventName]
	}
	if !known {
		out = append(out, finding.Signal{Name: SignalNewAPI, Reason: fmt.Sprintf(
			"first call to %s in %d days (%d distinct APIs used before)", rec.EventName, days, len(st.APIs))})
	}
	if rec.AWSRegion != "" {
		if _, known := st.Regions[rec.AWSRegion]; !known {
			top, n := topValue(st.Regions)
			out = append(out, finding.Signal{Name: SignalNewRegion, Reason: fmt.Sprintf(
				"first call in %s; usual %s (%d calls in %d days)", rec.AWSRegion, top, n, days)})
		}
	}
	return out
}

// network is the /24 of an IPv4 address or the /64 of an IPv6 one, the
// fallback for a network owner when no IP-to-owner database is available.
func network(ip netip.Addr) netip.Prefix {
	bits := 24
	if ip.Is6() && !ip.Is4In6() {
		bits = 64
	}
	p, _ := ip.Unmap().Prefix(bits)
	return p
}

func topValue(m map[string]store.ValueStats) (string, int) {
	counts := make(map[string]int, len(m))
	for k, v := range m {
		counts[k] = v.Count
	}
	return topCount(counts)
}

func topCount(m map[string]int) (string, int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) == 0 {
		return "none", 0
	}
	return keys[0], m[keys[0]]
}

// busiestSpan finds the shortest run of consecutive hours holding at least
// the wanted share of activity, to say "97% between 09:00 and 17:00".
func busiestSpan(hours [24]int, total int, want float64) (from, to, pct int) {
	if total == 0 {
		return 0, 24, 0
	}
	for length := 1; length <= 24; length++ {
		best, bestStart := -1, 0
		for start := 0; start < 24; start++ {
			sum := 0
			for i := 0; i < length; i++ {
				sum += hours[(start+i)%24]
			}
			if sum > best {
				best, bestStart = sum, start
			}
		}
		if float64(best) >= want*float64(total) {
			return bestStart, (bestStart + length) % 24, best * 100 / total
		}
	}
	return 0, 24, 100
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "…"
}
