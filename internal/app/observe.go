package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/ops/feedhealth"
	"github.com/secops-bot/secops-bot/ops/metrics"
	"github.com/secops-bot/secops-bot/pipeline"
)

// observability is what serve adds so that operators can see the bot
// working, and see when it is blind.
type observability struct {
	metrics *metrics.Metrics
	feed    *feedhealth.Monitor
	clock   clock.Clock
	// started is set once every worker runs; until then /readyz says so.
	started atomic.Bool
}

func newObservability(cfg config.Config, m *metrics.Metrics, st Store, b *bot.Bot, clk clock.Clock, log zerolog.Logger) *observability {
	var watch []feedhealth.Target
	for _, a := range cfg.FeedHealth.AccountsRegions {
		if len(a.Regions) == 0 {
			watch = append(watch, feedhealth.Target{Account: a.Account})
		}
		for _, r := range a.Regions {
			watch = append(watch, feedhealth.Target{Account: a.Account, Region: r})
		}
	}
	return &observability{
		metrics: m,
		clock:   clk,
		// Replicas share the newest event times through the store; the
		// one holding the feed health lease posts the warnings.
		feed: feedhealth.New(st, slackNotifier{b}, feedhealth.Options{
			Channel: cfg.Slack.SecOpsChannel, MaxSilence: cfg.FeedHealth.MaxSilence, Watch: watch,
			Owner: replicaName(), Clock: clk, Logger: log.With().Str("component", "feedhealth").Logger(),
		}),
	}
}

// pipelineMetrics is what the pipeline reports to.
func (o *observability) pipelineMetrics() pipeline.Metrics {
	return pipelineObservers{o.metrics, o.feed}
}

// botStore is the store handed to the bot, which also learns when a
// finding's first message was posted.
func (o *observability) botStore(st Store) bot.Store { return postObserved{Store: st, m: o.metrics} }

// instrumentAWS counts the calls made with a copy of base (the caller's
// configuration, maybe a test's, is left alone).
func (o *observability) instrumentAWS(base *aws.Config) *aws.Config {
	c := base.Copy()
	next := c.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	c.HTTPClient = o.metrics.AWSClient(next)
	return &c
}

// jiraHTTP is the Jira client's HTTP client (the same timeout as its
// default), counting calls.
func (o *observability) jiraHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: o.metrics.JiraTransport(nil)}
}

// run serves metrics and probes, samples the outbox and watches the feed
// until ctx ends. A metrics address that cannot be bound is logged, not
// fatal: detection matters more than its dashboard, and /readyz not
// answering already tells the orchestrator.
func (o *observability) run(ctx context.Context, listen string, st Store, b *bot.Bot, log zerolog.Logger) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.feed.Run(ctx)
	}()
	defer func() { <-done }()
	go o.metrics.SampleOutbox(ctx, st, 10*time.Second, log)
	if listen == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Error().Err(err).Str("listen", listen).Msg("metrics server not started; set metrics.listen to a free address, or \"\" to turn it off")
		<-ctx.Done()
		return nil
	}
	log.Info().Str("listen", ln.Addr().String()).Msg("serving /metrics, /healthz and /readyz")
	return o.metrics.ServeListener(ctx, ln, o.ready(st, b))
}

// ready is the readiness check: every worker started, the store answers
// and Slack accepts the bot's token. Slack's answer is cached so that
// probes do not spend its rate limit.
func (o *observability) ready(st Store, b *bot.Bot) metrics.ReadyFunc {
	slack := metrics.Cached(30*time.Second, b.Ping)
	return func(ctx context.Context) error {
		if !o.started.Load() {
			return errors.New("starting")
		}
		// A write, not a read: a locked SQLite file still serves reads
		// while every event the bot receives fails to be stored.
		// Bounded well inside a probe's timeout, so a store that makes
		// writers wait answers "not ready: store", not a timeout.
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := st.PutKV(sctx, "health", "probe", []byte(o.clock.Now().UTC().Format(time.RFC3339Nano))); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return slack(ctx)
	}
}

// pipelineObservers fans the pipeline's reports out.
type pipelineObservers []pipeline.Metrics

func (p pipelineObservers) EventIngested(source, account, region string, t time.Time) {
	for _, o := range p {
		o.EventIngested(source, account, region, t)
	}
}

func (p pipelineObservers) FindingCreated(f finding.Finding) {
	for _, o := range p {
		o.FindingCreated(f)
	}
}

// postObserved is the store with the bot's optional post observer.
type postObserved struct {
	Store
	m *metrics.Metrics
}

func (p postObserved) FindingPosted(f finding.Finding) { p.m.FindingPosted(f) }

// slackNotifier posts feed warnings with the bot.
type slackNotifier struct{ b *bot.Bot }

func (n slackNotifier) Post(ctx context.Context, channel, text string) (string, error) {
	return n.b.PostText(ctx, channel, text)
}

func (n slackNotifier) Update(ctx context.Context, channel, ts, text string) error {
	return n.b.UpdateText(ctx, channel, ts, text)
}
