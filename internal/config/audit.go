package config

import (
	"regexp"
	"time"

	"github.com/secops-bot/secops-bot/internal/problem"
	"github.com/secops-bot/secops-bot/ops/audit"
)

// Audit configures how the audit log is kept honest against someone who can
// write to the database: the keys that seal its hash chain, and where its
// head is anchored outside the database.
type Audit struct {
	// Keys seal the chain with HMAC-SHA256: "ID:BASE64" entries (32-byte
	// keys), the current one first, older ones after it while records
	// they sealed must still verify. Set SECOPS_AUDIT_KEYS or keys_file,
	// never the YAML; without keys the chain is plain SHA-256.
	Keys     string `yaml:"keys"`
	KeysFile string `yaml:"keys_file"`
	// AnchorInterval is how often the chain's head is anchored when it
	// moved; it is anchored at shutdown too.
	AnchorInterval time.Duration `yaml:"anchor_interval"`
	// SlackChannel receives each anchor, with the command that checks the
	// log against it.
	SlackChannel string `yaml:"slack_channel"`
	// S3Bucket keeps each anchor as an object under S3Prefix; with Object
	// Lock on the bucket and no default retention, each is locked for
	// S3Retention.
	S3Bucket    string        `yaml:"s3_bucket"`
	S3Prefix    string        `yaml:"s3_prefix"`
	S3Retention time.Duration `yaml:"s3_retention"`
}

// DefaultAudit anchors hourly and keeps S3 anchors for a year.
func DefaultAudit() Audit {
	return Audit{AnchorInterval: audit.DefaultInterval, S3Prefix: "secops-bot/audit/", S3Retention: 365 * 24 * time.Hour}
}

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the block. The keys are named, never shown.
func (a Audit) Validate() problem.List {
	var ps problem.List
	if a.Keys != "" {
		if _, err := audit.ParseKeys(a.Keys); err != nil {
			ps.Addf("keys", "%v", err)
		}
	}
	if a.AnchorInterval < time.Minute || a.AnchorInterval > 24*time.Hour {
		ps.Addf("anchor_interval", "must be between 1m and 24h (e.g. 1h): it bounds how many of the newest records a rewrite can hide")
	}
	if a.SlackChannel != "" {
		checkChannel(&ps, "slack_channel", a.SlackChannel)
	}
	if a.S3Bucket != "" && !bucketRe.MatchString(a.S3Bucket) {
		ps.Addf("s3_bucket", "%q is not an S3 bucket name (3–63 lowercase letters, digits, dots and hyphens)", a.S3Bucket)
	}
	if a.S3Retention < 24*time.Hour || a.S3Retention > 10*365*24*time.Hour {
		ps.Addf("s3_retention", "must be between 1d and 3650d (e.g. 365d)")
	}
	return ps
}

// Anchored reports whether the head is anchored anywhere.
func (a Audit) Anchored() bool { return a.SlackChannel != "" || a.S3Bucket != "" }
