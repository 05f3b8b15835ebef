package cttest_test

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/testkit/cttest"
)

// TestEventsReadAsCloudTrail: what cttest builds is read back by the
// bot's own reader as the record it wraps.
func TestEventsReadAsCloudTrail(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	id := cttest.UUID(r)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("UUID = %q, not a version-4 UUID", id)
	}
	body := cttest.EventBridge(cttest.UUID(r), "aws.s3", map[string]any{
		"eventVersion": "1.09", "eventTime": "2026-11-27T03:12:00Z", "eventSource": "s3.amazonaws.com",
		"eventName": "GetBucketPolicy", "awsRegion": "eu-west-1", "eventID": id,
		"recipientAccountId": "111122223333", "requestParameters": map[string]any{"bucketName": "b"},
	})
	b := ingest.Parse("test", []byte(body))
	if len(b.Problems) != 0 || len(b.Records) != 1 {
		t.Fatalf("read %d records and problems %v", len(b.Records), b.Problems)
	}
	got := b.Records[0]
	want := cloudtrail.Record{EventID: id, EventName: "GetBucketPolicy", AWSRegion: "eu-west-1", RecipientAccountID: "111122223333"}
	if got.EventID != want.EventID || got.EventName != want.EventName || got.AWSRegion != want.AWSRegion || got.RecipientAccountID != want.RecipientAccountID {
		t.Errorf("record = %+v, want %+v", got, want)
	}
}
