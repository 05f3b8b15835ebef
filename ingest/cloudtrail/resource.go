package cloudtrail

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

// resourceParams holds only the request fields that name a primary
// resource, so decoding skips everything else in requestParameters.
type resourceParams struct {
	BucketName                  string `json:"bucketName"`
	DBSnapshotIdentifier        string `json:"dBSnapshotIdentifier"`
	DBClusterSnapshotIdentifier string `json:"dBClusterSnapshotIdentifier"`
	SnapshotID                  string `json:"snapshotId"`
	ImageID                     string `json:"imageId"`
	QueueURL                    string `json:"queueUrl"`
	QueueName                   string `json:"queueName"`
	TopicARN                    string `json:"topicArn"`
	KeyID                       string `json:"keyId"`
	SecretID                    string `json:"secretId"`
	RepositoryName              string `json:"repositoryName"`
	FunctionName                string `json:"functionName"`
	Name                        string `json:"name"`
	TrailName                   string `json:"trailName"`
	UserName                    string `json:"userName"`
	RoleName                    string `json:"roleName"`
}

// ResourceOf returns a best-effort primary resource of any event, for
// history: its CloudFormation type, short ID and ARN. It reads the service's
// identifying request field and falls back to the first entry of the
// record's resources list; all three are empty when nothing names one.
//
// It runs on every event, so it reads only the request fields of the
// services it knows, keyed on eventSource (a field such as "name" means
// different things elsewhere), with a scan of requestParameters' top level
// rather than a decode.
func ResourceOf(r *Record) (typ, id, arn string) {
	var p resourceParams
	if keys, ok := paramKeys(r.EventSource); ok && len(r.RequestParameters) > 0 && r.RequestParameters[0] == '{' && mayName(keys, r.RequestParameters) {
		var read bool
		if p, read = readParams(r.RequestParameters, keys); !read {
			p = decodeResourceParams(r.RequestParameters)
		}
	}
	region, acct, part := r.AWSRegion, r.Account(), awsarn.PartitionOf(r.AWSRegion)

	switch r.EventSource {
	case "s3.amazonaws.com":
		if p.BucketName != "" {
			return awsarn.TypeS3Bucket, p.BucketName, awsarn.S3Bucket(part, p.BucketName).String()
		}
	case "rds.amazonaws.com":
		if p.DBSnapshotIdentifier != "" {
			return rdsARN(awsarn.TypeRDSSnapshot, awsarn.RDSSnapshot, p.DBSnapshotIdentifier, part, region, acct)
		}
		if p.DBClusterSnapshotIdentifier != "" {
			return rdsARN(awsarn.TypeRDSClusterSnapshot, awsarn.RDSClusterSnapshot, p.DBClusterSnapshotIdentifier, part, region, acct)
		}
	case "ec2.amazonaws.com":
		// EC2 snapshot and image ARNs carry no account, as AWS writes them
		// (arn:aws:ec2:region::snapshot/snap-...).
		if p.SnapshotID != "" {
			return awsarn.TypeEC2Snapshot, p.SnapshotID, awsarn.EC2Snapshot(part, region, p.SnapshotID).String()
		}
		if p.ImageID != "" {
			return awsarn.TypeEC2Image, p.ImageID, awsarn.EC2Image(part, region, p.ImageID).String()
		}
	case "sqs.amazonaws.com":
		if p.QueueURL != "" {
			if name, qacct := queueFromURL(p.QueueURL); name != "" {
				if qacct == "" {
					qacct = acct
				}
				return awsarn.TypeSQSQueue, name, awsarn.SQSQueue(part, region, qacct, name).String()
			}
		}
		if p.QueueName != "" {
			// CreateQueue names the new queue; its URL is in the response.
			return awsarn.TypeSQSQueue, p.QueueName, awsarn.SQSQueue(part, region, acct, p.QueueName).String()
		}
	case "sns.amazonaws.com":
		if p.TopicARN != "" {
			return awsarn.TypeSNSTopic, lastPart(p.TopicARN, ':'), p.TopicARN
		}
		if r.EventName == "CreateTopic" {
			// A new topic's ARN exists only in the response.
			var resp struct {
				TopicARN string `json:"topicArn"`
			}
			if json.Unmarshal(r.ResponseElements, &resp) == nil && resp.TopicARN != "" {
				return awsarn.TypeSNSTopic, lastPart(resp.TopicARN, ':'), resp.TopicARN
			}
		}
	case "kms.amazonaws.com":
		if p.KeyID != "" {
			if strings.HasPrefix(p.KeyID, "arn:") {
				return awsarn.TypeKMSKey, lastPart(p.KeyID, '/'), p.KeyID
			}
			if strings.HasPrefix(p.KeyID, "alias/") {
				return awsarn.TypeKMSKey, p.KeyID, awsarn.ARN{Partition: part, Service: "kms", Region: region, Account: acct, Resource: p.KeyID}.String()
			}
			return awsarn.TypeKMSKey, p.KeyID, awsarn.KMSKey(part, region, acct, p.KeyID).String()
		}
		if r.EventName == "CreateKey" {
			// A new key's ID exists only in the response.
			var resp struct {
				KeyMetadata struct {
					KeyID string `json:"keyId"`
					ARN   string `json:"arn"`
				} `json:"keyMetadata"`
			}
			if json.Unmarshal(r.ResponseElements, &resp) == nil && resp.KeyMetadata.ARN != "" {
				return awsarn.TypeKMSKey, lastPart(resp.KeyMetadata.ARN, '/'), resp.KeyMetadata.ARN
			}
		}
	case "secretsmanager.amazonaws.com":
		if p.SecretID != "" {
			if strings.HasPrefix(p.SecretID, "arn:") {
				return awsarn.TypeSecret, secretName(p.SecretID), p.SecretID
			}
			return awsarn.TypeSecret, p.SecretID, awsarn.ARN{Partition: part, Service: "secretsmanager", Region: region, Account: acct, Resource: "secret:" + p.SecretID}.String()
		}
	case "ecr.amazonaws.com":
		if p.RepositoryName != "" {
			return awsarn.TypeECRRepository, p.RepositoryName, awsarn.ARN{Partition: part, Service: "ecr", Region: region, Account: acct, Resource: "repository/" + p.RepositoryName}.String()
		}
	case "lambda.amazonaws.com":
		if p.FunctionName != "" {
			return lambdaARN(p.FunctionName, part, region, acct)
		}
	case "cloudtrail.amazonaws.com":
		name := p.Name
		if name == "" {
			name = p.TrailName
		}
		if name != "" {
			if strings.HasPrefix(name, "arn:") {
				return awsarn.TypeCloudTrailTrail, lastPart(name, '/'), name
			}
			return awsarn.TypeCloudTrailTrail, name, awsarn.ARN{Partition: part, Service: "cloudtrail", Region: region, Account: acct, Resource: "trail/" + name}.String()
		}
	case "iam.amazonaws.com":
		if p.RoleName != "" {
			return awsarn.TypeIAMRole, p.RoleName, awsarn.IAMRole(part, acct, "", p.RoleName).String()
		}
		if p.UserName != "" {
			return awsarn.TypeIAMUser, p.UserName, awsarn.IAMUser(part, acct, "", p.UserName).String()
		}
	}

	for _, res := range r.Resources {
		if res.ARN != "" {
			return res.Type, idFromARN(res.ARN), res.ARN
		}
	}
	return "", "", ""
}

// readParams reads the request fields named by keys (lower case) from
// the top level of params, a JSON object, as encoding/json would decode
// them into resourceParams: keys match ignoring ASCII case, the last of
// repeated keys wins, and a value that is not a string leaves its field
// alone. It reports false, having read nothing for sure, on whatever needs
// encoding/json's own rules (an escape or a non-ASCII byte in a key or in
// a value it reads) or is not valid JSON.
//
// It replaces a full decode on every event, which profiles showed to be
// most of ResourceOf's cost.
func readParams(params []byte, keys []string) (resourceParams, bool) {
	var p resourceParams
	it := jsonscan.NewObject(params, 0, 1)
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		if !plain {
			return resourceParams{}, false
		}
		f := p.field(key, keys)
		if f == nil || v >= len(params) || params[v] != '"' {
			// null leaves the field alone, and encoding/json skips a
			// value of another type.
			it.SkipValue(v)
			continue
		}
		end, plainValue := jsonscan.String(params, v)
		if end < 0 || !plainValue {
			return resourceParams{}, false
		}
		*f = string(params[v+1 : end-1])
		it.Advance(end)
	}
	if it.Failed() || jsonscan.Space(params, it.End()) != len(params) {
		return resourceParams{}, false
	}
	return p, true
}

// field is the field of p whose key is one of keys, ignoring ASCII case;
// nil for any other key.
func (p *resourceParams) field(key []byte, keys []string) *string {
	for _, k := range keys {
		if len(k) == len(key) && hasPrefixFoldASCII(key, k) {
			switch k {
			case "bucketname":
				return &p.BucketName
			case "dbsnapshotidentifier":
				return &p.DBSnapshotIdentifier
			case "dbclustersnapshotidentifier":
				return &p.DBClusterSnapshotIdentifier
			case "snapshotid":
				return &p.SnapshotID
			case "imageid":
				return &p.ImageID
			case "queueurl":
				return &p.QueueURL
			case "queuename":
				return &p.QueueName
			case "topicarn":
				return &p.TopicARN
			case "keyid":
				return &p.KeyID
			case "secretid":
				return &p.SecretID
			case "repositoryname":
				return &p.RepositoryName
			case "functionname":
				return &p.FunctionName
			case "name":
				return &p.Name
			case "trailname":
				return &p.TrailName
			case "username":
				return &p.UserName
			case "rolename":
				return &p.RoleName
			}
		}
	}
	return nil
}

// decodeResourceParams is apart from ResourceOf so that only events that
// are decoded pay for the heap copy the decoder needs.
func decodeResourceParams(raw []byte) resourceParams {
	var p resourceParams
	// A field of an unexpected type is skipped by Unmarshal while the
	// others still decode, which is what a best-effort reader wants.
	_ = json.Unmarshal(raw, &p)
	return p
}

// paramKeys lists, per event source, the request fields ResourceOf reads
// for it, in lower case. A switch rather than a map: it runs on every
// event, and hashing the source showed in profiles.
func paramKeys(source string) ([]string, bool) {
	var keys []string
	switch source {
	case "s3.amazonaws.com":
		keys = keysS3
	case "rds.amazonaws.com":
		keys = keysRDS
	case "ec2.amazonaws.com":
		keys = keysEC2
	case "sqs.amazonaws.com":
		keys = keysSQS
	case "sns.amazonaws.com":
		keys = keysSNS
	case "kms.amazonaws.com":
		keys = keysKMS
	case "secretsmanager.amazonaws.com":
		keys = keysSecrets
	case "ecr.amazonaws.com":
		keys = keysECR
	case "lambda.amazonaws.com":
		keys = keysLambda
	case "cloudtrail.amazonaws.com":
		keys = keysCloudTrail
	case "iam.amazonaws.com":
		keys = keysIAM
	}
	return keys, keys != nil
}

var (
	keysS3         = []string{"bucketname"}
	keysRDS        = []string{"dbsnapshotidentifier", "dbclustersnapshotidentifier"}
	keysEC2        = []string{"snapshotid", "imageid"}
	keysSQS        = []string{"queueurl", "queuename"}
	keysSNS        = []string{"topicarn"}
	keysKMS        = []string{"keyid"}
	keysSecrets    = []string{"secretid"}
	keysECR        = []string{"repositoryname"}
	keysLambda     = []string{"functionname"}
	keysCloudTrail = []string{"name", "trailname"}
	keysIAM        = []string{"rolename", "username"}
)

// mayName reports whether decoding params can yield one of the fields
// keys. Most events are reads whose parameters name no primary resource,
// so this cheap test runs before any reading. It must never say no when decoding would find a field:
// encoding/json matches keys after unescaping and with Unicode case
// folding, so any backslash or non-ASCII byte means yes, and otherwise keys
// are matched ignoring ASCII case.
func mayName(keys []string, params []byte) bool {
	// Without escapes a key is its quoted bytes, so only the text after
	// each quote needs comparing.
	for i := 0; ; i++ {
		if i = jsonscan.NextSpecial(params, i); i == len(params) {
			return false
		}
		switch c := params[i]; {
		case c == '\\' || c >= 0x80:
			return true
		case c == '"':
			for _, k := range keys {
				if hasPrefixFoldASCII(params[i+1:], k) && i+1+len(k) < len(params) && params[i+1+len(k)] == '"' {
					return true
				}
			}
		}
	}
}

// hasPrefixFoldASCII reports whether s starts with lower, an ASCII
// lower-case string of letters, ignoring the case of ASCII letters.
func hasPrefixFoldASCII(s []byte, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for j := 0; j < len(lower); j++ {
		if s[j]|0x20 != lower[j] {
			return false
		}
	}
	return true
}

func rdsARN(typ string, format func(partition, region, account, id string) awsarn.ARN, ident, part, region, acct string) (string, string, string) {
	// Shared snapshots are addressed by their full ARN.
	if strings.HasPrefix(ident, "arn:") {
		return typ, lastPart(ident, ':'), ident
	}
	return typ, ident, format(part, region, acct, ident).String()
}

func lambdaARN(fn, part, region, acct string) (string, string, string) {
	if strings.HasPrefix(fn, "arn:") {
		// arn:aws:lambda:region:acct:function:name[:qualifier]
		parts := strings.Split(fn, ":")
		if len(parts) >= 7 {
			return awsarn.TypeLambdaFunction, parts[6], fn
		}
		return awsarn.TypeLambdaFunction, lastPart(fn, ':'), fn
	}
	// A partial ARN: "123456789012:function:name".
	if parts := strings.Split(fn, ":"); len(parts) >= 3 && parts[1] == "function" {
		return awsarn.TypeLambdaFunction, parts[2], awsarn.ARN{Partition: part, Service: "lambda", Region: region, Account: parts[0], Resource: "function:" + parts[2]}.String()
	}
	return awsarn.TypeLambdaFunction, fn, awsarn.ARN{Partition: part, Service: "lambda", Region: region, Account: acct, Resource: "function:" + fn}.String()
}

// queueFromURL splits https://sqs.region.amazonaws.com/123456789012/name.
func queueFromURL(raw string) (name, acct string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) == 0 || segs[len(segs)-1] == "" {
		return "", ""
	}
	name = segs[len(segs)-1]
	if len(segs) >= 2 {
		acct = segs[len(segs)-2]
	}
	return name, acct
}

// secretName strips the six-character suffix Secrets Manager appends to a
// secret's ARN: ...:secret:prod/db-AbCdEf → prod/db.
func secretName(arn string) string {
	name := arn
	if i := strings.Index(arn, ":secret:"); i >= 0 {
		name = arn[i+len(":secret:"):]
	}
	if i := strings.LastIndexByte(name, '-'); i >= 0 && len(name)-i == 7 {
		return name[:i]
	}
	return name
}

func lastPart(s string, sep byte) string {
	if i := strings.LastIndexByte(s, sep); i >= 0 && i+1 < len(s) {
		return s[i+1:]
	}
	return s
}

// idFromARN returns the resource part of an ARN after its last '/' or ':'.
func idFromARN(arn string) string {
	if i := strings.LastIndexAny(arn, "/:"); i >= 0 && i+1 < len(arn) {
		return arn[i+1:]
	}
	return arn
}
