package corpus

import (
	"fmt"
	"time"
)

type plantKind int

const (
	plantBucketPolicy plantKind = iota
	plantBucketACL
	plantDBSnapshotShare
	plantEBSSnapshotShare
	plantStopLogging
)

var plantKinds = []plantKind{plantBucketPolicy, plantBucketACL, plantDBSnapshotShare, plantEBSSnapshotShare, plantStopLogging}

// plant returns a write call that exposes a resource, and what to expect.
func (g *generator) plant(k plantKind) (event, Planted) {
	switch k {
	case plantBucketPolicy:
		a := actors[3] // the contractor's deploy role, as in story one
		bucket := g.pick([]string{"prod-customer-exports", "analytics-raw-events"})
		ev := g.base(a, "s3.amazonaws.com", "PutBucketPolicy", "us-east-1")
		ev.RequestParameters = map[string]any{
			"bucketName": bucket,
			"Host":       bucket + ".s3.us-east-1.amazonaws.com",
			"policy":     "",
			"bucketPolicy": map[string]any{
				"Version": "2012-10-17",
				"Statement": []any{map[string]any{
					"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
					"Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + bucket + "/*",
				}},
			},
		}
		ev.AdditionalEventData = map[string]any{"SignatureVersion": "SigV4", "AuthenticationMethod": "AuthHeader"}
		ev.Resources = []resource{{AccountID: a.account, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket}}
		return ev, Planted{EventID: ev.EventID, Event: ev.EventName, Rule: RuleS3PublicPolicy, Resource: bucket, Account: a.account}
	case plantBucketACL:
		a := actors[1]
		bucket := "dev-scratch"
		ev := g.base(a, "s3.amazonaws.com", "PutBucketAcl", "eu-west-1")
		ev.RequestParameters = map[string]any{
			"bucketName": bucket,
			"Host":       bucket + ".s3.eu-west-1.amazonaws.com",
			"acl":        "",
			"x-amz-acl":  []string{"public-read"},
		}
		ev.Resources = []resource{{AccountID: a.account, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket}}
		return ev, Planted{EventID: ev.EventID, Event: ev.EventName, Rule: RuleS3PublicACL, Resource: bucket, Account: a.account}
	case plantDBSnapshotShare:
		a := actors[0] // BackupManager, as in story two
		snap := "customers-db-" + g.now.Format("2006-01-02") + "-manual"
		ev := g.base(a, "rds.amazonaws.com", "ModifyDBSnapshotAttribute", "us-east-1")
		ev.RequestParameters = map[string]any{
			"dBSnapshotIdentifier": snap, "attributeName": "restore", "valuesToAdd": []string{UnknownAccount},
		}
		ev.ResponseElements = map[string]any{
			"dBSnapshotIdentifier": snap,
			"dBSnapshotAttributes": []any{map[string]any{"attributeName": "restore", "attributeValues": []string{UnknownAccount}}},
		}
		return ev, Planted{EventID: ev.EventID, Event: ev.EventName, Rule: RuleRDSSnapshotShare, Resource: snap, Account: a.account}
	case plantEBSSnapshotShare:
		a := actors[4]
		snap := g.hexID("snap-", 17)
		ev := g.base(a, "ec2.amazonaws.com", "ModifySnapshotAttribute", "eu-west-1")
		ev.RequestParameters = map[string]any{
			"snapshotId": snap, "attributeType": "CREATE_VOLUME_PERMISSION",
			"createVolumePermission": map[string]any{"add": map[string]any{"items": []any{map[string]any{"userId": UnknownAccount}}}},
		}
		ev.ResponseElements = map[string]any{"requestId": ev.RequestID, "_return": true}
		return ev, Planted{EventID: ev.EventID, Event: ev.EventName, Rule: RuleEBSSnapshotShare, Resource: snap, Account: a.account}
	default:
		a := actors[2]
		trail := fmt.Sprintf("arn:aws:cloudtrail:us-east-1:%s:trail/org-trail", a.account)
		ev := g.base(a, "cloudtrail.amazonaws.com", "StopLogging", "us-east-1")
		ev.RequestParameters = map[string]any{"name": trail}
		return ev, Planted{EventID: ev.EventID, Event: ev.EventName, Rule: RuleTrailStopped, Resource: trail, Account: a.account}
	}
}

// assumeRole is the STS call behind every role session in the stream.
func (g *generator) assumeRole() event {
	a := g.crowd[g.rng.Intn(len(g.crowd))]
	role := g.roles[g.rng.Intn(len(g.roles))]
	ev := g.base(a, "sts.amazonaws.com", "AssumeRole", g.pick(regions))
	session := g.pick(role.sessions)
	ev.RequestParameters = map[string]any{
		"roleArn":         fmt.Sprintf("arn:aws:iam::%s:role/%s", role.account, role.name),
		"roleSessionName": session,
		"durationSeconds": 3600,
	}
	at, _ := time.Parse(time.RFC3339, ev.EventTime)
	ev.ResponseElements = map[string]any{
		"credentials": map[string]any{
			"accessKeyId":  role.keyPrefix + g.upper(8),
			"sessionToken": "IQoJb3JpZ2luX2VjE" + g.upper(48),
			"expiration":   at.Add(time.Hour).Format("Jan 2, 2006, 3:04:05 PM"),
		},
		"assumedRoleUser": map[string]any{
			"assumedRoleId": role.principal + ":" + session,
			"arn":           fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", role.account, role.name, session),
		},
	}
	ev.ReadOnly = true
	ev.Resources = []resource{{AccountID: role.account, Type: "AWS::IAM::Role", ARN: fmt.Sprintf("arn:aws:iam::%s:role/%s", role.account, role.name)}}
	return ev
}
