package awsfake

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
)

const (
	ssoInstance = "arn:aws:sso:::instance/ssoins-1111111111111111"
	ssoPS       = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222"
	ssoStore    = "d-1234567890"
)

func newSSOWorld(t *testing.T) (*SSOAdmin, *ssoadmin.Client, *identitystore.Client) {
	t.Helper()
	srv := New()
	t.Cleanup(srv.Close)
	f := NewSSOAdmin()
	srv.Handle("sso", f)
	srv.Handle("identitystore", f)
	cfg := aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL()),
		HTTPClient:   srv.HTTPClient(),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSSOTEST000000001", "secret", ""),
	}
	return f, ssoadmin.NewFromConfig(cfg), identitystore.NewFromConfig(cfg)
}

func TestIdentityStoreUserByEmail(t *testing.T) {
	ctx := context.Background()
	f, _, ids := newSSOWorld(t)
	f.AddUser(ssoStore, "user-ana", "Ana@Example.com")
	tests := []struct {
		name, email, want, wantCode string
	}{
		{"known, case-insensitive", "ana@example.com", "user-ana", ""},
		{"unknown", "bob@example.com", "", "ResourceNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ids.GetUserId(ctx, &identitystore.GetUserIdInput{
				IdentityStoreId: aws.String(ssoStore),
				AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
					AttributePath: aws.String("emails.value"), AttributeValue: document.NewLazyDocument(tc.email),
				}},
			})
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("GetUserId error = %v, want code %q", err, tc.wantCode)
			}
			if err == nil && aws.ToString(out.UserId) != tc.want {
				t.Fatalf("UserId = %q, want %q", aws.ToString(out.UserId), tc.want)
			}
		})
	}
}

func TestSSOAdminAssignments(t *testing.T) {
	ctx := context.Background()
	f, sso, _ := newSSOWorld(t)
	f.SetPolls(2)
	f.Assign(ssoInstance, acctA, ssoPS, "user-stray")

	created, err := sso.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn: aws.String(ssoInstance), PermissionSetArn: aws.String(ssoPS),
		PrincipalId: aws.String("user-ana"), PrincipalType: ssotypes.PrincipalTypeUser,
		TargetId: aws.String(acctA), TargetType: ssotypes.TargetTypeAwsAccount,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := created.AccountAssignmentCreationStatus
	if st.Status != ssotypes.StatusValuesInProgress || slices.Contains(f.Assignments(ssoInstance, acctA, ssoPS), "user-ana") {
		t.Fatalf("a new assignment is %s and visible = %v; want IN_PROGRESS and not yet there", st.Status, f.Assignments(ssoInstance, acctA, ssoPS))
	}
	var statuses []ssotypes.StatusValues
	for range 3 {
		out, err := sso.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(ssoInstance), AccountAssignmentCreationRequestId: st.RequestId,
		})
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, out.AccountAssignmentCreationStatus.Status)
	}
	if want := []ssotypes.StatusValues{"IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"}; !slices.Equal(statuses, want) {
		t.Fatalf("creation statuses = %v, want %v", statuses, want)
	}

	list, err := sso.ListAccountAssignments(ctx, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(ssoInstance), AccountId: aws.String(acctA), PermissionSetArn: aws.String(ssoPS),
	})
	if err != nil {
		t.Fatal(err)
	}
	var principals []string
	for _, a := range list.AccountAssignments {
		principals = append(principals, aws.ToString(a.PrincipalId))
	}
	if want := []string{"user-ana", "user-stray"}; !slices.Equal(principals, want) {
		t.Fatalf("ListAccountAssignments = %v, want %v", principals, want)
	}

	f.SetPolls(0)
	del, err := sso.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
		InstanceArn: aws.String(ssoInstance), PermissionSetArn: aws.String(ssoPS),
		PrincipalId: aws.String("user-ana"), PrincipalType: ssotypes.PrincipalTypeUser,
		TargetId: aws.String(acctA), TargetType: ssotypes.TargetTypeAwsAccount,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sso.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
		InstanceArn: aws.String(ssoInstance), AccountAssignmentDeletionRequestId: del.AccountAssignmentDeletionStatus.RequestId,
	})
	if err != nil || out.AccountAssignmentDeletionStatus.Status != ssotypes.StatusValuesSucceeded {
		t.Fatalf("deletion status = %+v, %v; want SUCCEEDED", out, err)
	}
	if got := f.Assignments(ssoInstance, acctA, ssoPS); !slices.Equal(got, []string{"user-stray"}) {
		t.Fatalf("after deletion = %v, want only user-stray", got)
	}

	t.Run("a failed creation reports its reason and assigns nothing", func(t *testing.T) {
		f.FailNext("create", "permission set not provisioned")
		c, err := sso.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
			InstanceArn: aws.String(ssoInstance), PermissionSetArn: aws.String(ssoPS),
			PrincipalId: aws.String("user-bob"), PrincipalType: ssotypes.PrincipalTypeUser,
			TargetId: aws.String(acctA), TargetType: ssotypes.TargetTypeAwsAccount,
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := sso.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(ssoInstance), AccountAssignmentCreationRequestId: c.AccountAssignmentCreationStatus.RequestId,
		})
		if err != nil {
			t.Fatal(err)
		}
		s := out.AccountAssignmentCreationStatus
		if s.Status != ssotypes.StatusValuesFailed || aws.ToString(s.FailureReason) != "permission set not provisioned" {
			t.Fatalf("status = %s (%s), want FAILED with the reason", s.Status, aws.ToString(s.FailureReason))
		}
		if slices.Contains(f.Assignments(ssoInstance, acctA, ssoPS), "user-bob") {
			t.Fatal("a failed creation assigned the permission set")
		}
	})
}
