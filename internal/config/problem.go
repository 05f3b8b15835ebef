package config

import (
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/internal/problem"
)

// Problem is one thing wrong with the configuration: the key at fault,
// where it was set, and what is wrong with it and how to fix it.
type Problem struct {
	Key string
	// Source is where the key was set: "config.yaml:12", "line 12" for
	// text without a file, or the environment variable
	// ("SECOPS_INGEST_POLL_INTERVAL"). It is empty for a key that kept
	// its default.
	Source string
	// Block is where the block around a key that was not set is, so that
	// a missing key can be found: "config.yaml:9".
	Block string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Key != "" && p.Source != "":
		fmt.Fprintf(&b, "%s (%s)", p.Key, sourceName(p.Source))
	case p.Key != "" && p.Block != "":
		fmt.Fprintf(&b, "%s (not set; its block is at %s)", p.Key, p.Block)
	case p.Key != "":
		b.WriteString(p.Key)
	default:
		b.WriteString(p.Source)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// sourceName says where a value came from in words an operator
// recognises: a file and line as is, a variable as "from SECOPS_…".
func sourceName(s string) string {
	if strings.HasPrefix(s, EnvPrefix+"_") {
		return "from " + s
	}
	return s
}

// Error lists every problem found; it is returned instead of stopping at the
// first one so an operator can fix a file in one go.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// fromList turns the problems a block validator found into problems of
// the configuration.
func fromList(l problem.List) []Problem {
	out := make([]Problem, len(l))
	for i, p := range l {
		out[i] = Problem{Key: p.Key, Msg: p.Msg}
	}
	return out
}
