package contain

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/respond/containment"
)

const (
	unknownAcct = "444455556666"
	partnerAcct = "777788889999"
	keyID       = "0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
)

// keyPolicy lets the owner manage the key, the unknown account use it
// through a statement of its own, and both it and a partner through a
// shared one.
const keyPolicy = `{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[` +
	`{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + payments + `:root"},"Action":"kms:*","Resource":"*"},` +
	`{"Sid":"AllowCopyByPartner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + unknownAcct + `:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"},` +
	`{"Sid":"AllowUseOfTheKey","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::` + partnerAcct + `:role/dr","arn:aws:iam::` + unknownAcct + `:role/restore"]},"Action":"kms:Decrypt","Resource":"*"}]}`

// withKMS adds the KMS fake, with a key the unknown account may use, and
// lets the read role read keys.
func withKMS(t *testing.T, f *fakes) (*awsfake.KMS, containment.Target) {
	t.Helper()
	k := awsfake.NewKMS(f.clk)
	f.srv.Handle("kms", k)
	reads := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","iam:Get*","iam:List*","rds:Describe*","ec2:Describe*","kms:Get*","kms:List*"],"Resource":"*"}]}`
	if err := f.srv.Identities().SetPolicies("arn:aws:iam::"+payments+":role/"+readRole, reads); err != nil {
		t.Fatal(err)
	}
	k.AddKey(payments, awsfake.KMSKey{ID: keyID, Region: "eu-central-1", Policy: keyPolicy, Grants: []awsfake.KMSGrant{
		{ID: "grant-unknown-0001", GranteePrincipal: "arn:aws:iam::" + unknownAcct + ":role/restore", Operations: []string{"Decrypt", "CreateGrant"}},
		{ID: "grant-rds-0002", GranteePrincipal: "rds.eu-central-1.amazonaws.com", Operations: []string{"Decrypt"}},
	}})
	arn := awsarn.KMSKey(awsarn.PartitionAWS, "eu-central-1", payments, keyID).String()
	return k, containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeKMSKey, ID: keyID, ARN: arn, Accounts: []string{unknownAcct}}
}

// TestKeyAction: the accounts come off the key policy and lose their
// grants, in a write session scoped to the key; a second run changes
// nothing; the session is refused on another key; undo puts both back.
func TestKeyAction(t *testing.T) {
	ctx := context.Background()
	f := newFakes(t)
	k, target := withKMS(t, f)
	p := f.provider(corp)

	plan, err := p.Preview(ctx, containment.KMSRemoveAccount, target)
	if err != nil {
		t.Fatal(err)
	}
	var apis []string
	for _, c := range plan.Calls {
		apis = append(apis, c.API)
	}
	if want := []string{"kms:PutKeyPolicy", "kms:RevokeGrant"}; plan.NoOp || !slices.Equal(apis, want) {
		t.Fatalf("preview calls %v (no-op %v), want %v", apis, plan.NoOp, want)
	}
	notes := strings.Join(plan.Notes, "\n")
	for _, want := range []string{`removes statement "AllowCopyByPartner"`, `removes arn:aws:iam::444455556666:role/restore from statement "AllowUseOfTheKey"`, "Revokes 1 grant to 444455556666"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", plan.Notes, want)
		}
	}
	if strings.Contains(plan.Calls[0].Document, unknownAcct) || !strings.Contains(plan.Calls[0].Document, partnerAcct) {
		t.Errorf("new policy:\n%s\nwant the partner kept and the unknown account gone", plan.Calls[0].Document)
	}

	rec := containment.Record{ID: "C-TEST", Action: containment.KMSRemoveAccount, Target: target, Plan: plan, RanBy: "U0RESPONDER"}
	out, err := p.Apply(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := k.Key(payments, "eu-central-1", keyID)
	if !out.Changed || strings.Contains(key.Policy, unknownAcct) || len(key.Grants) != 1 || key.Grants[0].ID != "grant-rds-0002" {
		t.Fatalf("after the run: changed %v, policy %s, grants %+v", out.Changed, key.Policy, key.Grants)
	}
	if !strings.Contains(out.Summary, "no longer lets 444455556666 use key") {
		t.Errorf("summary %q", out.Summary)
	}
	f.checkWriteSession(t, target, "U0RESPONDER", apis)

	// The session cannot change another key of the account.
	s, _ := f.lastWriteSession()
	cfg := f.base()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(s.AccessKeyID, "secret-"+s.AccessKeyID, "token-"+s.AccessKeyID)
	k.AddKey(payments, awsfake.KMSKey{ID: "twin", Region: "eu-central-1", Policy: keyPolicy})
	twin := target
	twin.ID, twin.ARN = "twin", awsarn.KMSKey(awsarn.PartitionAWS, "eu-central-1", payments, "twin").String()
	replay := New(replaySource{f.clients, cfg}, corp, f.clk, Options{})
	twinPlan, err := replay.Preview(ctx, containment.KMSRemoveAccount, twin)
	if err != nil {
		t.Fatal(err)
	}
	_, err = replay.Apply(ctx, containment.Record{ID: "C-TWIN", Action: containment.KMSRemoveAccount, Target: twin, Plan: twinPlan, RanBy: "U0MALLORY"})
	var pe *containment.ProviderError
	if !errors.As(err, &pe) || pe.Code != "AccessDeniedException" {
		t.Errorf("the session used on another key: %v, want AWS to refuse it", err)
	}
	if tk, _ := k.Key(payments, "eu-central-1", "twin"); tk.Policy != keyPolicy {
		t.Errorf("the other key changed: %s", tk.Policy)
	}

	again, err := p.Apply(ctx, rec)
	if err != nil || again.Changed || len(again.Calls) != 0 {
		t.Errorf("second run changed=%v calls=%v (%v); running twice must change nothing", again.Changed, again.Calls, err)
	}

	rec.State, rec.Outcome = containment.StateApplied, &out
	undo, err := p.Undo(ctx, rec, "U0ADMIN", "")
	if err != nil {
		t.Fatal(err)
	}
	key, _ = k.Key(payments, "eu-central-1", keyID)
	if !sameJSON(key.Policy, keyPolicy) {
		t.Errorf("policy after undo:\n%s\nwant as before:\n%s", key.Policy, keyPolicy)
	}
	var regranted bool
	for _, g := range key.Grants {
		regranted = regranted || g.GranteePrincipal == "arn:aws:iam::"+unknownAcct+":role/restore" && slices.Equal(g.Operations, []string{"Decrypt", "CreateGrant"})
	}
	if !regranted || len(key.Grants) != 2 {
		t.Errorf("grants after undo %+v, want the revoked one re-created", key.Grants)
	}
	var undoAPIs []string
	for _, c := range undo.Calls {
		undoAPIs = append(undoAPIs, c.API)
	}
	f.checkWriteSession(t, target, "U0ADMIN", undoAPIs)
}

// TestKeyUndoKeepsLaterChanges: a statement the owner added after the run
// stays when the removed accounts are put back.
func TestKeyUndoKeepsLaterChanges(t *testing.T) {
	ctx := context.Background()
	f := newFakes(t)
	k, target := withKMS(t, f)
	p := f.provider(corp)
	plan, err := p.Preview(ctx, containment.KMSRemoveAccount, target)
	if err != nil {
		t.Fatal(err)
	}
	rec := containment.Record{ID: "C-TEST", Action: containment.KMSRemoveAccount, Target: target, Plan: plan, RanBy: "U0RESPONDER"}
	out, err := p.Apply(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Outcome = containment.StateApplied, &out
	key, _ := k.Key(payments, "eu-central-1", keyID)
	later := strings.Replace(key.Policy, `"Statement":[`, `"Statement":[{"Sid":"OwnerAudit","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+payments+`:role/audit"},"Action":"kms:DescribeKey","Resource":"*"},`, 1)
	key.Policy = later
	k.AddKey(payments, key)

	_, err = p.Undo(ctx, rec, "U0ADMIN", "")
	var drift *containment.DriftError
	if !errors.As(err, &drift) || !reflect.DeepEqual(drift.Plan.Changes, []string{"the key policy changed after the run"}) {
		t.Fatalf("undo after a later change: %v, want a review of it", err)
	}
	if _, err := p.Undo(ctx, rec, "U0ADMIN", drift.Plan.State); err != nil {
		t.Fatal(err)
	}
	key, _ = k.Key(payments, "eu-central-1", keyID)
	for _, want := range []string{`"OwnerAudit"`, `"AllowCopyByPartner"`, "arn:aws:iam::" + unknownAcct + ":role/restore", "arn:aws:iam::" + partnerAcct + ":role/dr"} {
		if !strings.Contains(key.Policy, want) {
			t.Errorf("policy after undo lacks %s:\n%s", want, key.Policy)
		}
	}
}

// TestKeyActionNothingToRemove: a key the accounts may not use is left
// alone.
func TestKeyActionNothingToRemove(t *testing.T) {
	f := newFakes(t)
	_, target := withKMS(t, f)
	target.Accounts = []string{"123123123123"}
	plan, err := f.provider(corp).Preview(context.Background(), containment.KMSRemoveAccount, target)
	if err != nil || !plan.NoOp || len(plan.Calls) != 0 {
		t.Errorf("plan = %+v, %v; want nothing to do", plan, err)
	}
}
