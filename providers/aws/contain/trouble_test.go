package contain

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/respond/containment"
)

// TestTroubleInPlainWords: when the member role cannot be assumed or AWS
// throttles, the responder reads what happened and what to do, not the
// SDK's error dump, and nothing changes in the account.
func TestTroubleInPlainWords(t *testing.T) {
	tests := []struct {
		name  string
		fault awsfake.Fault
		want  []string
	}{
		{
			name:  "member role refused",
			fault: awsfake.Fault{Service: "sts", Action: "AssumeRole", Account: payments, Code: "AccessDenied", Status: 403, Times: -1},
			want:  []string{"cannot assume its role in account " + payments, "AccessDenied", "trust policy"},
		},
		{
			name:  "member role throttled",
			fault: awsfake.Fault{Service: "sts", Action: "AssumeRole", Code: "Throttling", Status: 400, Times: -1},
			want:  []string{"AWS is throttling the bot in account " + payments, "sts:AssumeRole answered Throttling", "try again"},
		},
		{
			name:  "bucket calls throttled",
			fault: awsfake.Fault{Service: "s3", Code: "SlowDown", Status: 503, Times: -1},
			want:  []string{"AWS is throttling the bot in account " + payments, "s3:GetBucketPublicAccessBlock answered SlowDown"},
		},
		{
			name:  "permission missing",
			fault: awsfake.Fault{Service: "s3", Action: "GET ?publicAccessBlock", Code: "AccessDenied", Status: 403, Times: -1},
			want:  []string{"AWS refused s3:GetBucketPublicAccessBlock in account " + payments, "lacks this permission (s3:GetBucketPublicAccessBlock)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy})
			f.srv.Inject(tc.fault)
			p := f.provider(corp)
			target := containment.Target{AccountID: payments, Region: "eu-west-1", Type: awsarn.TypeS3Bucket, ID: "acme-exports"}
			_, err := p.Preview(context.Background(), containment.S3BlockPublicAccess, target)
			var pe *containment.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("preview error %v is not an AWS answer the responder can be told", err)
			}
			msg := containment.PlainError(err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			for _, raw := range []string{"operation error", "https response error", "StatusCode", "api error"} {
				if strings.Contains(msg, raw) {
					t.Errorf("%q shows the SDK's error dump (%s)", msg, raw)
				}
			}
			if b, _ := f.s3.Bucket("acme-exports"); b.PublicAccessBlock != nil {
				t.Errorf("the bucket changed: %+v", b.PublicAccessBlock)
			}
		})
	}
}

// TestWriteRoleRefusedInPlainWords: the member role reads, but the write
// role cannot be assumed; the run says so and changes nothing.
func TestWriteRoleRefusedInPlainWords(t *testing.T) {
	f := newFakes(t)
	f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy})
	f.sts.Deny("arn:aws:iam::" + payments + ":role/" + writeRole)
	p := f.provider(corp)
	target := containment.Target{AccountID: payments, Region: "eu-west-1", Type: awsarn.TypeS3Bucket, ID: "acme-exports"}
	plan, err := p.Preview(context.Background(), containment.S3BlockPublicAccess, target)
	if err != nil {
		t.Fatalf("preview with the member role: %v", err)
	}
	_, err = p.Apply(context.Background(), containment.Record{ID: "C-TEST", Plan: plan, RanBy: "U0RESPONDER"})
	msg := containment.PlainError(err)
	for _, w := range []string{"cannot assume its write role in account " + payments, "AccessDenied", "nothing was changed", "sts:SetSourceIdentity"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q does not say %q", msg, w)
		}
	}
	if b, _ := f.s3.Bucket("acme-exports"); b.PublicAccessBlock != nil {
		t.Errorf("the bucket changed: %+v", b.PublicAccessBlock)
	}
}
