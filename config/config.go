// Package config defines the bot's configuration, loads it with viper from a
// YAML file and SECOPS_* environment variables, and validates it, reporting
// every problem at once with the key at fault and how to fix it.
package config

import "time"

// Config is the whole configuration.
type Config struct {
	Slack           Slack           `mapstructure:"slack"`
	SecOps          SecOps          `mapstructure:"secops"`
	Teams           []Team          `mapstructure:"teams"`
	Accounts        []Account       `mapstructure:"accounts"`
	TrustedAccounts []TrustedAcct   `mapstructure:"trusted_accounts"`
	Principals      Principals      `mapstructure:"principals"`
	Roles           Roles           `mapstructure:"roles"`
	Store           Store           `mapstructure:"store"`
	Ingest          Ingest          `mapstructure:"ingest"`
	Baseline        Baseline        `mapstructure:"baseline"`
	AWS             AWS             `mapstructure:"aws"`
	Jira            Jira            `mapstructure:"jira"`
	BreakGlass      BreakGlass      `mapstructure:"breakglass"`
	Containment     Containment     `mapstructure:"containment"`
	Playbooks       Playbooks       `mapstructure:"playbooks"`
	OnCall          OnCall          `mapstructure:"on_call"`
	Sensitivity     Sensitivity     `mapstructure:"sensitivity"`
	Rules           map[string]Rule `mapstructure:"rules"`
	Log             Log             `mapstructure:"log"`
	Metrics         Metrics         `mapstructure:"metrics"`
	FeedHealth      FeedHealth      `mapstructure:"feed_health"`
	Canary          Canary          `mapstructure:"canary"`
}

// Slack configures the Slack connection. Tokens belong in the environment
// (SECOPS_SLACK_APP_TOKEN, SECOPS_SLACK_BOT_TOKEN) or in files named by the
// *_file keys, never in the YAML committed to a repository.
type Slack struct {
	AppToken         string `mapstructure:"app_token"`
	AppTokenFile     string `mapstructure:"app_token_file"`
	BotToken         string `mapstructure:"bot_token"`
	BotTokenFile     string `mapstructure:"bot_token_file"`
	APIURL           string `mapstructure:"api_url"`
	SecOpsChannel    string `mapstructure:"secops_channel"`
	ApproversChannel string `mapstructure:"approvers_channel"`
	// NetworkTimeout is how long the Socket Mode connection may leave what
	// it sent unacknowledged, or stay silent to keepalive probes, before it
	// is dropped and reopened: it finds a socket whose far end is gone
	// (a NAT or load balancer forgot it) sooner than slack-go's watchdog,
	// which waits 30–60 s for a missing ping.
	NetworkTimeout time.Duration `mapstructure:"network_timeout"`
}

// SecOps holds the SecOps team's own settings; they are the defaults for
// findings in accounts that no team owns.
type SecOps struct {
	Timezone      string `mapstructure:"timezone"`
	BusinessHours string `mapstructure:"business_hours"`
	JiraProject   string `mapstructure:"jira_project"`
}

// Team is a team that owns accounts.
type Team struct {
	Name          string   `mapstructure:"name"`
	SlackChannel  string   `mapstructure:"slack_channel"`
	Timezone      string   `mapstructure:"timezone"`
	BusinessHours string   `mapstructure:"business_hours"`
	JiraProject   string   `mapstructure:"jira_project"`
	Holidays      []string `mapstructure:"holidays"`
}

// Account is one of the organisation's AWS accounts.
type Account struct {
	ID                    string   `mapstructure:"id"`
	Name                  string   `mapstructure:"name"`
	Team                  string   `mapstructure:"team"`
	Environment           string   `mapstructure:"environment"`
	ExpectedPublicBuckets []string `mapstructure:"expected_public_buckets"`
	RoleARN               string   `mapstructure:"role_arn"`
}

// TrustedAcct is an external account approved as a share target.
type TrustedAcct struct {
	ID   string `mapstructure:"id"`
	Name string `mapstructure:"name"`
}

// Principals classifies actors.
type Principals struct {
	// Contractors are ARN glob patterns; an assumed-role session matches
	// through its role ARN.
	Contractors []string `mapstructure:"contractors"`
}

// Roles lists who may do what: Slack user IDs (U…/W…) or user-group handles
// (@handle) or IDs (S…).
type Roles struct {
	Responders []string `mapstructure:"responders"`
	Approvers  []string `mapstructure:"approvers"`
	Admins     []string `mapstructure:"admins"`
}

// Store selects the database.
type Store struct {
	Driver string `mapstructure:"driver"`
	DSN    string `mapstructure:"dsn"`
	// NetworkTimeout (postgres) is how long a database connection may
	// leave what was sent unacknowledged, or stay silent to keepalive
	// probes, before it is dropped as dead. It bounds every query on a
	// database that vanished without closing its connections.
	NetworkTimeout time.Duration `mapstructure:"network_timeout"`
}

// Ingest selects where events come from.
type Ingest struct {
	Dir          string        `mapstructure:"dir"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
	SQSQueueURL  string        `mapstructure:"sqs_queue_url"`
	SQSWorkers   int           `mapstructure:"sqs_workers"`
	// RetryBackoff is the first wait before a message or file whose events
	// could not be stored (store locked or unreachable) is tried again; it
	// doubles with each failure up to MaxRetryBackoff. Waiting spares a
	// struggling store and keeps a short outage from using up the queue's
	// maxReceiveCount, which would send events to the dead-letter queue.
	RetryBackoff    time.Duration `mapstructure:"retry_backoff"`
	MaxRetryBackoff time.Duration `mapstructure:"max_retry_backoff"`
	// StoreTimeout bounds one store commit of ingested events; past it the
	// commit fails and its message or file is retried after the backoff.
	StoreTimeout time.Duration `mapstructure:"store_timeout"`
}

// Baseline tunes actor anomaly signals.
type Baseline struct {
	Window time.Duration `mapstructure:"window"`
	// MinDays is how many distinct days of activity an actor needs before
	// any anomaly signal is raised.
	MinDays int `mapstructure:"min_days"`
	// MinEvents is the least number of events for a baseline.
	MinEvents int `mapstructure:"min_events"`
	// UnusualHourShare: an hour holding less than this share of the
	// actor's activity is unusual.
	UnusualHourShare float64 `mapstructure:"unusual_hour_share"`
	// Settle: a value first seen less than this long ago is still new.
	Settle time.Duration `mapstructure:"settle"`
}

// AWS configures how the bot reads state in the member accounts.
type AWS struct {
	// Enabled turns on reading resource state (confirmation, before and
	// after, re-checks). Credentials come from the standard chain.
	Enabled bool `mapstructure:"enabled"`
	// Region for the bot's own calls (default from the environment).
	Region string `mapstructure:"region"`
	// MemberRoleName is the role assumed in each member account
	// (accounts[].role_arn overrides it); empty uses the bot's own
	// credentials everywhere.
	MemberRoleName string `mapstructure:"member_role_name"`
	// ExternalID is passed to AssumeRole when set.
	ExternalID string `mapstructure:"external_id"`
	// OrgAccounts merges AWS Organizations ListAccounts into the known
	// accounts (share targets in the organisation are not unknown).
	OrgAccounts bool `mapstructure:"org_accounts"`
	// RecheckInterval is how often open findings are re-checked.
	RecheckInterval time.Duration `mapstructure:"recheck_interval"`
}

// Jira configures tickets. The API token comes from the environment
// (SECOPS_JIRA_API_TOKEN) or api_token_file.
type Jira struct {
	Enabled            bool              `mapstructure:"enabled"`
	Flavor             string            `mapstructure:"flavor"`
	BaseURL            string            `mapstructure:"base_url"`
	Email              string            `mapstructure:"email"`
	APIToken           string            `mapstructure:"api_token"`
	APITokenFile       string            `mapstructure:"api_token_file"`
	IssueType          string            `mapstructure:"issue_type"`
	Priorities         map[string]string `mapstructure:"priorities"`
	Labels             []string          `mapstructure:"labels"`
	ResolveTransitions []string          `mapstructure:"resolve_transitions"`
	ReopenTransitions  []string          `mapstructure:"reopen_transitions"`
	LinkSecOps         bool              `mapstructure:"link_secops"`
	ReopenMode         string            `mapstructure:"reopen_mode"`
}

// Sensitivity says which data is sensitive; a sensitive finding is raised
// one severity level.
type Sensitivity struct {
	// TagValues maps a tag key to the values that mark sensitive data
	// ("*" for any value).
	TagValues map[string][]string `mapstructure:"tag_values"`
	// NamePatterns are glob patterns of resource names.
	NamePatterns []string `mapstructure:"name_patterns"`
	// Environments are account environments whose data is sensitive.
	Environments []string `mapstructure:"environments"`
}

// Rule overrides a detection rule's defaults.
type Rule struct {
	Enabled  *bool  `mapstructure:"enabled"`
	Severity string `mapstructure:"severity"`
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Default returns the embedded defaults: a configuration that runs replay
// with no file and no credentials.
func Default() Config {
	return Config{
		Slack:  Slack{APIURL: "https://slack.com/api/", SecOpsChannel: "#secops", NetworkTimeout: 20 * time.Second},
		SecOps: SecOps{Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Store:  Store{Driver: "sqlite", DSN: "secops-bot.db", NetworkTimeout: 30 * time.Second},
		Ingest: Ingest{PollInterval: 2 * time.Second, SQSWorkers: 4, RetryBackoff: 5 * time.Second, MaxRetryBackoff: 5 * time.Minute, StoreTimeout: 30 * time.Second},
		Baseline: Baseline{
			Window:           30 * 24 * time.Hour,
			MinDays:          14,
			MinEvents:        50,
			UnusualHourShare: 0.03,
			Settle:           24 * time.Hour,
		},
		AWS:         AWS{Enabled: true, RecheckInterval: 5 * time.Minute},
		Jira:        Jira{Flavor: "cloud", IssueType: "Task", ReopenMode: "reopen"},
		BreakGlass:  defaultBreakGlass(),
		Sensitivity: Sensitivity{Environments: []string{"production"}},
		Log:         Log{Level: "info", Format: "json"},
		Metrics:     Metrics{Listen: ":9090"},
		FeedHealth:  FeedHealth{MaxSilence: 30 * time.Minute},
		Canary:      Canary{Interval: 15 * time.Minute, Timeout: 10 * time.Minute},
	}
}
