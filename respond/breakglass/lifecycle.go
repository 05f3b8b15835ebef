package breakglass

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// Requests are documents at "req/<id>"; the IDs of the requests that are
// not final or still need cleanup are one list at openKey. The list stays
// one document, not one key per request: it holds only the few live
// requests, and its compare-and-set is what makes the duplicate check of
// two submissions racing on two replicas see one another.
func (s *Service) requests() *store.Doc[Request] { return store.NewDoc[Request](s.Store, kvNS) }

func (s *Service) openIndex() *store.Doc[[]string] { return store.NewDoc[[]string](s.Store, kvNS) }

func requestKey(id string) string { return "req/" + id }

// create stores a new request and adds it to the index of open requests.
func (s *Service) create(ctx context.Context, r Request) error {
	r.Version = 1
	if err := s.requests().Create(ctx, requestKey(r.ID), r); err != nil {
		return fmt.Errorf("store request %s: %w", r.ID, err)
	}
	// The request counts once it is in the open index. Looking for a
	// duplicate within the index's compare-and-set makes two submissions
	// racing on two replicas file one request: the second to write the
	// index sees the first. A refused request's row stays behind, never
	// indexed and so never acted on.
	var dup *DuplicateError
	err := s.editIndex(ctx, func(ids *[]string) error {
		dup = nil
		if slices.Contains(*ids, r.ID) {
			return store.ErrUnchanged
		}
		for _, id := range *ids {
			o, err := s.load(ctx, id)
			if err == nil && o.Requester == r.Requester && o.Account == r.Account && o.Level == r.Level && !o.State.Final() {
				dup = &DuplicateError{Existing: o}
				return store.ErrUnchanged
			}
		}
		*ids = append(*ids, r.ID)
		return nil
	})
	if err != nil {
		return err
	}
	if dup != nil {
		return dup
	}
	return nil
}

// load reads a request.
func (s *Service) load(ctx context.Context, id string) (Request, error) {
	r, err := s.requests().Get(ctx, requestKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return Request{}, fmt.Errorf("load %s: %w", clipText(id, 40), ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("load request %s: %w", id, err)
	}
	return r, nil
}

// update applies fn to the current request and writes it back only if
// nobody else wrote in between; otherwise it re-reads and applies fn
// again, so fn always decides on the latest state. fn returning an error
// aborts; the request as last read is returned with it.
func (s *Service) update(ctx context.Context, id string, fn func(*Request) error) (Request, error) {
	var fnErr error
	r, err := s.requests().Update(ctx, requestKey(id), func(r *Request) error {
		if fnErr = fn(r); fnErr != nil {
			return fnErr
		}
		r.Version++
		return nil
	})
	switch {
	case fnErr != nil:
		return r, fnErr
	case errors.Is(err, store.ErrNotFound):
		return r, fmt.Errorf("load %s: %w", clipText(id, 40), ErrNotFound)
	case err != nil:
		return r, fmt.Errorf("update request %s: %w", id, err)
	}
	return r, nil
}

// editIndex changes the list of open request IDs with compare-and-set; fn
// returns store.ErrUnchanged to leave it as it is.
func (s *Service) editIndex(ctx context.Context, fn func(ids *[]string) error) error {
	if _, err := s.openIndex().Upsert(ctx, openKey, fn); err != nil {
		return fmt.Errorf("update open requests: %w", err)
	}
	return nil
}

// openIDs lists the requests that are not final or still need cleanup.
func (s *Service) openIDs(ctx context.Context) ([]string, error) {
	ids, err := s.openIndex().Get(ctx, openKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load open requests: %w", err)
	}
	return ids, nil
}

// forget drops a request from the open index once nothing more will
// happen to it.
func (s *Service) forget(ctx context.Context, id string) {
	err := s.editIndex(ctx, func(ids *[]string) error {
		if !slices.Contains(*ids, id) {
			return store.ErrUnchanged
		}
		*ids = slices.DeleteFunc(*ids, func(x string) bool { return x == id })
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", id).Msg("drop request from the open index")
	}
}

// activate grants access to an approved request. The expiry timer is
// stored before AWS is called, so a grant is never left without its end.
func (s *Service) activate(ctx context.Context, r Request) Request {
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, r.ID, func(r *Request) error {
		if r.State != StateApproved {
			return &DecidedError{State: r.State, By: r.DecidedBy, At: r.DecidedAt}
		}
		if r.EndsAt.IsZero() {
			r.StartedAt, r.EndsAt = now, now.Add(r.Duration)
		}
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("start break-glass window")
		return r
	}
	s.schedule(ctx, r.ID, kindExpire, r.EndsAt)
	acc, gerr := s.Granter.Grant(ctx, s.grantOf(r))
	if gerr != nil {
		s.Log.Error().Err(gerr).Str("request", r.ID).Str("account", r.Account).Msg("grant break-glass access")
		// Whatever part of the grant happened is taken back.
		out, err := s.end(ctx, r.ID, StateFailed, "system", "the grant failed: "+gerr.Error())
		if err != nil {
			return r
		}
		return out
	}
	r, err = s.update(ctx, r.ID, func(r *Request) error {
		if r.State != StateApproved {
			return &DecidedError{State: r.State, By: r.EndedBy, At: r.EndedAt}
		}
		r.State, r.PrincipalID = StateActive, acc.PrincipalID
		r.AccessKeys = withKey(r.AccessKeys, acc)
		return nil
	})
	if err != nil {
		// Revoked while the grant was under way: the revocation may have
		// run before the grant landed, so take it back again.
		g := s.grantOf(r)
		g.PrincipalID = acc.PrincipalID
		if rerr := s.Granter.Revoke(ctx, g); rerr != nil {
			s.Log.Error().Err(rerr).Str("request", r.ID).Msg("take back a grant that raced its revocation")
			if out, err := s.update(ctx, r.ID, func(r *Request) error { r.CleanupPending = true; return nil }); err == nil {
				s.scheduleCleanup(ctx, out, now)
			}
		}
		return r
	}
	s.audit(ctx, "system", ActGrant, r.ID, "ok", fmt.Sprintf("%s in %s until %s", r.Level, r.Account, r.EndsAt.Format(time.RFC3339)), map[string]any{
		"mode": r.Mode, "level": r.Level, "account": r.Account, "ends_at": r.EndsAt, "principal_id": acc.PrincipalID,
	})
	if err := s.sendAccess(ctx, r, acc, false); err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("send break-glass access")
	} else {
		r, _ = s.Get(ctx, r.ID)
	}
	s.sync(ctx, r)
	return r
}

// sendAccess sends (or replaces) the private access message.
func (s *Service) sendAccess(ctx context.Context, r Request, acc Access, cli bool) error {
	msg := Message{Kind: KindAccess, Request: r, Access: &acc, ShowCLI: cli}
	if ref, ok := r.Message(PlaceDM); ok {
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, msg); err != nil {
			return fmt.Errorf("update access message: %w", err)
		}
		return nil
	}
	ch, ts, err := s.Notify.DM(ctx, r.Requester, msg)
	if err != nil {
		return fmt.Errorf("send access message: %w", err)
	}
	_, err = s.update(ctx, r.ID, func(r *Request) error {
		r.Messages = append(r.Messages, MessageRef{Place: PlaceDM, Channel: ch, TS: ts})
		return nil
	})
	return err
}

// end moves an active (or being granted) request to a final state and
// takes the access back. Of an expiry and a revocation racing, one wins;
// the other gets ErrNotActive.
func (s *Service) end(ctx context.Context, id string, final State, by string, why ...string) (Request, error) {
	now := s.Clock.Now().UTC()
	r, err := s.update(ctx, id, func(r *Request) error {
		if r.State != StateActive && r.State != StateApproved {
			return fmt.Errorf("%w (it is %s)", ErrNotActive, strings.ReplaceAll(string(r.State), "_", " "))
		}
		r.State, r.EndedAt, r.EndedBy, r.CleanupPending = final, now, by, true
		if len(why) > 0 {
			r.Error = clipText(strings.Join(why, "; "), 500)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	switch final {
	case StateFailed:
		s.audit(ctx, by, ActGrant, id, "error", r.Error, nil)
	case StateRevoked:
		s.audit(ctx, by, ActRevoke, id, "ok", "", map[string]any{"started_at": r.StartedAt, "ends_at": r.EndsAt})
	default:
		s.audit(ctx, by, ActExpire, id, "ok", "", map[string]any{"started_at": r.StartedAt, "ends_at": r.EndsAt})
	}
	out, ok := s.cleanup(ctx, r)
	if !ok {
		s.scheduleCleanup(ctx, out, now)
	}
	return out, nil
}

// cleanup takes access back in AWS, then closes the request's messages.
// It reports false when AWS refused; the caller arranges a retry. The
// request is already final by then, so nobody can use the bot to extend
// it while the retries run.
func (s *Service) cleanup(ctx context.Context, r Request) (Request, bool) {
	if err := s.Granter.Revoke(ctx, s.grantOf(r)); err != nil {
		s.audit(ctx, "system", ActCleanup, r.ID, "error", err.Error(), nil)
		s.Log.Error().Err(err).Str("request", r.ID).Str("account", r.Account).Msg("take back break-glass access; will retry")
		s.sync(ctx, r)
		return r, false
	}
	var sum *Summary
	if r.Mode == ModeAssumeRole && !r.StartedAt.IsZero() && r.State != StateFailed {
		sum = s.summarise(ctx, r)
	}
	out, err := s.update(ctx, r.ID, func(r *Request) error {
		r.CleanupPending, r.Summary = false, sum
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("request", r.ID).Msg("record break-glass cleanup")
		return r, true
	}
	if sum != nil && !sum.FirstUse.IsZero() {
		s.audit(ctx, r.Requester, ActUse, r.ID, "ok", fmt.Sprintf("%d events, first at %s", sum.Events, sum.FirstUse.Format(time.RFC3339)), nil)
	}
	s.forget(ctx, r.ID)
	if ref, ok := out.Message(PlaceDM); ok {
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, Message{Kind: KindAccessEnded, Request: out}); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Msg("mark the access message ended")
		}
	}
	if ref, ok := out.Message(PlaceApprovers); ok && out.Summary != nil {
		if ts, err := s.Notify.Post(ctx, ref.Channel, ref.TS, Message{Kind: KindSummary, Request: out}); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Msg("post break-glass session summary")
		} else if o, err := s.update(ctx, r.ID, func(r *Request) error {
			r.Messages = append(r.Messages, MessageRef{Place: PlaceSummary, Channel: ref.Channel, TS: ts})
			return nil
		}); err == nil {
			out = o
		}
	}
	if out.Summary != nil {
		// CloudTrail delivers the last calls late: the summary is read
		// again once they are in, and edited in place.
		s.schedule(ctx, r.ID, kindSummary, s.Clock.Now().Add(summaryDelay))
	}
	s.sync(ctx, out)
	return out, true
}

// maxSummaryWrites bounds the write calls listed in a summary.
const maxSummaryWrites = 20

// summaryDelay is how long after a session ends its summary is completed:
// CloudTrail delivers an event within about 15 minutes of the call.
const summaryDelay = 15 * time.Minute

// withKey adds the access key of a session issued to keys; the secret is
// never kept.
func withKey(keys []string, acc Access) []string {
	if acc.Credentials == nil || acc.Credentials.AccessKeyID == "" || slices.Contains(keys, acc.Credentials.AccessKeyID) {
		return keys
	}
	return append(keys, acc.Credentials.AccessKeyID)
}

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

// sync edits every request message, and the requester's note, to show
// the current state. A failure is retried by the worker; it reports
// whether every edit went through.
func (s *Service) sync(ctx context.Context, r Request) bool {
	msg := Message{Kind: KindRequest, Request: r, SelfApproveAt: s.selfApproveAt(r)}
	var failed bool
	for _, ref := range r.Messages {
		m := msg
		switch ref.Place {
		case PlaceDM, PlaceSummary:
			continue
		case PlaceRequester:
			m = Message{Kind: KindRequesterNote, Request: r}
		}
		if err := s.Notify.Update(ctx, ref.Channel, ref.TS, m); err != nil {
			s.Log.Warn().Err(err).Str("request", r.ID).Str("channel", ref.Channel).Msg("update break-glass message; will retry")
			failed = true
		}
	}
	if failed {
		s.enqueue(ctx, store.OutboxItem{
			Key: fmt.Sprintf("%s/%s/%d", kindSync, r.ID, r.Version), Kind: kindSync,
			Payload: payload(r.ID), NotBefore: s.Clock.Now().Add(retryDelay),
		})
	}
	return !failed
}
