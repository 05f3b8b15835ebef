package cloudtrail

import (
	"encoding/json"
	"testing"
)

// TestResourceOfKeyMatching checks that skipping the decoder for parameters
// that name no resource never hides one that encoding/json would find:
// keys match ignoring case, after unescaping and with Unicode folding.
func TestResourceOfKeyMatching(t *testing.T) {
	tests := []struct {
		name   string
		source string
		params string
		id     string
	}{
		{"exact key", "s3.amazonaws.com", `{"bucketName":"b1"}`, "b1"},
		{"key in another case", "s3.amazonaws.com", `{"BUCKETNAME":"b2"}`, "b2"},
		{"escaped key", "s3.amazonaws.com", `{"bucket\u004eame":"b3"}`, "b3"},
		{"Kelvin sign folds to k", "kms.amazonaws.com", `{"` + "\u212a" + `eyId":"k4"}`, "k4"},
		{"key nested, not top level", "s3.amazonaws.com", `{"x":{"bucketName":"b5"}}`, ""},
		{"no key at all", "ec2.amazonaws.com", `{"instancesSet":{"items":[{"instanceId":"i-1"}]},"filterSet":{}}`, ""},
		{"key of another service", "ec2.amazonaws.com", `{"bucketName":"b6"}`, ""},
		{"service without request fields", "sts.amazonaws.com", `{"roleName":"r"}`, ""},
		{"second key of a service", "cloudtrail.amazonaws.com", `{"trailName":"t7"}`, "t7"},
		{"last of repeated keys", "s3.amazonaws.com", `{"bucketName":"b8","bucketname":"b9"}`, "b9"},
		{"a later value of another type is skipped", "s3.amazonaws.com", `{"bucketName":"b10","BucketName":7}`, "b10"},
		{"null leaves the field alone", "s3.amazonaws.com", `{"bucketName":"b11","bucketName":null}`, "b11"},
		{"escaped value", "s3.amazonaws.com", `{"bucketName":"b\u0031\u0032"}`, "b12"},
		{"not valid JSON", "s3.amazonaws.com", `{"bucketName":"b13",}`, ""},
		{"more after the object", "s3.amazonaws.com", `{"bucketName":"b14"} x`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{EventSource: tt.source, AWSRegion: "us-east-1", RecipientAccountID: "111122223333", RequestParameters: json.RawMessage(tt.params)}
			if _, id, _ := ResourceOf(r); id != tt.id {
				t.Errorf("ResourceOf(%s %s) id = %q, want %q", tt.source, tt.params, id, tt.id)
			}
		})
	}
}

// FuzzReadParams checks that reading request fields without a decode
// gives what encoding/json gives, whenever it does not leave the
// parameters to encoding/json.
func FuzzReadParams(f *testing.F) {
	f.Add([]byte(`{"bucketName":"b","x":{"bucketName":"c"},"y":[1,"2",{}]}`))
	f.Add([]byte(`{"BUCKETNAME":"b","bucketName":null,"name":"n","trailName":3}`))
	keys := []string{"bucketname", "name", "trailname"}
	f.Fuzz(func(t *testing.T, params []byte) {
		got, ok := readParams(params, keys)
		if !ok {
			return
		}
		want := decodeResourceParams(params)
		if got.BucketName != want.BucketName || got.Name != want.Name || got.TrailName != want.TrailName {
			t.Errorf("readParams(%q) = %+v, encoding/json %+v", params, got, want)
		}
	})
}

// BenchmarkResourceOfRead is the common case: a read whose parameters name
// no primary resource.
func BenchmarkResourceOfRead(b *testing.B) {
	r := &Record{
		EventSource: "ec2.amazonaws.com", AWSRegion: "us-east-1", RecipientAccountID: "111122223333",
		RequestParameters: json.RawMessage(`{"instancesSet":{"items":[{"instanceId":"i-4f91d9b9332e82347"}]},"filterSet":{}}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		ResourceOf(r)
	}
}
