package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/detect/sigma/catalogue"
)

// newRules checks Sigma rule files before they are deployed, and lists the
// catalogue the configuration can enable. It reads no configuration: it is
// meant for the rule author's machine and CI.
func newRules(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Check Sigma rule files, list the Sigma catalogue",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check DIR...",
		Short: "Load and compile every Sigma rule under the directories (or files) and report each problem",
		Long: `check loads every *.yml and *.yaml file under the directories (and the
files) given, as the bot would from sigma.dirs, and compiles the rules. Each
rule the bot could not run is reported as file:line: construct: message, and
the command exits 1 if there is any. A rule whose id is a built-in rule's
or a catalogue rule's is reported too: findings are keyed by rule id.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, problems := loadWithCatalogue(args)
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			if len(problems) > 0 {
				fmt.Fprintf(stderr, "%s read, %s\n", plural(len(rules), "rule"), plural(len(problems), "problem"))
				return exitError{code: 1}
			}
			fmt.Fprintf(stdout, "%s read, no problems\n", plural(len(rules), "rule"))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list [DIR...]",
		Short: "List the Sigma catalogue (and the rules under DIR) with ids, names, levels and titles",
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := catalogue.All()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tLEVEL\tTITLE\tFROM")
			for _, r := range cat {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\tcatalogue\n", r.ID, r.Name, r.Level, r.Title)
			}
			var problems []sigma.Problem
			if len(args) > 0 {
				var rules sigma.Rules
				rules, problems = sigma.LoadDirs(args)
				for _, r := range rules {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Level, r.Title, r.File)
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
			if len(problems) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	})
	return cmd
}

// loadWithCatalogue loads the rules under dirs and compiles them after the
// catalogue, so that an id taken by a built-in rule or a catalogue rule is
// reported against the file that repeats it. It returns the rules read
// from dirs and every problem.
func loadWithCatalogue(dirs []string) (sigma.Rules, []sigma.Problem) {
	rules, problems := sigma.LoadDirs(dirs)
	cat, err := catalogue.All()
	if err != nil {
		// The catalogue is tested with the binary; say so rather than
		// blame the rules being checked.
		problems = append(problems, sigma.Problem{File: "(catalogue)", Construct: "catalogue", Message: err.Error()})
		cat = nil
	}
	_, more := detect.CompileSigma(append(cat, rules...))
	return rules, append(problems, more...)
}
