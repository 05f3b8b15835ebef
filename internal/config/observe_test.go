package config

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestObserveConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		keys []string // wanted problem keys; none means valid
		want func(Config) bool
	}{
		{name: "defaults", yaml: "log: {level: info}\n",
			want: func(c Config) bool {
				return c.Metrics.Listen == ":9090" && c.FeedHealth.MaxSilence == 30*time.Minute && len(c.FeedHealth.AccountsRegions) == 0
			}},
		{name: "set", yaml: `
metrics: {listen: "127.0.0.1:9100"}
feed_health:
  max_silence: 1h
  accounts_regions:
    - {account: "111122223333", regions: [eu-west-1, us-east-1]}
    - {account: "222233334444"}
`, want: func(c Config) bool {
			a := c.FeedHealth.AccountsRegions
			return c.Metrics.Listen == "127.0.0.1:9100" && c.FeedHealth.MaxSilence == time.Hour &&
				len(a) == 2 && slices.Equal(a[0].Regions, []string{"eu-west-1", "us-east-1"}) && a[1].Account == "222233334444"
		}},
		{name: "server and silence off", yaml: "metrics: {listen: \"\"}\nfeed_health: {max_silence: 0}\n",
			want: func(c Config) bool { return c.Metrics.Listen == "" && c.FeedHealth.MaxSilence == 0 }},
		{name: "listen from the environment", yaml: "log: {level: info}\n", env: map[string]string{"SECOPS_METRICS_LISTEN": ":9200"},
			want: func(c Config) bool { return c.Metrics.Listen == ":9200" }},
		{name: "bad values", yaml: `
metrics: {listen: "9090"}
feed_health:
  max_silence: 1m
  accounts_regions:
    - {account: "1111", regions: [europe]}
`, keys: []string{"metrics.listen", "feed_health.max_silence", "feed_health.accounts_regions[0].account", "feed_health.accounts_regions[0].regions[0]"}},
		{name: "negative silence", yaml: "feed_health: {max_silence: -5m}\n", keys: []string{"feed_health.max_silence"}},
		{name: "unknown key", yaml: "feed_health: {max_silent: 30m}\n", keys: []string{"feed_health.max_silent"}},
		{name: "canary off by default", yaml: "log: {level: info}\n",
			want: func(c Config) bool {
				return !c.Canary.Enabled && c.Canary.Interval == 15*time.Minute && c.Canary.Timeout == 10*time.Minute && len(c.Canary.Accounts) == 0
			}},
		{name: "canary on", yaml: `
canary:
  enabled: true
  interval: 30m
  timeout: 5m
  accounts: ["444455556666"]
`, want: func(c Config) bool {
			k := c.Canary
			return k.Enabled && k.Interval == 30*time.Minute && k.Timeout == 5*time.Minute && slices.Equal(k.Accounts, []string{"444455556666"})
		}},
		{name: "canary from the environment", yaml: "log: {level: info}\n", env: map[string]string{"SECOPS_CANARY_ENABLED": "true", "SECOPS_CANARY_INTERVAL": "1h"},
			want: func(c Config) bool { return c.Canary.Enabled && c.Canary.Interval == time.Hour }},
		{name: "canary settings ignored while off", yaml: "canary: {enabled: false, interval: 1m, timeout: 5m}\n"},
		{name: "canary without AWS credentials", yaml: "aws: {enabled: false}\ncanary: {enabled: true, accounts: [\"444455556666\"]}\n",
			keys: []string{"canary.enabled", "canary.accounts"}},
		{name: "canary with SQS only", yaml: "aws: {enabled: false}\ningest: {sqs_queue_url: \"https://sqs.eu-west-1.amazonaws.com/111122223333/events\"}\ncanary: {enabled: true}\n"},
		{name: "canary timeout not shorter than interval", yaml: "canary: {enabled: true, interval: 10m, timeout: 10m}\n", keys: []string{"canary.timeout"}},
		{name: "canary bad values", yaml: `
canary:
  enabled: true
  interval: 0s
  timeout: -1m
  accounts: ["4444", "444455556666", "444455556666"]
`, keys: []string{"canary.interval", "canary.timeout", "canary.accounts[0]", "canary.accounts[2]"}},
		{name: "canary unknown key", yaml: "canary: {enabled: true, every: 5m}\n", keys: []string{"canary.every"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse(tc.yaml, envMap(tc.env))
			var cerr *Error
			if err != nil && !errors.As(err, &cerr) {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			if cerr != nil {
				for _, p := range cerr.Problems {
					got = append(got, p.Key)
				}
			}
			if !slices.Equal(got, tc.keys) {
				t.Fatalf("problems at %q, want %q (%v)", got, tc.keys, err)
			}
			if tc.want != nil && !tc.want(cfg) {
				t.Errorf("decoded %+v %+v %+v", cfg.Metrics, cfg.FeedHealth, cfg.Canary)
			}
		})
	}
}
