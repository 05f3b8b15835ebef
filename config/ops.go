package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/secops-bot/secops-bot/oncall"
)

// Containment configures the vetted containment actions. The keys mirror
// containment.Config (which cannot be embedded here: containment depends on
// authz, which depends on this package); serve copies them over.
type Containment struct {
	// CorporateCIDRs are the ranges iam-user-restrict-ip keeps a user to.
	// Without them that action refuses to run rather than lock a user out
	// of everything.
	CorporateCIDRs []string `mapstructure:"corporate_cidrs"`
	// VPCEndpoints (vpce-…) are exempted from the IP lock, because
	// requests through them carry no aws:SourceIp.
	VPCEndpoints []string `mapstructure:"vpc_endpoints"`
}

// Playbooks configures the incident playbooks (mirrors playbooks.Config).
type Playbooks struct {
	// Dir holds YAML playbooks that override (same id) or extend the
	// embedded defaults; empty means the defaults only. The files are
	// checked when the bot starts.
	Dir string `mapstructure:"dir"`
}

// validateOps checks containment, playbooks and on_call.
func (c *Config) validateOps() []Problem {
	var ps []Problem
	for i, cidr := range c.Containment.CorporateCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			ps = append(ps, Problem{Key: fmt.Sprintf("containment.corporate_cidrs[%d]", i),
				Msg: fmt.Sprintf("%q is not a CIDR range; use e.g. 198.51.100.0/24", cidr)})
		}
	}
	for i, v := range c.Containment.VPCEndpoints {
		if !strings.HasPrefix(v, "vpce-") {
			ps = append(ps, Problem{Key: fmt.Sprintf("containment.vpc_endpoints[%d]", i),
				Msg: fmt.Sprintf("%q is not a VPC endpoint ID (vpce-…)", v)})
		}
	}
	if d := c.Playbooks.Dir; d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			ps = append(ps, Problem{Key: "playbooks.dir", Msg: fmt.Sprintf("%q is not a readable directory; create it or leave the key empty to use the built-in playbooks", d)})
		}
	}
	if _, err := oncall.New(c.OnCall); err != nil {
		ps = append(ps, splitProblems(err)...)
	}
	teams := map[string]bool{"secops": true}
	for _, t := range c.Teams {
		teams[t.Name] = true
	}
	for i, r := range c.OnCall.Rotations {
		if r.Team != "" && !teams[r.Team] {
			ps = append(ps, Problem{Key: fmt.Sprintf("on_call.rotations[%d].team", i),
				Msg: fmt.Sprintf("team %q is not defined; use secops or a name under teams: (defined: %s)", r.Team, strings.Join(sortedKeys(teams), ", "))})
		}
	}
	return ps
}

// splitProblems turns the joined errors of oncall.New, each of which starts
// with the key at fault, into problems.
func splitProblems(err error) []Problem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var ps []Problem
	for _, e := range errs {
		if e == nil {
			continue
		}
		key, msg, ok := strings.Cut(e.Error(), ": ")
		if !ok {
			key, msg = "on_call", e.Error()
		}
		ps = append(ps, Problem{Key: key, Msg: msg})
	}
	return ps
}

// OnCall is the on_call section: rotations per team, checked by the oncall
// package itself.
type OnCall = oncall.Config
