// Package deploy carries the files needed to set the bot up outside the
// binary's own configuration: the Slack app manifest, embedded so the
// binary can print the exact manifest it was built to work with.
package deploy

import (
	_ "embed"
)

//go:embed slack-app-manifest.yaml
var slackManifest []byte

// SlackManifest returns the Slack app manifest (YAML). It is a copy, so a
// caller cannot change what the next caller gets.
func SlackManifest() []byte {
	return append([]byte(nil), slackManifest...)
}
