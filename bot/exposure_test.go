package bot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// fakeReads records what the bot asks of the exposure review.
type fakeReads struct {
	requested []string
	closed    []string
}

func (f *fakeReads) Request(_ context.Context, id, by string) error {
	f.requested = append(f.requested, id+" by "+by)
	return nil
}

func (f *fakeReads) Closed(_ context.Context, id, by, answer string) error {
	f.closed = append(f.closed, id+" by "+by+": "+answer)
	return nil
}

func reviewedBucket(seq int) finding.Finding {
	f := openBucket()
	f.Status = finding.StatusResolved
	f.Reads = &finding.ReadReview{
		Seq: seq, Since: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 26, 14, 17, 0, 0, time.UTC),
		Answer: finding.ReadsFound, Summary: "an anonymous caller read it: 3 calls",
		Readers: []finding.Reader{{Principal: "anonymous", Anonymous: true, Count: 3, SourceIPs: []string{"198.51.100.23"}}},
	}
	return f
}

// TestExposureReviewRecordsTheAnswer: closing the review under an answer
// records that answer (in the review, the audit log and the ticket); a
// button under an answer a newer one replaced is refused.
func TestExposureReviewRecordsTheAnswer(t *testing.T) {
	e := newEnv(t)
	reads := &fakeReads{}
	e.route(review{kit: e.kit, reads: reads})
	e.addFinding(reviewedBucket(2))

	e.press(responder, "finding.review", findingID+"|1")
	if got := e.lastTold(responder); !strings.Contains(got.text, "A newer answer") {
		t.Errorf("a stale answer's button told %q", got.text)
	}
	e.press(responder, "finding.review", findingID+"|2")
	doc, err := store.NewTextDoc(e.store, nsReview).Get(context.Background(), findingID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc, responder+" 2026-") || !strings.Contains(doc, "an anonymous caller read it: 3 calls. anonymous: 3 calls from 198.51.100.23.") {
		t.Errorf("review recorded as %q", doc)
	}
	if len(reads.closed) != 1 || !strings.HasPrefix(reads.closed[0], findingID+" by "+responder+": ") || !strings.Contains(reads.closed[0], "anonymous: 3 calls") {
		t.Errorf("ticket told %q", reads.closed)
	}
	var posted string
	for _, s := range e.slack.said {
		if s.how == "post" {
			posted = s.text
		}
	}
	if !strings.Contains(posted, "Exposure review of "+findingID+" closed by <@"+responder+">.") || !strings.Contains(posted, "Answer recorded: an anonymous caller read it: 3 calls.") {
		t.Errorf("announced %q", posted)
	}
	var detail string
	for _, r := range e.store.audits {
		if r.Action == "finding.review" && r.Result == "ok" {
			detail = string(r.Detail)
		}
	}
	if !strings.Contains(detail, `"answer":`) {
		t.Errorf("audit detail %s lacks the answer", detail)
	}
}

// TestCheckReads: a responder asks who read it; others are refused.
func TestCheckReads(t *testing.T) {
	e := newEnv(t)
	reads := &fakeReads{}
	e.route(exposureReads{kit: e.kit, svc: reads})
	e.addFinding(reviewedBucket(1))
	e.press(outsider, blocks.ActionCheckReads, findingID)
	e.press(responder, blocks.ActionCheckReads, findingID)
	if want := []string{findingID + " by " + responder}; !slices.Equal(reads.requested, want) {
		t.Errorf("requests %q, want %q", reads.requested, want)
	}
	if got := e.lastTold(responder); !strings.Contains(got.text, "Checking who read") {
		t.Errorf("responder told %q", got.text)
	}
	if a := e.store.audited("finding.check_reads"); len(a) != 2 || !strings.HasPrefix(a[0], "refused") || !strings.HasPrefix(a[1], "ok") {
		t.Errorf("audit %q", a)
	}
}

func TestReviewTarget(t *testing.T) {
	for _, tt := range []struct {
		value string
		id    string
		seq   int
	}{{"F-1", "F-1", 0}, {"F-1|3", "F-1", 3}, {"F-1|x", "F-1", 0}} {
		if id, seq := reviewTarget(tt.value); id != tt.id || seq != tt.seq {
			t.Errorf("reviewTarget(%q) = %q, %d", tt.value, id, seq)
		}
	}
}
