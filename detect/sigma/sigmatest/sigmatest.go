// Package sigmatest generates Sigma rules for benchmarks and tests: many
// variants in the shapes a team's CloudTrail rules take, so that the cost of
// a realistic rule set can be measured without shipping anyone's rules.
package sigmatest

import (
	"fmt"
	"strings"
	"testing/fstest"
)

// writeCalls are write APIs of the services CloudTrail rules watch, none of
// which the generated corpus (ingest/corpus) contains.
var writeCalls = []struct{ source, name string }{
	{"iam.amazonaws.com", "CreateUser"}, {"iam.amazonaws.com", "CreateLoginProfile"},
	{"iam.amazonaws.com", "UpdateLoginProfile"}, {"iam.amazonaws.com", "AttachUserPolicy"},
	{"iam.amazonaws.com", "PutUserPolicy"}, {"iam.amazonaws.com", "DeleteSAMLProvider"},
	{"iam.amazonaws.com", "UpdateAssumeRolePolicy"}, {"iam.amazonaws.com", "CreatePolicyVersion"},
	{"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"}, {"ec2.amazonaws.com", "CreateNetworkAclEntry"},
	{"ec2.amazonaws.com", "CreateRoute"}, {"ec2.amazonaws.com", "DeleteFlowLogs"},
	{"ec2.amazonaws.com", "DisableEbsEncryptionByDefault"}, {"ec2.amazonaws.com", "ModifyInstanceAttribute"},
	{"ec2.amazonaws.com", "ImportKeyPair"}, {"ec2.amazonaws.com", "CreateInstanceExportTask"},
	{"s3.amazonaws.com", "PutBucketVersioning"}, {"s3.amazonaws.com", "DeleteBucket"},
	{"s3.amazonaws.com", "PutBucketLifecycle"}, {"s3.amazonaws.com", "PutBucketReplication"},
	{"kms.amazonaws.com", "ScheduleKeyDeletion"}, {"kms.amazonaws.com", "DisableKey"},
	{"kms.amazonaws.com", "ImportKeyMaterial"}, {"kms.amazonaws.com", "CreateCustomKeyStore"},
	{"guardduty.amazonaws.com", "DeleteDetector"}, {"guardduty.amazonaws.com", "UpdateDetector"},
	{"guardduty.amazonaws.com", "CreateIPSet"}, {"config.amazonaws.com", "StopConfigurationRecorder"},
	{"config.amazonaws.com", "DeleteDeliveryChannel"}, {"lambda.amazonaws.com", "CreateFunctionUrlConfig20211031"},
	{"lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2"}, {"rds.amazonaws.com", "RestoreDBInstanceFromDBSnapshot"},
	{"rds.amazonaws.com", "ModifyDBInstance"}, {"sts.amazonaws.com", "GetSessionToken"},
	{"signin.amazonaws.com", "GetSigninToken"}, {"organizations.amazonaws.com", "LeaveOrganization"},
	{"secretsmanager.amazonaws.com", "BatchGetSecretValue"}, {"ssm.amazonaws.com", "SendCommand"},
	{"route53domains.amazonaws.com", "TransferDomainToAnotherAwsAccount"}, {"eks.amazonaws.com", "CreateCluster"},
	{"elasticfilesystem.amazonaws.com", "DeleteMountTarget"}, {"bedrock.amazonaws.com", "DeleteModelInvocationLoggingConfiguration"},
}

// readCalls are calls the generated corpus is made of, so that rules pinned
// to them are really evaluated; their other conditions never hold there.
var readCalls = []struct{ source, name string }{
	{"ec2.amazonaws.com", "DescribeInstances"}, {"ec2.amazonaws.com", "DescribeSecurityGroups"},
	{"s3.amazonaws.com", "ListBuckets"}, {"s3.amazonaws.com", "GetBucketPolicy"},
	{"s3.amazonaws.com", "GetBucketAcl"}, {"iam.amazonaws.com", "GetUser"},
	{"iam.amazonaws.com", "ListRoles"}, {"rds.amazonaws.com", "DescribeDBSnapshots"},
	{"sts.amazonaws.com", "GetCallerIdentity"},
}

var sources = []string{"iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com", "rds.amazonaws.com", "kms.amazonaws.com"}

// Rules returns n rule files, rules/variant-NNN.yml, none of which matches
// anything in the generated corpus. The mix follows the public CloudTrail
// rules, with more of the costly shapes: of every twenty, fourteen pin a
// few sensitive write calls (most public rules), two quantify over several
// identifiers of write calls, two pin a read call the corpus is full of
// with a condition on the caller, request or source address (the public
// collection has half that share), one pins only the event source, and one
// pins nothing and runs on every record (root use, a pattern of the
// caller's ARN, tools named in the user agent). Like the public rules,
// none searches the whole record for keywords: such a rule costs a scan of
// every record (see BenchmarkSigmaKeywords).
func Rules(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := range n {
		fsys[fmt.Sprintf("rules/variant-%03d.yml", i)] = &fstest.MapFile{Data: []byte(Rule(i))}
	}
	return fsys
}

// Rule returns the i-th variant.
func Rule(i int) string {
	var det string
	switch k := i % 20; {
	case k < 14:
		// A service's sensitive writes, as most public rules are.
		a, b := writeCalls[i%len(writeCalls)], writeCalls[(i*7+3)%len(writeCalls)]
		det = fmt.Sprintf(`    selection:
        eventSource: '%s'
        eventName:
            - '%s'
            - '%s'
    filter_main_automation:
        userAgent|contains:
            - 'terraform-provider-aws/%d.'
            - 'cloudformation.amazonaws.com'
    condition: selection and not 1 of filter_main_*
`, a.source, a.name, b.name, i)
	case k < 16:
		a, b := writeCalls[(i*3)%len(writeCalls)], writeCalls[(i*5+1)%len(writeCalls)]
		det = complexRule(a.source, b.source, a.name, b.name)
	case k < 18:
		c := readCalls[i%len(readCalls)]
		extra := []string{
			"        userAgent|contains: 'S3 Browser'\n",
			"        sourceIPAddress|cidr: '100.64.0.0/10'\n",
			"        requestParameters.bucketName|startswith: 'exfil-'\n",
			"        userIdentity.type: 'Root'\n",
			"        userIdentity.sessionContext.attributes.mfaAuthenticated: 'false'\n        userIdentity.type: 'IAMUser'\n        userAgent|re: '(?i)python-requests|curl/'\n",
		}[(i/10)%5]
		det = fmt.Sprintf(`    selection:
        eventSource: '%s'
        eventName: '%s'
%s    condition: selection
`, c.source, c.name, extra)
	case k == 18:
		det = fmt.Sprintf(`    selection:
        eventSource: '%s'
        eventName|startswith:
            - 'Delete'
            - 'Disable'
    selection_status:
        errorCode: null
    condition: selection and selection_status
`, sources[(i/20)%len(sources)])
	default:
		det = []string{`    selection_root:
        userIdentity.type: 'Root'
    filter_service:
        eventType: 'AwsServiceEvent'
    condition: selection_root and not filter_service
`, `    selection:
        userIdentity.arn|re: ':assumed-role/aws:[a-z-]+/i-[0-9a-f]+$'
    filter_main:
        - eventSource: 'ssm.amazonaws.com'
        - sourceIPAddress: 'AWS Internal'
    condition: selection and not 1 of filter_main*
`, `    selection:
        userAgent|contains:
            - 'sqlmap/'
            - 'kali-linux'
            - 'nmap scripting engine'
    condition: selection
`}[(i/20)%3]
	}
	return fmt.Sprintf(`title: Variant %d of a team rule
id: 5e1f0000-0000-4000-8000-%012d
status: test
description: Generated for measurements; it matches nothing in the generated corpus.
references:
    - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference.html
tags:
    - attack.t1562
logsource:
    product: aws
    service: cloudtrail
detection:
%sfalsepositives:
    - None, it is generated
level: %s
`, i, i, det, []string{"low", "medium", "high", "critical"}[i%4])
}

// complexRule is a rule whose condition quantifies over several
// identifiers, like many public rules.
func complexRule(srcA, srcB, nameA, nameB string) string {
	return fmt.Sprintf(`    selection_source:
        eventSource:
            - '%s'
            - '%s'
    selection_action_a:
        eventName: '%s'
    selection_action_b:
        eventName: '%s'
        requestParameters.enable: false
    selection_status_success:
        errorCode: 'Success'
    selection_status_null:
        errorCode: null
    condition: selection_source and (1 of selection_action_*) and 1 of selection_status_*
`, srcA, srcB, nameA, nameB)
}

// Join concatenates rule documents into one multi-document YAML file.
func Join(docs ...string) string { return strings.Join(docs, "---\n") }
