package awsarn

import "strings"

// Resource types as CloudFormation names them: the strings findings,
// containment targets and state readers carry in their Type fields.
const (
	TypeS3Bucket           = "AWS::S3::Bucket"
	TypeRDSSnapshot        = "AWS::RDS::DBSnapshot"
	TypeRDSClusterSnapshot = "AWS::RDS::DBClusterSnapshot"
	TypeEC2Snapshot        = "AWS::EC2::Snapshot"
	TypeEC2Image           = "AWS::EC2::Image"
	TypeSQSQueue           = "AWS::SQS::Queue"
	TypeSNSTopic           = "AWS::SNS::Topic"
	TypeKMSKey             = "AWS::KMS::Key"
	TypeSecret             = "AWS::SecretsManager::Secret"
	TypeECRRepository      = "AWS::ECR::Repository"
	TypeLambdaFunction     = "AWS::Lambda::Function"
	TypeCloudTrailTrail    = "AWS::CloudTrail::Trail"
	TypeIAMUser            = "AWS::IAM::User"
	TypeIAMRole            = "AWS::IAM::Role"

	// TypeS3AccountPublicAccessBlock is an account's S3 public access
	// block. CloudFormation has no such type; the name follows its
	// pattern so findings on it read like the others.
	TypeS3AccountPublicAccessBlock = "AWS::S3::AccountPublicAccessBlock"
)

// TypeOf guesses the resource type an ARN names, for the types this
// project knows; "" for others.
func TypeOf(a ARN) string {
	res := a.Resource
	switch {
	case a.Service == "s3" && !strings.Contains(res, "/"):
		return TypeS3Bucket
	case a.Service == "ec2" && strings.HasPrefix(res, "snapshot/"):
		return TypeEC2Snapshot
	case a.Service == "ec2" && strings.HasPrefix(res, "image/"):
		return TypeEC2Image
	case a.Service == "rds" && strings.HasPrefix(res, "snapshot:"):
		return TypeRDSSnapshot
	case a.Service == "rds" && strings.HasPrefix(res, "cluster-snapshot:"):
		return TypeRDSClusterSnapshot
	case a.Service == "iam" && strings.HasPrefix(res, "role/"):
		return TypeIAMRole
	case a.Service == "iam" && strings.HasPrefix(res, "user/"):
		return TypeIAMUser
	case a.Service == "kms" && strings.HasPrefix(res, "key/"):
		return TypeKMSKey
	case a.Service == "sqs":
		return TypeSQSQueue
	case a.Service == "sns":
		return TypeSNSTopic
	case a.Service == "lambda":
		return TypeLambdaFunction
	case a.Service == "secretsmanager":
		return TypeSecret
	}
	return ""
}
