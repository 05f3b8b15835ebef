package corpus_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/corpus"
)

func generate(t *testing.T, n int, seed int64, opts corpus.Options) ([]byte, []corpus.Planted) {
	t.Helper()
	var buf bytes.Buffer
	planted, err := corpus.Generate(&buf, n, seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), planted
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, pa := generate(t, 300, 1, corpus.Options{})
	b, pb := generate(t, 300, 1, corpus.Options{})
	c, _ := generate(t, 300, 2, corpus.Options{})
	if !bytes.Equal(a, b) || len(pa) != len(pb) || pa[0] != pb[0] {
		t.Error("same seed gave different output")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds gave the same output")
	}
}

func TestGenerateRealisticRecords(t *testing.T) {
	const n = 2000
	data, planted := generate(t, n, 3, corpus.Options{})
	b := ingest.Parse("corpus", data)
	if len(b.Problems) != 0 || len(b.Records) != n {
		t.Fatalf("got %d records and problems %v, want %d clean records", len(b.Records), b.Problems, n)
	}
	ours := map[string]bool{corpus.ProdAccount: true, corpus.StagingAccount: true, corpus.DevAccount: true}
	reads, roles := 0, 0
	for i, r := range b.Records {
		if !ours[r.Account()] {
			t.Errorf("record %d in account %q, not one of ours", i, r.Account())
		}
		if r.ReadOnly != nil && *r.ReadOnly {
			reads++
			if r.EventName != "AssumeRole" && string(r.ResponseElements) != "null" {
				t.Errorf("read %s has responseElements %s", r.EventName, r.ResponseElements)
			}
		}
		if r.UserIdentity.Type == "AssumedRole" {
			roles++
			if r.UserIdentity.SessionContext == nil || r.ActorARN() == r.UserIdentity.ARN {
				t.Errorf("record %d: assumed role without a session issuer", i)
			}
		}
		if r.EventSource == "" || r.AWSRegion == "" || r.SourceIPAddress == "" || r.UserAgent == "" {
			t.Errorf("record %d lacks source, region, IP or user agent", i)
		}
	}
	if reads < n*8/10 {
		t.Errorf("%d of %d records are reads, want most", reads, n)
	}
	if roles < n/4 || roles > n*3/4 {
		t.Errorf("%d of %d records by assumed roles, want a mix", roles, n)
	}
	if avg := len(data) / n; avg < 1000 || avg > 1500 {
		t.Errorf("average record is %d bytes, want 1000-1500", avg)
	}

	if len(planted) != 5 {
		t.Fatalf("planted %d exposures, want one of each of 5 kinds", len(planted))
	}
	rules := map[string]string{
		"PutBucketPolicy":           corpus.RuleS3PublicPolicy,
		"PutBucketAcl":              corpus.RuleS3PublicACL,
		"ModifyDBSnapshotAttribute": corpus.RuleRDSSnapshotShare,
		"ModifySnapshotAttribute":   corpus.RuleEBSSnapshotShare,
		"StopLogging":               corpus.RuleTrailStopped,
	}
	for _, p := range planted {
		r := b.Records[p.Index]
		if r.EventID != p.EventID || r.EventName != p.Event || rules[p.Event] != p.Rule {
			t.Errorf("planted %+v, but line %d is %s %s", p, p.Index, r.EventName, r.EventID)
		}
		if r.ReadOnly == nil || *r.ReadOnly || r.Failed() {
			t.Errorf("planted %s must be a successful write", p.Event)
		}
		if r.Account() != p.Account || !strings.Contains(string(r.RequestParameters), lastPart(p.Resource)) {
			t.Errorf("planted %s: account %s, request %s; want resource %s in %s", p.Event, r.Account(), r.RequestParameters, p.Resource, p.Account)
		}
	}
	var share struct {
		ValuesToAdd []string `json:"valuesToAdd"`
	}
	for _, p := range planted {
		if p.Event == "ModifyDBSnapshotAttribute" {
			if err := json.Unmarshal(b.Records[p.Index].RequestParameters, &share); err != nil || len(share.ValuesToAdd) != 1 || share.ValuesToAdd[0] != corpus.UnknownAccount {
				t.Errorf("snapshot shared with %v (%v), want the unknown account", share.ValuesToAdd, err)
			}
		}
	}
	// Only the planted events are writes that expose anything.
	for i, r := range b.Records {
		if _, exposing := rules[r.EventName]; exposing && !isPlanted(planted, i) {
			t.Errorf("unplanted %s at %d", r.EventName, i)
		}
	}
}

func TestGeneratePlantedCount(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		planted int
		want    int
	}{
		{"none", 100, -1, 0},
		{"many", 100, 12, 12},
		{"more than events", 3, 10, 3},
		{"empty corpus", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, planted := generate(t, tt.n, 9, corpus.Options{Planted: tt.planted})
			if len(planted) != tt.want {
				t.Errorf("planted %d, want %d", len(planted), tt.want)
			}
			if got := bytes.Count(data, []byte{'\n'}); got != tt.n {
				t.Errorf("%d lines, want %d", got, tt.n)
			}
			seen := map[int]bool{}
			for _, p := range planted {
				if seen[p.Index] || p.Index < 0 || p.Index >= tt.n {
					t.Errorf("bad or repeated index %d", p.Index)
				}
				seen[p.Index] = true
			}
		})
	}
}

func isPlanted(ps []corpus.Planted, i int) bool {
	for _, p := range ps {
		if p.Index == i {
			return true
		}
	}
	return false
}

func lastPart(s string) string { return s[strings.LastIndexAny(s, "/:")+1:] }

// A larger organisation's stream spreads its routine calls over the asked
// number of principals and accounts, still plants the same exposures, and
// stays reproducible.
func TestGenerateCrowd(t *testing.T) {
	var a, b bytes.Buffer
	opts := corpus.Options{Actors: 400, Accounts: 50}
	pa, err := corpus.Generate(&a, 20000, 3, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := corpus.Generate(&b, 20000, 3, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed and options gave different bytes")
	}
	arns, accts := map[string]bool{}, map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(a.Bytes()), []byte("\n")) {
		var ev struct {
			UserIdentity struct {
				ARN       string `json:"arn"`
				AccountID string `json:"accountId"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		arns[ev.UserIdentity.ARN] = true
		accts[ev.UserIdentity.AccountID] = true
	}
	if len(arns) < 300 || len(accts) < 40 {
		t.Errorf("%d principals in %d accounts, want hundreds over dozens", len(arns), len(accts))
	}
	if len(pa) != 5 {
		t.Errorf("planted %d exposures, want one of each of the 5 kinds", len(pa))
	}
}

// TestGenerateDataEvents: with DataEvery, that share of the stream is S3
// object reads a review reads, a few by callers outside the organisation;
// without it the stream is as before.
func TestGenerateDataEvents(t *testing.T) {
	const n = 5000
	data, planted := generate(t, n, 1, corpus.Options{DataEvery: 10})
	b := ingest.Parse("corpus", data)
	if len(b.Problems) != 0 || len(b.Records) != n {
		t.Fatalf("got %d records and problems %v", len(b.Records), b.Problems)
	}
	plantedAt := map[int]bool{}
	for _, p := range planted {
		plantedAt[p.Index] = true
	}
	reads, outside := 0, 0
	for i, r := range b.Records {
		rd, ok := exposure.ReadOf(&r)
		want := i%10 == 9 && !plantedAt[i]
		if ok != want {
			t.Fatalf("record %d (%s %s): a read %v, want %v", i, r.EventSource, r.EventName, ok, want)
		}
		if !ok {
			continue
		}
		reads++
		if rd.Anonymous || rd.Account == corpus.UnknownAccount {
			outside++
		}
		if !strings.HasPrefix(rd.Resource, "arn:aws:s3:::") || rd.Principal == "" {
			t.Errorf("record %d read as %+v", i, rd)
		}
	}
	if reads < n/10-len(planted) || outside == 0 || outside > reads/10 {
		t.Errorf("%d reads, %d from outside; want one event in ten a read, a few of them from outside", reads, outside)
	}
	plain, _ := generate(t, 300, 1, corpus.Options{})
	again, _ := generate(t, 300, 1, corpus.Options{DataEvery: 0})
	if !bytes.Equal(plain, again) {
		t.Error("DataEvery 0 changed the stream")
	}
}
