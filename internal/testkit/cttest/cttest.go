// Package cttest builds synthetic CloudTrail events, shaped like the AWS
// documentation's examples, for end-to-end tests and benchmarks that
// generate traffic in volume rather than read it from testdata.
package cttest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// EventBridge wraps a CloudTrail record the way EventBridge delivers an
// "AWS API Call via CloudTrail" event to SQS. source is the event's source
// ("aws.s3" for s3.amazonaws.com).
func EventBridge(id, source string, detail map[string]any) string {
	ev := map[string]any{
		"version":     "0",
		"id":          id,
		"detail-type": "AWS API Call via CloudTrail",
		"source":      source,
		"account":     detail["recipientAccountId"],
		"time":        detail["eventTime"],
		"region":      detail["awsRegion"],
		"resources":   []any{},
		"detail":      detail,
	}
	b, _ := json.Marshal(ev) // maps of strings and slices always encode
	return string(b)
}

// UUID returns a random version-4 UUID, as CloudTrail event and request
// IDs are, drawn from r so that a seeded run repeats itself.
func UUID(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}
