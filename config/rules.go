package config

import (
	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/native"
)

// ruleIDs are the rules rules.<id> and routing.rules.<id> may name: the
// built-in rules, then the native sources (GuardDuty, Security Hub, IAM
// Access Analyzer), in the order of the README's rule table.
func ruleIDs() []string {
	return append(detect.RuleIDs(), native.RuleIDs()...)
}
