package detect

import (
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/detect/sigma/catalogue"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// Option changes what an Engine evaluates.
type Option func(*Engine)

// WithSigma makes the engine also run the Sigma rules of set on every
// record, failed calls included (a rule's condition says whether it wants
// them). A match raises a finding through the same path as the built-in
// rules: it is keyed by the rule's id and the resource the event names, or
// the actor when it names none; its title and level come from the rule,
// its detail is the rule's description, and nothing but a person resolves
// it. A nil set adds nothing.
func WithSigma(set *sigma.Set) Option {
	return func(e *Engine) { e.sigma = set }
}

// CompileSigma compiles rules for WithSigma. A rule whose id is a built-in
// rule's is reported and left out, since findings are keyed by rule id.
func CompileSigma(rules sigma.Rules) (*sigma.Set, []sigma.Problem) {
	return sigma.Compile(rules, RuleIDs()...)
}

// LoadSigma loads the Sigma rules a configuration names: the catalogue
// rules selected (by name or id, or "all") and every rule under dirs,
// compiled together for WithSigma. The problems are the rules that cannot
// be run, each with its file, line and construct; the set holds the rest.
// The error is a catalogue name that does not exist.
func LoadSigma(dirs, catalogueRules []string) (*sigma.Set, []sigma.Problem, error) {
	cat, err := catalogue.Select(catalogueRules)
	if err != nil {
		return nil, nil, err
	}
	rules, problems := sigma.LoadDirs(dirs)
	set, more := CompileSigma(append(cat, rules...))
	return set, append(problems, more...), nil
}

// sigmaResults runs the Sigma rules. It allocates only when a rule
// matches, which is rare: it runs on every record.
func (e *Engine) sigmaResults(rec *cloudtrail.Record) []Result {
	if e.sigma == nil {
		return nil
	}
	var buf [4]*sigma.Rule
	matched := e.sigma.Match(rec, buf[:0])
	if len(matched) == 0 {
		return nil
	}
	typ, id, arn := cloudtrail.ResourceOf(rec)
	res := finding.Resource{Type: typ, ID: id, ARN: arn}
	subject := ""
	if arn == "" {
		res = finding.Resource{}
		subject = rec.ActorARN()
	}
	out := make([]Result, 0, len(matched))
	for _, r := range matched {
		out = append(out, Result{
			Kind:     Exposure,
			Rule:     r.ID,
			Severity: levelSeverity(r.Level),
			Title:    r.Title,
			Detail:   r.Description,
			Resource: res,
			Subject:  subject,
			Notes: &finding.RuleNotes{
				Source:         "sigma",
				File:           r.File,
				Status:         r.Status,
				FalsePositives: r.FalsePositives,
				References:     r.References,
				Tags:           r.Tags,
			},
		})
	}
	return out
}

// levelSeverity maps Sigma's levels onto finding severities; there is no
// severity below low, so informational rules raise low findings.
func levelSeverity(l sigma.Level) finding.Severity {
	switch l {
	case sigma.LevelCritical:
		return finding.SeverityCritical
	case sigma.LevelHigh:
		return finding.SeverityHigh
	case sigma.LevelMedium:
		return finding.SeverityMedium
	default:
		return finding.SeverityLow
	}
}
