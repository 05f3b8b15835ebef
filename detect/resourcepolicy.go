package detect

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// noun names a resource type in titles and details.
func noun(typ string) string {
	switch typ {
	case awsarn.TypeS3Bucket:
		return "S3 bucket"
	case awsarn.TypeSQSQueue:
		return "SQS queue"
	case awsarn.TypeSNSTopic:
		return "SNS topic"
	case awsarn.TypeKMSKey:
		return "KMS key"
	case awsarn.TypeSecret:
		return "Secrets Manager secret"
	case awsarn.TypeECRRepository:
		return "ECR repository"
	case awsarn.TypeLambdaFunction:
		return "Lambda function"
	case awsarn.TypeRDSSnapshot:
		return "RDS snapshot"
	case awsarn.TypeRDSClusterSnapshot:
		return "RDS cluster snapshot"
	case awsarn.TypeEC2Snapshot:
		return "EBS snapshot"
	case awsarn.TypeEC2Image:
		return "AMI"
	default:
		return "resource"
	}
}

// policyChange judges a resource policy written by an event. A public policy
// is an exposure; any other successful write is a remediation, because the
// policy it replaced (public or not) is gone. exposeOnly is for creations,
// where there was no earlier policy to fix. Grants to named accounts are
// judged apart (policyShares).
func (e *Engine) policyChange(rec *cloudtrail.Record, res finding.Resource, raw json.RawMessage, exposeOnly bool) ([]Result, error) {
	n := noun(res.Type)
	verdict, err := policy.Evaluate(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s policy: %w", n, res.ID, err)
	}
	after, _ := policy.Canonical(raw) // readable: Evaluate succeeded
	change := &finding.Change{Summary: "resource policy replaced", After: after}
	var out []Result
	if verdict.IsPublic() {
		r := result(Exposure, RuleResourcePolicyPublic, res, n+" made public",
			fmt.Sprintf("The policy of %s %s makes it public: %s.", n, res.ID, verdict.Summary()), VectorPolicy)
		r.Change = change
		out = append(out, r)
	} else if !exposeOnly {
		detail := fmt.Sprintf("The new policy of %s %s grants nothing to everyone.", n, res.ID)
		if after == nil {
			detail = fmt.Sprintf("The policy of %s %s was removed.", n, res.ID)
			change.Summary = "resource policy removed"
		}
		r := result(Remediation, RuleResourcePolicyPublic, res, n+" no longer public", detail, VectorPolicy)
		r.Change = change
		out = append(out, r)
	}
	return append(out, e.policyShares(rec, res, verdict, change, exposeOnly)...), nil
}

// policyShares judges the accounts a policy written whole grants by name.
// One that is neither ours nor trusted is an external share: not public,
// but the same exposure as a snapshot shared with it. Since the policy
// replaces the one before, its accounts are all the resource is shared
// with now, and a policy that grants no unknown account clears the share.
func (e *Engine) policyShares(rec *cloudtrail.Record, res finding.Resource, verdict policy.Result, change *finding.Change, exposeOnly bool) []Result {
	n := noun(res.Type)
	var targets []finding.Target
	for _, a := range verdict.Accounts() {
		targets = append(targets, finding.Target{Account: a, Class: e.classify(rec, a)})
	}
	if hasUnknown(targets) {
		var why []string
		for _, s := range verdict.Shared {
			why = append(why, s.Describe()+" ("+s.Why+")")
		}
		r := result(Exposure, RuleResourceSharedExternal, res, n+" shared with an unknown account",
			fmt.Sprintf("The policy of %s %s grants %s: %s.", n, res.ID, describeTargets(targets), strings.Join(why, "; ")), VectorShare)
		r.Targets, r.AllTargets, r.Change = targets, true, change
		return []Result{r}
	}
	if exposeOnly {
		return nil
	}
	detail := fmt.Sprintf("The new policy of %s %s grants no account outside the organisation.", n, res.ID)
	if change.After == nil {
		detail = fmt.Sprintf("The policy of %s %s was removed.", n, res.ID)
	}
	r := result(Remediation, RuleResourceSharedExternal, res, n+" no longer shared with an unknown account", detail, VectorShare)
	r.Targets, r.AllTargets, r.Change = targets, true, change
	return []Result{r}
}

// policyRemoved clears both what a deleted policy made public and the
// accounts it shared the resource with.
func policyRemoved(res finding.Resource) []Result {
	n := noun(res.Type)
	change := &finding.Change{Summary: "resource policy deleted"}
	pub := result(Remediation, RuleResourcePolicyPublic, res, n+" no longer public",
		fmt.Sprintf("The policy of %s %s was deleted.", n, res.ID), VectorPolicy)
	pub.Change = change
	return []Result{pub, shareRemoved(res, change)}
}

// shareRemoved clears every account a deleted policy granted.
func shareRemoved(res finding.Resource, change *finding.Change) Result {
	n := noun(res.Type)
	r := result(Remediation, RuleResourceSharedExternal, res, n+" no longer shared with an unknown account",
		fmt.Sprintf("The policy of %s %s was deleted.", n, res.ID), VectorShare)
	r.AllTargets, r.Change = true, change
	return r
}

// queueAttributes handles SetQueueAttributes and CreateQueue: a queue
// created with a policy is judged as one whose policy was set.
func (e *Engine) queueAttributes(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "sqs.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	raw, ok := p.Attributes["Policy"]
	if !ok {
		// Other attributes (visibility timeout, redrive...) changed, or a
		// queue was created without a policy: only its owner may use it.
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return e.policyChange(rec, res, raw, rec.EventName == "CreateQueue")
}

func (e *Engine) setTopicAttributes(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "sns.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		AttributeName  string          `json:"attributeName"`
		AttributeValue json.RawMessage `json:"attributeValue"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if p.AttributeName != "Policy" {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return e.policyChange(rec, res, p.AttributeValue, false)
}

// createTopic judges the policy a topic was created with, if any; without
// one, SNS gives the topic a default policy that only its account may use.
func (e *Engine) createTopic(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "sns.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	raw, ok := p.Attributes["Policy"]
	if !ok {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return e.policyChange(rec, res, raw, true)
}

func (e *Engine) keyPolicy(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "kms.amazonaws.com" {
		return nil, nil
	}
	var p struct {
		Policy json.RawMessage `json:"policy"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	create := rec.EventName == "CreateKey"
	if !present(p.Policy) {
		if create {
			// The default key policy trusts only the account.
			return nil, nil
		}
		return nil, fmt.Errorf("no policy in the request")
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return e.policyChange(rec, res, p.Policy, create)
}

func (e *Engine) secretPolicy(rec *cloudtrail.Record) ([]Result, error) {
	return e.namedPolicy(rec, namedPolicyCall{"secretsmanager.amazonaws.com", "DeleteResourcePolicy", "resourcePolicy", "secret"})
}

func (e *Engine) repositoryPolicy(rec *cloudtrail.Record) ([]Result, error) {
	return e.namedPolicy(rec, namedPolicyCall{"ecr.amazonaws.com", "DeleteRepositoryPolicy", "policyText", "repository"})
}

// namedPolicyCall describes a service whose policy is set with the whole
// document in one request field and removed by one call.
type namedPolicyCall struct {
	source, deleteName, field, noun string
}

// namedPolicy judges a call that sets or deletes a resource's whole policy.
func (e *Engine) namedPolicy(rec *cloudtrail.Record, c namedPolicyCall) ([]Result, error) {
	if rec.EventSource != c.source {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	if rec.EventName == c.deleteName {
		return policyRemoved(res), nil
	}
	var p map[string]json.RawMessage
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if !present(p[c.field]) {
		return nil, fmt.Errorf("%s %s: no %s in the request", c.noun, res.ID, c.field)
	}
	return e.policyChange(rec, res, p[c.field], false)
}

// lambdaPermission handles AddPermission and RemovePermission. Lambda builds
// the policy statement itself from the request, so the request fields are
// judged directly: principal "*" with no source or organisation condition
// lets anyone invoke the function.
func (e *Engine) lambdaPermission(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "lambda.amazonaws.com" {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	var p struct {
		StatementID    string `json:"statementId"`
		Action         string `json:"action"`
		Principal      string `json:"principal"`
		SourceArn      string `json:"sourceArn"`
		SourceAccount  string `json:"sourceAccount"`
		PrincipalOrgID string `json:"principalOrgID"`
		URLAuthType    string `json:"functionUrlAuthType"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if strings.HasPrefix(rec.EventName, "RemovePermission") {
		// The event names the statement removed, not whom it granted, so
		// the removal clears the function's public and shared findings
		// alike; a re-check of the function's state reopens what is left.
		detail := fmt.Sprintf("Permission %s was removed from Lambda function %s.", p.StatementID, res.ID)
		r := result(Remediation, RuleResourcePolicyPublic, res, "Lambda function permission removed", detail, VectorPolicy)
		shared := result(Remediation, RuleResourceSharedExternal, res, "Lambda function permission removed", detail, VectorShare)
		shared.AllTargets = true
		return []Result{r, shared}, nil
	}
	action := p.Action
	if action == "" {
		action = "lambda:InvokeFunction"
	}
	if acct := lambdaAccount(p.Principal, p.SourceAccount, p.SourceArn, p.PrincipalOrgID); acct != "" {
		target := finding.Target{Account: acct, Class: e.classify(rec, acct)}
		if target.Class != finding.TargetUnknown {
			return nil, nil
		}
		r := result(Exposure, RuleResourceSharedExternal, res, "Lambda function shared with an unknown account",
			fmt.Sprintf("Permission %s lets %s call %s on Lambda function %s.", p.StatementID, describeTargets([]finding.Target{target}), action, res.ID), VectorShare)
		r.Targets = []finding.Target{target}
		stmt, _ := json.Marshal(map[string]any{"Sid": p.StatementID, "Effect": "Allow", "Principal": p.Principal, "Action": action, "Resource": res.ARN})
		r.Change = &finding.Change{Summary: "permission statement added", After: stmt}
		return []Result{r}, nil
	}
	if p.Principal != "*" || p.SourceArn != "" || p.SourceAccount != "" || p.PrincipalOrgID != "" {
		return nil, nil
	}
	detail := fmt.Sprintf("Permission %s lets everyone call %s on Lambda function %s (principal \"*\" with no source account, source ARN or organisation condition)", p.StatementID, action, res.ID)
	if strings.EqualFold(p.URLAuthType, "NONE") {
		detail += "; the function URL needs no authentication"
	}
	r := result(Exposure, RuleResourcePolicyPublic, res, "Lambda function made public", detail+".", VectorPolicy)
	stmt, _ := json.Marshal(map[string]string{"Sid": p.StatementID, "Effect": "Allow", "Principal": "*", "Action": action, "Resource": res.ARN})
	r.Change = &finding.Change{Summary: "permission statement added", After: stmt}
	return []Result{r}, nil
}

// lambdaAccount is the account a Lambda permission grants by name: an
// account principal (an ID or an IAM ARN), or everyone limited to one
// source account. Service principals act for their own callers and name
// none.
func lambdaAccount(principal, sourceAccount, sourceArn, orgID string) string {
	if principal == "*" {
		if sourceArn == "" && orgID == "" && awsarn.IsAccountID(sourceAccount) {
			return sourceAccount
		}
		return ""
	}
	if awsarn.IsAccountID(principal) {
		return principal
	}
	if a, err := awsarn.Parse(principal); err == nil && a.Service == "iam" && awsarn.IsAccountID(a.Account) {
		return a.Account
	}
	return ""
}
