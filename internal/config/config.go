// Package config defines the bot's configuration, loads it from a YAML file
// and SECOPS_* environment variables, and validates it, reporting every
// problem at once with the key at fault, where it was set and how to fix
// it.
//
// A block that configures one service is defined by that service, with its
// defaults and its own Validate (breakglass, roles, baseline, containment,
// playbooks, on_call); this package composes them. The blocks that describe
// the organisation (secops, teams, accounts, …) are defined here, and
// Config turns them into the options of the services that read them
// (OrgOptions, EnrichOptions, BreakGlassOptions). No service imports this
// package: only the wiring in internal/app and cmd/ does.
package config

import (
	"time"

	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/org/authz"
	"github.com/secops-bot/secops-bot/org/oncall"
	"github.com/secops-bot/secops-bot/playbooks"
	"github.com/secops-bot/secops-bot/respond/breakglass"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// The blocks defined by the services they configure.
type (
	// Roles lists who may do what: Slack user IDs (U…/W…) or user-group
	// handles (@handle) or IDs (S…).
	Roles = authz.Roles
	// Baseline tunes actor anomaly signals.
	Baseline = enrich.Baseline
	// BreakGlass configures time-boxed emergency access to AWS accounts.
	BreakGlass = breakglass.Config
	// Containment configures the vetted containment actions.
	Containment = containment.Config
	// Playbooks configures the incident playbooks.
	Playbooks = playbooks.Config
	// OnCall is the on_call block: rotations per team.
	OnCall = oncall.Config
)

// Config is the whole configuration.
type Config struct {
	Slack           Slack         `yaml:"slack"`
	SecOps          SecOps        `yaml:"secops"`
	Teams           []Team        `yaml:"teams"`
	Accounts        []Account     `yaml:"accounts"`
	TrustedAccounts []TrustedAcct `yaml:"trusted_accounts"`
	Principals      Principals    `yaml:"principals"`
	Roles           Roles         `yaml:"roles"`
	Store           Store         `yaml:"store"`
	Ingest          Ingest        `yaml:"ingest"`
	Baseline        Baseline      `yaml:"baseline"`
	AWS             AWS           `yaml:"aws"`
	Jira            Jira          `yaml:"jira"`
	BreakGlass      BreakGlass    `yaml:"breakglass"`
	Containment     Containment   `yaml:"containment"`
	Playbooks       Playbooks     `yaml:"playbooks"`
	OnCall          OnCall        `yaml:"on_call"`
	Sensitivity     Sensitivity   `yaml:"sensitivity"`
	Rules           Rules         `yaml:"rules"`
	Log             Log           `yaml:"log"`
	Metrics         Metrics       `yaml:"metrics"`
	FeedHealth      FeedHealth    `yaml:"feed_health"`
	Canary          Canary        `yaml:"canary"`
	Audit           Audit         `yaml:"audit"`
	Paging          Paging        `yaml:"paging"`
	Routing         Routing       `yaml:"routing"`
	StepUp          StepUp        `yaml:"step_up"`
	Sigma           Sigma         `yaml:"sigma"`
}

// Slack configures the Slack connection. Tokens belong in the environment
// (SECOPS_SLACK_APP_TOKEN, SECOPS_SLACK_BOT_TOKEN) or in files named by the
// *_file keys, never in the YAML committed to a repository.
type Slack struct {
	AppToken         string `yaml:"app_token"`
	AppTokenFile     string `yaml:"app_token_file"`
	BotToken         string `yaml:"bot_token"`
	BotTokenFile     string `yaml:"bot_token_file"`
	APIURL           string `yaml:"api_url"`
	SecOpsChannel    string `yaml:"secops_channel"`
	ApproversChannel string `yaml:"approvers_channel"`
	// NetworkTimeout is how long the Socket Mode connection may leave what
	// it sent unacknowledged, or stay silent to keepalive probes, before it
	// is dropped and reopened: it finds a socket whose far end is gone
	// (a NAT or load balancer forgot it) sooner than slack-go's watchdog,
	// which waits 30–60 s for a missing ping.
	NetworkTimeout time.Duration `yaml:"network_timeout"`
}

// SecOps holds the SecOps team's own settings; they are the defaults for
// findings in accounts that no team owns.
type SecOps struct {
	Timezone      string `yaml:"timezone"`
	BusinessHours string `yaml:"business_hours"`
	JiraProject   string `yaml:"jira_project"`
}

// Team is a team that owns accounts.
type Team struct {
	Name          string   `yaml:"name"`
	SlackChannel  string   `yaml:"slack_channel"`
	Timezone      string   `yaml:"timezone"`
	BusinessHours string   `yaml:"business_hours"`
	JiraProject   string   `yaml:"jira_project"`
	Holidays      []string `yaml:"holidays"`
}

// Account is one of the organisation's AWS accounts.
type Account struct {
	ID                    string   `yaml:"id"`
	Name                  string   `yaml:"name"`
	Team                  string   `yaml:"team"`
	Environment           string   `yaml:"environment"`
	ExpectedPublicBuckets []string `yaml:"expected_public_buckets"`
	RoleARN               string   `yaml:"role_arn"`
	// WriteRoleARN is the role assumed in this account for each change,
	// overriding aws.member_write_role_name.
	WriteRoleARN string `yaml:"write_role_arn"`
}

// TrustedAcct is an external account approved as a share target.
type TrustedAcct struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// Principals classifies actors.
type Principals struct {
	// Contractors are ARN glob patterns; an assumed-role session matches
	// through its role ARN.
	Contractors []string `yaml:"contractors"`
}

// Store selects the database.
type Store struct {
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// NetworkTimeout (postgres) is how long a database connection may
	// leave what was sent unacknowledged, or stay silent to keepalive
	// probes, before it is dropped as dead. It bounds every query on a
	// database that vanished without closing its connections.
	NetworkTimeout time.Duration `yaml:"network_timeout"`
}

// Ingest selects where events come from.
type Ingest struct {
	Dir          string        `yaml:"dir"`
	PollInterval time.Duration `yaml:"poll_interval"`
	SQSQueueURL  string        `yaml:"sqs_queue_url"`
	SQSWorkers   int           `yaml:"sqs_workers"`
	// RetryBackoff is the first wait before a message or file whose events
	// could not be stored (store locked or unreachable) is tried again; it
	// doubles with each failure up to MaxRetryBackoff. Waiting spares a
	// struggling store and keeps a short outage from using up the queue's
	// maxReceiveCount, which would send events to the dead-letter queue.
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	MaxRetryBackoff time.Duration `yaml:"max_retry_backoff"`
	// StoreTimeout bounds one store commit of ingested events; past it the
	// commit fails and its message or file is retried after the backoff.
	StoreTimeout time.Duration `yaml:"store_timeout"`
	// Whoever can write into the trail bucket or the watched directory
	// controls the input, so what one file or object may cost is capped;
	// input over a cap is quarantined with the cap's name and the rest is
	// read. MaxFileBytes bounds what a gzip file or object expands to,
	// MaxRecordBytes one record, MaxLineBytes one JSON Lines line,
	// MaxProblems the problems one file reports one by one; SQSMaxMemory
	// bounds what all SQS workers together hold while reading.
	MaxFileBytes   int64 `yaml:"max_file_bytes"`
	MaxRecordBytes int   `yaml:"max_record_bytes"`
	MaxLineBytes   int   `yaml:"max_line_bytes"`
	MaxProblems    int   `yaml:"max_problems"`
	SQSMaxMemory   int64 `yaml:"sqs_max_memory"`
}

// Limits are the ingest caps as the readers take them.
func (in Ingest) Limits() ingest.Limits {
	return ingest.Limits{MaxFileBytes: in.MaxFileBytes, MaxRecordBytes: in.MaxRecordBytes, MaxLineBytes: in.MaxLineBytes, MaxProblems: in.MaxProblems}
}

// AWS configures how the bot reads state in the member accounts.
type AWS struct {
	// Enabled turns on reading resource state (confirmation, before and
	// after, re-checks). Credentials come from the standard chain.
	Enabled bool `yaml:"enabled"`
	// Region for the bot's own calls (default from the environment).
	Region string `yaml:"region"`
	// MemberRoleName is the role assumed in each member account
	// (accounts[].role_arn overrides it); empty uses the bot's own
	// credentials everywhere.
	MemberRoleName string `yaml:"member_role_name"`
	// MemberWriteRoleName is the role assumed in each member account for
	// each change (containment, undo, break-glass), one session per
	// change limited to it by a session policy; accounts[].write_role_arn
	// overrides it. Empty, the member role makes the changes too.
	MemberWriteRoleName string `yaml:"member_write_role_name"`
	// ExternalID is passed to AssumeRole when set.
	ExternalID string `yaml:"external_id"`
	// OrgAccounts merges AWS Organizations ListAccounts into the known
	// accounts (share targets in the organisation are not unknown).
	OrgAccounts bool `yaml:"org_accounts"`
	// RecheckInterval is how often open findings are re-checked.
	RecheckInterval time.Duration `yaml:"recheck_interval"`
	// AccessLogBuckets are the buckets of S3 server access logs the bot
	// may read, through the member role of the exposed bucket's account,
	// to tell who read a bucket while it was exposed.
	AccessLogBuckets []string `yaml:"access_log_buckets"`
}

// Jira configures tickets. The API token comes from the environment
// (SECOPS_JIRA_API_TOKEN) or api_token_file.
type Jira struct {
	Enabled            bool              `yaml:"enabled"`
	Flavor             string            `yaml:"flavor"`
	BaseURL            string            `yaml:"base_url"`
	Email              string            `yaml:"email"`
	APIToken           string            `yaml:"api_token"`
	APITokenFile       string            `yaml:"api_token_file"`
	IssueType          string            `yaml:"issue_type"`
	Priorities         map[string]string `yaml:"priorities"`
	Labels             []string          `yaml:"labels"`
	ResolveTransitions []string          `yaml:"resolve_transitions"`
	ReopenTransitions  []string          `yaml:"reopen_transitions"`
	LinkSecOps         bool              `yaml:"link_secops"`
	ReopenMode         string            `yaml:"reopen_mode"`
}

// Sensitivity says which data is sensitive; a sensitive finding is raised
// one severity level.
type Sensitivity struct {
	// TagValues maps a tag key to the values that mark sensitive data
	// ("*" for any value).
	TagValues map[string][]string `yaml:"tag_values"`
	// NamePatterns are glob patterns of resource names.
	NamePatterns []string `yaml:"name_patterns"`
	// Environments are account environments whose data is sensitive.
	Environments []string `yaml:"environments"`
}

// Rules overrides the defaults of detection rules, by rule ID.
type Rules map[string]Rule

// Rule overrides a detection rule's defaults.
type Rule struct {
	Enabled  *bool  `yaml:"enabled"`
	Severity string `yaml:"severity"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the embedded defaults: a configuration that runs replay
// with no file and no credentials.
func Default() Config {
	return Config{
		Slack:  Slack{APIURL: "https://slack.com/api/", SecOpsChannel: "#secops", NetworkTimeout: 20 * time.Second},
		SecOps: SecOps{Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Store:  Store{Driver: "sqlite", DSN: "secops-bot.db", NetworkTimeout: 30 * time.Second},
		Ingest: Ingest{
			PollInterval: 2 * time.Second, SQSWorkers: 4, RetryBackoff: 5 * time.Second, MaxRetryBackoff: 5 * time.Minute, StoreTimeout: 30 * time.Second,
			MaxFileBytes: ingest.DefaultMaxFileBytes, MaxRecordBytes: ingest.DefaultMaxRecordBytes, MaxLineBytes: ingest.DefaultMaxLineBytes,
			MaxProblems: ingest.DefaultMaxProblems, SQSMaxMemory: sqsMaxMemory,
		},
		Baseline:    enrich.DefaultBaseline(),
		AWS:         AWS{Enabled: true, RecheckInterval: 5 * time.Minute},
		Jira:        Jira{Flavor: "cloud", IssueType: "Task", ReopenMode: "reopen"},
		BreakGlass:  breakglass.Defaults(),
		Sensitivity: Sensitivity{Environments: []string{"production"}},
		Log:         Log{Level: "info", Format: "json"},
		Metrics:     Metrics{Listen: ":9090"},
		FeedHealth:  FeedHealth{MaxSilence: 30 * time.Minute},
		Canary:      Canary{Interval: 15 * time.Minute, Timeout: 10 * time.Minute},
		Audit:       DefaultAudit(),
		Paging:      DefaultPaging(),
		Sigma:       Sigma{loaded: &sigmaLoad{}},
	}
}
