// Package sigma runs Sigma detection rules on CloudTrail records.
//
// Sigma is the open, vendor-neutral format in which security teams write
// and share detections; the public collection holds some sixty rules for
// AWS CloudTrail (logsource product aws, service cloudtrail). No Go
// implementation was available to this module, so this package is a
// focused one: it implements the subset those rules use, evaluated
// directly on a record's raw JSON, and reports everything else as a
// problem instead of guessing.
//
// Supported: search identifiers as field maps (all fields must match) and
// lists of maps (any map), keyword lists (a search of the whole record);
// dotted field paths into nested JSON, crossing arrays of objects; string
// values with the wildcards * and ?, numbers, booleans and null; the
// modifiers contains, startswith, endswith, all, re (with i, m, s), cidr,
// exists, cased, fieldref, gt, gte, lt and lte; conditions with and, or,
// not, parentheses, "1 of X*", "all of X*", "1 of them" and "all of them".
// Not supported, and reported with the file, line and construct when a
// rule uses them: aggregations (| count() ...), timeframe, correlation and
// filter documents, rule collections (action), encoding modifiers (base64,
// utf16, windash, ...) and any log source but CloudTrail.
//
// Matching follows Sigma's rules: strings compare ignoring case (ASCII
// letters only, which is all CloudTrail's names and identifiers use) unless
// cased; regular expressions are RE2 and compare case-sensitively unless
// re|i; a value matches a field that holds a list when it matches any
// element. A field that is absent, null or the empty string has no value:
// null matches it and exists is false for it.
//
// Rules are compiled once (Compile) into a Set indexed by the eventName or
// eventSource every branch of their condition pins, so that a record is
// only tried against the few rules that can match it and the rules that pin
// nothing.
package sigma

import (
	"fmt"
	"strings"
)

// Level is a rule's level, Sigma's word for severity.
type Level int

// Levels, in increasing order.
const (
	LevelInformational Level = iota + 1
	LevelLow
	LevelMedium
	LevelHigh
	LevelCritical
)

var levelNames = map[string]Level{
	"informational": LevelInformational,
	"low":           LevelLow,
	"medium":        LevelMedium,
	"high":          LevelHigh,
	"critical":      LevelCritical,
}

func (l Level) String() string {
	for name, v := range levelNames {
		if v == l {
			return name
		}
	}
	return "unknown"
}

// Rule is one Sigma rule, checked and compiled.
type Rule struct {
	// ID is the rule's id, which keys its findings.
	ID string
	// Name is the optional unique name Sigma 2 rules may carry.
	Name           string
	Title          string
	Description    string
	Status         string
	Author         string
	Level          Level
	References     []string
	FalsePositives []string
	Tags           []string

	// File and Line are where the rule was read from.
	File string
	Line int

	searches []search
	cond     node
}

// Rules is a list of rules.
type Rules []*Rule

// Problem is a rule, or part of one, that cannot be run: it is reported,
// never skipped silently.
type Problem struct {
	File string
	Line int
	// Rule is the rule's id, when it got that far.
	Rule string
	// Construct is what could not be run, such as "modifier base64",
	// "condition" or "logsource".
	Construct string
	Message   string
}

// String reads "file:line: construct: message", the form editors and CI
// logs link to.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Construct, p.Message)
}

func (p Problem) Error() string { return p.String() }

// Describe summarises problems in one error, or nil when there are none.
func Describe(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = p.String()
	}
	return fmt.Errorf("%d Sigma rule problems:\n%s", len(problems), strings.Join(lines, "\n"))
}
