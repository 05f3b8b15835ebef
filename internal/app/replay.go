// Package app wires the bot's parts together for each command (serve,
// replay, check-config). main only parses flags and calls into it, so every
// command can run inside a test.
package app

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/cloudtrail"
	"github.com/secops-bot/secops-bot/config"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/route"
	"github.com/secops-bot/secops-bot/store/memory"
)

// ReplayOptions configure an offline replay.
type ReplayOptions struct {
	Config            config.Config
	Paths             []string
	Format            string // text, json (blocks is added by the Slack layer)
	IncludeSuppressed bool
	Out               io.Writer
	Logger            zerolog.Logger
	// ChunkSize is how many records go through the pipeline at once.
	ChunkSize int
}

// ReplaySummary counts what a replay did.
type ReplaySummary struct {
	Files       int
	Records     int
	Duplicates  int
	Ignored     int
	Quarantined int
	Findings    map[finding.Status]int
}

// printer prints finding changes as they happen.
type printer struct {
	opts ReplayOptions
	dir  *org.Directory
	err  error
}

func (p *printer) FindingChanged(_ context.Context, f finding.Finding, c pipeline.Change) error {
	switch c {
	case pipeline.Created, pipeline.Reopened, pipeline.Resolved:
	default:
		return nil
	}
	if f.Status == finding.StatusSuppressed && !p.opts.IncludeSuppressed {
		return nil
	}
	var err error
	switch p.opts.Format {
	case "json":
		err = writeJSON(p.opts.Out, f)
	default:
		err = writeText(p.opts.Out, f, p.dir)
	}
	if err != nil && p.err == nil {
		p.err = err
	}
	return err
}

// Replay runs the whole pipeline offline over event files in event-time
// order and prints each finding when it is raised, reopened or resolved.
func Replay(ctx context.Context, opts ReplayOptions) (ReplaySummary, error) {
	sum := ReplaySummary{Findings: map[finding.Status]int{}}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 4096
	}
	switch opts.Format {
	case "", "text", "json":
	default:
		return sum, fmt.Errorf("unknown format %q: use text or json", opts.Format)
	}
	dir, err := org.New(opts.Config)
	if err != nil {
		return sum, err
	}
	st := memory.New()
	pr := &printer{opts: opts, dir: dir}
	p := pipeline.New(pipeline.Options{
		Store:         st,
		Detector:      detect.NewEngine(dir),
		Directory:     dir,
		Enricher:      enrich.New(dir, st, opts.Config.Baseline, opts.Config.Rules),
		Router:        route.New(dir),
		Notifier:      pr,
		Clock:         clock.Real{},
		Logger:        opts.Logger,
		DisabledRules: DisabledRules(opts.Config),
	})

	var recs []cloudtrail.Record
	var problems []ingest.Problem
	err = ingest.Walk(ctx, opts.Paths, func(b ingest.Batch) error {
		sum.Files++
		sum.Ignored += b.Ignored
		recs = append(recs, b.Records...)
		problems = append(problems, b.Problems...)
		return nil
	})
	if err != nil {
		return sum, err
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].EventTime.Before(recs[j].EventTime) })
	if len(problems) > 0 {
		st, err := p.IngestStats(ctx, ingest.Batch{Source: "replay", Problems: problems})
		if err != nil {
			return sum, err
		}
		sum.Quarantined += st.Quarantined
	}
	for start := 0; start < len(recs); start += opts.ChunkSize {
		end := min(start+opts.ChunkSize, len(recs))
		s, err := p.IngestStats(ctx, ingest.Batch{Source: "replay", Records: recs[start:end]})
		if err != nil {
			return sum, err
		}
		sum.Records += s.Records
		sum.Duplicates += s.Duplicates
		if pr.err != nil {
			return sum, fmt.Errorf("write output: %w", pr.err)
		}
	}
	for _, f := range st.Findings() {
		sum.Findings[f.Status]++
	}
	return sum, nil
}

// DisabledRules lists the rules switched off in configuration.
func DisabledRules(cfg config.Config) map[string]bool {
	out := map[string]bool{}
	for id, r := range cfg.Rules {
		if r.Enabled != nil && !*r.Enabled {
			out[id] = true
		}
	}
	return out
}
