package investigate

import (
	"regexp"
	"strings"
)

// PrincipalARN maps a principal ARN to the identity history keys on: an
// STS assumed-role session ARN becomes its role's IAM ARN (the session
// name is dropped; role paths are not in session ARNs and cannot be
// recovered). Any other ARN is returned as it is.
func PrincipalARN(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "sts" || !strings.HasPrefix(p[5], "assumed-role/") {
		return arn
	}
	rest := strings.TrimPrefix(p[5], "assumed-role/")
	role, _, _ := strings.Cut(rest, "/")
	if role == "" {
		return arn
	}
	return "arn:" + p[1] + ":iam::" + p[4] + ":role/" + role
}

// isPrincipalARN reports whether the ARN names an IAM or STS identity.
func isPrincipalARN(arn string) bool {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 {
		return false
	}
	switch p[2] {
	case "iam":
		return p[5] == "root" || strings.HasPrefix(p[5], "user/") || strings.HasPrefix(p[5], "role/")
	case "sts":
		return strings.HasPrefix(p[5], "assumed-role/") || strings.HasPrefix(p[5], "federated-user/")
	}
	return false
}

// regions are the commercial regions an EC2 snapshot or image ID is looked
// for in: their ARNs carry the region, which the ID alone does not say.
var regions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-north-1", "eu-south-1", "eu-south-2",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
	"ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
	"ap-southeast-7", "ap-south-1", "ap-south-2", "ap-east-1",
	"me-south-1", "me-central-1", "il-central-1", "af-south-1",
}

var (
	ec2IDRe = regexp.MustCompile(`^(snap|ami)-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
	// S3 bucket names: 3 to 63 lowercase letters, digits, dots and hyphens.
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// ResourceCandidates lists the ARNs a resource may be kept under in
// history, most likely first: an ARN as it is; a snapshot or image ID as
// its EC2 ARN in each region; a name that could be a bucket as the
// bucket's ARN, then as it is.
func ResourceCandidates(v string) []string {
	if strings.HasPrefix(v, "arn:") {
		return []string{v}
	}
	if m := ec2IDRe.FindStringSubmatch(v); m != nil {
		kind := "snapshot"
		if m[1] == "ami" {
			kind = "image"
		}
		out := make([]string, 0, len(regions)+1)
		for _, r := range regions {
			out = append(out, "arn:aws:ec2:"+r+"::"+kind+"/"+v)
		}
		return append(out, v)
	}
	if bucketRe.MatchString(v) && !strings.Contains(v, "..") {
		return []string{"arn:aws:s3:::" + v, v}
	}
	return []string{v}
}

// resourceType guesses the CloudFormation type of a resource from its ARN
// or ID, for display.
func resourceType(arn, id string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) == 6 {
		res := p[5]
		switch {
		case p[2] == "s3" && !strings.Contains(res, "/"):
			return "AWS::S3::Bucket"
		case p[2] == "ec2" && strings.HasPrefix(res, "snapshot/"):
			return "AWS::EC2::Snapshot"
		case p[2] == "ec2" && strings.HasPrefix(res, "image/"):
			return "AWS::EC2::Image"
		case p[2] == "rds" && strings.HasPrefix(res, "snapshot:"):
			return "AWS::RDS::DBSnapshot"
		case p[2] == "rds" && strings.HasPrefix(res, "cluster-snapshot:"):
			return "AWS::RDS::DBClusterSnapshot"
		case p[2] == "iam" && strings.HasPrefix(res, "role/"):
			return "AWS::IAM::Role"
		case p[2] == "iam" && strings.HasPrefix(res, "user/"):
			return "AWS::IAM::User"
		case p[2] == "kms" && strings.HasPrefix(res, "key/"):
			return "AWS::KMS::Key"
		case p[2] == "sqs":
			return "AWS::SQS::Queue"
		case p[2] == "sns":
			return "AWS::SNS::Topic"
		case p[2] == "lambda":
			return "AWS::Lambda::Function"
		case p[2] == "secretsmanager":
			return "AWS::SecretsManager::Secret"
		}
		return ""
	}
	switch {
	case strings.HasPrefix(id, "snap-"):
		return "AWS::EC2::Snapshot"
	case strings.HasPrefix(id, "ami-"):
		return "AWS::EC2::Image"
	}
	return ""
}

// accountOf is the account field of an ARN.
func accountOf(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 {
		return ""
	}
	return p[4]
}

// shortName is the last element of an ARN's resource.
func shortName(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 {
		return arn
	}
	res := p[5]
	if i := strings.LastIndexAny(res, "/:"); i >= 0 && i+1 < len(res) {
		return res[i+1:]
	}
	return res
}

// splitAPI splits the store's "source:name" API key.
func splitAPI(k string) (source, name string) {
	if i := strings.LastIndexByte(k, ':'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return "", k
}

// readPrefixes are the verbs of read-only AWS APIs, for the APIs whose
// read/write flag no sampled event shows.
var readPrefixes = []string{"Get", "List", "Describe", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet", "Select", "Check", "Validate", "Verify", "Decrypt", "GenerateDataKey", "Estimate", "Preview", "Test", "Simulate", "Filter", "View", "Discover", "Download", "Retrieve"}

// readOnlyName guesses from an API's name whether it only reads.
func readOnlyName(name string) bool {
	for _, p := range readPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
