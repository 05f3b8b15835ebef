package contain

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/respond/containment"
)

const (
	payments = "111122223333"
	other    = "999988887777"
)

// fakes is the AWS fakes behind one server. The bot reaches each account
// as awsclient does: its own key assumes the account's read-only member
// role to read, and the write role, with a session policy, to change.
type fakes struct {
	srv     *awsfake.Server
	sts     *awsfake.STS
	s3      *awsfake.S3
	iam     *awsfake.IAM
	rds     *awsfake.RDS
	ec2     *awsfake.EC2
	clk     *clock.Fake
	clients *awsclient.Clients
}

// Roles of the bot in every account, and what each may do: the member
// role reads, the write role may make any change of the catalogue, on any
// resource, as deployed; only the session policy narrows it.
const (
	readRole  = "secops-bot-member"
	writeRole = "secops-bot-member-write"
)

func newFakes(t *testing.T) *fakes {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 27, 3, 20, 0, 0, time.UTC))
	f := &fakes{srv: awsfake.New(), s3: awsfake.NewS3(), iam: awsfake.NewIAM(clk), rds: awsfake.NewRDS(clk), ec2: awsfake.NewEC2(clk), clk: clk}
	t.Cleanup(f.srv.Close)
	f.sts = awsfake.NewSTS(f.srv.Identities(), clk)
	f.srv.Handle("sts", f.sts)
	f.srv.Handle("s3", f.s3)
	f.srv.Handle("iam", f.iam)
	f.srv.Handle("rds", f.rds)
	f.srv.Handle("ec2", f.ec2)
	f.srv.Identities().Add("AKIDBOTHOME", "arn:aws:iam::"+home+":role/secops-bot")
	reads := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","iam:Get*","iam:List*","rds:Describe*","ec2:Describe*"],"Resource":"*"}]}`
	writes, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": New(nil, corp, nil, Options{}).RequiredPermissions(), "Resource": "*"}}})
	for _, acct := range []string{payments, other} {
		if err := f.srv.Identities().SetPolicies("arn:aws:iam::"+acct+":role/"+readRole, reads); err != nil {
			t.Fatal(err)
		}
		if err := f.srv.Identities().SetPolicies("arn:aws:iam::"+acct+":role/"+writeRole, string(writes)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	f.clients, err = awsclient.New(context.Background(), f.base(), awsclient.Options{MemberRoleName: readRole, MemberWriteRoleName: writeRole, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// home is the bot's own account.
const home = "123456789012"

func (f *fakes) base() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBOTHOME", "secret", ""),
		BaseEndpoint: aws.String(f.srv.URL()),
		HTTPClient:   f.srv.HTTPClient(),
		// The SDK's retries without their backoff, to keep tests fast.
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func (f *fakes) provider(cfg containment.Config) *Provider {
	return New(f.clients, cfg, f.clk, Options{S3PathStyle: true})
}

var corp = containment.Config{CorporateCIDRs: []string{"198.51.100.0/24", "2001:db8::/32"}}

const publicPolicy = `{"Version":"2012-10-17","Statement":[` +
	`{"Sid":"AnalyticsRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:role/analytics-reader"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-exports/*"},` +
	`{"Sid":"ShareWithVendor","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-exports/*"}]}`

// TestActions runs every action through preview, run, a second run, and
// undo against the fakes, checking the state AWS would hold after each.
func TestActions(t *testing.T) {
	bucket := containment.Target{AccountID: payments, Region: "eu-west-1", Type: awsarn.TypeS3Bucket, ID: "acme-exports", ARN: "arn:aws:s3:::acme-exports"}
	tests := []struct {
		name    string
		action  string
		target  containment.Target
		setup   func(f *fakes)
		calls   []string // the preview's APIs
		applied func(t *testing.T, f *fakes)
		undone  func(t *testing.T, f *fakes)
	}{
		{
			name: "block public access", action: containment.S3BlockPublicAccess, target: bucket,
			setup: func(f *fakes) {
				f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy,
					PublicAccessBlock: &awsfake.S3PublicAccessBlock{BlockPublicAcls: true}})
			},
			calls: []string{"s3:PutPublicAccessBlock"},
			applied: func(t *testing.T, f *fakes) {
				b, _ := f.s3.Bucket("acme-exports")
				want := awsfake.S3PublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}
				if b.PublicAccessBlock == nil || *b.PublicAccessBlock != want {
					t.Errorf("public access block = %+v, want all four on", b.PublicAccessBlock)
				}
				if b.Policy != publicPolicy {
					t.Error("the policy changed; it must stay as evidence")
				}
			},
			undone: func(t *testing.T, f *fakes) {
				b, _ := f.s3.Bucket("acme-exports")
				if b.PublicAccessBlock == nil || *b.PublicAccessBlock != (awsfake.S3PublicAccessBlock{BlockPublicAcls: true}) {
					t.Errorf("public access block after undo = %+v, want only BlockPublicAcls", b.PublicAccessBlock)
				}
			},
		},
		{
			name: "block public access where none was set", action: containment.S3BlockPublicAccess, target: bucket,
			setup: func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports"}) },
			calls: []string{"s3:PutPublicAccessBlock"},
			applied: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); b.PublicAccessBlock == nil {
					t.Error("no public access block after the run")
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); b.PublicAccessBlock != nil {
					t.Errorf("public access block after undo = %+v, want none", b.PublicAccessBlock)
				}
			},
		},
		{
			name: "remove public statements", action: containment.S3RemovePublicStatements, target: bucket,
			setup: func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			calls: []string{"s3:PutBucketPolicy"},
			applied: func(t *testing.T, f *fakes) {
				b, _ := f.s3.Bucket("acme-exports")
				if strings.Contains(b.Policy, "ShareWithVendor") || !strings.Contains(b.Policy, "AnalyticsRead") {
					t.Errorf("policy after the run = %s, want only AnalyticsRead", b.Policy)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); !sameJSON(b.Policy, publicPolicy) {
					t.Errorf("policy after undo = %s, want the saved one", b.Policy)
				}
			},
		},
		{
			name: "unshare rds snapshot", action: containment.SnapshotUnshare,
			target: containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeRDSSnapshot, ID: "prod-customers-2026-11-26", Accounts: []string{"444455556666"}},
			setup: func(f *fakes) {
				f.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "prod-customers-2026-11-26", Region: "eu-central-1", SharedWith: []string{"555566667777", "444455556666"}})
			},
			calls: []string{"rds:ModifyDBSnapshotAttribute"},
			applied: func(t *testing.T, f *fakes) {
				s, _ := f.rds.Snapshot(payments, false, "prod-customers-2026-11-26")
				if !reflect.DeepEqual(s.SharedWith, []string{"555566667777"}) {
					t.Errorf("shared with %v, want only the known account 555566667777", s.SharedWith)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				s, _ := f.rds.Snapshot(payments, false, "prod-customers-2026-11-26")
				if len(s.SharedWith) != 2 {
					t.Errorf("shared with %v after undo, want both accounts again", s.SharedWith)
				}
			},
		},
		{
			name: "unshare rds cluster snapshot from everyone", action: containment.SnapshotUnshare,
			target: containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeRDSClusterSnapshot, ID: "orders-cluster-final"},
			setup: func(f *fakes) {
				f.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "orders-cluster-final", Cluster: true, Region: "eu-central-1", SharedWith: []string{"all", "444455556666"}})
			},
			calls: []string{"rds:ModifyDBClusterSnapshotAttribute"},
			applied: func(t *testing.T, f *fakes) {
				if s, _ := f.rds.Snapshot(payments, true, "orders-cluster-final"); len(s.SharedWith) != 0 {
					t.Errorf("shared with %v, want nobody", s.SharedWith)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if s, _ := f.rds.Snapshot(payments, true, "orders-cluster-final"); len(s.SharedWith) != 2 {
					t.Errorf("shared with %v after undo, want all and 444455556666", s.SharedWith)
				}
			},
		},
		{
			name: "unshare ebs snapshot", action: containment.SnapshotUnshare,
			target: containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeEC2Snapshot, ID: "snap-0123456789abcdef0", Accounts: []string{"all"}},
			setup: func(f *fakes) {
				f.ec2.AddSnapshot(payments, awsfake.EC2Snapshot{ID: "snap-0123456789abcdef0", SharedWith: []string{"all", "555566667777"}})
			},
			calls: []string{"ec2:ModifySnapshotAttribute"},
			applied: func(t *testing.T, f *fakes) {
				if s, _ := f.ec2.Snapshot(payments, "snap-0123456789abcdef0"); !reflect.DeepEqual(s.SharedWith, []string{"555566667777"}) {
					t.Errorf("shared with %v, want 555566667777 only", s.SharedWith)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if s, _ := f.ec2.Snapshot(payments, "snap-0123456789abcdef0"); len(s.SharedWith) != 2 {
					t.Errorf("shared with %v after undo, want public again", s.SharedWith)
				}
			},
		},
		{
			name: "unshare ami", action: containment.SnapshotUnshare,
			target: containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeEC2Image, ID: "ami-0abcdef1234567890", Accounts: []string{"444455556666"}},
			setup: func(f *fakes) {
				f.ec2.AddImage(payments, awsfake.EC2Image{ID: "ami-0abcdef1234567890", SharedWith: []string{"444455556666"}})
			},
			calls: []string{"ec2:ModifyImageAttribute"},
			applied: func(t *testing.T, f *fakes) {
				if img, _ := f.ec2.Image(payments, "ami-0abcdef1234567890"); len(img.SharedWith) != 0 {
					t.Errorf("shared with %v, want nobody", img.SharedWith)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if img, _ := f.ec2.Image(payments, "ami-0abcdef1234567890"); !reflect.DeepEqual(img.SharedWith, []string{"444455556666"}) {
					t.Errorf("shared with %v after undo", img.SharedWith)
				}
			},
		},
		{
			name: "restrict user to corporate ranges", action: containment.IAMUserRestrictIP,
			target: containment.Target{AccountID: payments, Type: awsarn.TypeIAMUser, ID: "BackupManager"},
			setup:  func(f *fakes) { f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"}) },
			calls:  []string{"iam:PutUserPolicy"},
			applied: func(t *testing.T, f *fakes) {
				u, _ := f.iam.User(payments, "BackupManager")
				want := `{"Version":"2012-10-17","Statement":[{"Sid":"SecOpsBotRestrictToCorporateNetwork","Effect":"Deny","Action":"*","Resource":"*",` +
					`"Condition":{"NotIpAddress":{"aws:SourceIp":["198.51.100.0/24","2001:db8::/32"]},"Bool":{"aws:ViaAWSService":"false"}}}]}`
				if got := u.Policies[RestrictIPPolicyName]; !sameJSON(got, want) {
					t.Errorf("policy %s = %s, want %s", RestrictIPPolicyName, got, want)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if u, _ := f.iam.User(payments, "BackupManager"); len(u.Policies) != 0 {
					t.Errorf("user policies after undo = %v, want none", u.Policies)
				}
			},
		},
		{
			name: "deactivate the event's key", action: containment.IAMUserDeactivateKeys,
			target: containment.Target{AccountID: payments, Type: awsarn.TypeIAMUser, ID: "BackupManager", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
			setup: func(f *fakes) {
				f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAIOSFODNN7EXAMPLE", User: "BackupManager", Status: "Active"})
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAI44QH8DHBEXAMPLE", User: "BackupManager", Status: "Active"})
			},
			calls: []string{"iam:UpdateAccessKey"},
			applied: func(t *testing.T, f *fakes) {
				if k, _ := f.iam.AccessKey(payments, "AKIAIOSFODNN7EXAMPLE"); k.Status != "Inactive" {
					t.Errorf("event key is %s, want Inactive", k.Status)
				}
				if k, _ := f.iam.AccessKey(payments, "AKIAI44QH8DHBEXAMPLE"); k.Status != "Active" {
					t.Errorf("other key is %s, want it left Active", k.Status)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if k, _ := f.iam.AccessKey(payments, "AKIAIOSFODNN7EXAMPLE"); k.Status != "Active" {
					t.Errorf("event key is %s after undo, want Active", k.Status)
				}
			},
		},
		{
			name: "revoke role sessions", action: containment.IAMRoleRevokeSessions,
			target: containment.Target{AccountID: payments, Type: awsarn.TypeIAMRole, ID: "contractor-alice"},
			setup:  func(f *fakes) { f.iam.AddRole(payments, awsfake.IAMRole{Name: "contractor-alice"}) },
			calls:  []string{"iam:PutRolePolicy"},
			applied: func(t *testing.T, f *fakes) {
				r, _ := f.iam.Role(payments, "contractor-alice")
				if got := r.Policies[RevokeSessionsPolicyName]; !strings.Contains(got, `"aws:TokenIssueTime":"2026-11-27T03:20:00Z"`) {
					t.Errorf("policy = %s, want a TokenIssueTime cut-off at the run time", got)
				}
			},
			undone: func(t *testing.T, f *fakes) {
				if r, _ := f.iam.Role(payments, "contractor-alice"); len(r.Policies) != 0 {
					t.Errorf("role policies after undo = %v", r.Policies)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			tc.setup(f)
			p := f.provider(corp)
			ctx := context.Background()

			plan, err := p.Preview(ctx, tc.action, tc.target)
			if err != nil {
				t.Fatalf("preview: %v", err)
			}
			var apis []string
			for _, c := range plan.Calls {
				apis = append(apis, c.API)
			}
			if plan.NoOp || !reflect.DeepEqual(apis, tc.calls) {
				t.Fatalf("preview calls = %v (no-op %t), want %v", apis, plan.NoOp, tc.calls)
			}
			rec := containment.Record{ID: "C-TEST", Action: tc.action, Target: tc.target, Plan: plan, State: containment.StateRunning, RanBy: "U0RESPONDER"}
			out, err := p.Apply(ctx, rec)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !out.Changed || len(out.Before) == 0 {
				t.Fatalf("apply changed=%t before=%s; want a change with its before-state", out.Changed, out.Before)
			}
			tc.applied(t, f)
			f.checkWriteSession(t, tc.target, "U0RESPONDER", tc.calls)
			f.checkSessionRefusedElsewhere(t, tc.action, tc.target)

			sessions := len(f.sts.AssumeRoleCalls())
			again, err := p.Apply(ctx, rec)
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if again.Changed || len(again.Calls) != 0 {
				t.Errorf("second apply changed=%t calls=%v; running twice must change nothing", again.Changed, again.Calls)
			}
			if n := len(f.sts.AssumeRoleCalls()); n != sessions {
				t.Errorf("a run that changes nothing opened %d write session(s)", n-sessions)
			}
			tc.applied(t, f)

			rec.State, rec.Outcome = containment.StateApplied, &out
			undo, err := p.Undo(ctx, rec, "U0ADMIN", "")
			if err != nil {
				t.Fatalf("undo: %v", err)
			}
			tc.undone(t, f)
			var undoAPIs []string
			for _, c := range undo.Calls {
				undoAPIs = append(undoAPIs, c.API)
			}
			f.checkWriteSession(t, tc.target, "U0ADMIN", undoAPIs)
		})
	}
}

// checkWriteSession checks the latest write session: it was opened for the
// record, as the user, and its session policy allows exactly the calls'
// permissions on exactly the target.
func (f *fakes) checkWriteSession(t *testing.T, target containment.Target, user string, apis []string) {
	t.Helper()
	s, ok := f.lastWriteSession()
	if !ok {
		t.Fatal("no write session was opened")
	}
	if want := "arn:aws:iam::" + target.AccountID + ":role/" + writeRole; s.RoleARN != want || s.SourceIdentity != user || s.Tags[awsclient.TagAction] != "C-TEST" {
		t.Errorf("write session %s as %q tagged %v; want %s as %s tagged C-TEST", s.RoleARN, s.SourceIdentity, s.Tags, want, user)
	}
	var doc struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(s.Policy), &doc); err != nil || len(doc.Statement) != 1 {
		t.Fatalf("session policy %q: %v", s.Policy, err)
	}
	var calls []containment.Call
	for _, api := range apis {
		calls = append(calls, containment.Call{API: api})
	}
	region := target.Region
	if region == "" {
		region = "us-east-1"
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || !reflect.DeepEqual(st.Action, Permissions(calls)) || !reflect.DeepEqual(st.Resource, TargetARNs(target, region)) {
		t.Errorf("session policy allows %v on %v; want %v on %v", st.Action, st.Resource, Permissions(calls), TargetARNs(target, region))
	}
}

func (f *fakes) lastWriteSession() (awsfake.AssumeRoleCall, bool) {
	calls := f.sts.AssumeRoleCalls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Refused == "" && calls[i].Policy != "" {
			return calls[i], true
		}
	}
	return awsfake.AssumeRoleCall{}, false
}

// replaySource reads as the bot does but hands out one captured write
// session for every change, as someone holding that session would use it.
type replaySource struct {
	*awsclient.Clients
	session aws.Config
}

func (r replaySource) ForAction(context.Context, string, awsclient.Scope) (aws.Config, error) {
	return r.session, nil
}

// checkSessionRefusedElsewhere takes the latest write session and runs the
// same action with it on a twin of the target, in the same account:
// AWS must refuse, and the twin must stay as it was.
func (f *fakes) checkSessionRefusedElsewhere(t *testing.T, action string, target containment.Target) {
	t.Helper()
	ctx := context.Background()
	s, ok := f.lastWriteSession()
	if !ok {
		t.Fatal("no write session was opened")
	}
	cfg := f.base()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(s.AccessKeyID, "secret-"+s.AccessKeyID, "token-"+s.AccessKeyID)
	replay := New(replaySource{f.clients, cfg}, corp, f.clk, Options{S3PathStyle: true})
	twin := f.twinOf(t, target)
	plan, err := replay.Preview(ctx, action, twin)
	if err != nil || plan.NoOp {
		t.Fatalf("preview on the twin %s: %v (no-op %t)", twin, err, plan.NoOp)
	}
	_, err = replay.Apply(ctx, containment.Record{ID: "C-TWIN", Action: action, Target: twin, Plan: plan, RanBy: "U0MALLORY"})
	var pe *containment.ProviderError
	if !errors.As(err, &pe) || (pe.Code != "AccessDenied" && pe.Code != "UnauthorizedOperation") {
		t.Fatalf("the session of %s used on %s: %v, want AWS to refuse it", target.ID, twin.ID, err)
	}
	again, err := replay.Preview(ctx, action, twin)
	if err != nil || !sameJSON(string(again.Before), string(plan.Before)) {
		t.Errorf("the twin changed: %s, was %s (%v)", again.Before, plan.Before, err)
	}
}

// twinOf adds a resource like the target's, in the same account and
// region, and returns its target.
func (f *fakes) twinOf(t *testing.T, target containment.Target) containment.Target {
	t.Helper()
	twin := target
	twin.ID, twin.ARN = target.ID+"-twin", ""
	switch target.Type {
	case awsarn.TypeS3Bucket:
		f.s3.AddBucket(target.AccountID, awsfake.S3Bucket{Name: twin.ID, Policy: publicPolicy})
	case awsarn.TypeRDSSnapshot, awsarn.TypeRDSClusterSnapshot:
		f.rds.AddSnapshot(target.AccountID, awsfake.RDSSnapshot{ID: twin.ID, Region: target.Region, Cluster: target.Type == awsarn.TypeRDSClusterSnapshot,
			SharedWith: []string{"all", "444455556666"}})
	case awsarn.TypeEC2Snapshot:
		f.ec2.AddSnapshot(target.AccountID, awsfake.EC2Snapshot{ID: twin.ID, SharedWith: []string{"all", "444455556666"}})
	case awsarn.TypeEC2Image:
		f.ec2.AddImage(target.AccountID, awsfake.EC2Image{ID: twin.ID, SharedWith: []string{"all", "444455556666"}})
	case awsarn.TypeIAMUser:
		f.iam.AddUser(target.AccountID, awsfake.IAMUser{Name: twin.ID})
		if target.AccessKeyID != "" {
			twin.AccessKeyID = "AKIATWIN0000EXAMPLE0"
			f.iam.AddAccessKey(target.AccountID, awsfake.IAMAccessKey{ID: twin.AccessKeyID, User: twin.ID, Status: "Active"})
		}
	case awsarn.TypeIAMRole:
		f.iam.AddRole(target.AccountID, awsfake.IAMRole{Name: twin.ID})
	default:
		t.Fatalf("no twin for %s", target.Type)
	}
	return twin
}

func TestRestrictIPWithVPCEndpoints(t *testing.T) {
	doc := RestrictIPPolicy([]string{"198.51.100.0/24"}, []string{"vpce-0a1b2c3d"})
	var v struct {
		Statement []struct {
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	cond := v.Statement[0].Condition
	if cond["StringNotEquals"]["aws:SourceVpce"] == nil || cond["Bool"]["aws:ViaAWSService"] != "false" {
		t.Errorf("conditions = %v, want a SourceVpce exception and the ViaAWSService guard", cond)
	}
}

func TestRestrictIPNeedsRanges(t *testing.T) {
	f := newFakes(t)
	f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
	_, err := f.provider(containment.Config{}).Preview(context.Background(), containment.IAMUserRestrictIP,
		containment.Target{AccountID: payments, Type: awsarn.TypeIAMUser, ID: "BackupManager"})
	if !errors.Is(err, containment.ErrNotApplicable) || !strings.Contains(err.Error(), "corporate_cidrs") {
		t.Errorf("preview without ranges: %v, want a refusal naming containment.corporate_cidrs", err)
	}
}

// TestAWSErrors checks that a refusal from AWS reaches the responder in
// plain words and that the target's state is untouched.
func TestAWSErrors(t *testing.T) {
	f := newFakes(t)
	f.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "prod-customers", Region: "eu-central-1", SharedWith: []string{"444455556666"}})
	p := f.provider(corp)
	target := containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeRDSSnapshot, ID: "prod-customers"}
	plan, err := p.Preview(context.Background(), containment.SnapshotUnshare, target)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Inject(awsfake.Fault{Service: "rds", Action: "ModifyDBSnapshotAttribute", Code: "AccessDenied", Status: 403, Times: 1})
	_, err = p.Apply(context.Background(), containment.Record{ID: "C-TEST", Plan: plan, RanBy: "U0RESPONDER"})
	var pe *containment.ProviderError
	if !errors.As(err, &pe) || pe.Code != "AccessDenied" || pe.API != "rds:ModifyDBSnapshotAttribute" {
		t.Fatalf("apply error = %v, want AccessDenied from rds:ModifyDBSnapshotAttribute", err)
	}
	if msg := containment.PlainError(err); !strings.Contains(msg, "lacks this permission") {
		t.Errorf("plain error = %q, want the likely cause", msg)
	}
	if s, _ := f.rds.Snapshot(payments, false, "prod-customers"); len(s.SharedWith) != 1 {
		t.Errorf("shared with %v after a failed run, want it unchanged", s.SharedWith)
	}
}

// TestCallsLandInTargetAccount checks that the bot acts with the target
// account's credentials: the same snapshot name in another account is not
// touched.
func TestCallsLandInTargetAccount(t *testing.T) {
	f := newFakes(t)
	for _, acct := range []string{payments, other} {
		f.rds.AddSnapshot(acct, awsfake.RDSSnapshot{ID: "nightly", Region: "eu-central-1", SharedWith: []string{"444455556666"}})
	}
	p := f.provider(corp)
	target := containment.Target{AccountID: other, Region: "eu-central-1", Type: awsarn.TypeRDSSnapshot, ID: "nightly"}
	plan, err := p.Preview(context.Background(), containment.SnapshotUnshare, target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), containment.Record{ID: "C-TEST", Plan: plan, RanBy: "U0RESPONDER"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.rds.Snapshot(other, false, "nightly"); len(s.SharedWith) != 0 {
		t.Errorf("target account's snapshot still shared with %v", s.SharedWith)
	}
	if s, _ := f.rds.Snapshot(payments, false, "nightly"); len(s.SharedWith) != 1 {
		t.Errorf("another account's snapshot was changed: %v", s.SharedWith)
	}
}

// The bot wires awsclient's per-account configurations in directly.
var _ ConfigSource = (*awsclient.Clients)(nil)

// TestPermissionsCoverCalls checks that every API an action calls is in
// the permissions the catalogue documents, so the documented role policy
// is enough.
func TestPermissionsCoverCalls(t *testing.T) {
	p := New(nil, corp, nil, Options{})
	have := map[string]bool{}
	for _, perm := range p.RequiredPermissions() {
		have[perm] = true
	}
	// S3 names the permission for the public access block calls
	// differently from the operations.
	alias := map[string]string{"s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock", "s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock"}
	f := newFakes(t)
	f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy})
	f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
	f.iam.AddRole(payments, awsfake.IAMRole{Name: "ops"})
	p = f.provider(corp)
	for _, tc := range []struct{ action, typ, id string }{
		{containment.S3BlockPublicAccess, awsarn.TypeS3Bucket, "acme-exports"},
		{containment.S3RemovePublicStatements, awsarn.TypeS3Bucket, "acme-exports"},
		{containment.IAMUserRestrictIP, awsarn.TypeIAMUser, "BackupManager"},
		{containment.IAMRoleRevokeSessions, awsarn.TypeIAMRole, "ops"},
	} {
		plan, err := p.Preview(context.Background(), tc.action, containment.Target{AccountID: payments, Type: tc.typ, ID: tc.id})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range plan.Calls {
			api := c.API
			if a, ok := alias[api]; ok {
				api = a
			}
			if !have[api] {
				t.Errorf("%s calls %s, which the documented permissions lack", tc.action, c.API)
			}
		}
	}
	if !have["s3:DeleteBucketPolicy"] || !have["ec2:ModifyImageAttribute"] {
		t.Errorf("permissions = %v", p.RequiredPermissions())
	}
}

// TestUndoKeepsLaterChanges runs an action, lets someone change the target
// afterwards, and undoes: the first undo changes nothing and says what
// changed; the undo confirmed for that state re-adds only what the run
// removed and leaves the later change as it is.
func TestUndoKeepsLaterChanges(t *testing.T) {
	bucket := containment.Target{AccountID: payments, Region: "eu-west-1", Type: awsarn.TypeS3Bucket, ID: "acme-exports"}
	snapshot := containment.Target{AccountID: payments, Region: "eu-central-1", Type: awsarn.TypeRDSSnapshot, ID: "prod-customers", Accounts: []string{"444455556666"}}
	user := containment.Target{AccountID: payments, Type: awsarn.TypeIAMUser, ID: "BackupManager"}
	role := containment.Target{AccountID: payments, Type: awsarn.TypeIAMRole, ID: "contractor-alice"}
	const ownerStatement = `{"Sid":"OwnerAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222233334444:role/reporting"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-exports/reports/*"}`
	policyWith := func(stmts ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	}
	var st struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(publicPolicy), &st); err != nil {
		t.Fatal(err)
	}
	analytics, vendor := string(st.Statement[0]), string(st.Statement[1])
	tests := []struct {
		name    string
		action  string
		target  containment.Target
		setup   func(f *fakes)
		later   func(f *fakes) // someone else, after the run
		changes []string       // what the undo says changed, in part
		calls   []string       // the confirmed undo's calls
		undone  func(t *testing.T, f *fakes)
	}{
		{
			name: "the owner adds a statement: it stays, the public one comes back", action: containment.S3RemovePublicStatements, target: bucket,
			setup: func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			later: func(f *fakes) {
				f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: policyWith(analytics, ownerStatement)})
			},
			changes: []string{`statement "OwnerAdded" was added after the run`},
			calls:   []string{"s3:PutBucketPolicy"},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); !sameJSON(b.Policy, policyWith(analytics, ownerStatement, vendor)) {
					t.Errorf("policy after undo = %s, want the owner's statements and the removed one", b.Policy)
				}
			},
		},
		{
			name: "the owner deletes the policy: only the removed statement comes back", action: containment.S3RemovePublicStatements, target: bucket,
			setup:   func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			later:   func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports"}) },
			changes: []string{`statement "AnalyticsRead" was removed after the run`, "the bucket policy was deleted after the run"},
			calls:   []string{"s3:PutBucketPolicy"},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); !sameJSON(b.Policy, policyWith(vendor)) {
					t.Errorf("policy after undo = %s, want only the statement the run removed", b.Policy)
				}
			},
		},
		{
			name: "the owner puts the public statement back: nothing to add twice", action: containment.S3RemovePublicStatements, target: bucket,
			setup:   func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			later:   func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			changes: []string{`statement "ShareWithVendor" was added after the run`},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); b.Policy != publicPolicy {
					t.Errorf("policy after undo = %s, want it untouched", b.Policy)
				}
			},
		},
		{
			name: "a later statement took the removed one's Sid: it is not overwritten", action: containment.S3RemovePublicStatements, target: bucket,
			setup: func(f *fakes) { f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: publicPolicy}) },
			later: func(f *fakes) {
				f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", Policy: policyWith(analytics, strings.Replace(ownerStatement, "OwnerAdded", "ShareWithVendor", 1))})
			},
			changes: []string{`statement "ShareWithVendor" was added after the run`},
			undone: func(t *testing.T, f *fakes) {
				if b, _ := f.s3.Bucket("acme-exports"); strings.Contains(b.Policy, `"Principal":"*"`) {
					t.Errorf("policy after undo = %s, want the owner's statement of that Sid kept", b.Policy)
				}
			},
		},
		{
			name: "the share list changed: only the removed account comes back", action: containment.SnapshotUnshare, target: snapshot,
			setup: func(f *fakes) {
				f.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "prod-customers", Region: "eu-central-1", SharedWith: []string{"555566667777", "444455556666"}})
			},
			later: func(f *fakes) {
				f.rds.AddSnapshot(payments, awsfake.RDSSnapshot{ID: "prod-customers", Region: "eu-central-1", SharedWith: []string{"777788889999"}})
			},
			changes: []string{"shared with 777788889999 after the run", "no longer shared with 555566667777"},
			calls:   []string{"rds:ModifyDBSnapshotAttribute"},
			undone: func(t *testing.T, f *fakes) {
				if s, _ := f.rds.Snapshot(payments, false, "prod-customers"); !reflect.DeepEqual(s.SharedWith, []string{"777788889999", "444455556666"}) {
					t.Errorf("shared with %v after undo, want the owner's share and the removed account", s.SharedWith)
				}
			},
		},
		{
			name: "a setting turned off since stays off, the run's others go", action: containment.S3BlockPublicAccess, target: bucket,
			setup: func(f *fakes) {
				f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", PublicAccessBlock: &awsfake.S3PublicAccessBlock{BlockPublicAcls: true}})
			},
			later: func(f *fakes) {
				f.s3.AddBucket(payments, awsfake.S3Bucket{Name: "acme-exports", PublicAccessBlock: &awsfake.S3PublicAccessBlock{
					BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true}})
			},
			changes: []string{"RestrictPublicBuckets is off now; the run left it on"},
			calls:   []string{"s3:PutPublicAccessBlock"},
			undone: func(t *testing.T, f *fakes) {
				b, _ := f.s3.Bucket("acme-exports")
				if b.PublicAccessBlock == nil || *b.PublicAccessBlock != (awsfake.S3PublicAccessBlock{BlockPublicAcls: true}) {
					t.Errorf("public access block after undo = %+v, want BlockPublicAcls only, as before the run", b.PublicAccessBlock)
				}
			},
		},
		{
			name: "the IP lock was edited since: it stays", action: containment.IAMUserRestrictIP, target: user,
			setup: func(f *fakes) { f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"}) },
			later: func(f *fakes) {
				f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager", Policies: map[string]string{RestrictIPPolicyName: RestrictIPPolicy([]string{"203.0.113.0/24"}, nil)}})
			},
			changes: []string{"secops-bot-restrict-ip of user BackupManager was changed after the run"},
			undone: func(t *testing.T, f *fakes) {
				if u, _ := f.iam.User(payments, "BackupManager"); !strings.Contains(u.Policies[RestrictIPPolicyName], "203.0.113.0/24") {
					t.Errorf("user policies after undo = %v, want the edited lock kept", u.Policies)
				}
			},
		},
		{
			name: "a key reactivated since is left alone, the other comes back", action: containment.IAMUserDeactivateKeys, target: user,
			setup: func(f *fakes) {
				f.iam.AddUser(payments, awsfake.IAMUser{Name: "BackupManager"})
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAIOSFODNN7EXAMPLE", User: "BackupManager"})
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAI44QH8DHBEXAMPLE", User: "BackupManager"})
			},
			later: func(f *fakes) {
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAI44QH8DHBEXAMPLE", User: "BackupManager", Status: "Active"})
				f.iam.AddAccessKey(payments, awsfake.IAMAccessKey{ID: "AKIAJNEWKEY00EXAMPLE", User: "BackupManager", Status: "Active"})
			},
			changes: []string{"key AKIAI44QH8DHBEXAMPLE is Active now; the run left it Inactive", "key AKIAJNEWKEY00EXAMPLE was created after the run"},
			calls:   []string{"iam:UpdateAccessKey"},
			undone: func(t *testing.T, f *fakes) {
				for _, id := range []string{"AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "AKIAJNEWKEY00EXAMPLE"} {
					if k, _ := f.iam.AccessKey(payments, id); k.Status != "Active" {
						t.Errorf("key %s is %s after undo, want Active", id, k.Status)
					}
				}
			},
		},
		{
			name: "the revocation was deleted since: nothing to remove", action: containment.IAMRoleRevokeSessions, target: role,
			setup:   func(f *fakes) { f.iam.AddRole(payments, awsfake.IAMRole{Name: "contractor-alice"}) },
			later:   func(f *fakes) { f.iam.AddRole(payments, awsfake.IAMRole{Name: "contractor-alice"}) },
			changes: []string{"secops-bot-revoke-older-sessions of role contractor-alice was deleted after the run"},
			undone: func(t *testing.T, f *fakes) {
				if r, _ := f.iam.Role(payments, "contractor-alice"); len(r.Policies) != 0 {
					t.Errorf("role policies after undo = %v", r.Policies)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFakes(t)
			tc.setup(f)
			p := f.provider(corp)
			plan, err := p.Preview(ctx, tc.action, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			rec := containment.Record{ID: "C-TEST", Action: tc.action, Target: tc.target, Plan: plan, RanBy: "U0RESPONDER"}
			out, err := p.Apply(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			rec.State, rec.Outcome = containment.StateApplied, &out
			tc.later(f)
			sessions := len(f.sts.AssumeRoleCalls())

			_, err = p.Undo(ctx, rec, "U0ADMIN", "")
			var drift *containment.DriftError
			if !errors.As(err, &drift) {
				t.Fatalf("undo after a later change: %v, want a DriftError", err)
			}
			said := strings.Join(drift.Plan.Changes, "\n")
			for _, want := range tc.changes {
				if !strings.Contains(said, want) {
					t.Errorf("changes %q do not say %q", drift.Plan.Changes, want)
				}
			}
			if n := len(f.sts.AssumeRoleCalls()); n != sessions {
				t.Errorf("an undo held back for review opened %d write session(s)", n-sessions)
			}
			preview, err := p.PreviewUndo(ctx, rec)
			if err != nil || preview.State != drift.Plan.State || !reflect.DeepEqual(preview.Changes, drift.Plan.Changes) {
				t.Errorf("PreviewUndo = %+v, %v; want the same review as the refused undo", preview, err)
			}

			undo, err := p.Undo(ctx, rec, "U0ADMIN", drift.Plan.State)
			if err != nil {
				t.Fatalf("confirmed undo: %v", err)
			}
			var apis []string
			for _, c := range undo.Calls {
				apis = append(apis, c.API)
			}
			if !reflect.DeepEqual(apis, tc.calls) || undo.Changed != (len(tc.calls) > 0) {
				t.Errorf("confirmed undo called %v (changed %t), want %v", apis, undo.Changed, tc.calls)
			}
			if len(tc.calls) > 0 {
				f.checkWriteSession(t, tc.target, "U0ADMIN", apis)
			}
			tc.undone(t, f)
		})
	}
}
