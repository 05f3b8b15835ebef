package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// Report is what a verification found. Problems is empty when the log is
// intact as far as the keys and the newest anchor can tell.
type Report struct {
	// Records is the number of records (the head's sequence number), and
	// HeadHash the head's hash.
	Records  int64
	HeadHash string
	// Broken is the first record whose link does not check out; 0 when
	// every link does.
	Broken int64
	// Unkeyed counts records sealed without a key, written before a key
	// was configured; their links are checked, but anyone with the
	// database could have rewritten them consistently.
	Unkeyed int
	// Anchor is the newest anchor the log was checked against, nil when
	// none was available.
	Anchor   *Anchor
	Problems []string
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks every link of the chain with the store's sealer, that no
// unkeyed record follows a keyed one (a rewrite by someone without the
// key), and the chain's end against the newest of the anchors: the given
// one and those the sources hold. A source that cannot be read is a
// problem, not a pass.
func Verify(ctx context.Context, st Store, sources []Source, given *Anchor) (Report, error) {
	var rep Report
	broken, err := st.VerifyAudit(ctx)
	if err != nil {
		return rep, err
	}
	recs, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		return rep, fmt.Errorf("read audit log: %w", err)
	}
	bySeq := make(map[int64]store.AuditRecord, len(recs))
	if len(recs) > 0 {
		rep.Records, rep.HeadHash = recs[0].Seq, recs[0].Hash
	}
	firstKeyed := int64(0)
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		r := recs[i]
		bySeq[r.Seq] = r
		if KeyID(r.Hash) != "" {
			if firstKeyed == 0 {
				firstKeyed = r.Seq
			}
			continue
		}
		rep.Unkeyed++
		if firstKeyed != 0 && (broken == 0 || r.Seq < broken) {
			broken = r.Seq
			rep.Problems = append(rep.Problems, fmt.Sprintf("record %d is sealed without a key although record %d before it was sealed with one: it was rewritten by someone without the key", r.Seq, firstKeyed))
		}
	}
	if broken != 0 {
		rep.Broken = broken
		if len(rep.Problems) == 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("record %d does not check out: its hash, its link to the record before or its key does not match (edited, removed or inserted)", broken))
		}
	}

	newest := given
	for _, src := range sources {
		a, ok, err := src.Newest(ctx)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("the anchors could not be read: %v", err))
			continue
		}
		if ok && (newest == nil || a.Seq > newest.Seq) {
			a := a
			newest = &a
		}
	}
	if newest == nil {
		return rep, nil
	}
	rep.Anchor = newest
	where := newest.Where
	if where == "" {
		where = "the given anchor"
	}
	if !newest.At.IsZero() {
		where += " of " + newest.At.UTC().Format(time.RFC3339)
	}
	r, ok := bySeq[newest.Seq]
	switch {
	case !ok && newest.Seq > rep.Records:
		rep.Problems = append(rep.Problems, fmt.Sprintf("the log ends at record %d, but %s saw record %d: records %d to %d were cut from the end", rep.Records, where, newest.Seq, rep.Records+1, newest.Seq))
	case !ok:
		rep.Problems = append(rep.Problems, fmt.Sprintf("record %d, which %s saw, is missing", newest.Seq, where))
	case r.Hash != newest.Hash:
		rep.Problems = append(rep.Problems, fmt.Sprintf("record %d differs from %s: the log was rewritten up to there", newest.Seq, where))
	}
	return rep, nil
}
