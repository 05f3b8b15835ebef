package config

import (
	"net"
	"regexp"
	"time"

	"github.com/secops-bot/secops-bot/internal/problem"
)

// Metrics configures the HTTP server for Prometheus metrics (/metrics) and
// the probes (/healthz, /readyz).
type Metrics struct {
	// Listen is the address to listen on, e.g. ":9090" or
	// "127.0.0.1:9090"; empty turns the server off.
	Listen string `yaml:"listen"`
}

// FeedHealth configures the warnings about accounts whose CloudTrail
// events stopped arriving, when the bot is blind to them.
type FeedHealth struct {
	// MaxSilence is how long an account (or a listed region) may send no
	// event before SecOps is warned; 0 turns silence warnings off.
	MaxSilence time.Duration `yaml:"max_silence"`
	// AccountsRegions are watched from the start, even before their first
	// event, region by region where regions are listed. Every account an
	// event comes from is watched as a whole anyway.
	AccountsRegions []WatchedAccount `yaml:"accounts_regions"`
}

// WatchedAccount is an account whose feed is watched, in the listed
// regions or, with none, as a whole.
type WatchedAccount struct {
	Account string   `yaml:"account"`
	Regions []string `yaml:"regions"`
}

// Canary configures the bot's canary: on a schedule it tags its own IAM
// role (iam:TagRole, or iam:TagUser when it runs as a user) and expects the
// call's CloudTrail event back through its event feed within Timeout; a
// canary that does not come back is a high finding (canary-missing),
// resolved by the bot when one does.
type Canary struct {
	Enabled bool `yaml:"enabled"`
	// Interval between canary calls.
	Interval time.Duration `yaml:"interval"`
	// Timeout is how long the event may take to come back; shorter than
	// Interval. EventBridge usually delivers within a minute.
	Timeout time.Duration `yaml:"timeout"`
	// Accounts are member accounts where a canary is made too, through the
	// member role, which tags itself.
	Accounts []string `yaml:"accounts"`
}

var regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// Validate checks the metrics block.
func (m Metrics) Validate() problem.List {
	var ps problem.List
	if l := m.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			ps.Addf("listen", "%q is not a host:port address; use e.g. \":9090\", or \"\" to turn the metrics server off", l)
		}
	}
	return ps
}

// Validate checks the feed_health block.
func (f FeedHealth) Validate() problem.List {
	var ps problem.List
	if f.MaxSilence < 0 {
		ps.Addf("max_silence", "must not be negative; use e.g. 30m, or 0 to turn silence warnings off")
	} else if f.MaxSilence > 0 && f.MaxSilence < 5*time.Minute {
		ps.Addf("max_silence", "%v is shorter than CloudTrail's own delivery delay and would warn all the time; use 5m or more", f.MaxSilence)
	}
	for i, a := range f.AccountsRegions {
		key := problem.Index("accounts_regions", i)
		if !accountIDRe.MatchString(a.Account) {
			ps.Addf(key+".account", "%q is not a 12-digit account ID (quote it in YAML)", a.Account)
		}
		for j, r := range a.Regions {
			if !regionRe.MatchString(r) {
				ps.Addf(problem.Index(key+".regions", j), "%q is not an AWS region such as us-east-1", r)
			}
		}
	}
	return ps
}

// checkCanaryCredentials checks that the canary has AWS credentials to
// call with, and member roles to reach other accounts through.
func (c *Config) checkCanaryCredentials() problem.List {
	var ps problem.List
	if !c.Canary.Enabled {
		return nil
	}
	if !c.AWS.Enabled && c.Ingest.SQSQueueURL == "" {
		ps.Addf("canary.enabled", "the canary calls AWS with the bot's credentials; set aws.enabled: true or ingest.sqs_queue_url, or turn the canary off")
	}
	if len(c.Canary.Accounts) > 0 && !c.AWS.Enabled {
		ps.Addf("canary.accounts", "canaries in member accounts go through the member role; set aws.enabled: true (with aws.member_role_name or accounts[].role_arn) or remove the list")
	}
	return ps
}

// Validate checks the canary block; nothing is checked while it is off.
func (k Canary) Validate() problem.List {
	var ps problem.List
	if !k.Enabled {
		return nil
	}
	if k.Interval <= 0 {
		ps.Addf("interval", "must be positive; use e.g. 15m")
	}
	switch {
	case k.Timeout <= 0:
		ps.Addf("timeout", "must be positive; use e.g. 10m (EventBridge delivers within a minute, CloudTrail log files within 15)")
	case k.Interval > 0 && k.Timeout >= k.Interval:
		ps.Addf("timeout", "%v is not shorter than canary.interval (%v): each canary must be judged before the next; lower the timeout or raise the interval", k.Timeout, k.Interval)
	}
	seen := map[string]bool{}
	for i, a := range k.Accounts {
		key := problem.Index("accounts", i)
		switch {
		case !accountIDRe.MatchString(a):
			ps.Addf(key, "%q is not a 12-digit account ID (quote it in YAML)", a)
		case seen[a]:
			ps.Addf(key, "account %s is listed twice", a)
		}
		seen[a] = true
	}
	return ps
}
