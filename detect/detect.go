// Package detect turns one CloudTrail record into exposures (a resource
// made public, shared with an unknown account, or no longer logged) and
// remediations (the same exposure undone). Rules are plain functions chosen
// by a switch on the event name, so the many events no rule cares about are
// rejected before anything is decoded.
//
// Rules judge only what the event says. Whether the resource is still
// exposed, who owns it and how bad it is belong to later stages.
package detect

import (
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// Kind says whether a result opens (or adds to) an exposure or clears one.
type Kind int

// Kinds of result.
const (
	Exposure Kind = iota + 1
	Remediation
)

func (k Kind) String() string {
	switch k {
	case Exposure:
		return "exposure"
	case Remediation:
		return "remediation"
	default:
		return "unknown"
	}
}

// Exposure vectors: the ways a resource can be exposed. A finding resolves
// when every vector it was opened with has been cleared.
const (
	VectorPolicy            = "policy"
	VectorACL               = "acl"
	VectorPublicAccessBlock = "public-access-block"
	VectorShare             = "share"
	VectorLogging           = "logging"
)

// Rule IDs. They are part of finding keys and configuration, so they never
// change.
const (
	RuleS3BucketPublic          = "s3-bucket-public"
	RulePublicAccessBlockRemove = "s3-public-access-block-removed"
	RuleResourcePolicyPublic    = "resource-policy-public"
	RuleSnapshotSharedExternal  = "snapshot-shared-external"
	RuleResourceSharedExternal  = "resource-shared-external"
	RuleSnapshotPublic          = "snapshot-public"
	RuleLoggingDisabled         = "cloudtrail-logging-disabled"
)

// Result is what one rule concluded from one event.
type Result struct {
	Kind Kind
	// Rule is the rule ID.
	Rule string
	// Severity is the rule's default severity; enrichment may raise it.
	Severity finding.Severity
	// Title names the exposure, e.g. "S3 bucket made public".
	Title string
	// Detail says in plain words what exactly exposes the resource, or what
	// cleared the exposure.
	Detail   string
	Resource finding.Resource
	// Vectors are the exposure vectors added (Exposure) or cleared
	// (Remediation).
	Vectors []string
	// Targets are, for shares, the accounts added (Exposure) or removed
	// (Remediation), each classified.
	Targets []finding.Target
	// AllTargets says Targets is every account the resource is shared with
	// after the event, not a change to the list: a resource policy written
	// whole, or a permission list reset. The finding's targets become
	// exactly these, so a Remediation with none clears every share.
	AllTargets bool
	// Change is the before and after as far as the event shows them.
	Change *finding.Change
	// Subject keys the finding when Resource is empty: the actor's ARN,
	// for Sigma rules about an action rather than a resource (a root
	// sign-in).
	Subject string
	// Notes document a rule that is not built in (see finding.RuleNotes).
	Notes *finding.RuleNotes
}

// Accounts classifies a share target account. The caller implements it from
// configuration (organisation accounts, approved list); the event's own
// account is always known and is never asked about.
type Accounts interface {
	Classify(accountID string) finding.TargetClass
}

// RuleInfo describes a rule for help text and configuration checks.
type RuleInfo struct {
	ID          string
	Severity    finding.Severity
	Title       string
	Description string
	Events      []string
}

// Engine evaluates records against every rule. It is safe for concurrent
// use: it holds no state besides the account classifier.
type Engine struct {
	accts Accounts
	sigma *sigma.Set
}

// NewEngine returns an engine that classifies share targets with accts,
// which may be nil (then every foreign account is unknown).
func NewEngine(accts Accounts, opts ...Option) *Engine {
	e := &Engine{accts: accts}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Evaluate runs the rules that apply to the record's event. Failed calls
// never yield results. The errors are problems with this one event (such as
// a policy that cannot be read) for the caller to log; they never stop other
// rules from running.
func (e *Engine) Evaluate(rec *cloudtrail.Record) ([]Result, []error) {
	if rec == nil {
		return nil, nil
	}
	// Sigma rules see failed calls too: each says itself whether it
	// wants them.
	if sig := e.sigmaResults(rec); len(sig) > 0 {
		res, errs := e.builtin(rec)
		return append(res, sig...), errs
	}
	return e.builtin(rec)
}

// builtin runs the built-in rules.
func (e *Engine) builtin(rec *cloudtrail.Record) ([]Result, []error) {
	if rec.Failed() {
		return nil, nil
	}
	var (
		res []Result
		err error
	)
	switch rec.EventName {
	case "PutBucketPolicy":
		res, err = e.putBucketPolicy(rec)
	case "DeleteBucketPolicy":
		res, err = e.deleteBucketPolicy(rec)
	case "PutBucketAcl":
		res, err = e.putBucketACL(rec)
	case "PutBucketPublicAccessBlock":
		res, err = e.putBucketPAB(rec)
	case "DeleteBucketPublicAccessBlock":
		res, err = e.deleteBucketPAB(rec)
	case "PutAccountPublicAccessBlock":
		res, err = e.putAccountPAB(rec)
	case "DeleteAccountPublicAccessBlock":
		res, err = e.deleteAccountPAB(rec)
	case "CreateBucket":
		res, err = e.createBucket(rec)
	case "SetQueueAttributes", "CreateQueue":
		res, err = e.queueAttributes(rec)
	case "SetTopicAttributes":
		res, err = e.setTopicAttributes(rec)
	case "CreateTopic":
		res, err = e.createTopic(rec)
	case "PutKeyPolicy", "CreateKey":
		res, err = e.keyPolicy(rec)
	case "PutResourcePolicy", "DeleteResourcePolicy":
		res, err = e.secretPolicy(rec)
	case "SetRepositoryPolicy", "DeleteRepositoryPolicy":
		res, err = e.repositoryPolicy(rec)
	case "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute":
		res, err = e.rdsSnapshotAttribute(rec)
	case "ModifySnapshotAttribute", "ModifyImageAttribute":
		res, err = e.ec2Permission(rec)
	case "ResetSnapshotAttribute", "ResetImageAttribute":
		res, err = e.ec2PermissionReset(rec)
	case "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "StartLogging":
		res, err = e.trail(rec)
	default:
		// Lambda's event names carry the API version
		// (AddPermission20150331v2), so they cannot be switch cases.
		if strings.HasPrefix(rec.EventName, "AddPermission") || strings.HasPrefix(rec.EventName, "RemovePermission") {
			res, err = e.lambdaPermission(rec)
		}
	}
	if err != nil {
		return res, []error{fmt.Errorf("event %s (%s): %w", rec.EventID, rec.EventName, err)}
	}
	return res, nil
}

// Rules describes every rule the engine runs.
func (e *Engine) Rules() []RuleInfo { return rules() }

// RuleIDs lists the ID of every rule, in the order Rules describes them.
// It is the one list of rule IDs: the configuration's rules.<id>, the test
// corpus and the pipeline all name rules from it.
func RuleIDs() []string {
	infos := rules()
	ids := make([]string, len(infos))
	for i, r := range infos {
		ids[i] = r.ID
	}
	return ids
}

// rules is the table Rules and RuleIDs read.
func rules() []RuleInfo {
	return []RuleInfo{
		{
			ID: RuleS3BucketPublic, Severity: defaultSeverity(RuleS3BucketPublic),
			Title:       "S3 bucket made public",
			Description: "A bucket policy or ACL (set on the bucket or when it is created) grants access to everyone (or to any AWS account). Cleared by deleting or fixing the policy or ACL, or by a public access block that overrides it.",
			Events:      []string{"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "CreateBucket", "PutBucketPublicAccessBlock"},
		},
		{
			ID: RulePublicAccessBlockRemove, Severity: defaultSeverity(RulePublicAccessBlockRemove),
			Title:       "S3 public access block removed",
			Description: "A bucket's or the account's public access block was deleted or has a setting turned off, so a public policy or ACL would take effect. Cleared when all four settings are on again.",
			Events:      []string{"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"},
		},
		{
			ID: RuleResourcePolicyPublic, Severity: defaultSeverity(RuleResourcePolicyPublic),
			Title:       "Resource policy made public",
			Description: "An SQS queue, SNS topic, KMS key, Secrets Manager secret, ECR repository or Lambda function policy grants access to everyone without a condition that pins the caller. Cleared by a non-public policy or by removing it.",
			Events: []string{"SetQueueAttributes", "CreateQueue", "SetTopicAttributes", "CreateTopic", "PutKeyPolicy", "CreateKey", "PutResourcePolicy", "DeleteResourcePolicy",
				"SetRepositoryPolicy", "DeleteRepositoryPolicy", "AddPermission", "RemovePermission"},
		},
		{
			ID: RuleSnapshotSharedExternal, Severity: defaultSeverity(RuleSnapshotSharedExternal),
			Title:       "Snapshot shared with an unknown account",
			Description: "An RDS (cluster) snapshot, EBS snapshot or AMI was shared with an account that is neither this organisation's nor approved. Cleared when the share is removed or the permissions are reset.",
			Events:      []string{"ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute", "ModifySnapshotAttribute", "ModifyImageAttribute", "ResetSnapshotAttribute", "ResetImageAttribute"},
		},
		{
			ID: RuleSnapshotPublic, Severity: defaultSeverity(RuleSnapshotPublic),
			Title:       "Snapshot made public",
			Description: "An RDS (cluster) snapshot, EBS snapshot or AMI was shared with all AWS accounts. Cleared when \"all\" is removed or the permissions are reset.",
			Events:      []string{"ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute", "ModifySnapshotAttribute", "ModifyImageAttribute", "ResetSnapshotAttribute", "ResetImageAttribute"},
		},
		{
			ID: RuleResourceSharedExternal, Severity: defaultSeverity(RuleResourceSharedExternal),
			Title:       "Resource shared with an unknown account",
			Description: "A bucket, queue, topic, key, secret, repository or function policy grants access to an account that is neither this organisation's nor approved: by naming it as principal, or by limiting everyone to it with a condition such as kms:CallerAccount or aws:PrincipalAccount. Not public, but the same exposure as sharing a snapshot with that account. Cleared by a policy that no longer grants it, or by removing the policy.",
			Events: []string{"PutBucketPolicy", "DeleteBucketPolicy", "SetQueueAttributes", "CreateQueue", "SetTopicAttributes", "CreateTopic", "PutKeyPolicy", "CreateKey",
				"PutResourcePolicy", "DeleteResourcePolicy", "SetRepositoryPolicy", "DeleteRepositoryPolicy", "AddPermission", "RemovePermission"},
		},
		{
			ID: RuleLoggingDisabled, Severity: defaultSeverity(RuleLoggingDisabled),
			Title:       "CloudTrail logging disabled",
			Description: "A trail stopped logging, was deleted, or no longer records write management events (or global or other-region events). This also blinds the bot's own event feed. Cleared by StartLogging on the trail.",
			Events:      []string{"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "StartLogging"},
		},
	}
}

// defaultSeverity is each rule's severity before enrichment; Rules and
// every result read it from here.
func defaultSeverity(rule string) finding.Severity {
	switch rule {
	case RulePublicAccessBlockRemove:
		return finding.SeverityMedium
	case RuleSnapshotSharedExternal, RuleSnapshotPublic:
		return finding.SeverityCritical
	case RuleS3BucketPublic, RuleResourcePolicyPublic, RuleResourceSharedExternal, RuleLoggingDisabled:
		return finding.SeverityHigh
	default:
		return finding.SeverityUnknown
	}
}

// result builds a result with the rule's default severity.
func result(kind Kind, rule string, res finding.Resource, title, detail string, vectors ...string) Result {
	return Result{
		Kind:     kind,
		Rule:     rule,
		Severity: defaultSeverity(rule),
		Title:    title,
		Detail:   detail,
		Resource: res,
		Vectors:  vectors,
	}
}

// resourceOf returns the record's primary resource, or an error when the
// event does not name one (a rule cannot key a finding without it).
func resourceOf(rec *cloudtrail.Record) (finding.Resource, error) {
	typ, id, arn := cloudtrail.ResourceOf(rec)
	if id == "" {
		return finding.Resource{}, fmt.Errorf("no resource named in the request")
	}
	return finding.Resource{Type: typ, ID: id, ARN: arn}, nil
}

// classify says whose an account is. The event's own account is known
// without asking.
func (e *Engine) classify(rec *cloudtrail.Record, acct string) finding.TargetClass {
	if acct == rec.Account() {
		return finding.TargetKnown
	}
	if e.accts == nil {
		return finding.TargetUnknown
	}
	if c := e.accts.Classify(acct); c != "" {
		return c
	}
	return finding.TargetUnknown
}
