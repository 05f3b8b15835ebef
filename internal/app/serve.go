package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/sqsource"
	"github.com/secops-bot/secops-bot/route"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

// ServeOptions configure the long-running bot.
type ServeOptions struct {
	Config config.Config
	Logger zerolog.Logger
	Clock  clock.Clock
	// AWS overrides the AWS configuration (tests); nil loads the default
	// credential chain, which honours AWS_ENDPOINT_URL*.
	AWS *aws.Config
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
	p := pipeline.New(pipeline.Options{
		Store:         st,
		Detector:      detect.NewEngine(dir),
		Directory:     dir,
		Enricher:      enrich.New(dir, st, cfg.Baseline, cfg.Rules),
		Router:        route.New(dir),
		Clock:         opts.Clock,
		Logger:        log,
		DisabledRules: DisabledRules(cfg),
	})

	g, gctx := errgroup.WithContext(ctx)
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
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
