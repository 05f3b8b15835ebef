package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/secops-bot/secops-bot/authz"
	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/sqsource"
	"github.com/secops-bot/secops-bot/route"
	"github.com/secops-bot/secops-bot/store/sqlite"
	"github.com/secops-bot/secops-bot/triage"
)

// ServeOptions configure the long-running bot.
type ServeOptions struct {
	Config config.Config
	Logger zerolog.Logger
	Clock  clock.Clock
	// AWS overrides the AWS configuration (tests); nil loads the default
	// credential chain, which honours AWS_ENDPOINT_URL*.
	AWS *aws.Config
	// Ready, when set, is closed once Slack is connected and the sources
	// run.
	Ready chan struct{}
}

// waker wakes the Slack outbox worker after each stored change, so a new
// finding is posted at once rather than at the next poll.
type waker struct{ b *bot.Bot }

func (w waker) FindingChanged(context.Context, finding.Finding, pipeline.Change) error {
	w.b.Wake()
	return nil
}

// allowlist adapts the entries people added with "Mark expected" to the
// pipeline.
type allowlist struct{ svc *triage.Service }

func (a allowlist) Suppressed(ctx context.Context, f finding.Finding) (string, bool, error) {
	e, ok, err := a.svc.Suppressed(ctx, f)
	if err != nil || !ok {
		return "", false, err
	}
	return fmt.Sprintf("marked expected by %s: %s (allowlist entry %s)", e.By, e.Reason, e.ID), true, nil
}

// channels lists every channel the configuration routes to.
func channels(cfg config.Config) []string {
	out := []string{cfg.Slack.SecOpsChannel}
	for _, t := range cfg.Teams {
		out = append(out, t.SlackChannel)
	}
	return out
}

// replicaName identifies this process in outbox leases.
func replicaName() string {
	host, _ := os.Hostname()
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), nonce)
}

// Serve runs ingestion (directory and SQS), the pipeline and delivery until
// ctx ends.
func Serve(ctx context.Context, opts ServeOptions) error {
	cfg := opts.Config
	log := opts.Logger
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if cfg.Ingest.Dir == "" && cfg.Ingest.SQSQueueURL == "" {
		return errors.New("no event source: set ingest.sqs_queue_url (SECOPS_INGEST_SQS_QUEUE_URL) or ingest.dir (SECOPS_INGEST_DIR)")
	}
	if cfg.Slack.AppToken == "" || cfg.Slack.BotToken == "" {
		return errors.New("serve needs Slack tokens: set SECOPS_SLACK_APP_TOKEN (xapp-…, app-level token with connections:write) and SECOPS_SLACK_BOT_TOKEN (xoxb-…); to try the bot without Slack, run: secops-bot replay --config config.example.yaml examples/")
	}
	if cfg.Store.Driver != "sqlite" {
		return fmt.Errorf("store.driver %q is not available in this build; use sqlite", cfg.Store.Driver)
	}
	st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{Clock: opts.Clock, Logger: log})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	dir, err := org.New(cfg)
	if err != nil {
		return err
	}
	b, err := bot.Connect(ctx, bot.Config{
		AppToken: cfg.Slack.AppToken, BotToken: cfg.Slack.BotToken, APIURL: cfg.Slack.APIURL,
		Channels: channels(cfg), Owner: replicaName(),
	}, dir, opts.Clock, log.With().Str("component", "slack").Logger())
	if err != nil {
		return err
	}
	az := authz.New(cfg.Roles, b.TeamID(), b.Directory(), opts.Clock, time.Minute)
	planner := delivery.Planner{}
	tri := triage.New(st, az, planner, opts.Clock)
	p := pipeline.New(pipeline.Options{
		Store:         st,
		Detector:      detect.NewEngine(dir),
		Directory:     dir,
		Enricher:      enrich.New(dir, st, cfg.Baseline, cfg.Rules),
		Router:        route.New(dir),
		Planner:       planner,
		Suppressor:    allowlist{tri},
		Notifier:      waker{b},
		Clock:         opts.Clock,
		Logger:        log,
		DisabledRules: DisabledRules(cfg),
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return b.Run(gctx, bot.Services{Store: st, Authz: az, Triage: tri})
	})
	if cfg.Ingest.Dir != "" {
		ds := ingest.NewDirSource(cfg.Ingest.Dir, st, p, log.With().Str("source", "dir").Logger(), ingest.DirOptions{Interval: cfg.Ingest.PollInterval, Clock: opts.Clock})
		g.Go(func() error { return ds.Run(gctx) })
		log.Info().Str("dir", cfg.Ingest.Dir).Msg("watching directory for CloudTrail files")
	}
	if cfg.Ingest.SQSQueueURL != "" {
		awsCfg := opts.AWS
		if awsCfg == nil {
			c, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("load AWS configuration: %w", err)
			}
			awsCfg = &c
		}
		src := sqsource.New(*awsCfg, cfg.Ingest.SQSQueueURL, p, log.With().Str("source", "sqs").Logger(), sqsource.Options{Concurrency: cfg.Ingest.SQSWorkers})
		g.Go(func() error { return src.Run(gctx) })
		log.Info().Str("queue", cfg.Ingest.SQSQueueURL).Msg("receiving events from SQS")
	}
	if opts.Ready != nil {
		close(opts.Ready)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
