package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox kinds of the break-glass timers. Each item's NotBefore is its due
// time, which makes the outbox a durable timer.
const (
	kindRemind  = "breakglass.remind"
	kindTimeout = "breakglass.timeout"
	kindExpire  = "breakglass.expire"
	kindCleanup = "breakglass.cleanup"
	kindSync    = "breakglass.sync"
	kindSummary = "breakglass.summary"
)

// KindPrefix is the prefix of every outbox kind above: the Timers lane.
const KindPrefix = "breakglass."

// retryDelay is how soon a failed step is tried again.
const retryDelay = 30 * time.Second

// grantGrace is longer than any grant takes (an Identity Center assignment
// is polled for two minutes at most); a request still being granted after
// it was interrupted.
const grantGrace = 5 * time.Minute

// shutdownGrace bounds how long a timer in flight at shutdown may take to
// finish: taking access back must not be cut off halfway, and it still
// ends before an orchestrator's usual 30s between SIGTERM and SIGKILL.
const shutdownGrace = 20 * time.Second

// maxSyncAttempts bounds the retries of a message edit: a message someone
// deleted can never be edited, and the next state change tries again
// anyway. Taking access back, by contrast, is retried until it succeeds.
const maxSyncAttempts = 10

type itemPayload struct {
	ID string `json:"id"`
}

func payload(id string) []byte {
	raw, _ := json.Marshal(itemPayload{ID: id}) // a struct of one string cannot fail
	return raw
}

// schedule stores a timer; its key makes scheduling the same timer twice
// (on reconciliation, say) a no-op.
func (s *Service) schedule(ctx context.Context, id, kind string, at time.Time) {
	s.enqueue(ctx, store.OutboxItem{Key: kind + "/" + id, Kind: kind, Payload: payload(id), NotBefore: at})
}

func (s *Service) scheduleCleanup(ctx context.Context, r Request, now time.Time) {
	s.enqueue(ctx, store.OutboxItem{
		Key: fmt.Sprintf("%s/%s/%d", kindCleanup, r.ID, r.Version), Kind: kindCleanup,
		Payload: payload(r.ID), NotBefore: now.Add(retryDelay),
	})
}

func (s *Service) enqueue(ctx context.Context, it store.OutboxItem) {
	if _, err := s.Store.Enqueue(ctx, it); err != nil {
		// Reconcile at the next start schedules the timers again.
		s.Log.Error().Err(err).Str("key", it.Key).Msg("schedule break-glass timer")
	}
}

// Timers is the outbox lane of the break-glass timers, looked at every
// poll. Several replicas may each run it: the outbox leases every timer to
// one of them. At start the open requests are reconciled with the clock
// before any timer fires. A timer in flight at shutdown may finish within
// a grace period (taking access back must not be cut off halfway), and the
// timers claimed but not started are handed back at once: an expiry must
// not wait out a lease on another replica. A failed step is tried again
// after retryDelay, every time, since its lateness is what matters.
func (s *Service) Timers(poll time.Duration) outbox.Lane {
	return outbox.Lane{
		Prefix: KindPrefix, Handler: outbox.HandlerFunc(s.deliver),
		Poll: poll, Batch: 20, Lease: time.Minute, Grace: shutdownGrace,
		Backoff: outbox.Constant(retryDelay),
		Start: func(ctx context.Context) {
			if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error().Err(err).Msg("reconcile break-glass grants")
			}
		},
	}
}

// deliver runs one timer.
func (s *Service) deliver(ctx context.Context, it store.OutboxItem) error {
	retryAt, err := s.handle(ctx, it)
	switch {
	case err != nil:
		return err
	case !retryAt.IsZero():
		return outbox.RetryAfter(retryAt.Sub(s.Clock.Now()))
	}
	return nil
}

// handle runs one timer. A non-zero time asks to run it again then.
func (s *Service) handle(ctx context.Context, it store.OutboxItem) (time.Time, error) {
	var p itemPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil || p.ID == "" {
		return time.Time{}, outbox.Drop(fmt.Errorf("break-glass timer %s has no request ID", it.Key))
	}
	r, err := s.load(ctx, p.ID)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	now := s.Clock.Now()
	switch it.Kind {
	case kindRemind:
		return time.Time{}, s.remind(ctx, r)
	case kindTimeout:
		if r.State != StatePending {
			return time.Time{}, nil
		}
		if now.Before(r.DecideBy) {
			return r.DecideBy, nil
		}
		return time.Time{}, s.timeout(ctx, r.ID)
	case kindExpire:
		if r.State != StateActive && r.State != StateApproved {
			return time.Time{}, nil
		}
		if now.Before(r.EndsAt) {
			return r.EndsAt, nil
		}
		_, err := s.end(ctx, r.ID, StateExpired, "system")
		if errors.Is(err, ErrNotActive) {
			return time.Time{}, nil
		}
		return time.Time{}, err
	case kindCleanup:
		if !r.CleanupPending {
			return time.Time{}, nil
		}
		if _, ok := s.cleanup(ctx, r); !ok {
			return now.Add(retryDelay), nil
		}
		return time.Time{}, nil
	case kindSummary:
		return time.Time{}, s.completeSummary(ctx, r)
	case kindSync:
		if !s.sync(ctx, r) && it.Attempts < maxSyncAttempts {
			return now.Add(retryDelay), nil
		}
		return time.Time{}, nil
	}
	return time.Time{}, outbox.Drop(fmt.Errorf("break-glass timer %s of unknown kind %s", it.Key, it.Kind))
}

// remind nudges the approvers halfway through the decision time, in the
// request's thread (posting the request again if it never made it).
func (s *Service) remind(ctx context.Context, r Request) error {
	if r.State != StatePending || r.Reminded {
		return nil
	}
	r, err := s.update(ctx, r.ID, func(r *Request) error {
		if r.State != StatePending || r.Reminded {
			return errAlreadyDone
		}
		r.Reminded = true
		return nil
	})
	if errors.Is(err, errAlreadyDone) {
		return nil
	}
	if err != nil {
		return err
	}
	s.audit(ctx, "system", ActRemind, r.ID, "ok", fmt.Sprintf("undecided; expires at %s", r.DecideBy.Format(time.RFC3339)), nil)
	ref, ok := r.Message(PlaceApprovers)
	if !ok {
		s.postRequest(ctx, r)
		return nil
	}
	if _, err := s.Notify.Post(ctx, ref.Channel, ref.TS, Message{Kind: KindReminder, Request: r, Mentions: s.approvers(ctx)}); err != nil {
		s.Log.Warn().Err(err).Str("request", r.ID).Msg("post break-glass reminder")
	}
	return nil
}

var errAlreadyDone = errors.New("already done")

// timeout expires an undecided request.
func (s *Service) timeout(ctx context.Context, id string) error {
	r, err := s.update(ctx, id, func(r *Request) error {
		if r.State != StatePending {
			return errAlreadyDone
		}
		r.State, r.DecidedAt = StateTimedOut, s.Clock.Now().UTC()
		return nil
	})
	if errors.Is(err, errAlreadyDone) {
		return nil
	}
	if err != nil {
		return err
	}
	s.audit(ctx, "system", ActTimeout, id, "ok", fmt.Sprintf("no decision within %s", s.cfg.RequestTTL), nil)
	s.forget(ctx, id)
	s.sync(ctx, r)
	return nil
}

// Reconcile brings every open request in line with the clock, at start:
// overdue grants end now, grants interrupted mid-way are taken back
// (failing closed), undecided requests past their time expire, and the
// timers of the rest are scheduled again in case they were lost.
func (s *Service) Reconcile(ctx context.Context) error {
	ids, err := s.openIDs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		r, err := s.load(ctx, id)
		if errors.Is(err, ErrNotFound) {
			s.forget(ctx, id)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		now := s.Clock.Now()
		switch {
		case r.State == StatePending && !now.Before(r.DecideBy):
			errs = append(errs, s.timeout(ctx, id))
		case r.State == StatePending:
			s.schedule(ctx, id, kindRemind, r.CreatedAt.Add(s.cfg.RequestTTL/2))
			s.schedule(ctx, id, kindTimeout, r.DecideBy)
		case r.State == StateApproved && now.Sub(r.DecidedAt) < grantGrace:
			// Another replica may be granting right now; the expiry timer
			// ends the window if it never finishes.
			s.schedule(ctx, id, kindExpire, r.EndsAt)
		case r.State == StateApproved:
			// The bot stopped between the approval and the delivery of the
			// access: nobody received it, so take back whatever was granted.
			_, err := s.end(ctx, id, StateFailed, "system", "the bot restarted while granting access; ask again")
			errs = append(errs, ignoreNotActive(err))
		case r.State == StateActive && !now.Before(r.EndsAt):
			_, err := s.end(ctx, id, StateExpired, "system")
			errs = append(errs, ignoreNotActive(err))
		case r.State == StateActive:
			s.schedule(ctx, id, kindExpire, r.EndsAt)
		case r.CleanupPending:
			if _, ok := s.cleanup(ctx, r); !ok {
				s.scheduleCleanup(ctx, r, now)
			}
		default:
			s.forget(ctx, id)
		}
	}
	return errors.Join(errs...)
}

func ignoreNotActive(err error) error {
	if errors.Is(err, ErrNotActive) {
		return nil
	}
	return err
}

// SweepEvery sweeps stray assignments every sweepEvery, by the service's
// clock, looking every interval, until ctx ends.
func (s *Service) SweepEvery(ctx context.Context, interval, sweepEvery time.Duration) {
	if sweepEvery <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastSweep time.Time
	for {
		if now := s.Clock.Now(); now.Sub(lastSweep) >= sweepEvery {
			lastSweep = now
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.Log.Error().Err(err).Msg("sweep break-glass assignments")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep removes Identity Center assignments of the break-glass permission
// sets that no active grant explains: left behind by a failed cleanup, or
// made by hand.
func (s *Service) Sweep(ctx context.Context) error {
	sw, ok := s.Granter.(Sweeper)
	if !ok {
		return nil
	}
	ids, err := s.openIDs(ctx)
	if err != nil {
		return err
	}
	// keep maps account/level to the principals active grants explain.
	keep := map[string][]string{}
	for _, id := range ids {
		r, err := s.load(ctx, id)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if r.State == StateActive || r.State == StateApproved {
			k := r.Account + "/" + r.Level
			// A grant in flight has no principal yet: skip its level
			// rather than remove what it is creating.
			if r.PrincipalID == "" {
				keep[k] = append(keep[k], "*")
			}
			keep[k] = append(keep[k], r.PrincipalID)
		}
	}
	var errs []error
	for _, account := range sortedKeys(s.cfg.Accounts) {
		pol := s.cfg.Accounts[account]
		if pol.Mode != ModeIdentityCenter {
			continue
		}
		for _, l := range pol.Levels {
			k := account + "/" + l.Name
			if slices.Contains(keep[k], "*") {
				continue
			}
			assigned, err := sw.Assigned(ctx, account, pol, l)
			if err != nil {
				errs = append(errs, fmt.Errorf("sweep %s: %w", k, err))
				continue
			}
			for _, p := range assigned {
				if slices.Contains(keep[k], p) {
					continue
				}
				g := Grant{Account: account, Policy: pol, Level: l, PrincipalID: p, Now: s.Clock.Now().UTC()}
				if err := s.Granter.Revoke(ctx, g); err != nil {
					s.audit(ctx, "system", ActSweep, account, "error", fmt.Sprintf("remove %s from %s: %v", p, l.Name, err), nil)
					errs = append(errs, fmt.Errorf("sweep %s: remove %s: %w", k, p, err))
					continue
				}
				s.audit(ctx, "system", ActSweep, account, "ok", fmt.Sprintf("removed stray assignment of %s to %s", l.Name, p), nil)
			}
		}
	}
	return errors.Join(errs...)
}
