// Package backfill reads an account's recent management events from
// CloudTrail's LookupEvents API (the last 90 days, one region at a time)
// and hands them to the ingestion sink, so that history and baselines
// exist from the first day instead of after weeks of live events.
//
// LookupEvents is slow by design: 50 events a page and 2 requests a
// second per account and region. A backfill paces itself to that quota
// with a Limiter, backs off when throttled anyway (another reader may
// share the quota), and can be run again from the start at any time: the
// sink ignores events it has already stored.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"
	cloudtrailrec "github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// LookupEvents limits.
const (
	// PageSize is the most events one LookupEvents call returns.
	PageSize = 50
	// Rate is LookupEvents' quota: requests per second per account and
	// region.
	Rate = 2
)

// Limiter paces requests: Wait returns when the next one may be sent.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Sleeper waits for d, or until ctx is done.
type Sleeper func(ctx context.Context, d time.Duration) error

// Sleep is the real Sleeper.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IntervalLimiter lets one request through per interval, spacing them
// evenly rather than in bursts: a burst right after another reader's would
// be throttled. It is safe for concurrent use.
type IntervalLimiter struct {
	interval time.Duration
	clock    clock.Clock
	sleep    Sleeper

	mu   sync.Mutex
	next time.Time
}

// NewLimiter allows rate requests per second, reading time from clk and
// waiting with sleep (the wall clock and Sleep when nil).
func NewLimiter(rate float64, clk clock.Clock, sleep Sleeper) *IntervalLimiter {
	if clk == nil {
		clk = clock.Real{}
	}
	if sleep == nil {
		sleep = Sleep
	}
	if rate <= 0 {
		rate = Rate
	}
	return &IntervalLimiter{interval: time.Duration(float64(time.Second) / rate), clock: clk, sleep: sleep}
}

// Wait blocks until the caller's turn. Turns are handed out in order, so
// concurrent callers are spaced too.
func (l *IntervalLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.clock.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	return l.sleep(ctx, at.Sub(now))
}

// Options tunes a Backfiller; zero values mean the defaults.
type Options struct {
	// Limiter paces the LookupEvents calls of one account and region.
	// When nil, each account and region gets an IntervalLimiter at Rate,
	// shared by the Backfiller's concurrent backfills of it.
	Limiter Limiter
	// Clock is "now", the end of the backfilled span.
	Clock clock.Clock
	// Sleep waits between retries of a throttled or failed call.
	Sleep Sleeper
	// MaxAttempts is how often one page is tried before giving up (8).
	MaxAttempts int
	// Logger receives progress and retries.
	Logger zerolog.Logger
}

// Backfiller runs backfills, keeping one limiter per account and region.
type Backfiller struct {
	opts Options

	mu       sync.Mutex
	limiters map[string]Limiter
}

// New returns a Backfiller.
func New(opts Options) *Backfiller {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Sleep == nil {
		opts.Sleep = Sleep
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	return &Backfiller{opts: opts, limiters: map[string]Limiter{}}
}

// Backfill reads the events of one account and region with a default
// Backfiller; see Backfiller.Backfill.
func Backfill(ctx context.Context, cfg aws.Config, account, region string, since time.Time, sink ingest.Sink, progress func(n int, at time.Time)) error {
	return New(Options{}).Backfill(ctx, cfg, account, region, since, sink, progress)
}

// Backfill reads every management event of the region from since to now,
// newest first, with cfg's credentials (which must be the account's), and
// gives each page to sink as one batch. progress, when not nil, is called
// after each page with the number of events delivered so far and the time
// of the oldest of them, which moves back towards since.
func (b *Backfiller) Backfill(ctx context.Context, cfg aws.Config, account, region string, since time.Time, sink ingest.Sink, progress func(n int, at time.Time)) error {
	client := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) {
		o.Region = region
		// Retries are ours: the SDK's would not wait for the limiter and
		// would sleep on the wall clock.
		o.Retryer = aws.NopRetryer{}
	})
	limiter := b.limiter(account, region)
	log := b.opts.Logger.With().Str("account", account).Str("region", region).Logger()
	source := "cloudtrail-lookup:" + account + ":" + region
	until := b.opts.Clock.Now()
	in := &cloudtrail.LookupEventsInput{
		StartTime:  aws.Time(since),
		EndTime:    aws.Time(until),
		MaxResults: aws.Int32(PageSize),
	}
	n := 0
	for page := 1; ; page++ {
		out, err := b.lookup(ctx, client, limiter, in, log)
		if err != nil {
			return fmt.Errorf("backfill %s in %s: page %d: %w", account, region, page, err)
		}
		batch, oldest := toBatch(source, out.Events)
		if len(batch.Records) > 0 || len(batch.Problems) > 0 {
			if err := sink.Ingest(ctx, batch); err != nil {
				return fmt.Errorf("backfill %s in %s: page %d: %w", account, region, page, err)
			}
		}
		n += len(batch.Records)
		if progress != nil && !oldest.IsZero() {
			progress(n, oldest)
		}
		if out.NextToken == nil || *out.NextToken == "" {
			log.Info().Int("events", n).Int("pages", page).Msg("backfill done")
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// ByAccessKey reads the management events one access key made in a region
// from since to until, newest first, with cfg's credentials (which must be
// the account's): what a break-glass session did, before CloudTrail's
// delivery brings it to the history. It pages within the quota like
// Backfill and returns the parsed records.
func (b *Backfiller) ByAccessKey(ctx context.Context, cfg aws.Config, account, region, accessKeyID string, since, until time.Time) ([]cloudtrailrec.Record, error) {
	client := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) {
		o.Region = region
		o.Retryer = aws.NopRetryer{}
	})
	limiter := b.limiter(account, region)
	log := b.opts.Logger.With().Str("account", account).Str("region", region).Logger()
	source := "cloudtrail-lookup:" + account + ":" + region
	in := &cloudtrail.LookupEventsInput{
		StartTime:        aws.Time(since),
		EndTime:          aws.Time(until),
		MaxResults:       aws.Int32(PageSize),
		LookupAttributes: []types.LookupAttribute{{AttributeKey: types.LookupAttributeKeyAccessKeyId, AttributeValue: aws.String(accessKeyID)}},
	}
	var out []cloudtrailrec.Record
	for page := 1; ; page++ {
		res, err := b.lookup(ctx, client, limiter, in, log)
		if err != nil {
			return out, fmt.Errorf("events of %s in %s %s: page %d: %w", accessKeyID, account, region, page, err)
		}
		batch, _ := toBatch(source, res.Events)
		out = append(out, batch.Records...)
		if res.NextToken == nil || *res.NextToken == "" {
			return out, nil
		}
		in.NextToken = res.NextToken
	}
}

func (b *Backfiller) limiter(account, region string) Limiter {
	if b.opts.Limiter != nil {
		return b.opts.Limiter
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := account + "/" + region
	l, ok := b.limiters[k]
	if !ok {
		l = NewLimiter(Rate, b.opts.Clock, b.opts.Sleep)
		b.limiters[k] = l
	}
	return l
}

// lookup calls LookupEvents within the quota, retrying throttling, server
// errors and broken connections with exponential backoff.
func (b *Backfiller) lookup(ctx context.Context, client *cloudtrail.Client, limiter Limiter, in *cloudtrail.LookupEventsInput, log zerolog.Logger) (*cloudtrail.LookupEventsOutput, error) {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		if err := limiter.Wait(ctx); err != nil {
			return nil, err
		}
		out, err := client.LookupEvents(ctx, in)
		if err == nil {
			return out, nil
		}
		if !retryable(err) || attempt >= b.opts.MaxAttempts {
			return nil, fmt.Errorf("lookup events (attempt %d): %w", attempt, err)
		}
		log.Warn().Err(err).Int("attempt", attempt).Dur("backoff", backoff).Msg("lookup events failed; retrying")
		if err := b.opts.Sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// throttleCodes are the error codes AWS uses for exceeding a quota.
var throttleCodes = map[string]bool{
	"ThrottlingException":      true,
	"Throttling":               true,
	"TooManyRequestsException": true,
	"RequestLimitExceeded":     true,
}

// retryable reports whether a failed call may succeed if tried again:
// throttling, server-side failures and broken connections (the SDK's own
// classification, which its retryer would have applied), not refusals or
// bad requests.
func retryable(err error) bool {
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && throttleCodes[ae.ErrorCode()] {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	return false
}

// toBatch parses each result's full record (the CloudTrailEvent string)
// and returns them as one batch with the time of the oldest result.
func toBatch(source string, events []types.Event) (ingest.Batch, time.Time) {
	batch := ingest.Batch{Source: source}
	var oldest time.Time
	for i, ev := range events {
		if ev.EventTime != nil && (oldest.IsZero() || ev.EventTime.Before(oldest)) {
			oldest = *ev.EventTime
		}
		if ev.CloudTrailEvent == nil || *ev.CloudTrailEvent == "" {
			batch.Problems = append(batch.Problems, ingest.Problem{
				Source: source, Line: i + 1,
				Reason: "lookup result without CloudTrailEvent", Raw: []byte(aws.ToString(ev.EventId)),
			})
			continue
		}
		got := ingest.Parse(source, []byte(*ev.CloudTrailEvent))
		batch.Records = append(batch.Records, got.Records...)
		for _, p := range got.Problems {
			p.Line = i + 1
			batch.Problems = append(batch.Problems, p)
		}
		batch.Ignored += got.Ignored
	}
	return batch, oldest
}
