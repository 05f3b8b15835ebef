package config

import (
	"github.com/secops-bot/secops-bot/internal/problem"
	"github.com/secops-bot/secops-bot/respond/breakglass/stepup"
)

// StepUp configures the one-time codes (RFC 6238 TOTP) approvers give on
// accounts with breakglass.accounts[].step_up on: the keys that seal the
// enrolled secrets in the store, "ID:BASE64" entries with the current key
// first. Set SECOPS_STEP_UP_KEYS or keys_file, never the YAML.
type StepUp struct {
	Keys     string `yaml:"keys"`
	KeysFile string `yaml:"keys_file"`
}

// Validate checks the keys; they are named, never shown.
func (s StepUp) Validate() problem.List {
	var ps problem.List
	if s.Keys != "" {
		if _, err := stepup.ParseKeys(s.Keys); err != nil {
			ps.Addf("keys", "%v", err)
		}
	}
	return ps
}
