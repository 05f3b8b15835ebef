package sigma_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// ruleYAML wraps a detection block into a whole rule in the SigmaHQ shape.
func ruleYAML(detection string) string {
	return `title: Test rule
id: 0d6c7c52-6a4f-4d3e-9c59-1f2e3d4c5b6a
status: test
description: A rule written for the engine's tests.
logsource:
    product: aws
    service: cloudtrail
detection:
` + detection + `level: medium
`
}

func mustRule(t *testing.T, detection string) *sigma.Rule {
	t.Helper()
	rules, problems := sigma.Parse("test.yml", []byte(ruleYAML(detection)))
	if len(problems) > 0 || len(rules) != 1 {
		t.Fatalf("parse: %d rules, problems %v", len(rules), problems)
	}
	return rules[0]
}

// mustRecord decodes a record the way ingestion does, Raw included.
func mustRecord(t testing.TB, raw string) *cloudtrail.Record {
	t.Helper()
	b := ingest.Parse("test", []byte(raw))
	if len(b.Problems) > 0 || len(b.Records) != 1 {
		t.Fatalf("ingest: %d records, problems %+v", len(b.Records), b.Problems)
	}
	return &b.Records[0]
}

// ingressRecord is AuthorizeSecurityGroupIngress as CloudTrail records it,
// with a rule open to the world on port 22 and one to a private range.
const ingressRecord = `{
  "eventVersion": "1.09",
  "userIdentity": {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEDEPLOY0001:alice",
    "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/alice",
    "accountId": "111122223333",
    "accessKeyId": "ASIAEXAMPLEKEY000001",
    "sessionContext": {
      "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEDEPLOY0001", "arn": "arn:aws:iam::111122223333:role/Deploy", "accountId": "111122223333", "userName": "Deploy"},
      "attributes": {"creationDate": "2026-11-27T09:12:01Z", "mfaAuthenticated": "false"}
    }
  },
  "eventTime": "2026-11-27T09:14:22Z",
  "eventSource": "ec2.amazonaws.com",
  "eventName": "AuthorizeSecurityGroupIngress",
  "awsRegion": "eu-west-1",
  "sourceIPAddress": "203.0.113.17",
  "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023",
  "requestParameters": {
    "groupId": "sg-0123456789abcdef0",
    "ipPermissions": {"items": [
      {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}},
      {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "groups": {}, "ipRanges": {"items": [{"cidrIp": "10.20.0.0/16", "description": "db \"clients\" \u00e9"}]}, "ipv6Ranges": {"items": [{"cidrIpv6": "2001:db8::/32"}]}, "prefixListIds": {}}
    ]},
    "dryRun": false
  },
  "responseElements": {"requestId": "6e1c4f6b-5bd6-4bde-8f1a-0b1c2d3e4f50", "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": "111122223333", "groupId": "sg-0123456789abcdef0", "securityGroupRuleId": "sgr-0a1b2c3d4e5f60718", "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}},
  "requestID": "6e1c4f6b-5bd6-4bde-8f1a-0b1c2d3e4f50",
  "eventID": "8c6b1a0e-1f4e-4a44-9d4e-2b7f3c9d1e01",
  "readOnly": false,
  "eventType": "AwsApiCall",
  "managementEvent": true,
  "recipientAccountId": "111122223333",
  "eventCategory": "Management",
  "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "ec2.eu-west-1.amazonaws.com"}
}`

// keyRecord is CreateAccessKey by one user for another, with an error-free
// response and a user name written with a JSON escape.
const keyRecord = `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEBOB000001","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEBOB000001","userName":"bob"},"eventTime":"2026-11-27T10:02:11Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.24","userAgent":"","requestParameters":{"userName":"al\u0069ce"},"responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLEALICE0002","status":"Active","userName":"alice","createDate":"Nov 27, 2026 10:02:11 AM"}},"additionalEventData":{"MFAUsed":"No","count":3},"errorMessage":null,"eventID":"0a3f7c5e-55b5-4c1d-9e6f-7a8b9c0d1e2f","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`

func TestMatch(t *testing.T) {
	tests := []struct {
		name      string
		detection string
		record    string
		want      bool
	}{
		{"equality ignores case", "    sel:\n        eventName: authorizesecuritygroupingress\n    condition: sel\n", ingressRecord, true},
		{"equality is whole", "    sel:\n        eventName: AuthorizeSecurityGroup\n    condition: sel\n", ingressRecord, false},
		{"list of values is any", "    sel:\n        eventName:\n            - RevokeSecurityGroupIngress\n            - AuthorizeSecurityGroupIngress\n    condition: sel\n", ingressRecord, true},
		{"all fields of a map", "    sel:\n        eventSource: ec2.amazonaws.com\n        awsRegion: us-east-1\n    condition: sel\n", ingressRecord, false},
		{"list of maps is any map", "    sel:\n        - awsRegion: us-east-1\n        - awsRegion: eu-west-1\n          eventSource: ec2.amazonaws.com\n    condition: sel\n", ingressRecord, true},
		{"nested path", "    sel:\n        requestParameters.groupId: sg-0123456789abcdef0\n    condition: sel\n", ingressRecord, true},
		{"path across arrays of objects", "    sel:\n        requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n    condition: sel\n", ingressRecord, true},
		{"path across arrays, second element", "    sel:\n        requestParameters.ipPermissions.items.ipv6Ranges.items.cidrIpv6: 2001:db8::/32\n    condition: sel\n", ingressRecord, true},
		{"path across arrays, no element", "    sel:\n        requestParameters.ipPermissions.items.ipv6Ranges.items.cidrIpv6: ::/0\n    condition: sel\n", ingressRecord, false},
		{"session attribute as written", "    sel:\n        userIdentity.sessionContext.attributes.mfaAuthenticated: 'false'\n    condition: sel\n", ingressRecord, true},
		{"session issuer", "    sel:\n        userIdentity.sessionContext.sessionIssuer.userName: deploy\n    condition: sel\n", ingressRecord, true},
		{"unknown top-level field", "    sel:\n        tlsDetails.tlsVersion: TLSv1.3\n    condition: sel\n", ingressRecord, true},
		{"absent path", "    sel:\n        requestParameters.nothing.here: x\n    condition: sel\n", ingressRecord, false},
		{"contains", "    sel:\n        userAgent|contains: PYTHON/3.11\n    condition: sel\n", ingressRecord, true},
		{"startswith", "    sel:\n        userIdentity.arn|startswith: 'arn:aws:sts::111122223333:assumed-role/'\n    condition: sel\n", ingressRecord, true},
		{"endswith", "    sel:\n        userIdentity.arn|endswith: '/Deploy/alice'\n    condition: sel\n", ingressRecord, true},
		{"endswith misses", "    sel:\n        userIdentity.arn|endswith: '/Deploy'\n    condition: sel\n", ingressRecord, false},
		{"contains any", "    sel:\n        userAgent|contains:\n            - Windows\n            - LINUX/6\n    condition: sel\n", ingressRecord, true},
		{"contains any misses", "    sel:\n        userAgent|contains:\n            - Windows\n            - Darwin\n    condition: sel\n", ingressRecord, false},
		{"contains any in a long value", "    sel:\n        requestParameters.ipPermissions.items.ipRanges.items.description|contains:\n            - nothing\n            - CLIENTS\n    condition: sel\n", ingressRecord, true},
		{"contains all", "    sel:\n        userAgent|contains|all:\n            - aws-cli\n            - Linux\n    condition: sel\n", ingressRecord, true},
		{"contains all misses one", "    sel:\n        userAgent|contains|all:\n            - aws-cli\n            - Windows\n    condition: sel\n", ingressRecord, false},
		{"wildcards", "    sel:\n        userIdentity.arn: 'arn:aws:sts::*:assumed-role/De?loy/*'\n    condition: sel\n", ingressRecord, true},
		{"wildcard question mark is one character", "    sel:\n        userIdentity.arn: 'arn:aws:sts::*:assumed-role/De?ploy/*'\n    condition: sel\n", ingressRecord, false},
		{"escaped star is literal", "    sel:\n        eventName: 'Authorize\\*'\n    condition: sel\n", ingressRecord, false},
		{"cased", "    sel:\n        eventName|cased: authorizesecuritygroupingress\n    condition: sel\n", ingressRecord, false},
		{"cased contains", "    sel:\n        userAgent|contains|cased: Python\n    condition: sel\n", ingressRecord, true},
		{"re", "    sel:\n        userIdentity.arn|re: ':assumed-role/[A-Z][a-z]+/'\n    condition: sel\n", ingressRecord, true},
		{"re is cased", "    sel:\n        userIdentity.arn|re: ':ASSUMED-role/'\n    condition: sel\n", ingressRecord, false},
		{"re i", "    sel:\n        userIdentity.arn|re|i: ':ASSUMED-role/'\n    condition: sel\n", ingressRecord, true},
		{"cidr v4", "    sel:\n        sourceIPAddress|cidr: 203.0.113.0/24\n    condition: sel\n", ingressRecord, true},
		{"cidr v4 outside", "    sel:\n        sourceIPAddress|cidr: 198.51.100.0/24\n    condition: sel\n", ingressRecord, false},
		{"cidr of a network field", "    sel:\n        requestParameters.ipPermissions.items.ipRanges.items.cidrIp|cidr: 10.0.0.0/8\n    condition: sel\n", ingressRecord, true},
		{"cidr v6", "    sel:\n        requestParameters.ipPermissions.items.ipv6Ranges.items.cidrIpv6|cidr: '2001:db8::/16'\n    condition: sel\n", ingressRecord, true},
		{"number equals JSON number", "    sel:\n        requestParameters.ipPermissions.items.fromPort: 22\n    condition: sel\n", ingressRecord, true},
		{"number as string", "    sel:\n        requestParameters.ipPermissions.items.fromPort: '5432'\n    condition: sel\n", ingressRecord, true},
		{"number misses", "    sel:\n        requestParameters.ipPermissions.items.fromPort: 443\n    condition: sel\n", ingressRecord, false},
		{"number in string field", "    sel:\n        additionalEventData.count: 3\n    condition: sel\n", keyRecord, true},
		{"gt", "    sel:\n        requestParameters.ipPermissions.items.toPort|gt: 1024\n    condition: sel\n", ingressRecord, true},
		{"lte", "    sel:\n        requestParameters.ipPermissions.items.toPort|lte: 21\n    condition: sel\n", ingressRecord, false},
		{"boolean equals JSON boolean", "    sel:\n        requestParameters.dryRun: false\n    condition: sel\n", ingressRecord, true},
		{"string false equals JSON false", "    sel:\n        requestParameters.dryRun: 'false'\n    condition: sel\n", ingressRecord, true},
		{"boolean equals string", "    sel:\n        userIdentity.sessionContext.attributes.mfaAuthenticated: false\n    condition: sel\n", ingressRecord, true},
		{"boolean misses", "    sel:\n        responseElements._return: false\n    condition: sel\n", ingressRecord, false},
		{"null matches absent", "    sel:\n        errorCode: null\n    condition: sel\n", ingressRecord, true},
		{"null matches JSON null", "    sel:\n        errorMessage: null\n    condition: sel\n", keyRecord, true},
		{"null misses present", "    sel:\n        eventType: null\n    condition: sel\n", ingressRecord, false},
		{"null in a list", "    sel:\n        errorCode:\n            - Success\n            - null\n    condition: sel\n", ingressRecord, true},
		{"exists", "    sel:\n        requestParameters.groupId|exists: true\n    condition: sel\n", ingressRecord, true},
		{"exists false", "    sel:\n        errorCode|exists: false\n    condition: sel\n", ingressRecord, true},
		{"exists false on present", "    sel:\n        userAgent|exists: false\n    condition: sel\n", ingressRecord, false},
		{"empty string is no value", "    sel:\n        userAgent|exists: true\n    condition: sel\n", keyRecord, false},
		{"empty string value", "    sel:\n        userAgent: ''\n    condition: sel\n", keyRecord, true},
		{"empty string value misses absent", "    sel:\n        errorCode: ''\n    condition: sel\n", keyRecord, false},
		{"star alone needs a value", "    sel:\n        errorCode|contains: '*'\n    condition: sel\n", keyRecord, false},
		{"escaped JSON string", "    sel:\n        requestParameters.userName: alice\n    condition: sel\n", keyRecord, true},
		{"escaped JSON string with quotes", "    sel:\n        requestParameters.ipPermissions.items.ipRanges.items.description: 'db \"clients\" é'\n    condition: sel\n", ingressRecord, true},
		{"object field as text", "    sel:\n        requestParameters|contains: '\"fromPort\": 5432'\n    condition: sel\n", ingressRecord, true},
		{"fieldref differs", "    filter:\n        requestParameters.userName|fieldref: userIdentity.userName\n    condition: not filter\n", keyRecord, true},
		{"fieldref equal", "    filter:\n        responseElements.accessKey.userName|fieldref: requestParameters.userName\n    condition: filter\n", keyRecord, true},
		{"keywords", "    keywords:\n        - 'Nothing here'\n        - 'TLS_AES_128'\n    condition: keywords\n", ingressRecord, true},
		{"keywords miss", "    keywords:\n        - 'sqlmap'\n    condition: keywords\n", ingressRecord, false},
		{"and not", "    sel:\n        eventSource: ec2.amazonaws.com\n    filter:\n        userIdentity.type: AssumedRole\n    condition: sel and not filter\n", ingressRecord, false},
		{"or", "    a:\n        awsRegion: us-east-1\n    b:\n        awsRegion: eu-west-1\n    condition: a or b\n", ingressRecord, true},
		{"not binds before and", "    a:\n        awsRegion: us-east-1\n    b:\n        awsRegion: eu-west-1\n    condition: not a and b\n", ingressRecord, true},
		{"and binds before or", "    a:\n        awsRegion: us-east-1\n    b:\n        awsRegion: eu-west-1\n    c:\n        eventSource: s3.amazonaws.com\n    condition: b or a and c\n", ingressRecord, true},
		{"parentheses", "    a:\n        awsRegion: us-east-1\n    b:\n        awsRegion: eu-west-1\n    c:\n        eventSource: s3.amazonaws.com\n    condition: (b or a) and c\n", ingressRecord, false},
		{"1 of pattern", "    selection_a:\n        awsRegion: us-east-1\n    selection_b:\n        awsRegion: eu-west-1\n    condition: 1 of selection_*\n", ingressRecord, true},
		{"all of pattern", "    selection_a:\n        awsRegion: eu-west-1\n    selection_b:\n        eventSource: s3.amazonaws.com\n    condition: all of selection_*\n", ingressRecord, false},
		{"1 of them", "    a:\n        awsRegion: us-east-1\n    b:\n        eventSource: ec2.amazonaws.com\n    condition: 1 of them\n", ingressRecord, true},
		{"all of them leaves out underscore", "    a:\n        awsRegion: eu-west-1\n    _helper:\n        eventSource: s3.amazonaws.com\n    condition: all of them\n", ingressRecord, true},
		{"not 1 of", "    sel:\n        eventSource: ec2.amazonaws.com\n    filter_a:\n        awsRegion: us-east-1\n    filter_b:\n        userAgent|contains: terraform\n    condition: sel and not 1 of filter_*\n", ingressRecord, true},
		{"list of conditions", "    a:\n        awsRegion: us-east-1\n    b:\n        awsRegion: eu-west-1\n    condition:\n        - a\n        - b\n", ingressRecord, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRule(t, tc.detection)
			rec := mustRecord(t, tc.record)
			if got := r.Matches(rec); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
			// The index must never change the outcome.
			set, problems := sigma.Compile(sigma.Rules{r})
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			if got := len(set.Match(rec, nil)) == 1; got != tc.want {
				t.Errorf("Set.Match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMatchRecordBuiltInCode covers records that did not come through
// ingestion (backfill, tests): they have no raw JSON, so the rule reads the
// record's own encoding.
func TestMatchRecordBuiltInCode(t *testing.T) {
	rec := &cloudtrail.Record{
		EventID: "e1", EventName: "CreateAccessKey", EventSource: "iam.amazonaws.com",
		UserIdentity:      cloudtrail.UserIdentity{Type: "IAMUser", UserName: "bob"},
		RequestParameters: json.RawMessage(`{"userName":"alice"}`),
	}
	r := mustRule(t, "    sel:\n        eventName: CreateAccessKey\n        requestParameters.userName: alice\n        userIdentity.userName|exists: true\n        recipientAccountId: null\n    condition: sel\n")
	if !r.Matches(rec) {
		t.Fatal("rule does not match a record built in code")
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		line      int
		construct string
		message   string
	}{
		{"unknown modifier", ruleYAML("    sel:\n        eventName|sounds_like: x\n    condition: sel\n"), 10, "modifier sounds_like", "unknown modifier"},
		{"encoding modifier", ruleYAML("    sel:\n        requestParameters.userData|base64offset|contains: curl\n    condition: sel\n"), 10, "modifier base64offset", "not supported"},
		{"aggregation", ruleYAML("    sel:\n        eventName: GetSecretValue\n    condition: sel | count(eventID) by userIdentity.arn > 20\n"), 11, "aggregation", "count(eventID)"},
		{"timeframe", ruleYAML("    sel:\n        eventName: GetSecretValue\n    timeframe: 5m\n    condition: sel\n"), 11, "timeframe", "not supported"},
		{"other log source", strings.Replace(ruleYAML("    sel:\n        eventName: x\n    condition: sel\n"), "service: cloudtrail", "service: guardduty", 1), 6, "logsource", `service "guardduty"`},
		{"windows log source", strings.Replace(strings.Replace(ruleYAML("    sel:\n        Image: x\n    condition: sel\n"), "product: aws", "product: windows", 1), "service: cloudtrail", "category: process_creation", 1), 6, "logsource", `category "process_creation"`},
		{"bad yaml", "title: x\nid: y\n detection: [\n", 3, "yaml", ""},
		{"missing id", strings.Replace(ruleYAML("    sel:\n        eventName: x\n    condition: sel\n"), "id: 0d6c7c52-6a4f-4d3e-9c59-1f2e3d4c5b6a\n", "", 1), 1, "id", "missing"},
		{"bad regex", ruleYAML("    sel:\n        userAgent|re: '(?<=curl)/'\n    condition: sel\n"), 10, "modifier re", "RE2"},
		{"bad cidr", ruleYAML("    sel:\n        sourceIPAddress|cidr: 10.0.0.0/33\n    condition: sel\n"), 10, "modifier cidr", "10.0.0.0/33"},
		{"undefined identifier", ruleYAML("    sel:\n        eventName: x\n    condition: sel and filter\n"), 11, "condition", `"filter" is not a search identifier`},
		{"pattern matching nothing", ruleYAML("    sel:\n        eventName: x\n    condition: sel and not 1 of filter_*\n"), 11, "condition", "no search identifier matches"},
		{"counted quantifier", ruleYAML("    sel_a:\n        eventName: x\n    sel_b:\n        eventName: y\n    condition: 2 of sel_*\n"), 13, "condition", `"2" of`},
		{"unclosed parenthesis", ruleYAML("    sel:\n        eventName: x\n    condition: (sel\n"), 11, "condition", "not closed"},
		{"collection", "action: global\n" + ruleYAML("    sel:\n        eventName: x\n    condition: sel\n"), 1, "action", "not supported"},
		{"correlation", ruleYAML("    sel:\n        eventName: x\n    condition: sel\n") + "correlation:\n    type: event_count\n", 13, "correlation", "not supported"},
		{"exists needs a boolean", ruleYAML("    sel:\n        errorCode|exists: maybe\n    condition: sel\n"), 10, "modifier exists", "true or false"},
		{"two transforms", ruleYAML("    sel:\n        userAgent|contains|startswith: x\n    condition: sel\n"), 10, "modifier startswith", "cannot be combined with contains"},
		{"flag without re", ruleYAML("    sel:\n        userAgent|i: x\n    condition: sel\n"), 10, "modifier i", "only applies to re"},
		{"null with contains", ruleYAML("    sel:\n        userAgent|contains: null\n    condition: sel\n"), 10, "modifier contains", "null"},
		{"empty list", ruleYAML("    sel:\n        eventName: []\n    condition: sel\n"), 10, "field eventName", "empty list"},
		{"nested map value", ruleYAML("    sel:\n        requestParameters:\n            userName: x\n    condition: sel\n"), 11, "field requestParameters", "string, number, boolean or null"},
		{"unknown level", strings.Replace(ruleYAML("    sel:\n        eventName: x\n    condition: sel\n"), "level: medium", "level: severe", 1), 12, "level", `"severe"`},
		{"field twice", ruleYAML("    sel:\n        eventName: x\n        eventName: y\n    condition: sel\n"), 11, "detection", "given twice"},
		{"missing condition", ruleYAML("    sel:\n        eventName: x\n"), 9, "condition", "missing"},
		{"keyword with modifiers", ruleYAML("    sel:\n        '|all':\n            - a\n            - b\n    condition: sel\n"), 10, "keyword modifiers", "name the field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, problems := sigma.Parse("rules/x.yml", []byte(tc.yaml))
			if len(rules) != 0 {
				t.Errorf("a rule with a problem was loaded")
			}
			if len(problems) == 0 {
				t.Fatal("no problem reported")
			}
			p := problems[0]
			if p.File != "rules/x.yml" || p.Line != tc.line || p.Construct != tc.construct || !strings.Contains(p.Message, tc.message) {
				t.Errorf("problem %q, want rules/x.yml:%d: %s: …%s…", p, tc.line, tc.construct, tc.message)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	src := `title: Access key created for another user
id: 6b0a2e4c-7d1f-4f53-8a36-2c9e1d0b7f45
name: test-key-for-another-user
status: stable
description: |
    A user created an access key for someone else.
references:
    - https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html
author: secops-bot
tags:
    - attack.persistence
    - attack.t1098.001
logsource:
    product: AWS
    service: CloudTrail
detection:
    sel:
        eventName: CreateAccessKey
    condition: sel
falsepositives:
    - An administrator issuing a key to a service user
level: critical
---
title: Second rule in the same file
id: 1f2e3d4c-0000-4000-8000-000000000002
logsource:
    product: aws
    service: cloudtrail
detection:
    sel:
        eventName: DeleteTrail
    condition: sel
`
	rules, problems := sigma.Parse("k.yml", []byte(src))
	if len(problems) > 0 || len(rules) != 2 {
		t.Fatalf("%d rules, problems %v", len(rules), problems)
	}
	r := rules[0]
	if r.ID != "6b0a2e4c-7d1f-4f53-8a36-2c9e1d0b7f45" || r.Name != "test-key-for-another-user" || r.Title != "Access key created for another user" ||
		r.Description != "A user created an access key for someone else." || r.Status != "stable" || r.Level != sigma.LevelCritical ||
		len(r.References) != 1 || len(r.FalsePositives) != 1 || len(r.Tags) != 2 || r.File != "k.yml" || r.Line != 1 {
		t.Errorf("rule read as %+v", r)
	}
	if rules[1].Level != sigma.LevelMedium || rules[1].Line != 24 {
		t.Errorf("second rule: level %v line %d, want medium (the default) at line 24", rules[1].Level, rules[1].Line)
	}
}
