// Package finding holds the domain types for security findings: what was
// exposed, by whom, how bad it is and where it was sent. It carries
// everything later stages (Slack, tickets, containment) need, so none of
// them has to go back to the raw event.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity orders findings from low to critical.
type Severity int

// Severities, in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name.
func ParseSeverity(v string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(v, n) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want low, medium, high or critical)", v)
}

// Raise returns the severity one level higher, capped at critical.
func (s Severity) Raise() Severity {
	if s >= SeverityCritical {
		return SeverityCritical
	}
	return s + 1
}

// MarshalText writes the severity name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Status is where a finding is in its life.
type Status string

// Statuses. Acknowledgement is recorded separately (AckedBy) because an
// acknowledged finding is still open.
const (
	StatusOpen       Status = "open"
	StatusResolved   Status = "resolved"
	StatusSuppressed Status = "suppressed"
)

// Resource identifies the exposed AWS resource. Type is a CloudFormation type
// name such as AWS::S3::Bucket.
type Resource struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	ARN  string `json:"arn"`
}

// Actor is who made the change.
type Actor struct {
	ARN         string `json:"arn"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	AccountID   string `json:"account_id,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	SessionName string `json:"session_name,omitempty"`
	// SourceIdentity is set on sessions started with one (break-glass).
	SourceIdentity string `json:"source_identity,omitempty"`
	// MFA says whether the session was authenticated with MFA ("yes" or
	// "no"), as CloudTrail's sessionContext reports it; empty when the
	// event does not say.
	MFA        string `json:"mfa,omitempty"`
	Contractor bool   `json:"contractor"`
	// Profile is what IAM says about the identity (nil until read).
	Profile *Profile `json:"profile,omitempty"`
}

// Profile is the IAM view of an actor: its tags and, for a user, the
// access key used in the event with its age and last use.
type Profile struct {
	Tags          map[string]string `json:"tags,omitempty"`
	KeyStatus     string            `json:"key_status,omitempty"`
	KeyCreatedAt  time.Time         `json:"key_created_at,omitzero"`
	KeyLastUsedAt time.Time         `json:"key_last_used_at,omitzero"`
	Keys          int               `json:"keys,omitempty"`
}

// EventRef is the CloudTrail event that raised (or last touched) a finding.
type EventRef struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Source    string    `json:"source,omitempty"`
	Time      time.Time `json:"time"`
	SourceIP  string    `json:"source_ip"`
	UserAgent string    `json:"user_agent"`
}

// TargetClass says whether a share target is one of ours.
type TargetClass string

// Target classes. Public means shared with everyone ("all").
const (
	TargetKnown   TargetClass = "known"
	TargetTrusted TargetClass = "trusted"
	TargetUnknown TargetClass = "unknown"
	TargetPublic  TargetClass = "public"
)

// Target is an account (or "all") a resource was shared with.
type Target struct {
	Account string      `json:"account"`
	Class   TargetClass `json:"class"`
	Name    string      `json:"name,omitempty"`
}

// Signal is an anomaly about the actor, with a reason a person can check.
type Signal struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Change is the before and after of the exposed setting, as the event (or a
// later state read) showed it.
type Change struct {
	Summary string          `json:"summary,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// Finding is one exposure of one resource found by one rule.
type Finding struct {
	// ID is short, stable and opaque; it is what buttons and commands carry.
	ID string `json:"id"`
	// Version grows by one with every stored change; delivery keys on it
	// so each change is delivered once.
	Version int `json:"version"`
	// Key identifies the exposure (rule and resource); a repeat of the same
	// rule on the same resource while open updates the same finding.
	Key      string   `json:"key"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Status   Status   `json:"status"`
	Title    string   `json:"title"`
	Detail   string   `json:"detail,omitempty"`

	AccountID   string   `json:"account"`
	AccountName string   `json:"account_name,omitempty"`
	Region      string   `json:"region"`
	Resource    Resource `json:"resource"`
	Actor       Actor    `json:"actor"`
	Event       EventRef `json:"event"`

	Team string `json:"team,omitempty"`
	// TeamTag is the resource tag that named Team ("owner=payments"), when
	// the team comes from the resource's tags rather than its account.
	TeamTag     string `json:"team_tag,omitempty"`
	Environment string `json:"environment,omitempty"`
	OffHours    bool   `json:"off_hours"`

	Signals []Signal `json:"signals"`
	Routes  []string `json:"routes"`
	Targets []Target `json:"targets,omitempty"`
	// Vectors are the ways the resource is exposed (e.g. "policy", "acl");
	// the finding resolves when none is left.
	Vectors []string `json:"vectors,omitempty"`
	Change  *Change  `json:"change,omitempty"`

	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// DetectedAt is when the bot saw the event (not when it happened).
	DetectedAt time.Time `json:"detected_at"`
	// OpenedAt is when the current exposure began (the event time); it
	// moves on reopen, FirstSeen does not.
	OpenedAt time.Time `json:"opened_at"`
	// EventIDs are the most recent events applied to the finding, so a
	// redelivered event is applied once.
	EventIDs []string `json:"event_ids,omitempty"`

	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`

	ResolvedAt    time.Time     `json:"resolved_at,omitzero"`
	ResolvedBy    string        `json:"resolved_by,omitempty"`
	ResolvedEvent *EventRef     `json:"resolved_event,omitempty"`
	ResolveReason string        `json:"resolve_reason,omitempty"`
	OpenFor       time.Duration `json:"open_for_ns,omitempty"`

	SuppressedReason string `json:"suppressed_reason,omitempty"`

	// Assessment is what the bot found when it read the resource's actual
	// state in AWS (nil until read).
	Assessment *Assessment `json:"assessment,omitempty"`
	// History is the resource's earlier changes from the event history,
	// newest first (who, when, what), for context.
	History []HistoryEntry `json:"history,omitempty"`
	// Sensitivity lists why the data is sensitive (tags, name patterns,
	// environment); a sensitive finding is raised one severity level.
	Sensitivity []string `json:"sensitivity,omitempty"`
	// RuleNotes document the rule that raised the finding when it is not
	// built in (a Sigma rule): nil for built-in rules, whose title and
	// detail say what they need to.
	RuleNotes *RuleNotes `json:"rule_notes,omitempty"`
	// Containments are the containment actions in force on the finding's
	// resource or actor, in the order they ran; an undo removes its own.
	Containments []Containment `json:"containments,omitempty"`
	// Native is the finding of an AWS detector this finding mirrors; nil
	// for findings the bot's own rules raised from CloudTrail events.
	Native *Native `json:"native,omitempty"`
	// Contents is what the resource holds, read with its state (nil until
	// read).
	Contents *Contents `json:"contents,omitempty"`
	// Reads is the latest answer to who outside the organisation read the
	// resource while it was exposed (nil until reviewed).
	Reads *ReadReview `json:"reads,omitempty"`
}

// ReportsExposure reports whether the finding says a resource is exposed,
// which reading the resource's state can confirm, refute or see fixed. A
// Sigma rule reports an action instead (a root sign-in, a key scheduled
// for deletion): the state of the resource it names says nothing about
// it, and only a person resolves it. An AWS detector's finding is its
// detector's to resolve.
func (f *Finding) ReportsExposure() bool { return f.RuleNotes == nil && f.Native == nil }

// RuleNotes are what a rule written outside the code says about itself,
// carried into its findings so that the Slack message and the ticket can
// show when the rule fires harmlessly and where to read more. The rule's
// description is the finding's Detail.
type RuleNotes struct {
	// Source is where the rule comes from: "sigma".
	Source string `json:"source"`
	// File is the rule's file, for people to find and change it.
	File           string   `json:"file,omitempty"`
	Status         string   `json:"status,omitempty"`
	FalsePositives []string `json:"false_positives,omitempty"`
	References     []string `json:"references,omitempty"`
	Tags           []string `json:"tags,omitempty"`
}

// Containment is one containment action that ran for a finding: who ran
// it, when, and what it did.
type Containment struct {
	// Record is the containment record, which its undo names.
	Record string `json:"record"`
	// Action is the catalogue ID (snapshot-unshare) and Title its name.
	Action string `json:"action"`
	Title  string `json:"title,omitempty"`
	// Target names what it acted on ("AWS::IAM::User BackupManager").
	Target  string    `json:"target,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Summary string    `json:"summary,omitempty"`
}

// Contained reports whether a containment action is in force.
func (f *Finding) Contained() bool { return len(f.Containments) > 0 }

// ContainedBy returns the containment of a record, if it is in force.
func (f *Finding) ContainedBy(record string) (Containment, bool) {
	for _, c := range f.Containments {
		if c.Record == record {
			return c, true
		}
	}
	return Containment{}, false
}

// Native is what an AWS detector (GuardDuty, Security Hub, IAM Access
// Analyzer) said about a finding it raised, as of its latest update. The
// detector, not the bot, decides when such a finding is resolved.
type Native struct {
	// Product names the detector: "GuardDuty", "Security Hub", "IAM
	// Access Analyzer".
	Product string `json:"product"`
	// ID is the detector's own ID of the finding.
	ID string `json:"id"`
	// Type is the detector's finding type, such as
	// "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom".
	Type string `json:"type,omitempty"`
	// Severity is the severity in the detector's own words ("8.0",
	// "HIGH", "public").
	Severity string `json:"severity,omitempty"`
	// State is the detector's lifecycle state ("active", "archived",
	// "workflow RESOLVED").
	State string `json:"state,omitempty"`
	// Count is how many occurrences the detector counted; 0 when it does
	// not count them.
	Count     int       `json:"count,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// URL shows the finding in the detector's console.
	URL string `json:"url,omitempty"`
}

// HistoryEntry is one earlier change of the resource.
type HistoryEntry struct {
	Time      time.Time `json:"time"`
	EventName string    `json:"event_name"`
	Actor     string    `json:"actor"`
	Failed    bool      `json:"failed,omitempty"`
	// ErrorCode is why a failed call failed (e.g. AccessDenied).
	ErrorCode string `json:"error_code,omitempty"`
}

// Assessment is the resource's actual state as read from AWS, compared
// with the last state known before the change.
type Assessment struct {
	ReadAt time.Time `json:"read_at"`
	// Exposed is AWS's verdict (e.g. GetBucketPolicyStatus.IsPublic, the
	// snapshot's share list).
	Exposed bool   `json:"exposed"`
	Reason  string `json:"reason,omitempty"`
	// Unavailable says why the state could not be read ("access denied
	// (AccessDenied)"); the finding is still raised and read again later.
	Unavailable string            `json:"unavailable,omitempty"`
	Diff        []string          `json:"diff,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// KeyFor builds the identity of an exposure from its rule and resource.
func KeyFor(rule, accountID, region, resourceARN string) string {
	return rule + "|" + accountID + "|" + region + "|" + resourceARN
}

// IDFor derives the short finding ID from a key. It is a hash, so it leaks
// nothing and cannot be guessed from the resource name.
func IDFor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "F-" + strings.ToUpper(hex.EncodeToString(sum[:5]))
}

// UnknownTargets returns the share targets that are neither ours nor trusted.
func (f *Finding) UnknownTargets() []Target {
	var out []Target
	for _, t := range f.Targets {
		if t.Class == TargetUnknown || t.Class == TargetPublic {
			out = append(out, t)
		}
	}
	return out
}

// Open reports whether the finding still needs attention.
func (f *Finding) Open() bool { return f.Status == StatusOpen }

// maxEventIDs bounds the redelivery memory kept on a finding.
const maxEventIDs = 32

// Applied reports whether the event was already applied to the finding.
func (f *Finding) Applied(eventID string) bool {
	for _, id := range f.EventIDs {
		if id == eventID {
			return true
		}
	}
	return false
}

// MarkApplied remembers an applied event, keeping the newest few.
func (f *Finding) MarkApplied(eventID string) {
	f.EventIDs = append(f.EventIDs, eventID)
	if len(f.EventIDs) > maxEventIDs {
		f.EventIDs = f.EventIDs[len(f.EventIDs)-maxEventIDs:]
	}
}

// afterIncident is how much of what followed a finding's last event an
// investigation from the finding shows: the actor's next moves, not days of
// unrelated later activity.
const afterIncident = time.Hour

// InvestigateUntil is where an investigation started from the finding
// ends: shortly after its last event, however long ago that was, so the
// hours around the incident are the ones compared with the baseline before
// them. Zero when the finding has no event time.
func (f Finding) InvestigateUntil() time.Time {
	t := f.LastSeen
	if t.IsZero() {
		t = f.OpenedAt
	}
	if t.IsZero() {
		return time.Time{}
	}
	return t.Add(afterIncident)
}

// Route prefixes: a finding's Routes are "slack:<channel>" and
// "jira:<project>", as the routing step wrote them.
const (
	RouteSlack = "slack:"
	RouteJira  = "jira:"
)

// SlackChannels are the Slack channels (names or IDs) the finding is
// routed to, in routing order.
func (f Finding) SlackChannels() []string { return f.routesTo(RouteSlack) }

// JiraProjects are the Jira project keys the finding is routed to.
func (f Finding) JiraProjects() []string { return f.routesTo(RouteJira) }

func (f Finding) routesTo(prefix string) []string {
	var out []string
	for _, r := range f.Routes {
		if name, ok := strings.CutPrefix(r, prefix); ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}
