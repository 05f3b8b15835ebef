package main

import (
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/secops-bot/secops-bot/internal/config"
)

// newSettings binds the global flags to viper, with the environment as
// their fallback: --config, then SECOPS_CONFIG; --log-level, then
// SECOPS_LOG_LEVEL; and so on. Viper stays at this edge: the configuration
// file itself is decoded by package config, which reports every problem
// with its file and line, or with the SECOPS_ variable that set it.
func newSettings(flags *pflag.FlagSet) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix(config.EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	// Binding fails only for a nil flag set.
	_ = v.BindPFlags(flags)
	return v
}
