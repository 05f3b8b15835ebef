// Package sqsfake is an in-memory Amazon SQS standard queue service that
// speaks the JSON 1.0 protocol current SDKs use (X-Amz-Target:
// AmazonSQS.<Operation>), so tests and benchmarks reach it through the
// real aws-sdk-go-v2 sqs client.
//
// It behaves as SQS does where the bot's timing and delivery guarantees
// depend on it: a long poll answers as soon as a message is visible (not on
// a polling interval), a received message stays hidden for its visibility
// timeout and then comes back with its receive count raised, only the
// latest receipt handle changes or deletes a message, and errors carry the
// modelled error shape (`__type`) with the query-compatible code
// (X-Amzn-Query-Error) the SDK reports. Ordering is first in, first out as
// far as visibility allows; SQS promises no order on standard queues.
//
// Server is an http.Handler: serve it with httptest, or register it with
// awsfake.Server.Handle("sqs", …) beside the other AWS fakes.
package sqsfake

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secops-bot/secops-bot/internal/clock"
)

// Options configures a Server.
type Options struct {
	// Account is the account ID in queue URLs (default 123456789012).
	Account string
	// Clock decides when hidden messages become visible again (default the
	// wall clock). Long polls still wait in real time; with a fake clock a
	// test advances it and receives again.
	Clock clock.Clock
}

// Server is a set of SQS queues.
type Server struct {
	account string
	clock   clock.Clock

	mu     sync.Mutex
	queues map[string]*queue
	// polls counts the long polls waiting for a message.
	polls int
}

// New returns a server with no queues.
func New(opts Options) *Server {
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Server{account: opts.Account, clock: opts.Clock, queues: map[string]*queue{}}
}

// apiError is an answer in SQS's JSON error shape.
type apiError struct {
	status int
	shape  string // the modelled error name, "" for an unmodelled code
	code   string // the query-compatible code the SDK reports
	sender bool
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errQueueMissing() *apiError {
	return &apiError{http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", true, "The specified queue does not exist."}
}

func errInvalidParameter(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "", "InvalidParameterValue", true, fmt.Sprintf(format, args...)}
}

func errReceiptInvalid(handle string) *apiError {
	return &apiError{http.StatusBadRequest, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", true,
		fmt.Sprintf("The input receipt handle %q is not a valid receipt handle.", handle)}
}

// ServeHTTP answers one SQS JSON request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSQS.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{http.StatusBadRequest, "", "InvalidAction", true, fmt.Sprintf("unsupported target %q", target)})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, errInvalidParameter("read request: %v", err))
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	handler, ok := s.operations()[op]
	if !ok {
		writeError(w, &apiError{http.StatusBadRequest, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", true, "operation " + op + " is not supported by the fake"})
		return
	}
	out, apiErr := handler(r.Context(), body, baseURL(r))
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

type operation func(ctx context.Context, body []byte, base string) (any, *apiError)

func (s *Server) operations() map[string]operation {
	return map[string]operation{
		"CreateQueue":                  decoded(s.createQueue),
		"GetQueueUrl":                  decoded(s.getQueueURL),
		"ListQueues":                   decoded(s.listQueues),
		"DeleteQueue":                  decoded(s.deleteQueue),
		"GetQueueAttributes":           decoded(s.getQueueAttributes),
		"SetQueueAttributes":           decoded(s.setQueueAttributes),
		"PurgeQueue":                   decoded(s.purgeQueue),
		"SendMessage":                  decoded(s.sendMessage),
		"SendMessageBatch":             decoded(s.sendMessageBatch),
		"ReceiveMessage":               decoded(s.receiveMessage),
		"DeleteMessage":                decoded(s.deleteMessage),
		"DeleteMessageBatch":           decoded(s.deleteMessageBatch),
		"ChangeMessageVisibility":      decoded(s.changeMessageVisibility),
		"ChangeMessageVisibilityBatch": decoded(s.changeMessageVisibilityBatch),
	}
}

// decoded adapts an operation taking its input struct.
func decoded[In any](f func(ctx context.Context, in In, base string) (any, *apiError)) operation {
	return func(ctx context.Context, body []byte, base string) (any, *apiError) {
		var in In
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, &apiError{http.StatusBadRequest, "", "SerializationException", true, err.Error()}
		}
		return f(ctx, in, base)
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	typ := e.code
	if e.shape != "" {
		typ = "com.amazonaws.sqs#" + e.shape
	}
	fault := "Receiver"
	if e.sender {
		fault = "Sender"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", e.code+";"+fault)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": e.msg})
}

// baseURL is the scheme and host the client called, for queue URLs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// queueByURL finds the queue a QueueUrl names by its last path segment, so
// that a URL stays valid whichever host name reached the server.
func (s *Server) queueByURL(url string) (*queue, *apiError) {
	name := url[strings.LastIndexByte(url, '/')+1:]
	q, ok := s.queues[name]
	if !ok || name == "" {
		return nil, errQueueMissing()
	}
	return q, nil
}

type createQueueInput struct {
	QueueName  string
	Attributes map[string]string
}

func (s *Server) createQueue(_ context.Context, in createQueueInput, base string) (any, *apiError) {
	if in.QueueName == "" || len(in.QueueName) > 80 || strings.ContainsAny(in.QueueName, "/:. ") {
		return nil, errInvalidParameter("Value %q for parameter QueueName is invalid.", in.QueueName)
	}
	for k, v := range in.Attributes {
		if err := checkQueueAttribute(k, v); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[in.QueueName]; ok {
		for k, v := range in.Attributes {
			if q.attributes[k] != v {
				return nil, &apiError{http.StatusBadRequest, "QueueNameExists", "QueueAlreadyExists", true,
					"A queue already exists with the same name and a different value for attribute " + k}
			}
		}
		return map[string]string{"QueueUrl": q.url}, nil
	}
	q := newQueue(in.QueueName, base+"/"+s.account+"/"+in.QueueName, in.Attributes, s.clock.Now())
	s.queues[in.QueueName] = q
	return map[string]string{"QueueUrl": q.url}, nil
}

// checkQueueAttribute refuses the attributes whose values the fake acts on
// when they are out of SQS's range.
func checkQueueAttribute(name, value string) *apiError {
	limits := map[string][2]int{"VisibilityTimeout": {0, 43200}, "DelaySeconds": {0, 900}, "ReceiveMessageWaitTimeSeconds": {0, 20}}
	lim, ok := limits[name]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < lim[0] || n > lim[1] {
		return &apiError{http.StatusBadRequest, "InvalidAttributeValue", "InvalidAttributeValue", true,
			fmt.Sprintf("Invalid value for the parameter %s.", name)}
	}
	return nil
}

type getQueueURLInput struct{ QueueName string }

func (s *Server) getQueueURL(_ context.Context, in getQueueURLInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[in.QueueName]
	if !ok {
		return nil, errQueueMissing()
	}
	return map[string]string{"QueueUrl": q.url}, nil
}

type listQueuesInput struct{ QueueNamePrefix string }

func (s *Server) listQueues(_ context.Context, in listQueuesInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	urls := []string{}
	for name, q := range s.queues {
		if strings.HasPrefix(name, in.QueueNamePrefix) {
			urls = append(urls, q.url)
		}
	}
	sort.Strings(urls)
	return map[string][]string{"QueueUrls": urls}, nil
}

type queueURLInput struct{ QueueUrl string }

func (s *Server) deleteQueue(_ context.Context, in queueURLInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	delete(s.queues, q.name)
	q.wake()
	return struct{}{}, nil
}

func (s *Server) purgeQueue(_ context.Context, in queueURLInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	q.purge()
	return struct{}{}, nil
}

type getQueueAttributesInput struct {
	QueueUrl       string
	AttributeNames []string
}

func (s *Server) getQueueAttributes(_ context.Context, in getQueueAttributesInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	q.reveal(s.clock.Now())
	visible, notVisible, delayed := q.counts()
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(notVisible),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"QueueArn":                              "arn:aws:sqs:us-east-1:" + s.account + ":" + q.name,
	}
	for k, v := range q.attributes {
		all[k] = v
	}
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			out = all
			break
		}
		v, ok := all[name]
		if !ok {
			return nil, &apiError{http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName", true, "Unknown Attribute " + name + "."}
		}
		out[name] = v
	}
	return map[string]map[string]string{"Attributes": out}, nil
}

type setQueueAttributesInput struct {
	QueueUrl   string
	Attributes map[string]string
}

func (s *Server) setQueueAttributes(_ context.Context, in setQueueAttributesInput, _ string) (any, *apiError) {
	for k, v := range in.Attributes {
		if err := checkQueueAttribute(k, v); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for k, v := range in.Attributes {
		q.attributes[k] = v
	}
	return struct{}{}, nil
}

type sendEntry struct {
	Id                string
	MessageBody       string
	DelaySeconds      *int32
	MessageAttributes map[string]messageAttribute
}

type sendMessageInput struct {
	QueueUrl string
	sendEntry
}

type sendResult struct {
	Id                     string `json:"Id,omitempty"`
	MessageId              string
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

func (s *Server) sendMessage(_ context.Context, in sendMessageInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return s.send(q, in.sendEntry)
}

// send puts one message on q; the caller holds the lock.
func (s *Server) send(q *queue, in sendEntry) (sendResult, *apiError) {
	if in.MessageBody == "" {
		return sendResult{}, &apiError{http.StatusBadRequest, "", "MissingParameter", true, "The request must contain the parameter MessageBody."}
	}
	size, _ := strconv.Atoi(q.attributes["MaximumMessageSize"])
	if len(in.MessageBody) > size {
		return sendResult{}, errInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", size)
	}
	delay, _ := strconv.Atoi(q.attributes["DelaySeconds"])
	if in.DelaySeconds != nil {
		delay = int(*in.DelaySeconds)
		if delay < 0 || delay > 900 {
			return sendResult{}, errInvalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", delay)
		}
	}
	now := s.clock.Now()
	m := &message{
		id:         newID(),
		body:       in.MessageBody,
		md5OfBody:  md5Hex([]byte(in.MessageBody)),
		attributes: in.MessageAttributes,
		md5OfAttrs: attributesMD5(in.MessageAttributes),
		sentAt:     now,
		visibleAt:  now.Add(time.Duration(delay) * time.Second),
	}
	q.add(m, now)
	return sendResult{Id: in.Id, MessageId: m.id, MD5OfMessageBody: m.md5OfBody, MD5OfMessageAttributes: m.md5OfAttrs}, nil
}

type sendMessageBatchInput struct {
	QueueUrl string
	Entries  []sendEntry
}

// batchFailure is one refused entry of a batch call.
type batchFailure struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

func (s *Server) sendMessageBatch(_ context.Context, in sendMessageBatchInput, _ string) (any, *apiError) {
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ok, failed := []sendResult{}, []batchFailure{}
	for _, e := range in.Entries {
		res, err := s.send(q, e)
		if err != nil {
			failed = append(failed, batchFailure{Id: e.Id, SenderFault: err.sender, Code: err.code, Message: err.msg})
			continue
		}
		ok = append(ok, res)
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

// checkBatch refuses a batch call as SQS does: no entries, more than ten,
// or entry IDs that repeat.
func checkBatch(ids []string) *apiError {
	switch {
	case len(ids) == 0:
		return &apiError{http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", true, "There should be at least one entry in the request."}
	case len(ids) > 10:
		return &apiError{http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", true,
			fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(ids))}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return &apiError{http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", true, "Id " + id + " repeated."}
		}
		seen[id] = true
	}
	return nil
}

type receiveMessageInput struct {
	QueueUrl                    string
	MaxNumberOfMessages         *int32
	WaitTimeSeconds             *int32
	VisibilityTimeout           *int32
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
}

type receivedMessage struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string           `json:",omitempty"`
	MD5OfMessageAttributes string                      `json:",omitempty"`
	MessageAttributes      map[string]messageAttribute `json:",omitempty"`
}

// receiveMessage answers at once when a message is visible; otherwise it
// waits up to WaitTimeSeconds, woken by a send or a message whose
// visibility ran out, as SQS's long poll does.
func (s *Server) receiveMessage(ctx context.Context, in receiveMessageInput, _ string) (any, *apiError) {
	limit := int32(1)
	if in.MaxNumberOfMessages != nil {
		limit = *in.MaxNumberOfMessages
	}
	if limit < 1 || limit > 10 {
		return nil, errInvalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", limit)
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, errInvalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	s.mu.Lock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	wait := in.WaitTimeSeconds
	if wait == nil {
		n, _ := strconv.Atoi(q.attributes["ReceiveMessageWaitTimeSeconds"])
		w := int32(n)
		wait = &w
	}
	visibility := in.VisibilityTimeout
	if visibility == nil {
		n, _ := strconv.Atoi(q.attributes["VisibilityTimeout"])
		v := int32(n)
		visibility = &v
	}
	deadline := time.Now().Add(time.Duration(*wait) * time.Second)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := s.clock.Now()
		q.reveal(now)
		if got := q.take(int(limit)); len(got) > 0 || !time.Now().Before(deadline) || s.queues[q.name] != q {
			out := make([]receivedMessage, 0, len(got))
			for _, m := range got {
				out = append(out, s.deliver(q, m, now, time.Duration(*visibility)*time.Second, in))
			}
			s.mu.Unlock()
			return map[string][]receivedMessage{"Messages": out}, nil
		}
		// Sleep until a send wakes the queue, the next hidden message
		// shows, or the wait is over.
		changed := q.changed
		sleep := time.Until(deadline)
		if next := q.nextReveal(); !next.IsZero() {
			sleep = min(sleep, max(next.Sub(now), time.Millisecond))
		}
		s.polls++
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(sleep)
		} else {
			timer.Reset(sleep)
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			s.mu.Lock()
			s.polls--
			s.mu.Unlock()
			return nil, &apiError{http.StatusBadRequest, "", "RequestCanceled", true, "the client went away"}
		}
		s.mu.Lock()
		s.polls--
	}
}

// deliver hands one message to a receiver: a fresh receipt handle, its
// receive count raised and hidden for the visibility timeout.
func (s *Server) deliver(q *queue, m *message, now time.Time, visibility time.Duration, in receiveMessageInput) receivedMessage {
	m.receives++
	if m.firstRecv.IsZero() {
		m.firstRecv = now
	}
	m.receipt = newReceipt(q.name, m.id, m.receives)
	q.hide(m, now.Add(visibility))
	out := receivedMessage{MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5OfBody, Body: m.body}
	system := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"SentTimestamp":                    strconv.FormatInt(m.sentAt.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstRecv.UnixMilli(), 10),
		"SenderId":                         "AIDASQSFAKE",
	}
	for _, name := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		if name == "All" {
			out.Attributes = system
			break
		}
		if v, ok := system[name]; ok {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = v
		}
	}
	if picked := pickAttributes(m.attributes, in.MessageAttributeNames); len(picked) > 0 {
		out.MessageAttributes = picked
		out.MD5OfMessageAttributes = attributesMD5(picked)
	}
	return out
}

// pickAttributes returns the user attributes the receiver asked for: "All"
// or ".*" for every one, "prefix.*" for a family, or exact names.
func pickAttributes(attrs map[string]messageAttribute, names []string) map[string]messageAttribute {
	out := map[string]messageAttribute{}
	for k, v := range attrs {
		for _, n := range names {
			prefix, wild := strings.CutSuffix(n, ".*")
			if n == "All" || n == ".*" || n == k || (wild && strings.HasPrefix(k, prefix+".")) {
				out[k] = v
				break
			}
		}
	}
	return out
}

type receiptInput struct {
	QueueUrl          string
	Id                string
	ReceiptHandle     string
	VisibilityTimeout int32
}

// byReceipt finds the message a receipt handle names. A handle that does
// not parse is invalid; one of a message since deleted or received again
// names nothing (nil without error), as SQS treats such handles.
func (s *Server) byReceipt(q *queue, handle string) (*message, *apiError) {
	name, id, ok := parseReceipt(handle)
	if !ok || name != q.name {
		return nil, errReceiptInvalid(handle)
	}
	m, ok := q.byID[id]
	if !ok || m.receipt != handle {
		return nil, nil
	}
	return m, nil
}

func (s *Server) deleteMessage(_ context.Context, in receiptInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.delete(q, in.ReceiptHandle)
}

// delete removes the message of a receipt handle. SQS answers success for
// a handle of a message already deleted, and for a handle an earlier
// receive gave, without deleting the message.
func (s *Server) delete(q *queue, handle string) *apiError {
	m, err := s.byReceipt(q, handle)
	if err != nil {
		return err
	}
	if m != nil {
		q.remove(m)
	}
	return nil
}

type receiptBatchInput struct {
	QueueUrl string
	Entries  []receiptInput
}

type batchSuccess struct {
	Id string
}

func (s *Server) deleteMessageBatch(_ context.Context, in receiptBatchInput, _ string) (any, *apiError) {
	return s.receiptBatch(in, func(q *queue, e receiptInput) *apiError { return s.delete(q, e.ReceiptHandle) })
}

func (s *Server) changeMessageVisibility(_ context.Context, in receiptInput, _ string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.changeVisibility(q, in.ReceiptHandle, in.VisibilityTimeout)
}

func (s *Server) changeMessageVisibilityBatch(_ context.Context, in receiptBatchInput, _ string) (any, *apiError) {
	return s.receiptBatch(in, func(q *queue, e receiptInput) *apiError {
		return s.changeVisibility(q, e.ReceiptHandle, e.VisibilityTimeout)
	})
}

// changeVisibility hides an in-flight message for seconds from now; zero
// makes it visible at once. A message whose visibility already ran out is
// no longer in flight, and a stale or deleted one cannot be changed.
func (s *Server) changeVisibility(q *queue, handle string, seconds int32) *apiError {
	if seconds < 0 || seconds > 43200 {
		return errInvalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.", seconds)
	}
	m, err := s.byReceipt(q, handle)
	if err != nil {
		return err
	}
	if m == nil {
		return errInvalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
	}
	now := s.clock.Now()
	q.reveal(now)
	if m.hiddenIndex < 0 {
		return &apiError{http.StatusBadRequest, "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", true, "The message referred to isn't in flight."}
	}
	q.hide(m, now.Add(time.Duration(seconds)*time.Second))
	if seconds == 0 {
		q.reveal(now)
		q.wake()
	}
	return nil
}

// receiptBatch runs one receipt-handle operation per entry and reports
// each entry's outcome.
func (s *Server) receiptBatch(in receiptBatchInput, each func(*queue, receiptInput) *apiError) (any, *apiError) {
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ok, failed := []batchSuccess{}, []batchFailure{}
	for _, e := range in.Entries {
		if err := each(q, e); err != nil {
			failed = append(failed, batchFailure{Id: e.Id, SenderFault: err.sender, Code: err.code, Message: err.msg})
			continue
		}
		ok = append(ok, batchSuccess{Id: e.Id})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newReceipt makes an opaque handle that names the queue, the message and
// the receive it came from.
func newReceipt(queueName, id string, receive int) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	raw := queueName + " " + id + " " + strconv.Itoa(receive) + " " + hex.EncodeToString(nonce[:])
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseReceipt(handle string) (queueName, id string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil {
		return "", "", false
	}
	parts := strings.Split(string(raw), " ")
	if len(parts) != 4 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is SQS's digest of message attributes: for each attribute
// by name, the length-prefixed name, data type, a transport byte (1 for
// strings and numbers, 2 for binary) and the length-prefixed value.
func attributesMD5(attrs map[string]messageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		h.Write(n[:])
		h.Write(b)
	}
	for _, k := range names {
		a := attrs[k]
		put([]byte(k))
		put([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{2})
			put(a.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(a.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
