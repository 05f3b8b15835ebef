package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/secops-bot/secops-bot/deploy"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/app"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/ops/audit"
)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

type globalFlags struct {
	config    string
	logLevel  string
	logFormat string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "secops-bot:", err)
		return 1
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "secops-bot",
		Short:         "Detect, investigate and contain AWS exposures from Slack",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "configuration file (default ./config.yaml, then /etc/secops-bot/config.yaml)")
	pf.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (default from config, info)")
	pf.StringVar(&g.logFormat, "log-format", "", "log format: json or console (default from config, json)")
	// Each global flag may also come from the environment (SECOPS_CONFIG,
	// SECOPS_LOG_LEVEL, SECOPS_LOG_FORMAT), which suits containers; a flag
	// given on the command line wins.
	v := newSettings(pf)
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		g.config, g.logLevel, g.logFormat = v.GetString("config"), v.GetString("log-level"), v.GetString("log-format")
		return nil
	}
	root.AddCommand(newReplay(g, stdout, stderr), newCheckConfig(g, stdout, stderr), newServe(g, stderr), newVersion(stdout), newCorpus(stdout, stderr), newManifest(stdout), newReport(g, stdout, stderr), newAudit(g, stdout, stderr), newBackfill(g, stdout, stderr), newIAMPolicy(g, stdout, stderr), newRules(stdout, stderr))
	return root
}

// load reads and validates the configuration and builds the logger.
func load(g *globalFlags, stderr io.Writer) (config.Loaded, zerolog.Logger, error) {
	l, err := config.Load(g.config, nil)
	if err != nil {
		return l, zerolog.Nop(), err
	}
	level, format := l.Log.Level, l.Log.Format
	if g.logLevel != "" {
		level = g.logLevel
	}
	if g.logFormat != "" {
		format = g.logFormat
	}
	log, err := app.NewLogger(stderr, level, format)
	if err != nil {
		return l, log, err
	}
	return l, log, nil
}

func newReplay(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var format string
	var includeSuppressed bool
	cmd := &cobra.Command{
		Use:   "replay [flags] PATH...",
		Short: "Run the detection pipeline offline over CloudTrail event files and print the findings",
		Long: `Replay reads CloudTrail log files ({"Records":[...]}, plain or .gz), EventBridge
events, bare records and JSON Lines of any of them, from files or directories,
runs every rule in event-time order and prints each finding when it is raised
and again when a later event resolves it. Malformed input is reported on
stderr and skipped; the rest is processed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.logLevel == "" {
				// Findings go to stdout; only problems belong on stderr.
				g.logLevel = "warn"
			}
			// Replay is a short batch job: fewer collections trade a
			// little memory for throughput.
			debug.SetGCPercent(200)
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			sum, err := app.Replay(cmd.Context(), app.ReplayOptions{
				Config: l.Config, Paths: args, Format: format, IncludeSuppressed: includeSuppressed,
				Out: stdout, Logger: log, Limits: l.Ingest.Limits(),
			})
			if err != nil {
				return err
			}
			printReplaySummary(stderr, sum)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, json, or blocks (the Slack Block Kit payloads)")
	cmd.Flags().BoolVar(&includeSuppressed, "include-suppressed", false, "also print findings suppressed as expected")
	return cmd
}

func newCheckConfig(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config",
		Short: "Validate the configuration and report every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := config.Load(g.config, nil)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{code: 1}
			}
			if l.File == "" {
				fmt.Fprint(stderr, noFileWarning(l.Config))
				fmt.Fprintln(stdout, "configuration OK, but no file was read: only the embedded defaults and SECOPS_* variables apply")
				return nil
			}
			sigmaNote := ""
			if set, _, err := l.Sigma.Rules(); err == nil && set != nil && set.Len() > 0 {
				sigmaNote = ", " + plural(set.Len(), "Sigma rule")
			}
			fmt.Fprintf(stdout, "configuration OK (%s): %s, %s, %s%s\n", l.File, plural(len(l.Teams), "team"), plural(len(l.Accounts), "account"), plural(len(l.TrustedAccounts), "trusted account"), sigmaNote)
			return nil
		},
	}
}

// noFileWarning says that no configuration file was found, where one was
// looked for, and what the bot does without one; check-config still
// succeeds, since replay runs on the defaults.
func noFileWarning(cfg config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "warning: no configuration file was read: --config was not given and none of %s exists.\n", strings.Join(config.SearchPaths(), ", "))
	b.WriteString("The embedded defaults apply, with any SECOPS_* variables:\n")
	fmt.Fprintf(&b, "  - high and critical findings go to %s; no team or account is configured, so SecOps owns every account and every share target counts as unknown\n", cfg.Slack.SecOpsChannel)
	if cfg.Store.Driver == "sqlite" {
		fmt.Fprintf(&b, "  - findings and events are kept in SQLite at %s, relative to the working directory\n", cfg.Store.DSN)
	} else {
		fmt.Fprintf(&b, "  - findings and events are kept in %s (store.dsn)\n", cfg.Store.Driver)
	}
	fmt.Fprintf(&b, "  - reading state from AWS is %s; Jira tickets are %s, break-glass is %s, the canary is %s\n",
		onOff(cfg.AWS.Enabled), onOff(cfg.Jira.Enabled), onOff(cfg.BreakGlass.Enabled), onOff(cfg.Canary.Enabled))
	b.WriteString("That is enough for `secops-bot replay`. To run the bot, copy config.example.yaml to ./config.yaml (or pass --config FILE) and describe your teams and accounts.\n")
	return b.String()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func newServe(g *globalFlags, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the bot: ingest events, raise findings and serve Slack",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			return app.Serve(cmd.Context(), app.ServeOptions{Config: l.Config, Logger: log})
		},
	}
}

func newReport(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var since, format string
	cmd := &cobra.Command{
		Use:   "report [--since 30d] [--format text|csv]",
		Short: "Time to detect, acknowledge and resolve findings, per team and rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.logLevel == "" {
				g.logLevel = "warn"
			}
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			d, err := config.ParseDuration(since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if format != "text" && format != "csv" {
				return fmt.Errorf("--format %q: use text or csv", format)
			}
			return app.Report(cmd.Context(), l.Config, log, d, format, stdout)
		},
	}
	cmd.Flags().StringVar(&since, "since", "30d", "how far back (e.g. 7d, 30d, 12h)")
	cmd.Flags().StringVar(&format, "format", "text", "text or csv")
	return cmd
}

func newAudit(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Check or export the tamper-evident audit log"}
	var anchor string
	verify := &cobra.Command{
		Use:   "verify [--anchor N:HASH]",
		Short: "Check every link of the audit log and its end against the newest anchor",
		Long: `Verify checks every link of the audit log's hash chain (with the keys of
audit.keys when the chain is keyed), that no record sealed without a key
follows one sealed with a key, and the end of the log against the newest
anchor: the one given with --anchor (as the audit anchor message in Slack
shows it) and those in audit.s3_bucket. It exits 2 and names the problem
when a record was edited, removed or inserted, or records were cut from the
end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.logLevel == "" {
				g.logLevel = "warn"
			}
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			var opts app.AuditVerifyOptions
			if anchor != "" {
				a, err := audit.ParseAnchor(anchor)
				if err != nil {
					return fmt.Errorf("--anchor: %w", err)
				}
				opts.Anchor = &a
			}
			if err := app.AuditVerify(cmd.Context(), l.Config, log, opts, stdout); err != nil {
				var broken app.ErrAuditBroken
				if errors.As(err, &broken) {
					fmt.Fprintln(stderr, err)
					return exitError{code: 2}
				}
				return err
			}
			return nil
		},
	}
	verify.Flags().StringVar(&anchor, "anchor", "", "a head kept elsewhere, as N:HASH, to check the end of the log against")
	cmd.AddCommand(verify)
	var since string
	export := &cobra.Command{
		Use:   "export [--since 30d]",
		Short: "Write the audit log as JSON Lines (for a SIEM), oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.logLevel == "" {
				g.logLevel = "warn"
			}
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			var from time.Time
			if since != "" {
				d, err := config.ParseDuration(since)
				if err != nil {
					return fmt.Errorf("--since: %w", err)
				}
				from = time.Now().Add(-d)
			}
			return app.AuditExport(cmd.Context(), l.Config, log, from, stdout)
		},
	}
	export.Flags().StringVar(&since, "since", "", "only records newer than this (e.g. 7d); default all")
	cmd.AddCommand(export)
	return cmd
}

func newBackfill(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var since string
	var accounts, regions []string
	cmd := &cobra.Command{
		Use:   "backfill [--since 30d] [--account ID]... [--region R]...",
		Short: "Seed event history (baselines, resource history) from CloudTrail LookupEvents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, log, err := load(g, stderr)
			if err != nil {
				return err
			}
			d, err := config.ParseDuration(since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if d > 90*24*time.Hour {
				return fmt.Errorf("--since %s: CloudTrail keeps 90 days of management events", since)
			}
			return app.Backfill(cmd.Context(), l.Config, log, app.BackfillOptions{Since: d, Accounts: accounts, Regions: regions, Out: stderr})
		},
	}
	cmd.Flags().StringVar(&since, "since", "30d", "how far back (at most 90d)")
	cmd.Flags().StringSliceVar(&accounts, "account", nil, "account IDs (default: every configured account)")
	cmd.Flags().StringSliceVar(&regions, "region", nil, "regions (default: aws.region)")
	return cmd
}

func newManifest(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "manifest",
		Short: "Print the Slack app manifest (paste it at api.slack.com/apps → Create New App → From a manifest)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := stdout.Write(deploy.SlackManifest())
			return err
		},
	}
}

func newVersion(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(stdout, "secops-bot %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}

// printReplaySummary tells people what a replay read and what it set
// aside, in sentences rather than log lines.
func printReplaySummary(w io.Writer, sum app.ReplaySummary) {
	for _, pr := range sum.Problems {
		where := pr.Source
		if pr.Line > 0 {
			where += fmt.Sprintf(" line %d", pr.Line)
		}
		fmt.Fprintf(w, "set aside %s: %s\n", where, pr.Reason)
	}
	if more := sum.Quarantined - len(sum.Problems); more > 0 {
		fmt.Fprintf(w, "set aside %d more malformed inputs, not listed\n", more)
	}
	var parts []string
	for _, s := range []finding.Status{finding.StatusOpen, finding.StatusResolved, finding.StatusSuppressed} {
		parts = append(parts, fmt.Sprintf("%d %s", sum.Findings[s], s))
	}
	read := plural(sum.Records, "event")
	if sum.Native > 0 {
		read += " and " + plural(sum.Native, "AWS-native finding update")
	}
	fmt.Fprintf(w, "replayed %s from %s (%s, %d ignored, %d malformed set aside): findings %s\n",
		read, plural(sum.Files, "file"), plural(sum.Duplicates, "duplicate"), sum.Ignored, sum.Quarantined, strings.Join(parts, ", "))
}

// plural is n with its noun, "1 file" or "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
