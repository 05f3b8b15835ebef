package awsfake

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/clock"
)

const (
	acctA   = "111122223333"
	baseKey = "AKIDBASEKEY000000001"
)

var t0 = time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)

type world struct {
	srv  *Server
	clk  *clock.Fake
	sts  *STS
	iam  *IAM
	rds  *RDS
	ec2  *EC2
	s3   *S3
	org  *Organizations
	base aws.Config
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{srv: New(), clk: clock.NewFake(t0)}
	t.Cleanup(w.srv.Close)
	w.srv.Identities().Add(baseKey, "arn:aws:iam::"+acctA+":user/secops-bot")
	w.sts = NewSTS(w.srv.Identities(), w.clk)
	w.iam = NewIAM(w.clk)
	w.rds = NewRDS(w.clk)
	w.ec2 = NewEC2(w.clk)
	w.s3 = NewS3()
	w.org = NewOrganizations(2)
	w.srv.Handle("sts", w.sts)
	w.srv.Handle("iam", w.iam)
	w.srv.Handle("rds", w.rds)
	w.srv.Handle("ec2", w.ec2)
	w.srv.Handle("s3", w.s3)
	w.srv.Handle("organizations", w.org)
	w.base = aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(w.srv.URL()),
		HTTPClient:   w.srv.HTTPClient(),
		Credentials:  credentials.NewStaticCredentialsProvider(baseKey, "secret", ""),
	}
	return w
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSTS(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	client := sts.NewFromConfig(w.base)
	role := "arn:aws:iam::444455556666:role/secops-member"
	w.sts.Deny("arn:aws:iam::444455556666:role/locked")
	w.sts.RequireExternalID("arn:aws:iam::444455556666:role/external", "ext-1")
	w.sts.SetMaxSessionDuration(role, 2*time.Hour)

	tests := []struct {
		name     string
		in       sts.AssumeRoleInput
		wantCode string
	}{
		{name: "granted with everything recorded", in: sts.AssumeRoleInput{
			RoleArn: aws.String(role), RoleSessionName: aws.String("breakglass-alice"),
			DurationSeconds: aws.Int32(1800), SourceIdentity: aws.String("alice"),
			Tags: []ststypes.Tag{{Key: aws.String("ticket"), Value: aws.String("SEC-1")}},
		}},
		{name: "denied role", in: sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/locked"), RoleSessionName: aws.String("s")}, wantCode: "AccessDenied"},
		{name: "wrong external ID", in: sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/external"), RoleSessionName: aws.String("s"), ExternalId: aws.String("nope")}, wantCode: "AccessDenied"},
		{name: "right external ID", in: sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/external"), RoleSessionName: aws.String("s"), ExternalId: aws.String("ext-1")}},
		{name: "longer than the role allows", in: sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s"), DurationSeconds: aws.Int32(3 * 3600)}, wantCode: "ValidationError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := client.AssumeRole(ctx, &tc.in)
			if tc.wantCode != "" {
				if got := apiCode(err); got != tc.wantCode {
					t.Fatalf("error code = %q (%v), want %q", got, err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			key := aws.ToString(out.Credentials.AccessKeyId)
			if !strings.HasPrefix(key, RoleKeyPrefix(aws.ToString(tc.in.RoleArn))) {
				t.Errorf("access key %s does not encode role %s", key, aws.ToString(tc.in.RoleArn))
			}
			dur := time.Duration(aws.ToInt32(tc.in.DurationSeconds)) * time.Second
			if dur == 0 {
				dur = time.Hour
			}
			if got := aws.ToTime(out.Credentials.Expiration); !got.Equal(t0.Add(dur)) {
				t.Errorf("expiration = %v, want %v", got, t0.Add(dur))
			}
			// The issued key works and belongs to the role's account.
			cfg := w.base.Copy()
			cfg.Credentials = credentials.NewStaticCredentialsProvider(key, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
			id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if aws.ToString(id.Account) != "444455556666" || !strings.Contains(aws.ToString(id.Arn), ":assumed-role/") {
				t.Errorf("caller = %s %s, want the assumed role in 444455556666", aws.ToString(id.Account), aws.ToString(id.Arn))
			}
		})
	}

	calls := w.sts.AssumeRoleCalls()
	if len(calls) != len(tests) {
		t.Fatalf("recorded %d AssumeRole calls, want %d", len(calls), len(tests))
	}
	first := calls[0]
	if first.DurationSeconds != 1800 || first.SourceIdentity != "alice" || first.Tags["ticket"] != "SEC-1" || first.Caller.Account != acctA {
		t.Errorf("first call recorded as %+v", first)
	}
	if calls[1].Refused != "AccessDenied" {
		t.Errorf("denied call recorded as %+v", calls[1])
	}
	if calls[3].ExternalID != "ext-1" {
		t.Errorf("external ID recorded as %q", calls[3].ExternalID)
	}

	id, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(id.Arn) != "arn:aws:iam::"+acctA+":user/secops-bot" {
		t.Errorf("base caller = %s", aws.ToString(id.Arn))
	}
}

func TestIAM(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	created := t0.Add(-400 * 24 * time.Hour)
	w.iam.AddUser(acctA, IAMUser{Name: "BackupManager", Created: created, Tags: map[string]string{"team": "data"}})
	w.iam.AddRole(acctA, IAMRole{Name: "contractor-deploy", MaxSessionDuration: 7200, Tags: map[string]string{"contractor": "true"}})
	w.iam.AddAccessKey(acctA, IAMAccessKey{ID: "AKIAOLD", User: "BackupManager", Created: created, LastUsed: t0.Add(-time.Hour), Service: "rds", Region: "eu-west-1"})
	w.iam.AddAccessKey(acctA, IAMAccessKey{ID: "AKIANEVER", User: "BackupManager", Created: t0})
	c := iam.NewFromConfig(w.base)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24"]}}}]}`

	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("BackupManager")})
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if got := aws.ToString(u.User.Arn); got != "arn:aws:iam::"+acctA+":user/BackupManager" || !aws.ToTime(u.User.CreateDate).Equal(created) {
		t.Errorf("user = %s created %v", got, aws.ToTime(u.User.CreateDate))
	}
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("contractor-deploy")})
	if err != nil {
		t.Fatalf("GetRole: %v", err)
	}
	if aws.ToInt32(r.Role.MaxSessionDuration) != 7200 {
		t.Errorf("MaxSessionDuration = %d", aws.ToInt32(r.Role.MaxSessionDuration))
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("missing")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("missing role: %v", err)
	}
	ut, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("BackupManager")})
	if err != nil || len(ut.Tags) != 1 || aws.ToString(ut.Tags[0].Value) != "data" {
		t.Errorf("ListUserTags = %+v, %v", ut, err)
	}
	rt, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("contractor-deploy")})
	if err != nil || len(rt.Tags) != 1 || aws.ToString(rt.Tags[0].Key) != "contractor" {
		t.Errorf("ListRoleTags = %+v, %v", rt, err)
	}
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("BackupManager")})
	if err != nil || len(keys.AccessKeyMetadata) != 2 {
		t.Fatalf("ListAccessKeys = %+v, %v", keys, err)
	}
	lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAOLD")})
	if err != nil || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "rds" || !aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate).Equal(t0.Add(-time.Hour)) {
		t.Errorf("GetAccessKeyLastUsed = %+v, %v", lu.AccessKeyLastUsed, err)
	}
	never, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIANEVER")})
	if err != nil || never.AccessKeyLastUsed.LastUsedDate != nil {
		t.Errorf("never used key = %+v, %v", never.AccessKeyLastUsed, err)
	}
	if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("BackupManager"), AccessKeyId: aws.String("AKIAOLD"), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatalf("UpdateAccessKey: %v", err)
	}
	if k, _ := w.iam.AccessKey(acctA, "AKIAOLD"); k.Status != "Inactive" {
		t.Errorf("key status = %s, want Inactive", k.Status)
	}

	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("BackupManager"), PolicyName: aws.String("secops-lock"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("PutUserPolicy: %v", err)
	}
	if got, _ := w.iam.User(acctA, "BackupManager"); got.Policies["secops-lock"] != doc {
		t.Errorf("fake holds %q, want the exact policy", got.Policies["secops-lock"])
	}
	gp, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("BackupManager"), PolicyName: aws.String("secops-lock")})
	if err != nil {
		t.Fatalf("GetUserPolicy: %v", err)
	}
	if dec, _ := url.QueryUnescape(aws.ToString(gp.PolicyDocument)); dec != doc || aws.ToString(gp.PolicyDocument) == doc {
		t.Errorf("policy document %q is not the URL-encoded policy", aws.ToString(gp.PolicyDocument))
	}
	lp, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("BackupManager")})
	if err != nil || !slices.Equal(lp.PolicyNames, []string{"secops-lock"}) {
		t.Errorf("ListUserPolicies = %v, %v", lp, err)
	}
	if _, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("BackupManager"), PolicyName: aws.String("secops-lock")}); err != nil {
		t.Fatalf("DeleteUserPolicy: %v", err)
	}
	if _, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("BackupManager"), PolicyName: aws.String("secops-lock")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("deleted policy: %v", err)
	}

	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("contractor-deploy"), PolicyName: aws.String("revoke"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("PutRolePolicy: %v", err)
	}
	rp, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("contractor-deploy"), PolicyName: aws.String("revoke")})
	if err != nil {
		t.Fatalf("GetRolePolicy: %v", err)
	}
	if dec, _ := url.QueryUnescape(aws.ToString(rp.PolicyDocument)); dec != doc {
		t.Errorf("role policy = %q", dec)
	}
	if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("contractor-deploy"), PolicyName: aws.String("revoke")}); err != nil {
		t.Fatalf("DeleteRolePolicy: %v", err)
	}
	if got, _ := w.iam.Role(acctA, "contractor-deploy"); len(got.Policies) != 0 {
		t.Errorf("role still has policies %v", got.Policies)
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("BackupManager"), PolicyName: aws.String("bad"), PolicyDocument: aws.String("{")}); apiCode(err) != "MalformedPolicyDocument" {
		t.Errorf("malformed policy: %v", err)
	}

	// Another account's credentials see none of this account's users.
	other := w.base.Copy()
	w.srv.Identities().Add("AKIDOTHER", "arn:aws:iam::999988887777:user/x")
	other.Credentials = credentials.NewStaticCredentialsProvider("AKIDOTHER", "s", "")
	if _, err := iam.NewFromConfig(other).GetUser(ctx, &iam.GetUserInput{UserName: aws.String("BackupManager")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("user seen from another account: %v", err)
	}
}

func TestRDS(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.rds.AddSnapshot(acctA, RDSSnapshot{ID: "prod-customers-2024-05-01", Source: "prod-customers", Region: "eu-west-1", Engine: "postgres", Tags: map[string]string{"env": "production"}})
	w.rds.AddSnapshot(acctA, RDSSnapshot{ID: "enc", Source: "prod-customers", Encrypted: true})
	w.rds.AddSnapshot(acctA, RDSSnapshot{ID: "cluster-snap", Cluster: true, Source: "aurora-prod", SharedWith: []string{"444455556666"}})
	c := rds.NewFromConfig(w.base)

	ds, err := c.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("prod-customers-2024-05-01")})
	if err != nil || len(ds.DBSnapshots) != 1 {
		t.Fatalf("DescribeDBSnapshots = %+v, %v", ds, err)
	}
	s := ds.DBSnapshots[0]
	if aws.ToString(s.DBInstanceIdentifier) != "prod-customers" || len(s.TagList) != 1 || aws.ToString(s.DBSnapshotArn) != "arn:aws:rds:eu-west-1:"+acctA+":snapshot:prod-customers-2024-05-01" {
		t.Errorf("snapshot = %+v", s)
	}
	all, err := c.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String("prod-customers")})
	if err != nil || len(all.DBSnapshots) != 2 {
		t.Errorf("snapshots of the instance = %d, %v", len(all.DBSnapshots), err)
	}
	if _, err := c.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("gone")}); apiCode(err) != "DBSnapshotNotFound" {
		t.Errorf("missing snapshot: %v", err)
	}
	cs, err := c.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String("cluster-snap")})
	if err != nil || len(cs.DBClusterSnapshots) != 1 || aws.ToString(cs.DBClusterSnapshots[0].DBClusterIdentifier) != "aurora-prod" {
		t.Fatalf("DescribeDBClusterSnapshots = %+v, %v", cs, err)
	}
	if _, err := c.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String("gone")}); apiCode(err) != "DBClusterSnapshotNotFoundFault" {
		t.Errorf("missing cluster snapshot: %v", err)
	}

	mod, err := c.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{
		DBSnapshotIdentifier: aws.String("prod-customers-2024-05-01"), AttributeName: aws.String("restore"),
		ValuesToAdd: []string{"444455556666", "all"},
	})
	if err != nil {
		t.Fatalf("ModifyDBSnapshotAttribute: %v", err)
	}
	if got := mod.DBSnapshotAttributesResult.DBSnapshotAttributes[0].AttributeValues; !slices.Equal(got, []string{"444455556666", "all"}) {
		t.Errorf("after add = %v", got)
	}
	if _, err := c.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{
		DBSnapshotIdentifier: aws.String("prod-customers-2024-05-01"), AttributeName: aws.String("restore"), ValuesToRemove: []string{"all"},
	}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	attrs, err := c.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String("prod-customers-2024-05-01")})
	if err != nil {
		t.Fatalf("DescribeDBSnapshotAttributes: %v", err)
	}
	if got := attrs.DBSnapshotAttributesResult.DBSnapshotAttributes[0]; aws.ToString(got.AttributeName) != "restore" || !slices.Equal(got.AttributeValues, []string{"444455556666"}) {
		t.Errorf("attributes = %s %v", aws.ToString(got.AttributeName), got.AttributeValues)
	}
	if _, err := c.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{
		DBSnapshotIdentifier: aws.String("enc"), AttributeName: aws.String("restore"), ValuesToAdd: []string{"all"},
	}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("public share of an encrypted snapshot: %v", err)
	}

	if _, err := c.ModifyDBClusterSnapshotAttribute(ctx, &rds.ModifyDBClusterSnapshotAttributeInput{
		DBClusterSnapshotIdentifier: aws.String("cluster-snap"), AttributeName: aws.String("restore"), ValuesToRemove: []string{"444455556666"},
	}); err != nil {
		t.Fatalf("ModifyDBClusterSnapshotAttribute: %v", err)
	}
	ca, err := c.DescribeDBClusterSnapshotAttributes(ctx, &rds.DescribeDBClusterSnapshotAttributesInput{DBClusterSnapshotIdentifier: aws.String("cluster-snap")})
	if err != nil {
		t.Fatalf("DescribeDBClusterSnapshotAttributes: %v", err)
	}
	if got := ca.DBClusterSnapshotAttributesResult.DBClusterSnapshotAttributes[0].AttributeValues; len(got) != 0 {
		t.Errorf("cluster snapshot still shared with %v", got)
	}
	if got, _ := w.rds.Snapshot(acctA, true, "cluster-snap"); len(got.SharedWith) != 0 {
		t.Errorf("fake state still shared with %v", got.SharedWith)
	}

	tags, err := c.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: s.DBSnapshotArn})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Value) != "production" {
		t.Errorf("ListTagsForResource = %+v, %v", tags, err)
	}
}

func TestEC2(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.ec2.AddSnapshot(acctA, EC2Snapshot{ID: "snap-0abc", VolumeID: "vol-1", SizeGiB: 100, Tags: map[string]string{"Name": "db-data"}})
	w.ec2.AddSnapshot(acctA, EC2Snapshot{ID: "snap-enc", Encrypted: true})
	w.ec2.AddImage(acctA, EC2Image{ID: "ami-0abc", Name: "golden", SharedWith: []string{"all"}})
	c := ec2.NewFromConfig(w.base)

	ds, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-0abc"}})
	if err != nil || len(ds.Snapshots) != 1 || aws.ToInt32(ds.Snapshots[0].VolumeSize) != 100 || len(ds.Snapshots[0].Tags) != 1 {
		t.Fatalf("DescribeSnapshots = %+v, %v", ds, err)
	}
	if _, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-gone"}}); apiCode(err) != "InvalidSnapshot.NotFound" {
		t.Errorf("missing snapshot: %v", err)
	}
	di, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0abc"}})
	if err != nil || len(di.Images) != 1 || !aws.ToBool(di.Images[0].Public) || aws.ToString(di.Images[0].Name) != "golden" {
		t.Fatalf("DescribeImages = %+v, %v", di, err)
	}

	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId: aws.String("snap-0abc"), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{Group: ec2types.PermissionGroupAll}, {UserId: aws.String("444455556666")}}},
	}); err != nil {
		t.Fatalf("ModifySnapshotAttribute add: %v", err)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId: aws.String("snap-0abc"), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: ec2types.OperationTypeRemove, GroupNames: []string{"all"},
	}); err != nil {
		t.Fatalf("ModifySnapshotAttribute remove: %v", err)
	}
	sa, err := c.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String("snap-0abc"), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil {
		t.Fatalf("DescribeSnapshotAttribute: %v", err)
	}
	if len(sa.CreateVolumePermissions) != 1 || aws.ToString(sa.CreateVolumePermissions[0].UserId) != "444455556666" {
		t.Errorf("createVolumePermission = %+v", sa.CreateVolumePermissions)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId: aws.String("snap-enc"), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: ec2types.OperationTypeAdd, GroupNames: []string{"all"},
	}); apiCode(err) != "OperationNotPermitted" {
		t.Errorf("public encrypted snapshot: %v", err)
	}

	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId: aws.String("ami-0abc"),
		LaunchPermission: &ec2types.LaunchPermissionModifications{
			Remove: []ec2types.LaunchPermission{{Group: ec2types.PermissionGroupAll}},
			Add:    []ec2types.LaunchPermission{{UserId: aws.String("444455556666")}, {OrganizationArn: aws.String("arn:aws:organizations::123456789012:organization/o-abc")}},
		},
	}); err != nil {
		t.Fatalf("ModifyImageAttribute: %v", err)
	}
	ia, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String("ami-0abc"), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatalf("DescribeImageAttribute: %v", err)
	}
	if len(ia.LaunchPermissions) != 2 || aws.ToString(ia.LaunchPermissions[0].UserId) != "444455556666" || aws.ToString(ia.LaunchPermissions[1].OrganizationArn) == "" {
		t.Errorf("launchPermission = %+v", ia.LaunchPermissions)
	}
	if got, _ := w.ec2.Image(acctA, "ami-0abc"); slices.Contains(got.SharedWith, "all") {
		t.Errorf("image still public: %v", got.SharedWith)
	}
}

func TestS3(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	public := `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::assets/*"}]}`
	w.s3.AddBucket(acctA, S3Bucket{Name: "assets", Tags: map[string]string{"data": "public"}})
	w.s3.AddBucket("999988887777", S3Bucket{Name: "not-mine"})
	c := s3.NewFromConfig(w.base, func(o *s3.Options) { o.UsePathStyle = true })

	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("assets")}); apiCode(err) != "NoSuchBucketPolicy" {
		t.Errorf("no policy yet: %v", err)
	}
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(public)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	gp, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("assets")})
	if err != nil || aws.ToString(gp.Policy) != public {
		t.Errorf("GetBucketPolicy = %q, %v", aws.ToString(gp.Policy), err)
	}
	st, err := c.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("assets")})
	if err != nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Errorf("GetBucketPolicyStatus = %+v, %v", st, err)
	}
	if _, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("assets"), ACL: s3types.BucketCannedACLPublicRead}); err != nil {
		t.Fatalf("PutBucketAcl: %v", err)
	}
	acl, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("assets")})
	if err != nil || len(acl.Grants) != 2 {
		t.Fatalf("GetBucketAcl = %+v, %v", acl, err)
	}
	if g := acl.Grants[1]; g.Grantee.Type != s3types.TypeGroup || aws.ToString(g.Grantee.URI) != AllUsersURI || g.Permission != s3types.PermissionRead {
		t.Errorf("public grant = %+v %+v", g, g.Grantee)
	}
	if _, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("assets")}); apiCode(err) != "NoSuchPublicAccessBlockConfiguration" {
		t.Errorf("no block yet: %v", err)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("assets"), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
	}}); err != nil {
		t.Fatalf("PutPublicAccessBlock: %v", err)
	}
	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("assets")})
	if err != nil || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) {
		t.Errorf("GetPublicAccessBlock = %+v, %v", pab, err)
	}
	if got, _ := w.s3.Bucket("assets"); got.PublicAccessBlock == nil || !got.PublicAccessBlock.BlockPublicPolicy {
		t.Errorf("fake block = %+v", got.PublicAccessBlock)
	}
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("assets"), Policy: aws.String(public)}); apiCode(err) != "AccessDenied" {
		t.Errorf("public policy under BlockPublicPolicy: %v", err)
	}
	if _, err := c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("assets")}); err != nil {
		t.Fatalf("DeletePublicAccessBlock: %v", err)
	}
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("assets")}); err != nil {
		t.Fatalf("DeleteBucketPolicy: %v", err)
	}
	if got, _ := w.s3.Bucket("assets"); got.Policy != "" || got.PublicAccessBlock != nil {
		t.Errorf("bucket after deletes = %+v", got)
	}
	tg, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("assets")})
	if err != nil || len(tg.TagSet) != 1 || aws.ToString(tg.TagSet[0].Value) != "public" {
		t.Errorf("GetBucketTagging = %+v, %v", tg, err)
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("missing")}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: %v", err)
	}
	if _, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("not-mine")}); apiCode(err) != "AccessDenied" {
		t.Errorf("another account's bucket: %v", err)
	}

	ctl := s3control.NewFromConfig(w.base)
	if _, err := ctl.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String(acctA)}); apiCode(err) != "NoSuchPublicAccessBlockConfiguration" {
		t.Errorf("no account block yet: %v", err)
	}
	w.s3.SetAccountPublicAccessBlock(acctA, &S3PublicAccessBlock{BlockPublicPolicy: true})
	ap, err := ctl.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String(acctA)})
	if err != nil || !aws.ToBool(ap.PublicAccessBlockConfiguration.BlockPublicPolicy) || aws.ToBool(ap.PublicAccessBlockConfiguration.IgnorePublicAcls) {
		t.Errorf("account block = %+v, %v", ap, err)
	}
}

func TestOrganizationsPages(t *testing.T) {
	w := newWorld(t)
	for _, id := range []string{"111122223333", "222233334444", "333344445555", "444455556666", "555566667777"} {
		w.org.AddAccount(OrgAccount{ID: id, Name: "acct-" + id[:4], Joined: t0})
	}
	p := organizations.NewListAccountsPaginator(organizations.NewFromConfig(w.base), &organizations.ListAccountsInput{})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListAccounts: %v", err)
		}
		for _, a := range page.Accounts {
			ids = append(ids, aws.ToString(a.Id))
			if !aws.ToTime(a.JoinedTimestamp).Equal(t0) {
				t.Errorf("joined = %v", aws.ToTime(a.JoinedTimestamp))
			}
		}
	}
	if len(ids) != 5 || ids[4] != "555566667777" {
		t.Errorf("accounts = %v", ids)
	}
	if got := len(w.srv.CallsTo("organizations", "ListAccounts")); got != 3 {
		t.Errorf("ListAccounts calls = %d, want 3 pages of 2", got)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		fault    Fault
		wantCode string
		wantOK   bool
	}{
		{name: "throttling twice is retried away", fault: Fault{Service: "sts", Action: "GetCallerIdentity", Code: "Throttling", Status: 400, Times: 2}, wantOK: true},
		{name: "access denied is returned", fault: Fault{Service: "sts", Code: "AccessDenied", Status: 403, Times: -1}, wantCode: "AccessDenied"},
		{name: "a fault on another action does not fire", fault: Fault{Service: "sts", Action: "AssumeRole", Code: "AccessDenied", Status: 403, Times: -1}, wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.srv.Inject(tc.fault)
			_, err := sts.NewFromConfig(w.base).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if tc.wantOK && err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if !tc.wantOK && apiCode(err) != tc.wantCode {
				t.Fatalf("error = %v, want %s", err, tc.wantCode)
			}
			if calls := w.srv.CallsTo("sts", "GetCallerIdentity"); calls[len(calls)-1].Account != acctA {
				t.Errorf("call recorded for account %q", calls[len(calls)-1].Account)
			}
		})
	}
}
