package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// EnvPrefix is the prefix of environment overrides: SECOPS_SLACK_BOT_TOKEN
// sets slack.bot_token.
const EnvPrefix = "SECOPS"

// SearchPaths are the files tried in order when no --config is given.
func SearchPaths() []string {
	return []string{"./config.yaml", "/etc/secops-bot/config.yaml"}
}

// Loaded is a configuration with the file it came from ("" for the
// embedded defaults).
type Loaded struct {
	Config
	File string
}

// Load reads the configuration from path (or the first of SearchPaths that
// exists, or the embedded defaults), applies SECOPS_* environment overrides
// and *_file secrets, and validates it. The error, when anything is wrong,
// is a *Error listing every problem with where its key was set.
func Load(path string, env func(string) (string, bool)) (Loaded, error) {
	if env == nil {
		env = os.LookupEnv
	}
	file := path
	if file == "" {
		for _, p := range SearchPaths() {
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
	}
	var text []byte
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Loaded{}, fmt.Errorf("open config: %w", err)
		}
		text = b
	}
	cfg, err := parse(file, text, env)
	return Loaded{Config: cfg, File: file}, err
}

// Parse decodes and validates YAML text; it is Load without files, and its
// problems name lines ("line 3") rather than a file.
func Parse(yamlText string, env func(string) (string, bool)) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	return parse("", []byte(yamlText), env)
}

func parse(file string, text []byte, env func(string) (string, bool)) (Config, error) {
	d := newDecoder(file)
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return cfg, &Error{Problems: []Problem{d.syntaxProblem(err, text)}}
	}
	d.document(&doc, &cfg)
	d.env(&cfg, env)
	problems := d.problems
	for _, p := range append(readSecretFiles(&cfg), cfg.Validate()...) {
		if d.refusedAt(p.Key) {
			continue
		}
		p.Source, p.Block = d.source(p.Key)
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return cfg, &Error{Problems: problems}
	}
	return cfg, nil
}

// source says where key was set or, when it was not, where the nearest
// block or list item around it is.
func (d *decoder) source(key string) (source, block string) {
	if s, ok := d.sources[key]; ok {
		return s, ""
	}
	for k := parent(key); k != ""; k = parent(k) {
		if s, ok := d.sources[k]; ok {
			return "", s
		}
	}
	return "", ""
}

// refusedAt reports whether key or a block around it had a value that
// could not be read.
func (d *decoder) refusedAt(key string) bool {
	for k := key; k != ""; k = parent(k) {
		if d.refused[k] {
			return true
		}
	}
	return false
}

// parent strips the last key or index: "a.b[0].c" → "a.b[0]" → "a.b".
func parent(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

// readSecretFiles reads the tokens named by *_file keys when the token
// itself is not set.
func readSecretFiles(cfg *Config) []Problem {
	var out []Problem
	read := func(key, file string, dst *string) {
		if file == "" || *dst != "" {
			return
		}
		b, err := os.ReadFile(file)
		if err != nil {
			out = append(out, Problem{Key: key, Msg: fmt.Sprintf("cannot read the token file: %v", err)})
			return
		}
		*dst = strings.TrimSpace(string(b))
	}
	read("slack.app_token_file", cfg.Slack.AppTokenFile, &cfg.Slack.AppToken)
	read("slack.bot_token_file", cfg.Slack.BotTokenFile, &cfg.Slack.BotToken)
	read("jira.api_token_file", cfg.Jira.APITokenFile, &cfg.Jira.APIToken)
	read("audit.keys_file", cfg.Audit.KeysFile, &cfg.Audit.Keys)
	read("step_up.keys_file", cfg.StepUp.KeysFile, &cfg.StepUp.Keys)
	read("paging.pagerduty.api_token_file", cfg.Paging.PagerDuty.APITokenFile, &cfg.Paging.PagerDuty.APIToken)
	read("paging.opsgenie.api_key_file", cfg.Paging.Opsgenie.APIKeyFile, &cfg.Paging.Opsgenie.APIKey)
	for i := range cfg.Paging.Teams {
		t := &cfg.Paging.Teams[i]
		read(fmt.Sprintf("paging.teams[%d].routing_key_file", i), t.RoutingKeyFile, &t.RoutingKey)
	}
	return out
}

// ParseDuration reads a Go duration or a number of days ("30d") or weeks
// ("2w").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("duration %q: want e.g. 30m, 12h, 30d", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30m, 12h, 30d", s)
	}
	return d, nil
}
