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

// Canary configures the bot's canary: on a schedule it tags its own IAM
// role (iam:TagRole, or iam:TagUser when it runs as a user) and expects the
// call's CloudTrail event back through its event feed within Timeout; a
// canary that does not come back is a high finding (canary-missing),
// resolved by the bot when one does.
type Canary struct {
	Enabled bool `mapstructure:"enabled"`
	// Interval between canary calls.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout is how long the event may take to come back; shorter than
	// Interval. EventBridge usually delivers within a minute.
	Timeout time.Duration `mapstructure:"timeout"`
	// Accounts are member accounts where a canary is made too, through the
	// member role, which tags itself.
	Accounts []string `mapstructure:"accounts"`
}

var regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// validateObserve checks metrics, feed_health and canary.
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
	ps = append(ps, c.validateCanary()...)
	return ps
}

func (c *Config) validateCanary() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	k := c.Canary
	if !k.Enabled {
		return nil
	}
	if !c.AWS.Enabled && c.Ingest.SQSQueueURL == "" {
		add("canary.enabled", "the canary calls AWS with the bot's credentials; set aws.enabled: true or ingest.sqs_queue_url, or turn the canary off")
	}
	if k.Interval <= 0 {
		add("canary.interval", "must be positive; use e.g. 15m")
	}
	switch {
	case k.Timeout <= 0:
		add("canary.timeout", "must be positive; use e.g. 10m (EventBridge delivers within a minute, CloudTrail log files within 15)")
	case k.Interval > 0 && k.Timeout >= k.Interval:
		add("canary.timeout", "%v is not shorter than canary.interval (%v): each canary must be judged before the next; lower the timeout or raise the interval", k.Timeout, k.Interval)
	}
	if len(k.Accounts) > 0 && !c.AWS.Enabled {
		add("canary.accounts", "canaries in member accounts go through the member role; set aws.enabled: true (with aws.member_role_name or accounts[].role_arn) or remove the list")
	}
	seen := map[string]bool{}
	for i, a := range k.Accounts {
		key := fmt.Sprintf("canary.accounts[%d]", i)
		switch {
		case !accountIDRe.MatchString(a):
			add(key, "%q is not a 12-digit account ID (quote it in YAML)", a)
		case seen[a]:
			add(key, "account %s is listed twice", a)
		}
		seen[a] = true
	}
	return ps
}
