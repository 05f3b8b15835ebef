package canary

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

const (
	botAccount    = "111122223333"
	memberAccount = "444455556666"
	roleKey       = "ASIABOTROLE000000001"
	userKey       = "AKIABOTUSER000000001"
	rootKey       = "AKIAROOT000000000001"
)

var callTime = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)

type env struct {
	srv *awsfake.Server
	iam *awsfake.IAM
	clk *clock.Fake
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: awsfake.New(), clk: clock.NewFake(callTime)}
	t.Cleanup(e.srv.Close)
	e.srv.Identities().Add(roleKey, "arn:aws:sts::"+botAccount+":assumed-role/secops-bot/i-0abc")
	e.srv.Identities().Add(userKey, "arn:aws:iam::"+botAccount+":user/service/secops-bot-user")
	e.srv.Identities().Add(rootKey, "arn:aws:iam::"+botAccount+":root")
	e.iam = awsfake.NewIAM(e.clk)
	e.srv.Handle("sts", awsfake.NewSTS(e.srv.Identities(), e.clk))
	e.srv.Handle("iam", e.iam)
	return e
}

func (e *env) config(key string) aws.Config {
	return aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(e.srv.URL()), HTTPClient: e.srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", ""),
	}
}

func TestTag(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		seed     func(*awsfake.IAM)
		want     Tagged
		tagsOf   func(*awsfake.IAM) map[string]string
		wantCall string
	}{
		{
			name: "a role tags itself",
			key:  roleKey,
			seed: func(f *awsfake.IAM) {
				f.AddRole(botAccount, awsfake.IAMRole{Name: "secops-bot", Path: "/service/", Tags: map[string]string{"team": "secops"}})
			},
			want: Tagged{
				Account: botAccount, Kind: "role", Name: "secops-bot", EventName: "TagRole",
				ResourceARN: "arn:aws:iam::" + botAccount + ":role/secops-bot",
				CallerARN:   "arn:aws:sts::" + botAccount + ":assumed-role/secops-bot/i-0abc",
				Value:       "2026-03-02T10:15:00Z",
			},
			tagsOf: func(f *awsfake.IAM) map[string]string {
				r, _ := f.Role(botAccount, "secops-bot")
				return r.Tags
			},
			wantCall: "TagRole",
		},
		{
			name: "a user tags itself",
			key:  userKey,
			seed: func(f *awsfake.IAM) {
				f.AddUser(botAccount, awsfake.IAMUser{Name: "secops-bot-user", Path: "/service/"})
			},
			want: Tagged{
				Account: botAccount, Kind: "user", Name: "secops-bot-user", EventName: "TagUser",
				ResourceARN: "arn:aws:iam::" + botAccount + ":user/secops-bot-user",
				CallerARN:   "arn:aws:iam::" + botAccount + ":user/service/secops-bot-user",
				Value:       "2026-03-02T10:15:00Z",
			},
			tagsOf: func(f *awsfake.IAM) map[string]string {
				u, _ := f.User(botAccount, "secops-bot-user")
				return u.Tags
			},
			wantCall: "TagUser",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.seed(e.iam)
			got, err := New(e.config(tt.key), nil).Tag(context.Background(), "", callTime)
			if err != nil {
				t.Fatalf("Tag: %v", err)
			}
			if got != tt.want {
				t.Errorf("Tag =\n %+v\nwant\n %+v", got, tt.want)
			}
			tags := tt.tagsOf(e.iam)
			if tags[TagKey] != "2026-03-02T10:15:00Z" {
				t.Errorf("tags = %v, want %s = the call time", tags, TagKey)
			}
			if tt.name == "a role tags itself" && tags["team"] != "secops" {
				t.Errorf("tags = %v: the role's other tags were lost", tags)
			}
			calls := e.srv.CallsTo("iam", tt.wantCall)
			if len(calls) != 1 || calls[0].AccessKey != tt.key {
				t.Errorf("iam %s calls = %+v, want one signed by the bot", tt.wantCall, calls)
			}
		})
	}
}

func TestTagMemberAccount(t *testing.T) {
	e := newEnv(t)
	e.iam.AddRole(memberAccount, awsfake.IAMRole{Name: "secops-bot-member"})
	clients, err := awsclient.New(context.Background(), e.config(roleKey), awsclient.Options{MemberRoleName: "secops-bot-member", Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	got, err := New(e.config(roleKey), clients).Tag(context.Background(), memberAccount, callTime)
	if err != nil {
		t.Fatalf("Tag: %v", err)
	}
	if got.Account != memberAccount || got.Name != "secops-bot-member" || got.ResourceARN != "arn:aws:iam::"+memberAccount+":role/secops-bot-member" {
		t.Errorf("Tag = %+v, want the member role in %s", got, memberAccount)
	}
	r, _ := e.iam.Role(memberAccount, "secops-bot-member")
	if r.Tags[TagKey] != got.Value {
		t.Errorf("member role tags = %v, want %s", r.Tags, TagKey)
	}
	if _, ok := e.iam.Role(botAccount, "secops-bot-member"); ok {
		t.Error("a role appeared in the bot's account")
	}
}

func TestTagRefusals(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		account string
		clients bool
		want    string
	}{
		{name: "root cannot be tagged", key: rootKey, want: "cannot be tagged"},
		{name: "role missing", key: roleKey, want: "principal is gone"},
		{name: "member account without member access", key: roleKey, account: memberAccount, want: "no member-account access"},
		{name: "member account reached as the bot itself", key: roleKey, account: memberAccount, clients: true, want: "configure a member role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var src ConfigSource
			if tt.clients {
				c, err := awsclient.New(context.Background(), e.config(tt.key), awsclient.Options{Clock: e.clk})
				if err != nil {
					t.Fatal(err)
				}
				src = c
			}
			_, err := New(e.config(tt.key), src).Tag(context.Background(), tt.account, callTime)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Tag error = %v, want one saying %q", err, tt.want)
			}
			if n := len(e.srv.CallsTo("iam", "TagRole")) + len(e.srv.CallsTo("iam", "TagUser")); n > 0 && tt.name != "role missing" {
				t.Errorf("%d tag calls were made anyway", n)
			}
		})
	}
}
