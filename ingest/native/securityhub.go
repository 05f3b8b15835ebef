package native

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// asffFinding is the part of an AWS Security Finding Format finding the bot
// reads (one element of the findings of a "Security Hub Findings -
// Imported" event).
type asffFinding struct {
	SchemaVersion   string    `json:"SchemaVersion"`
	ID              string    `json:"Id"`
	ProductArn      string    `json:"ProductArn"`
	ProductName     string    `json:"ProductName"`
	GeneratorID     string    `json:"GeneratorId"`
	AwsAccountID    string    `json:"AwsAccountId"`
	Region          string    `json:"Region"`
	Types           []string  `json:"Types"`
	FirstObservedAt time.Time `json:"FirstObservedAt"`
	CreatedAt       time.Time `json:"CreatedAt"`
	UpdatedAt       time.Time `json:"UpdatedAt"`
	Severity        *struct {
		Label      string   `json:"Label"`
		Normalized *float64 `json:"Normalized"`
	} `json:"Severity"`
	Title       string `json:"Title"`
	Description string `json:"Description"`
	SourceURL   string `json:"SourceUrl"`
	Resources   []struct {
		Type      string `json:"Type"`
		ID        string `json:"Id"`
		Partition string `json:"Partition"`
		Region    string `json:"Region"`
		Details   struct {
			AwsIamAccessKey *struct {
				PrincipalID   string `json:"PrincipalId"`
				PrincipalType string `json:"PrincipalType"`
				PrincipalName string `json:"PrincipalName"`
				UserName      string `json:"UserName"`
				AccessKeyID   string `json:"AccessKeyId"`
				AccountID     string `json:"AccountId"`
			} `json:"AwsIamAccessKey"`
		} `json:"Details"`
	} `json:"Resources"`
	Workflow *struct {
		Status string `json:"Status"`
	} `json:"Workflow"`
	WorkflowState string `json:"WorkflowState"`
	RecordState   string `json:"RecordState"`
}

// asffTypes maps the ASFF resource types findings are raised about to the
// CloudFormation names the rest of the bot uses.
var asffTypes = map[string]string{
	"AwsS3Bucket":             awsarn.TypeS3Bucket,
	"AwsIamUser":              awsarn.TypeIAMUser,
	"AwsIamRole":              awsarn.TypeIAMRole,
	"AwsRdsDbSnapshot":        awsarn.TypeRDSSnapshot,
	"AwsRdsDbClusterSnapshot": awsarn.TypeRDSClusterSnapshot,
	"AwsKmsKey":               awsarn.TypeKMSKey,
	"AwsSqsQueue":             awsarn.TypeSQSQueue,
	"AwsSnsTopic":             awsarn.TypeSNSTopic,
	"AwsLambdaFunction":       awsarn.TypeLambdaFunction,
	"AwsSecretsManagerSecret": awsarn.TypeSecret,
	"AwsEcrRepository":        awsarn.TypeECRRepository,
	"AwsCloudTrailTrail":      awsarn.TypeCloudTrailTrail,
	"AwsEc2Instance":          "AWS::EC2::Instance",
	"AwsRdsDbInstance":        "AWS::RDS::DBInstance",
}

// asffSeverity maps Severity.Label, or the deprecated Normalized score
// when a finding has no label; INFORMATIONAL (and no severity at all) is
// SeverityUnknown, which raises nothing.
func asffSeverity(label string, normalized *float64) (finding.Severity, string) {
	if label == "" && normalized != nil {
		switch n := *normalized; {
		case n >= 90:
			label = "CRITICAL"
		case n >= 70:
			label = "HIGH"
		case n >= 40:
			label = "MEDIUM"
		case n >= 1:
			label = "LOW"
		default:
			label = "INFORMATIONAL"
		}
	}
	label = strings.ToUpper(label)
	switch label {
	case "CRITICAL":
		return finding.SeverityCritical, label
	case "HIGH":
		return finding.SeverityHigh, label
	case "MEDIUM":
		return finding.SeverityMedium, label
	case "LOW":
		return finding.SeverityLow, label
	}
	return finding.SeverityUnknown, label
}

func securityHub(env envelope) ([]Finding, error) {
	var d struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(d.Findings))
	for i, raw := range d.Findings {
		n, err := asff(raw, env)
		if err != nil {
			return nil, fmt.Errorf("findings[%d]: %w", i, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func asff(raw json.RawMessage, env envelope) (Finding, error) {
	var a asffFinding
	if err := json.Unmarshal(raw, &a); err != nil {
		return Finding{}, err
	}
	var missing []string
	if a.ID == "" {
		missing = append(missing, "Id")
	}
	if a.ProductArn == "" {
		missing = append(missing, "ProductArn")
	}
	if a.AwsAccountID == "" {
		missing = append(missing, "AwsAccountId")
	}
	if a.Severity == nil {
		missing = append(missing, "Severity")
	}
	if a.UpdatedAt.IsZero() {
		missing = append(missing, "UpdatedAt")
	}
	if len(missing) > 0 {
		return Finding{}, errMissing(missing...)
	}
	region := firstNonEmpty(a.Region, env.Region)
	sev, label := asffSeverity(a.Severity.Label, a.Severity.Normalized)
	workflow := a.WorkflowState
	if a.Workflow != nil && a.Workflow.Status != "" {
		workflow = a.Workflow.Status
	}
	record := firstNonEmpty(a.RecordState, "ACTIVE")
	// A control's generator names it (security-control/S3.2); other
	// products' types say more than their generators.
	typ := a.GeneratorID
	switch {
	case a.ProductName == ProductSecurityHub && typ != "":
	case len(a.Types) > 0:
		typ = a.Types[0]
	}
	if a.ProductName != "" && a.ProductName != ProductSecurityHub {
		typ = a.ProductName + ": " + typ
	}
	n := Finding{
		Rule:           RuleSecurityHub,
		Product:        ProductSecurityHub,
		ID:             a.ID,
		Key:            a.ProductArn + "|" + a.ID,
		Type:           typ,
		Title:          firstNonEmpty(a.Title, typ),
		Description:    a.Description,
		Severity:       sev,
		SourceSeverity: label,
		Account:        a.AwsAccountID,
		Region:         region,
		Active:         workflow != "RESOLVED" && workflow != "SUPPRESSED" && record != "ARCHIVED",
		State:          strings.TrimSpace("workflow " + firstNonEmpty(workflow, "NEW") + ", record " + record),
		FirstSeen:      firstTime(a.FirstObservedAt, a.CreatedAt, a.UpdatedAt),
		UpdatedAt:      a.UpdatedAt,
		URL:            asffURL(a.SourceURL, region, a.ID),
	}
	for _, r := range a.Resources {
		if k := r.Details.AwsIamAccessKey; k != nil && n.Actor == nil {
			acct := firstNonEmpty(k.AccountID, a.AwsAccountID)
			n.Actor = principalActor(r.Partition, acct, k.PrincipalType, firstNonEmpty(k.PrincipalName, k.UserName), k.PrincipalID, k.AccessKeyID)
			continue
		}
		if n.Resource.ARN != "" || !strings.HasPrefix(r.ID, "arn:") {
			continue
		}
		if typ, ok := asffTypes[r.Type]; ok {
			n.Resource = resourceOf(r.ID, typ)
		} else if res := resourceOf(r.ID, ""); res.Type != "" {
			n.Resource = res
		}
	}
	if n.Resource.ARN == "" {
		n.Resource = actorResource(n.Actor)
	}
	return n, nil
}

// asffURL is where the finding is shown: the product's own page when the
// finding links one, else Security Hub's findings filtered on its ID.
func asffURL(source, region, id string) string {
	if strings.HasPrefix(source, "https://") {
		return source
	}
	home := awsarn.ConsoleHome("securityhub", region)
	if home == "" {
		return ""
	}
	return home + "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A" + url.QueryEscape(url.QueryEscape(id))
}
