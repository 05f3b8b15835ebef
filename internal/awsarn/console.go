package awsarn

import (
	"net/url"
	"strings"
)

// Resource is what a console link is built from: a resource's type (a
// Type… constant), its short ID and its ARN, and the region and account
// it is in for when the ARN does not say. Any of them may be empty.
type Resource struct {
	Type    string
	ID      string
	ARN     string
	Region  string
	Account string
}

// consoleDomain is the console's domain in each partition.
func consoleDomain(partition string) string {
	switch partition {
	case PartitionChina:
		return "console.amazonaws.cn"
	case PartitionGovCloud:
		return "console.amazonaws-us-gov.com"
	default:
		return "console.aws.amazon.com"
	}
}

// ConsoleURL returns the AWS console page of a resource, or "" when the
// type is not one the console can be linked to or the resource lacks what
// the link needs (a region for regional services). The region given wins
// over the ARN's; the ARN's account and partition win over the given
// account and the partition of the region.
func ConsoleURL(r Resource) string {
	a, _ := Parse(r.ARN)
	region := r.Region
	if region == "" {
		region = a.Region
	}
	account := a.Account
	if account == "" {
		account = r.Account
	}
	partition := a.Partition
	if partition == "" {
		partition = PartitionOf(region)
	}
	domain := consoleDomain(partition)
	id := r.ID

	// Services without regions in their console address.
	switch r.Type {
	case TypeS3Bucket:
		name := id
		if name == "" {
			name = a.Resource
		}
		if name == "" {
			return ""
		}
		return "https://" + s3Host(partition, domain) + "/s3/buckets/" + url.PathEscape(name)
	case TypeS3AccountPublicAccessBlock:
		return "https://" + s3Host(partition, domain) + "/s3/settings"
	case TypeIAMUser, TypeIAMRole:
		name := id
		if name == "" {
			if p, err := a.Principal(); err == nil {
				name = p.Name
			}
		}
		if name == "" {
			return ""
		}
		kind := "users"
		if r.Type == TypeIAMRole {
			kind = "roles"
		}
		return "https://" + domain + "/iam/home#/" + kind + "/details/" + url.PathEscape(name)
	}

	if region == "" || id == "" && r.ARN == "" {
		return ""
	}
	home := func(service string) string { return consoleHome(domain, region, service) }
	switch r.Type {
	case TypeRDSSnapshot:
		return home("rds") + "#db-snapshot:id=" + url.PathEscape(orAfter(id, a.Resource, ":"))
	case TypeRDSClusterSnapshot:
		return home("rds") + "#db-cluster-snapshot:id=" + url.PathEscape(orAfter(id, a.Resource, ":"))
	case TypeEC2Snapshot:
		return home("ec2") + "#SnapshotDetails:snapshotId=" + url.PathEscape(orAfter(id, a.Resource, "/"))
	case TypeEC2Image:
		return home("ec2") + "#ImageDetails:imageId=" + url.PathEscape(orAfter(id, a.Resource, "/"))
	case TypeSQSQueue:
		name := orAfter(id, a.Resource, ":")
		if account == "" || name == "" {
			return ""
		}
		queueURL := "https://sqs." + region + ".amazonaws.com/" + account + "/" + name
		return "https://" + region + "." + domain + "/sqs/v3/home?region=" + url.QueryEscape(region) + "#/queues/" + url.QueryEscape(queueURL)
	case TypeSNSTopic:
		if r.ARN == "" {
			return ""
		}
		return "https://" + region + "." + domain + "/sns/v3/home?region=" + url.QueryEscape(region) + "#/topic/" + r.ARN
	case TypeKMSKey:
		if strings.HasPrefix(id, "alias/") || id == "" {
			// The console addresses keys by ID only; an alias lands on the list.
			return home("kms") + "#/kms/keys"
		}
		return home("kms") + "#/kms/keys/" + url.PathEscape(id)
	case TypeSecret:
		name := orAfter(id, a.Resource, ":")
		return "https://" + region + "." + domain + "/secretsmanager/secret?name=" + url.QueryEscape(name) + "&region=" + url.QueryEscape(region)
	case TypeECRRepository:
		name := orAfter(id, a.Resource, "/")
		if account == "" {
			return ""
		}
		return "https://" + region + "." + domain + "/ecr/repositories/private/" + account + "/" + url.PathEscape(name) + "?region=" + url.QueryEscape(region)
	case TypeLambdaFunction:
		return home("lambda") + "#/functions/" + url.PathEscape(orAfter(id, a.Resource, ":"))
	case TypeCloudTrailTrail:
		if r.ARN == "" {
			return home("cloudtrail") + "#/trails"
		}
		return home("cloudtrail") + "#/trails/" + r.ARN
	}
	return ""
}

// ConsoleHome is the console home page of a regional service in a
// region (https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1),
// in the region's partition; "" without a region.
func ConsoleHome(service, region string) string {
	if region == "" || service == "" {
		return ""
	}
	return consoleHome(consoleDomain(PartitionOf(region)), region, service)
}

func consoleHome(domain, region, service string) string {
	return "https://" + region + "." + domain + "/" + service + "/home?region=" + url.QueryEscape(region)
}

// s3Host is the S3 console's host: its own subdomain only in the
// commercial partition.
func s3Host(partition, domain string) string {
	if partition != PartitionAWS {
		return domain
	}
	return "s3." + domain
}

// orAfter returns id, or when it is empty the part of an ARN's resource
// after the last sep ("snapshot:name" gives "name").
func orAfter(id, resource, sep string) string {
	if id != "" {
		return id
	}
	if i := strings.LastIndex(resource, sep); i >= 0 {
		return resource[i+1:]
	}
	return resource
}
