package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/detect"
	"github.com/secops-bot/secops-bot/detect/sigma/catalogue"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// newSigmaEnv is newEnv with the catalogue's Sigma rules on.
func newSigmaEnv(t *testing.T) env {
	t.Helper()
	e := newEnv(t)
	rules, err := catalogue.Select([]string{"all"})
	if err != nil {
		t.Fatal(err)
	}
	set, problems := detect.CompileSigma(rules)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	e.p.opts.Detector = detect.NewEngine(nil, detect.WithSigma(set))
	return e
}

func rootSignIn(id string, minute int) cloudtrail.Record {
	return cloudtrail.Record{
		EventID: id, EventTime: t0.Add(time.Duration(minute) * time.Minute), EventSource: "signin.amazonaws.com",
		EventName: "ConsoleLogin", EventType: "AwsConsoleSignIn", AWSRegion: "us-east-1", SourceIPAddress: "192.0.2.44",
		RecipientAccountID: "111122223333", ResponseElements: json.RawMessage(`{"ConsoleLogin":"Success"}`),
		AdditionalData: json.RawMessage(`{"MFAUsed":"Yes"}`),
		UserIdentity:   cloudtrail.UserIdentity{Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root", AccountID: "111122223333"},
	}
}

func keyEvent(id string, minute int, name string) cloudtrail.Record {
	return cloudtrail.Record{
		EventID: id, EventTime: t0.Add(time.Duration(minute) * time.Minute), EventSource: "kms.amazonaws.com",
		EventName: name, EventType: "AwsApiCall", AWSRegion: "eu-west-1", RecipientAccountID: "111122223333",
		RequestParameters: json.RawMessage(`{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","pendingWindowInDays":7}`),
		UserIdentity:      cloudtrail.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/mallory", AccountID: "111122223333", UserName: "mallory"},
	}
}

// TestSigmaFindings: a Sigma match is a finding like any other (enriched,
// routed, delivered), keyed on the resource or else the actor, repeated
// while open and never resolved by a later event.
func TestSigmaFindings(t *testing.T) {
	e := newSigmaEnv(t)
	e.ingest(t, rootSignIn("r1", 1))
	e.ingest(t, rootSignIn("r2", 9))
	f := e.only(t)
	if f.Rule != "31767720-670c-4f19-a2e9-830088fbd793" || f.Title != "Root user signed in or made a call" || f.Severity != finding.SeverityHigh ||
		f.Status != finding.StatusOpen || f.Count != 2 {
		t.Fatalf("finding %s %q %s %s count %d", f.Rule, f.Title, f.Severity, f.Status, f.Count)
	}
	if f.Key != "31767720-670c-4f19-a2e9-830088fbd793|111122223333|us-east-1|arn:aws:iam::111122223333:root" || f.Resource != (finding.Resource{}) {
		t.Errorf("key %q resource %+v, want keyed on the root user with no resource", f.Key, f.Resource)
	}
	if f.Actor.ARN != "arn:aws:iam::111122223333:root" || f.Team != "payments" || fmt.Sprint(f.Routes) != "[slack:#secops slack:#team-payments jira:PAY]" {
		t.Errorf("actor %q team %q routes %v: not enriched and routed like built-in findings", f.Actor.ARN, f.Team, f.Routes)
	}
	if n := f.RuleNotes; n == nil || n.Source != "sigma" || n.File != "catalogue/root-account-use.yml" || len(n.FalsePositives) != 1 || len(n.References) != 2 ||
		f.Detail == "" {
		t.Errorf("rule notes %+v, detail %q", n, f.Detail)
	}
	// Posted when raised, updated with a reply in the thread when seen
	// again.
	var want []string
	for _, ch := range []string{"#secops", "#team-payments"} {
		want = append(want, fmt.Sprintf("slack.sync|%s|%s|v1", f.ID, ch))
	}
	for _, ch := range []string{"#secops", "#team-payments"} {
		want = append(want, fmt.Sprintf("slack.sync|%s|%s|v2", f.ID, ch), fmt.Sprintf("slack.reply|%s|%s|v2", f.ID, ch))
	}
	if got := e.outboxKeys(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outbox = %v\nwant     %v", got, want)
	}
}

func TestSigmaFindingsKeyedOnResourceAndNotResolved(t *testing.T) {
	e := newSigmaEnv(t)
	e.ingest(t, keyEvent("k1", 1, "ScheduleKeyDeletion"))
	e.ingest(t, keyEvent("k2", 5, "CancelKeyDeletion"))
	f := e.only(t)
	if f.Resource.Type != awsarn.TypeKMSKey || f.Resource.ID != "1234abcd-12ab-34cd-56ef-1234567890ab" ||
		f.Key != "5508b63f-3026-41b3-a928-53165de57a31|111122223333|eu-west-1|arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" {
		t.Errorf("resource %+v key %q", f.Resource, f.Key)
	}
	if f.Status != finding.StatusOpen {
		t.Errorf("status %s: a later event resolved a Sigma finding", f.Status)
	}
	evs, err := e.st.FindingHistory(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Errorf("finding history %+v, want only its creation", evs)
	}
}
