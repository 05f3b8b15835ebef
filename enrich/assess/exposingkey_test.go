package assess

import (
	"testing"

	"github.com/secops-bot/secops-bot/finding"
)

func TestExposingKeyKeepsWhatTheExposureAllowed(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	usable := &finding.KeyAccess{Case: finding.KeyCustomerUsable, KeyARN: arn, Users: []finding.KeyUser{{Account: "999988887777", Via: []string{"grant"}}}}
	notUsable := &finding.KeyAccess{Case: finding.KeyCustomerNotUsable, KeyARN: arn}
	unknown := &finding.KeyAccess{Case: finding.KeyUnknown, KeyARN: arn}
	other := &finding.KeyAccess{Case: finding.KeyCustomerNotUsable, KeyARN: arn + "-other"}
	tests := []struct {
		name string
		prev *finding.KeyAccess
		next *finding.KeyAccess
		want *finding.KeyAccess
	}{
		{"first read", nil, usable, usable},
		{"share removed: the partner could still use the key during the exposure", usable, notUsable, usable},
		{"a failed read keeps what was known", notUsable, unknown, notUsable},
		{"a good read replaces an unknown one", unknown, notUsable, notUsable},
		{"a key becoming usable is taken at once", notUsable, usable, usable},
		{"another key is a new fact", usable, other, other},
		{"no key in the new read", usable, nil, usable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exposingKey(tt.prev, tt.next); got != tt.want {
				t.Errorf("exposingKey() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
