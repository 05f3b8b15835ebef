package native

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// gdFinding is the part of a GuardDuty finding (the detail of a "GuardDuty
// Finding" event) the bot reads.
type gdFinding struct {
	SchemaVersion string     `json:"schemaVersion"`
	AccountID     string     `json:"accountId"`
	Region        string     `json:"region"`
	Partition     string     `json:"partition"`
	ID            string     `json:"id"`
	ARN           string     `json:"arn"`
	Type          string     `json:"type"`
	Severity      *float64   `json:"severity"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Resource      gdResource `json:"resource"`
	Service       gdService  `json:"service"`
}

type gdResource struct {
	ResourceType     string `json:"resourceType"`
	AccessKeyDetails *struct {
		AccessKeyID string `json:"accessKeyId"`
		PrincipalID string `json:"principalId"`
		UserName    string `json:"userName"`
		UserType    string `json:"userType"`
	} `json:"accessKeyDetails"`
	S3BucketDetails []struct {
		ARN  string `json:"arn"`
		Name string `json:"name"`
	} `json:"s3BucketDetails"`
	InstanceDetails *struct {
		InstanceID string `json:"instanceId"`
	} `json:"instanceDetails"`
	RDSDBInstanceDetails *struct {
		DBInstanceIdentifier string `json:"dbInstanceIdentifier"`
		DBInstanceArn        string `json:"dbInstanceArn"`
	} `json:"rdsDbInstanceDetails"`
	LambdaDetails *struct {
		FunctionARN  string `json:"functionArn"`
		FunctionName string `json:"functionName"`
	} `json:"lambdaDetails"`
	EKSClusterDetails *struct {
		Name string `json:"name"`
		ARN  string `json:"arn"`
	} `json:"eksClusterDetails"`
}

type gdService struct {
	Archived       bool      `json:"archived"`
	Count          int       `json:"count"`
	EventFirstSeen time.Time `json:"eventFirstSeen"`
	EventLastSeen  time.Time `json:"eventLastSeen"`
	Action         struct {
		AWSAPICallAction *struct {
			API             string      `json:"api"`
			ServiceName     string      `json:"serviceName"`
			RemoteIPDetails *gdRemoteIP `json:"remoteIpDetails"`
		} `json:"awsApiCallAction"`
		NetworkConnectionAction *struct {
			RemoteIPDetails *gdRemoteIP `json:"remoteIpDetails"`
		} `json:"networkConnectionAction"`
	} `json:"action"`
}

type gdRemoteIP struct {
	IPAddressV4 string `json:"ipAddressV4"`
	IPAddressV6 string `json:"ipAddressV6"`
}

func (r *gdRemoteIP) address() string {
	if r == nil {
		return ""
	}
	return firstNonEmpty(r.IPAddressV4, r.IPAddressV6)
}

// guardDutySeverity maps GuardDuty's scale: low below 4.0, medium to 6.9,
// high to 8.9, critical from 9.0 (the range GuardDuty gives attack
// sequences).
func guardDutySeverity(v float64) finding.Severity {
	switch {
	case v >= 9:
		return finding.SeverityCritical
	case v >= 7:
		return finding.SeverityHigh
	case v >= 4:
		return finding.SeverityMedium
	default:
		return finding.SeverityLow
	}
}

func guardDuty(env envelope) (Finding, error) {
	var g gdFinding
	if err := json.Unmarshal(env.Detail, &g); err != nil {
		return Finding{}, err
	}
	var missing []string
	if g.ID == "" {
		missing = append(missing, "id")
	}
	if g.Type == "" {
		missing = append(missing, "type")
	}
	if g.Severity == nil {
		missing = append(missing, "severity")
	}
	account := firstNonEmpty(g.AccountID, env.Account)
	if account == "" {
		missing = append(missing, "accountId")
	}
	if len(missing) > 0 {
		return Finding{}, errMissing(missing...)
	}
	region := firstNonEmpty(g.Region, env.Region)
	partition := firstNonEmpty(g.Partition, awsarn.PartitionOf(region))
	n := Finding{
		Rule:           RuleGuardDuty,
		Product:        ProductGuardDuty,
		ID:             g.ID,
		Key:            firstNonEmpty(g.ARN, g.ID),
		Type:           g.Type,
		Title:          firstNonEmpty(g.Title, g.Type),
		Description:    g.Description,
		Severity:       guardDutySeverity(*g.Severity),
		SourceSeverity: strconv.FormatFloat(*g.Severity, 'f', 1, 64),
		Account:        account,
		Region:         region,
		Active:         !g.Service.Archived,
		State:          "active",
		Count:          g.Service.Count,
		FirstSeen:      firstTime(g.Service.EventFirstSeen, g.CreatedAt, env.Time),
		UpdatedAt:      firstTime(g.UpdatedAt, g.Service.EventLastSeen, env.Time),
	}
	if g.Service.Archived {
		n.State = "archived"
	}
	if home := awsarn.ConsoleHome("guardduty", region); home != "" {
		n.URL = home + "#/findings?search=id%3D" + url.QueryEscape(g.ID)
	}
	if k := g.Resource.AccessKeyDetails; k != nil {
		n.Actor = principalActor(partition, account, k.UserType, k.UserName, k.PrincipalID, k.AccessKeyID)
	}
	if a := g.Service.Action.AWSAPICallAction; a != nil {
		n.API, n.APISource = a.API, a.ServiceName
		n.SourceIP = a.RemoteIPDetails.address()
	} else if c := g.Service.Action.NetworkConnectionAction; c != nil {
		n.SourceIP = c.RemoteIPDetails.address()
	}
	n.Resource = guardDutyResource(g.Resource, partition, region, account)
	if n.Resource.ARN == "" && g.Resource.ResourceType == "AccessKey" {
		// An access key finding is about the user or role the key
		// belongs to: that is what can be contained or marked expected.
		n.Resource = actorResource(n.Actor)
	}
	return n, nil
}

// guardDutyResource is the resource a GuardDuty finding is about, for the
// resource types whose details name one.
func guardDutyResource(r gdResource, partition, region, account string) finding.Resource {
	switch r.ResourceType {
	case "S3Bucket":
		if len(r.S3BucketDetails) == 0 {
			return finding.Resource{Type: awsarn.TypeS3Bucket}
		}
		b := r.S3BucketDetails[0]
		arn := b.ARN
		if arn == "" && b.Name != "" {
			arn = awsarn.S3Bucket(partition, b.Name).String()
		}
		res := resourceOf(arn, awsarn.TypeS3Bucket)
		if b.Name != "" {
			res.ID = b.Name
		}
		return res
	case "Instance":
		if d := r.InstanceDetails; d != nil && d.InstanceID != "" {
			return finding.Resource{Type: "AWS::EC2::Instance", ID: d.InstanceID,
				ARN: awsarn.ARN{Partition: partition, Service: "ec2", Region: region, Account: account, Resource: "instance/" + d.InstanceID}.String()}
		}
	case "RDSDBInstance":
		if d := r.RDSDBInstanceDetails; d != nil {
			return finding.Resource{Type: "AWS::RDS::DBInstance", ID: d.DBInstanceIdentifier, ARN: d.DBInstanceArn}
		}
	case "Lambda":
		if d := r.LambdaDetails; d != nil {
			return finding.Resource{Type: awsarn.TypeLambdaFunction, ID: d.FunctionName, ARN: d.FunctionARN}
		}
	case "EKSCluster":
		if d := r.EKSClusterDetails; d != nil {
			return finding.Resource{Type: "AWS::EKS::Cluster", ID: d.Name, ARN: d.ARN}
		}
	}
	return finding.Resource{}
}
