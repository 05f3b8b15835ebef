package awsarn

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name                  string
		in                    string
		want                  ARN
		resType, resID, short string
	}{
		{"s3 bucket has no region or account", "arn:aws:s3:::acme-exports",
			ARN{"aws", "s3", "", "", "acme-exports"}, "", "acme-exports", "acme-exports"},
		{"s3 object is untyped", "arn:aws:s3:::acme-exports/logs/a.gz",
			ARN{"aws", "s3", "", "", "acme-exports/logs/a.gz"}, "", "acme-exports/logs/a.gz", "a.gz"},
		{"iam user with a path", "arn:aws:iam::111122223333:user/ops/oncall/Bob",
			ARN{"aws", "iam", "", "111122223333", "user/ops/oncall/Bob"}, "user", "ops/oncall/Bob", "Bob"},
		{"sts session", "arn:aws:sts::111122223333:assumed-role/Deploy/ci-42",
			ARN{"aws", "sts", "", "111122223333", "assumed-role/Deploy/ci-42"}, "assumed-role", "Deploy/ci-42", "ci-42"},
		{"rds snapshot keeps colons in the resource", "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-db",
			ARN{"aws", "rds", "eu-central-1", "111122223333", "snapshot:prod-db"}, "snapshot", "prod-db", "prod-db"},
		{"rds cluster snapshot", "arn:aws-us-gov:rds:us-gov-west-1:111122223333:cluster-snapshot:aurora",
			ARN{"aws-us-gov", "rds", "us-gov-west-1", "111122223333", "cluster-snapshot:aurora"}, "cluster-snapshot", "aurora", "aurora"},
		{"ec2 snapshot has no account", "arn:aws:ec2:us-east-1::snapshot/snap-0abc",
			ARN{"aws", "ec2", "us-east-1", "", "snapshot/snap-0abc"}, "snapshot", "snap-0abc", "snap-0abc"},
		{"ec2 image in China", "arn:aws-cn:ec2:cn-north-1::image/ami-0abc",
			ARN{"aws-cn", "ec2", "cn-north-1", "", "image/ami-0abc"}, "image", "ami-0abc", "ami-0abc"},
		{"kms key", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab",
			ARN{"aws", "kms", "eu-west-1", "111122223333", "key/1234abcd-12ab"}, "key", "1234abcd-12ab", "1234abcd-12ab"},
		{"sqs queue is untyped", "arn:aws:sqs:eu-west-1:111122223333:orders",
			ARN{"aws", "sqs", "eu-west-1", "111122223333", "orders"}, "", "orders", "orders"},
		{"lambda qualifier stays in the ID", "arn:aws:lambda:eu-west-1:111122223333:function:resize:prod",
			ARN{"aws", "lambda", "eu-west-1", "111122223333", "function:resize:prod"}, "function", "resize:prod", "prod"},
		{"root has no type", "arn:aws:iam::111122223333:root",
			ARN{"aws", "iam", "", "111122223333", "root"}, "", "root", "root"},
		{"wildcards are kept as written", "arn:aws:iam::*:role/*",
			ARN{"aws", "iam", "", "*", "role/*"}, "role", "*", "*"},
		{"trailing separator names the whole resource", "arn:aws:iam::111122223333:user/",
			ARN{"aws", "iam", "", "111122223333", "user/"}, "user", "", "user/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want the input back", s)
			}
			if typ := got.ResourceType(); typ != tc.resType {
				t.Errorf("ResourceType() = %q, want %q", typ, tc.resType)
			}
			if id := got.ResourceID(); id != tc.resID {
				t.Errorf("ResourceID() = %q, want %q", id, tc.resID)
			}
			if n := got.Name(); n != tc.short {
				t.Errorf("Name() = %q, want %q", n, tc.short)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	long := "arn:" + strings.Repeat("é", 300)
	tests := []struct {
		name, in, says string
	}{
		{"empty", "", `"" does not start with "arn:"`},
		{"a bucket name", "acme-exports", `"acme-exports" does not start with "arn:"`},
		{"upper case prefix", "ARN:aws:s3:::b", `does not start with "arn:"`},
		{"prefix only", "arn:", `"arn:" has 2 of the 6 fields`},
		{"five fields", "arn:aws:iam::111122223333", "has 5 of the 6 fields"},
		{"no partition", "arn::s3:::b", "has no partition"},
		{"no service", "arn:aws::eu-west-1:1:x", "has no service"},
		{"no resource", "arn:aws:s3:::", "has no resource"},
		{"long input is clipped", long, "…\" has 2 of the 6 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.in, got)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long; the input should be clipped", len(err.Error()))
			}
			if got != (ARN{}) {
				t.Errorf("Parse returned %+v with its error, want the zero ARN", got)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  ARN
		want string
	}{
		{"s3 bucket", S3Bucket(PartitionAWS, "acme-exports"), "arn:aws:s3:::acme-exports"},
		{"account public access block", S3AccountPublicAccessBlock(PartitionChina, "111122223333"), "arn:aws-cn:s3:::account/111122223333"},
		{"rds snapshot", RDSSnapshot("aws", "eu-central-1", "111122223333", "prod-db"), "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-db"},
		{"rds cluster snapshot", RDSClusterSnapshot("aws", "us-east-1", "111122223333", "aurora"), "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:aurora"},
		{"ec2 snapshot", EC2Snapshot("aws", "us-east-1", "snap-0abc"), "arn:aws:ec2:us-east-1::snapshot/snap-0abc"},
		{"ec2 image", EC2Image("aws", "us-east-1", "ami-0abc"), "arn:aws:ec2:us-east-1::image/ami-0abc"},
		{"kms key", KMSKey("aws", "eu-west-1", "111122223333", "1234abcd"), "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"},
		{"sqs queue", SQSQueue("aws-us-gov", "us-gov-west-1", "111122223333", "events"), "arn:aws-us-gov:sqs:us-gov-west-1:111122223333:events"},
		{"iam user without a path", IAMUser("aws", "111122223333", "", "Bob"), "arn:aws:iam::111122223333:user/Bob"},
		{"iam user with a path", IAMUser("aws", "111122223333", "/ops/", "Bob"), "arn:aws:iam::111122223333:user/ops/Bob"},
		{"iam role", IAMRole("aws", "111122223333", "/service-role/", "Deploy"), "arn:aws:iam::111122223333:role/service-role/Deploy"},
		{"assumed role", AssumedRole("aws", "111122223333", "Deploy", "ci-42"), "arn:aws:sts::111122223333:assumed-role/Deploy/ci-42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.got.String(); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
			back, err := Parse(tc.want)
			if err != nil || back != tc.got {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.want, back, err, tc.got)
			}
		})
	}
}

func TestPartitionOf(t *testing.T) {
	tests := []struct{ region, want string }{
		{"eu-west-1", PartitionAWS},
		{"us-east-1", PartitionAWS},
		{"cn-north-1", PartitionChina},
		{"cn-northwest-1", PartitionChina},
		{"us-gov-west-1", PartitionGovCloud},
		{"", PartitionAWS},
	}
	for _, tc := range tests {
		if got := PartitionOf(tc.region); got != tc.want {
			t.Errorf("PartitionOf(%q) = %q, want %q", tc.region, got, tc.want)
		}
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:s3:::acme-exports", TypeS3Bucket},
		{"arn:aws:s3:::acme-exports/key", ""},
		{"arn:aws:ec2:us-east-1::snapshot/snap-0abc", TypeEC2Snapshot},
		{"arn:aws:ec2:us-east-1::image/ami-0abc", TypeEC2Image},
		{"arn:aws:ec2:us-east-1:111122223333:instance/i-0abc", ""},
		{"arn:aws:rds:eu-central-1:111122223333:snapshot:prod-db", TypeRDSSnapshot},
		{"arn:aws:rds:eu-central-1:111122223333:cluster-snapshot:aurora", TypeRDSClusterSnapshot},
		{"arn:aws:rds:eu-central-1:111122223333:db:prod", ""},
		{"arn:aws:iam::111122223333:role/ops/Deploy", TypeIAMRole},
		{"arn:aws:iam::111122223333:user/Bob", TypeIAMUser},
		{"arn:aws:iam::111122223333:root", ""},
		{"arn:aws:kms:eu-west-1:111122223333:key/1234", TypeKMSKey},
		{"arn:aws:kms:eu-west-1:111122223333:alias/app", ""},
		{"arn:aws:sqs:eu-west-1:111122223333:orders", TypeSQSQueue},
		{"arn:aws:sns:eu-west-1:111122223333:alerts", TypeSNSTopic},
		{"arn:aws:lambda:eu-west-1:111122223333:function:resize", TypeLambdaFunction},
		{"arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf", TypeSecret},
		{"arn:aws:glue:eu-west-1:111122223333:table/db/t", ""},
	}
	for _, tc := range tests {
		a, err := Parse(tc.arn)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.arn, err)
		}
		if got := TypeOf(a); got != tc.want {
			t.Errorf("TypeOf(%s) = %q, want %q", tc.arn, got, tc.want)
		}
	}
}

// FuzzParse checks that no input makes Parse panic, and that what it
// accepts formats back to the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "arn:", "arn:aws:s3:::b", "arn:aws:sts::1:assumed-role/R/s", "arn:aws:iam::1:user/", "arn:::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		if a.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, a.String())
		}
		_, _ = a.ResourceType(), a.ResourceID()
		_ = a.Name()
		_ = TypeOf(a)
		if p, err := a.Principal(); err == nil {
			_ = p.ARN()
			_ = p.Identity()
		}
		_ = ConsoleURL(Resource{Type: TypeOf(a), ARN: s})
	})
}

func TestIsAccountID(t *testing.T) {
	for s, want := range map[string]bool{"111122223333": true, "012345678901": true, "11112222333": false, "1111222233334": false, "11112222333a": false, "": false, "*": false} {
		if got := IsAccountID(s); got != want {
			t.Errorf("IsAccountID(%q) = %v, want %v", s, got, want)
		}
	}
}
