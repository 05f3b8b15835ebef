package containment

import (
	"slices"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// The Fit functions decide which actions a finding offers. They live here,
// not with the provider, because they read only the finding.

// FitBucket fits the S3 actions to a finding about a bucket.
func FitBucket(f finding.Finding) (Target, bool) {
	if f.Resource.Type != awsarn.TypeS3Bucket || f.Resource.ID == "" {
		return Target{}, false
	}
	return Target{AccountID: f.AccountID, Region: f.Region, Type: awsarn.TypeS3Bucket, ID: f.Resource.ID, ARN: f.Resource.ARN}, true
}

// FitBucketPolicy fits s3-remove-public-statements: a bucket whose exposure
// comes from its policy (or whose vectors are not known).
func FitBucketPolicy(f finding.Finding) (Target, bool) {
	t, ok := FitBucket(f)
	if !ok || (len(f.Vectors) > 0 && !slices.Contains(f.Vectors, "policy")) {
		return Target{}, false
	}
	return t, true
}

// FitSnapshot fits snapshot-unshare to a shared RDS, RDS cluster or EBS
// snapshot or AMI. The accounts removed are the unknown ones (and "all" for
// a public share); when the finding lists none, every account is removed.
func FitSnapshot(f finding.Finding) (Target, bool) {
	switch f.Resource.Type {
	case awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot, awsarn.TypeEC2Snapshot, awsarn.TypeEC2Image:
	default:
		return Target{}, false
	}
	if f.Resource.ID == "" {
		return Target{}, false
	}
	t := Target{AccountID: f.AccountID, Region: f.Region, Type: f.Resource.Type, ID: f.Resource.ID, ARN: f.Resource.ARN}
	for _, u := range f.UnknownTargets() {
		t.Accounts = append(t.Accounts, u.Account)
	}
	return t, true
}

// FitUser fits the IAM user actions to a finding whose actor (or resource)
// is an IAM user.
func FitUser(f finding.Finding) (Target, bool) {
	if f.Resource.Type == awsarn.TypeIAMUser && f.Resource.ID != "" {
		return Target{AccountID: f.AccountID, Region: f.Region, Type: awsarn.TypeIAMUser, ID: f.Resource.ID, ARN: f.Resource.ARN}, true
	}
	if f.Actor.Type != "IAMUser" {
		return Target{}, false
	}
	name := f.Actor.Name
	if name == "" {
		name = userName(f.Actor.ARN)
	}
	if name == "" {
		return Target{}, false
	}
	acct := f.Actor.AccountID
	if acct == "" {
		acct = f.AccountID
	}
	return Target{AccountID: acct, Region: f.Region, Type: awsarn.TypeIAMUser, ID: name, ARN: f.Actor.ARN}, true
}

// FitUserKeys fits iam-user-deactivate-keys: the long-term key used in the
// event when there is one (AKIA…; temporary ASIA… keys cannot be
// deactivated), else every key of the user. A finding about a user made by
// someone else names the other's key, not the user's; one about the actor
// itself (a detector's finding on the key's own user) names the user's.
func FitUserKeys(f finding.Finding) (Target, bool) {
	t, ok := FitUser(f)
	if !ok {
		return Target{}, false
	}
	ownKey := f.Resource.Type != awsarn.TypeIAMUser || f.Resource.ARN != "" && f.Resource.ARN == f.Actor.ARN
	if strings.HasPrefix(f.Actor.AccessKeyID, "AKIA") && ownKey {
		t.AccessKeyID = f.Actor.AccessKeyID
	}
	return t, true
}

// FitRole fits iam-role-revoke-sessions to a finding made with an
// assumed-role session (or about a role).
func FitRole(f finding.Finding) (Target, bool) {
	if f.Resource.Type == awsarn.TypeIAMRole && f.Resource.ID != "" {
		return Target{AccountID: f.AccountID, Region: f.Region, Type: awsarn.TypeIAMRole, ID: f.Resource.ID, ARN: f.Resource.ARN}, true
	}
	if f.Actor.Type != "AssumedRole" {
		return Target{}, false
	}
	p, err := awsarn.ParsePrincipal(f.Actor.ARN)
	if err != nil || p.Kind != awsarn.KindAssumedRole {
		return Target{}, false
	}
	return Target{
		AccountID: p.Account, Region: f.Region, Type: awsarn.TypeIAMRole, ID: p.Name,
		ARN: p.Identity().String(),
	}, true
}

// userName is the name in an IAM user's ARN, "" for other ARNs.
func userName(arn string) string {
	if p, err := awsarn.ParsePrincipal(arn); err == nil && p.Kind == awsarn.KindUser {
		return p.Name
	}
	return ""
}

// FitKey fits kms-remove-external-account to a shared snapshot or image
// whose customer-managed key lets an account it is shared with use it: the
// target is the key, in its own account and region, and the accounts
// removed are those share targets.
func FitKey(f finding.Finding) (Target, bool) {
	if f.Contents == nil || f.Contents.Key == nil || f.Contents.Key.Case != finding.KeyCustomerUsable {
		return Target{}, false
	}
	k := f.Contents.Key
	a, err := awsarn.Parse(k.KeyARN)
	if err != nil || a.Service != "kms" || a.Account == "" {
		return Target{}, false
	}
	t := Target{AccountID: a.Account, Region: a.Region, Type: awsarn.TypeKMSKey, ID: a.Name(), ARN: k.KeyARN}
	for _, u := range k.Users {
		if u.Target && u.Account != "*" {
			t.Accounts = append(t.Accounts, u.Account)
		}
	}
	if len(t.Accounts) == 0 {
		return Target{}, false
	}
	return t, true
}
