package blocks

import (
	"net/url"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
)

// Resource types as CloudFormation names them; the same strings the
// detectors put in finding.Resource.Type.
const (
	typeS3Bucket        = "AWS::S3::Bucket"
	typeS3AccountPAB    = "AWS::S3::AccountPublicAccessBlock"
	typeRDSSnapshot     = "AWS::RDS::DBSnapshot"
	typeRDSClusterSnap  = "AWS::RDS::DBClusterSnapshot"
	typeEC2Snapshot     = "AWS::EC2::Snapshot"
	typeEC2Image        = "AWS::EC2::Image"
	typeSQSQueue        = "AWS::SQS::Queue"
	typeSNSTopic        = "AWS::SNS::Topic"
	typeKMSKey          = "AWS::KMS::Key"
	typeSecret          = "AWS::SecretsManager::Secret"
	typeECRRepository   = "AWS::ECR::Repository"
	typeLambdaFunction  = "AWS::Lambda::Function"
	typeCloudTrailTrail = "AWS::CloudTrail::Trail"
	typeIAMUser         = "AWS::IAM::User"
	typeIAMRole         = "AWS::IAM::Role"
)

// resourceLabels are the names people use for each resource type.
var resourceLabels = map[string]string{
	typeS3Bucket:        "S3 bucket",
	typeS3AccountPAB:    "S3 account public access block",
	typeRDSSnapshot:     "RDS snapshot",
	typeRDSClusterSnap:  "RDS cluster snapshot",
	typeEC2Snapshot:     "EBS snapshot",
	typeEC2Image:        "AMI",
	typeSQSQueue:        "SQS queue",
	typeSNSTopic:        "SNS topic",
	typeKMSKey:          "KMS key",
	typeSecret:          "Secrets Manager secret",
	typeECRRepository:   "ECR repository",
	typeLambdaFunction:  "Lambda function",
	typeCloudTrailTrail: "CloudTrail trail",
	typeIAMUser:         "IAM user",
	typeIAMRole:         "IAM role",
}

// resourceLabel names a resource type for people, falling back to the
// CloudFormation name for types without a label.
func resourceLabel(typ string) string {
	if l, ok := resourceLabels[typ]; ok {
		return l
	}
	if typ == "" {
		return "resource"
	}
	return typ
}

// arnParts splits arn:partition:service:region:account:resource; ok is
// false for anything that is not an ARN.
type arnParts struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arnParts, bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return arnParts{}, false
	}
	return arnParts{partition: p[1], service: p[2], region: p[3], account: p[4], resource: p[5]}, true
}

// consoleDomain is the console's domain in each partition.
func consoleDomain(partition string) string {
	switch partition {
	case "aws-cn":
		return "console.amazonaws.cn"
	case "aws-us-gov":
		return "console.amazonaws-us-gov.com"
	default:
		return "console.aws.amazon.com"
	}
}

// ConsoleURL returns the AWS console page of a finding's resource, or ""
// when the type is not one the console can be linked to or the finding
// lacks what the link needs (a region for regional services).
func ConsoleURL(f finding.Finding) string {
	a, _ := parseARN(f.Resource.ARN)
	region := f.Region
	if region == "" {
		region = a.region
	}
	account := a.account
	if account == "" {
		account = f.AccountID
	}
	partition := a.partition
	if partition == "" {
		partition = partitionOf(region)
	}
	domain := consoleDomain(partition)
	id := f.Resource.ID

	// Services without regions in their console address.
	switch f.Resource.Type {
	case typeS3Bucket:
		name := id
		if name == "" {
			name = a.resource
		}
		if name == "" {
			return ""
		}
		host := "s3." + domain
		if partition != "aws" {
			host = domain
		}
		return "https://" + host + "/s3/buckets/" + url.PathEscape(name)
	case typeS3AccountPAB:
		host := "s3." + domain
		if partition != "aws" {
			host = domain
		}
		return "https://" + host + "/s3/settings"
	case typeIAMUser, typeIAMRole:
		name := id
		if name == "" {
			name = principalName(f.Resource.ARN)
		}
		if name == "" {
			return ""
		}
		kind := "users"
		if f.Resource.Type == typeIAMRole {
			kind = "roles"
		}
		return "https://" + domain + "/iam/home#/" + kind + "/details/" + url.PathEscape(name)
	}

	if region == "" || id == "" && f.Resource.ARN == "" {
		return ""
	}
	home := func(service string) string {
		return "https://" + region + "." + domain + "/" + service + "/home?region=" + url.QueryEscape(region)
	}
	switch f.Resource.Type {
	case typeRDSSnapshot:
		return home("rds") + "#db-snapshot:id=" + url.PathEscape(orAfter(id, a.resource, ":"))
	case typeRDSClusterSnap:
		return home("rds") + "#db-cluster-snapshot:id=" + url.PathEscape(orAfter(id, a.resource, ":"))
	case typeEC2Snapshot:
		return home("ec2") + "#SnapshotDetails:snapshotId=" + url.PathEscape(orAfter(id, a.resource, "/"))
	case typeEC2Image:
		return home("ec2") + "#ImageDetails:imageId=" + url.PathEscape(orAfter(id, a.resource, "/"))
	case typeSQSQueue:
		name := orAfter(id, a.resource, ":")
		if account == "" || name == "" {
			return ""
		}
		queueURL := "https://sqs." + region + ".amazonaws.com/" + account + "/" + name
		return "https://" + region + "." + domain + "/sqs/v3/home?region=" + url.QueryEscape(region) + "#/queues/" + url.QueryEscape(queueURL)
	case typeSNSTopic:
		arn := f.Resource.ARN
		if arn == "" {
			return ""
		}
		return "https://" + region + "." + domain + "/sns/v3/home?region=" + url.QueryEscape(region) + "#/topic/" + arn
	case typeKMSKey:
		if strings.HasPrefix(id, "alias/") || id == "" {
			// The console addresses keys by ID only; an alias lands on the list.
			return home("kms") + "#/kms/keys"
		}
		return home("kms") + "#/kms/keys/" + url.PathEscape(id)
	case typeSecret:
		name := orAfter(id, a.resource, ":")
		return "https://" + region + "." + domain + "/secretsmanager/secret?name=" + url.QueryEscape(name) + "&region=" + url.QueryEscape(region)
	case typeECRRepository:
		name := orAfter(id, a.resource, "/")
		if account == "" {
			return ""
		}
		return "https://" + region + "." + domain + "/ecr/repositories/private/" + account + "/" + url.PathEscape(name) + "?region=" + url.QueryEscape(region)
	case typeLambdaFunction:
		return home("lambda") + "#/functions/" + url.PathEscape(orAfter(id, a.resource, ":"))
	case typeCloudTrailTrail:
		arn := f.Resource.ARN
		if arn == "" {
			return home("cloudtrail") + "#/trails"
		}
		return home("cloudtrail") + "#/trails/" + arn
	}
	return ""
}

// orAfter returns id, or when it is empty the part of an ARN's resource
// after the last sep ("snapshot:name" gives "name").
func orAfter(id, resource, sep string) string {
	if id != "" {
		return id
	}
	if i := strings.LastIndex(resource, sep); i >= 0 {
		return resource[i+1:]
	}
	return resource
}

// partitionOf guesses the partition from a region when no ARN says it.
func partitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}
