package awsclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

const (
	botAccount = "111122223333"
	member     = "444455556666"
	baseKey    = "AKIDSECOPSBOT0000001"
)

var t0 = time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)

type env struct {
	srv  *awsfake.Server
	sts  *awsfake.STS
	org  *awsfake.Organizations
	clk  *clock.Fake
	base aws.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: awsfake.New(), clk: clock.NewFake(t0)}
	t.Cleanup(e.srv.Close)
	e.srv.Identities().Add(baseKey, "arn:aws:iam::"+botAccount+":role/secops-bot")
	e.sts = awsfake.NewSTS(e.srv.Identities(), e.clk)
	e.org = awsfake.NewOrganizations(2,
		awsfake.OrgAccount{ID: botAccount, Name: "security"},
		awsfake.OrgAccount{ID: member, Name: "prod-data"},
		awsfake.OrgAccount{ID: "555566667777", Name: "sandbox"},
	)
	e.srv.Handle("sts", e.sts)
	e.srv.Handle("organizations", e.org)
	e.base = aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(e.srv.URL()),
		HTTPClient:   e.srv.HTTPClient(),
		Credentials:  credentials.NewStaticCredentialsProvider(baseKey, "secret", ""),
	}
	return e
}

// whoAmI returns the account a configuration acts in, as STS sees it.
func whoAmI(t *testing.T, cfg aws.Config) string {
	t.Helper()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(out.Account)
}

func TestFor(t *testing.T) {
	custom := "arn:aws:iam::555566667777:role/custom/secops-reader"
	tests := []struct {
		name        string
		opts        Options
		setup       func(e *env)
		account     string
		wantAccount string // the account the returned config acts in
		wantRole    string // the role assumed, "" for none
		wantErr     string
		wantAssume  bool // errors.Is(err, ErrAssumeRole)
	}{
		{name: "no member role uses the base credentials", account: member, wantAccount: botAccount},
		{name: "member role by name", opts: Options{MemberRoleName: "secops-member"}, account: member, wantAccount: member, wantRole: "arn:aws:iam::" + member + ":role/secops-member"},
		{name: "role ARN of the account wins", opts: Options{MemberRoleName: "secops-member", RoleARNs: map[string]string{"555566667777": custom}}, account: "555566667777", wantAccount: "555566667777", wantRole: custom},
		{
			name: "external ID is sent", opts: Options{MemberRoleName: "secops-member", ExternalID: "ext-42"},
			setup:   func(e *env) { e.sts.RequireExternalID("arn:aws:iam::"+member+":role/secops-member", "ext-42") },
			account: member, wantAccount: member, wantRole: "arn:aws:iam::" + member + ":role/secops-member",
		},
		{
			name: "throttled AssumeRole is retried", opts: Options{MemberRoleName: "secops-member"},
			setup: func(e *env) {
				e.srv.Inject(awsfake.Fault{Service: "sts", Action: "AssumeRole", Code: "Throttling", Status: 400, Times: 2})
			},
			account: member, wantAccount: member, wantRole: "arn:aws:iam::" + member + ":role/secops-member",
		},
		{
			name: "role that cannot be assumed", opts: Options{MemberRoleName: "secops-member"},
			setup:   func(e *env) { e.sts.Deny("arn:aws:iam::" + member + ":role/secops-member") },
			account: member, wantErr: "account 444455556666: assume role arn:aws:iam::444455556666:role/secops-member: role cannot be assumed", wantAssume: true,
		},
		{name: "not an account ID", opts: Options{MemberRoleName: "secops-member"}, account: "prod", wantErr: `account "prod" is not a 12-digit account ID`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			tc.opts.Clock = e.clk
			c, err := New(context.Background(), e.base, tc.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			cfg, err := c.For(context.Background(), tc.account)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if got := errors.Is(err, ErrAssumeRole); got != tc.wantAssume {
					t.Errorf("errors.Is(err, ErrAssumeRole) = %v, want %v", got, tc.wantAssume)
				}
				return
			}
			if err != nil {
				t.Fatalf("For: %v", err)
			}
			if got := whoAmI(t, cfg); got != tc.wantAccount {
				t.Errorf("config acts in %s, want %s", got, tc.wantAccount)
			}
			var granted []string
			for _, call := range e.sts.AssumeRoleCalls() {
				if call.Refused == "" {
					granted = append(granted, call.RoleARN)
				}
			}
			switch {
			case tc.wantRole == "" && len(granted) != 0:
				t.Errorf("assumed %v, want no role", granted)
			case tc.wantRole != "" && (len(granted) != 1 || granted[0] != tc.wantRole):
				t.Errorf("assumed %v, want [%s]", granted, tc.wantRole)
			}
		})
	}
}

func TestSessionCache(t *testing.T) {
	e := newEnv(t)
	c, err := New(context.Background(), e.base, Options{MemberRoleName: "secops-member", Duration: time.Hour, Clock: e.clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	steps := []struct {
		name        string
		advance     time.Duration
		account     string
		wantAssumes int // AssumeRole calls so far
	}{
		{name: "first use assumes the role", account: member, wantAssumes: 1},
		{name: "second use reuses it", account: member, wantAssumes: 1},
		{name: "another account assumes its own role", account: "555566667777", wantAssumes: 2},
		{name: "6 minutes before expiry it is still used", advance: 54 * time.Minute, account: member, wantAssumes: 2},
		{name: "4 minutes before expiry it is renewed", advance: 2 * time.Minute, account: member, wantAssumes: 3},
		{name: "the renewed session is reused", advance: time.Minute, account: member, wantAssumes: 3},
	}
	for _, st := range steps {
		e.clk.Advance(st.advance)
		cfg, err := c.For(context.Background(), st.account)
		if err != nil {
			t.Fatalf("%s: For: %v", st.name, err)
		}
		if got := whoAmI(t, cfg); got != st.account {
			t.Errorf("%s: acts in %s, want %s", st.name, got, st.account)
		}
		if got := len(e.sts.AssumeRoleCalls()); got != st.wantAssumes {
			t.Errorf("%s: %d AssumeRole calls, want %d", st.name, got, st.wantAssumes)
		}
	}
}

func TestOrgAccountsCached(t *testing.T) {
	e := newEnv(t)
	c, err := New(context.Background(), e.base, Options{OrgTTL: 10 * time.Minute, Clock: e.clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lookups := []struct {
		name      string
		advance   time.Duration
		wantCalls int // ListAccounts pages fetched so far (2 per listing)
	}{
		{name: "first lookup lists every page", wantCalls: 2},
		{name: "second lookup is served from the cache", advance: 5 * time.Minute, wantCalls: 2},
		{name: "after the TTL the list is read again", advance: 6 * time.Minute, wantCalls: 4},
	}
	for _, l := range lookups {
		e.clk.Advance(l.advance)
		got, err := c.OrgAccounts(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", l.name, err)
		}
		if len(got) != 3 || got[member] != "prod-data" || got["555566667777"] != "sandbox" {
			t.Errorf("%s: accounts = %v", l.name, got)
		}
		if n := len(e.srv.CallsTo("organizations", "ListAccounts")); n != l.wantCalls {
			t.Errorf("%s: %d ListAccounts calls, want %d", l.name, n, l.wantCalls)
		}
	}
}

func TestOrgAccountsError(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(awsfake.Fault{Service: "organizations", Code: "AccessDeniedException", Status: 400, Times: -1})
	c, err := New(context.Background(), e.base, Options{Clock: e.clk})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := c.OrgAccounts(context.Background()); err == nil || !strings.Contains(err.Error(), "list organization accounts") {
		t.Fatalf("error = %v", err)
	}
	// A failed listing is not cached: the next lookup tries again.
	e.srv.ClearFaults()
	if got, err := c.OrgAccounts(context.Background()); err != nil || len(got) != 3 {
		t.Errorf("after the fault cleared: %v, %v", got, err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{name: "role ARN in another account", opts: Options{RoleARNs: map[string]string{member: "arn:aws:iam::555566667777:role/x"}}, want: []string{"is in account 555566667777, not 444455556666"}},
		{name: "not a role ARN", opts: Options{RoleARNs: map[string]string{member: "arn:aws:iam::444455556666:user/x"}}, want: []string{"is not an IAM role ARN"}},
		{name: "write role ARN in another account", opts: Options{WriteRoleARNs: map[string]string{member: "arn:aws:iam::555566667777:role/w"}}, want: []string{"is in account 555566667777, not 444455556666"}},
		{name: "write role name that is an ARN", opts: Options{MemberWriteRoleName: "arn:aws:iam::1:role/w"}, want: []string{"member write role name"}},
		{name: "every problem at once", opts: Options{MemberRoleName: "arn:aws:iam::1:role/x", RoleARNs: map[string]string{"12": "x"}, Duration: time.Minute}, want: []string{"must be a role name", `account "12"`, "outside 15m to 12h"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), aws.Config{}, tc.opts)
			if err == nil {
				t.Fatal("New accepted the options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
