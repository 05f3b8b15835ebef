package triage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/store"
)

// The allowlist lives in the store's KV space as documents: one per entry
// (at its ID) and one index per account listing the entries of that
// account, which is all Suppressed needs to read for a finding. Both change
// with compare-and-set, so replicas adding or removing entries of one
// account at once keep each other's.
const (
	kvNamespace    = "allowlist"
	kvAccountIndex = "account:"
)

// Scope kinds of a "mark expected".
const (
	// ScopeResource matches the finding's resource only.
	ScopeResource = "resource"
	// ScopePattern matches resources whose ID matches a glob pattern
	// (path.Match syntax: *, ?, [a-z]), e.g. "public-assets-*".
	ScopePattern = "pattern"
)

// Scope says which exposures a "mark expected" covers: always the same rule
// in the same account, and either the one resource or a name pattern; and
// for how long.
type Scope struct {
	Kind    string
	Pattern string // for ScopePattern
	// For is how long the entry suppresses, from when it is made; zero
	// means until someone removes it.
	For time.Duration
}

// MaxExpiry is the longest an entry may last before it expires; longer is
// "until removed".
const MaxExpiry = 366 * 24 * time.Hour

// AllowEntry is an expected exposure: findings of Rule in Account whose
// resource ID matches are suppressed.
type AllowEntry struct {
	ID      string    `json:"id"`
	Rule    string    `json:"rule"`
	Account string    `json:"account"`
	Kind    string    `json:"kind"`
	Pattern string    `json:"pattern"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	// Finding is the finding that was marked expected when the entry was
	// made.
	Finding string `json:"finding,omitempty"`
	// Actor is set when Pattern is an actor's ARN rather than a resource
	// ID: the entry covers findings about an action (see subject).
	Actor bool `json:"actor,omitempty"`

	// ExpiresAt is when the entry stops suppressing; zero for never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// A removed entry stays as a record of who removed it; it no longer
	// matches.
	RemovedBy string    `json:"removed_by,omitempty"`
	RemovedAt time.Time `json:"removed_at,omitzero"`
	// ExpiredAt is when the bot recorded (and audited) the expiry.
	ExpiredAt time.Time `json:"expired_at,omitzero"`
}

// Live reports whether the entry suppresses at now: neither removed nor
// expired.
func (e AllowEntry) Live(now time.Time) bool {
	return e.RemovedBy == "" && e.ExpiredAt.IsZero() && (e.ExpiresAt.IsZero() || now.Before(e.ExpiresAt))
}

// expiredUnrecorded reports whether the entry has expired at now and the
// expiry is not recorded yet.
func (e AllowEntry) expiredUnrecorded(now time.Time) bool {
	return e.RemovedBy == "" && e.ExpiredAt.IsZero() && !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// Matches reports whether the entry covers f at now.
func (e AllowEntry) Matches(f finding.Finding, now time.Time) bool {
	subj, actor := subject(f)
	if !e.Live(now) || e.Rule != f.Rule || e.Account != f.AccountID || subj == "" || e.Actor != actor {
		return false
	}
	switch e.Kind {
	case ScopeResource:
		return e.Pattern == subj
	case ScopePattern:
		ok, err := path.Match(e.Pattern, subj)
		return err == nil && ok
	}
	return false
}

// subject is what an entry matches a finding on: its resource's ID, or for
// a finding about an action that names no resource (a Sigma rule's, keyed
// on who acted) its actor's ARN, with actor set. It is empty when the
// finding has neither.
func subject(f finding.Finding) (subj string, actor bool) {
	if f.Resource.ID != "" || f.ReportsExposure() {
		return f.Resource.ID, false
	}
	return f.Actor.ARN, true
}

// describe says in words what the entry covers.
func (e AllowEntry) describe() string {
	if e.Kind == ScopeResource {
		return fmt.Sprintf("%s for rule %s in account %s", e.Pattern, e.Rule, e.Account)
	}
	what := "resources"
	if e.Actor {
		what = "actors"
	}
	return fmt.Sprintf("%s matching %q for rule %s in account %s", what, e.Pattern, e.Rule, e.Account)
}

// until says how long the entry lasts, for notes and messages.
func (e AllowEntry) until() string {
	if e.ExpiresAt.IsZero() {
		return "until removed"
	}
	return "until " + stamp(e.ExpiresAt)
}

// entryID is derived from what the entry covers, so marking the same scope
// twice updates one entry instead of piling up duplicates.
func entryID(rule, account, kind, pattern string) string {
	sum := sha256.Sum256([]byte(rule + "|" + account + "|" + kind + "|" + pattern))
	return "E-" + strings.ToUpper(hex.EncodeToString(sum[:5]))
}

// checkScope validates what a person typed as a scope.
func checkScope(sc Scope) error {
	if err := checkExpiry(sc.For); err != nil {
		return err
	}
	switch sc.Kind {
	case ScopeResource:
		return nil
	case ScopePattern:
	default:
		return &Error{ErrInvalid, fmt.Sprintf("%q is not a scope; choose %q or %q", clip(sc.Kind, 32), ScopeResource, ScopePattern)}
	}
	p := sc.Pattern
	switch {
	case strings.TrimSpace(p) == "":
		return &Error{ErrInvalid, "a pattern is required, such as public-assets-*"}
	case len(p) > maxPattern:
		return &Error{ErrInvalid, fmt.Sprintf("the pattern is too long (%d bytes; at most %d)", len(p), maxPattern)}
	case strings.Trim(p, "*?") == "":
		// A pattern of wildcards alone would silence the rule for the
		// whole account; that is a rule setting, not an expected
		// exposure.
		return &Error{ErrInvalid, fmt.Sprintf("the pattern %q matches everything; name part of the resource, such as public-assets-*", p)}
	}
	if _, err := path.Match(p, ""); err != nil {
		return &Error{ErrInvalid, fmt.Sprintf("the pattern %q is malformed: %v", p, err)}
	}
	return nil
}

// checkExpiry validates how long an entry is to last.
func checkExpiry(d time.Duration) error {
	switch {
	case d < 0:
		return &Error{ErrInvalid, "an entry cannot expire before it is made"}
	case d > MaxExpiry:
		return &Error{ErrInvalid, fmt.Sprintf("an entry lasts at most %d days; leave the expiry empty for one that lasts until removed", int(MaxExpiry.Hours()/24))}
	}
	return nil
}

// MarkExpected suppresses the finding and records an allowlist entry so that
// the same exposure (same rule and account, and the resource or any
// resource matching the pattern) no longer alerts. The reason is required; a
// pattern must match the finding's own resource. Marking a suppressed
// finding returns ErrAlready; a resolved one, ErrState.
func (s *Service) MarkExpected(ctx context.Context, a authz.Actor, findingID, reason string, scope Scope, origin string) (finding.Finding, error) {
	var out finding.Finding
	err := s.run(ctx, a, ActionExpected, findingID, origin, func(dec authz.Decision, rec *auditNote) error {
		reason = strings.TrimSpace(reason)
		rec.reason = reason
		if err := checkReason(reason, "marking a finding expected"); err != nil {
			return err
		}
		if err := checkScope(scope); err != nil {
			return err
		}
		var entry AllowEntry
		f, err := s.update(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
			switch f.Status {
			case finding.StatusResolved:
				return store.FindingEvent{}, &Error{ErrState, fmt.Sprintf("%s is resolved; there is no exposure to mark expected", f.ID)}
			case finding.StatusSuppressed:
				msg := fmt.Sprintf("%s is already suppressed", f.ID)
				if f.SuppressedReason != "" {
					msg += ": " + f.SuppressedReason
				}
				return store.FindingEvent{}, &Error{ErrAlready, msg}
			}
			subj, actor := subject(*f)
			if subj == "" {
				return store.FindingEvent{}, &Error{ErrState, fmt.Sprintf("%s names no resource to mark expected", f.ID)}
			}
			pattern := subj
			if scope.Kind == ScopePattern {
				pattern = scope.Pattern
				if ok, _ := path.Match(pattern, subj); !ok {
					what := "resource"
					if actor {
						what = "actor"
					}
					return store.FindingEvent{}, &Error{ErrInvalid, fmt.Sprintf("the pattern %q does not match %s, the %s of %s", pattern, subj, what, f.ID)}
				}
			}
			now := s.clk.Now()
			entry = AllowEntry{
				ID:      entryID(f.Rule, f.AccountID, scope.Kind, pattern),
				Rule:    f.Rule,
				Account: f.AccountID,
				Kind:    scope.Kind,
				Pattern: pattern,
				Reason:  reason,
				By:      a.UserID,
				At:      now,
				Finding: f.ID,
				Actor:   actor,
			}
			if scope.For > 0 {
				entry.ExpiresAt = now.Add(scope.For)
			}
			f.Status = finding.StatusSuppressed
			f.SuppressedReason = fmt.Sprintf("marked expected: %s (%s)", reason, entry.describe())
			note := fmt.Sprintf("marked expected by %s: %s (%s)", mention(a.UserID), reason, entry.describe())
			if !entry.ExpiresAt.IsZero() {
				f.SuppressedReason += ", " + entry.until()
				note += ", " + entry.until()
			}
			f.Version++
			ev := store.FindingEvent{Time: now, Status: f.Status, Actor: a.UserID, Note: note}
			ev.Outbox = s.plan.Plan(*f, finding.ChangeExpected, a.UserID, reason)
			return ev, nil
		})
		out = f
		rec.finding(f)
		if err != nil {
			return err
		}
		rec.detail.Entry = &entry
		// The entry is written after the finding so that of two people
		// marking at once, the one whose change was stored also owns the
		// entry. Should this write fail, the finding stays suppressed
		// and later findings still alert: the safe side.
		if err := s.putEntry(ctx, entry); err != nil {
			return fmt.Errorf("%s is marked expected but the allowlist entry was not saved: %w", f.ID, err)
		}
		return nil
	})
	return out, err
}

// RemoveExpected removes an allowlist entry, so that its exposures alert
// again. Findings it suppressed stay as they are. Removing a removed entry
// returns ErrAlready.
func (s *Service) RemoveExpected(ctx context.Context, a authz.Actor, entryID, origin string) error {
	return s.run(ctx, a, ActionExpectedRemove, entryID, origin, func(dec authz.Decision, rec *auditNote) error {
		rec.reason = dec.Reason
		if entryID == "" || len(entryID) > maxID || strings.HasPrefix(entryID, kvAccountIndex) {
			return &Error{ErrNotFound, fmt.Sprintf("there is no allowlist entry %q", clip(entryID, maxID))}
		}
		e, err := s.getEntry(ctx, entryID)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{ErrNotFound, fmt.Sprintf("there is no allowlist entry %s", entryID)}
		}
		if err != nil {
			return err
		}
		if e.RemovedBy != "" {
			return &Error{ErrAlready, fmt.Sprintf("allowlist entry %s (%s) was already removed by %s at %s", e.ID, e.describe(), mention(e.RemovedBy), stamp(e.RemovedAt))}
		}
		if !e.ExpiresAt.IsZero() && !s.clk.Now().Before(e.ExpiresAt) {
			return &Error{ErrAlready, fmt.Sprintf("allowlist entry %s (%s) already expired at %s", e.ID, e.describe(), stamp(e.ExpiresAt))}
		}
		// Out of the index first: once that is written the entry no
		// longer suppresses anything, whatever happens next.
		_, err = s.indexes().Update(ctx, kvAccountIndex+e.Account, func(ids *[]string) error {
			if !slices.Contains(*ids, e.ID) {
				return store.ErrUnchanged
			}
			*ids = slices.DeleteFunc(*ids, func(id string) bool { return id == e.ID })
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("save allowlist of account %s: %w", e.Account, err)
		}
		now := s.clk.Now()
		e, err = s.entries().Update(ctx, e.ID, func(cur *AllowEntry) error {
			if cur.RemovedBy != "" {
				return &Error{ErrAlready, fmt.Sprintf("allowlist entry %s (%s) was already removed by %s at %s", cur.ID, cur.describe(), mention(cur.RemovedBy), stamp(cur.RemovedAt))}
			}
			cur.RemovedBy, cur.RemovedAt = a.UserID, now
			return nil
		})
		var already *Error
		if errors.As(err, &already) {
			return err
		}
		if err != nil {
			return fmt.Errorf("save allowlist entry %s: %w", entryID, err)
		}
		rec.detail.Entry = &e
		rec.reason = "removed allowlist entry: " + e.describe()
		return nil
	})
}

// Suppressed reports whether a live allowlist entry covers f: the same rule,
// the same account, and f's resource ID equal to the entry's resource or
// matching its pattern. An entry that expired no longer covers anything;
// the first to find it expired records and audits the expiry.
func (s *Service) Suppressed(ctx context.Context, f finding.Finding) (AllowEntry, bool, error) {
	entries, err := s.indexed(ctx, f.AccountID)
	if err != nil {
		return AllowEntry{}, false, err
	}
	now := s.clk.Now()
	for _, e := range entries {
		if e.expiredUnrecorded(now) {
			if err := s.expire(ctx, e); err != nil {
				// The entry no longer suppresses either way; its
				// record waits for the next look at it.
				continue
			}
		}
		if e.Matches(f, now) {
			return e, true, nil
		}
	}
	return AllowEntry{}, false, nil
}

// Entries lists the live allowlist entries of an account, oldest first.
func (s *Service) Entries(ctx context.Context, account string) ([]AllowEntry, error) {
	entries, err := s.indexed(ctx, account)
	if err != nil {
		return nil, err
	}
	now := s.clk.Now()
	out := entries[:0]
	for _, e := range entries {
		if e.Live(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// indexed lists the entries in an account's index that were not removed,
// oldest first; an expired entry stays indexed (it no longer matches).
func (s *Service) indexed(ctx context.Context, account string) ([]AllowEntry, error) {
	ids, err := s.index(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]AllowEntry, 0, len(ids))
	for _, id := range ids {
		e, err := s.getEntry(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // indexed by a write that did not finish
		}
		if err != nil {
			return nil, err
		}
		if e.RemovedBy == "" && e.Account == account {
			out = append(out, e)
		}
	}
	return out, nil
}

// ActionExpectedExpire is the audit action of an entry's expiry, recorded
// by the bot ("system") when it first finds the entry expired.
const ActionExpectedExpire = "finding.expected.expire"

// expire records that e expired and audits it, once: of two replicas that
// find it expired at once, the one whose compare-and-set wins writes the
// audit record. An entry marked again meanwhile (with a new expiry) is
// left alone.
func (s *Service) expire(ctx context.Context, e AllowEntry) error {
	now := s.clk.Now()
	recorded := false
	cur, err := s.entries().Update(ctx, e.ID, func(cur *AllowEntry) error {
		// Update calls this again after losing a race: only the attempt
		// that is stored records the expiry.
		recorded = false
		if !cur.expiredUnrecorded(now) {
			return store.ErrUnchanged
		}
		cur.ExpiredAt = now
		recorded = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the expiry of allowlist entry %s: %w", e.ID, err)
	}
	if !recorded {
		return nil
	}
	detail, _ := json.Marshal(auditDetail{Origin: "expiry", Entry: &cur}) // a flat struct of strings and times cannot fail
	_, err = s.st.AppendAudit(ctx, store.AuditRecord{
		Time:   now,
		Actor:  "system",
		Action: ActionExpectedExpire,
		Target: cur.ID,
		Result: ResultOK,
		Reason: clip(fmt.Sprintf("allowlist entry expired at %s: %s; added by %s: %s", stamp(cur.ExpiresAt), cur.describe(), mention(cur.By), cur.Reason), maxReason),
		Detail: detail,
	})
	if err != nil {
		return fmt.Errorf("allowlist entry %s expired but the expiry was not audited: %w", cur.ID, err)
	}
	return nil
}

// ExpireDue records and audits the expiry of every entry whose time is up,
// so that the audit log says when each stopped suppressing even if nothing
// it covered was seen since. It returns how many it recorded.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	items, err := s.entries().List(ctx, "E-")
	if err != nil {
		return 0, fmt.Errorf("list allowlist entries: %w", err)
	}
	now := s.clk.Now()
	n := 0
	var errs []error
	for _, it := range items {
		if !it.Value.expiredUnrecorded(now) {
			continue
		}
		if err := s.expire(ctx, it.Value); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// ExpireEvery runs ExpireDue every interval until ctx ends.
func (s *Service) ExpireEvery(ctx context.Context, interval time.Duration, log zerolog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("record expired allowlist entries")
		} else if n > 0 {
			log.Info().Int("entries", n).Msg("allowlist entries expired")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ActionExpectedList is the audit action of listing the allowlist.
const ActionExpectedList = "finding.expected.list"

// ListExpected lists every live allowlist entry, by account and then
// oldest first, for a responder; expired entries are recorded as such
// first. The listing is audited.
func (s *Service) ListExpected(ctx context.Context, a authz.Actor, origin string) ([]AllowEntry, error) {
	var out []AllowEntry
	err := s.run(ctx, a, ActionExpectedList, "", origin, func(dec authz.Decision, rec *auditNote) error {
		rec.reason = dec.Reason
		if _, err := s.ExpireDue(ctx); err != nil {
			return err
		}
		items, err := s.entries().List(ctx, "E-")
		if err != nil {
			return fmt.Errorf("list allowlist entries: %w", err)
		}
		now := s.clk.Now()
		for _, it := range items {
			if it.Value.Live(now) {
				out = append(out, it.Value)
			}
		}
		slices.SortStableFunc(out, func(x, y AllowEntry) int {
			if c := strings.Compare(x.Account, y.Account); c != 0 {
				return c
			}
			return x.At.Compare(y.At)
		})
		return nil
	})
	return out, err
}

// entries are the allowlist entries, one document per entry ID; indexes
// list the entry IDs of an account, at kvAccountIndex+account.
func (s *Service) entries() *store.Doc[AllowEntry] {
	return store.NewDoc[AllowEntry](s.st, kvNamespace)
}

func (s *Service) indexes() *store.Doc[[]string] { return store.NewDoc[[]string](s.st, kvNamespace) }

// putEntry writes the entry, then adds it to its account's index: an entry
// is live only once indexed, so a half-done write suppresses nothing.
func (s *Service) putEntry(ctx context.Context, e AllowEntry) error {
	// Marking an exposure expected again replaces its removed entry.
	if _, err := s.entries().Upsert(ctx, e.ID, func(cur *AllowEntry) error { *cur = e; return nil }); err != nil {
		return fmt.Errorf("save allowlist entry %s: %w", e.ID, err)
	}
	_, err := s.indexes().Upsert(ctx, kvAccountIndex+e.Account, func(ids *[]string) error {
		if slices.Contains(*ids, e.ID) {
			return store.ErrUnchanged
		}
		*ids = append(*ids, e.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save allowlist of account %s: %w", e.Account, err)
	}
	return nil
}

func (s *Service) getEntry(ctx context.Context, id string) (AllowEntry, error) {
	e, err := s.entries().Get(ctx, id)
	if err != nil {
		return AllowEntry{}, fmt.Errorf("read allowlist entry %s: %w", id, err)
	}
	return e, nil
}

func (s *Service) index(ctx context.Context, account string) ([]string, error) {
	ids, err := s.indexes().Get(ctx, kvAccountIndex+account)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read allowlist of account %s: %w", account, err)
	}
	return ids, nil
}
