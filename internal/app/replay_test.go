package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/ingest/corpus"
	"github.com/secops-bot/secops-bot/internal/config"
)

func exampleConfig(t *testing.T) config.Config {
	t.Helper()
	l, err := config.Load(filepath.Join("..", "..", "config.example.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return l.Config
}

type replayLine struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Resource struct {
		Type, ID, ARN string
	} `json:"resource"`
	Actor struct {
		ARN        string `json:"arn"`
		Name       string `json:"name"`
		Contractor bool   `json:"contractor"`
	} `json:"actor"`
	Event struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"event"`
	Team     string   `json:"team"`
	OffHours bool     `json:"off_hours"`
	Routes   []string `json:"routes"`
	Signals  []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"signals"`
	Targets []struct {
		Account string `json:"account"`
		Class   string `json:"class"`
	} `json:"targets"`
	ResolvedBy string `json:"resolved_by"`
	History    []struct {
		EventName string `json:"event_name"`
		Failed    bool   `json:"failed"`
	} `json:"history"`
	OpenForSecs *float64 `json:"open_for_seconds"`
}

func replayJSON(t *testing.T, cfg config.Config, includeSuppressed bool, paths ...string) ([]replayLine, ReplaySummary) {
	t.Helper()
	var out bytes.Buffer
	sum, err := Replay(context.Background(), ReplayOptions{
		Config: cfg, Paths: paths, Format: "json", IncludeSuppressed: includeSuppressed, Out: &out, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []replayLine
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var r replayLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, r)
	}
	return lines, sum
}

func TestReplayStoryOne(t *testing.T) {
	t.Parallel()
	lines, _ := replayJSON(t, exampleConfig(t), true, filepath.Join("..", "..", "examples", "story-one"))
	type key struct{ rule, resource, status string }
	got := map[key]replayLine{}
	for _, l := range lines {
		got[key{l.Rule, l.Resource.ID, l.Status}] = l
	}
	public, ok := got[key{"s3-bucket-public", "payments-exports", "open"}]
	if !ok {
		t.Fatalf("no open s3-bucket-public finding for payments-exports in %+v", lines)
	}
	if !public.Actor.Contractor || public.Actor.ARN != "arn:aws:iam::111122223333:role/contractor-alice" {
		t.Errorf("actor = %+v, want the contractor-alice role flagged as contractor", public.Actor)
	}
	want := []string{"slack:#secops", "slack:#team-payments", "jira:PAY"}
	if strings.Join(public.Routes, ",") != strings.Join(want, ",") {
		t.Errorf("routes = %v, want %v", public.Routes, want)
	}
	if len(public.History) != 2 || public.History[0].EventName != "DeleteBucketPublicAccessBlock" || !public.History[1].Failed {
		t.Errorf("history = %+v, want the removed public access block and the failed first attempt", public.History)
	}
	resolved, ok := got[key{"s3-bucket-public", "payments-exports", "resolved"}]
	if !ok {
		t.Fatalf("the DeleteBucketPolicy did not resolve the finding: %+v", lines)
	}
	if resolved.ID != public.ID || resolved.OpenForSecs == nil || *resolved.OpenForSecs != 17*60+33 {
		t.Errorf("resolved = id %s open_for %v, want id %s open for 17m33s", resolved.ID, resolved.OpenForSecs, public.ID)
	}
	if !strings.Contains(resolved.ResolvedBy, "payments-admin") {
		t.Errorf("resolved_by = %q, want the payments-admin role", resolved.ResolvedBy)
	}
	if _, ok := got[key{"s3-bucket-public", "payments-public-assets", "suppressed"}]; !ok {
		t.Errorf("the expected public bucket was not suppressed: %+v", lines)
	}
	pab, ok := got[key{"s3-public-access-block-removed", "payments-exports", "open"}]
	if !ok {
		t.Fatalf("no public-access-block finding: %+v", lines)
	}
	if pab.Severity != "medium" || strings.Join(pab.Routes, ",") != "jira:PAY" {
		t.Errorf("public access block finding: severity %s routes %v, want medium and a ticket only", pab.Severity, pab.Routes)
	}
	for _, l := range lines {
		if l.Event.Name == "PutBucketPolicy" && l.Status == "open" && l.Event.ID == "" {
			t.Errorf("finding without event id: %+v", l)
		}
	}
	// The AccessDenied PutBucketPolicy must not be a finding of its own.
	opened := 0
	for _, l := range lines {
		if l.Rule == "s3-bucket-public" && l.Resource.ID == "payments-exports" && l.Status == "open" {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("payments-exports opened %d times, want once (the failed call is not a finding)", opened)
	}
}

func TestReplayStoryTwo(t *testing.T) {
	t.Parallel()
	lines, sum := replayJSON(t, exampleConfig(t), false, filepath.Join("..", "..", "examples", "story-two"))
	if len(lines) != 1 {
		t.Fatalf("got %d findings, want exactly the unknown share (the weekly share with the trusted vendor is not a finding): %+v", len(lines), lines)
	}
	f := lines[0]
	if f.Rule != "snapshot-shared-external" || f.Severity != "critical" || f.Status != "open" {
		t.Fatalf("finding = %s %s %s", f.Rule, f.Severity, f.Status)
	}
	if len(f.Targets) != 1 || f.Targets[0].Account != "444455556666" || f.Targets[0].Class != "unknown" {
		t.Errorf("targets = %+v, want 444455556666 unknown", f.Targets)
	}
	if f.Actor.Name != "BackupManager" || !f.OffHours || f.Team != "payments" {
		t.Errorf("actor %q off_hours %v team %q", f.Actor.Name, f.OffHours, f.Team)
	}
	signals := map[string]string{}
	for _, s := range f.Signals {
		signals[s.Name] = s.Reason
	}
	for _, name := range []string{"unusual-hour", "new-source-ip", "new-user-agent"} {
		if signals[name] == "" {
			t.Errorf("signal %s missing; got %v", name, signals)
		}
	}
	if _, ok := signals["new-api"]; ok {
		t.Errorf("new-api raised although BackupManager shares snapshots every week")
	}
	if sum.Records < 400 {
		t.Errorf("replayed %d records, want the whole history", sum.Records)
	}
}

func TestReplayMalformedInputIsSetAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mixed.jsonl"), `{"eventID":"a1","eventName":"DescribeInstances","eventTime":"2026-11-27T01:00:00Z","eventSource":"ec2.amazonaws.com","awsRegion":"eu-west-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x","accountId":"111122223333"}}
{"eventID": "broken
{"eventID":"a2","eventName":"ModifyDBSnapshotAttribute","eventTime":"2026-11-27T01:01:00Z","eventSource":"rds.amazonaws.com","awsRegion":"eu-west-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x","accountId":"111122223333"},"requestParameters":{"dBSnapshotIdentifier":"s1","attributeName":"restore","valuesToAdd":["999988887777"]}}
`)
	lines, sum := replayJSON(t, exampleConfig(t), false, dir)
	if sum.Quarantined != 1 {
		t.Errorf("quarantined = %d, want 1", sum.Quarantined)
	}
	if len(lines) != 1 || lines[0].Rule != "snapshot-shared-external" {
		t.Errorf("the event after the malformed line was lost: %+v", lines)
	}
}

func TestReplayBlocks(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := Replay(context.Background(), ReplayOptions{
		Config: exampleConfig(t), Paths: []string{filepath.Join("..", "..", "examples", "story-two")},
		Format: "blocks", Out: &out, Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(out.Bytes(), &msg); err != nil {
		t.Fatalf("blocks output %q: %v", out.String(), err)
	}
	if !strings.Contains(msg.Text, "CRITICAL") || len(msg.Blocks) < 3 {
		t.Fatalf("blocks output: text %q with %d blocks", msg.Text, len(msg.Blocks))
	}
	// Replayed history is detected at its own time: the preview must not
	// measure a detection delay from the day the replay runs.
	if strings.Contains(out.String(), "after the event") {
		t.Errorf("the preview of a replayed event reports a detection delay: %s", out.String())
	}
}

// A JSON Lines file larger than the reader's block is handed over in
// several batches; the summary still counts files, not blocks.
func TestReplayCountsFilesNotBlocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var big bytes.Buffer
	if _, err := corpus.Generate(&big, 14000, 7, corpus.Options{}); err != nil {
		t.Fatal(err)
	}
	if big.Len() <= 8<<20 {
		t.Fatalf("corpus of %d bytes is not larger than one 8 MiB block", big.Len())
	}
	if err := os.WriteFile(filepath.Join(dir, "big.jsonl"), big.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, sum := replayJSON(t, config.Default(), false, filepath.Join(dir, "big.jsonl"), filepath.Join("..", "..", "examples", "story-one"))
	if sum.Files != 2 {
		t.Errorf("summary counts %d files, want 2", sum.Files)
	}
}

// The Sigma catalogue selected in the configuration raises its findings in
// replay like the built-in rules, with the rule's level as severity.
func TestReplaySigmaCatalogue(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	cfg.Sigma.Catalogue = []string{"all"}
	dir := t.TempDir()
	for _, name := range []string{"console-login-root.json", "create-access-key-for-other-user.json", "console-login-iam-user-mfa.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "detect", "sigma", "catalogue", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(b))
	}
	lines, _ := replayJSON(t, cfg, false, dir)
	rules := map[string]string{}
	for _, l := range lines {
		rules[l.Rule] = l.Severity
	}
	// The root sign-in without MFA is both root use and a sign-in without
	// MFA; the IAM user's sign-in with MFA is neither.
	want := map[string]string{
		"31767720-670c-4f19-a2e9-830088fbd793": "high",   // root-account-use
		"e7c4f3b4-d16f-48b0-b870-eaa8404c49d7": "medium", // console-login-without-mfa
		"40f438db-6031-4018-86fd-00661dad87fa": "medium", // access-key-for-another-user
	}
	if !maps.Equal(rules, want) {
		t.Errorf("findings by rule %v, want %v", rules, want)
	}
}

// Sigma rules the evaluator cannot run stop the replay, naming the file
// and the construct, rather than being skipped.
func TestReplaySigmaProblemsStop(t *testing.T) {
	t.Parallel()
	cfg := exampleConfig(t)
	rules := t.TempDir()
	writeFile(t, filepath.Join(rules, "count.yml"), "title: Too many calls\nid: 6f1d9a3c-1111-4c2b-9a3c-aaaaaaaaaaaa\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName: GetObject\n  condition: selection | count() > 10\nlevel: low\n")
	cfg.Sigma.Dirs = []string{rules}
	_, err := Replay(context.Background(), ReplayOptions{Config: cfg, Paths: []string{filepath.Join("..", "..", "examples", "story-two")}, Format: "json", Out: io.Discard, Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "count.yml") || !strings.Contains(err.Error(), "cannot run") {
		t.Fatalf("replay with an aggregation rule: %v", err)
	}
	if ps := cfg.Validate(); len(ps) == 0 || !strings.Contains(fmt.Sprint(ps), "sigma.dirs") {
		t.Errorf("check-config does not report the rule: %v", ps)
	}
}
