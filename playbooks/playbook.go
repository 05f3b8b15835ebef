// Package playbooks guides responders through an incident step by step.
// Playbooks are YAML documents: embedded defaults that a directory named in
// the configuration can override (same id) or extend (new id). One is chosen
// per finding by rule, severity and whether the finding arrived off hours
// for the owning team, and its run is posted in the finding's thread as a
// checklist whose state is kept in the store, so a restart loses nothing.
//
// Steps can carry an automation (a containment action, investigate, the
// abuse report, a break-glass request, the follow-up) and an escalation
// whose timer is a durable outbox item.
package playbooks

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/problem"
	"github.com/secops-bot/secops-bot/respond/containment"
)

//go:embed defaults/*.yaml
var defaults embed.FS

// Config is the playbooks section of the configuration.
type Config struct {
	// Dir holds YAML playbooks that override (same id) or extend the
	// embedded defaults; empty means the defaults only.
	Dir string `yaml:"dir"`
}

// Validate reports a directory that cannot be read; the playbooks in it
// are checked when they are loaded.
func (c Config) Validate() problem.List {
	var ps problem.List
	if c.Dir != "" {
		if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
			ps.Addf("dir", "%q is not a readable directory; create it or leave the key empty to use the built-in playbooks", c.Dir)
		}
	}
	return ps
}

// Owner is who a step is for.
type Owner string

// Owners.
const (
	OwnerSecOps Owner = "secops"
	OwnerTeam   Owner = "team"
	OwnerOnCall Owner = "oncall"
)

// Automation kinds a step may carry.
const (
	AutoContain     = "contain"
	AutoInvestigate = "investigate"
	AutoAbuseReport = "abuse-report"
	AutoBreakGlass  = "break-glass"
	AutoFollowUp    = "follow-up"
)

// PathEmergency marks steps that belong to the emergency path, which an
// escalation calls for.
const PathEmergency = "emergency"

// Automation is what the Run button of a step does.
type Automation struct {
	Kind string `yaml:"kind"`
	// Action is the containment action ID, for kind contain.
	Action string `yaml:"action,omitempty"`
}

// Escalation fires when the step is neither done nor skipped After the run
// started.
type Escalation struct {
	After time.Duration `yaml:"after"`
	// Then says what happens, posted in the thread when it fires.
	Then string `yaml:"then"`
}

// Step is one step of a playbook.
type Step struct {
	ID         string      `yaml:"id"`
	Title      string      `yaml:"title"`
	Text       string      `yaml:"text"`
	Owner      Owner       `yaml:"owner"`
	Path       string      `yaml:"path,omitempty"`
	Automation *Automation `yaml:"automation,omitempty"`
	Escalation *Escalation `yaml:"escalation,omitempty"`
}

// Match says which findings a playbook is for. Empty rules match every
// rule; a nil OffHours matches both.
type Match struct {
	Rules       []string         `yaml:"rules"`
	MinSeverity finding.Severity `yaml:"min_severity"`
	OffHours    *bool            `yaml:"off_hours"`
}

// Playbook is one playbook.
type Playbook struct {
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// Priority orders selection: the highest matching playbook wins.
	Priority int    `yaml:"priority"`
	Enabled  *bool  `yaml:"enabled"`
	Match    Match  `yaml:"match"`
	Steps    []Step `yaml:"steps"`
	// Source is where the playbook came from, for error messages.
	Source string `yaml:"-"`
}

// Step returns a step by ID.
func (p Playbook) Step(id string) (Step, bool) {
	for _, s := range p.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return Step{}, false
}

// Matches reports whether the playbook is for the finding.
func (p Playbook) Matches(f finding.Finding) bool {
	if p.Enabled != nil && !*p.Enabled {
		return false
	}
	if len(p.Match.Rules) > 0 && !slices.Contains(p.Match.Rules, f.Rule) {
		return false
	}
	if f.Severity < p.Match.MinSeverity {
		return false
	}
	return p.Match.OffHours == nil || *p.Match.OffHours == f.OffHours
}

// Library is the set of playbooks in force.
type Library struct {
	books []Playbook // by priority, highest first, then ID
}

// Load reads the embedded defaults, then every *.yaml or *.yml file in dir
// (if dir is not empty). A file whose id is a default's replaces it; a
// playbook with enabled: false turns one off. Every problem in every file
// is reported at once. actions lists the containment action IDs steps may
// name; nil skips that check.
func Load(dir string, actions []string) (*Library, error) {
	byID := map[string]Playbook{}
	var errs []error
	read := func(fsys fs.FS, root, name, source string) {
		raw, err := fs.ReadFile(fsys, filepath.ToSlash(filepath.Join(root, name)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			return
		}
		p, err := parse(raw, source, actions)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if prev, dup := byID[p.ID]; dup && prev.Source != "" && !strings.HasPrefix(prev.Source, "embedded:") {
			errs = append(errs, fmt.Errorf("%s: playbook id %q is also defined in %s", source, p.ID, prev.Source))
			return
		}
		byID[p.ID] = p
	}
	embedded, _ := fs.ReadDir(defaults, "defaults") // the embedded directory always exists
	for _, e := range embedded {
		read(defaults, "defaults", e.Name(), "embedded:"+e.Name())
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("playbooks.dir: %w", err))
		}
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			read(os.DirFS(dir), ".", e.Name(), filepath.Join(dir, e.Name()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	lib := &Library{}
	for _, p := range byID {
		lib.books = append(lib.books, p)
	}
	sort.Slice(lib.books, func(i, j int) bool {
		a, b := lib.books[i], lib.books[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.ID < b.ID
	})
	return lib, nil
}

// Select returns the playbook for a finding: the highest-priority enabled
// playbook that matches it.
func (l *Library) Select(f finding.Finding) (Playbook, bool) {
	for _, p := range l.books {
		if p.Matches(f) {
			return p, true
		}
	}
	return Playbook{}, false
}

// Get returns a playbook by ID, enabled or not (a run started before it
// was turned off still needs it).
func (l *Library) Get(id string) (Playbook, bool) {
	for _, p := range l.books {
		if p.ID == id {
			return p, true
		}
	}
	return Playbook{}, false
}

// All lists the playbooks in selection order.
func (l *Library) All() []Playbook { return slices.Clone(l.books) }

// idRe accepts the IDs of playbooks and steps, which buttons carry.
func idRe(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// parse decodes and validates one playbook, rejecting unknown keys.
func parse(raw []byte, source string, actions []string) (Playbook, error) {
	var p Playbook
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Playbook{}, fmt.Errorf("%s: %w", source, err)
	}
	p.Source = source
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{source}, args...)...))
	}
	if !idRe(p.ID) {
		fail("id: %q must be lower-case letters, digits and dashes", p.ID)
	}
	if strings.TrimSpace(p.Title) == "" {
		fail("title: required")
	}
	if len(p.Steps) == 0 && (p.Enabled == nil || *p.Enabled) {
		fail("steps: at least one step is required")
	}
	seen := map[string]bool{}
	for i, s := range p.Steps {
		key := fmt.Sprintf("steps[%d]", i)
		if !idRe(s.ID) {
			fail("%s.id: %q must be lower-case letters, digits and dashes", key, s.ID)
		} else if seen[s.ID] {
			fail("%s.id: %q is used twice", key, s.ID)
		}
		seen[s.ID] = true
		if strings.TrimSpace(s.Title) == "" {
			fail("%s.title: required", key)
		}
		switch s.Owner {
		case OwnerSecOps, OwnerTeam, OwnerOnCall:
		default:
			fail("%s.owner: %q, want secops, team or oncall", key, s.Owner)
		}
		if s.Path != "" && s.Path != PathEmergency {
			fail("%s.path: %q, want emergency or nothing", key, s.Path)
		}
		if a := s.Automation; a != nil {
			switch a.Kind {
			case AutoContain:
				if a.Action == "" {
					fail("%s.automation.action: required for kind contain", key)
				} else if actions != nil && !slices.Contains(actions, a.Action) {
					fail("%s.automation.action: %q is not a containment action (have %s)", key, a.Action, strings.Join(actions, ", "))
				}
			case AutoInvestigate, AutoAbuseReport, AutoBreakGlass, AutoFollowUp:
				if a.Action != "" {
					fail("%s.automation.action: only kind contain takes an action", key)
				}
			default:
				fail("%s.automation.kind: %q, want contain, investigate, abuse-report, break-glass or follow-up", key, a.Kind)
			}
		}
		if e := s.Escalation; e != nil && e.After <= 0 {
			fail("%s.escalation.after: a positive duration such as 15m is required", key)
		}
	}
	return p, errors.Join(errs...)
}

// CatalogueIDs lists the containment action IDs of the catalogue, for Load
// when the provider is not at hand.
func CatalogueIDs() []string {
	return []string{
		containment.S3BlockPublicAccess, containment.S3RemovePublicStatements, containment.SnapshotUnshare,
		containment.IAMUserRestrictIP, containment.IAMUserDeactivateKeys, containment.IAMRoleRevokeSessions,
	}
}
