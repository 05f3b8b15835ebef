package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/detect/sigma/catalogue"
	"github.com/secops-bot/secops-bot/detect/sigma/sigmatest"
	"github.com/secops-bot/secops-bot/finding"
)

func catalogueSet(t testing.TB) *sigma.Set {
	t.Helper()
	rules, err := catalogue.Select([]string{"all"})
	if err != nil {
		t.Fatal(err)
	}
	set, problems := detect.CompileSigma(rules)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	return set
}

// TestReplaySigma: with Sigma rules on, replay prints their findings as it
// prints the built-in ones, with the rule's notes.
func TestReplaySigma(t *testing.T) {
	t.Parallel()
	events := `{"eventVersion":"1.09","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""},"eventTime":"2026-11-27T23:07:25Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.44","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"},"eventID":"deb1e1f9-c99b-4612-8e9f-21f93b5cc87e","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}
{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/Mateo","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"Mateo"},"eventTime":"2026-11-27T23:21:09Z","eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.17","userAgent":"aws-cli/2.22.4","requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","pendingWindowInDays":7},"responseElements":{"keyId":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","keyState":"PendingDeletion","pendingWindowInDays":7},"eventID":"5d6e7f8a-9b0c-4d1e-8f2a-3b4c5d6e7f8a","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}
`
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(set *sigma.Set, format string) (string, ReplaySummary) {
		var out bytes.Buffer
		sum, err := Replay(context.Background(), ReplayOptions{
			Config: exampleConfig(t), Paths: []string{path}, Format: format, Out: &out, Logger: zerolog.Nop(), Sigma: set,
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), sum
	}
	if out, sum := run(nil, "json"); out != "" || sum.Findings[finding.StatusOpen] != 0 {
		t.Fatalf("without Sigma rules: findings %v, output %q", sum.Findings, out)
	}
	out, sum := run(catalogueSet(t), "json")
	if sum.Findings[finding.StatusOpen] != 2 {
		t.Fatalf("findings %v, want 2 open", sum.Findings)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var f struct {
			Rule      string             `json:"rule"`
			Severity  string             `json:"severity"`
			Resource  finding.Resource   `json:"resource"`
			RuleNotes *finding.RuleNotes `json:"rule_notes"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		if f.RuleNotes == nil || f.RuleNotes.Source != "sigma" || len(f.RuleNotes.References) == 0 {
			t.Errorf("%s: rule notes %+v", f.Rule, f.RuleNotes)
		}
		got = append(got, f.Rule+" "+f.Severity+" "+f.Resource.ID)
	}
	want := []string{"31767720-670c-4f19-a2e9-830088fbd793 high ", "5508b63f-3026-41b3-a928-53165de57a31 high 1234abcd-12ab-34cd-56ef-1234567890ab"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("findings %q, want %q", got, want)
	}
	text, _ := run(catalogueSet(t), "text")
	if !strings.Contains(text, "[HIGH] Root user signed in or made a call — OPEN") || strings.Contains(text, "resource   \n") {
		t.Errorf("text output:\n%s", text)
	}
}

// BenchmarkReplaySigma100 is BenchmarkReplay on the generated corpus (seed
// 1, SECOPS_BENCH_EVENTS or 100,000 events, written by TestMain before a
// profile starts) with 100 Sigma rules in the shapes of public CloudTrail
// rules, none of which matches it: compare its events/s with
// BenchmarkReplay's, run one after the other.
//
//	go test ./internal/app -run '^$' -bench 'Replay$|ReplaySigma100' -benchtime 3x -count 5
func BenchmarkReplaySigma100(b *testing.B) {
	if benchCorpora == nil {
		b.Fatal("no corpora: TestMain writes them when -test.bench is set")
	}
	c := benchCorpora[0]
	n, path, planted := c.events, c.path, c.planted
	cfg := benchConfig(b)
	rules, problems := sigma.Load(sigmatest.Rules(100), []string{"rules"})
	set, more := detect.CompileSigma(rules)
	if problems = append(problems, more...); len(problems) > 0 || set.Len() != 100 {
		b.Fatalf("%d rules compiled, problems %v", set.Len(), problems)
	}
	b.ResetTimer()
	for b.Loop() {
		sum, err := Replay(context.Background(), ReplayOptions{
			Config: cfg, Paths: []string{path}, Format: "json", Out: io.Discard, Logger: zerolog.Nop(), Sigma: set,
		})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Records != n || sum.Findings[finding.StatusOpen] != len(planted) {
			b.Fatalf("replayed %d events with findings %v, want %d events and %d open findings", sum.Records, sum.Findings, n, len(planted))
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
