package enrich

import (
	"context"
	"slices"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store"
)

// SignalsOf is Signals for several calls of one actor, such as the recent
// calls an investigation checks; out[i] is what Signals gives for recs[i].
// Calls hours apart look back over nearly the same days, so the span every
// baseline shares is read once, and each baseline is joined from it and
// the short spans between the calls' own windows: reading the shared days
// once per call was most of an investigation's time.
func (e *Enricher) SignalsOf(ctx context.Context, recs []*cloudtrail.Record, loc *time.Location) ([][]finding.Signal, error) {
	out := make([][]finding.Signal, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	actor := recs[0].ActorARN()
	var times []time.Time
	for _, r := range recs {
		if r.ActorARN() != actor {
			actor = ""
		}
		times = append(times, r.EventTime)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, time.Time.Equal)
	if actor == "" || e.history == nil || len(times) == 1 {
		for i, r := range recs {
			sigs, err := e.Signals(ctx, r, loc)
			if err != nil {
				return out, err
			}
			out[i] = sigs
		}
		return out, nil
	}
	stats, err := e.baselines(ctx, actor, times)
	if err != nil {
		return out, err
	}
	for i, r := range recs {
		j, _ := slices.BinarySearchFunc(times, r.EventTime, func(a, b time.Time) int { return a.Compare(b) })
		out[i] = e.signalsFrom(r, stats[j], loc)
	}
	return out, nil
}

// baselines returns the actor's baseline for a call at each of times
// (ascending, distinct), as ActorStats over window(t) would give it. The
// windows of the first and the last call overlap in core; a call's window
// is the spans between its start and the last call's start, then core,
// then the spans between the first call's end and its own end.
func (e *Enricher) baselines(ctx context.Context, actor string, times []time.Time) ([]store.ActorStats, error) {
	n := len(times)
	stats := func(since, until time.Time) (store.ActorStats, error) {
		return e.history.ActorStats(ctx, actor, since, until)
	}
	coreSince, _ := e.window(times[n-1])
	_, coreUntil := e.window(times[0])
	out := make([]store.ActorStats, n)
	if !coreSince.Before(coreUntil) {
		// Calls further apart than the window is long share nothing.
		for i, t := range times {
			since, until := e.window(t)
			st, err := stats(since, until)
			if err != nil {
				return nil, err
			}
			out[i] = st
		}
		return out, nil
	}
	core, err := stats(coreSince, coreUntil)
	if err != nil {
		return nil, err
	}
	// before[i] covers from window(times[i]) start to core; after[i] from
	// core to window(times[i]) end.
	before := make([]store.ActorStats, n)
	after := make([]store.ActorStats, n)
	before[n-1], after[0] = emptyStats(), emptyStats()
	for i := n - 2; i >= 0; i-- {
		since, _ := e.window(times[i])
		next, _ := e.window(times[i+1])
		st, err := stats(since, next)
		if err != nil {
			return nil, err
		}
		before[i] = joinStats(st, before[i+1])
	}
	for i := 1; i < n; i++ {
		_, prev := e.window(times[i-1])
		_, until := e.window(times[i])
		st, err := stats(prev, until)
		if err != nil {
			return nil, err
		}
		after[i] = joinStats(after[i-1], st)
	}
	for i := range times {
		out[i] = joinStats(joinStats(before[i], core), after[i])
	}
	return out, nil
}

func emptyStats() store.ActorStats {
	return store.ActorStats{
		SourceIPs: map[string]store.ValueStats{}, UserAgents: map[string]store.ValueStats{},
		Regions: map[string]store.ValueStats{}, APIs: map[string]store.ValueStats{},
	}
}

// joinStats is the summary of two adjacent windows, a before b. Counts
// add up; a day both windows saw (a's last, b's first) counts once.
func joinStats(a, b store.ActorStats) store.ActorStats {
	out := emptyStats()
	out.Total = a.Total + b.Total
	out.Days = a.Days + b.Days
	switch {
	case a.Total == 0:
		out.FirstSeen, out.LastSeen = b.FirstSeen, b.LastSeen
	case b.Total == 0:
		out.FirstSeen, out.LastSeen = a.FirstSeen, a.LastSeen
	default:
		out.FirstSeen, out.LastSeen = a.FirstSeen, b.LastSeen
		if sameDay(a.LastSeen, b.FirstSeen) {
			out.Days--
		}
	}
	for h := range out.ByHourUTC {
		out.ByHourUTC[h] = a.ByHourUTC[h] + b.ByHourUTC[h]
	}
	for _, m := range []struct{ into, a, b map[string]store.ValueStats }{
		{out.SourceIPs, a.SourceIPs, b.SourceIPs},
		{out.UserAgents, a.UserAgents, b.UserAgents},
		{out.Regions, a.Regions, b.Regions},
		{out.APIs, a.APIs, b.APIs},
	} {
		for k, v := range m.a {
			m.into[k] = v
		}
		for k, w := range m.b {
			v, ok := m.into[k]
			if !ok {
				m.into[k] = w
				continue
			}
			v.Count += w.Count
			v.Days += w.Days
			if sameDay(v.LastSeen, w.FirstSeen) {
				v.Days--
			}
			v.LastSeen = w.LastSeen
			m.into[k] = v
		}
	}
	return out
}

// sameDay reports whether a and b fall on the same UTC day, the days
// ActorStats counts.
func sameDay(a, b time.Time) bool {
	a, b = a.UTC(), b.UTC()
	return a.YearDay() == b.YearDay() && a.Year() == b.Year()
}
