package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/secops-bot/secops-bot/enrich"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/native"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/org"
	"github.com/secops-bot/secops-bot/store"
)

// changes remembers the changes the pipeline reported.
type changes struct {
	mu  sync.Mutex
	got []finding.ChangeKind
}

func (c *changes) FindingChanged(_ context.Context, _ finding.Finding, ch finding.ChangeKind) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ch)
	return nil
}

func nativeUpdate(t *testing.T, name string) native.Finding {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "ingest", "native", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := native.Decode(b)
	if err != nil || len(fs) != 1 {
		t.Fatalf("decode %s: %v (%d findings)", name, err, len(fs))
	}
	return fs[0]
}

func (e env) ingestNative(t *testing.T, ns ...native.Finding) Stats {
	t.Helper()
	st, err := e.p.IngestStats(context.Background(), ingest.Batch{Source: "test", Native: ns})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The lifecycle of native findings as a responder meets it: one finding
// per native ID, updated in place, resolved and reopened by its detector.
func TestNativeLifecycle(t *testing.T) {
	const (
		gd         = "guardduty-iamuser-malicious-ip.json"
		gdRepeat   = "guardduty-iamuser-malicious-ip-repeat.json"
		gdArchived = "guardduty-iamuser-malicious-ip-archived.json"
		sh         = "securityhub-s3-public-read.json"
		shPassed   = "securityhub-s3-public-read-passed.json"
		aa         = "access-analyzer-bucket-cross-account.json"
		aaResolved = "access-analyzer-bucket-cross-account-resolved.json"
	)
	reopen := func(t *testing.T) native.Finding {
		n := nativeUpdate(t, gdArchived)
		n.Active, n.State, n.EventID = true, "active", "reopen-event"
		n.UpdatedAt = n.UpdatedAt.Add(3600e9)
		return n
	}
	tests := []struct {
		name     string
		updates  func(t *testing.T) [][]native.Finding
		findings int
		status   finding.Status
		count    int
		severity finding.Severity
		changes  []finding.ChangeKind
	}{
		{"a GuardDuty finding opens", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gd)}}
		}, 1, finding.StatusOpen, 1, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated}},
		{"its next occurrences update it in place", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gd)}, {nativeUpdate(t, gdRepeat)}}
		}, 1, finding.StatusOpen, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeRepeated}},
		{"an update delivered twice is applied once", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gd)}, {nativeUpdate(t, gd)}, {nativeUpdate(t, gdRepeat), nativeUpdate(t, gdRepeat)}}
		}, 1, finding.StatusOpen, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeRepeated}},
		{"archiving in GuardDuty resolves it", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gd)}, {nativeUpdate(t, gdArchived)}}
		}, 1, finding.StatusResolved, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeResolved}},
		{"updates in one batch apply in the detector's order", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gdArchived), nativeUpdate(t, gd)}}
		}, 1, finding.StatusResolved, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeResolved}},
		{"an older update delivered late changes nothing", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gdRepeat)}, {nativeUpdate(t, gd)}}
		}, 1, finding.StatusOpen, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated}},
		{"active again after archiving reopens", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gd)}, {nativeUpdate(t, gdArchived)}, {reopen(t)}}
		}, 1, finding.StatusOpen, 3, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeResolved, finding.ChangeReopened}},
		{"a finding archived before the bot heard of it raises nothing", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, gdArchived)}}
		}, 0, "", 0, 0, nil},
		{"a Security Hub control failing opens critical", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, sh)}}
		}, 1, finding.StatusOpen, 1, finding.SeverityCritical, []finding.ChangeKind{finding.ChangeCreated}},
		{"a re-import that changes nothing updates the message only", func(t *testing.T) [][]native.Finding {
			again := nativeUpdate(t, sh)
			again.EventID = "reimport"
			again.UpdatedAt = again.UpdatedAt.Add(12 * 3600e9)
			return [][]native.Finding{{nativeUpdate(t, sh)}, {again}}
		}, 1, finding.StatusOpen, 2, finding.SeverityCritical, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeRefreshed}},
		{"a severity the detector changes is followed", func(t *testing.T) [][]native.Finding {
			lower := nativeUpdate(t, sh)
			lower.EventID, lower.Severity, lower.SourceSeverity = "lowered", finding.SeverityMedium, "MEDIUM"
			lower.UpdatedAt = lower.UpdatedAt.Add(3600e9)
			return [][]native.Finding{{nativeUpdate(t, sh)}, {lower}}
		}, 1, finding.StatusOpen, 2, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeUpdated}},
		{"the control passing resolves it", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, sh)}, {nativeUpdate(t, shPassed)}}
		}, 1, finding.StatusResolved, 2, finding.SeverityCritical, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeResolved}},
		{"an informational finding raises nothing", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, shPassed)}}
		}, 0, "", 0, 0, nil},
		{"Access Analyzer: a bucket shared with an unknown account opens", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, aa)}}
		}, 1, finding.StatusOpen, 1, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated}},
		{"Access Analyzer: a bucket shared with the trusted vendor is low", func(t *testing.T) [][]native.Finding {
			n := nativeUpdate(t, aa)
			n.Targets = []finding.Target{{Account: "777788889999"}}
			return [][]native.Finding{{n}}
		}, 1, finding.StatusOpen, 1, finding.SeverityLow, []finding.ChangeKind{finding.ChangeCreated}},
		{"Access Analyzer: resolved at the source resolves it", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, aa)}, {nativeUpdate(t, aaResolved)}}
		}, 1, finding.StatusResolved, 2, finding.SeverityMedium, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeResolved}},
		{"two detectors on one bucket are two findings", func(t *testing.T) [][]native.Finding {
			return [][]native.Finding{{nativeUpdate(t, sh), nativeUpdate(t, "guardduty-s3-bucket-anonymous-access.json")}}
		}, 2, "", 0, 0, []finding.ChangeKind{finding.ChangeCreated, finding.ChangeCreated}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rec := &changes{}
			e.p.opts.Notifier = rec
			for _, b := range tc.updates(t) {
				e.ingestNative(t, b...)
			}
			fs, err := e.st.ListFindings(context.Background(), store.FindingFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != tc.findings {
				t.Fatalf("%d findings, want %d", len(fs), tc.findings)
			}
			if !slices.Equal(rec.got, tc.changes) {
				t.Errorf("changes = %v, want %v", rec.got, tc.changes)
			}
			if tc.findings != 1 {
				return
			}
			f := fs[0]
			if f.Status != tc.status || f.Count != tc.count {
				t.Errorf("status %s count %d, want %s %d", f.Status, f.Count, tc.status, tc.count)
			}
			if f.Severity != tc.severity {
				t.Errorf("severity %s, want %s", f.Severity, tc.severity)
			}
			if f.Native == nil || f.Native.ID == "" || f.Native.URL == "" {
				t.Errorf("the finding does not say which native finding it mirrors: %+v", f.Native)
			}
		})
	}
}

// A native finding is owned and routed by its account, carries the actor
// and resource its detector named, and resolves with who closed it.
func TestNativeFindingContent(t *testing.T) {
	e := newEnv(t)
	e.ingestNative(t, nativeUpdate(t, "guardduty-iamuser-malicious-ip.json"))
	f := e.only(t)
	if f.Team != "payments" || f.AccountName != "payments-prod" || f.Environment != "production" {
		t.Errorf("owner: team %q account %q env %q", f.Team, f.AccountName, f.Environment)
	}
	if !slices.Contains(f.Routes, "jira:PAY") {
		t.Errorf("routes = %v, want the owning team's ticket", f.Routes)
	}
	if f.Actor.ARN != "arn:aws:iam::111122223333:user/BackupManager" || f.Actor.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" {
		t.Errorf("actor = %+v", f.Actor)
	}
	if f.Resource.Type != awsarn.TypeIAMUser || f.Resource.ID != "BackupManager" {
		t.Errorf("resource = %+v", f.Resource)
	}
	if f.Event.Name != "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom" || f.Event.SourceIP != "203.0.113.77" {
		t.Errorf("event = %+v", f.Event)
	}
	if f.Title == "" || !strings.Contains(f.Detail, "custom threat list") {
		t.Errorf("title %q detail %q", f.Title, f.Detail)
	}

	e.ingestNative(t, nativeUpdate(t, "guardduty-iamuser-malicious-ip-archived.json"))
	f = e.only(t)
	if f.ResolvedBy != native.ProductGuardDuty || !strings.Contains(f.ResolveReason, "archived") || f.OpenFor <= 0 {
		t.Errorf("resolved by %q (%q) after %v", f.ResolvedBy, f.ResolveReason, f.OpenFor)
	}
}

// High and critical findings go to Slack as every finding does; a refresh
// updates the messages without a thread reply.
func TestNativeDeliveries(t *testing.T) {
	e := newEnv(t)
	e.ingestNative(t, nativeUpdate(t, "securityhub-s3-public-read.json"))
	again := nativeUpdate(t, "securityhub-s3-public-read.json")
	again.EventID = "reimport"
	again.UpdatedAt = again.UpdatedAt.Add(3600e9)
	e.ingestNative(t, again)
	var syncs, replies int
	for _, k := range e.outboxKeys(t) {
		switch {
		case strings.HasPrefix(k, "slack.sync"):
			syncs++
		case strings.HasPrefix(k, "slack.reply"):
			replies++
		}
	}
	if syncs == 0 || replies != 0 {
		t.Errorf("%d message syncs and %d replies, want syncs and no reply", syncs, replies)
	}
}

// rules.<native>.enabled: false drops that detector's findings.
func TestNativeRuleDisabled(t *testing.T) {
	e := newEnv(t)
	e.p.opts.DisabledRules = map[string]bool{native.RuleGuardDuty: true}
	e.ingestNative(t, nativeUpdate(t, "guardduty-iamuser-malicious-ip.json"), nativeUpdate(t, "securityhub-s3-public-read.json"))
	if f := e.only(t); f.Rule != native.RuleSecurityHub {
		t.Errorf("finding of rule %s, want only Security Hub's", f.Rule)
	}
}

// An actor the organisation knows as a contractor is flagged on a native
// finding, and stays flagged through its updates.
func TestNativeContractorActor(t *testing.T) {
	e := newEnv(t)
	dir, err := org.New(org.Options{
		SecOps:      org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00"},
		Contractors: []string{"arn:aws:iam::*:role/contractor-*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.p.opts.Directory = dir
	e.p.opts.Enricher = enrich.New(dir, e.st, enrich.Options{Baseline: enrich.DefaultBaseline()})
	first := nativeUpdate(t, "guardduty-s3-bucket-anonymous-access.json")
	e.ingestNative(t, first)
	again := first
	again.EventID, again.Count, again.UpdatedAt = "again", 2, first.UpdatedAt.Add(3600e9)
	e.ingestNative(t, again)
	if f := e.only(t); !f.Actor.Contractor || f.Count != 2 {
		t.Errorf("actor %+v (count %d), want the contractor flagged after the update", f.Actor, f.Count)
	}
}
