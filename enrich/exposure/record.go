package exposure

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store"
)

// KV namespaces of the reads.
const (
	// nsReads holds each read by a principal outside the organisation,
	// keyed "<resource ARN>|<time>|<event ID>" so a resource's reads list
	// in time order and a redelivered event is kept once.
	nsReads = "exposure.reads"
	// nsCounts holds, per resource and hour ("<resource ARN>|<hour>"),
	// the reads by the organisation's own principals, which are counted
	// and not kept, and how many outside reads that hour kept.
	nsCounts = "exposure.counts"
)

// MaxKeptPerHour bounds the outside reads kept in full per resource and
// hour: a scraper fetching a public bucket's million objects is told by
// its first thousand reads, and the rest are counted per principal.
const MaxKeptPerHour = 1000

// timeKey formats times in keys: UTC to the second, so keys sort by time.
const timeKey = "2006-01-02T15:04:05Z"

// hourKey formats the hour of a count.
const hourKey = "2006-01-02T15"

// Counts is one resource's reads in one hour that were not kept in full.
type Counts struct {
	// Inside counts the organisation's reads per API.
	Inside map[string]int `json:"inside,omitempty"`
	// Kept is how many outside reads the hour kept in full; Over counts,
	// per principal, the outside reads beyond MaxKeptPerHour.
	Kept int            `json:"kept,omitempty"`
	Over map[string]int `json:"over,omitempty"`
}

// Recorder sorts the reads out of each batch of events before history:
// S3 object reads by the organisation's own principals are counted per
// bucket and hour and kept out of history; reads by principals outside
// the organisation or anonymous, and their uses of a KMS key, are kept in
// full (and stay in history too, so an investigation of the caller finds
// them). It implements the pipeline's DataReads.
type Recorder struct {
	kv  store.KV
	org Org
}

// NewRecorder returns a recorder keeping reads in kv.
func NewRecorder(kv store.KV, org Org) *Recorder {
	return &Recorder{kv: kv, org: org}
}

// Split marks the records it takes out of history (counted), and returns
// the commit that stores what it kept of the batch: call it once the
// batch's history is stored. A batch that is retried is split again:
// kept reads are stored once (keyed by event ID), counts may count a read
// twice.
func (r *Recorder) Split(recs []cloudtrail.Record) (counted []bool, commit func(context.Context) error) {
	type group struct {
		inside  map[string]int
		outside []Read
	}
	groups := map[string]*group{}
	get := func(res string, t time.Time) *group {
		k := res + "|" + t.UTC().Format(hourKey)
		g, ok := groups[k]
		if !ok {
			g = &group{inside: map[string]int{}}
			groups[k] = g
		}
		return g
	}
	for i := range recs {
		rec := &recs[i]
		rd, ok := ReadOf(rec)
		if !ok {
			continue
		}
		if Outside(rd, r.org, rec.Account()) {
			g := get(rd.Resource, rd.Time)
			g.outside = append(g.outside, rd)
			continue
		}
		if rec.EventSource != "s3.amazonaws.com" {
			// The organisation's own key uses are management events: they
			// stay in history as before.
			continue
		}
		if counted == nil {
			counted = make([]bool, len(recs))
		}
		counted[i] = true
		get(rd.Resource, rd.Time).inside[rd.Action]++
	}
	if len(groups) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	commit = func(ctx context.Context) error {
		counts := store.NewDoc[Counts](r.kv, nsCounts)
		for _, k := range keys {
			g := groups[k]
			sort.SliceStable(g.outside, func(i, j int) bool { return g.outside[i].Time.Before(g.outside[j].Time) })
			var keep []Read
			_, err := counts.Upsert(ctx, k, func(c *Counts) error {
				keep = nil
				for a, n := range g.inside {
					if c.Inside == nil {
						c.Inside = map[string]int{}
					}
					c.Inside[a] += n
				}
				for _, rd := range g.outside {
					if c.Kept < MaxKeptPerHour {
						c.Kept++
						keep = append(keep, rd)
						continue
					}
					if c.Over == nil {
						c.Over = map[string]int{}
					}
					c.Over[rd.Principal]++
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("count reads of %s: %w", k, err)
			}
			reads := store.NewDoc[Read](r.kv, nsReads)
			for _, rd := range keep {
				if err := reads.Create(ctx, readKey(rd), rd); err != nil && !errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("keep read %s: %w", rd.EventID, err)
				}
			}
		}
		return nil
	}
	return counted, commit
}

func readKey(r Read) string {
	return r.Resource + "|" + r.Time.UTC().Format(timeKey) + "|" + r.EventID
}

// Stored is what the feed brought of a resource's reads in a window.
type Stored struct {
	// Outside are the reads kept in full.
	Outside []Read
	// Inside counts the organisation's reads; Over the outside reads
	// beyond what an hour keeps, per principal.
	Inside int
	Over   map[string]int
	// Seen reports whether any read of the resource reached the bot in
	// the window, which shows the feed carries its data events.
	Seen bool
}

// Load reads what the feed stored of a resource's reads in [since, until).
// Counts are per hour, so those of the window's first and last hours are
// taken whole.
func Load(ctx context.Context, kv store.KV, resource string, since, until time.Time) (Stored, error) {
	var out Stored
	reads, err := store.NewDoc[Read](kv, nsReads).List(ctx, resource+"|")
	if err != nil {
		return out, fmt.Errorf("load reads of %s: %w", resource, err)
	}
	for _, it := range reads {
		if it.Value.Time.Before(since) || !it.Value.Time.Before(until) {
			continue
		}
		out.Outside = append(out.Outside, it.Value)
	}
	counts, err := store.NewDoc[Counts](kv, nsCounts).List(ctx, resource+"|")
	if err != nil {
		return out, fmt.Errorf("load read counts of %s: %w", resource, err)
	}
	first, last := since.UTC().Format(hourKey), until.Add(-time.Nanosecond).UTC().Format(hourKey)
	for _, it := range counts {
		_, hour, _ := strings.Cut(it.Key, resource+"|")
		if hour < first || hour > last {
			continue
		}
		for _, n := range it.Value.Inside {
			out.Inside += n
		}
		for p, n := range it.Value.Over {
			if out.Over == nil {
				out.Over = map[string]int{}
			}
			out.Over[p] += n
		}
	}
	out.Seen = len(out.Outside) > 0 || out.Inside > 0 || len(out.Over) > 0
	return out, nil
}
