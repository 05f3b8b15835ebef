package awsclient

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

// putAliceScope is one change: an inline policy on the user alice.
func putAliceScope() Scope {
	return Scope{
		Actions:   []string{"iam:PutUserPolicy"},
		Resources: []string{"arn:aws:iam::" + member + ":user/alice"},
		Actor:     "U0RESPONDER",
		ActionID:  "C-0A1B2C3D4E5F",
	}
}

func TestForActionSessions(t *testing.T) {
	const (
		readRole  = "arn:aws:iam::" + member + ":role/secops-member"
		writeRole = "arn:aws:iam::" + member + ":role/secops-member-write"
	)
	tests := []struct {
		name       string
		opts       Options
		wantRole   string // "" when no role is assumed
		wantTagged bool   // SourceIdentity and tag passed
	}{
		{name: "write role by name", opts: Options{MemberRoleName: "secops-member", MemberWriteRoleName: "secops-member-write"}, wantRole: writeRole, wantTagged: true},
		{name: "write role of the account", opts: Options{MemberRoleName: "secops-member", WriteRoleARNs: map[string]string{member: writeRole}}, wantRole: writeRole, wantTagged: true},
		{name: "no write role: the member role, scoped but untagged", opts: Options{MemberRoleName: "secops-member"}, wantRole: readRole},
		{name: "no member role: the base credentials", opts: Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.opts.Clock = e.clk
			c, err := New(context.Background(), e.base, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := c.ForAction(context.Background(), member, putAliceScope())
			if err != nil {
				t.Fatalf("ForAction: %v", err)
			}
			calls := e.sts.AssumeRoleCalls()
			if tc.wantRole == "" {
				if len(calls) != 0 || whoAmI(t, cfg) != botAccount {
					t.Errorf("assumed %v, want the base credentials", calls)
				}
				return
			}
			if len(calls) != 1 {
				t.Fatalf("%d AssumeRole calls, want 1", len(calls))
			}
			call := calls[0]
			wantPolicy := `{"Statement":[{"Action":["iam:PutUserPolicy"],"Effect":"Allow","Resource":["arn:aws:iam::` + member + `:user/alice"],"Sid":"ThisChangeOnly"}],"Version":"2012-10-17"}`
			if call.RoleARN != tc.wantRole || call.Policy != wantPolicy || call.DurationSeconds != 900 || call.SessionName != "secops-bot-C-0A1B2C3D4E5F" {
				t.Errorf("AssumeRole = %+v\nwant role %s, 900 s, session secops-bot-C-0A1B2C3D4E5F and policy %s", call, tc.wantRole, wantPolicy)
			}
			tagged := call.SourceIdentity == "U0RESPONDER" && call.Tags[TagAction] == "C-0A1B2C3D4E5F"
			untagged := call.SourceIdentity == "" && len(call.Tags) == 0
			if (tc.wantTagged && !tagged) || (!tc.wantTagged && !untagged) {
				t.Errorf("source identity %q, tags %v; want tagged %v", call.SourceIdentity, call.Tags, tc.wantTagged)
			}
			if whoAmI(t, cfg) != member {
				t.Error("the session does not act in the member account")
			}
			// Each change gets a session of its own.
			if _, err := c.ForAction(context.Background(), member, putAliceScope()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.sts.AssumeRoleCalls()); n != 2 {
				t.Errorf("%d AssumeRole calls after a second change, want 2", n)
			}
		})
	}
}

// TestForActionSessionDoesOnlyItsChange: the session a change gets can make
// that change and is refused the same call on another user, whatever the
// write role itself allows.
func TestForActionSessionDoesOnlyItsChange(t *testing.T) {
	e := newEnv(t)
	fake := awsfake.NewIAM(e.clk)
	e.srv.Handle("iam", fake)
	fake.AddUser(member, awsfake.IAMUser{Name: "alice"})
	fake.AddUser(member, awsfake.IAMUser{Name: "bob"})
	c, err := New(context.Background(), e.base, Options{MemberRoleName: "secops-member", MemberWriteRoleName: "secops-member-write", Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ForAction(context.Background(), member, putAliceScope())
	if err != nil {
		t.Fatal(err)
	}
	put := func(user string) error {
		_, err := iam.NewFromConfig(cfg).PutUserPolicy(context.Background(), &iam.PutUserPolicyInput{
			UserName: aws.String(user), PolicyName: aws.String("p"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`),
		})
		return err
	}
	if err := put("alice"); err != nil {
		t.Fatalf("the change itself: %v", err)
	}
	if err := put("bob"); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("the same call on bob: %v, want AccessDenied", err)
	}
	if u, _ := fake.User(member, "bob"); len(u.Policies) != 0 {
		t.Errorf("bob has policies %v", u.Policies)
	}
}

func TestForActionRefusesAnOpenScope(t *testing.T) {
	e := newEnv(t)
	c, err := New(context.Background(), e.base, Options{MemberRoleName: "secops-member", MemberWriteRoleName: "secops-member-write", Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Scope)
		want   string
	}{
		{"no resource", func(s *Scope) { s.Resources = nil }, "no resource"},
		{"every resource", func(s *Scope) { s.Resources = []string{"*"} }, `"*" is a wildcard`},
		{"every action of a service", func(s *Scope) { s.Actions = []string{"iam:*"} }, `"iam:*" is a wildcard`},
		{"no actor", func(s *Scope) { s.Actor = "" }, "cannot be a source identity"},
		{"an actor STS refuses", func(s *Scope) { s.Actor = "U0 R" }, "cannot be a source identity"},
		{"no action ID", func(s *Scope) { s.ActionID = "" }, "no action ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := putAliceScope()
			tc.change(&s)
			_, err := c.ForAction(context.Background(), member, s)
			if !errors.Is(err, ErrScope) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ForAction = %v, want ErrScope naming %q", err, tc.want)
			}
		})
	}
	if n := len(e.sts.AssumeRoleCalls()); n != 0 {
		t.Errorf("%d AssumeRole calls for refused scopes", n)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" for none
	}{
		{"split roles", Options{MemberRoleName: "r", MemberWriteRoleName: "w"}, ""},
		{"one role for both", Options{MemberRoleName: "r"}, "no member write role is configured"},
		{"no role at all", Options{}, "no member role is configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(context.Background(), aws.Config{}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Warnings()
			if tc.want == "" && len(got) != 0 || tc.want != "" && !slices.ContainsFunc(got, func(w string) bool { return strings.Contains(w, tc.want) }) {
				t.Errorf("Warnings() = %v, want %q", got, tc.want)
			}
		})
	}
}
