package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix is the prefix of environment overrides: SECOPS_SLACK_BOT_TOKEN
// sets slack.bot_token.
const EnvPrefix = "SECOPS"

// SearchPaths are tried in order when no --config is given.
var searchPaths = []string{"./config.yaml", "/etc/secops-bot/config.yaml"}

// Loaded is a configuration with the file it came from ("" for the
// embedded defaults).
type Loaded struct {
	Config
	File string
}

// Load reads the configuration from path (or the first of ./config.yaml and
// /etc/secops-bot/config.yaml that exists, or the embedded defaults), applies
// SECOPS_* environment overrides and *_file secrets, and validates it. The
// error, when validation fails, is a *Error listing every problem.
func Load(path string, env func(string) (string, bool)) (Loaded, error) {
	if env == nil {
		env = os.LookupEnv
	}
	v := viper.New()
	v.SetConfigType("yaml")
	file := path
	if file == "" {
		for _, p := range searchPaths {
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return Loaded{}, fmt.Errorf("open config: %w", err)
		}
		err = v.ReadConfig(f)
		f.Close()
		if err != nil {
			return Loaded{}, fmt.Errorf("read config %s: %w (check the YAML syntax)", file, err)
		}
	}
	cfg, err := decode(v, env)
	if err != nil {
		return Loaded{File: file}, err
	}
	return Loaded{Config: cfg, File: file}, nil
}

// Parse decodes and validates YAML text; it is Load without files.
func Parse(yamlText string, env func(string) (string, bool)) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(yamlText)); err != nil {
		return Config{}, fmt.Errorf("read config: %w (check the YAML syntax)", err)
	}
	return decode(v, env)
}

func decode(v *viper.Viper, env func(string) (string, bool)) (Config, error) {
	def := Default()
	var problems []Problem
	// Scalar keys get their defaults from the struct and can be overridden
	// from the environment. Lists (teams, accounts...) come only from YAML.
	for _, key := range scalarKeys(reflect.TypeOf(def), "") {
		if val, ok := env(EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))); ok {
			v.Set(key, val)
		}
	}
	cfg := def
	var md mapstructure.Metadata
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.Metadata = &md
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(durationHook, mapstructure.StringToSliceHookFunc(","))
	})
	if err != nil {
		problems = append(problems, decodeProblems(err)...)
	}
	unused := append([]string(nil), md.Unused...)
	sort.Strings(unused)
	for _, k := range unused {
		problems = append(problems, Problem{Key: k, Msg: "unknown key; remove it or check its spelling against config.example.yaml"})
	}
	problems = append(problems, readSecretFiles(&cfg.Slack)...)
	if cfg.Jira.APITokenFile != "" && cfg.Jira.APIToken == "" {
		b, err := os.ReadFile(cfg.Jira.APITokenFile)
		if err != nil {
			problems = append(problems, Problem{Key: "jira.api_token_file", Msg: fmt.Sprintf("cannot read the token file: %v", err)})
		} else {
			cfg.Jira.APIToken = strings.TrimSpace(string(b))
		}
	}
	problems = append(problems, cfg.Validate()...)
	if len(problems) > 0 {
		return cfg, &Error{Problems: problems}
	}
	return cfg, nil
}

// scalarKeys lists the dotted keys of every scalar leaf in the struct type.
func scalarKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		switch f.Type.Kind() {
		case reflect.Struct:
			if f.Type == reflect.TypeOf(time.Time{}) {
				keys = append(keys, key)
				continue
			}
			keys = append(keys, scalarKeys(f.Type, key)...)
		case reflect.Slice, reflect.Map, reflect.Pointer:
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

// durationHook accepts Go durations and day counts such as "30d".
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseDuration(d)
	case int:
		return time.Duration(d) * time.Second, nil
	}
	return data, nil
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

func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		msg := e.Error()
		var de *mapstructure.DecodeError
		if errors.As(e, &de) {
			out = append(out, Problem{Key: de.Name(), Msg: de.Unwrap().Error()})
			return
		}
		key := ""
		if strings.HasPrefix(msg, "'") {
			if end := strings.Index(msg[1:], "'"); end >= 0 {
				key, msg = msg[1:end+1], strings.TrimSpace(msg[end+2:])
			}
		}
		out = append(out, Problem{Key: key, Msg: msg})
	}
	walk(err)
	return out
}

func readSecretFiles(s *Slack) []Problem {
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
	read("slack.app_token_file", s.AppTokenFile, &s.AppToken)
	read("slack.bot_token_file", s.BotTokenFile, &s.BotToken)
	return out
}
