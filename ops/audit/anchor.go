package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Anchor is the head of the chain as it was written somewhere the database
// cannot reach: the newest record's sequence number and hash.
type Anchor struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	// Where says where the anchor was read from, for reports.
	Where string `json:"-"`
}

// String is the anchor as audit verify --anchor takes it.
func (a Anchor) String() string { return strconv.FormatInt(a.Seq, 10) + ":" + a.Hash }

// ParseAnchor reads an anchor given as SEQ:HASH (as the Slack anchor
// message shows it) or as the JSON an S3 anchor holds.
func ParseAnchor(s string) (Anchor, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var a Anchor
		if err := json.Unmarshal([]byte(s), &a); err != nil || a.Seq <= 0 || a.Hash == "" {
			return Anchor{}, errors.New(`anchor: want {"seq":N,"hash":"…"} or N:HASH`)
		}
		return a, nil
	}
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n <= 0 || hash == "" {
		return Anchor{}, fmt.Errorf("anchor %q: want N:HASH, as the audit anchor message shows it", clip(s))
	}
	return Anchor{Seq: n, Hash: hash}, nil
}

// Sink is a place anchors are written to outside the database.
type Sink interface {
	Name() string
	Put(ctx context.Context, a Anchor) error
}

// Source reads back the newest anchor a sink holds; ok is false when it
// holds none.
type Source interface {
	Newest(ctx context.Context) (a Anchor, ok bool, err error)
}

// Store is what anchoring and verification read.
type Store interface {
	store.KV
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error)
	VerifyAudit(ctx context.Context) (brokenSeq int64, err error)
}

// kvNS and kvKey hold the last anchor written, shared by the replicas so
// that an unchanged head is not anchored again.
const (
	kvNS  = "audit"
	kvKey = "anchor"
)

// Anchorer writes the chain's head to its sinks every Interval when it
// moved, and once more when it stops.
type Anchorer struct {
	st       Store
	last     *store.Doc[Anchor]
	sinks    []Sink
	clock    clock.Clock
	interval time.Duration
	log      zerolog.Logger
}

// DefaultInterval is how often the head is anchored when no interval is
// configured: an hour bounds what a rewrite of the newest records can
// hide between two anchors.
const DefaultInterval = time.Hour

// NewAnchorer returns an anchorer writing to sinks.
func NewAnchorer(st Store, sinks []Sink, clk clock.Clock, interval time.Duration, log zerolog.Logger) *Anchorer {
	if clk == nil {
		clk = clock.Real{}
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Anchorer{st: st, last: store.NewDoc[Anchor](st, kvNS), sinks: sinks, clock: clk, interval: interval, log: log}
}

// Run anchors at once, every interval, and at shutdown.
func (a *Anchorer) Run(ctx context.Context) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		if _, _, err := a.AnchorNow(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("anchor the audit log; trying again at the next interval")
		}
		select {
		case <-ctx.Done():
			// The last records of a run are anchored as it stops.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, _, err := a.AnchorNow(sctx); err != nil {
				a.log.Warn().Err(err).Msg("anchor the audit log at shutdown")
			}
			cancel()
			return
		case <-t.C:
		}
	}
}

// AnchorNow writes the current head to every sink unless it was anchored
// already. It reports the anchor and whether it was written.
func (a *Anchorer) AnchorNow(ctx context.Context) (Anchor, bool, error) {
	head, ok, err := Head(ctx, a.st)
	if err != nil || !ok {
		return Anchor{}, false, err
	}
	head.At = a.clock.Now().UTC()
	last, err := a.last.Get(ctx, kvKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return head, false, fmt.Errorf("read last anchor: %w", err)
	}
	if last.Seq == head.Seq && last.Hash == head.Hash {
		return head, false, nil
	}
	var errs []error
	for _, s := range a.sinks {
		if err := s.Put(ctx, head); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return head, false, err
	}
	// Another replica may have anchored a later head meanwhile: the newest
	// is kept.
	if _, err := a.last.Upsert(ctx, kvKey, func(l *Anchor) error {
		if l.Seq > head.Seq {
			return store.ErrUnchanged
		}
		*l = head
		return nil
	}); err != nil {
		return head, true, fmt.Errorf("remember anchor: %w", err)
	}
	a.log.Info().Int64("seq", head.Seq).Str("key", KeyID(head.Hash)).Msg("audit log anchored")
	return head, true, nil
}

// Head is the newest record of the chain; ok is false for an empty log.
func Head(ctx context.Context, st Store) (Anchor, bool, error) {
	recs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 1})
	if err != nil {
		return Anchor{}, false, fmt.Errorf("read audit head: %w", err)
	}
	if len(recs) == 0 {
		return Anchor{}, false, nil
	}
	return Anchor{Seq: recs[0].Seq, Hash: recs[0].Hash}, true, nil
}
