package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// fuzzEnvKeys are environment overrides the fuzzer may set, one per input:
// durations, numbers, booleans, lists and plain strings.
var fuzzEnvKeys = []string{
	"SECOPS_INGEST_POLL_INTERVAL", "SECOPS_STORE_DRIVER", "SECOPS_SLACK_BOT_TOKEN",
	"SECOPS_BREAKGLASS_MAX_DURATION", "SECOPS_BREAKGLASS_ENABLED", "SECOPS_INGEST_SQS_WORKERS",
	"SECOPS_LOG_LEVEL", "SECOPS_STORE_DSN",
}

// FuzzParse checks that no YAML text or environment value makes Parse
// panic, that a refusal is a readable error (a *Error names the keys), and
// that an accepted configuration passes its own validation.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example), "", "{}", "slack: 1", "teams: [{name: x}]", "store: {driver: postgres}",
		"ingest:\n  poll_interval: -1s\n", "breakglass:\n  enabled: true\n  max_duration: 13h\n",
		"roles:\n  responders: [\"@\"]\n", "unknown_key: 1", "teams: {a: b}", "- - -", "a: &x [*x]",
		"slack:\n  app_token: \"\\u0000\"\n", "aws: {regions: ''}",
		"log: &a\n  <<: *a\n  level: info\n", "teams: &t [*t]\n", "ingest:\n  poll_interval: 2\n", "log:\n\tlevel: x\n",
	} {
		f.Add(seed, uint8(0), "")
	}
	f.Add(string(example), uint8(0), "1h")
	f.Add(string(example), uint8(1), "mysql")
	f.Add(string(example), uint8(3), "-5m")
	f.Add(string(example), uint8(5), "eu-west-1,,")
	f.Fuzz(func(t *testing.T, yamlText string, keyIndex uint8, value string) {
		if strings.Contains(yamlText, "_file") {
			// *_file keys read files; the fuzzer must not read the
			// machine's files (or /dev/zero forever).
			return
		}
		key := fuzzEnvKeys[int(keyIndex)%len(fuzzEnvKeys)]
		env := func(k string) (string, bool) {
			if k == key && value != "" {
				return value, true
			}
			return "", false
		}
		cfg, err := Parse(yamlText, env)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Parse refused with an empty message")
			}
			var ce *Error
			if errors.As(err, &ce) {
				if len(ce.Problems) == 0 {
					t.Fatal("Parse returned a *Error without problems")
				}
				for _, p := range ce.Problems {
					if p.Msg == "" {
						t.Fatalf("problem %+v has no message", p)
					}
				}
			}
			return
		}
		if ps := cfg.Validate(); len(ps) > 0 {
			t.Fatalf("Parse accepted a configuration that fails validation: %v", ps)
		}
	})
}
