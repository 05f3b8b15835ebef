package grant

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/respond/breakglass"
)

const (
	acct      = "111122223333"
	roleARN   = "arn:aws:iam::" + acct + ":role/breakglass/BreakGlassResponder"
	instance  = "arn:aws:sso:::instance/ssoins-1111111111111111"
	permSet   = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222"
	idStore   = "d-1234567890"
	requester = "U0RESPOND1"
)

var t0 = time.Date(2026, 11, 27, 3, 12, 0, 0, time.UTC)

// accounts hands out static credentials that the fakes map to the bot's
// role in each account.
type accounts struct {
	srv *awsfake.Server
}

func (a accounts) For(_ context.Context, account string) (aws.Config, error) {
	key := "AKIDBOT" + account
	a.srv.Identities().Add(key, "arn:aws:iam::"+account+":role/secops-bot")
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(a.srv.URL()),
		HTTPClient:   a.srv.HTTPClient(),
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", ""),
	}, nil
}

// writeRole is the role the bot's write sessions assume in each account.
func writeRole(account string) string { return "arn:aws:iam::" + account + ":role/secops-bot-write" }

// ForAction assumes the account's write role with the scope's session
// policy, source identity and tag, as awsclient does, so the fakes refuse
// whatever the session policy does not allow.
func (a accounts) ForAction(ctx context.Context, account string, s awsclient.Scope) (aws.Config, error) {
	base, err := a.For(ctx, account)
	if err != nil {
		return aws.Config{}, err
	}
	out, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(writeRole(account)), RoleSessionName: aws.String("secops-bot-" + s.ActionID), DurationSeconds: aws.Int32(900),
		Policy: aws.String(awsclient.SessionPolicy(s)), SourceIdentity: aws.String(s.Actor),
		Tags: []ststypes.Tag{{Key: aws.String(awsclient.TagAction), Value: aws.String(s.ActionID)}},
	})
	if err != nil {
		return aws.Config{}, err
	}
	c := out.Credentials
	base.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return base, nil
}

// breakGlassCalls are the AssumeRole calls of the break-glass role, the
// bot's own write sessions left out.
func (w *world) breakGlassCalls() []awsfake.AssumeRoleCall {
	var out []awsfake.AssumeRoleCall
	for _, c := range w.sts.AssumeRoleCalls() {
		if c.RoleARN == roleARN {
			out = append(out, c)
		}
	}
	return out
}

// writeSessions are the bot's write sessions, in order.
func (w *world) writeSessions() []awsfake.AssumeRoleCall {
	var out []awsfake.AssumeRoleCall
	for _, c := range w.sts.AssumeRoleCalls() {
		if c.RoleARN == writeRole(acct) {
			out = append(out, c)
		}
	}
	return out
}

// federation fakes the sign-in federation endpoint.
type federation struct {
	mu       sync.Mutex
	sessions []map[string]string
	durs     []string
	down     bool
}

func (f *federation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	if f.down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if q.Get("Action") != "getSigninToken" {
		http.Error(w, "bad action", http.StatusBadRequest)
		return
	}
	var s map[string]string
	if err := json.Unmarshal([]byte(q.Get("Session")), &s); err != nil || s["sessionId"] == "" || s["sessionKey"] == "" || s["sessionToken"] == "" {
		http.Error(w, "bad session", http.StatusBadRequest)
		return
	}
	f.sessions = append(f.sessions, s)
	f.durs = append(f.durs, q.Get("SessionDuration"))
	_ = json.NewEncoder(w).Encode(map[string]string{"SigninToken": "token-for-" + s["sessionId"]})
}

type world struct {
	srv  *awsfake.Server
	clk  *clock.Fake
	sts  *awsfake.STS
	iam  *awsfake.IAM
	sso  *awsfake.SSOAdmin
	fed  *federation
	fedS *httptest.Server
	p    *Provider
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{srv: awsfake.New(), clk: clock.NewFake(t0), fed: &federation{}}
	t.Cleanup(w.srv.Close)
	w.sts = awsfake.NewSTS(w.srv.Identities(), w.clk)
	w.iam = awsfake.NewIAM(w.clk)
	w.sso = awsfake.NewSSOAdmin()
	w.srv.Handle("sts", w.sts)
	w.srv.Handle("iam", w.iam)
	w.srv.Handle("sso", w.sso)
	w.srv.Handle("identitystore", w.sso)
	w.iam.AddRole(acct, awsfake.IAMRole{Name: "BreakGlassResponder", Path: "/breakglass/", MaxSessionDuration: 7200})
	w.sts.SetMaxSessionDuration(roleARN, 2*time.Hour)
	w.sso.AddUser(idStore, "user-ana", "ana@example.com")
	w.fedS = httptest.NewServer(w.fed)
	t.Cleanup(w.fedS.Close)
	w.p = New(accounts{w.srv}, w.clk, Options{
		FederationURL: w.fedS.URL + "/federation",
		PortalURL:     "https://d-1234567890.awsapps.com/start",
		Sleep:         func(context.Context, time.Duration) error { return nil },
	})
	return w
}

func roleGrant(until time.Time) breakglass.Grant {
	return breakglass.Grant{
		RequestID: "BG-3F9A1C2E0B7D", Requester: requester, Account: acct, Until: until,
		Policy: breakglass.AccountPolicy{Mode: breakglass.ModeAssumeRole},
		Level:  breakglass.Level{Name: "incident-responder", RoleARN: roleARN},
	}
}

func icGrant() breakglass.Grant {
	return breakglass.Grant{
		RequestID: "BG-IC", Requester: requester, Email: "ana@example.com", Account: acct, Until: t0.Add(time.Hour),
		Policy: breakglass.AccountPolicy{Mode: breakglass.ModeIdentityCenter, InstanceARN: instance, IdentityStoreID: idStore},
		Level:  breakglass.Level{Name: "AdministratorAccess", PermissionSetARN: permSet},
	}
}

func TestAssumeRoleGrant(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		left     time.Duration
		wantSecs int
	}{
		{"the time left in the window", 30 * time.Minute, 1800},
		{"at least the 15 minutes STS issues", 4 * time.Minute, 900},
		{"seconds are rounded", 20*time.Minute + 400*time.Millisecond, 1200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			acc, err := w.p.Grant(ctx, roleGrant(t0.Add(tc.left)))
			if err != nil {
				t.Fatal(err)
			}
			calls := w.breakGlassCalls()
			if len(calls) != 1 {
				t.Fatalf("AssumeRole calls = %d, want 1", len(calls))
			}
			c := calls[0]
			if c.DurationSeconds != tc.wantSecs || c.SourceIdentity != requester || c.SessionName != "breakglass-BG-3F9A1C2E0B7D" ||
				c.Tags[TagRequest] != "BG-3F9A1C2E0B7D" || c.Tags[TagRequester] != requester {
				t.Fatalf("AssumeRole = %+v; want %d s, source identity %s and the request in tags", c, tc.wantSecs, requester)
			}
			if acc.Credentials == nil || acc.Credentials.AccessKeyID != c.AccessKeyID || !acc.Credentials.Expires.Equal(c.Expiration) {
				t.Fatalf("credentials = %+v, want the issued key %s", acc.Credentials, c.AccessKeyID)
			}
			u, err := url.Parse(acc.ConsoleURL)
			if err != nil || u.Query().Get("Action") != "login" || u.Query().Get("SigninToken") != "token-for-"+c.AccessKeyID ||
				u.Query().Get("Destination") != DefaultDestination || !strings.HasPrefix(acc.ConsoleURL, w.fedS.URL+"/federation?") {
				t.Fatalf("console link = %q; want a login URL with the sign-in token", acc.ConsoleURL)
			}
			if len(w.fed.sessions) != 1 || w.fed.sessions[0]["sessionKey"] != acc.Credentials.SecretAccessKey || w.fed.durs[0] != strconv.Itoa(tc.wantSecs) {
				t.Fatalf("federation saw %v (durations %v); want the session's credentials", w.fed.sessions, w.fed.durs)
			}
		})
	}
}

func TestAssumeRoleGrantFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("the role refuses", func(t *testing.T) {
		w := newWorld(t)
		w.sts.Deny(roleARN)
		if _, err := w.p.Grant(ctx, roleGrant(t0.Add(30*time.Minute))); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Fatalf("Grant = %v, want AccessDenied", err)
		}
	})
	t.Run("the federation endpoint is down; the error does not carry the credentials", func(t *testing.T) {
		w := newWorld(t)
		w.fed.down = true
		_, err := w.p.Grant(ctx, roleGrant(t0.Add(30*time.Minute)))
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Grant = %v, want the federation failure", err)
		}
		for _, c := range w.breakGlassCalls() {
			if strings.Contains(err.Error(), c.AccessKeyID) || strings.Contains(err.Error(), "secret-") {
				t.Fatalf("error leaks credentials: %v", err)
			}
		}
	})
	t.Run("a window that already ended", func(t *testing.T) {
		w := newWorld(t)
		if _, err := w.p.Grant(ctx, roleGrant(t0.Add(-time.Second))); err == nil {
			t.Fatal("Grant for an ended window succeeded")
		}
		if n := len(w.breakGlassCalls()); n != 0 {
			t.Fatalf("AssumeRole called %d times for an ended window", n)
		}
	})
	t.Run("a requester that cannot be a source identity", func(t *testing.T) {
		w := newWorld(t)
		g := roleGrant(t0.Add(30 * time.Minute))
		g.Requester = "U0 <script>"
		if _, err := w.p.Grant(ctx, g); err == nil {
			t.Fatal("Grant with an invalid source identity succeeded")
		}
	})
}

func TestRevokeAssumeRole(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := roleGrant(t0.Add(30 * time.Minute))
	g.Now = t0.Add(12*time.Minute + 300*time.Millisecond)
	if err := w.p.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	role, _ := w.iam.Role(acct, "BreakGlassResponder")
	first := RevokePolicyPrefix + requester + "-t" + strconv.FormatInt(t0.Add(12*time.Minute+time.Second).Unix(), 10)
	doc, ok := role.Policies[first]
	if !ok {
		t.Fatalf("role policies = %v, want %s", role.Policies, first)
	}
	var pol struct {
		Statement []struct {
			Effect, Action, Resource string
			Condition                map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &pol); err != nil || len(pol.Statement) != 1 {
		t.Fatalf("policy %s: %v", doc, err)
	}
	st := pol.Statement[0]
	if st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" ||
		st.Condition["DateLessThan"]["aws:TokenIssueTime"] != "2026-11-27T03:24:01Z" ||
		st.Condition["StringEquals"]["aws:SourceIdentity"] != requester {
		t.Fatalf("policy = %s; want deny-all for %s's tokens issued before 03:24:01", doc, requester)
	}
	// Revoking again moves the cut-off forward in a policy of its own
	// and deletes the first, which it covers.
	g.Now = t0.Add(20 * time.Minute)
	if err := w.p.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	role, _ = w.iam.Role(acct, "BreakGlassResponder")
	second := RevokePolicyPrefix + requester + "-t" + strconv.FormatInt(t0.Add(20*time.Minute+time.Second).Unix(), 10)
	if len(role.Policies) != 1 || !strings.Contains(role.Policies[second], "2026-11-27T03:32:01Z") {
		t.Fatalf("after a second revocation policies = %v, want only %s", keys(role.Policies), second)
	}
}

func TestMaxSession(t *testing.T) {
	w := newWorld(t)
	got, err := w.p.MaxSession(context.Background(), acct, roleGrant(t0).Level)
	if err != nil || got != 2*time.Hour {
		t.Fatalf("MaxSession = %v, %v; want 2h from GetRole", got, err)
	}
}

func TestIdentityCenter(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.sso.SetPolls(3)
	w.sso.Assign(instance, acct, permSet, "user-stray")

	acc, err := w.p.Grant(ctx, icGrant())
	if err != nil {
		t.Fatal(err)
	}
	if acc.PrincipalID != "user-ana" || acc.ConsoleURL != "https://d-1234567890.awsapps.com/start" || acc.Credentials != nil {
		t.Fatalf("access = %+v; want user-ana and the portal", acc)
	}
	if got := w.sso.Assignments(instance, acct, permSet); !slices.Equal(got, []string{"user-ana", "user-stray"}) {
		t.Fatalf("assignments after the grant (waited on) = %v", got)
	}
	assigned, err := w.p.Assigned(ctx, acct, icGrant().Policy, icGrant().Level)
	if err != nil || !slices.Equal(assigned, []string{"user-ana", "user-stray"}) {
		t.Fatalf("Assigned = %v, %v", assigned, err)
	}

	g := icGrant()
	g.PrincipalID = acc.PrincipalID
	if err := w.p.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got := w.sso.Assignments(instance, acct, permSet); !slices.Equal(got, []string{"user-stray"}) {
		t.Fatalf("assignments after the revocation = %v", got)
	}
	if err := w.p.Revoke(ctx, g); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}

	t.Run("an unknown email", func(t *testing.T) {
		g := icGrant()
		g.Email = "nobody@example.com"
		if _, err := w.p.Grant(ctx, g); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
			t.Fatalf("Grant = %v, want the user lookup to fail", err)
		}
	})
	t.Run("a failed assignment is an error that names the principal", func(t *testing.T) {
		w.sso.FailNext("create", "permission set not provisioned")
		acc, err := w.p.Grant(ctx, icGrant())
		if err == nil || !strings.Contains(err.Error(), "permission set not provisioned") || acc.PrincipalID != "user-ana" {
			t.Fatalf("Grant = %+v, %v; want the failure reason and the principal", acc, err)
		}
	})
	t.Run("an assignment that never completes times out", func(t *testing.T) {
		w.sso.SetPolls(1000)
		p := New(accounts{w.srv}, w.clk, Options{PollTimeout: 50 * time.Millisecond, PollInterval: time.Millisecond})
		if _, err := p.Grant(ctx, icGrant()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Grant = %v, want the poll timeout", err)
		}
	})
}

// sessionConfig is a configuration signed with a session STS issued.
func (w *world) sessionConfig(c awsfake.AssumeRoleCall) aws.Config {
	return aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(w.srv.URL()), HTTPClient: w.srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, "secret-"+c.AccessKeyID, "token-"+c.AccessKeyID),
	}
}

// TestWriteSessionsAreScoped: each grant and revocation runs in a write
// session of its own whose session policy names its calls and its
// break-glass role or assignment only, as the person who decided it; the
// same session is refused anywhere else.
func TestWriteSessionsAreScoped(t *testing.T) {
	ctx := context.Background()
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	roleRes := []string{"arn:aws:iam::" + acct + ":role/BreakGlassResponder", "arn:aws:iam::" + acct + ":role/*/BreakGlassResponder"}
	tests := []struct {
		name      string
		do        func(w *world) error
		actor     string
		actions   []string
		resources []string
		elsewhere func(c aws.Config) error // the same kind of call on something else
	}{
		{
			name: "assume-role grant", actor: requester, actions: grantActions, resources: roleRes,
			do: func(w *world) error { _, err := w.p.Grant(ctx, roleGrant(t0.Add(30*time.Minute))); return err },
			elsewhere: func(c aws.Config) error {
				_, err := sts.NewFromConfig(c).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("x")})
				return err
			},
		},
		{
			name: "assume-role revocation", actor: "U0REVOKER", actions: revokeActions, resources: roleRes,
			do: func(w *world) error {
				g := roleGrant(t0.Add(30 * time.Minute))
				g.Actor, g.Now = "U0REVOKER", t0
				return w.p.Revoke(ctx, g)
			},
			elsewhere: func(c aws.Config) error {
				_, err := iam.NewFromConfig(c).PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("secops-bot-write"), PolicyName: aws.String("x"), PolicyDocument: aws.String(allowAll)})
				return err
			},
		},
		{
			name: "identity center assignment", actor: "U0APPROVER", actions: assignActions,
			resources: []string{instance, permSet, "arn:aws:sso:::account/" + acct},
			do: func(w *world) error {
				g := icGrant()
				g.Actor = "U0APPROVER"
				_, err := w.p.Grant(ctx, g)
				return err
			},
			elsewhere: func(c aws.Config) error {
				_, err := ssoadmin.NewFromConfig(c).CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
					InstanceArn: aws.String(instance), PermissionSetArn: aws.String(permSet), PrincipalId: aws.String("user-ana"),
					PrincipalType: ssotypes.PrincipalTypeUser, TargetId: aws.String("999988887777"), TargetType: ssotypes.TargetTypeAwsAccount,
				})
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if err := tc.do(w); err != nil {
				t.Fatal(err)
			}
			sessions := w.writeSessions()
			if len(sessions) != 1 {
				t.Fatalf("%d write sessions, want 1", len(sessions))
			}
			s := sessions[0]
			want := awsclient.SessionPolicy(awsclient.Scope{Actions: tc.actions, Resources: tc.resources})
			if s.Policy != want || s.SourceIdentity != tc.actor || s.Tags[awsclient.TagAction] == "" {
				t.Errorf("write session: policy %s as %q tagged %v\nwant policy %s as %s", s.Policy, s.SourceIdentity, s.Tags, want, tc.actor)
			}
			err := tc.elsewhere(w.sessionConfig(s))
			if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
				t.Errorf("the session used elsewhere: %v, want AccessDenied", err)
			}
		})
	}
}
