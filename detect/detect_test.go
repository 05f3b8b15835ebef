package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// fakeAccounts classifies the accounts of the test organisation.
type fakeAccounts map[string]finding.TargetClass

func (f fakeAccounts) Classify(acct string) finding.TargetClass {
	if c, ok := f[acct]; ok {
		return c
	}
	return finding.TargetUnknown
}

var testAccounts = fakeAccounts{
	"222233334444": finding.TargetKnown,   // another account of the organisation
	"555566667777": finding.TargetTrusted, // the approved backup vendor
}

func loadEvent(t testing.TB, name string) *cloudtrail.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var rec cloudtrail.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rec.Raw = b
	return &rec
}

func eventFiles(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

type want struct {
	kind     Kind
	rule     string
	severity finding.Severity
	resource finding.Resource
	vectors  []string
	targets  []finding.Target
	// detail lists phrases the detail must contain; notDetail, phrases it
	// must not.
	detail    []string
	notDetail []string
	// after is the canonical JSON the change's After must equal, if set.
	after string
	// all says the targets are all the resource is shared with now.
	all bool
}

// cleared is the external share cleared by a resource policy written or
// removed whole: the resource is shared with targets (ours) only.
func cleared(res finding.Resource, targets ...finding.Target) want {
	return want{kind: Remediation, rule: RuleResourceSharedExternal, severity: high, resource: res, vectors: []string{"share"}, targets: targets, all: true}
}

var (
	ordersQueue       = finding.Resource{Type: "AWS::SQS::Queue", ID: "orders", ARN: "arn:aws:sqs:us-east-1:111122223333:orders"}
	reportingSecret   = finding.Resource{Type: "AWS::SecretsManager::Secret", ID: "prod/reporting-db", ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/reporting-db-AbCdEf"}
	thumbnailFunction = finding.Resource{Type: "AWS::Lambda::Function", ID: "thumbnail-resize", ARN: "arn:aws:lambda:us-east-1:111122223333:function:thumbnail-resize"}
)

func bucket(name string) finding.Resource {
	return finding.Resource{Type: "AWS::S3::Bucket", ID: name, ARN: "arn:aws:s3:::" + name}
}

var (
	high     = finding.SeverityHigh
	medium   = finding.SeverityMedium
	critical = finding.SeverityCritical
)

func unknown(acct string) finding.Target {
	return finding.Target{Account: acct, Class: finding.TargetUnknown}
}

func known(acct string) finding.Target {
	return finding.Target{Account: acct, Class: finding.TargetKnown}
}

var everyone = []finding.Target{{Account: "all", Class: finding.TargetPublic}}

var accountPAB = finding.Resource{Type: awsarn.TypeS3AccountPublicAccessBlock, ID: "111122223333", ARN: "arn:aws:s3:::account/111122223333"}

var storyTwoSnapshot = finding.Resource{
	Type: "AWS::RDS::DBSnapshot", ID: "prod-customers-2026-11-26",
	ARN: "arn:aws:rds:us-east-1:111122223333:snapshot:prod-customers-2026-11-26",
}

// engineCases maps every event fixture to what the engine must conclude.
var engineCases = map[string][]want{
	// Story one: a contractor's role makes the payments bucket public.
	"s3-putbucketpolicy-public-contractor.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, resource: bucket("payments-exports"), vectors: []string{"policy"},
		detail: []string{`statement "PublicRead" grants s3:GetObject to everyone`, `Principal "*", no condition`},
		after:  `{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::payments-exports/*","Sid":"PublicRead"}],"Version":"2012-10-17"}`,
	}, cleared(bucket("payments-exports"))},
	"s3-putbucketpolicy-public.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, resource: bucket("example-bucket"), vectors: []string{"policy"},
		detail: []string{`statement "Public Access" grants s3:GetBucketAcl to everyone (Principal {"AWS":"*"}, no condition)`},
	}, cleared(bucket("example-bucket"))},
	"s3-putbucketpolicy-service-principal.json": {{
		kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("trail-logs-111122223333"), vectors: []string{"policy"},
	}, cleared(bucket("trail-logs-111122223333"))},
	// Story one, fixed: the owning team pins the statement to the organisation.
	"s3-putbucketpolicy-fixed-contractor.json": {{
		kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("payments-exports"), vectors: []string{"policy"},
		detail: []string{"grants nothing to everyone"},
	}, cleared(bucket("payments-exports"))},
	"s3-putbucketpolicy-accessdenied.json":       nil,
	"s3-putbucketpolicy-unreadable.json":         nil,
	"ecr-setrepositorypolicy-no-policytext.json": nil,
	"s3-deletebucketpolicy.json": {{
		kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("myawsbucket"), vectors: []string{"policy"},
	}, cleared(bucket("myawsbucket"))},
	"s3-putbucketacl-canonical-user.json": {{
		kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("myawsbucket"), vectors: []string{"acl"},
	}},
	"s3-putbucketacl-allusers-grant.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, resource: bucket("marketing-assets"), vectors: []string{"acl"},
		detail: []string{"a grant gives everyone (AllUsers) READ"}, notDetail: []string{"FULL_CONTROL"},
	}},
	"s3-putbucketacl-canned-public-read.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, resource: bucket("marketing-assets"), vectors: []string{"acl"},
		detail: []string{"canned ACL public-read lets everyone list the bucket"},
		after:  `{"x-amz-acl":["public-read"]}`,
	}},
	"s3-putbucketacl-canned-private.json": {{
		kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("bucket"), vectors: []string{"acl"},
	}},
	"s3-putbucketacl-grant-header-authenticated.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, resource: bucket("marketing-assets"), vectors: []string{"acl"},
		detail: []string{"the x-amz-grant-read header gives any AWS account (AuthenticatedUsers) READ"}, notDetail: []string{"FULL_CONTROL"},
	}},
	"s3-putbucketpublicaccessblock-disabled.json": {{
		kind: Exposure, rule: RulePublicAccessBlockRemove, severity: medium, resource: bucket("payments-exports"), vectors: []string{"public-access-block"},
		detail: []string{"BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets off", "public bucket policies and public ACLs can take effect"},
		after:  `{"BlockPublicAcls":false,"BlockPublicPolicy":false,"IgnorePublicAcls":false,"RestrictPublicBuckets":false}`,
	}},
	"s3-putbucketpublicaccessblock-policy-only.json": {
		{
			kind: Exposure, rule: RulePublicAccessBlockRemove, severity: medium, resource: bucket("marketing-assets"), vectors: []string{"public-access-block"},
			detail: []string{"BlockPublicAcls, IgnorePublicAcls off", "so public ACLs can take effect"},
		},
		{kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("marketing-assets"), vectors: []string{"policy"}},
	},
	"s3-putbucketpublicaccessblock-enabled.json": {
		{kind: Remediation, rule: RulePublicAccessBlockRemove, severity: medium, resource: bucket("payments-exports"), vectors: []string{"public-access-block"}},
		{kind: Remediation, rule: RuleS3BucketPublic, severity: high, resource: bucket("payments-exports"), vectors: []string{"policy", "acl"}},
	},
	"s3-deletebucketpublicaccessblock.json": {{
		kind: Exposure, rule: RulePublicAccessBlockRemove, severity: medium, resource: bucket("corporate-documents"), vectors: []string{"public-access-block"},
		detail: []string{"was deleted"},
	}},
	"s3-putaccountpublicaccessblock-disabled.json": {{
		kind: Exposure, rule: RulePublicAccessBlockRemove, severity: medium, resource: accountPAB, vectors: []string{"public-access-block"},
		detail: []string{"account-level public access block of 111122223333"},
	}},
	"s3-putaccountpublicaccessblock-enabled.json": {{
		kind: Remediation, rule: RulePublicAccessBlockRemove, severity: medium, resource: accountPAB, vectors: []string{"public-access-block"},
	}},
	"s3-deleteaccountpublicaccessblock.json": {{
		kind: Exposure, rule: RulePublicAccessBlockRemove, severity: medium, resource: accountPAB, vectors: []string{"public-access-block"},
	}},
	"s3-getbucketversioning.json": nil,

	"ecr-setrepositorypolicy-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::ECR::Repository", ID: "community", ARN: "arn:aws:ecr:eu-west-1:112233445566:repository/community"},
		detail:   []string{`ECR repository community`, `statement "PublicRead" grants ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, ecr:GetAuthorizationToken, ecr:GetDownloadUrlForLayer to everyone`},
	}, cleared(finding.Resource{Type: "AWS::ECR::Repository", ID: "community", ARN: "arn:aws:ecr:eu-west-1:112233445566:repository/community"})},
	"ecr-deleterepositorypolicy.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::ECR::Repository", ID: "community", ARN: "arn:aws:ecr:us-east-1:111122223333:repository/community"},
	}, cleared(finding.Resource{Type: "AWS::ECR::Repository", ID: "community", ARN: "arn:aws:ecr:us-east-1:111122223333:repository/community"})},
	"sqs-setqueueattributes-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SQS::Queue", ID: "orders", ARN: "arn:aws:sqs:us-east-1:111122223333:orders"},
		detail:   []string{`statement "AnyoneSend" grants sqs:SendMessage to everyone`}, notDetail: []string{"OrgSend"},
	}, cleared(ordersQueue)},
	"sqs-setqueueattributes-empty-policy.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SQS::Queue", ID: "orders", ARN: "arn:aws:sqs:us-east-1:111122223333:orders"},
		detail:   []string{"was removed"},
	}, cleared(ordersQueue)},
	"sqs-setqueueattributes-visibility.json": nil,
	"sns-settopicattributes-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource:  finding.Resource{Type: "AWS::SNS::Topic", ID: "alerts", ARN: "arn:aws:sns:us-east-1:111122223333:alerts"},
		detail:    []string{`statement "PublicSubscribe" grants SNS:Subscribe, SNS:Receive to everyone`, "aws:SourceIp 0.0.0.0/0 is too broad"},
		notDetail: []string{"__default_statement_ID"},
	}, cleared(finding.Resource{Type: "AWS::SNS::Topic", ID: "alerts", ARN: "arn:aws:sns:us-east-1:111122223333:alerts"}, known("111122223333"))},
	"sns-settopicattributes-displayname.json": nil,
	"kms-putkeypolicy-org-restricted.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::KMS::Key", ID: "1234abcd-12ab-34cd-56ef-1234567890ab", ARN: "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
	}, cleared(finding.Resource{Type: "AWS::KMS::Key", ID: "1234abcd-12ab-34cd-56ef-1234567890ab", ARN: "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, finding.Target{Account: "123456789012", Class: finding.TargetKnown})},
	"kms-createkey-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::KMS::Key", ID: "0987dcba-09fe-87dc-65ba-ab0987654321", ARN: "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"},
		detail:   []string{`statement "AllowDecryptEverywhere" grants kms:Decrypt, kms:DescribeKey to everyone`}, notDetail: []string{"Enable IAM User Permissions"},
	}},
	"kms-createkey-default-policy.json": nil,
	"secretsmanager-putresourcepolicy-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SecretsManager::Secret", ID: "prod/reporting-db", ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/reporting-db-AbCdEf"},
		detail:   []string{`aws:PrincipalArn arn:aws:iam::*:role/reporting-* matches any value`},
	}, cleared(reportingSecret)},
	"secretsmanager-putresourcepolicy-org-restricted.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SecretsManager::Secret", ID: "prod/reporting-db", ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/reporting-db-AbCdEf"},
	}, cleared(reportingSecret)},
	"secretsmanager-deleteresourcepolicy.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SecretsManager::Secret", ID: "prod/reporting-db", ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/reporting-db-AbCdEf"},
	}, cleared(reportingSecret)},
	"logs-putresourcepolicy.json": nil,
	"lambda-addpermission-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::Lambda::Function", ID: "thumbnail-resize", ARN: "arn:aws:lambda:us-east-1:111122223333:function:thumbnail-resize"},
		detail:   []string{"Permission open-invoke lets everyone call lambda:InvokeFunction"},
	}},
	"lambda-addpermission-s3-source.json":          nil,
	"lambda-addpermission-star-sourceaccount.json": nil,
	"lambda-removepermission.json": {{
		kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::Lambda::Function", ID: "thumbnail-resize", ARN: "arn:aws:lambda:us-east-1:111122223333:function:thumbnail-resize"},
	}, cleared(thumbnailFunction)},

	// Story two: BackupManager shares a customer database snapshot at 3 a.m.
	"rds-modifydbsnapshotattribute-story-two.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, resource: storyTwoSnapshot, vectors: []string{"share"},
		targets: []finding.Target{unknown("444455556666")},
		detail:  []string{"RDS snapshot prod-customers-2026-11-26 was shared with account 444455556666 (unknown): that account can now copy or restore it."},
		after:   `["444455556666"]`,
	}},
	"rds-modifydbsnapshotattribute-shared.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"},
		resource: finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "exfiltration", ARN: "arn:aws:rds:us-west-2:123456789012:snapshot:exfiltration"},
		targets:  []finding.Target{unknown("193672423079")},
	}},
	"rds-modifydbsnapshotattribute-public.json": {{
		kind: Exposure, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, targets: everyone,
		resource: finding.Resource{Type: "AWS::RDS::DBSnapshot", ID: "staging-orders-2026-11-01", ARN: "arn:aws:rds:us-east-1:111122223333:snapshot:staging-orders-2026-11-01"},
		detail:   []string{`shared with "all": every AWS account can now copy or restore it`},
	}},
	"rds-modifydbsnapshotattribute-known-accounts.json": nil,
	"rds-modifydbsnapshotattribute-mixed-accounts.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, resource: storyTwoSnapshot, vectors: []string{"share"},
		targets: []finding.Target{{Account: "222233334444", Class: finding.TargetKnown}, unknown("444455556666")},
		detail:  []string{"account 222233334444 (known), account 444455556666 (unknown)", "those accounts"},
	}},
	"rds-modifydbsnapshotattribute-remove.json": {{
		kind: Remediation, rule: RuleSnapshotSharedExternal, severity: critical, resource: storyTwoSnapshot, vectors: []string{"share"},
		targets: []finding.Target{unknown("444455556666")},
		after:   `[]`,
	}},
	"rds-modifydbsnapshotattribute-accessdenied.json": nil,
	"rds-modifydbclustersnapshotattribute-shared.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"},
		resource: finding.Resource{Type: "AWS::RDS::DBClusterSnapshot", ID: "orders-aurora-final", ARN: "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:orders-aurora-final"},
		targets:  []finding.Target{unknown("444455556666")},
		after:    `["444455556666"]`,
	}},
	"rds-modifydbclustersnapshotattribute-public-removed.json": {{
		kind: Remediation, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, targets: everyone,
		resource: finding.Resource{Type: "AWS::RDS::DBClusterSnapshot", ID: "orders-aurora-final", ARN: "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:orders-aurora-final"},
	}},
	"ec2-modifysnapshotattribute-shared.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"},
		resource: finding.Resource{Type: "AWS::EC2::Snapshot", ID: "snap-0e3bac79ac432d549", ARN: "arn:aws:ec2:us-east-1::snapshot/snap-0e3bac79ac432d549"},
		targets:  []finding.Target{unknown("012345678912")},
		detail:   []string{"can now create volumes from it"},
	}},
	"ec2-modifysnapshotattribute-public.json": {{
		kind: Exposure, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, targets: everyone,
		resource: finding.Resource{Type: "AWS::EC2::Snapshot", ID: "snap-0a1b2c3d4e5f67890", ARN: "arn:aws:ec2:us-east-1::snapshot/snap-0a1b2c3d4e5f67890"},
	}},
	"ec2-modifysnapshotattribute-remove.json": {{
		kind: Remediation, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"},
		resource: finding.Resource{Type: "AWS::EC2::Snapshot", ID: "snap-0e3bac79ac432d549", ARN: "arn:aws:ec2:us-east-1::snapshot/snap-0e3bac79ac432d549"},
		targets:  []finding.Target{unknown("012345678912")},
	}},
	"ec2-modifyimageattribute-public.json": {{
		kind: Exposure, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, targets: everyone,
		resource: finding.Resource{Type: "AWS::EC2::Image", ID: "ami-1111", ARN: "arn:aws:ec2:us-west-2::image/ami-1111"},
		detail:   []string{"every AWS account can now launch instances from it"},
	}},
	"ec2-modifyimageattribute-public-denied.json": nil,
	"ec2-modifyimageattribute-organization.json": {{
		kind: Exposure, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"},
		resource: finding.Resource{Type: "AWS::EC2::Image", ID: "ami-0abcdef1234567890", ARN: "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890"},
		targets:  []finding.Target{unknown("arn:aws:organizations::777788889999:organization/o-zz9y8x7w6v")},
		detail:   []string{"organisation arn:aws:organizations::777788889999:organization/o-zz9y8x7w6v (unknown)"},
	}},
	"ec2-modifyimageattribute-description.json": nil,

	"cloudtrail-stoplogging.json": {{
		kind: Exposure, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "example-trail", ARN: "arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail"},
		detail:   []string{"Trail example-trail stopped logging"},
	}},
	"cloudtrail-stoplogging-error.json": nil,
	"cloudtrail-startlogging.json": {{
		kind: Remediation, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "example-trail", ARN: "arn:aws:cloudtrail:us-west-2:123456789012:trail/example-trail"},
	}},
	"cloudtrail-deletetrail.json": {{
		kind: Exposure, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "management-events", ARN: "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"},
	}},
	"cloudtrail-puteventselectors-disabled.json": {{
		kind: Exposure, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "sample-cloudtrail-name", ARN: "arn:aws:cloudtrail:us-east-1:111122223333:trail/sample-cloudtrail-name"},
		detail:   []string{"no longer record write management events"},
	}},
	"cloudtrail-puteventselectors-enabled.json": nil,
	"cloudtrail-puteventselectors-advanced-data-only.json": {{
		kind: Exposure, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "org-trail", ARN: "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"},
	}},
	"cloudtrail-puteventselectors-advanced-management.json": nil,
	"cloudtrail-updatetrail-single-region.json": {{
		kind: Exposure, rule: RuleLoggingDisabled, severity: high, vectors: []string{"logging"},
		resource: finding.Resource{Type: "AWS::CloudTrail::Trail", ID: "management-events", ARN: "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"},
		detail:   []string{"global services (IAM, STS, CloudFront) are no longer recorded", "only region us-east-1 is recorded"},
	}},
	"cloudtrail-updatetrail-validation.json": nil,

	"sts-assumerole.json":        nil,
	"ec2-describeinstances.json": nil,

	// A queue created with a public policy.
	"sqs-createqueue-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"}, resource: partnerIngestQueue,
		detail: []string{`SQS queue partner-ingest`, `statement "AnyoneSend" grants sqs:SendMessage to everyone (Principal "*", no condition)`},
	}},
	"sqs-createqueue-no-policy.json": nil,
	// Policies as JSON objects rather than strings.
	"sqs-createqueue-policy-object.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SQS::Queue", ID: "webhooks", ARN: "arn:aws:sqs:us-east-1:111122223333:webhooks"},
		detail:   []string{`statement #1 grants sqs:SendMessage, sqs:ReceiveMessage to everyone`},
	}},
	"sqs-setqueueattributes-policy-object.json": {
		{kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"}, resource: ordersQueue},
		{
			kind: Exposure, rule: RuleResourceSharedExternal, severity: high, vectors: []string{"share"}, resource: ordersQueue,
			targets: []finding.Target{unknown("444455556666")}, all: true,
			detail: []string{"grants account 444455556666 (unknown)", `statement "PartnerSend" grants sqs:SendMessage to account 444455556666 (principal arn:aws:iam::444455556666:root)`},
		},
	},
	"sns-createtopic-public.json": {{
		kind: Exposure, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"},
		resource: finding.Resource{Type: "AWS::SNS::Topic", ID: "status-updates", ARN: "arn:aws:sns:us-east-1:111122223333:status-updates"},
		detail:   []string{`statement "AnyonePublish" grants SNS:Publish to everyone`},
	}},
	// A key statement for everyone limited by kms:CallerAccount to our
	// account is neither public nor shared.
	"kms-putkeypolicy-caller-account.json": {
		{kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"}, resource: ebsKey},
		cleared(ebsKey, known("111122223333")),
	},
	// The same, limited to an account that is not ours: an external share.
	"kms-putkeypolicy-caller-account-external.json": {
		{kind: Remediation, rule: RuleResourcePolicyPublic, severity: high, vectors: []string{"policy"}, resource: ebsKey},
		{
			kind: Exposure, rule: RuleResourceSharedExternal, severity: high, vectors: []string{"share"}, resource: ebsKey,
			targets: []finding.Target{known("111122223333"), unknown("444455556666")}, all: true,
			detail: []string{`KMS key 2b1c4d5e-6f70-4a81-92b3-c4d5e6f7a8b9 grants account 111122223333 (known), account 444455556666 (unknown)`, `limited by kms:CallerAccount 444455556666`},
		},
	},
	"s3-putbucketpolicy-cross-account.json": {
		{kind: Remediation, rule: RuleS3BucketPublic, severity: high, vectors: []string{"policy"}, resource: bucket("payments-exports")},
		{
			kind: Exposure, rule: RuleResourceSharedExternal, severity: high, vectors: []string{"share"}, resource: bucket("payments-exports"),
			targets: []finding.Target{unknown("444455556666")}, all: true,
			detail: []string{`The policy of S3 bucket payments-exports grants account 444455556666 (unknown): statement "PartnerRead" grants s3:GetObject, s3:ListBucket to account 444455556666`},
		},
	},
	"s3-putbucketpolicy-cross-account-trusted.json": {
		{kind: Remediation, rule: RuleS3BucketPublic, severity: high, vectors: []string{"policy"}, resource: bucket("payments-exports")},
		cleared(bucket("payments-exports"), finding.Target{Account: "555566667777", Class: finding.TargetTrusted}),
	},
	"lambda-addpermission-cross-account.json": {{
		kind: Exposure, rule: RuleResourceSharedExternal, severity: high, vectors: []string{"share"}, resource: thumbnailFunction,
		targets: []finding.Target{unknown("444455556666")},
		detail:  []string{"Permission partner-invoke lets account 444455556666 (unknown) call lambda:InvokeFunction"},
	}},
	// Buckets created with a public ACL.
	"s3-createbucket-public-read.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, vectors: []string{"acl"}, resource: bucket("press-kit-2026"),
		detail: []string{"created with an ACL that makes it public: the canned ACL public-read lets everyone list the bucket"},
		after:  `{"x-amz-acl":["public-read"]}`,
	}},
	"s3-createbucket-grant-allusers.json": {{
		kind: Exposure, rule: RuleS3BucketPublic, severity: high, vectors: []string{"acl"}, resource: bucket("press-kit-archive"),
		detail: []string{"the x-amz-grant-read header gives everyone (AllUsers) READ"}, notDetail: []string{"FULL_CONTROL"},
	}},
	"s3-createbucket-private.json": nil,
	// Resetting permissions removes every share.
	"ec2-resetsnapshotattribute.json": {
		{kind: Remediation, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, resource: sharedSnapshot, all: true, detail: []string{"create volume permissions of EBS snapshot snap-0e3bac79ac432d549 were reset"}},
		{kind: Remediation, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"}, resource: sharedSnapshot, all: true, after: `[]`},
	},
	"ec2-resetimageattribute.json": {
		{kind: Remediation, rule: RuleSnapshotPublic, severity: critical, vectors: []string{"share"}, resource: publicImage, all: true, detail: []string{"launch permissions of AMI ami-1111 were reset"}},
		{kind: Remediation, rule: RuleSnapshotSharedExternal, severity: critical, vectors: []string{"share"}, resource: publicImage, all: true},
	},
	"ec2-resetsnapshotattribute-productcodes.json": nil,
}

var (
	partnerIngestQueue = finding.Resource{Type: "AWS::SQS::Queue", ID: "partner-ingest", ARN: "arn:aws:sqs:us-east-1:111122223333:partner-ingest"}
	ebsKey             = finding.Resource{Type: "AWS::KMS::Key", ID: "2b1c4d5e-6f70-4a81-92b3-c4d5e6f7a8b9", ARN: "arn:aws:kms:us-east-1:111122223333:key/2b1c4d5e-6f70-4a81-92b3-c4d5e6f7a8b9"}
	sharedSnapshot     = finding.Resource{Type: "AWS::EC2::Snapshot", ID: "snap-0e3bac79ac432d549", ARN: "arn:aws:ec2:us-east-1::snapshot/snap-0e3bac79ac432d549"}
	publicImage        = finding.Resource{Type: "AWS::EC2::Image", ID: "ami-1111", ARN: "arn:aws:ec2:us-west-2::image/ami-1111"}
)

// wantErrors lists the fixtures whose event the engine must report as a
// problem (and still not crash or yield a result on).
var wantErrors = map[string]bool{
	"s3-putbucketpolicy-unreadable.json":         true,
	"ecr-setrepositorypolicy-no-policytext.json": true,
}

func TestEngineEvents(t *testing.T) {
	e := NewEngine(testAccounts)
	for _, name := range eventFiles(t) {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			wants, ok := engineCases[name]
			if !ok {
				t.Fatalf("fixture %s has no expectation in engineCases", name)
			}
			rec := loadEvent(t, name)
			got, errs := e.Evaluate(rec)
			if wantErrors[name] {
				if len(errs) == 0 {
					t.Errorf("want an error for this event")
				}
				for _, err := range errs {
					if !strings.Contains(err.Error(), rec.EventID) {
						t.Errorf("error %q does not name event %s", err, rec.EventID)
					}
				}
			} else if len(errs) > 0 {
				t.Errorf("unexpected errors: %v", errs)
			}
			if len(got) != len(wants) {
				t.Fatalf("got %d results, want %d:\n%s", len(got), len(wants), dump(got))
			}
			for i, w := range wants {
				checkResult(t, got[i], w)
			}
		})
	}
	for name := range engineCases {
		if _, err := os.Stat(filepath.Join("testdata", "events", name)); err != nil {
			t.Errorf("engineCases names a missing fixture: %v", err)
		}
	}
}

func checkResult(t *testing.T, got Result, w want) {
	t.Helper()
	if got.Kind != w.kind || got.Rule != w.rule || got.Severity != w.severity {
		t.Errorf("got %s %s (%s), want %s %s (%s)", got.Kind, got.Rule, got.Severity, w.kind, w.rule, w.severity)
	}
	if got.Resource != w.resource {
		t.Errorf("resource = %+v, want %+v", got.Resource, w.resource)
	}
	if !slices.Equal(got.Vectors, w.vectors) {
		t.Errorf("vectors = %v, want %v", got.Vectors, w.vectors)
	}
	if !slices.Equal(got.Targets, w.targets) {
		t.Errorf("targets = %+v, want %+v", got.Targets, w.targets)
	}
	if got.AllTargets != w.all {
		t.Errorf("all targets = %v, want %v", got.AllTargets, w.all)
	}
	if got.Title == "" || got.Detail == "" {
		t.Errorf("title %q / detail %q must both be set", got.Title, got.Detail)
	}
	for _, d := range w.detail {
		if !strings.Contains(got.Detail, d) {
			t.Errorf("detail %q\ndoes not contain %q", got.Detail, d)
		}
	}
	for _, d := range w.notDetail {
		if strings.Contains(got.Detail, d) {
			t.Errorf("detail %q\nmust not contain %q", got.Detail, d)
		}
	}
	if w.after != "" {
		if got.Change == nil {
			t.Fatalf("no change, want after %s", w.after)
		}
		if string(got.Change.After) != w.after {
			t.Errorf("change after = %s, want %s", got.Change.After, w.after)
		}
	}
}

func dump(rs []Result) string {
	b, _ := json.MarshalIndent(rs, "", "  ")
	return string(b)
}

func TestFailedCallsNeverYieldResults(t *testing.T) {
	e := NewEngine(testAccounts)
	for _, name := range eventFiles(t) {
		rec := loadEvent(t, name)
		rec.ErrorCode, rec.ErrorMessage = "AccessDenied", "Access Denied"
		if got, errs := e.Evaluate(rec); len(got) > 0 || len(errs) > 0 {
			t.Errorf("%s with errorCode: got %d results, errors %v", name, len(got), errs)
		}
	}
}

func TestShareClassification(t *testing.T) {
	rec := func(values ...string) *cloudtrail.Record {
		params, _ := json.Marshal(map[string]any{"dBSnapshotIdentifier": "db-snap", "attributeName": "restore", "valuesToAdd": values})
		return &cloudtrail.Record{
			EventID: "e-1", EventSource: "rds.amazonaws.com", EventName: "ModifyDBSnapshotAttribute",
			AWSRegion: "us-east-1", RecipientAccountID: "111122223333", RequestParameters: params,
		}
	}
	tests := []struct {
		name   string
		accts  Accounts
		values []string
		rules  []string
	}{
		{name: "own account is known without asking", accts: fakeAccounts{}, values: []string{"111122223333"}},
		{name: "trusted vendor is not a finding", accts: testAccounts, values: []string{"555566667777"}},
		{name: "no classifier: foreign is unknown", accts: nil, values: []string{"999999999999"}, rules: []string{RuleSnapshotSharedExternal}},
		{name: "empty class counts as unknown", accts: emptyClass{}, values: []string{"999999999999"}, rules: []string{RuleSnapshotSharedExternal}},
		{name: "all and an unknown account", accts: testAccounts, values: []string{"ALL", "999999999999"}, rules: []string{RuleSnapshotPublic, RuleSnapshotSharedExternal}},
		{name: "all only", accts: testAccounts, values: []string{"all"}, rules: []string{RuleSnapshotPublic}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := NewEngine(tt.accts).Evaluate(rec(tt.values...))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var rules []string
			for _, r := range got {
				if r.Kind != Exposure {
					t.Errorf("kind = %s", r.Kind)
				}
				rules = append(rules, r.Rule)
			}
			if !slices.Equal(rules, tt.rules) {
				t.Errorf("rules = %v, want %v", rules, tt.rules)
			}
		})
	}
}

type emptyClass struct{}

func (emptyClass) Classify(string) finding.TargetClass { return "" }

func TestWrongServiceIsIgnored(t *testing.T) {
	// Event names such as PutResourcePolicy and CreateKey exist in several
	// services; only the intended service's event may match.
	e := NewEngine(testAccounts)
	for _, name := range []string{"kms-createkey-public.json", "s3-putbucketpolicy-public-contractor.json", "rds-modifydbsnapshotattribute-story-two.json", "lambda-addpermission-public.json", "cloudtrail-stoplogging.json"} {
		rec := loadEvent(t, name)
		rec.EventSource = "payment-cryptography.amazonaws.com"
		if got, _ := e.Evaluate(rec); len(got) > 0 {
			t.Errorf("%s from another service: got %s", name, dump(got))
		}
	}
}

func TestRules(t *testing.T) {
	rules := NewEngine(nil).Rules()
	wantSeverity := map[string]finding.Severity{
		RuleS3BucketPublic:          finding.SeverityHigh,
		RulePublicAccessBlockRemove: finding.SeverityMedium,
		RuleResourcePolicyPublic:    finding.SeverityHigh,
		RuleSnapshotSharedExternal:  finding.SeverityCritical,
		RuleSnapshotPublic:          finding.SeverityCritical,
		RuleResourceSharedExternal:  finding.SeverityHigh,
		RuleLoggingDisabled:         finding.SeverityHigh,
	}
	if len(rules) != len(wantSeverity) {
		t.Fatalf("got %d rules, want %d", len(rules), len(wantSeverity))
	}
	exposed := map[string]bool{}
	e := NewEngine(testAccounts)
	for _, name := range eventFiles(t) {
		got, _ := e.Evaluate(loadEvent(t, name))
		for _, r := range got {
			if r.Kind == Exposure {
				exposed[r.Rule] = true
			}
		}
	}
	for _, r := range rules {
		if sev, ok := wantSeverity[r.ID]; !ok || sev != r.Severity {
			t.Errorf("rule %s severity %s, want %s", r.ID, r.Severity, sev)
		}
		if r.Title == "" || r.Description == "" || len(r.Events) == 0 {
			t.Errorf("rule %s is not fully described: %+v", r.ID, r)
		}
		if !exposed[r.ID] {
			t.Errorf("no fixture makes rule %s raise an exposure", r.ID)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Exposure: "exposure", Remediation: "remediation", 0: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func FuzzEngine(f *testing.F) {
	for _, name := range eventFiles(f) {
		b, err := os.ReadFile(filepath.Join("testdata", "events", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e := NewEngine(testAccounts)
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec cloudtrail.Record
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		got, _ := e.Evaluate(&rec)
		for _, r := range got {
			if r.Kind != Exposure && r.Kind != Remediation {
				t.Fatalf("result without a kind: %+v", r)
			}
			if r.Rule == "" || r.Resource.ID == "" || len(r.Vectors) == 0 {
				t.Fatalf("incomplete result: %+v", r)
			}
			if rec.Failed() {
				t.Fatalf("failed call yielded %+v", r)
			}
		}
	})
}

func BenchmarkEngine(b *testing.B) {
	// Most of the feed is reads and routine writes no rule looks at; a few
	// events are the ones rules exist for.
	var mix []*cloudtrail.Record
	for _, name := range []string{"sts-assumerole.json", "ec2-describeinstances.json", "s3-getbucketversioning.json", "sqs-setqueueattributes-visibility.json"} {
		rec := loadEvent(b, name)
		for range 20 {
			mix = append(mix, rec)
		}
	}
	for _, name := range []string{"s3-putbucketpolicy-public-contractor.json", "rds-modifydbsnapshotattribute-story-two.json", "cloudtrail-stoplogging.json", "ec2-modifysnapshotattribute-shared.json"} {
		mix = append(mix, loadEvent(b, name))
	}
	e := NewEngine(testAccounts)

	b.Run("mix", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e.Evaluate(mix[i%len(mix)])
			i++
		}
	})
	b.Run("irrelevant", func(b *testing.B) {
		rec := loadEvent(b, "ec2-describeinstances.json")
		b.ReportAllocs()
		for b.Loop() {
			e.Evaluate(rec)
		}
	})
	b.Run("bucket-policy", func(b *testing.B) {
		rec := loadEvent(b, "s3-putbucketpolicy-public-contractor.json")
		b.ReportAllocs()
		for b.Loop() {
			e.Evaluate(rec)
		}
	})
}
