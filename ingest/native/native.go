// Package native reads the findings AWS's own detectors publish to
// EventBridge (GuardDuty, Security Hub in the AWS Security Finding Format,
// IAM Access Analyzer) into one shape the pipeline raises findings from:
// the detector's ID for the finding, its severity on the bot's scale, the
// account, the resource and the actor it names, and whether the detector
// still holds it active. Each event is one update of a native finding; the
// pipeline keeps one finding per native ID and updates it in place.
//
// It reads JSON and nothing else: no AWS calls, no store.
package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// Rule IDs of the native sources. Like the built-in rules' IDs they are
// part of finding keys and configuration (rules.<id>, routing.rules.<id>),
// so they never change.
const (
	RuleGuardDuty      = "guardduty"
	RuleSecurityHub    = "securityhub"
	RuleAccessAnalyzer = "access-analyzer"
)

// EventBridge detail-types of the events this package reads.
const (
	DetailTypeGuardDuty      = "GuardDuty Finding"
	DetailTypeSecurityHub    = "Security Hub Findings - Imported"
	DetailTypeAccessAnalyzer = "Access Analyzer Finding"
)

// Products as findings name their detector.
const (
	ProductGuardDuty      = "GuardDuty"
	ProductSecurityHub    = "Security Hub"
	ProductAccessAnalyzer = "IAM Access Analyzer"
)

// Source describes one native source for help text, configuration checks
// and the README's rule table.
type Source struct {
	Rule       string
	Product    string
	DetailType string
	// Severity says how the source's scale maps to the bot's.
	Severity string
	// Resolved says what resolves the finding.
	Resolved string
}

// Sources lists the native sources in the order the rule table shows them.
func Sources() []Source {
	return []Source{
		{RuleGuardDuty, ProductGuardDuty, DetailTypeGuardDuty,
			"below 4.0 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0 and above critical",
			"archived in GuardDuty (`service.archived`)"},
		{RuleSecurityHub, ProductSecurityHub, DetailTypeSecurityHub,
			"`Severity.Label` (LOW, MEDIUM, HIGH, CRITICAL; INFORMATIONAL raises nothing)",
			"`Workflow.Status` RESOLVED or SUPPRESSED, or `RecordState` ARCHIVED"},
		{RuleAccessAnalyzer, ProductAccessAnalyzer, DetailTypeAccessAnalyzer,
			"by resource type and access: public snapshots and role trusts critical, other public resources high; cross-account snapshots and roles high, other cross-account medium, low when every account given access is ours or trusted",
			"status ARCHIVED or RESOLVED, or the finding deleted"},
	}
}

// RuleIDs lists the native sources' rule IDs.
func RuleIDs() []string {
	var out []string
	for _, s := range Sources() {
		out = append(out, s.Rule)
	}
	return out
}

// Reads reports whether events of this EventBridge detail-type carry
// native findings.
func Reads(detailType string) bool {
	switch detailType {
	case DetailTypeGuardDuty, DetailTypeSecurityHub, DetailTypeAccessAnalyzer:
		return true
	}
	return false
}

// Finding is one update of a native finding: what the detector said about
// it at UpdatedAt.
type Finding struct {
	// Rule is the source's rule ID (RuleGuardDuty, …).
	Rule    string
	Product string
	// ID is the detector's ID of the finding, as it shows it.
	ID string
	// Key identifies the finding across its updates within its rule,
	// account and region: the ID, qualified where the detector's IDs are
	// unique only within a product or an analyzer.
	Key string
	// EventID is the EventBridge event's ID: one delivery of one update,
	// the same when the event is delivered again.
	EventID string
	// Type is the detector's finding type.
	Type        string
	Title       string
	Description string
	// Severity is the severity on the bot's scale; SeverityUnknown for a
	// finding the detector calls informational, which raises nothing.
	Severity finding.Severity
	// SourceSeverity is the severity as the detector states it.
	SourceSeverity string
	Account        string
	Region         string
	// Resource is the resource the finding is about, when it names one
	// (its Type a CloudFormation type name, like the built-in rules').
	Resource finding.Resource
	// Actor is who did what the finding reports, when it names someone.
	Actor *finding.Actor
	// SourceIP and API are what the actor did, when the detector says:
	// the caller's address and the API it called (APISource its service,
	// "s3.amazonaws.com").
	SourceIP  string
	API       string
	APISource string
	// Targets are the accounts (or "all") a resource is open to, for
	// Access Analyzer; their Class is left for the caller to decide.
	Targets []finding.Target
	// Active is false once the detector archived, resolved or suppressed
	// the finding.
	Active bool
	// State is the detector's lifecycle state in its own words.
	State string
	// Count is how many occurrences the detector counted; 0 when it does
	// not count them.
	Count     int
	FirstSeen time.Time
	UpdatedAt time.Time
	// URL shows the finding in the detector's console.
	URL string
}

// FindingKey is the key of the bot's finding for a native finding.
func (n Finding) FindingKey() string {
	key := n.Key
	if key == "" {
		key = n.ID
	}
	return finding.KeyFor(n.Rule, n.Account, n.Region, key)
}

// UpdateID identifies this update, so that an update delivered twice is
// applied once: the event's ID, or the finding's ID and update time.
func (n Finding) UpdateID() string {
	if n.EventID != "" {
		return n.Product + ":" + n.EventID
	}
	return n.Product + ":" + n.ID + "@" + n.UpdatedAt.UTC().Format(time.RFC3339Nano)
}

// Native is the finding.Native the update leaves on the bot's finding.
func (n Finding) Native() *finding.Native {
	return &finding.Native{
		Product: n.Product, ID: n.ID, Type: n.Type, Severity: n.SourceSeverity,
		State: n.State, Count: n.Count, UpdatedAt: n.UpdatedAt, URL: n.URL,
	}
}

// envelope is the EventBridge event around a detector's finding.
type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Decode reads the native findings of one EventBridge event whose
// detail-type Reads accepts. An event may carry none (an Access Analyzer
// error finding, an empty Security Hub batch): the caller counts it as
// ignored. The error says what makes the event unreadable, for the
// quarantine.
func Decode(event []byte) ([]Finding, error) {
	var env envelope
	if err := json.Unmarshal(event, &env); err != nil {
		return nil, fmt.Errorf("EventBridge event: %w", err)
	}
	if len(env.Detail) == 0 || env.Detail[0] != '{' {
		return nil, fmt.Errorf("%s event: detail is not an object", env.DetailType)
	}
	var (
		out []Finding
		err error
	)
	switch env.DetailType {
	case DetailTypeGuardDuty:
		var f Finding
		f, err = guardDuty(env)
		out = []Finding{f}
	case DetailTypeSecurityHub:
		out, err = securityHub(env)
	case DetailTypeAccessAnalyzer:
		out, err = accessAnalyzer(env)
	default:
		return nil, fmt.Errorf("detail-type %q carries no native finding", env.DetailType)
	}
	if err != nil {
		return nil, fmt.Errorf("%s event %s: %w", env.DetailType, env.ID, err)
	}
	for i := range out {
		out[i].EventID = env.ID
		if len(out) > 1 {
			// One event, several findings: each is its own update.
			out[i].EventID = fmt.Sprintf("%s#%d", env.ID, i)
		}
	}
	return out, nil
}

// errMissing names a required field the finding lacks.
func errMissing(fields ...string) error {
	return errors.New("finding has no " + strings.Join(fields, ", "))
}

// resourceOf is the resource an ARN names, with the ID the built-in rules
// and containment use: a bucket's, user's or role's name, a snapshot's
// identifier. typ, when given, wins over the type guessed from the ARN.
func resourceOf(arn, typ string) finding.Resource {
	a, err := awsarn.Parse(arn)
	if err != nil {
		return finding.Resource{Type: typ, ID: arn}
	}
	if typ == "" {
		typ = awsarn.TypeOf(a)
	}
	id := a.ResourceID()
	switch typ {
	case awsarn.TypeIAMUser, awsarn.TypeIAMRole:
		id = a.Name()
	}
	return finding.Resource{Type: typ, ID: id, ARN: arn}
}

// principalActor is the actor a detector names by user type and name, as
// CloudTrail's userIdentity would have named it: an IAM user by its ARN,
// an assumed role by its role's ARN (history is kept per role).
func principalActor(partition, account, userType, name, principalID, accessKeyID string) *finding.Actor {
	if partition == "" {
		partition = awsarn.PartitionAWS
	}
	a := &finding.Actor{Type: userType, Name: name, AccountID: account, AccessKeyID: accessKeyID}
	switch userType {
	case "IAMUser":
		if name != "" {
			a.ARN = awsarn.IAMUser(partition, account, "", name).String()
		}
	case "AssumedRole", "Role":
		a.Type = "AssumedRole"
		if name != "" {
			a.ARN = awsarn.IAMRole(partition, account, "", name).String()
		}
		if _, session, ok := strings.Cut(principalID, ":"); ok {
			a.SessionName = session
		}
	case "Root":
		a.ARN = "arn:" + partition + ":iam::" + account + ":root"
		if a.Name == "" {
			a.Name = "root"
		}
	case "FederatedUser":
		if name != "" {
			a.ARN = "arn:" + partition + ":sts::" + account + ":federated-user/" + name
		}
	}
	if a.ARN == "" && a.Name == "" && a.AccessKeyID == "" {
		return nil
	}
	return a
}

// actorResource is the IAM user or role an actor is, as the resource of a
// finding that names no other: what containment acts on.
func actorResource(a *finding.Actor) finding.Resource {
	if a == nil || a.ARN == "" {
		return finding.Resource{}
	}
	switch a.Type {
	case "IAMUser":
		return finding.Resource{Type: awsarn.TypeIAMUser, ID: a.Name, ARN: a.ARN}
	case "AssumedRole":
		return finding.Resource{Type: awsarn.TypeIAMRole, ID: a.Name, ARN: a.ARN}
	}
	return finding.Resource{}
}

// firstTime is the first of ts that is set.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
