package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/secops-bot/secops-bot/bot"
	"github.com/secops-bot/secops-bot/delivery"
	"github.com/secops-bot/secops-bot/delivery/outbox"
	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/delivery/tickets"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/enrich/assess"
	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/ops/audit"
	"github.com/secops-bot/secops-bot/ops/metrics"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/reqbody"
	"github.com/secops-bot/secops-bot/providers/aws/sqsource"
	"github.com/secops-bot/secops-bot/providers/aws/state"
	"github.com/secops-bot/secops-bot/providers/jira"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/respond/investigate"
	"github.com/secops-bot/secops-bot/respond/triage"
	"github.com/secops-bot/secops-bot/store"
)

// ServeOptions configure the long-running bot.
type ServeOptions struct {
	Config config.Config
	Logger zerolog.Logger
	Clock  clock.Clock
	// Sigma, when set, are Sigma rules run beside the built-in ones
	// (detect.WithSigma).
	Sigma *sigma.Set
	// AWS overrides the AWS configuration (tests); nil loads the default
	// credential chain, which honours AWS_ENDPOINT_URL*.
	AWS *aws.Config
	// Ready, when set, is closed once Slack is connected and the sources
	// run.
	Ready chan struct{}
}

// waker wakes the outbox after each stored change, so a new finding is
// posted at once rather than at the next poll.
type waker struct{ b *bot.Bot }

func (w waker) FindingChanged(context.Context, finding.Finding, finding.ChangeKind) error {
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
	if cfg.BreakGlass.Enabled {
		out = append(out, cfg.Slack.ApproversChannel)
	}
	if cfg.Audit.SlackChannel != "" {
		out = append(out, cfg.Audit.SlackChannel)
	}
	return append(out, cfg.Routing.Channels()...)
}

// replicaName identifies this process in outbox leases.
func replicaName() string {
	host, _ := os.Hostname()
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), nonce)
}

// TicketConfig maps the jira block of the configuration.
func TicketConfig(cfg config.Config) tickets.Config {
	j := cfg.Jira
	return tickets.Config{
		Enabled: j.Enabled, Flavor: j.Flavor, BaseURL: j.BaseURL, Email: j.Email, Token: j.APIToken,
		IssueType: j.IssueType, Priorities: j.Priorities, Labels: j.Labels,
		ResolveTransitions: j.ResolveTransitions, ReopenTransitions: j.ReopenTransitions,
		SecOpsProject: cfg.SecOps.JiraProject, LinkSecOps: j.LinkSecOps, ReopenMode: j.ReopenMode,
	}
}

// Serve runs ingestion (directory and SQS), the pipeline, Slack, tickets
// and state assessment until ctx ends.
func Serve(ctx context.Context, opts ServeOptions) error {
	cfg := opts.Config
	log := opts.Logger
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if cfg.Slack.AppToken == "" || cfg.Slack.BotToken == "" {
		return errors.New("serve needs Slack tokens: set SECOPS_SLACK_APP_TOKEN (xapp-…, app-level token with connections:write) and SECOPS_SLACK_BOT_TOKEN (xoxb-…); to try the bot without Slack, run: secops-bot replay --config config.example.yaml examples/")
	}
	if cfg.Ingest.Dir == "" && cfg.Ingest.SQSQueueURL == "" {
		return errors.New("no event source: set ingest.sqs_queue_url (SECOPS_INGEST_SQS_QUEUE_URL) or ingest.dir (SECOPS_INGEST_DIR)")
	}
	if opts.Sigma == nil {
		var err error
		if opts.Sigma, err = sigmaRules(cfg); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, cfg, opts.Clock, log)
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := org.New(cfg.OrgOptions())
	if err != nil {
		return err
	}
	owner := replicaName()
	mets := metrics.New(opts.Clock)
	// One outbox runtime carries every feature's deliveries; each adds its
	// lane below.
	ob := outbox.New(st, owner, opts.Clock, log)
	b, err := bot.Connect(ctx, bot.Config{
		AppToken: cfg.Slack.AppToken, BotToken: cfg.Slack.BotToken, APIURL: cfg.Slack.APIURL, NetworkTimeout: cfg.Slack.NetworkTimeout,
		Channels: channels(cfg), Owner: owner, TicketBaseURL: ticketBase(cfg),
		HTTPClient: &http.Client{Transport: mets.SlackTransport(http.DefaultTransport), Timeout: 30 * time.Second},
		Throttle:   ob.Throttle(),
	}, dir, opts.Clock, log.With().Str("component", "slack").Logger())
	if err != nil {
		return err
	}
	obs := newObservability(cfg, mets, st, b, opts.Clock, log)

	// Every change of a finding plans its Slack messages, its ticket and a
	// read of the resource's state, stored with the change.
	planners := delivery.Combined{delivery.Planner{}}
	if cfg.Jira.Enabled {
		planners = append(planners, tickets.NewPlanner(TicketConfig(cfg)))
	}
	var awsBase *aws.Config
	if cfg.AWS.Enabled || cfg.Ingest.SQSQueueURL != "" || cfg.BreakGlass.Enabled || cfg.Audit.S3Bucket != "" {
		if awsBase, err = loadAWS(ctx, cfg, opts.AWS); err != nil {
			return err
		}
		awsBase = obs.instrumentAWS(awsBase)
	}
	var clients *awsclient.Clients
	if cfg.AWS.Enabled {
		if clients, err = awsClients(ctx, cfg, *awsBase, opts.Clock); err != nil {
			return err
		}
		warnAWS(clients, log)
		if cfg.AWS.OrgAccounts {
			if accts, err := clients.OrgAccounts(ctx); err != nil {
				log.Warn().Err(err).Msg("AWS Organizations accounts unavailable; only configured accounts count as known (check organizations:ListAccounts for the bot's role)")
			} else {
				dir.SetOrgAccounts(accts)
			}
		}
		planners = append(planners, assess.Planner{}, playbookPlanner{teams: dir})
	}

	pg, err := newPaging(cfg, st, dir, b, opts.Clock, log)
	if err != nil {
		return err
	}
	if pg != nil {
		planners = append(planners, pg.planner)
	}
	if src, err := onCallSource(cfg, pg, b, opts.Clock); err != nil {
		return err
	} else if src != nil {
		b.EnableOnCall(src)
	}

	// Who read an exposed resource: from the reads the feed keeps, and
	// with AWS from the trails, access logs and key events of the account.
	reads := serveReads(cfg, st, dir, clients, planners, opts.Clock, log)
	planners = append(planners, reads.Planner())
	b.EnableExposureReview(reads)

	az := authz.New(cfg.Roles, b.TeamID(), b.Directory(), opts.Clock, time.Minute)
	tri := triage.New(st, az, planners, opts.Clock)
	enr := enrich.New(dir, st, cfg.EnrichOptions())
	inv := investigate.New(st, dir, enr, opts.Clock)
	b.Attach(bot.Services{Store: obs.botStore(st), Authz: az, Triage: tri, Investigator: inv, Wake: ob.Wake})
	lanes := []outbox.Lane{b.SlackLane(), reads.Lane()}
	if pg != nil {
		pg.service.Wake = ob.Wake
		lanes = append(lanes, pg.service.Lane())
	}
	// Containment and playbooks act in the member accounts, so they need
	// AWS.
	if clients != nil {
		playbookLane, err := enableOps(opsDeps{cfg: cfg, aws: clients, store: st, authz: az, teams: dir, bot: b, clock: opts.Clock, logger: log, planners: planners})
		if err != nil {
			return err
		}
		lanes = append(lanes, playbookLane)
	}
	var breakGlass *breakglass.Service
	if cfg.BreakGlass.Enabled {
		if breakGlass, err = serveBreakGlass(ctx, cfg, st, az, b, clients, *awsBase, opts.Clock, log); err != nil {
			return err
		}
		lanes = append(lanes, breakGlass.Timers(cfg.BreakGlass.TimerInterval))
	}
	router := route.NewTree(dir, cfg.RoutingOptions())
	p := pipeline.New(pipeline.Options{
		Store:         st,
		Detector:      detect.NewEngine(dir, detect.WithSigma(opts.Sigma)),
		Directory:     dir,
		Enricher:      enr,
		Router:        router,
		Planner:       planners,
		Suppressor:    allowlist{tri},
		Notifier:      waker{b},
		Clock:         opts.Clock,
		Logger:        log,
		DisabledRules: cfg.Rules.Disabled(),
		Metrics:       obs.pipelineMetrics(),
		DataReads:     exposure.NewRecorder(st, dir),
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.Run(gctx) })
	// An expired allowlist entry stops suppressing at its expiry whatever
	// this does; the sweep records and audits the expiry within a minute,
	// even when nothing the entry covered is seen again.
	g.Go(func() error {
		tri.ExpireEvery(gctx, time.Minute, log.With().Str("component", "allowlist").Logger())
		return nil
	})
	g.Go(func() error {
		return obs.run(gctx, cfg.Metrics.Listen, st, b, log.With().Str("component", "metrics").Logger())
	})
	if breakGlass != nil {
		g.Go(func() error {
			breakGlass.SweepEvery(gctx, cfg.BreakGlass.TimerInterval, cfg.BreakGlass.SweepInterval)
			return nil
		})
	}
	var ticketsH *tickets.Handler
	if cfg.Jira.Enabled {
		if ticketsH, err = ticketHandler(cfg, st, b, jiraThrottled(obs.jiraHTTP(), ob.Throttle()), log.With().Str("component", "jira").Logger()); err != nil {
			return err
		}
		lanes = append(lanes, ticketsH.Lane())
	}
	if clients != nil {
		aw := assess.New(st, stateReader{state.NewReader(clients, opts.Clock)}, planners, assess.Options{
			Interval: cfg.AWS.RecheckInterval, Clock: opts.Clock,
			Logger: log.With().Str("component", "assess").Logger(),
			Sensitivity: assess.Sensitivity{
				TagValues: cfg.Sensitivity.TagValues, NamePatterns: cfg.Sensitivity.NamePatterns, Environments: cfg.Sensitivity.Environments,
			},
			Owners: router,
		})
		lanes = append(lanes, aw.Lane())
		g.Go(func() error { aw.Run(gctx); return nil })
	}
	for _, l := range lanes {
		if err := ob.Add(l); err != nil {
			return err
		}
	}
	g.Go(func() error { ob.Run(gctx); return nil })
	if ticketsH != nil {
		checkJira(ctx, cfg, ticketsH, log.With().Str("component", "jira").Logger())
	}
	if pg != nil {
		g.Go(func() error { pg.service.Run(gctx, cfg.Paging.PollInterval); return nil })
	}
	if cfg.Audit.Anchored() {
		var sinks []audit.Sink
		if cfg.Audit.SlackChannel != "" {
			sinks = append(sinks, audit.NewSlackSink(b, cfg.Audit.SlackChannel))
		}
		if cfg.Audit.S3Bucket != "" {
			sinks = append(sinks, anchorStore(cfg, *awsBase, opts.Clock, log))
		}
		an := audit.NewAnchorer(st, sinks, opts.Clock, cfg.Audit.AnchorInterval, log.With().Str("component", "audit").Logger())
		g.Go(func() error { an.Run(gctx); return nil })
	}
	if cn := newCanary(cfg, st, p, awsBase, clients, owner, opts.Clock, log); cn != nil {
		g.Go(func() error { cn.Run(gctx); return nil })
	}
	if cfg.Ingest.Dir != "" {
		ds := ingest.NewDirSource(cfg.Ingest.Dir, st, p, log.With().Str("source", "dir").Logger(), ingest.DirOptions{Interval: cfg.Ingest.PollInterval, RetryBackoff: cfg.Ingest.RetryBackoff, MaxBackoff: cfg.Ingest.MaxRetryBackoff, StoreTimeout: cfg.Ingest.StoreTimeout, Clock: opts.Clock, Limits: cfg.Ingest.Limits()})
		g.Go(func() error { return ds.Run(gctx) })
		log.Info().Str("dir", cfg.Ingest.Dir).Msg("watching directory for CloudTrail files")
	}
	if cfg.Ingest.SQSQueueURL != "" {
		src := sqsource.New(*awsBase, cfg.Ingest.SQSQueueURL, p, log.With().Str("source", "sqs").Logger(), sqsource.Options{
			Concurrency: cfg.Ingest.SQSWorkers, RetryBackoff: cfg.Ingest.RetryBackoff, MaxRetryBackoff: cfg.Ingest.MaxRetryBackoff, StoreTimeout: cfg.Ingest.StoreTimeout,
			Stored: mets.SQSMessageStored, Clock: opts.Clock, Limits: cfg.Ingest.Limits(), MaxMemory: cfg.Ingest.SQSMaxMemory,
		})
		g.Go(func() error { return src.Run(gctx) })
		log.Info().Str("queue", cfg.Ingest.SQSQueueURL).Msg("receiving events from SQS")
	}
	obs.started.Store(true)
	if opts.Ready != nil {
		close(opts.Ready)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func ticketBase(cfg config.Config) string {
	if cfg.Jira.Enabled {
		return cfg.Jira.BaseURL
	}
	return ""
}

func loadAWS(ctx context.Context, cfg config.Config, override *aws.Config) (*aws.Config, error) {
	if override != nil {
		return override, nil
	}
	var lo []func(*awsconfig.LoadOptions) error
	if cfg.AWS.Region != "" {
		lo = append(lo, awsconfig.WithRegion(cfg.AWS.Region))
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// Wrapped once it is built (a custom CA bundle is applied to the SDK's
	// own client), so that every client sends its bodies from memory. The
	// configuration holds no client unless one was customised: the
	// services' default is then the SDK's buildable client.
	next := c.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	c.HTTPClient = reqbody.InMemory{Next: next}
	return &c, nil
}

func awsClients(ctx context.Context, cfg config.Config, base aws.Config, clk clock.Clock) (*awsclient.Clients, error) {
	roles, writeRoles := map[string]string{}, map[string]string{}
	for _, a := range cfg.Accounts {
		if a.RoleARN != "" {
			roles[a.ID] = a.RoleARN
		}
		if a.WriteRoleARN != "" {
			writeRoles[a.ID] = a.WriteRoleARN
		}
	}
	c, err := awsclient.New(ctx, base, awsclient.Options{
		MemberRoleName: cfg.AWS.MemberRoleName, RoleARNs: roles,
		MemberWriteRoleName: cfg.AWS.MemberWriteRoleName, WriteRoleARNs: writeRoles,
		ExternalID: cfg.AWS.ExternalID, Clock: clk,
	})
	if err != nil {
		return nil, fmt.Errorf("aws: %w", err)
	}
	return c, nil
}

// warnAWS says at start what weakens the split between the bot's reading
// and its changing in the member accounts.
func warnAWS(c *awsclient.Clients, log zerolog.Logger) {
	for _, w := range c.Warnings() {
		log.Warn().Msg("aws: " + w)
	}
}

// jiraThrottled puts the outbox's throttle in front of the Jira client.
// Jira limits an account's calls as a whole, not per endpoint, so one
// Retry-After holds every call.
func jiraThrottled(hc *http.Client, th *outbox.Throttle) *http.Client {
	hc.Transport = th.Transport(hc.Transport, func(*http.Request) string { return "jira" })
	return hc
}

// ticketHandler builds the Jira handler.
func ticketHandler(cfg config.Config, st Store, b *bot.Bot, httpClient *http.Client, log zerolog.Logger) (*tickets.Handler, error) {
	tc := TicketConfig(cfg)
	if err := tc.Validate(); err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	flavor := jira.Cloud
	if cfg.Jira.Flavor == "datacenter" {
		flavor = jira.DataCenter
	}
	client, err := jira.New(jira.Config{Flavor: flavor, BaseURL: cfg.Jira.BaseURL, Email: cfg.Jira.Email, Token: cfg.Jira.APIToken, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("jira: %w", err)
	}
	w := tickets.NewHandler(st, client, tc, log,
		tickets.WithPermalink(b.Permalink),
		tickets.WithOnRecord(func(ctx context.Context, findingID string, _ tickets.Ticket) {
			// Link the new ticket from the Slack messages.
			_, err := st.UpdateFinding(ctx, findingID, func(f *finding.Finding) (store.FindingEvent, error) {
				f.Version++
				return store.FindingEvent{Outbox: delivery.Planner{}.Plan(*f, finding.ChangeTicketed, "system", "")}, nil
			})
			if err != nil {
				log.Warn().Err(err).Str("finding_id", findingID).Msg("link ticket from Slack")
			}
			b.Wake()
		}))
	return w, nil
}

// checkJira checks the Jira settings at start; a Jira that is unreachable
// or misconfigured is a warning, never a reason not to start: findings
// still flow to Slack and tickets wait in the outbox.
func checkJira(ctx context.Context, cfg config.Config, w *tickets.Handler, log zerolog.Logger) {
	var projects []string
	for _, t := range cfg.Teams {
		if t.JiraProject != "" {
			projects = append(projects, t.JiraProject)
		}
	}
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Check(checkCtx, projects...); err != nil {
		log.Warn().Err(err).Msg("Jira is not reachable or not configured correctly; findings still go to Slack and tickets wait until it is")
	}
}
