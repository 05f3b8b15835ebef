package cloudtrail

import (
	"encoding/json"
	"testing"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

func TestResourceOf(t *testing.T) {
	tests := []struct {
		name      string
		source    string
		event     string
		region    string
		params    string
		response  string
		resources []Resource
		typ, id   string
		arn       string
	}{
		{
			name: "s3 bucket", source: "s3.amazonaws.com", event: "PutBucketPolicy",
			params: `{"bucketName":"payments-exports","bucketPolicy":{"Statement":[]},"host":["payments-exports.s3.amazonaws.com"]}`,
			typ:    awsarn.TypeS3Bucket, id: "payments-exports", arn: "arn:aws:s3:::payments-exports",
		},
		{
			name: "s3 bucket in China", source: "s3.amazonaws.com", region: "cn-north-1",
			params: `{"bucketName":"b"}`,
			typ:    awsarn.TypeS3Bucket, id: "b", arn: "arn:aws-cn:s3:::b",
		},
		{
			name: "rds snapshot", source: "rds.amazonaws.com",
			params: `{"dBSnapshotIdentifier":"prod-customers-2026-11-26","attributeName":"restore","valuesToAdd":["444455556666"]}`,
			typ:    awsarn.TypeRDSSnapshot, id: "prod-customers-2026-11-26",
			arn: "arn:aws:rds:us-east-1:111122223333:snapshot:prod-customers-2026-11-26",
		},
		{
			name: "rds snapshot by ARN", source: "rds.amazonaws.com",
			params: `{"dBSnapshotIdentifier":"arn:aws:rds:eu-west-1:999988887777:snapshot:shared-snap"}`,
			typ:    awsarn.TypeRDSSnapshot, id: "shared-snap", arn: "arn:aws:rds:eu-west-1:999988887777:snapshot:shared-snap",
		},
		{
			name: "rds cluster snapshot", source: "rds.amazonaws.com",
			params: `{"dBClusterSnapshotIdentifier":"orders-final","attributeName":"restore"}`,
			typ:    awsarn.TypeRDSClusterSnapshot, id: "orders-final",
			arn: "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:orders-final",
		},
		{
			name: "ebs snapshot", source: "ec2.amazonaws.com",
			params: `{"snapshotId":"snap-0e3bac79ac432d549","attributeType":"CREATE_VOLUME_PERMISSION"}`,
			typ:    awsarn.TypeEC2Snapshot, id: "snap-0e3bac79ac432d549", arn: "arn:aws:ec2:us-east-1::snapshot/snap-0e3bac79ac432d549",
		},
		{
			name: "ami", source: "ec2.amazonaws.com",
			params: `{"imageId":"ami-1111","attributeType":"launchPermission"}`,
			typ:    awsarn.TypeEC2Image, id: "ami-1111", arn: "arn:aws:ec2:us-east-1::image/ami-1111",
		},
		{
			name: "sqs queue", source: "sqs.amazonaws.com",
			params: `{"queueUrl":"https://sqs.us-east-1.amazonaws.com/444455556666/orders","attributes":{"Policy":""}}`,
			typ:    awsarn.TypeSQSQueue, id: "orders", arn: "arn:aws:sqs:us-east-1:444455556666:orders",
		},
		{
			name: "sqs queue created", source: "sqs.amazonaws.com", event: "CreateQueue",
			params:   `{"queueName":"partner-ingest","attributes":{"Policy":"{}"}}`,
			response: `{"queueUrl":"https://sqs.us-east-1.amazonaws.com/111122223333/partner-ingest"}`,
			typ:      awsarn.TypeSQSQueue, id: "partner-ingest", arn: "arn:aws:sqs:us-east-1:111122223333:partner-ingest",
		},
		{
			name: "sns topic created, from the response", source: "sns.amazonaws.com", event: "CreateTopic",
			params:   `{"name":"status-updates"}`,
			response: `{"topicArn":"arn:aws:sns:us-east-1:111122223333:status-updates"}`,
			typ:      awsarn.TypeSNSTopic, id: "status-updates", arn: "arn:aws:sns:us-east-1:111122223333:status-updates",
		},
		{
			name: "sns topic", source: "sns.amazonaws.com",
			params: `{"topicArn":"arn:aws:sns:us-east-1:111122223333:alerts","attributeName":"Policy"}`,
			typ:    awsarn.TypeSNSTopic, id: "alerts", arn: "arn:aws:sns:us-east-1:111122223333:alerts",
		},
		{
			name: "kms key id", source: "kms.amazonaws.com",
			params: `{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","policyName":"default"}`,
			typ:    awsarn.TypeKMSKey, id: "1234abcd-12ab-34cd-56ef-1234567890ab",
			arn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		},
		{
			name: "kms key ARN", source: "kms.amazonaws.com",
			params: `{"keyId":"arn:aws:kms:us-west-2:111122223333:key/abcd"}`,
			typ:    awsarn.TypeKMSKey, id: "abcd", arn: "arn:aws:kms:us-west-2:111122223333:key/abcd",
		},
		{
			name: "kms new key from the response", source: "kms.amazonaws.com", event: "CreateKey",
			params:   `{"policy":"{}","keySpec":"SYMMETRIC_DEFAULT"}`,
			response: `{"keyMetadata":{"keyId":"k-1","arn":"arn:aws:kms:us-east-1:111122223333:key/k-1"}}`,
			typ:      awsarn.TypeKMSKey, id: "k-1", arn: "arn:aws:kms:us-east-1:111122223333:key/k-1",
		},
		{
			name: "secret by ARN", source: "secretsmanager.amazonaws.com",
			params: `{"secretId":"arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"}`,
			typ:    awsarn.TypeSecret, id: "prod/db", arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
		},
		{
			name: "secret by name", source: "secretsmanager.amazonaws.com",
			params: `{"secretId":"prod/db"}`,
			typ:    awsarn.TypeSecret, id: "prod/db", arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db",
		},
		{
			name: "ecr repository", source: "ecr.amazonaws.com",
			params: `{"repositoryName":"community","policyText":"{}"}`,
			typ:    awsarn.TypeECRRepository, id: "community", arn: "arn:aws:ecr:us-east-1:111122223333:repository/community",
		},
		{
			name: "lambda by name", source: "lambda.amazonaws.com",
			params: `{"functionName":"resize","principal":"*"}`,
			typ:    awsarn.TypeLambdaFunction, id: "resize", arn: "arn:aws:lambda:us-east-1:111122223333:function:resize",
		},
		{
			name: "lambda by qualified ARN", source: "lambda.amazonaws.com",
			params: `{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:resize:prod"}`,
			typ:    awsarn.TypeLambdaFunction, id: "resize", arn: "arn:aws:lambda:us-east-1:111122223333:function:resize:prod",
		},
		{
			name: "lambda by partial ARN", source: "lambda.amazonaws.com",
			params: `{"functionName":"444455556666:function:resize"}`,
			typ:    awsarn.TypeLambdaFunction, id: "resize", arn: "arn:aws:lambda:us-east-1:444455556666:function:resize",
		},
		{
			name: "trail by ARN", source: "cloudtrail.amazonaws.com",
			params: `{"name":"arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail"}`,
			typ:    awsarn.TypeCloudTrailTrail, id: "example-trail", arn: "arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail",
		},
		{
			name: "trail by name in PutEventSelectors", source: "cloudtrail.amazonaws.com",
			params: `{"trailName":"org-trail","eventSelectors":[]}`,
			typ:    awsarn.TypeCloudTrailTrail, id: "org-trail", arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail",
		},
		{
			name: "iam user", source: "iam.amazonaws.com",
			params: `{"userName":"BackupManager","policyName":"deny"}`,
			typ:    awsarn.TypeIAMUser, id: "BackupManager", arn: "arn:aws:iam::111122223333:user/BackupManager",
		},
		{
			name: "iam role", source: "iam.amazonaws.com",
			params: `{"roleName":"contractor-alice"}`,
			typ:    awsarn.TypeIAMRole, id: "contractor-alice", arn: "arn:aws:iam::111122223333:role/contractor-alice",
		},
		{
			name: "name outside CloudTrail is not a trail", source: "ssm.amazonaws.com",
			params: `{"name":"/prod/db/password"}`,
		},
		{
			name: "falls back to resources", source: "dynamodb.amazonaws.com",
			params:    `{"tableName":"orders"}`,
			resources: []Resource{{ARN: "arn:aws:dynamodb:us-east-1:111122223333:table/orders", Type: "AWS::DynamoDB::Table"}},
			typ:       "AWS::DynamoDB::Table", id: "orders", arn: "arn:aws:dynamodb:us-east-1:111122223333:table/orders",
		},
		{
			name: "field of the wrong type still falls back", source: "s3.amazonaws.com",
			params:    `{"bucketName":["odd"]}`,
			resources: []Resource{{ARN: "arn:aws:s3:::odd", Type: awsarn.TypeS3Bucket}},
			typ:       awsarn.TypeS3Bucket, id: "odd", arn: "arn:aws:s3:::odd",
		},
		{name: "null parameters", source: "sts.amazonaws.com", params: `null`},
		{name: "no parameters", source: "signin.amazonaws.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			region := tt.region
			if region == "" {
				region = "us-east-1"
			}
			r := &Record{
				EventSource:        tt.source,
				EventName:          tt.event,
				AWSRegion:          region,
				RecipientAccountID: "111122223333",
				Resources:          tt.resources,
			}
			if tt.params != "" {
				r.RequestParameters = json.RawMessage(tt.params)
			}
			if tt.response != "" {
				r.ResponseElements = json.RawMessage(tt.response)
			}
			typ, id, arn := ResourceOf(r)
			if typ != tt.typ || id != tt.id || arn != tt.arn {
				t.Errorf("ResourceOf() = (%q, %q, %q), want (%q, %q, %q)", typ, id, arn, tt.typ, tt.id, tt.arn)
			}
		})
	}
}

func BenchmarkResourceOf(b *testing.B) {
	r := &Record{
		EventSource: "rds.amazonaws.com", AWSRegion: "us-east-1", RecipientAccountID: "111122223333",
		RequestParameters: json.RawMessage(`{"dBSnapshotIdentifier":"prod-customers-2026-11-26","attributeName":"restore","valuesToAdd":["444455556666"]}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		ResourceOf(r)
	}
}
