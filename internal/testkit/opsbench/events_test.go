package opsbench

import (
	"fmt"
	"github.com/secops-bot/secops-bot/internal/testkit/cttest"
	"math/rand/v2"
	"time"
)

// Accounts of config.example.yaml: payments-prod holds production data, so
// a public bucket there is critical and goes to #secops.
const (
	paymentsAccount = "111122223333"
	dataAccount     = "222233334444"
)

func record(r *rand.Rand, account, source, name string, at time.Time, readOnly bool, actor string, req any) map[string]any {
	return map[string]any{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type": "IAMUser", "principalId": "AIDAEXAMPLE" + actor,
			"arn":         "arn:aws:iam::" + account + ":user/" + actor,
			"accountId":   account,
			"accessKeyId": "AKIAEXAMPLE" + actor,
			"userName":    actor,
		},
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        source,
		"eventName":          name,
		"awsRegion":          awsRegion,
		"sourceIPAddress":    "198.51.100.77",
		"userAgent":          "aws-cli/2.15.30 md/command#opsbench",
		"requestParameters":  req,
		"responseElements":   nil,
		"requestID":          cttest.UUID(r),
		"eventID":            cttest.UUID(r),
		"readOnly":           readOnly,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": account,
		"eventCategory":      "Management",
	}
}

var actors = []string{"BackupManager", "DeployBot", "alice", "bob", "ReportJob", "Terraform"}

// benign is a read that raises no finding, spread over accounts, actors,
// APIs and resources like ordinary traffic.
func benign(r *rand.Rand, at time.Time) string {
	account := paymentsAccount
	if r.IntN(2) == 1 {
		account = dataAccount
	}
	actor := actors[r.IntN(len(actors))]
	switch r.IntN(3) {
	case 0:
		bucket := fmt.Sprintf("quiet-bucket-%03d", r.IntN(500))
		return cttest.EventBridge(cttest.UUID(r), "aws.s3", record(r, account, "s3.amazonaws.com", "GetBucketPolicy", at, true, actor,
			map[string]any{"bucketName": bucket, "policy": []any{""}}))
	case 1:
		return cttest.EventBridge(cttest.UUID(r), "aws.rds", record(r, account, "rds.amazonaws.com", "DescribeDBSnapshots", at, true, actor,
			map[string]any{"dBSnapshotIdentifier": fmt.Sprintf("quiet-snap-%03d", r.IntN(500))}))
	default:
		return cttest.EventBridge(cttest.UUID(r), "aws.ec2", record(r, account, "ec2.amazonaws.com", "DescribeInstances", at, true, actor,
			map[string]any{"instancesSet": map[string]any{}, "filterSet": map[string]any{}}))
	}
}

// publicBucketPolicy makes a bucket of payments-prod readable by anyone: a
// critical finding posted to #secops and #team-payments.
func publicBucketPolicy(r *rand.Rand, bucket string, at time.Time) string {
	req := map[string]any{
		"bucketPolicy": map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid": "Public", "Effect": "Allow", "Principal": "*",
				"Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + bucket + "/*",
			}},
		},
		"bucketName": bucket,
		"Host":       bucket + ".s3.eu-west-1.amazonaws.com",
		"policy":     []any{""},
	}
	return cttest.EventBridge(cttest.UUID(r), "aws.s3", record(r, paymentsAccount, "s3.amazonaws.com", "PutBucketPolicy", at, false, "BackupManager", req))
}
