package sqsfake

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fixture is a fake behind an HTTP server and the real SDK client.
type fixture struct {
	srv    *Server
	clock  *clock.Fake
	client *sqs.Client
	queue  string
}

func newFixture(t *testing.T, clk clock.Clock) *fixture {
	t.Helper()
	f := &fixture{}
	if c, ok := clk.(*clock.Fake); ok {
		f.clock = c
	}
	f.srv = New(Options{Clock: clk})
	hs := httptest.NewServer(f.srv)
	t.Cleanup(hs.Close)
	f.client = sqs.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSQSFAKE", "secret", ""),
		BaseEndpoint: aws.String(hs.URL),
	})
	out, err := f.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String("events"),
		Attributes: map[string]string{"VisibilityTimeout": "30"},
	})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	f.queue = aws.ToString(out.QueueUrl)
	return f
}

func (f *fixture) send(t *testing.T, body string) string {
	t.Helper()
	out, err := f.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(f.queue), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return aws.ToString(out.MessageId)
}

// receive asks for up to n messages without waiting.
func (f *fixture) receive(t *testing.T, n int32) []types.Message {
	t.Helper()
	out, err := f.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(f.queue), MaxNumberOfMessages: n, WaitTimeSeconds: 0,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

// depth is ApproximateNumberOfMessages, …NotVisible and …Delayed.
func (f *fixture) depth(t *testing.T) [3]int {
	t.Helper()
	names := []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := f.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(f.queue), AttributeNames: names})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	var d [3]int
	for i, n := range names {
		d[i], err = strconv.Atoi(out.Attributes[string(n)])
		if err != nil {
			t.Fatalf("%s = %q", n, out.Attributes[string(n)])
		}
	}
	return d
}

func receiveCount(m types.Message) string {
	return m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]
}

// Errors reach the SDK in SQS's shape: the modelled error type, and the
// query-compatible code that code written for SQS's older protocol checks.
func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, clock.NewFake(epoch))
	f.send(t, "in flight")
	f.send(t, "visible")
	inFlight := f.receive(t, 1)[0]
	ctx := context.Background()
	missing := aws.String(f.queue + "-missing")
	tests := []struct {
		name     string
		call     func() error
		wantType any
		wantCode string
	}{
		{"receive from a missing queue", func() error {
			_, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: missing})
			return err
		}, new(*types.QueueDoesNotExist), "AWS.SimpleQueueService.NonExistentQueue"},
		{"URL of a missing queue", func() error {
			_, err := f.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
			return err
		}, new(*types.QueueDoesNotExist), "AWS.SimpleQueueService.NonExistentQueue"},
		{"delete with a handle SQS never gave", func() error {
			_, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: aws.String("not-a-handle")})
			return err
		}, new(*types.ReceiptHandleIsInvalid), "ReceiptHandleIsInvalid"},
		{"more than ten messages at once", func() error {
			_, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), MaxNumberOfMessages: 11})
			return err
		}, nil, "InvalidParameterValue"},
		{"a batch of eleven", func() error {
			entries := make([]types.DeleteMessageBatchRequestEntry, 11)
			for i := range entries {
				entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: inFlight.ReceiptHandle}
			}
			_, err := f.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(f.queue), Entries: entries})
			return err
		}, new(*types.TooManyEntriesInBatchRequest), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{"batch entry IDs repeated", func() error {
			_, err := f.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(f.queue), Entries: []types.SendMessageBatchRequestEntry{
				{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")},
			}})
			return err
		}, new(*types.BatchEntryIdsNotDistinct), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{"same queue name, other attributes", func() error {
			_, err := f.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
			return err
		}, new(*types.QueueNameExists), "QueueAlreadyExists"},
		{"visibility past twelve hours", func() error {
			_, err := f.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.queue), ReceiptHandle: inFlight.ReceiptHandle, VisibilityTimeout: 43201})
			return err
		}, nil, "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want an API error", err)
			}
			if apiErr.ErrorCode() != tc.wantCode {
				t.Errorf("code = %q, want %q", apiErr.ErrorCode(), tc.wantCode)
			}
			if tc.wantType != nil && !errors.As(err, tc.wantType) {
				t.Errorf("error %T is not %T", err, tc.wantType)
			}
		})
	}
}

// What the bot's source relies on, step by step: a received message hides
// for its visibility timeout and comes back counted again; only its latest
// receipt handle deletes it or changes its visibility; a visibility of
// zero hands it back at once; the queue's counts follow.
func TestMessageLifecycle(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	f := newFixture(t, clk)
	ctx := context.Background()
	id := f.send(t, `{"detail":"one"}`)

	first := f.receive(t, 10)
	if len(first) != 1 || aws.ToString(first[0].MessageId) != id || aws.ToString(first[0].Body) != `{"detail":"one"}` || receiveCount(first[0]) != "1" {
		t.Fatalf("first receive = %+v, want the message once, receive count 1", first)
	}
	if got := f.receive(t, 10); len(got) != 0 {
		t.Fatalf("received %d messages while the only one is in flight", len(got))
	}
	if d := f.depth(t); d != [3]int{0, 1, 0} {
		t.Errorf("depth in flight = %v, want [0 1 0]", d)
	}

	clk.Advance(31 * time.Second)
	if d := f.depth(t); d != [3]int{1, 0, 0} {
		t.Errorf("depth after the visibility ran out = %v, want [1 0 0]", d)
	}
	_, err := f.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.queue), ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 30})
	var notInflight *types.MessageNotInflight
	if !errors.As(err, &notInflight) {
		t.Errorf("extending a message no longer in flight: %v, want MessageNotInflight", err)
	}
	second := f.receive(t, 10)
	if len(second) != 1 || aws.ToString(second[0].MessageId) != id || receiveCount(second[0]) != "2" {
		t.Fatalf("receive after expiry = %+v, want the message again, receive count 2", second)
	}
	if aws.ToString(second[0].ReceiptHandle) == aws.ToString(first[0].ReceiptHandle) {
		t.Error("a new receive kept the old receipt handle")
	}

	// The first receiver's handle is stale: SQS accepts the delete but
	// keeps the message, and refuses to change its visibility.
	if _, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: first[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete with a stale handle: %v", err)
	}
	if d := f.depth(t); d != [3]int{0, 1, 0} {
		t.Errorf("depth after a stale delete = %v, want [0 1 0]", d)
	}
	_, err = f.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.queue), ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0})
	if apiErr := (smithy.APIError)(nil); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("change visibility with a stale handle: %v, want InvalidParameterValue", err)
	}

	// Handing it back makes it visible without waiting.
	if _, err := f.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.queue), ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("hand back: %v", err)
	}
	third := f.receive(t, 10)
	if len(third) != 1 || receiveCount(third[0]) != "3" {
		t.Fatalf("receive after hand-back = %+v, want the message, receive count 3", third)
	}
	if _, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: third[0].ReceiptHandle}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if d := f.depth(t); d != [3]int{0, 0, 0} {
		t.Errorf("depth after delete = %v, want empty", d)
	}
	// Deleting again is not an error, as with SQS.
	if _, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: third[0].ReceiptHandle}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	clk.Advance(time.Hour)
	if got := f.receive(t, 10); len(got) != 0 {
		t.Errorf("a deleted message came back: %+v", got)
	}
}

// Batch calls settle each entry on its own: one bad entry fails alone.
func TestBatches(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(epoch)
	f := newFixture(t, clk)
	ctx := context.Background()
	var entries []types.SendMessageBatchRequestEntry
	for i := range 5 {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String("e" + strconv.Itoa(i)), MessageBody: aws.String("body " + strconv.Itoa(i))})
	}
	entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String("late"), MessageBody: aws.String("delayed"), DelaySeconds: 60})
	sent, err := f.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(f.queue), Entries: entries})
	if err != nil || len(sent.Successful) != 6 || len(sent.Failed) != 0 {
		t.Fatalf("SendMessageBatch = %+v, %v; want six sent", sent, err)
	}
	if d := f.depth(t); d != [3]int{5, 0, 1} {
		t.Errorf("depth = %v, want five visible and one delayed", d)
	}
	got := f.receive(t, 10)
	if len(got) != 5 {
		t.Fatalf("received %d, want the five not delayed", len(got))
	}
	for i, m := range got {
		if want := "body " + strconv.Itoa(i); aws.ToString(m.Body) != want {
			t.Errorf("message %d body %q, want %q (in the order sent)", i, aws.ToString(m.Body), want)
		}
	}

	tests := []struct {
		name       string
		call       func() ([]string, []string, error)
		wantOK     []string
		wantFailed []string
		wantDepth  [3]int
	}{
		{"change visibility, one handle invalid", func() ([]string, []string, error) {
			out, err := f.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(f.queue), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
				{Id: aws.String("a"), ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 0},
				{Id: aws.String("b"), ReceiptHandle: aws.String("junk"), VisibilityTimeout: 0},
			}})
			if err != nil {
				return nil, nil, err
			}
			return idsOf(out.Successful, func(e types.ChangeMessageVisibilityBatchResultEntry) *string { return e.Id }), failedIDs(out.Failed), nil
		}, []string{"a"}, []string{"b"}, [3]int{1, 4, 1}},
		{"delete four, one handle invalid", func() ([]string, []string, error) {
			in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(f.queue)}
			for i, m := range got[1:] {
				in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			}
			in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String("bad"), ReceiptHandle: aws.String("junk")})
			out, err := f.client.DeleteMessageBatch(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			return idsOf(out.Successful, func(e types.DeleteMessageBatchResultEntry) *string { return e.Id }), failedIDs(out.Failed), nil
		}, []string{"0", "1", "2", "3"}, []string{"bad"}, [3]int{1, 0, 1}},
		{"purge", func() ([]string, []string, error) {
			_, err := f.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(f.queue)})
			return nil, nil, err
		}, nil, nil, [3]int{0, 0, 0}},
	}
	for _, tc := range tests {
		ok, failed, err := tc.call()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !equal(ok, tc.wantOK) || !equal(failed, tc.wantFailed) {
			t.Errorf("%s: succeeded %v failed %v, want %v and %v", tc.name, ok, failed, tc.wantOK, tc.wantFailed)
		}
		if d := f.depth(t); d != tc.wantDepth {
			t.Errorf("%s: depth %v, want %v", tc.name, d, tc.wantDepth)
		}
	}
}

func idsOf[E any](es []E, id func(E) *string) []string {
	var out []string
	for _, e := range es {
		out = append(out, aws.ToString(id(e)))
	}
	return out
}

func failedIDs(es []types.BatchResultErrorEntry) []string {
	return idsOf(es, func(e types.BatchResultErrorEntry) *string { return e.Id })
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Message attributes travel with their digest, which the SDK checks, and
// only those asked for come back.
func TestMessageAttributes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, clock.NewFake(epoch))
	ctx := context.Background()
	sent, err := f.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.queue), MessageBody: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"trace.id": {DataType: aws.String("String"), StringValue: aws.String("abc")},
			"blob":     {DataType: aws.String("Binary"), BinaryValue: []byte{1, 2, 3}},
		}})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	// SQS's digest of {blob: Binary 010203, trace.id: String abc},
	// computed apart from the fake.
	if got := aws.ToString(sent.MD5OfMessageAttributes); got != "ffdc997fef71fd6e575ad6fa6b504b51" {
		t.Errorf("MD5OfMessageAttributes = %q", got)
	}
	out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), MessageAttributeNames: []string{"trace.*"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %+v, %v", out, err)
	}
	m := out.Messages[0]
	if len(m.MessageAttributes) != 1 || aws.ToString(m.MessageAttributes["trace.id"].StringValue) != "abc" {
		t.Errorf("attributes = %+v, want trace.id alone", m.MessageAttributes)
	}
	if m.Attributes["SentTimestamp"] != strconv.FormatInt(epoch.UnixMilli(), 10) || receiveCount(m) != "1" {
		t.Errorf("system attributes = %v", m.Attributes)
	}
}

// A long poll answers as soon as a message can be received: when one is
// sent, when one is handed back, and when one's visibility runs out. The
// receive's context ends long before its 20 s wait would, so a poll that
// only answered at the end of its wait fails the test.
func TestLongPollWakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare runs before the poll starts; wake once it waits.
		prepare func(t *testing.T, f *fixture) (wake func())
		wantN   string
	}{
		{"a message is sent", func(t *testing.T, f *fixture) func() {
			return func() { f.send(t, "woken") }
		}, "1"},
		{"a message is handed back", func(t *testing.T, f *fixture) func() {
			f.send(t, "woken")
			m := f.receive(t, 1)[0]
			return func() {
				if _, err := f.client.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(f.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Errorf("hand back: %v", err)
				}
			}
		}, "2"},
		{"a visibility runs out", func(t *testing.T, f *fixture) func() {
			f.send(t, "woken")
			if _, err := f.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), VisibilityTimeout: 1}); err != nil {
				t.Fatalf("receive: %v", err)
			}
			return func() {}
		}, "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, clock.Real{})
			wake := tc.prepare(t, f)
			type result struct {
				out *sqs.ReceiveMessageOutput
				err error
			}
			done := make(chan result, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go func() {
				out, err := f.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), WaitTimeSeconds: 20, MaxNumberOfMessages: 10,
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
				done <- result{out, err}
			}()
			f.srv.waitPolls(t, 1)
			wake()
			r := <-done
			if r.err != nil {
				t.Fatalf("long poll: %v", r.err)
			}
			if len(r.out.Messages) != 1 || aws.ToString(r.out.Messages[0].Body) != "woken" || receiveCount(r.out.Messages[0]) != tc.wantN {
				t.Errorf("long poll got %+v, want the message, receive count %s", r.out.Messages, tc.wantN)
			}
		})
	}
}

// waitPolls waits until n long polls are waiting for messages. The bound
// is generous: on a busy machine the client's request may take seconds to
// reach the server, and the test waits only as long as it must.
func (s *Server) waitPolls(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		s.mu.Lock()
		waiting := s.polls
		s.mu.Unlock()
		if waiting >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no long poll is waiting")
}

// Beside the other AWS fakes, the server answers what awsfake routes to
// SQS by the request's credential scope.
func TestBehindAWSFake(t *testing.T) {
	t.Parallel()
	fakes := awsfake.New()
	t.Cleanup(fakes.Close)
	fakes.Handle("sqs", New(Options{}))
	client := sqs.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSQSFAKE", "secret", ""),
		BaseEndpoint: aws.String(fakes.URL()),
	})
	ctx := context.Background()
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("routed")})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "hello" {
		t.Fatalf("ReceiveMessage = %+v, %v; want the message", out, err)
	}
	if calls := fakes.CallsTo("sqs", "ReceiveMessage"); len(calls) != 1 {
		t.Errorf("awsfake recorded %d receives, want 1", len(calls))
	}
}
