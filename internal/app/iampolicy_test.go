package app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/internal/config"
	"github.com/secops-bot/secops-bot/internal/iampolicy"
	"github.com/secops-bot/secops-bot/respond/breakglass"
)

func TestIAMPolicyOptionsConfig(t *testing.T) {
	t.Parallel()
	base := func() config.Config {
		c := config.Default()
		c.AWS.MemberRoleName = "secops-bot-member"
		return c
	}
	tests := []struct {
		name    string
		cfg     func() config.Config
		want    iampolicy.Options
		wantErr string
	}{
		{
			name: "defaults: state, containment and backfill",
			cfg:  base,
			want: iampolicy.Options{StateReads: true, Containment: true, Backfill: true, MemberRoleName: "secops-bot-member"},
		},
		{
			name: "aws off leaves the member role empty",
			cfg: func() config.Config {
				c := base()
				c.AWS.Enabled, c.AWS.OrgAccounts = false, true
				return c
			},
			want: iampolicy.Options{MemberRoleName: "secops-bot-member"},
		},
		{
			name: "queue, organization, overrides and both break-glass modes",
			cfg: func() config.Config {
				c := base()
				c.Ingest.SQSQueueURL = "https://sqs.eu-west-1.amazonaws.com/111122223333/events"
				c.AWS.OrgAccounts = true
				c.Accounts = []config.Account{{ID: "1", RoleARN: "arn:aws:iam::1:role/x"}, {ID: "2"}, {ID: "3", RoleARN: "arn:aws:iam::1:role/x"}}
				c.BreakGlass.Enabled = true
				c.BreakGlass.Accounts = []breakglass.AccountPolicy{
					{Mode: breakglass.ModeAssumeRole, Levels: []breakglass.Level{{RoleARN: "arn:aws:iam::1:role/bg"}}},
					{Mode: breakglass.ModeIdentityCenter, Levels: []breakglass.Level{{PermissionSetARN: "ps"}}},
				}
				return c
			},
			want: iampolicy.Options{
				SQS: true, QueueARN: "arn:aws:sqs:eu-west-1:111122223333:events",
				StateReads: true, Containment: true, Backfill: true, OrgAccounts: true,
				BreakGlassAssumeRole: true, BreakGlassIdentityCenter: true,
				MemberRoleName: "secops-bot-member", MemberRoleARNs: []string{"arn:aws:iam::1:role/x"},
				BreakGlassRoleARNs: []string{"arn:aws:iam::1:role/bg"},
			},
		},
		{
			name: "member write roles, by name and per account",
			cfg: func() config.Config {
				c := base()
				c.AWS.MemberWriteRoleName = "secops-bot-member-write"
				c.Accounts = []config.Account{{ID: "1", WriteRoleARN: "arn:aws:iam::1:role/w"}, {ID: "2"}}
				return c
			},
			want: iampolicy.Options{StateReads: true, Containment: true, Backfill: true, MemberRoleName: "secops-bot-member",
				MemberWriteRoleName: "secops-bot-member-write", MemberWriteRoleARNs: []string{"arn:aws:iam::1:role/w"}},
		},
		{
			name: "break-glass accounts ignored while disabled",
			cfg: func() config.Config {
				c := base()
				c.BreakGlass.Enabled = false
				c.BreakGlass.Accounts = []breakglass.AccountPolicy{{Mode: breakglass.ModeIdentityCenter}}
				return c
			},
			want: iampolicy.Options{StateReads: true, Containment: true, Backfill: true, MemberRoleName: "secops-bot-member"},
		},
		{
			name: "canary in the bot's account and two member accounts",
			cfg: func() config.Config {
				c := base()
				c.Canary.Enabled = true
				c.Canary.Accounts = []string{"444455556666", "555566667777"}
				return c
			},
			want: iampolicy.Options{StateReads: true, Containment: true, Backfill: true, Canary: true, CanaryMembers: true, MemberRoleName: "secops-bot-member"},
		},
		{
			name: "canary accounts ignored while the canary is off",
			cfg: func() config.Config {
				c := base()
				c.Canary.Accounts = []string{"444455556666"}
				return c
			},
			want: iampolicy.Options{StateReads: true, Containment: true, Backfill: true, MemberRoleName: "secops-bot-member"},
		},
		{
			name: "a queue URL that is not SQS",
			cfg: func() config.Config {
				c := base()
				c.Ingest.SQSQueueURL = "http://localhost:4100/111122223333/q"
				return c
			},
			wantErr: "ingest.sqs_queue_url",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IAMPolicyOptions(tt.cfg())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
