// Package catalogue holds secops-bot's own Sigma rules for what teams
// expect beyond the built-in exposure rules: root use, sign-in without MFA,
// keys made for someone else, full administrator rights granted, and
// detection, recording, logging, encryption or network defences turned off.
// They are written for this project, embedded in the binary and enabled by
// configuration, by id or name, or all at once.
package catalogue

import (
	"embed"
	"fmt"
	"path"
	"strings"

	"github.com/secops-bot/secops-bot/detect/sigma"
)

//go:embed rules/*.yml
var files embed.FS

// All returns every catalogue rule, in file name order. The rules ship with
// the binary and are tested, so a problem with one is a bug, returned as an
// error. Their File reads catalogue/NAME.yml, so that findings and
// messages tell them from a team's own rules.
func All() (sigma.Rules, error) {
	rules, problems := sigma.Load(files, []string{"rules"})
	if err := sigma.Describe(problems); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	for _, r := range rules {
		r.File = "catalogue/" + path.Base(r.File)
	}
	return rules, nil
}

// Select returns the catalogue rules named by id or name, in catalogue
// order; "all" selects every one. An unknown name is an error that lists
// the known ones.
func Select(names []string) (sigma.Rules, error) {
	all, err := All()
	if err != nil || len(names) == 0 {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		if strings.EqualFold(n, "all") {
			return all, nil
		}
		want[n] = true
	}
	var out sigma.Rules
	for _, r := range all {
		if want[r.ID] || want[r.Name] {
			out = append(out, r)
			delete(want, r.ID)
			delete(want, r.Name)
		}
	}
	if len(want) > 0 {
		var unknown, known []string
		for _, n := range names {
			if want[n] {
				unknown = append(unknown, fmt.Sprintf("%q", n))
			}
		}
		for _, r := range all {
			known = append(known, r.Name)
		}
		return nil, fmt.Errorf("unknown catalogue rule %s; known: all, %s (or their ids)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}
