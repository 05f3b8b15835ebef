package awsarn

import (
	"errors"
	"testing"
)

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Principal
		identity string
	}{
		{"root", "arn:aws:iam::111122223333:root",
			Principal{Partition: "aws", Account: "111122223333", Kind: KindRoot},
			"arn:aws:iam::111122223333:root"},
		{"user", "arn:aws:iam::111122223333:user/Bob",
			Principal{Partition: "aws", Account: "111122223333", Kind: KindUser, Path: "/", Name: "Bob"},
			"arn:aws:iam::111122223333:user/Bob"},
		{"user with a path", "arn:aws:iam::111122223333:user/ops/oncall/Bob",
			Principal{Partition: "aws", Account: "111122223333", Kind: KindUser, Path: "/ops/oncall/", Name: "Bob"},
			"arn:aws:iam::111122223333:user/ops/oncall/Bob"},
		{"role with a path", "arn:aws-cn:iam::111122223333:role/service-role/Deploy",
			Principal{Partition: "aws-cn", Account: "111122223333", Kind: KindRole, Path: "/service-role/", Name: "Deploy"},
			"arn:aws-cn:iam::111122223333:role/service-role/Deploy"},
		{"assumed-role session keys on its role", "arn:aws:sts::111122223333:assumed-role/Deploy/ci-42",
			Principal{Partition: "aws", Account: "111122223333", Kind: KindAssumedRole, Name: "Deploy", Session: "ci-42"},
			"arn:aws:iam::111122223333:role/Deploy"},
		{"session names may hold @ and dots", "arn:aws-us-gov:sts::111122223333:assumed-role/Admin/alice@example.com",
			Principal{Partition: "aws-us-gov", Account: "111122223333", Kind: KindAssumedRole, Name: "Admin", Session: "alice@example.com"},
			"arn:aws-us-gov:iam::111122223333:role/Admin"},
		{"federated user", "arn:aws:sts::111122223333:federated-user/carol",
			Principal{Partition: "aws", Account: "111122223333", Kind: KindFederatedUser, Name: "carol"},
			"arn:aws:sts::111122223333:federated-user/carol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrincipal(tc.in)
			if err != nil {
				t.Fatalf("ParsePrincipal(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParsePrincipal(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.ARN().String(); s != tc.in {
				t.Errorf("ARN() = %q, want the input back", s)
			}
			if s := got.Identity().String(); s != tc.identity {
				t.Errorf("Identity() = %q, want %q", s, tc.identity)
			}
		})
	}
}

func TestParsePrincipalRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not an ARN", "BackupManager", ErrMalformed},
		{"five fields", "arn:aws:iam::111122223333", ErrMalformed},
		{"a bucket", "arn:aws:s3:::acme-exports", ErrNotPrincipal},
		{"user without a name", "arn:aws:iam::111122223333:user/", ErrNotPrincipal},
		{"user type only", "arn:aws:iam::111122223333:user", ErrNotPrincipal},
		{"user under sts", "arn:aws:sts::111122223333:user/Bob", ErrNotPrincipal},
		{"session without a session name", "arn:aws:sts::111122223333:assumed-role/Deploy", ErrNotPrincipal},
		{"session without a role", "arn:aws:sts::111122223333:assumed-role//ci", ErrNotPrincipal},
		{"session under iam", "arn:aws:iam::111122223333:assumed-role/Deploy/ci", ErrNotPrincipal},
		{"iam policy", "arn:aws:iam::aws:policy/ReadOnlyAccess", ErrNotPrincipal},
		{"federated user without a name", "arn:aws:sts::111122223333:federated-user/", ErrNotPrincipal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePrincipal(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParsePrincipal(%q) = %+v, %v; want an error wrapping %v", tc.in, got, err, tc.want)
			}
		})
	}
}
