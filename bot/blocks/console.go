package blocks

import (
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// resourceLabels are the names people use for each resource type.
var resourceLabels = map[string]string{
	awsarn.TypeS3Bucket:                   "S3 bucket",
	awsarn.TypeS3AccountPublicAccessBlock: "S3 account public access block",
	awsarn.TypeRDSSnapshot:                "RDS snapshot",
	awsarn.TypeRDSClusterSnapshot:         "RDS cluster snapshot",
	awsarn.TypeEC2Snapshot:                "EBS snapshot",
	awsarn.TypeEC2Image:                   "AMI",
	awsarn.TypeSQSQueue:                   "SQS queue",
	awsarn.TypeSNSTopic:                   "SNS topic",
	awsarn.TypeKMSKey:                     "KMS key",
	awsarn.TypeSecret:                     "Secrets Manager secret",
	awsarn.TypeECRRepository:              "ECR repository",
	awsarn.TypeLambdaFunction:             "Lambda function",
	awsarn.TypeCloudTrailTrail:            "CloudTrail trail",
	awsarn.TypeIAMUser:                    "IAM user",
	awsarn.TypeIAMRole:                    "IAM role",
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

// ConsoleURL returns the AWS console page of a finding's resource, or ""
// when there is none (see awsarn.ConsoleURL).
func ConsoleURL(f finding.Finding) string {
	return awsarn.ConsoleURL(awsarn.Resource{
		Type: f.Resource.Type, ID: f.Resource.ID, ARN: f.Resource.ARN, Region: f.Region, Account: f.AccountID,
	})
}
