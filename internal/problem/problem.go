// Package problem collects what is wrong with a block of configuration, each
// problem at the key it concerns. The packages that own a block (breakglass,
// authz, oncall, …) validate it into a List with keys relative to the block;
// the configuration loader nests those under the block's own key and reports
// every problem at once, with where each key was set. It imports nothing of
// the project, so any package can validate its own options without
// depending on the configuration.
package problem

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong, at a key such as "accounts[0].id".
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// List is every problem found in a block, in the order found.
type List []Problem

// Addf records a problem at key.
func (l *List) Addf(key, format string, args ...any) {
	*l = append(*l, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Nest records the problems of a sub-block found at key, their keys
// prefixed with it.
func (l *List) Nest(key string, sub List) {
	for _, p := range sub {
		*l = append(*l, Problem{Key: Join(key, p.Key), Msg: p.Msg})
	}
}

// Err returns nil for an empty list, or an error listing every problem
// on its own line, so that a service refusing its options says all that is
// wrong at once.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return listError(l)
}

type listError List

func (e listError) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Join appends a key to a prefix: "canary" and "accounts[0]" give
// "canary.accounts[0]", "canary.accounts" and "[0]" give
// "canary.accounts[0]".
func Join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

// Index names the i-th element of a list: Index("levels", 2) is
// "levels[2]".
func Index(key string, i int) string {
	return fmt.Sprintf("%s[%d]", key, i)
}
