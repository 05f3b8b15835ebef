package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/secops-bot/secops-bot/detect/sigma/sigmatest"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

// newCorpus is a hidden command: it generates the synthetic corpus that the
// benchmarks (scripts/bench.sh, docs/benchmarks.md) replay, so anyone can
// reproduce their figures with the shipped binary and no other tool. It is
// hidden because operators never need it.
func newCorpus(stdout, stderr io.Writer) *cobra.Command {
	var (
		events   int
		seed     int64
		planted  int
		actors   int
		accounts int
		every    int
		out      string

		sigmaDir   string
		sigmaCount int
	)
	cmd := &cobra.Command{
		Use:    "corpus [flags]",
		Short:  "Write a synthetic corpus of CloudTrail management events as JSON Lines",
		Hidden: true,
		Long: `Corpus writes EVENTS realistic CloudTrail management events as JSON Lines,
mostly reads with a few planted exposures (a public bucket policy and ACL, RDS
and EBS snapshots shared with an unknown account, a stopped trail) spread
through the stream; with --data-every N, every Nth event is an S3 object read
(a CloudTrail data event) instead. The same seed always gives the same bytes. The planted
events are listed on stderr, one per line, so that a replay of the corpus can
be checked against them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if events < 0 {
				return fmt.Errorf("--events must not be negative (got %d)", events)
			}
			if every < 0 {
				return fmt.Errorf("--data-every must not be negative (got %d)", every)
			}
			if sigmaDir != "" {
				if err := writeSigmaRules(sigmaDir, sigmaCount); err != nil {
					return err
				}
			}
			w, closeOut, err := corpusOutput(out, stdout)
			if err != nil {
				return err
			}
			ps, err := corpus.Generate(w, events, seed, corpus.Options{Planted: planted, Actors: actors, Accounts: accounts, DataEvery: every})
			if cerr := closeOut(); err == nil && cerr != nil {
				err = fmt.Errorf("write %s: %w", out, cerr)
			}
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintf(stderr, "planted line=%d event=%s name=%s rule=%s account=%s resource=%s\n",
					p.Index+1, p.EventID, p.Event, p.Rule, p.Account, p.Resource)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&events, "events", 100_000, "how many events to write")
	f.Int64Var(&seed, "seed", 1, "random seed; the same seed gives the same corpus")
	f.IntVar(&planted, "planted", 0, "how many exposures to plant (0: one of each kind, negative: none)")
	f.IntVar(&actors, "actors", 0, "spread routine calls over this many principals (0: the six built-in actors)")
	f.IntVar(&accounts, "accounts", 1, "with --actors, how many accounts they belong to")
	f.IntVar(&every, "data-every", 0, "make every Nth event an S3 data event, an object read (0: none; 10: one in ten)")
	f.StringVar(&out, "out", "", "file to write (default stdout)")
	f.StringVar(&sigmaDir, "sigma-rules", "", "also write the benchmark's generated Sigma rules (none matches the corpus) into this directory")
	f.IntVar(&sigmaCount, "sigma-count", 100, "with --sigma-rules, how many rules to write")
	return cmd
}

// writeSigmaRules writes n generated Sigma rules, the benchmark's, into dir.
func writeSigmaRules(dir string, n int) error {
	if n < 1 {
		return fmt.Errorf("--sigma-count must be at least 1 (got %d)", n)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--sigma-rules: %w", err)
	}
	for i := range n {
		name := filepath.Join(dir, fmt.Sprintf("variant-%03d.yml", i))
		if err := os.WriteFile(name, []byte(sigmatest.Rule(i)), 0o644); err != nil {
			return fmt.Errorf("--sigma-rules: %w", err)
		}
	}
	return nil
}

// corpusOutput opens the destination; the returned function flushes and
// closes it and reports a failed write.
func corpusOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		// Generate buffers its own writes.
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create corpus file: %w", err)
	}
	return f, f.Close, nil
}
