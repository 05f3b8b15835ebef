package sqsource

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// deleteTimeout bounds one DeleteMessageBatch call. Deletes run on a context
// that a shutdown does not cancel: a message whose events are stored should
// leave the queue even while the source stops.
const deleteTimeout = 10 * time.Second

// deleteRequest asks the deleter to remove one message; the outcome is sent
// on done.
type deleteRequest struct {
	receipt string
	done    chan<- error
}

// runDeleter removes messages in batches of up to ten. It takes whatever
// requests are waiting when a call starts, so concurrent workers share calls
// without anyone waiting for a batch to fill. It returns once reqs is closed.
func (s *Source) runDeleter(ctx context.Context, reqs <-chan deleteRequest) {
	for req := range reqs {
		batch := []deleteRequest{req}
	collect:
		for len(batch) < maxReceiveBatch {
			select {
			case r, ok := <-reqs:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		s.deleteBatch(ctx, batch)
	}
}

func (s *Source) deleteBatch(ctx context.Context, batch []deleteRequest) {
	ctx, cancel := context.WithTimeout(ctx, deleteTimeout)
	defer cancel()
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, r := range batch {
		entries[i] = types.DeleteMessageBatchRequestEntry{
			Id:            aws.String(strconv.Itoa(i)),
			ReceiptHandle: aws.String(r.receipt),
		}
	}
	out, err := s.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(s.queueURL),
		Entries:  entries,
	})
	if err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("delete message: %w", err)
		}
		return
	}
	settled := make([]bool, len(batch))
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(batch) || settled[i] {
			continue
		}
		settled[i] = true
		batch[i].done <- fmt.Errorf("delete message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
	}
	// Entries neither reported failed are taken as deleted; SQS lists
	// every entry in one of the two lists.
	for i, r := range batch {
		if !settled[i] {
			r.done <- nil
		}
	}
}
