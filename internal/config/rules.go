package config

import (
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/ingest/native"
)

// builtinRuleIDs are the rules the bot knows without a Sigma rule loaded:
// the built-in rules, then the native sources (GuardDuty, Security Hub, IAM
// Access Analyzer), in the order of the README's rule table.
// routing.rules.<id> may name them.
func builtinRuleIDs() []string {
	return append(detect.RuleIDs(), native.RuleIDs()...)
}
