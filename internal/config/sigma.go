package config

import (
	"slices"
	"sync"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/internal/problem"
)

// Sigma selects the Sigma rules run beside the built-in ones: directories
// of rules a team brings (logsource product aws, service cloudtrail), and
// rules of the bundled catalogue by name or id ("all" for every one). Each
// rule's per-rule settings stay under rules.<id> (enabled, severity). A rule
// the evaluator cannot run is a problem reported with its file, line and
// construct: it stops the bot from starting rather than being skipped.
type Sigma struct {
	Dirs      []string `yaml:"dirs"`
	Catalogue []string `yaml:"catalogue"`

	// loaded keeps what Rules last returned, shared by the copies of a
	// configuration: validating it and starting the bot read the rules
	// three times, and parsing a hundred files is most of a replay's
	// startup.
	loaded *sigmaLoad
}

type sigmaLoad struct {
	mu        sync.Mutex
	dirs, cat []string
	set       *sigma.Set
	problems  []sigma.Problem
	err       error
	done      bool
}

// Rules loads and compiles the selected rules; nil when none are selected.
// The rules are read once per configuration, unless dirs or catalogue
// changed since.
func (s Sigma) Rules() (*sigma.Set, []sigma.Problem, error) {
	if len(s.Dirs) == 0 && len(s.Catalogue) == 0 {
		return nil, nil, nil
	}
	l := s.loaded
	if l == nil {
		return detect.LoadSigma(s.Dirs, s.Catalogue)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done || !slices.Equal(l.dirs, s.Dirs) || !slices.Equal(l.cat, s.Catalogue) {
		l.set, l.problems, l.err = detect.LoadSigma(s.Dirs, s.Catalogue)
		l.dirs, l.cat, l.done = slices.Clone(s.Dirs), slices.Clone(s.Catalogue), true
	}
	return l.set, slices.Clone(l.problems), l.err
}

// Validate loads the rules and reports every one the evaluator cannot run.
func (s Sigma) Validate() problem.List {
	var ps problem.List
	_, problems, err := s.Rules()
	if err != nil {
		ps.Addf("catalogue", "%v", err)
	}
	for _, p := range problems {
		ps.Addf("dirs", "%s", p.String())
	}
	return ps
}

// ruleIDs are the ids rules.<id> may name: the built-in rules, the native
// sources and the Sigma rules selected.
func (c *Config) ruleIDs() []string {
	ids := builtinRuleIDs()
	if set, _, _ := c.Sigma.Rules(); set != nil {
		for _, r := range set.Rules() {
			ids = append(ids, r.ID)
		}
	}
	return ids
}
