package exposure

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/store"
)

// Query is what a review asks of AWS: the records of the finding's
// resource for the window.
type Query struct {
	Finding      finding.Finding
	Since, Until time.Time
	// KeyARN is, for a snapshot or image, the key whose uses tell whether
	// another account copied it.
	KeyARN string
}

// Evidence is what AWS holds about reads of the resource in the window,
// beyond what reached the bot on its event feed.
type Evidence struct {
	// Covered reports that something records the resource's reads for the
	// window (a trail's data events, server access logs, event history);
	// DataEvents that a trail records the bucket's data events, which
	// reach the bot only if its event rule forwards them.
	Covered    bool
	DataEvents bool
	// Sources name what records them; Gaps what does not and how to turn
	// it on; Notes further caveats; Unreadable the reads that failed.
	Sources, Gaps, Notes, Unreadable []string
	// Reads are the reads found in server access logs or event history,
	// by anyone: the review keeps the outside ones.
	Reads []Read
}

// Sources reads, in the resource's account, the records of who read it
// (providers/aws/datareads).
type Sources interface {
	Evidence(ctx context.Context, q Query) (Evidence, error)
}

// Limits of what a review shows.
const (
	maxReaders = 10
	maxIPs     = 5
	maxKeys    = 5
)

// lookupHistory is how far back CloudTrail event history goes.
const lookupHistory = 90 * 24 * time.Hour

// Reviewer answers who read a resource while it was exposed.
type Reviewer struct {
	kv  store.KV
	org Org
	aws Sources
}

// NewReviewer returns a reviewer over the reads the feed kept (kv) and, when
// src is not nil, AWS's own records.
func NewReviewer(kv store.KV, org Org, src Sources) *Reviewer {
	return &Reviewer{kv: kv, org: org, aws: src}
}

// Reviewable reports whether a review can answer for the finding: an
// exposure (not an action a rule reports) of a bucket, snapshot or image.
func Reviewable(f finding.Finding) bool {
	if !f.ReportsExposure() {
		return false
	}
	switch f.Resource.Type {
	case awsarn.TypeS3Bucket, awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot, awsarn.TypeEC2Snapshot, awsarn.TypeEC2Image:
		return true
	}
	return false
}

// Window is the span a finding's resource was exposed: from when the
// exposure opened to its resolution, or to now while it is open.
func Window(f finding.Finding, now time.Time) (since, until time.Time) {
	since = f.OpenedAt
	if since.IsZero() {
		since = f.FirstSeen
	}
	until = now
	if f.Status == finding.StatusResolved {
		switch {
		case f.ResolvedEvent != nil && !f.ResolvedEvent.Time.IsZero():
			until = f.ResolvedEvent.Time
		case !f.ResolvedAt.IsZero():
			until = f.ResolvedAt
		}
	}
	// CloudTrail times are to the second: the read in the second the fix
	// landed is in.
	return since.UTC(), until.UTC().Truncate(time.Second).Add(time.Second)
}

// Review answers for the finding's exposure window, at now.
func (rv *Reviewer) Review(ctx context.Context, f finding.Finding, now time.Time) (finding.ReadReview, error) {
	since, until := Window(f, now)
	r := finding.ReadReview{Since: since, Until: until, ReviewedAt: now}
	switch f.Resource.Type {
	case awsarn.TypeS3Bucket:
		return r, rv.bucket(ctx, f, &r)
	case awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot, awsarn.TypeEC2Snapshot, awsarn.TypeEC2Image:
		return r, rv.snapshot(ctx, f, &r)
	}
	r.Answer, r.Summary = finding.ReadsUnknown, "cannot tell: the bot does not review reads of "+typeWord(f.Resource.Type)
	return r, nil
}

func typeWord(t string) string {
	if t == "" {
		return "this kind of resource"
	}
	return t
}

// bucket answers for a bucket: the feed's data events and AWS's records,
// with what covers the window.
func (rv *Reviewer) bucket(ctx context.Context, f finding.Finding, r *finding.ReadReview) error {
	arn := f.Resource.ARN
	if arn == "" {
		arn = awsarn.S3Bucket(awsarn.PartitionOf(f.Region), f.Resource.ID).String()
	}
	stored, err := Load(ctx, rv.kv, arn, r.Since, r.Until)
	if err != nil {
		return err
	}
	var ev Evidence
	if rv.aws != nil {
		if ev, err = rv.aws.Evidence(ctx, Query{Finding: f, Since: r.Since, Until: r.Until}); err != nil {
			return err
		}
	}
	r.Sources, r.Gaps, r.Notes, r.Unreadable = ev.Sources, ev.Gaps, ev.Notes, ev.Unreadable
	if stored.Seen && !ev.Covered {
		r.Sources = append([]string{"CloudTrail data events that reached the bot for this bucket in the window"}, r.Sources...)
	}
	if ev.DataEvents && !stored.Seen {
		r.Notes = append(r.Notes, "No data event of this bucket reached the bot in the window: right if nobody read it; if the bucket was read, the bot's event rule does not forward data events (ForwardDataReads in deploy/cloudformation/secops-bot.yaml).")
	}
	r.Notes = append(r.Notes, "CloudTrail event history (LookupEvents) keeps management events only, so it cannot show object reads.")
	r.InsideReads = stored.Inside
	reads := stored.Outside
	for _, rd := range ev.Reads {
		if inWindow(rd, r.Since, r.Until) && Outside(rd, rv.org, f.AccountID) {
			reads = append(reads, rd)
		} else if inWindow(rd, r.Since, r.Until) && rd.Source == SourceAccessLog && !stored.Seen {
			// The feed did not count them: the logs do.
			r.InsideReads++
		}
	}
	rv.readers(reads, stored.Over, r)
	switch {
	case !ev.Covered && !stored.Seen:
		r.Answer = finding.ReadsUnknown
		r.Summary = "cannot tell: data events are not recorded for this bucket"
		if len(r.Gaps) == 0 {
			r.Gaps = append(r.Gaps, turnOn(f.Resource.ID))
		}
	case len(r.Readers) > 0:
		r.Answer = finding.ReadsFound
		r.Summary = readsSummary(r, "read it")
	default:
		r.Answer = finding.ReadsNone
		r.Summary = "no reads by principals outside the organisation or anonymous"
	}
	return nil
}

// turnOn says how to record a bucket's reads from now on.
func turnOn(bucket string) string {
	return fmt.Sprintf("Turn on CloudTrail data events for s3://%s (an event selector on AWS::S3::Object with arn:aws:s3:::%s/, read events included) and forward them to the bot's queue, or server access logging on the bucket; the bot answers from them from then on.", bucket, bucket)
}

// snapshot answers for a snapshot or image from its encryption: another
// account copies or restores it without a trace in this account unless it
// must use a key of this account, whose uses KMS records.
func (rv *Reviewer) snapshot(ctx context.Context, f finding.Finding, r *finding.ReadReview) error {
	// The key as it was while the resource was exposed, not as a read
	// after a containment found it.
	key := f.Contents.KeyDuringExposure()
	targets := map[string]bool{}
	for _, t := range f.UnknownTargets() {
		targets[t.Account] = true
	}
	switch {
	case key == nil:
		r.Answer, r.Summary = finding.ReadsUnknown, "cannot tell: the snapshot's encryption has not been read"
		return nil
	case key.Case == finding.KeyUnencrypted:
		r.Answer, r.Summary = finding.ReadsUnknown, "cannot tell: it is not encrypted, so the other account can copy or restore it without any event in this account"
		r.Gaps = append(r.Gaps, "Ask the account's owner, or AWS through the abuse report, whether it was copied; only that account's own CloudTrail shows it.")
		return nil
	case key.Case == finding.KeyAWSManaged:
		r.Answer, r.Summary = finding.ReadsNone, "nobody outside could read it: it is encrypted with an AWS-managed key, which no other account can use"
		return nil
	case key.Case == finding.KeyCustomerNotUsable:
		r.Answer, r.Summary = finding.ReadsNone, "nobody outside could read it: the key's policy and grants do not let the accounts it was shared with use it"
		r.Notes = append(r.Notes, "Judged from the key's policy and grants as read with the finding; a change to them during the window would not show here.")
		return nil
	}
	arn := key.KeyARN
	stored, err := Load(ctx, rv.kv, arn, r.Since, r.Until)
	if err != nil {
		return err
	}
	var ev Evidence
	if rv.aws != nil {
		if ev, err = rv.aws.Evidence(ctx, Query{Finding: f, Since: r.Since, Until: r.Until, KeyARN: arn}); err != nil {
			return err
		}
	}
	r.Sources, r.Gaps, r.Notes, r.Unreadable = ev.Sources, ev.Gaps, ev.Notes, ev.Unreadable
	if stored.Seen && !ev.Covered {
		r.Sources = append([]string{"KMS events of the key that reached the bot"}, r.Sources...)
	}
	var reads []Read
	for _, rd := range append(stored.Outside, ev.Reads...) {
		if !inWindow(rd, r.Since, r.Until) || !Outside(rd, rv.org, f.AccountID) {
			continue
		}
		reads = append(reads, rd)
	}
	rv.readers(reads, stored.Over, r)
	switch {
	case len(r.Readers) > 0:
		r.Answer = finding.ReadsFound
		r.Summary = readsSummary(r, "used its key")
	case !ev.Covered && !stored.Seen:
		r.Answer = finding.ReadsUnknown
		r.Summary = "cannot tell: the key's use could not be read"
	default:
		r.Answer = finding.ReadsNone
		r.Summary = "no use of its key by the accounts it was shared with: they have not copied or restored it"
	}
	if r.ReviewedAt.Sub(r.Since) > lookupHistory && rv.aws != nil {
		r.Notes = append(r.Notes, "Event history keeps 90 days; the window starts earlier.")
	}
	return nil
}

func inWindow(r Read, since, until time.Time) bool {
	return !r.Time.Before(since) && r.Time.Before(until)
}

// readers groups the outside reads by principal, the same request seen by
// CloudTrail and in the access logs once.
func (rv *Reviewer) readers(reads []Read, over map[string]int, r *finding.ReadReview) {
	seen := map[string]bool{}
	byWho := map[string]*finding.Reader{}
	var order []string
	for _, rd := range reads {
		id := rd.RequestID
		if id == "" {
			id = rd.Source + "|" + rd.EventID
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		w, ok := byWho[rd.Principal]
		if !ok {
			w = &finding.Reader{Principal: rd.Principal, Account: rd.Account, Anonymous: rd.Anonymous, Actions: map[string]int{}, First: rd.Time, Last: rd.Time}
			if rd.Account != "" {
				w.Class = rv.org.Classify(rd.Account)
			}
			byWho[rd.Principal] = w
			order = append(order, rd.Principal)
		}
		w.Count++
		w.Actions[rd.Action]++
		if rd.SourceIP != "" && !slices.Contains(w.SourceIPs, rd.SourceIP) && len(w.SourceIPs) < maxIPs {
			w.SourceIPs = append(w.SourceIPs, rd.SourceIP)
		}
		if rd.Key != "" && !slices.Contains(w.Keys, rd.Key) && len(w.Keys) < maxKeys {
			w.Keys = append(w.Keys, rd.Key)
		}
		if !slices.Contains(w.Sources, rd.Source) {
			w.Sources = append(w.Sources, rd.Source)
		}
		if rd.Time.Before(w.First) {
			w.First = rd.Time
		}
		if rd.Time.After(w.Last) {
			w.Last = rd.Time
		}
	}
	for p, n := range over {
		w, ok := byWho[p]
		if !ok {
			w = &finding.Reader{Principal: p, Anonymous: p == Anonymous, Actions: map[string]int{}}
			byWho[p] = w
			order = append(order, p)
		}
		w.Count += n
		w.Actions["(not kept)"] += n
	}
	out := make([]finding.Reader, 0, len(order))
	for _, p := range order {
		out = append(out, *byWho[p])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	if len(out) > maxReaders {
		r.More = len(out) - maxReaders
		out = out[:maxReaders]
	}
	r.Readers = out
}

// readsSummary says how many reads by how many principals: "14 reads by 2
// principals outside the organisation (1 anonymous) read it".
func readsSummary(r *finding.ReadReview, verb string) string {
	total, anon := 0, 0
	for _, w := range r.Readers {
		total += w.Count
		if w.Anonymous {
			anon++
		}
	}
	n := len(r.Readers) + r.More
	who := plural(n, "principal", "principals") + " outside the organisation"
	if anon > 0 && anon == n {
		who = "anonymous callers"
		if n == 1 {
			who = "an anonymous caller"
		}
	} else if anon > 0 {
		who += " (anonymous included)"
	}
	return fmt.Sprintf("%s %s: %s", who, verb, plural(total, "call", "calls"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Answer is the review in one line for the audit log and the ticket: the
// window, the answer and the readers.
func Answer(r *finding.ReadReview) string {
	if r == nil {
		return "no automatic answer: the bot has not reviewed the reads"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s: %s.", r.Since.UTC().Format("2006-01-02 15:04:05"), r.Until.UTC().Format("2006-01-02 15:04:05 UTC"), r.Summary)
	for _, w := range r.Readers {
		fmt.Fprintf(&b, " %s: %s", w.Principal, plural(w.Count, "call", "calls"))
		if len(w.SourceIPs) > 0 {
			fmt.Fprintf(&b, " from %s", strings.Join(w.SourceIPs, ", "))
		}
		if len(w.Keys) > 0 {
			fmt.Fprintf(&b, " (e.g. %s)", strings.Join(w.Keys, ", "))
		}
		b.WriteString(".")
	}
	if r.InsideReads > 0 {
		fmt.Fprintf(&b, " %s by the organisation's own principals.", plural(r.InsideReads, "read", "reads"))
	}
	if len(r.Sources) > 0 {
		fmt.Fprintf(&b, " Sources: %s.", strings.Join(r.Sources, "; "))
	}
	for _, g := range r.Gaps {
		b.WriteString(" " + g)
	}
	return b.String()
}
