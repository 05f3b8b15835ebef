package breakglass

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// Summary is what the session did, from its CloudTrail events: those in
// the event history whose source identity or access key are the
// session's, and those CloudTrail's LookupEvents finds by its access keys
// before they reach the history. It is made when the session ends and
// completed once, later, when CloudTrail has delivered the last calls.
type Summary struct {
	Events int `json:"events"`
	// ByAPI counts events per "service:EventName", e.g. "ec2:DescribeInstances".
	ByAPI map[string]int `json:"by_api,omitempty"`
	// Writes lists the non-read-only calls, oldest first (at most
	// maxSummaryWrites).
	Writes     []Call    `json:"writes,omitempty"`
	MoreWrites int       `json:"more_writes,omitempty"`
	Errors     int       `json:"errors,omitempty"`
	FirstUse   time.Time `json:"first_use,omitzero"`
	// Partial is set when the history could not be read.
	Partial bool `json:"partial,omitempty"`
	// FromHistory and FromLookup count the events by where they came
	// from (an event in both counts as history).
	FromHistory int `json:"from_history,omitempty"`
	FromLookup  int `json:"from_lookup,omitempty"`
	// LookupFailed says why LookupEvents could not be asked.
	LookupFailed string `json:"lookup_failed,omitempty"`
	// Final is set on the summary completed after CloudTrail's delay.
	Final bool `json:"final,omitempty"`
}

// Where a summary's event came from.
const (
	SourceHistory = "history"
	SourceLookup  = "lookup"
)

// Call is one write call of a session.
type Call struct {
	Time      time.Time `json:"time"`
	API       string    `json:"api"`
	Resource  string    `json:"resource,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"`
	// Source is where the call was read: SourceHistory or SourceLookup.
	Source string `json:"source,omitempty"`
}

// Trail reads what an access key did in an account from CloudTrail
// directly (LookupEvents), for the calls not yet in the event history.
type Trail interface {
	ByAccessKey(ctx context.Context, account, accessKeyID string, since, until time.Time) ([]store.Event, error)
}

// maxSummaryWrites bounds the write calls listed in a summary.
const maxSummaryWrites = 20

// summaryDelay is how long after a session ends its summary is completed:
// CloudTrail delivers an event within about 15 minutes of the call.
const summaryDelay = 15 * time.Minute

// summarise counts the session's events by API and lists its writes, each
// with where it was read: the event history (by the session's source
// identity and access keys) or CloudTrail's LookupEvents by its access
// keys, which finds what the history has not received yet.
func (s *Service) summarise(ctx context.Context, r Request) *Summary {
	until := r.EndedAt
	if until.IsZero() || until.After(r.EndsAt) {
		until = r.EndsAt
	}
	// CloudTrail's times are to the second; a margin keeps the last calls
	// of the window.
	since, end := r.StartedAt.Truncate(time.Second), until.Add(time.Minute)
	sum := &Summary{ByAPI: map[string]int{}}
	seen := map[string]bool{}
	var evs []store.Event
	var sources []string
	add := func(list []store.Event, source string) {
		for _, e := range list {
			if seen[e.EventID] {
				continue
			}
			seen[e.EventID] = true
			evs, sources = append(evs, e), append(sources, source)
		}
	}
	queries := []store.EventQuery{{SourceIdentity: r.Requester, Account: r.Account, Since: since, Until: end}}
	for _, k := range r.AccessKeys {
		queries = append(queries, store.EventQuery{AccessKeyID: k, Account: r.Account, Since: since, Until: end})
	}
	for _, q := range queries {
		list, err := s.Store.QueryEvents(ctx, q)
		if err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Msg("read the session's events")
			sum.Partial = true
			continue
		}
		add(list, SourceHistory)
	}
	if s.Trail != nil {
		for _, k := range r.AccessKeys {
			list, err := s.Trail.ByAccessKey(ctx, r.Account, k, since, end)
			if err != nil {
				s.Log.Warn().Err(err).Str("request", r.ID).Msg("look up the session's events in CloudTrail")
				sum.LookupFailed = clipText(err.Error(), 300)
			}
			add(list, SourceLookup)
		}
	}
	order := make([]int, len(evs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return evs[order[i]].Time.Before(evs[order[j]].Time) })
	for _, i := range order {
		e, source := evs[i], sources[i]
		sum.Events++
		if source == SourceLookup {
			sum.FromLookup++
		} else {
			sum.FromHistory++
		}
		api := strings.TrimSuffix(e.EventSource, ".amazonaws.com") + ":" + e.EventName
		sum.ByAPI[api]++
		if e.ErrorCode != "" {
			sum.Errors++
		}
		if sum.FirstUse.IsZero() {
			sum.FirstUse = e.Time
		}
		if !e.ReadOnly {
			if len(sum.Writes) < maxSummaryWrites {
				sum.Writes = append(sum.Writes, Call{Time: e.Time, API: api, Resource: e.ResourceARN, ErrorCode: e.ErrorCode, Source: source})
			} else {
				sum.MoreWrites++
			}
		}
	}
	return sum
}

// completeSummary reads the ended session's events again, once CloudTrail
// has delivered its last calls, and edits the summary in place (posting it
// when it never was).
func (s *Service) completeSummary(ctx context.Context, r Request) error {
	if r.Mode != ModeAssumeRole || r.StartedAt.IsZero() || r.State == StateFailed || (r.Summary != nil && r.Summary.Final) {
		return nil
	}
	sum := s.summarise(ctx, r)
	sum.Final = true
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.Summary = sum
		return nil
	})
	if err != nil {
		return err
	}
	if !sum.FirstUse.IsZero() && (r.Summary == nil || r.Summary.FirstUse.IsZero()) {
		s.audit(ctx, r.Requester, ActUse, r.ID, "ok", fmt.Sprintf("%d events, first at %s", sum.Events, sum.FirstUse.Format(time.RFC3339)), nil)
	}
	msg := Message{Kind: KindSummary, Request: out}
	if ref, ok := out.Message(PlaceSummary); ok {
		return s.Notify.Update(ctx, ref.Channel, ref.TS, msg)
	}
	ref, ok := out.Message(PlaceApprovers)
	if !ok {
		return nil
	}
	ts, err := s.Notify.Post(ctx, ref.Channel, ref.TS, msg)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, MessageRef{Place: PlaceSummary, Channel: ref.Channel, TS: ts})
		return nil
	})
	return err
}
