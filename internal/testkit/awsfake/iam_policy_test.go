package awsfake

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// policyOfSize is a valid policy document of exactly n characters that
// count (n > 105), padded inside a string so that it stays valid JSON.
func policyOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"Version":"2012-10-17","Statement":[{"Sid":"`, `","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	pad := n - len(head) - len(tail)
	if pad < 1 {
		t.Fatalf("policy of %d characters is too small", n)
	}
	return head + strings.Repeat("A", pad) + tail
}

func TestIAMRolePolicyQuota(t *testing.T) {
	tests := []struct {
		name     string
		existing map[string]string
		put      string // policy name
		doc      func(t *testing.T) string
		wantCode string
	}{
		{
			name:     "exactly the quota",
			existing: map[string]string{"a": policyOfSize(t, 6000)},
			put:      "b", doc: func(t *testing.T) string { return policyOfSize(t, MaxRolePolicySize-6000) },
		},
		{
			name:     "one character over, counted across policies",
			existing: map[string]string{"a": policyOfSize(t, 6000)},
			put:      "b", doc: func(t *testing.T) string { return policyOfSize(t, MaxRolePolicySize-6000+1) },
			wantCode: "LimitExceeded",
		},
		{
			name:     "the policy replaced does not count twice",
			existing: map[string]string{"a": policyOfSize(t, 9000)},
			put:      "a", doc: func(t *testing.T) string { return policyOfSize(t, 9500) },
		},
		{
			name:     "white space does not count",
			existing: map[string]string{"a": policyOfSize(t, 6000)},
			put:      "b",
			doc: func(t *testing.T) string {
				return strings.ReplaceAll(policyOfSize(t, MaxRolePolicySize-6000), ",", ",\n    ")
			},
		},
		{
			name: "a name IAM refuses",
			put:  "revoke all", doc: func(t *testing.T) string { return policyOfSize(t, 200) },
			wantCode: "ValidationError",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.iam.AddRole(acctA, IAMRole{Name: "breakglass", Policies: tt.existing})
			doc := tt.doc(t)
			_, err := iam.NewFromConfig(w.base).PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{
				RoleName: aws.String("breakglass"), PolicyName: aws.String(tt.put), PolicyDocument: aws.String(doc),
			})
			if apiCode(err) != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Fatalf("PutRolePolicy = %v, want code %q", err, tt.wantCode)
			}
			role, _ := w.iam.Role(acctA, "breakglass")
			_, stored := role.Policies[tt.put]
			if stored != (tt.wantCode == "") {
				t.Fatalf("policy %s stored = %v after %v", tt.put, stored, err)
			}
			if tt.wantCode == "LimitExceeded" && !strings.Contains(err.Error(), "Maximum policy size of 10240 bytes exceeded for role breakglass") {
				t.Errorf("error = %v, want IAM's message", err)
			}
			for name, d := range tt.existing {
				if name != tt.put && role.Policies[name] != d {
					t.Errorf("policy %s changed", name)
				}
			}
		})
	}
}

func TestIAMRolePolicyPages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	pols := map[string]string{}
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("p-%02d", i)
		pols[name], want = `{"Version":"2012-10-17","Statement":[]}`, append(want, name)
	}
	w.iam.AddRole(acctA, IAMRole{Name: "breakglass", Policies: pols})
	c := iam.NewFromConfig(w.base)

	var got []string
	pages := 0
	pager := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: aws.String("breakglass"), MaxItems: aws.Int32(3)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, page.PolicyNames...)
		// Deleting what was listed must not make the next page skip a
		// name.
		for _, n := range page.PolicyNames {
			if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("breakglass"), PolicyName: aws.String(n)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	if _, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("breakglass"), MaxItems: aws.Int32(0)}); apiCode(err) != "ValidationError" {
		t.Errorf("MaxItems 0: %v, want ValidationError", err)
	}
	if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("breakglass"), PolicyName: aws.String("p-00")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("deleting a deleted policy: %v, want NoSuchEntity", err)
	}
}

func TestIAMGetRolePolicyIsURLEncoded(t *testing.T) {
	w := newWorld(t)
	doc := `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
  "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2024-05-01T03:00:01Z"}, "StringEquals": {"aws:SourceIdentity": "U0+A=B"}}}]}`
	w.iam.AddRole(acctA, IAMRole{Name: "breakglass", Policies: map[string]string{"revoke": doc}})
	out, err := iam.NewFromConfig(w.base).GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{
		RoleName: aws.String("breakglass"), PolicyName: aws.String("revoke"),
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := aws.ToString(out.PolicyDocument)
	// The SDK hands the document over as IAM sends it, percent-encoded.
	if strings.ContainsAny(raw, `{}" `) {
		t.Fatalf("document %q is not URL-encoded", raw)
	}
	if dec, err := url.QueryUnescape(raw); err != nil || dec != doc {
		t.Fatalf("decoded document = %q, %v; want the stored one", dec, err)
	}
}
