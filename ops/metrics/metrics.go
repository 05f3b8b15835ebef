// Package metrics exposes what the bot is doing to Prometheus: events in,
// findings raised, calls to Slack, AWS and Jira, the outbox backlog and how
// long a finding takes to reach Slack. It also serves the liveness and
// readiness probes, so one small HTTP server answers everything an operator
// or an orchestrator asks of a running bot.
//
// Every collector lives on a registry of its own, never on the Prometheus
// default registry, so several bots can run in one test process.
package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
)

// Namespace prefixes every metric name.
const Namespace = "secops_bot"

// latencyBuckets span a fast API call to a finding that waited out a Slack
// rate limit.
var latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Metrics holds the bot's collectors.
type Metrics struct {
	reg   *prometheus.Registry
	clock clock.Clock

	eventsIn    *prometheus.CounterVec
	findings    *prometheus.CounterVec
	slackCalls  *prometheus.CounterVec
	slackTime   *prometheus.HistogramVec
	awsCalls    *prometheus.CounterVec
	awsTime     *prometheus.HistogramVec
	jiraCalls   *prometheus.CounterVec
	jiraTime    *prometheus.HistogramVec
	outboxDepth prometheus.Gauge
	toPost      *prometheus.HistogramVec
	sqsStored   prometheus.Histogram

	// newestEvent is the newest CloudTrail event time ingested, in Unix
	// nanoseconds; 0 until the first event.
	newestEvent atomic.Int64
}

// New registers the collectors on a fresh registry. A nil clock is the
// wall clock.
func New(clk clock.Clock) *Metrics {
	if clk == nil {
		clk = clock.Real{}
	}
	m := &Metrics{reg: prometheus.NewRegistry(), clock: clk}
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_in_total",
		Help: "CloudTrail events taken into the pipeline (duplicates excluded), by source kind (dir, sqs, replay).",
	}, []string{"source"})
	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "findings_total",
		Help: "New findings raised, by rule and severity.",
	}, []string{"rule", "severity"})
	m.slackCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "slack_calls_total",
		Help: "Slack Web API calls, by method (chat.postMessage, …) and result (ok, error, rate_limited, http_5xx, …).",
	}, []string{"method", "result"})
	m.slackTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "slack_call_seconds",
		Help: "Latency of Slack Web API calls.", Buckets: latencyBuckets,
	}, []string{"method"})
	m.awsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "aws_calls_total",
		Help: "AWS API calls, by service, operation and result (ok, http_4xx, http_5xx, transport_error).",
	}, []string{"service", "operation", "result"})
	m.awsTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "aws_call_seconds",
		Help: "Latency of AWS API calls.", Buckets: latencyBuckets,
	}, []string{"service", "operation"})
	m.jiraCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "jira_calls_total",
		Help: "Jira REST calls, by HTTP method and result (ok, http_4xx, http_5xx, transport_error).",
	}, []string{"method", "result"})
	m.jiraTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "jira_call_seconds",
		Help: "Latency of Jira REST calls.", Buckets: latencyBuckets,
	}, []string{"method"})
	m.outboxDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "outbox_depth",
		Help: "Outbox items (Slack messages, tickets, state reads) not yet delivered, sampled every few seconds.",
	})
	m.toPost = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "event_to_post_seconds",
		Help:    "Time until a finding's message was first posted in a channel (once per channel), from when the bot stored the finding (from=detected) and from the CloudTrail event time (from=event).",
		Buckets: latencyBuckets,
	}, []string{"from"})
	m.sqsStored = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "sqs_message_stored_seconds",
		Help:    "Time from receiving an SQS message to having stored everything it carried (its delete follows).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "queue_lag_seconds",
		Help: "Now minus the newest CloudTrail event time ingested: how far behind real time the bot sees the accounts (0 before the first event).",
	}, m.queueLag)
	m.reg.MustRegister(
		m.eventsIn, m.findings, m.slackCalls, m.slackTime, m.awsCalls, m.awsTime,
		m.jiraCalls, m.jiraTime, m.outboxDepth, m.toPost, m.sqsStored, lag,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is where the collectors live, for tests and for extra
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// EventIngested counts one new event from a source kind and remembers the
// newest event time for the queue lag. The account and region are part of
// the pipeline's observer contract but are not labels here: their
// cardinality is the feed-health monitor's business.
func (m *Metrics) EventIngested(source, _, _ string, eventTime time.Time) {
	m.eventsIn.WithLabelValues(source).Inc()
	t := eventTime.UnixNano()
	for {
		cur := m.newestEvent.Load()
		if t <= cur || m.newestEvent.CompareAndSwap(cur, t) {
			return
		}
	}
}

// FindingCreated counts a new finding.
func (m *Metrics) FindingCreated(f finding.Finding) {
	m.findings.WithLabelValues(f.Rule, f.Severity.String()).Inc()
}

// FindingPosted observes how long a finding took to reach Slack, when its
// message was first posted in a channel.
func (m *Metrics) FindingPosted(f finding.Finding) {
	now := m.clock.Now()
	if !f.DetectedAt.IsZero() {
		m.toPost.WithLabelValues("detected").Observe(nonNegative(now.Sub(f.DetectedAt)))
	}
	if !f.Event.Time.IsZero() {
		m.toPost.WithLabelValues("event").Observe(nonNegative(now.Sub(f.Event.Time)))
	}
}

// SQSMessageStored records how long an SQS message took from its receipt
// to its events being stored.
func (m *Metrics) SQSMessageStored(d time.Duration) { m.sqsStored.Observe(d.Seconds()) }

// SetOutboxDepth records the outbox backlog.
func (m *Metrics) SetOutboxDepth(n int) { m.outboxDepth.Set(float64(n)) }

// OutboxCounter is the store's view of the outbox backlog.
type OutboxCounter interface {
	OutboxDepth(ctx context.Context) (int, error)
}

// SampleOutbox sets outbox_depth from the store every interval until ctx
// ends. A failed read keeps the last value: a store that is down shows in
// /readyz, not as an empty outbox.
func (m *Metrics) SampleOutbox(ctx context.Context, st OutboxCounter, every time.Duration, log zerolog.Logger) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := st.OutboxDepth(ctx); err == nil {
			m.SetOutboxDepth(n)
		} else if ctx.Err() == nil {
			log.Warn().Err(err).Msg("read outbox depth")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) queueLag() float64 {
	n := m.newestEvent.Load()
	if n == 0 {
		return 0
	}
	return nonNegative(m.clock.Now().Sub(time.Unix(0, n)))
}

// nonNegative keeps clock skew between AWS and this host from producing
// negative durations.
func nonNegative(d time.Duration) float64 {
	return max(d, 0).Seconds()
}
