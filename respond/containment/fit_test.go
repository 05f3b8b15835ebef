package containment

import (
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

func TestFitUserKeys(t *testing.T) {
	bob := finding.Actor{ARN: "arn:aws:iam::111122223333:user/Bob", Type: "IAMUser", Name: "Bob", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}
	tests := []struct {
		name   string
		f      finding.Finding
		fits   bool
		userID string
		key    string
	}{
		{"the actor's key on another resource", finding.Finding{
			Resource: finding.Resource{Type: awsarn.TypeS3Bucket, ID: "b"}, Actor: bob,
		}, true, "Bob", "AKIAIOSFODNN7EXAMPLE"},
		{"a user someone else changed: every key of that user", finding.Finding{
			Resource: finding.Resource{Type: awsarn.TypeIAMUser, ID: "Carol", ARN: "arn:aws:iam::111122223333:user/Carol"}, Actor: bob,
		}, true, "Carol", ""},
		{"a detector's finding on the key's own user: that key", finding.Finding{
			Resource: finding.Resource{Type: awsarn.TypeIAMUser, ID: "Bob", ARN: "arn:aws:iam::111122223333:user/Bob"}, Actor: bob,
		}, true, "Bob", "AKIAIOSFODNN7EXAMPLE"},
		{"a temporary key cannot be deactivated: every key", finding.Finding{
			Resource: finding.Resource{Type: awsarn.TypeS3Bucket, ID: "b"},
			Actor:    finding.Actor{ARN: bob.ARN, Type: "IAMUser", Name: "Bob", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"},
		}, true, "Bob", ""},
		{"a role is no user", finding.Finding{
			Resource: finding.Resource{Type: awsarn.TypeIAMRole, ID: "r", ARN: "arn:aws:iam::111122223333:role/r"},
			Actor:    finding.Actor{ARN: "arn:aws:iam::111122223333:role/r", Type: "AssumedRole"},
		}, false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, ok := FitUserKeys(tc.f)
			if ok != tc.fits || tg.ID != tc.userID || tg.AccessKeyID != tc.key {
				t.Errorf("FitUserKeys = %v, user %q key %q; want %v, %q, %q", ok, tg.ID, tg.AccessKeyID, tc.fits, tc.userID, tc.key)
			}
		})
	}
}
