package containment

import (
	"slices"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

func TestFitKey(t *testing.T) {
	const key = "arn:aws:kms:eu-central-1:111122223333:key/0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
	shared := func(k *finding.KeyAccess) finding.Finding {
		return finding.Finding{AccountID: "111122223333", Region: "eu-central-1", Resource: finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod"}, Contents: &finding.Contents{Key: k}}
	}
	usable := &finding.KeyAccess{Case: finding.KeyCustomerUsable, KeyARN: key, Users: []finding.KeyUser{
		{Account: "444455556666", Target: true}, {Account: "777788889999"}, {Account: "*", Target: true},
	}}
	tests := []struct {
		name string
		f    finding.Finding
		ok   bool
	}{
		{"a key the share targets may use", shared(usable), true},
		{"an AWS-managed key", shared(&finding.KeyAccess{Case: finding.KeyAWSManaged, KeyARN: key}), false},
		{"a key they may not use", shared(&finding.KeyAccess{Case: finding.KeyCustomerNotUsable, KeyARN: key}), false},
		{"contents not read", finding.Finding{Resource: finding.Resource{Type: awsarn.TypeRDSSnapshot, ID: "prod"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FitKey(tt.f)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (got.Type != awsarn.TypeKMSKey || got.ARN != key || got.AccountID != "111122223333" || got.Region != "eu-central-1" ||
				got.ID != "0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50" || !slices.Equal(got.Accounts, []string{"444455556666"})) {
				t.Errorf("target = %+v: want the key in its account, removing only the share target", got)
			}
		})
	}
}
