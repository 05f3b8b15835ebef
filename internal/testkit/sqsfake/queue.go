package sqsfake

import (
	"container/heap"
	"time"
)

// message is one message on a queue. A message is in exactly one of three
// states: visible (in queue.ready), hidden until visibleAt because it was
// received or sent with a delay (in queue.hidden), or deleted (in neither).
type message struct {
	id         string
	body       string
	md5OfBody  string
	attributes map[string]messageAttribute
	md5OfAttrs string
	sentAt     time.Time
	firstRecv  time.Time
	receives   int
	// receipt is the handle of the latest receive; only it may change the
	// message's visibility or delete it, as SQS documents.
	receipt   string
	visibleAt time.Time
	// delayed is a message sent with a delay and never received yet: SQS
	// counts it apart from the received ones that are in flight.
	delayed bool
	// hiddenIndex is the message's place in queue.hidden, -1 when not there.
	hiddenIndex int
}

// messageAttribute is a user attribute as the JSON protocol carries it.
type messageAttribute struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty"`
}

// queue holds one queue's messages. Its methods expect the server's lock.
type queue struct {
	name       string
	url        string
	attributes map[string]string
	created    time.Time
	// ready are the visible messages, oldest first; ready[head:] is live.
	ready []*message
	head  int
	// hidden are the messages in flight or delayed, by when they show.
	hidden hiddenHeap
	byID   map[string]*message
	// changed is closed and replaced whenever a message may have become
	// visible, to wake long polls at once.
	changed chan struct{}
}

func newQueue(name, url string, attrs map[string]string, now time.Time) *queue {
	q := &queue{name: name, url: url, created: now, byID: map[string]*message{}, changed: make(chan struct{}),
		attributes: map[string]string{"VisibilityTimeout": "30", "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0",
			"MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600"}}
	for k, v := range attrs {
		q.attributes[k] = v
	}
	return q
}

// wake tells the long polls waiting on the queue to look again.
func (q *queue) wake() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// reveal moves every hidden message whose time has come to the visible
// ones.
func (q *queue) reveal(now time.Time) {
	for len(q.hidden) > 0 && !q.hidden[0].visibleAt.After(now) {
		m := heap.Pop(&q.hidden).(*message)
		m.delayed = false
		q.ready = append(q.ready, m)
	}
}

// nextReveal is when the next hidden message becomes visible, zero when
// none is hidden.
func (q *queue) nextReveal() time.Time {
	if len(q.hidden) == 0 {
		return time.Time{}
	}
	return q.hidden[0].visibleAt
}

func (q *queue) add(m *message, now time.Time) {
	q.byID[m.id] = m
	m.hiddenIndex = -1
	if m.visibleAt.After(now) {
		m.delayed = true
		heap.Push(&q.hidden, m)
		return
	}
	q.ready = append(q.ready, m)
	q.wake()
}

// take removes up to n visible messages from the front of the queue.
func (q *queue) take(n int) []*message {
	var out []*message
	for len(out) < n && q.head < len(q.ready) {
		m := q.ready[q.head]
		q.ready[q.head] = nil
		q.head++
		if m == nil {
			continue // deleted or hidden again while visible
		}
		out = append(out, m)
	}
	q.compact()
	return out
}

// compact drops the consumed front of ready once it is most of it.
func (q *queue) compact() {
	if q.head > 0 && q.head*2 >= len(q.ready) {
		q.ready = append(q.ready[:0], q.ready[q.head:]...)
		q.head = 0
	}
}

// hide makes a message invisible until at; it must not be in ready.
func (q *queue) hide(m *message, at time.Time) {
	m.visibleAt = at
	if m.hiddenIndex >= 0 {
		heap.Fix(&q.hidden, m.hiddenIndex)
		return
	}
	heap.Push(&q.hidden, m)
}

// remove deletes a message from whatever state it is in.
func (q *queue) remove(m *message) {
	delete(q.byID, m.id)
	if m.hiddenIndex >= 0 {
		heap.Remove(&q.hidden, m.hiddenIndex)
		return
	}
	q.unready(m)
}

// unready takes a visible message out of ready.
func (q *queue) unready(m *message) {
	for i := q.head; i < len(q.ready); i++ {
		if q.ready[i] == m {
			q.ready[i] = nil
			return
		}
	}
}

// counts are ApproximateNumberOfMessages, …NotVisible and …Delayed.
func (q *queue) counts() (visible, notVisible, delayed int) {
	for _, m := range q.ready[q.head:] {
		if m != nil {
			visible++
		}
	}
	for _, m := range q.hidden {
		if m.delayed {
			delayed++
		} else {
			notVisible++
		}
	}
	return visible, notVisible, delayed
}

func (q *queue) purge() {
	q.ready, q.head, q.hidden = nil, 0, nil
	q.byID = map[string]*message{}
}

// hiddenHeap orders hidden messages by when they become visible.
type hiddenHeap []*message

func (h hiddenHeap) Len() int           { return len(h) }
func (h hiddenHeap) Less(i, j int) bool { return h[i].visibleAt.Before(h[j].visibleAt) }
func (h hiddenHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hiddenIndex = i
	h[j].hiddenIndex = j
}

func (h *hiddenHeap) Push(x any) {
	m := x.(*message)
	m.hiddenIndex = len(*h)
	*h = append(*h, m)
}

func (h *hiddenHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.hiddenIndex = -1
	return m
}
