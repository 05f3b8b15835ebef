package config

import (
	"fmt"
	"net"
	"regexp"
	"time"
)

// Metrics configures the HTTP server for Prometheus metrics (/metrics) and
// the probes (/healthz, /readyz).
type Metrics struct {
	// Listen is the address to listen on, e.g. ":9090" or
	// "127.0.0.1:9090"; empty turns the server off.
	Listen string `mapstructure:"listen"`
}

// FeedHealth configures the warnings about accounts whose CloudTrail
// events stopped arriving, when the bot is blind to them.
type FeedHealth struct {
	// MaxSilence is how long an account (or a listed region) may send no
	// event before SecOps is warned; 0 turns silence warnings off.
	MaxSilence time.Duration `mapstructure:"max_silence"`
	// AccountsRegions are watched from the start, even before their first
	// event, region by region where regions are listed. Every account an
	// event comes from is watched as a whole anyway.
	AccountsRegions []WatchedAccount `mapstructure:"accounts_regions"`
}

// WatchedAccount is an account whose feed is watched, in the listed
// regions or, with none, as a whole.
type WatchedAccount struct {
	Account string   `mapstructure:"account"`
	Regions []string `mapstructure:"regions"`
}

var regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// validateObserve checks metrics and feed_health.
func (c *Config) validateObserve() []Problem {
	var ps []Problem
	if l := c.Metrics.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			ps = append(ps, Problem{Key: "metrics.listen", Msg: fmt.Sprintf("%q is not a host:port address; use e.g. \":9090\", or \"\" to turn the metrics server off", l)})
		}
	}
	if c.FeedHealth.MaxSilence < 0 {
		ps = append(ps, Problem{Key: "feed_health.max_silence", Msg: "must not be negative; use e.g. 30m, or 0 to turn silence warnings off"})
	} else if c.FeedHealth.MaxSilence > 0 && c.FeedHealth.MaxSilence < 5*time.Minute {
		ps = append(ps, Problem{Key: "feed_health.max_silence", Msg: fmt.Sprintf("%v is shorter than CloudTrail's own delivery delay and would warn all the time; use 5m or more", c.FeedHealth.MaxSilence)})
	}
	for i, a := range c.FeedHealth.AccountsRegions {
		key := fmt.Sprintf("feed_health.accounts_regions[%d]", i)
		if !accountIDRe.MatchString(a.Account) {
			ps = append(ps, Problem{Key: key + ".account", Msg: fmt.Sprintf("%q is not a 12-digit account ID (quote it in YAML)", a.Account)})
		}
		for j, r := range a.Regions {
			if !regionRe.MatchString(r) {
				ps = append(ps, Problem{Key: fmt.Sprintf("%s.regions[%d]", key, j), Msg: fmt.Sprintf("%q is not an AWS region such as us-east-1", r)})
			}
		}
	}
	return ps
}
