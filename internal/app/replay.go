// Package app wires the bot's parts together for each command (serve,
// replay, check-config). main only parses flags and calls into it, so every
// command can run inside a test.
package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/pipeline"
	"github.com/secops-bot/secops-bot/store/memory"
)

// ReplayOptions configure an offline replay.
type ReplayOptions struct {
	Config            config.Config
	Paths             []string
	Format            string // text, json or blocks
	IncludeSuppressed bool
	Out               io.Writer
	Logger            zerolog.Logger
	// Sigma, when set, are Sigma rules run beside the built-in ones
	// (detect.WithSigma).
	Sigma *sigma.Set
	// ChunkSize is how many records go through the pipeline at once.
	ChunkSize int
	// Limits caps what one input file may cost to read; the zero value is
	// ingest's defaults.
	Limits ingest.Limits
}

// ReplaySummary counts what a replay did.
type ReplaySummary struct {
	Files   int
	Records int
	// Native counts the updates of AWS-native findings (GuardDuty,
	// Security Hub, IAM Access Analyzer) applied.
	Native      int
	Duplicates  int
	Ignored     int
	Quarantined int
	Findings    map[finding.Status]int
	// Problems are the first MaxReplayProblems inputs set aside, for
	// the command to show people; Quarantined counts them all.
	Problems []ingest.Problem
}

// MaxReplayProblems bounds the problems a summary lists.
const MaxReplayProblems = 50

// printer prints finding changes as they happen.
type printer struct {
	opts ReplayOptions
	dir  *org.Directory
	err  error
}

func (p *printer) FindingChanged(_ context.Context, f finding.Finding, c finding.ChangeKind) error {
	switch c {
	case finding.ChangeCreated, finding.ChangeReopened, finding.ChangeResolved:
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
	case "blocks":
		err = writeBlocks(p.opts.Out, f, p.dir)
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
//
// Input that is already in time order (an export, a generated corpus, one
// trail's JSON Lines) is replayed as it is read, decoding the next block
// while the pipeline works on the last one, so memory stays flat however
// large the input. Output is held until the end of such a run: if a record
// turns up older than one already processed, the replay starts over, reading
// everything into memory and sorting it first, so the result is always that
// of a replay in event-time order. (Warnings logged before such a restart,
// about events that could not be fully evaluated, are logged again.)
func Replay(ctx context.Context, opts ReplayOptions) (ReplaySummary, error) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 4096
	}
	switch opts.Format {
	case "", "text", "json", "blocks":
	default:
		return ReplaySummary{Findings: map[finding.Status]int{}}, fmt.Errorf("unknown format %q: use text, json or blocks", opts.Format)
	}
	if opts.Sigma == nil {
		var err error
		if opts.Sigma, err = sigmaRules(opts.Config); err != nil {
			return ReplaySummary{Findings: map[finding.Status]int{}}, err
		}
	}
	dir, err := org.New(opts.Config.OrgOptions())
	if err != nil {
		return ReplaySummary{Findings: map[finding.Status]int{}}, err
	}
	var held bytes.Buffer
	sum, err := replayStream(ctx, opts, dir, &held)
	if errors.Is(err, errOutOfOrder) {
		opts.Logger.Debug().Msg("input is not in time order; replaying it sorted")
		return replaySorted(ctx, opts, dir)
	}
	if _, werr := opts.Out.Write(held.Bytes()); werr != nil && err == nil {
		err = fmt.Errorf("write output: %w", werr)
	}
	return sum, err
}

// errOutOfOrder stops a streaming replay at the first record older than
// one already processed.
var errOutOfOrder = errors.New("records out of time order")

// replayer is one run of the pipeline over an in-memory store.
type replayer struct {
	opts ReplayOptions
	st   *memory.Store
	pr   *printer
	p    *pipeline.Pipeline
	sum  ReplaySummary
}

func newReplayer(opts ReplayOptions, dir *org.Directory, out io.Writer) *replayer {
	st := memory.New()
	popts := opts
	popts.Out = out
	pr := &printer{opts: popts, dir: dir}
	return &replayer{
		opts: opts,
		st:   st,
		pr:   pr,
		sum:  ReplaySummary{Findings: map[finding.Status]int{}},
		p: pipeline.New(pipeline.Options{
			Store:         st,
			Detector:      detect.NewEngine(dir, detect.WithSigma(opts.Sigma)),
			Directory:     dir,
			Enricher:      enrich.New(dir, st, opts.Config.EnrichOptions()),
			Router:        route.NewTree(dir, opts.Config.RoutingOptions()),
			Notifier:      pr,
			Clock:         clock.Real{},
			EventTime:     true,
			Logger:        pipelineLogger(opts),
			DisabledRules: opts.Config.Rules.Disabled(),
			DataReads:     exposure.NewRecorder(st, dir),
		}),
	}
}

// setAside keeps a file's problems for the end of the replay without
// their raw bytes, which a replay never shows: problems are held until
// then, and each could otherwise keep up to a megabyte of the input.
func setAside(problems, more []ingest.Problem) []ingest.Problem {
	for _, p := range more {
		p.Raw = nil
		problems = append(problems, p)
	}
	return problems
}

// quarantine sets malformed input aside. It does not depend on the
// records, so when it happens relative to them changes nothing.
func (r *replayer) quarantine(ctx context.Context, problems []ingest.Problem) error {
	if len(problems) == 0 {
		return nil
	}
	st, err := r.p.IngestStats(ctx, ingest.Batch{Source: "replay", Problems: problems})
	r.sum.Quarantined += st.Quarantined
	for _, pr := range problems {
		if len(r.sum.Problems) == MaxReplayProblems {
			break
		}
		pr.Raw = nil
		r.sum.Problems = append(r.sum.Problems, pr)
	}
	return err
}

// records runs recs, already in time order, through the pipeline in
// chunks.
func (r *replayer) records(ctx context.Context, recs []cloudtrail.Record) error {
	for start := 0; start < len(recs); start += r.opts.ChunkSize {
		end := min(start+r.opts.ChunkSize, len(recs))
		s, err := r.p.IngestStats(ctx, ingest.Batch{Source: "replay", Records: recs[start:end]})
		if err != nil {
			return err
		}
		r.sum.Records += s.Records
		r.sum.Duplicates += s.Duplicates
		if r.pr.err != nil {
			return fmt.Errorf("write output: %w", r.pr.err)
		}
	}
	return nil
}

// native runs the updates of native findings through the pipeline, which
// applies them in their detectors' order.
func (r *replayer) native(ctx context.Context, ns []native.Finding) error {
	if len(ns) == 0 {
		return nil
	}
	s, err := r.p.IngestStats(ctx, ingest.Batch{Source: "replay", Native: ns})
	r.sum.Native += s.Native
	r.sum.Duplicates += s.Duplicates
	if err == nil && r.pr.err != nil {
		err = fmt.Errorf("write output: %w", r.pr.err)
	}
	return err
}

func (r *replayer) finish() ReplaySummary {
	for _, f := range r.st.Findings() {
		r.sum.Findings[f.Status]++
	}
	return r.sum
}

// replayStream replays input that is in time order as it is read, writing
// findings to out. It returns errOutOfOrder, having stopped reading, at the
// first record older than one before it.
func replayStream(ctx context.Context, opts ReplayOptions, dir *org.Directory, out io.Writer) (ReplaySummary, error) {
	r := newReplayer(opts, dir, out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One batch in the channel and one being processed: enough to keep
	// the decoder busy while the pipeline works, and a bound on memory.
	batches := make(chan ingest.Batch, 1)
	done := make(chan error, 1)
	var problems []ingest.Problem
	go func() {
		var err error
		// Records and native findings each keep their own order: they
		// never update the same finding.
		var last, lastNative time.Time
		for b := range batches {
			if err != nil {
				continue // drain, so that the reader never blocks
			}
			for i := range b.Records {
				if t := b.Records[i].EventTime; t.Before(last) {
					err = errOutOfOrder
					break
				} else {
					last = t
				}
			}
			for i := range b.Native {
				if t := b.Native[i].UpdatedAt; t.Before(lastNative) {
					err = errOutOfOrder
					break
				} else {
					lastNative = t
				}
			}
			if err == nil {
				err = r.records(ctx, b.Records)
			}
			if err == nil {
				err = r.native(ctx, b.Native)
			}
			if err != nil {
				cancel()
			}
		}
		done <- err
	}()
	var lastSource string
	werr := ingest.Walk(ctx, opts.Paths, opts.Limits, func(b ingest.Batch) error {
		// A large file comes in several batches with the same Source.
		if b.Source != lastSource {
			r.sum.Files++
			lastSource = b.Source
		}
		r.sum.Ignored += b.Ignored
		problems = setAside(problems, b.Problems)
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(batches)
	if err := <-done; err != nil {
		return r.sum, err
	}
	if werr != nil {
		return r.sum, werr
	}
	if err := r.quarantine(ctx, problems); err != nil {
		return r.sum, err
	}
	return r.finish(), nil
}

// replaySorted reads every record into memory, sorts them by event time
// (stable, so records of the same second keep their input order) and
// replays them.
func replaySorted(ctx context.Context, opts ReplayOptions, dir *org.Directory) (ReplaySummary, error) {
	r := newReplayer(opts, dir, opts.Out)
	var recs []cloudtrail.Record
	var natives []native.Finding
	var problems []ingest.Problem
	var lastSource string
	err := ingest.Walk(ctx, opts.Paths, opts.Limits, func(b ingest.Batch) error {
		if b.Source != lastSource {
			r.sum.Files++
			lastSource = b.Source
		}
		r.sum.Ignored += b.Ignored
		recs = append(recs, b.Records...)
		natives = append(natives, b.Native...)
		problems = setAside(problems, b.Problems)
		return nil
	})
	if err != nil {
		return r.sum, err
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].EventTime.Before(recs[j].EventTime) })
	if err := r.quarantine(ctx, problems); err != nil {
		return r.sum, err
	}
	if err := r.records(ctx, recs); err != nil {
		return r.sum, err
	}
	if err := r.native(ctx, natives); err != nil {
		return r.sum, err
	}
	return r.finish(), nil
}

// pipelineLogger is the replay pipeline's logger. In text output the
// command lists what was set aside in sentences, so the pipeline's own
// warnings about it would only repeat them as log lines.
func pipelineLogger(opts ReplayOptions) zerolog.Logger {
	if opts.Format == "text" || opts.Format == "" {
		return opts.Logger.Level(max(opts.Logger.GetLevel(), zerolog.ErrorLevel))
	}
	return opts.Logger
}

// sigmaRules are the Sigma rules the configuration selects (sigma.dirs,
// sigma.catalogue); nil when none. A rule the evaluator cannot run stops
// the command, naming the file, line and construct: it is never skipped.
func sigmaRules(cfg config.Config) (*sigma.Set, error) {
	set, problems, err := cfg.Sigma.Rules()
	if err != nil {
		return nil, fmt.Errorf("sigma.catalogue: %w", err)
	}
	if len(problems) > 0 {
		lines := make([]string, len(problems))
		for i, p := range problems {
			lines[i] = "  - " + p.String()
		}
		return nil, fmt.Errorf("sigma rules the evaluator cannot run (fix or remove them; secops-bot rules check shows the same):\n%s", strings.Join(lines, "\n"))
	}
	return set, nil
}
