package native

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// aaFinding is the detail of an "Access Analyzer Finding" event.
type aaFinding struct {
	ID                   string            `json:"id"`
	Status               string            `json:"status"`
	ResourceType         string            `json:"resourceType"`
	Resource             string            `json:"resource"`
	ResourceOwnerAccount string            `json:"resourceOwnerAccount"`
	AccountID            string            `json:"accountId"`
	Region               string            `json:"region"`
	CreatedAt            time.Time         `json:"createdAt"`
	AnalyzedAt           time.Time         `json:"analyzedAt"`
	UpdatedAt            time.Time         `json:"updatedAt"`
	Principal            map[string]string `json:"principal"`
	Action               []string          `json:"action"`
	Condition            map[string]string `json:"condition"`
	IsPublic             bool              `json:"isPublic"`
	IsDeleted            bool              `json:"isDeleted"`
	Error                string            `json:"error"`
}

// aaKind describes one resource type Access Analyzer analyses: how people
// call it, and how bad public and cross-account access to it are.
type aaKind struct {
	label         string
	public, cross finding.Severity
}

// aaKinds are the resource types of Access Analyzer's external access
// findings. Snapshots are whole copies of data, as the built-in snapshot
// rules rate them; a role whose trust lets others in hands them its
// permissions.
var aaKinds = map[string]aaKind{
	awsarn.TypeS3Bucket:                {"S3 bucket", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::S3Express::DirectoryBucket":  {"S3 directory bucket", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeIAMRole:                 {"IAM role", finding.SeverityCritical, finding.SeverityHigh},
	awsarn.TypeKMSKey:                  {"KMS key", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeLambdaFunction:          {"Lambda function", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::Lambda::LayerVersion":        {"Lambda layer", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeSQSQueue:                {"SQS queue", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeSNSTopic:                {"SNS topic", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeSecret:                  {"Secrets Manager secret", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeECRRepository:           {"ECR repository", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::EFS::FileSystem":             {"EFS file system", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::DynamoDB::Table":             {"DynamoDB table", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::DynamoDB::Stream":            {"DynamoDB stream", finding.SeverityHigh, finding.SeverityMedium},
	awsarn.TypeEC2Snapshot:             {"EBS snapshot", finding.SeverityCritical, finding.SeverityHigh},
	awsarn.TypeRDSSnapshot:             {"RDS snapshot", finding.SeverityCritical, finding.SeverityHigh},
	awsarn.TypeRDSClusterSnapshot:      {"RDS cluster snapshot", finding.SeverityCritical, finding.SeverityHigh},
	"AWS::S3::AccessPoint":             {"S3 access point", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::S3::MultiRegionAccessPoint":  {"S3 multi-region access point", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::S3Express::AccessPoint":      {"S3 directory bucket access point", finding.SeverityHigh, finding.SeverityMedium},
	"AWS::SecretsManager::SecretValue": {"Secrets Manager secret", finding.SeverityHigh, finding.SeverityMedium},
}

// accessSeverity rates access to a resource of type typ: public or
// cross-account. Types this table does not know are rated as most are.
func accessSeverity(typ string, public bool) (finding.Severity, string) {
	k, ok := aaKinds[typ]
	if !ok {
		k = aaKind{label: typ, public: finding.SeverityHigh, cross: finding.SeverityMedium}
	}
	if public {
		return k.public, k.label
	}
	return k.cross, k.label
}

func accessAnalyzer(env envelope) ([]Finding, error) {
	var a aaFinding
	if err := json.Unmarshal(env.Detail, &a); err != nil {
		return nil, err
	}
	if a.Error != "" {
		// The analyzer could not analyse the resource: no access found.
		return nil, nil
	}
	var missing []string
	if a.ID == "" {
		missing = append(missing, "id")
	}
	if a.Resource == "" {
		missing = append(missing, "resource")
	}
	if a.Status == "" {
		missing = append(missing, "status")
	}
	account := firstNonEmpty(a.AccountID, a.ResourceOwnerAccount, env.Account)
	if account == "" {
		missing = append(missing, "accountId")
	}
	if len(missing) > 0 {
		return nil, errMissing(missing...)
	}
	region := firstNonEmpty(a.Region, env.Region)
	sev, label := accessSeverity(a.ResourceType, a.IsPublic)
	analyzer := ""
	if len(env.Resources) > 0 {
		analyzer = env.Resources[0]
	}
	n := Finding{
		Rule:           RuleAccessAnalyzer,
		Product:        ProductAccessAnalyzer,
		ID:             a.ID,
		Key:            analyzer + "|" + a.ID,
		Type:           "ExternalAccess " + a.ResourceType,
		Severity:       sev,
		SourceSeverity: "cross-account",
		Account:        account,
		Region:         region,
		Resource:       resourceOf(a.Resource, a.ResourceType),
		Active:         a.Status == "ACTIVE" && !a.IsDeleted,
		State:          strings.ToLower(a.Status),
		FirstSeen:      firstTime(a.CreatedAt, a.UpdatedAt, env.Time),
		UpdatedAt:      firstTime(a.UpdatedAt, a.AnalyzedAt, env.Time),
	}
	if a.IsDeleted {
		n.State += ", deleted"
	}
	who := principalText(a.Principal)
	if a.IsPublic {
		n.SourceSeverity = "public"
		n.Title = label + " open to the public"
		n.Targets = []finding.Target{{Account: "all", Class: finding.TargetPublic}}
	} else {
		n.Title = label + " shared with another account"
		for _, acct := range principalAccounts(a.Principal) {
			if acct != account {
				n.Targets = append(n.Targets, finding.Target{Account: acct})
			}
		}
	}
	n.Description = fmt.Sprintf("IAM Access Analyzer found that %s can %s.", who, actionsText(a.Action))
	if c := conditionText(a.Condition); c != "" {
		n.Description += " Condition: " + c + "."
	}
	if home := awsarn.ConsoleHome("access-analyzer", region); home != "" {
		n.URL = home + "#/findings?resource=" + url.QueryEscape(a.Resource)
	}
	return []Finding{n}, nil
}

// principalAccounts are the account IDs a finding's principal names, as
// IDs or in ARNs, sorted.
func principalAccounts(p map[string]string) []string {
	seen := map[string]bool{}
	for _, v := range p {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if awsarn.IsAccountID(part) {
				seen[part] = true
			} else if a, err := awsarn.Parse(part); err == nil && awsarn.IsAccountID(a.Account) {
				seen[a.Account] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// principalText says who has access: "everyone", "AWS 444455556666".
func principalText(p map[string]string) string {
	if len(p) == 0 {
		return "an external principal"
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if p[k] == "*" {
			parts = append(parts, "everyone")
			continue
		}
		parts = append(parts, k+" "+p[k])
	}
	return strings.Join(parts, " and ")
}

// maxActions keeps the description to what a reader takes in.
const maxActions = 8

func actionsText(actions []string) string {
	if len(actions) == 0 {
		return "access it"
	}
	if len(actions) > maxActions {
		return strings.Join(actions[:maxActions], ", ") + fmt.Sprintf(" and %d more actions", len(actions)-maxActions)
	}
	return strings.Join(actions, ", ")
}

func conditionText(c map[string]string) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" = "+c[k])
	}
	return strings.Join(parts, ", ")
}
