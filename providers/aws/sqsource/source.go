// Package sqsource reads CloudTrail events from an SQS queue and hands them
// to an ingest.Sink.
//
// The queue may carry EventBridge events (one CloudTrail record each), S3
// event notifications or CloudTrail's own SNS notifications that point at log
// files in S3, and either kind wrapped in an SNS envelope. A message leaves the
// queue only once the sink has durably stored everything it carried, so a
// crash or a failing sink never loses an event: the message becomes visible
// again and, after the queue's maxReceiveCount, moves to its dead-letter queue.
//
// Messages worked on together share sink calls (group commit): while the sink
// is busy, the records of the messages waiting for it are stored in one call,
// and each of those messages is deleted only if that call succeeded. A
// message that comes back after a failure is stored on its own.
package sqsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// Limits SQS sets on ReceiveMessage.
const (
	maxReceiveBatch = 10
	maxWaitTime     = 20 * time.Second
	maxVisibility   = 12 * time.Hour
)

// Options tunes a Source. The zero value gives production defaults.
type Options struct {
	// WaitTime is the long-poll wait of each ReceiveMessage call, 1–20s
	// (default 20s, the SQS maximum). Whole seconds only.
	WaitTime time.Duration
	// VisibilityTimeout is requested for every received message and renewed
	// every half of it while the message is being worked on (default 30s).
	// Whole seconds only, from one second to 12 hours.
	VisibilityTimeout time.Duration
	// Concurrency is how many sink calls (store transactions) run at once,
	// and how many messages fetch log files from S3 at once (default 4).
	Concurrency int
	// MaxInFlight is how many messages are held at once, received and not
	// yet deleted or handed back (default 100, and never below
	// Concurrency). Messages whose records wait for a busy sink are stored
	// together in one sink call, so this also bounds how many messages
	// share a transaction.
	MaxInFlight int
	// MaxBatch is the most records and problems one sink call carries when
	// batches of several messages are combined (default 5,000); a message
	// that carries more is stored on its own.
	MaxBatch int
	// ShutdownGrace bounds how long Run waits for in-flight messages once its
	// context is cancelled (default 30s). Work still running then is
	// cancelled and its messages are left on the queue.
	ShutdownGrace time.Duration
	// RetryBackoff, when positive, hides a message that failed for a
	// transient reason for RetryBackoff × 2^(receives−1), at most
	// MaxRetryBackoff, instead of letting it reappear when its current
	// visibility runs out. Backing off spares a failing sink and keeps a
	// short outage from exhausting the queue's maxReceiveCount.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps RetryBackoff (default 15m).
	MaxRetryBackoff time.Duration
	// StoreTimeout bounds one sink call (one store transaction) once it
	// has started (default 30s). A database that stops answering without
	// closing its connections (a silent network partition, a failover
	// whose old host vanished) would otherwise hold the message, kept
	// invisible by its heartbeat, until TCP gives up many minutes later;
	// past the timeout the call fails and the message is retried.
	StoreTimeout time.Duration
	// MaxObjectSize is the largest log file read from S3 (default 256 MiB,
	// compressed). Larger objects are reported as problems, not read.
	MaxObjectSize int64
	// Limits caps what one log file or message may cost to read: what it
	// may decompress to, the largest record and line (zero fields take
	// ingest's defaults). A log file that breaks a cap is reported as a
	// problem, with the records read around it kept.
	Limits ingest.Limits
	// MaxMemory bounds the memory all workers together may hold for what
	// they read at once (default 256 MiB). Each log file read reserves
	// Limits.StreamMemory of it, and each message body twelve times its
	// size (at most all of it), until what it carried is stored, so that
	// more workers, more messages in flight or bigger files never add up
	// to more than this.
	MaxMemory int64
	// Stored, when set, is told how long each message took from its
	// receipt to everything it carried being stored (metrics), as Clock
	// measures it.
	Stored func(time.Duration)
	// Clock times the messages for Stored; the wall clock when nil.
	Clock clock.Clock
	// SQSOptions and S3Options adjust the service clients built from the
	// aws.Config, for example path-style addressing for an S3-compatible
	// store.
	SQSOptions []func(*sqs.Options)
	S3Options  []func(*s3.Options)
}

func (o Options) withDefaults() Options {
	// SQS accepts a long-poll wait of 1–20s (0 would be a short poll that
	// spins on an empty queue) and a visibility of at most 12 hours.
	if o.WaitTime < time.Second || o.WaitTime > maxWaitTime {
		o.WaitTime = maxWaitTime
	}
	if o.VisibilityTimeout < time.Second {
		o.VisibilityTimeout = 30 * time.Second
	}
	o.VisibilityTimeout = min(o.VisibilityTimeout, maxVisibility)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 100
	}
	o.MaxInFlight = max(o.MaxInFlight, o.Concurrency)
	if o.MaxBatch <= 0 {
		o.MaxBatch = 5000
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 30 * time.Second
	}
	if o.MaxRetryBackoff <= 0 {
		o.MaxRetryBackoff = 15 * time.Minute
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 256 << 20
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 30 * time.Second
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return o
}

// DefaultMaxMemory is the default of Options.MaxMemory: with ingest's
// default limits, four log files read at once, one per default worker.
const DefaultMaxMemory = 256 << 20

// Source consumes one SQS queue.
type Source struct {
	sqs      *sqs.Client
	s3       *s3.Client
	queueURL string
	log      zerolog.Logger
	opts     Options
	// combined stores the batches of concurrent messages together.
	combined *combiner
	// fetches bounds the messages reading log files from S3 at once.
	fetches chan struct{}
	// memory is the byte budget of every body and log file being read,
	// shared by all workers; each log file read reserves perRead bytes.
	memory  *semaphore.Weighted
	perRead int64
}

// New returns a Source for queueURL. Endpoints and credentials come from cfg
// (the SDK honours AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_S3 itself).
func New(cfg aws.Config, queueURL string, sink ingest.Sink, log zerolog.Logger, opts Options) *Source {
	opts = opts.withDefaults()
	return &Source{
		sqs:      sqs.NewFromConfig(cfg, opts.SQSOptions...),
		s3:       s3.NewFromConfig(cfg, opts.S3Options...),
		queueURL: queueURL,
		log:      log.With().Str("queue", queueURL).Logger(),
		opts:     opts,
		combined: newCombiner(sink, opts.Concurrency, opts.MaxBatch, opts.StoreTimeout),
		fetches:  make(chan struct{}, opts.Concurrency),
		memory:   semaphore.NewWeighted(opts.MaxMemory),
		perRead:  min(opts.Limits.StreamMemory(), opts.MaxMemory),
	}
}

// Run receives and processes messages until ctx is cancelled, then stops
// receiving and waits up to the shutdown grace period for messages in
// flight. It returns nil after a shutdown and an error only when the queue
// does not exist, which no retry can fix.
func (s *Source) Run(ctx context.Context) error {
	// In-flight work outlives ctx so that a shutdown finishes what it
	// started; cancelWork ends it when the grace period is over.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	deletes := make(chan deleteRequest)
	deleterDone := make(chan struct{})
	go func() {
		defer close(deleterDone)
		s.runDeleter(context.WithoutCancel(ctx), deletes)
	}()

	var inflight sync.WaitGroup
	s.log.Info().Int("concurrency", s.opts.Concurrency).Int("max_in_flight", s.opts.MaxInFlight).Msg("sqs source started")
	err := s.receiveLoop(ctx, workCtx, deletes, &inflight)

	finished := make(chan struct{})
	go func() {
		inflight.Wait()
		close(finished)
	}()
	grace := time.NewTimer(s.opts.ShutdownGrace)
	select {
	case <-finished:
	case <-grace.C:
		s.log.Warn().Dur("grace", s.opts.ShutdownGrace).Msg("shutdown grace period over; abandoning in-flight messages to the queue")
		cancelWork()
		<-finished
	}
	grace.Stop()
	close(deletes)
	<-deleterDone
	s.log.Info().Msg("sqs source stopped")
	return err
}

// receiveLoop asks for as many messages as there is room for in flight, so
// that no message sits received but untouched while its visibility runs out
// and other consumers of the queue could have taken it.
func (s *Source) receiveLoop(ctx, workCtx context.Context, deletes chan<- deleteRequest, inflight *sync.WaitGroup) error {
	slots := make(chan struct{}, s.opts.MaxInFlight)
	var failures int
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		want := 1
	fill:
		for want < maxReceiveBatch {
			select {
			case slots <- struct{}{}:
				want++
			default:
				break fill
			}
		}

		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.queueURL),
			MaxNumberOfMessages:         int32(want),
			WaitTimeSeconds:             int32(s.opts.WaitTime / time.Second),
			VisibilityTimeout:           s.visibilitySeconds(),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		})
		var msgs []types.Message
		if err == nil {
			msgs = out.Messages
		}
		for range want - len(msgs) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isQueueMissing(err) {
				return fmt.Errorf("receive from %s: %w", s.queueURL, err)
			}
			failures++
			delay := receiveBackoff(failures)
			s.log.Error().Err(err).Dur("retry_in", delay).Msg("receive messages")
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		failures = 0
		received := s.opts.Clock.Now()
		for _, m := range msgs {
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-slots }()
				s.handle(workCtx, m, received, deletes)
			}()
		}
	}
}

func (s *Source) visibilitySeconds() int32 {
	return int32(s.opts.VisibilityTimeout / time.Second)
}

// receiveBackoff grows from one second to half a minute so that an outage
// of SQS or of the network is neither hammered nor noticed late.
func receiveBackoff(failures int) time.Duration {
	d := time.Second << min(failures-1, 5)
	return min(d, 30*time.Second)
}

// sleep waits for d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func isQueueMissing(err error) bool {
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist":
			return true
		}
	}
	return false
}
