package detect

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/awsarn"
	"github.com/secops-bot/secops-bot/cloudtrail"
	"github.com/secops-bot/secops-bot/detect/policy"
	"github.com/secops-bot/secops-bot/finding"
)

// noun names a resource type in titles and details.
func noun(typ string) string {
	switch typ {
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
// where there was no earlier policy to fix.
func policyChange(res finding.Resource, raw json.RawMessage, exposeOnly bool) ([]Result, error) {
	n := noun(res.Type)
	verdict, err := policy.Evaluate(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s policy: %w", n, res.ID, err)
	}
	after, _ := policy.Canonical(raw) // readable: Evaluate succeeded
	change := &finding.Change{Summary: "resource policy replaced", After: after}
	if verdict.IsPublic() {
		r := result(Exposure, RuleResourcePolicyPublic, res, n+" made public",
			fmt.Sprintf("The policy of %s %s makes it public: %s.", n, res.ID, verdict.Summary()), VectorPolicy)
		r.Change = change
		return []Result{r}, nil
	}
	if exposeOnly {
		return nil, nil
	}
	detail := fmt.Sprintf("The new policy of %s %s grants nothing to everyone.", n, res.ID)
	if after == nil {
		detail = fmt.Sprintf("The policy of %s %s was removed.", n, res.ID)
		change.Summary = "resource policy removed"
	}
	r := result(Remediation, RuleResourcePolicyPublic, res, n+" no longer public", detail, VectorPolicy)
	r.Change = change
	return []Result{r}, nil
}

func policyRemoved(res finding.Resource) []Result {
	n := noun(res.Type)
	r := result(Remediation, RuleResourcePolicyPublic, res, n+" no longer public",
		fmt.Sprintf("The policy of %s %s was deleted.", n, res.ID), VectorPolicy)
	r.Change = &finding.Change{Summary: "resource policy deleted"}
	return []Result{r}
}

func (e *Engine) setQueueAttributes(rec *cloudtrail.Record) ([]Result, error) {
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
		// Other attributes (visibility timeout, redrive...) changed.
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	return policyChange(res, raw, false)
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
	return policyChange(res, p.AttributeValue, false)
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
	return policyChange(res, p.Policy, create)
}

func (e *Engine) secretPolicy(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "secretsmanager.amazonaws.com" {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	if rec.EventName == "DeleteResourcePolicy" {
		return policyRemoved(res), nil
	}
	var p struct {
		ResourcePolicy json.RawMessage `json:"resourcePolicy"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if !present(p.ResourcePolicy) {
		return nil, fmt.Errorf("secret %s: no resourcePolicy in the request", res.ID)
	}
	return policyChange(res, p.ResourcePolicy, false)
}

func (e *Engine) repositoryPolicy(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "ecr.amazonaws.com" {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	if rec.EventName == "DeleteRepositoryPolicy" {
		return policyRemoved(res), nil
	}
	var p struct {
		PolicyText json.RawMessage `json:"policyText"`
	}
	if err := decodeParams(rec.RequestParameters, &p); err != nil {
		return nil, err
	}
	if !present(p.PolicyText) {
		return nil, fmt.Errorf("repository %s: no policyText in the request", res.ID)
	}
	return policyChange(res, p.PolicyText, false)
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
		r := result(Remediation, RuleResourcePolicyPublic, res, "Lambda function permission removed",
			fmt.Sprintf("Permission %s was removed from Lambda function %s.", p.StatementID, res.ID), VectorPolicy)
		return []Result{r}, nil
	}
	if p.Principal != "*" || p.SourceArn != "" || p.SourceAccount != "" || p.PrincipalOrgID != "" {
		return nil, nil
	}
	action := p.Action
	if action == "" {
		action = "lambda:InvokeFunction"
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
