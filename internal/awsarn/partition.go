package awsarn

import "strings"

// Partitions: the groups of regions an ARN's first field names.
const (
	PartitionAWS      = "aws"
	PartitionChina    = "aws-cn"
	PartitionGovCloud = "aws-us-gov"
)

// PartitionOf returns the partition of a region: aws-cn for cn-…,
// aws-us-gov for us-gov-…, aws otherwise (and for an empty region).
func PartitionOf(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return PartitionChina
	case strings.HasPrefix(region, "us-gov-"):
		return PartitionGovCloud
	default:
		return PartitionAWS
	}
}
