package sqsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest"
)

// releaseTimeout bounds the calls that hand a message back to the queue
// after its work was cancelled by a shutdown.
const releaseTimeout = 5 * time.Second

// handle processes one message and settles it with the queue: deleted once
// everything it carried is stored, otherwise left to reappear.
func (s *Source) handle(ctx context.Context, m types.Message, received time.Time, deletes chan<- deleteRequest) {
	id := aws.ToString(m.MessageId)
	receives := receiveCount(m)
	log := s.log.With().Str("message_id", id).Int("receive_count", receives).Logger()

	stopHeartbeat := s.startHeartbeat(ctx, m.ReceiptHandle, log)
	stats, err := s.process(ctx, m, receives > 1, log)
	if err != nil {
		stopHeartbeat()
		s.retryLater(ctx, m.ReceiptHandle, receives, log, err)
		return
	}
	if s.opts.Stored != nil {
		s.opts.Stored(s.opts.Clock.Now().Sub(received))
	}

	done := make(chan error, 1)
	deletes <- deleteRequest{receipt: aws.ToString(m.ReceiptHandle), done: done}
	err = <-done
	// The heartbeat runs until the delete is settled so that the message
	// cannot reappear between the sink's success and its removal.
	stopHeartbeat()
	if err != nil {
		// The message comes back and is ingested again; the sink keys
		// records by event ID, so the repeat is harmless.
		log.Warn().Err(err).Msg("message processed but not deleted; it will be delivered again")
		return
	}
	ev := log.Debug()
	if stats.problems > 0 {
		ev = log.Info()
	}
	ev.Int("records", stats.records).Int("problems", stats.problems).Int("ignored", stats.ignored).
		Int("objects", stats.objects).Str("skipped", stats.skip).Msg("message processed")
}

// stats summarise what one message carried, for the log.
type stats struct {
	records, problems, ignored, objects int
	skip                                string
}

func (st *stats) add(b ingest.Batch) {
	st.records += len(b.Records)
	st.problems += len(b.Problems)
	st.ignored += b.Ignored
}

// process hands everything the message carries to the sink. An error means
// a transient failure: nothing malformed makes process fail, since the sink
// keeps the raw bytes of every problem. With alone set its batches are not
// combined with other messages'.
func (s *Source) process(ctx context.Context, m types.Message, alone bool, log zerolog.Logger) (stats, error) {
	source := "sqs:" + aws.ToString(m.MessageId)
	c := decodeBody(source, []byte(aws.ToString(m.Body)))
	st := stats{skip: c.skip, ignored: c.ignored, objects: len(c.objects)}
	if c.skip != "" {
		log.Info().Str("reason", c.skip).Msg("message carries no events; deleting it")
		return st, nil
	}
	if c.events != nil {
		if err := s.events(ctx, source, c.events, alone, &st); err != nil {
			return st, err
		}
	}
	if len(c.problems) > 0 {
		if err := s.ingest(ctx, ingest.Batch{Source: source, Problems: c.problems}, alone, &st); err != nil {
			return st, err
		}
	}
	if len(c.objects) == 0 {
		return st, nil
	}
	select {
	case s.fetches <- struct{}{}:
		defer func() { <-s.fetches }()
	case <-ctx.Done():
		return st, ctx.Err()
	}
	for _, obj := range c.objects {
		if err := s.fetch(ctx, obj, alone, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// events hands over the events a message body carries. A body is at most
// a megabyte and is parsed whole, holding its share of the memory budget
// until its records are stored, unless it is gzip, which could expand a
// thousandfold: that is read as a stream.
func (s *Source) events(ctx context.Context, source string, body []byte, alone bool, st *stats) error {
	if bytes.HasPrefix(body, gzipMagic) {
		return s.read(ctx, source, bytes.NewReader(body), alone, st)
	}
	n := min(int64(len(body))*bodyExpansion, s.opts.MaxMemory)
	if err := s.memory.Acquire(ctx, n); err != nil {
		return err
	}
	defer s.memory.Release(n)
	return s.ingest(ctx, ingest.ParseLimits(source, body, s.opts.Limits), alone, st)
}

// bodyExpansion bounds what a parsed body holds per byte: a record is at
// least about 60 bytes of JSON and costs about 500 more once decoded, and
// problems are capped in number.
const bodyExpansion = 12

var gzipMagic = []byte{0x1f, 0x8b}

// read streams one log file or payload to the sink a batch at a time,
// holding a share of the memory budget while it does. Errors are the
// sink's or the reader's.
func (s *Source) read(ctx context.Context, source string, r io.Reader, alone bool, st *stats) error {
	if err := s.memory.Acquire(ctx, s.perRead); err != nil {
		return err
	}
	defer s.memory.Release(s.perRead)
	return ingest.Stream(ctx, source, r, s.opts.Limits, func(b ingest.Batch) error {
		return s.ingest(ctx, b, alone, st)
	})
}

// ingest stores one batch; a batch with nothing to store is not sent.
func (s *Source) ingest(ctx context.Context, b ingest.Batch, alone bool, st *stats) error {
	st.add(b)
	if len(b.Records) == 0 && len(b.Problems) == 0 {
		return nil
	}
	if err := s.combined.ingest(ctx, b, alone); err != nil {
		return fmt.Errorf("ingest %s: %w", b.Source, err)
	}
	return nil
}

// errObjectTooLarge ends a log file read past MaxObjectSize.
var errObjectTooLarge = errors.New("log file exceeds the size limit")

// objectCap passes on at most left bytes of an object's body, then
// errObjectTooLarge if there is more.
type objectCap struct {
	r    io.Reader
	left int64
}

func (c *objectCap) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, err := c.r.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errObjectTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// fetch reads a log file and hands it to the sink as it is read, a batch
// at a time, so that no file is ever held whole. A missing or oversized
// object is reported to the sink as a problem, since no retry would make it
// readable; any other failure is transient, and the message is read again
// from its start.
func (s *Source) fetch(ctx context.Context, obj objectRef, alone bool, st *stats) error {
	source := obj.String()
	var optFns []func(*s3.Options)
	if obj.Region != "" {
		optFns = append(optFns, func(o *s3.Options) { o.Region = obj.Region })
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(obj.Bucket),
		Key:    aws.String(obj.Key),
	}, optFns...)
	if err != nil {
		var missing *s3types.NoSuchKey
		if errors.As(err, &missing) {
			return s.ingest(ctx, problemBatch(source, "log file no longer exists"), alone, st)
		}
		return fmt.Errorf("get %s: %w", source, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > s.opts.MaxObjectSize {
		return s.ingest(ctx, problemBatch(source, fmt.Sprintf("log file of %d bytes exceeds the %d byte limit", *out.ContentLength, s.opts.MaxObjectSize)), alone, st)
	}
	err = s.read(ctx, source, &objectCap{r: out.Body, left: s.opts.MaxObjectSize}, alone, st)
	if errors.Is(err, errObjectTooLarge) {
		return s.ingest(ctx, problemBatch(source, fmt.Sprintf("log file exceeds the %d byte limit", s.opts.MaxObjectSize)), alone, st)
	}
	return err
}

func problemBatch(source, reason string) ingest.Batch {
	return ingest.Batch{Source: source, Problems: []ingest.Problem{{Source: source, Reason: reason}}}
}

// startHeartbeat keeps the message hidden from other consumers while it is
// worked on by renewing its visibility every half timeout. The returned
// function stops the heartbeat and waits for it to end.
func (s *Source) startHeartbeat(ctx context.Context, receipt *string, log zerolog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.opts.VisibilityTimeout / 2)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			_, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(s.queueURL),
				ReceiptHandle:     receipt,
				VisibilityTimeout: s.visibilitySeconds(),
			})
			if err != nil && ctx.Err() == nil {
				// Work goes on: if the message reappears elsewhere it
				// is ingested twice, which the sink tolerates.
				log.Warn().Err(err).Msg("extend message visibility")
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// retryLater leaves a message that failed on the queue. After a shutdown
// cancelled its work it is made visible at once for another consumer;
// otherwise it is hidden for the retry backoff, if one is configured.
func (s *Source) retryLater(ctx context.Context, receipt *string, receives int, log zerolog.Logger, cause error) {
	var visibility time.Duration
	if ctx.Err() != nil {
		log.Warn().Err(cause).Msg("message work cancelled by shutdown; returning it to the queue")
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
	} else {
		visibility = retryBackoff(s.opts.RetryBackoff, s.opts.MaxRetryBackoff, receives)
		log.Warn().Err(cause).Dur("retry_in", visibility).Msg("message left on the queue for retry")
		if visibility == 0 {
			return
		}
	}
	_, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(s.queueURL),
		ReceiptHandle:     receipt,
		VisibilityTimeout: int32(visibility / time.Second),
	})
	if err != nil && !isReceiptGone(err) {
		log.Warn().Err(err).Msg("change message visibility for retry")
	}
}

// retryBackoff doubles base with each receive, up to limit; a zero base
// leaves the message's visibility alone.
func retryBackoff(base, limit time.Duration, receives int) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < receives && d < limit; i++ {
		d *= 2
	}
	// SQS counts visibility in whole seconds; round up so a sub-second
	// base does not turn into "visible now".
	d = min(d, limit)
	return (d + time.Second - 1).Truncate(time.Second)
}

func receiveCount(m types.Message) int {
	n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil {
		return 1
	}
	return n
}

// isReceiptGone reports whether the message is no longer ours to change:
// its visibility already ran out or it was deleted.
func isReceiptGone(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "MessageNotInflight", "ReceiptHandleIsInvalid", "AWS.SimpleQueueService.MessageNotInflight", "InvalidParameterValue":
		return true
	}
	return false
}
