package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/ingest/native"
)

// nativeIDs lists the native findings of a batch as rule/ID.
func nativeIDs(b Batch) []string {
	var out []string
	for _, n := range b.Native {
		out = append(out, n.Rule+"/"+n.ID)
	}
	return out
}

// Native findings reach the batch from every shape EventBridge events come
// in, beside the CloudTrail records of the same payload; a native event
// that cannot be read is quarantined like any malformed input, and one
// that carries no finding is ignored.
func TestParseNativeFindings(t *testing.T) {
	event := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("native", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		data     []byte
		records  int
		native   []string
		problems []string
		ignored  int
	}{
		{"GuardDuty event", event("guardduty-iamuser-malicious-ip.json"), 0,
			[]string{"guardduty/a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9"}, nil, 0},
		{"Security Hub event", event("securityhub-s3-public-read.json"), 0,
			[]string{"securityhub/arn:aws:securityhub:eu-central-1:222233334444:security-control/S3.2/finding/6d8e7f1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"}, nil, 0},
		{"Access Analyzer event", event("access-analyzer-bucket-cross-account.json"), 0,
			[]string{"access-analyzer/a5018b39-a5ce-46ec-b6ff-0c7f6a1d8c1e"}, nil, 0},
		{"gzip", gz(t, event("guardduty-s3-bucket-anonymous-access.json")), 0,
			[]string{"guardduty/b6d2e0f1c3a4b5c6d7e8f9a0b1c2d3e4"}, nil, 0},
		{"JSON Lines with CloudTrail, native, broken and empty events", readTestdata(t, "native-mixed.jsonl"), 1,
			[]string{
				"guardduty/a4c9b3e2d1f0a8b7c6d5e4f3a2b1c0d9",
				"securityhub/arn:aws:securityhub:eu-central-1:222233334444:security-control/S3.2/finding/6d8e7f1a-2b3c-4d5e-8f9a-0b1c2d3e4f5a",
				"access-analyzer/a5018b39-a5ce-46ec-b6ff-0c7f6a1d8c1e",
			},
			[]string{"finding has no id"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Parse("src", tc.data)
			if len(b.Records) != tc.records {
				t.Errorf("%d records, want %d", len(b.Records), tc.records)
			}
			if got := strings.Join(nativeIDs(b), " "); got != strings.Join(tc.native, " ") {
				t.Errorf("native findings = %s, want %s", got, strings.Join(tc.native, " "))
			}
			if len(b.Problems) != len(tc.problems) {
				t.Fatalf("problems = %v, want %v", summarise(b.Problems), tc.problems)
			}
			for i, p := range b.Problems {
				if !strings.Contains(p.Reason, tc.problems[i]) || len(p.Raw) == 0 {
					t.Errorf("problem %d = %q (%d raw bytes), want one about %q with the event", i, p.Reason, len(p.Raw), tc.problems[i])
				}
			}
			if b.Ignored != tc.ignored {
				t.Errorf("ignored = %d, want %d", b.Ignored, tc.ignored)
			}

			// Read block by block, the same payload gives the same.
			for _, size := range []int{64, 4096} {
				var got []Batch
				err := stream(context.Background(), "src", bytes.NewReader(tc.data), size, Limits{}, func(b Batch) error {
					got = append(got, b)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var all []native.Finding
				for _, g := range got {
					all = append(all, g.Native...)
				}
				if s := strings.Join(nativeIDs(Batch{Native: all}), " "); s != strings.Join(tc.native, " ") {
					t.Errorf("block %d: streamed native findings = %s, want %s", size, s, strings.Join(tc.native, " "))
				}
			}
		})
	}
}

func TestParseNativeGolden(t *testing.T) {
	b, err := ReadFile(filepath.Join("testdata", "native-mixed.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "native-mixed.jsonl", b)
}
