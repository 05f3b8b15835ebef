// Package awsarn is the project's AWS vocabulary: Amazon Resource Names
// (parsed and formatted), partitions, resource types as CloudFormation
// names them, and links to the AWS console. Every package that reads or
// writes an ARN does it here, so that the many shapes AWS gives them (S3
// buckets without region or account, IAM paths, STS sessions, RDS
// snapshots with a colon, EC2 snapshots without an account) are handled
// once. It imports nothing but the standard library: only providers/ talk
// to AWS.
package awsarn

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed ARN")

// ARN is an Amazon Resource Name split into its six fields:
// arn:partition:service:region:account:resource.
type ARN struct {
	Partition string // aws, aws-cn or aws-us-gov
	Service   string // s3, iam, sts, rds, ec2, kms, sqs, …
	// Region is empty for global resources (S3 buckets, IAM, STS).
	Region string
	// Account is empty for S3 buckets and for EC2 snapshots and images,
	// as AWS writes their ARNs.
	Account string
	// Resource is everything after the fifth colon, colons included:
	// "user/path/Bob", "snapshot:prod-db", "key/1234…", "my-bucket".
	Resource string
}

// Parse splits an ARN. It never panics: anything that is not
// arn:partition:service:region:account:resource with a partition, a
// service and a resource gives an error wrapping ErrMalformed that says
// what is missing.
func Parse(s string) (ARN, error) {
	if !strings.HasPrefix(s, "arn:") {
		return ARN{}, fmt.Errorf("%w: %q does not start with \"arn:\"", ErrMalformed, clip(s))
	}
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 {
		return ARN{}, fmt.Errorf("%w: %q has %d of the 6 fields arn:partition:service:region:account:resource", ErrMalformed, clip(s), len(p))
	}
	a := ARN{Partition: p[1], Service: p[2], Region: p[3], Account: p[4], Resource: p[5]}
	switch {
	case a.Partition == "":
		return ARN{}, fmt.Errorf("%w: %q has no partition", ErrMalformed, clip(s))
	case a.Service == "":
		return ARN{}, fmt.Errorf("%w: %q has no service", ErrMalformed, clip(s))
	case a.Resource == "":
		return ARN{}, fmt.Errorf("%w: %q has no resource", ErrMalformed, clip(s))
	}
	return a, nil
}

// String formats the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// ResourceType is the type the resource field starts with ("user",
// "role", "assumed-role", "snapshot", "cluster-snapshot", "image", "key",
// "function", …), or "" when the service names resources without a type
// (S3 buckets and objects, SQS queues, SNS topics) or the field has none
// ("root").
func (a ARN) ResourceType() string {
	switch a.Service {
	case "s3", "sqs", "sns":
		return ""
	}
	if i := strings.IndexAny(a.Resource, "/:"); i >= 0 {
		return a.Resource[:i]
	}
	return ""
}

// ResourceID is the resource field after its type: "path/Bob" of
// "user/path/Bob", "prod-db" of "snapshot:prod-db", the bucket of an S3
// bucket ARN.
func (a ARN) ResourceID() string {
	if t := a.ResourceType(); t != "" {
		return a.Resource[len(t)+1:]
	}
	return a.Resource
}

// Name is the last element of the resource field, after its last '/' or
// ':' ("Bob" of "user/path/Bob"); the whole field when it has none or ends
// with a separator.
func (a ARN) Name() string {
	res := a.Resource
	if i := strings.LastIndexAny(res, "/:"); i >= 0 && i+1 < len(res) {
		return res[i+1:]
	}
	return res
}

// S3Bucket is a bucket's ARN; bucket ARNs carry no region or account.
func S3Bucket(partition, bucket string) ARN {
	return ARN{Partition: partition, Service: "s3", Resource: bucket}
}

// S3AccountPublicAccessBlock is the identifier this project gives an
// account's S3 public access block. AWS gives the setting no ARN; this one
// cannot be mistaken for a bucket because bucket names never contain '/'.
func S3AccountPublicAccessBlock(partition, account string) ARN {
	return ARN{Partition: partition, Service: "s3", Resource: "account/" + account}
}

// RDSSnapshot is a DB snapshot's ARN (…:snapshot:name).
func RDSSnapshot(partition, region, account, id string) ARN {
	return ARN{Partition: partition, Service: "rds", Region: region, Account: account, Resource: "snapshot:" + id}
}

// RDSClusterSnapshot is a DB cluster snapshot's ARN
// (…:cluster-snapshot:name).
func RDSClusterSnapshot(partition, region, account, id string) ARN {
	return ARN{Partition: partition, Service: "rds", Region: region, Account: account, Resource: "cluster-snapshot:" + id}
}

// EC2Snapshot is an EBS snapshot's ARN. AWS writes it without an account
// (arn:aws:ec2:region::snapshot/snap-…).
func EC2Snapshot(partition, region, id string) ARN {
	return ARN{Partition: partition, Service: "ec2", Region: region, Resource: "snapshot/" + id}
}

// EC2Image is an AMI's ARN, without an account like a snapshot's.
func EC2Image(partition, region, id string) ARN {
	return ARN{Partition: partition, Service: "ec2", Region: region, Resource: "image/" + id}
}

// KMSKey is a KMS key's ARN (…:key/1234abcd-…).
func KMSKey(partition, region, account, keyID string) ARN {
	return ARN{Partition: partition, Service: "kms", Region: region, Account: account, Resource: "key/" + keyID}
}

// SQSQueue is a queue's ARN; its resource is the queue's name.
func SQSQueue(partition, region, account, name string) ARN {
	return ARN{Partition: partition, Service: "sqs", Region: region, Account: account, Resource: name}
}

// IAMUser is a user's ARN. path is the IAM path ("/team/"); "" means "/".
func IAMUser(partition, account, path, name string) ARN {
	return ARN{Partition: partition, Service: "iam", Account: account, Resource: "user" + iamPath(path) + name}
}

// IAMRole is a role's ARN. path is the IAM path ("/service-role/"); ""
// means "/".
func IAMRole(partition, account, path, name string) ARN {
	return ARN{Partition: partition, Service: "iam", Account: account, Resource: "role" + iamPath(path) + name}
}

// AssumedRole is an STS role session's ARN. Session ARNs name the role
// without its path.
func AssumedRole(partition, account, role, session string) ARN {
	return ARN{Partition: partition, Service: "sts", Account: account, Resource: "assumed-role/" + role + "/" + session}
}

func iamPath(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// maxQuoted bounds how much of a malformed input an error repeats, since
// it may come from a chat message.
const maxQuoted = 200

func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// IsAccountID reports whether s is an AWS account ID: twelve digits.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
