package awsarn

import "testing"

func TestConsoleURL(t *testing.T) {
	res := func(typ, id, arn, region string) Resource {
		return Resource{Type: typ, ID: id, ARN: arn, Region: region, Account: "111122223333"}
	}
	tests := []struct {
		name string
		r    Resource
		want string
	}{
		{"s3 bucket", res(TypeS3Bucket, "acme-exports", "arn:aws:s3:::acme-exports", "eu-west-1"),
			"https://s3.console.aws.amazon.com/s3/buckets/acme-exports"},
		{"s3 bucket from ARN only", res(TypeS3Bucket, "", "arn:aws:s3:::acme-exports", ""),
			"https://s3.console.aws.amazon.com/s3/buckets/acme-exports"},
		{"s3 bucket in China", res(TypeS3Bucket, "b", "arn:aws-cn:s3:::b", "cn-north-1"),
			"https://console.amazonaws.cn/s3/buckets/b"},
		{"s3 bucket in GovCloud from the region", res(TypeS3Bucket, "b", "", "us-gov-west-1"),
			"https://console.amazonaws-us-gov.com/s3/buckets/b"},
		{"s3 bucket without a name", res(TypeS3Bucket, "", "", "eu-west-1"), ""},
		{"account public access block", res(TypeS3AccountPublicAccessBlock, "111122223333", "arn:aws:s3:::account/111122223333", "us-east-1"),
			"https://s3.console.aws.amazon.com/s3/settings"},
		{"rds snapshot", res(TypeRDSSnapshot, "prod-customers-2026-11-26", "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26", "eu-central-1"),
			"https://eu-central-1.console.aws.amazon.com/rds/home?region=eu-central-1#db-snapshot:id=prod-customers-2026-11-26"},
		{"rds snapshot region from ARN", res(TypeRDSSnapshot, "", "arn:aws:rds:eu-central-1:111122223333:snapshot:snap1", ""),
			"https://eu-central-1.console.aws.amazon.com/rds/home?region=eu-central-1#db-snapshot:id=snap1"},
		{"rds cluster snapshot", res(TypeRDSClusterSnapshot, "aurora-snap", "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:aurora-snap", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/rds/home?region=us-east-1#db-cluster-snapshot:id=aurora-snap"},
		{"ebs snapshot", res(TypeEC2Snapshot, "snap-0abc", "arn:aws:ec2:us-east-1::snapshot/snap-0abc", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#SnapshotDetails:snapshotId=snap-0abc"},
		{"ebs snapshot ID from ARN", res(TypeEC2Snapshot, "", "arn:aws:ec2:us-east-1::snapshot/snap-0abc", ""),
			"https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#SnapshotDetails:snapshotId=snap-0abc"},
		{"ami", res(TypeEC2Image, "ami-0abc", "arn:aws:ec2:us-east-1::image/ami-0abc", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#ImageDetails:imageId=ami-0abc"},
		{"ami in China", res(TypeEC2Image, "ami-0abc", "arn:aws-cn:ec2:cn-north-1::image/ami-0abc", ""),
			"https://cn-north-1.console.amazonaws.cn/ec2/home?region=cn-north-1#ImageDetails:imageId=ami-0abc"},
		{"sqs queue", res(TypeSQSQueue, "orders", "arn:aws:sqs:eu-west-1:111122223333:orders", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1#/queues/https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F111122223333%2Forders"},
		{"sqs queue without an account", Resource{Type: TypeSQSQueue, ID: "orders", Region: "eu-west-1"}, ""},
		{"sns topic", res(TypeSNSTopic, "alerts", "arn:aws:sns:eu-west-1:111122223333:alerts", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/sns/v3/home?region=eu-west-1#/topic/arn:aws:sns:eu-west-1:111122223333:alerts"},
		{"kms key", res(TypeKMSKey, "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"kms alias lands on the key list", res(TypeKMSKey, "alias/app", "arn:aws:kms:eu-west-1:111122223333:alias/app", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys"},
		{"secret", res(TypeSecret, "prod/db", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/secretsmanager/secret?name=prod%2Fdb&region=eu-west-1"},
		{"ecr repository", res(TypeECRRepository, "team/api", "arn:aws:ecr:eu-west-1:111122223333:repository/team/api", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/ecr/repositories/private/111122223333/team%2Fapi?region=eu-west-1"},
		{"lambda function", res(TypeLambdaFunction, "resize", "arn:aws:lambda:eu-west-1:111122223333:function:resize", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/resize"},
		{"cloudtrail trail", res(TypeCloudTrailTrail, "org-trail", "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/cloudtrail/home?region=eu-west-1#/trails/arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail"},
		{"cloudtrail trail without an ARN lands on the list", res(TypeCloudTrailTrail, "org-trail", "", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/cloudtrail/home?region=eu-west-1#/trails"},
		{"iam role", res(TypeIAMRole, "deploy", "arn:aws:iam::111122223333:role/deploy", ""),
			"https://console.aws.amazon.com/iam/home#/roles/details/deploy"},
		{"iam user name from an ARN with a path", res(TypeIAMUser, "", "arn:aws:iam::111122223333:user/ops/Bob", ""),
			"https://console.aws.amazon.com/iam/home#/users/details/Bob"},
		{"iam user in GovCloud", res(TypeIAMUser, "", "arn:aws-us-gov:iam::111122223333:user/Bob", ""),
			"https://console.amazonaws-us-gov.com/iam/home#/users/details/Bob"},
		{"iam user without a name", res(TypeIAMUser, "", "", ""), ""},
		{"regional type without region", res(TypeEC2Snapshot, "snap-0abc", "", ""), ""},
		{"unknown type", res("AWS::Glue::Table", "t", "arn:aws:glue:eu-west-1:111122223333:table/db/t", "eu-west-1"), ""},
		{"malformed ARN gives no link", res(TypeRDSSnapshot, "", "arn:aws:rds", ""), ""},
		{"nothing", Resource{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConsoleURL(tc.r); got != tc.want {
				t.Errorf("ConsoleURL:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestConsoleHome(t *testing.T) {
	tests := []struct {
		name, service, region, want string
	}{
		{"commercial", "guardduty", "eu-west-1", "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1"},
		{"China", "securityhub", "cn-north-1", "https://cn-north-1.console.amazonaws.cn/securityhub/home?region=cn-north-1"},
		{"GovCloud", "access-analyzer", "us-gov-west-1", "https://us-gov-west-1.console.amazonaws-us-gov.com/access-analyzer/home?region=us-gov-west-1"},
		{"no region", "guardduty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConsoleHome(tc.service, tc.region); got != tc.want {
				t.Errorf("ConsoleHome(%q, %q) = %s, want %s", tc.service, tc.region, got, tc.want)
			}
		})
	}
}
