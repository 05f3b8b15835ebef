package sqsource

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/internal/testkit/testserver"
)

func nativeEvent(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "ingest", "native", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The findings AWS's detectors publish reach the sink from the queue the
// CloudTrail events come on, bare or wrapped by SNS, and each message is
// deleted once they are stored.
func TestSourceIngestsNativeFindings(t *testing.T) {
	t.Parallel()
	sqsSrv := testserver.StartSQS(t, testConfig)
	queueURL := sqsSrv.CreateQueue(t, "native", 30)
	sqsSrv.Send(t, queueURL, nativeEvent(t, "guardduty-iamuser-malicious-ip.json"))
	sqsSrv.Send(t, queueURL, snsEnvelope(t, nativeEvent(t, "securityhub-s3-public-read.json")))
	sqsSrv.Send(t, queueURL, nativeEvent(t, "access-analyzer-bucket-cross-account.json"))
	sink := &testSink{}
	stop := runSource(t, newTestSource(t, sqsSrv, queueURL, sink, testOptions(nil)))
	waitEmpty(t, sqsSrv, queueURL, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var rules []string
	for _, b := range sink.storedBatches() {
		for _, n := range b.Native {
			rules = append(rules, n.Rule)
		}
	}
	slices.Sort(rules)
	if want := []string{native.RuleAccessAnalyzer, native.RuleGuardDuty, native.RuleSecurityHub}; !slices.Equal(rules, want) {
		t.Errorf("stored native findings of %v, want %v", rules, want)
	}
	if ps := sink.problems(); len(ps) > 0 {
		t.Errorf("problems: %+v", ps)
	}
}

// Messages stored together keep their native findings, in order.
func TestMergeKeepsNativeFindings(t *testing.T) {
	t.Parallel()
	a := &ingestRequest{batch: ingest.Batch{Source: "sqs:a", Native: []native.Finding{{ID: "1"}}}}
	b := &ingestRequest{batch: ingest.Batch{Source: "sqs:b", Native: []native.Finding{{ID: "2"}, {ID: "3"}}}}
	m := merge([]*ingestRequest{a, b})
	var ids []string
	for _, n := range m.Native {
		ids = append(ids, n.ID)
	}
	if !slices.Equal(ids, []string{"1", "2", "3"}) {
		t.Errorf("merged native findings = %v, want 1 2 3", ids)
	}
	if n := batchItems(m); n != 3 {
		t.Errorf("batchItems = %d, want 3", n)
	}
}
