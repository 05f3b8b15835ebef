package sigma_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/secops-bot/secops-bot/detect/sigma"
	"github.com/secops-bot/secops-bot/detect/sigma/sigmatest"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

func TestLoad(t *testing.T) {
	good := ruleYAML("    sel:\n        eventName: StopLogging\n    condition: sel\n")
	fsys := fstest.MapFS{
		"team/iam/keys.yml":      {Data: []byte(strings.Replace(good, "0d6c7c52-6a4f-4d3e-9c59-1f2e3d4c5b6a", "11111111-1111-4111-8111-111111111111", 1))},
		"team/logging.yaml":      {Data: []byte(good)},
		"team/README.md":         {Data: []byte("# not a rule")},
		"team/broken.yml":        {Data: []byte(ruleYAML("    sel:\n        eventName|base64: x\n    condition: sel\n"))},
		"other/ignored/rule.yml": {Data: []byte(good)},
	}
	rules, problems := sigma.Load(fsys, []string{"team", "missing"})
	var files []string
	for _, r := range rules {
		files = append(files, r.File)
	}
	if want := []string{"team/iam/keys.yml", "team/logging.yaml"}; !slices.Equal(files, want) {
		t.Errorf("loaded %v, want %v", files, want)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.File+":"+p.Construct)
	}
	if want := []string{"team/broken.yml:modifier base64", "missing:rules directory"}; !slices.Equal(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
}

func TestLoadDirs(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "rules")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(sub, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("one.yml", ruleYAML("    sel:\n        eventName: StopLogging\n    condition: sel | count() > 3\n"))
	two := write("two.yml", ruleYAML("    sel:\n        eventName: DeleteTrail\n    condition: sel\n"))
	rules, problems := sigma.LoadDirs([]string{sub, two, filepath.Join(dir, "nope")})
	if len(rules) != 2 {
		t.Errorf("loaded %d rules, want two.yml twice (as part of the directory and by name)", len(rules))
	}
	if len(problems) != 2 || problems[0].File != one || problems[0].Construct != "aggregation" || problems[0].Line != 11 ||
		problems[1].File != filepath.Join(dir, "nope") {
		t.Errorf("problems %v", problems)
	}
	// The same id twice is reported when the rules are compiled together.
	_, dup := sigma.Compile(rules)
	if len(dup) != 1 || dup[0].Construct != "id" || !strings.Contains(dup[0].Message, "already the id") {
		t.Errorf("compile problems %v", dup)
	}
}

func TestCompile(t *testing.T) {
	rules, problems := sigma.Parse("a.yml", []byte(sigmatest.Join(
		strings.Replace(ruleYAML("    sel:\n        eventName: StopLogging\n    condition: sel\n"), "0d6c7c52-6a4f-4d3e-9c59-1f2e3d4c5b6a", "s3-bucket-public", 1),
		ruleYAML("    sel:\n        eventSource: cloudtrail.amazonaws.com\n    condition: sel\n"),
		ruleYAML("    sel:\n        eventSource: kms.amazonaws.com\n    condition: sel\n"),
	)))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	set, problems := sigma.Compile(rules, "s3-bucket-public")
	if set.Len() != 1 || len(problems) != 2 {
		t.Fatalf("compiled %d rules with problems %v; want 1 and two id problems", set.Len(), problems)
	}
	if !strings.Contains(problems[0].Message, "a built-in rule") || !strings.Contains(problems[1].Message, "a.yml:") {
		t.Errorf("problems %v", problems)
	}
}

func TestIndexPins(t *testing.T) {
	tests := []struct {
		name      string
		detection string
		indexed   bool
	}{
		{"name", "    sel:\n        eventName: StopLogging\n    condition: sel\n", true},
		{"names in every branch", "    a:\n        eventName: StopLogging\n    b:\n        eventName: [DeleteTrail, UpdateTrail]\n        requestParameters.x: 1\n    condition: a or b\n", true},
		{"source alone", "    sel:\n        eventSource: cloudtrail.amazonaws.com\n        eventName|startswith: Delete\n    condition: sel\n", true},
		{"and with anything", "    a:\n        eventName: StopLogging\n    f:\n        userAgent|contains: terraform\n    condition: a and not f\n", true},
		{"a branch without", "    a:\n        eventName: StopLogging\n    b:\n        userIdentity.type: Root\n    condition: a or b\n", false},
		{"identity type", "    a:\n        userIdentity.type: Root\n    f:\n        eventType: AwsServiceEvent\n    condition: a and not f\n", true},
		{"identity types in every branch", "    a:\n        userIdentity.type: Root\n    b:\n        userIdentity.type: [IAMUser, FederatedUser]\n        userAgent|contains: curl\n    condition: a or b\n", true},
		{"identity type pattern", "    a:\n        userIdentity.type|contains: Root\n    condition: a\n", false},
		{"negated", "    a:\n        eventName: StopLogging\n    condition: not a\n", false},
		{"wildcard", "    a:\n        eventName: Stop*\n    condition: a\n", false},
		{"keywords", "    k:\n        - StopLogging\n    condition: k\n", false},
		{"map list", "    a:\n        - eventName: StopLogging\n        - userAgent: x\n    condition: a\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := sigma.Compile(sigma.Rules{mustRule(t, tc.detection)})
			if got := set.Unindexed() == 0; got != tc.indexed {
				t.Errorf("indexed = %v, want %v", got, tc.indexed)
			}
		})
	}
}

// corpusRecords decodes n records of the generated corpus.
func corpusRecords(tb testing.TB, n int) []cloudtrail.Record {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := corpus.Generate(&buf, n, 1, corpus.Options{}); err != nil {
		tb.Fatal(err)
	}
	b := ingest.Parse("corpus", buf.Bytes())
	if len(b.Records) != n {
		tb.Fatalf("decoded %d records of %d", len(b.Records), n)
	}
	return b.Records
}

func variants(tb testing.TB, n int) sigma.Rules {
	tb.Helper()
	rules, problems := sigma.Load(sigmatest.Rules(n), []string{"rules"})
	if len(problems) > 0 || len(rules) != n {
		tb.Fatalf("%d variants loaded, problems %v", len(rules), problems)
	}
	return rules
}

// TestIndexKeepsEveryMatch compares the indexed set with trying every rule
// on every record, over records the variants are written to match.
func TestIndexKeepsEveryMatch(t *testing.T) {
	rules := variants(t, 100)
	set, problems := sigma.Compile(rules)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if set.Unindexed() > 15 {
		t.Errorf("%d of 100 variants are tried on every record", set.Unindexed())
	}
	recs := corpusRecords(t, 20_000)
	recs = append(recs,
		*mustRecord(t, `{"eventID":"1","eventTime":"2026-11-27T00:00:00Z","eventSource":"guardduty.amazonaws.com","eventName":"UpdateDetector","requestParameters":{"detectorId":"d1","enable":false},"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x"}}`),
		*mustRecord(t, `{"eventID":"2","eventTime":"2026-11-27T00:00:00Z","eventSource":"IAM.amazonaws.com","eventName":"deleteuser","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}`),
		*mustRecord(t, `{"eventID":"3","eventTime":"2026-11-27T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl","sourceIPAddress":"100.64.3.4","requestParameters":{"bucketName":"exfil-1"},"userAgent":"S3 Browser 11.4","userIdentity":{"type":"Root"}}`),
	)
	matched := 0
	for i := range recs {
		got := set.Match(&recs[i], nil)
		var want sigma.Rules
		for _, r := range rules {
			if r.Matches(&recs[i]) {
				want = append(want, r)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("record %s %s: index matched %d rules, trying all matched %d", recs[i].EventID, recs[i].EventName, len(got), len(want))
		}
		matched += len(got)
		if i < 20_000 && len(got) > 0 {
			t.Errorf("variant %s matches corpus record %s (%s)", got[0].ID, recs[i].EventID, recs[i].EventName)
		}
	}
	if matched == 0 {
		t.Error("no variant matched the records written to match them")
	}
}

// BenchmarkSigma100Rules is the cost per record of 100 rules shaped like
// public CloudTrail rules, over the generated corpus (mostly reads, as in
// production). The records are few enough to stay in the processor's
// caches, as the record being evaluated is in replay and serve, where it
// was decoded just before.
func BenchmarkSigma100Rules(b *testing.B) {
	set, problems := sigma.Compile(variants(b, 100))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	recs := corpusRecords(b, 1000)
	var dst sigma.Rules
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = set.Match(&recs[i], dst[:0])
		i++
		if i == len(recs) {
			i = 0
		}
	}
	if len(dst) > 0 {
		b.Fatal("a variant matched the corpus")
	}
}

// BenchmarkSigmaKeywords is the cost per record of one rule of three
// keywords, which must search the whole of every record.
func BenchmarkSigmaKeywords(b *testing.B) {
	rules, problems := sigma.Parse("k.yml", []byte(ruleYAML("    keywords:\n        - 'sqlmap/'\n        - 'kali-linux'\n        - 'nmap scripting engine'\n    condition: keywords\n")))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	set, _ := sigma.Compile(rules)
	recs := corpusRecords(b, 1000)
	var dst sigma.Rules
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = set.Match(&recs[i], dst[:0])
		if i++; i == len(recs) {
			i = 0
		}
	}
}

// TestMatchConcurrently: one Set serves every ingestion goroutine.
func TestMatchConcurrently(t *testing.T) {
	set, _ := sigma.Compile(variants(t, 40))
	recs := corpusRecords(t, 400)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(recs); i += 4 {
				set.Match(&recs[i], nil)
			}
		}()
	}
	wg.Wait()
}
