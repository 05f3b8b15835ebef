package replicatest

import (
	"fmt"
	"github.com/secops-bot/secops-bot/internal/testkit/cttest"
	"math/rand/v2"
	"time"
)

// Accounts of config.example.yaml: payments-prod is owned by payments
// (#team-payments), data-prod by data (#team-data); both hold production
// data, so an exposure there is critical and goes to #secops too.
const (
	paymentsAccount = "111122223333"
	dataAccount     = "222233334444"
	unknownAccount  = "444455556666"
)

// exposure is one planted risky change and what it must produce.
type exposure struct {
	account  string
	resource string // unique name shown in the finding's message
	team     string // the owning team's channel name
}

func record(r *rand.Rand, account, source, name, region string, at time.Time, readOnly bool, identity map[string]any, req, resp any) map[string]any {
	return map[string]any{
		"eventVersion":       "1.09",
		"userIdentity":       identity,
		"eventTime":          at.UTC().Format(time.RFC3339),
		"eventSource":        source,
		"eventName":          name,
		"awsRegion":          region,
		"sourceIPAddress":    "198.51.100.77",
		"userAgent":          "aws-cli/2.15.30 md/command#replica-test",
		"requestParameters":  req,
		"responseElements":   resp,
		"requestID":          cttest.UUID(r),
		"eventID":            cttest.UUID(r),
		"readOnly":           readOnly,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": account,
		"eventCategory":      "Management",
	}
}

func backupManager(account string) map[string]any {
	return map[string]any{
		"type": "IAMUser", "principalId": "AIDAEXAMPLEBACKUPMGR",
		"arn":         "arn:aws:iam::" + account + ":user/BackupManager",
		"accountId":   account,
		"accessKeyId": "AKIAEXAMPLEBACKUP001",
		"userName":    "BackupManager",
	}
}

// publicBucketPolicy makes a bucket readable by anyone.
func publicBucketPolicy(r *rand.Rand, account, bucket string, at time.Time) string {
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
	rec := record(r, account, "s3.amazonaws.com", "PutBucketPolicy", "eu-west-1", at, false, backupManager(account), req, nil)
	return cttest.EventBridge(cttest.UUID(r), "aws.s3", rec)
}

// snapshotShare shares an RDS snapshot with an account nobody knows.
func snapshotShare(r *rand.Rand, account, snapshot string, at time.Time) string {
	req := map[string]any{
		"dBSnapshotIdentifier": snapshot,
		"attributeName":        "restore",
		"valuesToAdd":          []any{unknownAccount},
	}
	resp := map[string]any{
		"dBSnapshotIdentifier": snapshot,
		"dBSnapshotAttributes": []any{map[string]any{"attributeName": "restore", "attributeValues": []any{unknownAccount}}},
	}
	rec := record(r, account, "rds.amazonaws.com", "ModifyDBSnapshotAttribute", "eu-west-1", at, false, backupManager(account), req, resp)
	return cttest.EventBridge(cttest.UUID(r), "aws.rds", rec)
}

// noise is a read that must produce no finding.
func noise(r *rand.Rand, account string, i int, at time.Time) string {
	if i%2 == 0 {
		bucket := fmt.Sprintf("quiet-bucket-%03d", i)
		rec := record(r, account, "s3.amazonaws.com", "GetBucketPolicy", "eu-west-1", at, true, backupManager(account),
			map[string]any{"bucketName": bucket, "policy": []any{""}}, nil)
		return cttest.EventBridge(cttest.UUID(r), "aws.s3", rec)
	}
	rec := record(r, account, "rds.amazonaws.com", "DescribeDBSnapshots", "eu-west-1", at, true, backupManager(account),
		map[string]any{"dBSnapshotIdentifier": fmt.Sprintf("quiet-snap-%03d", i)}, nil)
	return cttest.EventBridge(cttest.UUID(r), "aws.rds", rec)
}

// plant returns n events of which the exposures are spread among reads, in
// a shuffled order, and the exposures they hold.
func plant(r *rand.Rand, total, exposures int, now time.Time) ([]string, []exposure) {
	var bodies []string
	var planted []exposure
	for i := range exposures {
		account, team := paymentsAccount, "team-payments"
		if i%2 == 1 {
			account, team = dataAccount, "team-data"
		}
		at := now.Add(-time.Duration(total-i) * time.Second)
		if i%4 < 2 {
			bucket := fmt.Sprintf("replica-exposed-bucket-%02d", i)
			bodies = append(bodies, publicBucketPolicy(r, account, bucket, at))
			planted = append(planted, exposure{account: account, resource: bucket, team: team})
		} else {
			snap := fmt.Sprintf("replica-customers-snap-%02d", i)
			bodies = append(bodies, snapshotShare(r, account, snap, at))
			planted = append(planted, exposure{account: account, resource: snap, team: team})
		}
	}
	for i := exposures; i < total; i++ {
		account := paymentsAccount
		if i%2 == 1 {
			account = dataAccount
		}
		bodies = append(bodies, noise(r, account, i, now.Add(-time.Duration(total-i)*time.Second)))
	}
	r.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	return bodies, planted
}
