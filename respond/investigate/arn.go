package investigate

import (
	"regexp"
	"strings"

	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// PrincipalARN maps a principal ARN to the identity history keys on: an
// STS assumed-role session ARN becomes its role's IAM ARN (the session
// name is dropped; role paths are not in session ARNs and cannot be
// recovered). Any other ARN is returned as it is.
func PrincipalARN(arn string) string {
	p, err := awsarn.ParsePrincipal(arn)
	if err != nil || p.Kind != awsarn.KindAssumedRole {
		return arn
	}
	return p.Identity().String()
}

// isPrincipalARN reports whether the ARN names an IAM or STS identity.
func isPrincipalARN(arn string) bool {
	_, err := awsarn.ParsePrincipal(arn)
	return err == nil
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
		format := awsarn.EC2Snapshot
		if m[1] == "ami" {
			format = awsarn.EC2Image
		}
		out := make([]string, 0, len(regions)+1)
		for _, r := range regions {
			out = append(out, format(awsarn.PartitionAWS, r, v).String())
		}
		return append(out, v)
	}
	if bucketRe.MatchString(v) && !strings.Contains(v, "..") {
		return []string{awsarn.S3Bucket(awsarn.PartitionAWS, v).String(), v}
	}
	return []string{v}
}

// resourceType guesses the CloudFormation type of a resource from its ARN
// or ID, for display.
func resourceType(arn, id string) string {
	if a, err := awsarn.Parse(arn); err == nil {
		return awsarn.TypeOf(a)
	}
	switch {
	case strings.HasPrefix(id, "snap-"):
		return awsarn.TypeEC2Snapshot
	case strings.HasPrefix(id, "ami-"):
		return awsarn.TypeEC2Image
	}
	return ""
}

// accountOf is the account field of an ARN.
func accountOf(arn string) string {
	a, _ := awsarn.Parse(arn)
	return a.Account
}

// shortName is the last element of an ARN's resource.
func shortName(arn string) string {
	a, err := awsarn.Parse(arn)
	if err != nil {
		return arn
	}
	return a.Name()
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
