package iampolicy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sids(d Document) []string {
	out := []string{}
	for _, s := range d.Statement {
		out = append(out, s.Sid)
	}
	return out
}

func TestPoliciesFeatures(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		bot        []string
		member     []string
		notGranted []string // actions neither document may allow
	}{
		{
			name:       "replay only needs nothing",
			opts:       Options{MemberRoleName: "m"},
			bot:        []string{},
			member:     []string{},
			notGranted: []string{"sts:AssumeRole", "sqs:ReceiveMessage"},
		},
		{
			name:       "read-only deployment grants no writes",
			opts:       Options{SQS: true, StateReads: true, MemberRoleName: "m"},
			bot:        []string{SidEventQueue, SidTrailLogs, SidAssumeMember},
			member:     []string{SidStateReads},
			notGranted: []string{"s3:PutBucketPolicy", "iam:PutUserPolicy", "rds:ModifyDBSnapshotAttribute", "sso:CreateAccountAssignment"},
		},
		{
			name:   "everything",
			opts:   allFeatures(),
			bot:    []string{SidEventQueue, SidTrailLogs, SidTrailKey, SidOrgAccounts, SidCanaryTag, SidCanaryIdentity, SidAuditAnchors, SidAuditBucket, SidAssumeMember},
			member: []string{SidStateReads, SidContainment, SidBackfill, SidBreakGlassRole, SidBreakGlassRevoke, SidIdentityCenter, SidCanaryTag, SidCanaryIdentity},
		},
		{
			name:       "canary in the bot's account only",
			opts:       Options{SQS: true, Canary: true, MemberRoleName: "m"},
			bot:        []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity},
			member:     []string{},
			notGranted: []string{"sts:AssumeRole", "iam:PutRolePolicy"},
		},
		{
			name:   "canary in member accounts needs the member role",
			opts:   Options{SQS: true, Canary: true, CanaryMembers: true, MemberRoleName: "m"},
			bot:    []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity, SidAssumeMember},
			member: []string{SidCanaryTag, SidCanaryIdentity},
		},
		{
			name:   "canary in member accounts without member roles: the bot's statements serve",
			opts:   Options{SQS: true, Canary: true, CanaryMembers: true},
			bot:    []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity},
			member: []string{},
		},
		{
			name:   "no member role: the bot holds the member statements",
			opts:   Options{SQS: true, StateReads: true, Containment: true},
			bot:    []string{SidEventQueue, SidTrailLogs, SidStateReads, SidContainment},
			member: []string{SidStateReads, SidContainment},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot, member := Policies(tt.opts)
			if got := sids(bot); !reflect.DeepEqual(got, tt.bot) {
				t.Errorf("bot statements = %v, want %v", got, tt.bot)
			}
			if got := sids(member); !reflect.DeepEqual(got, tt.member) {
				t.Errorf("member statements = %v, want %v", got, tt.member)
			}
			for _, a := range tt.notGranted {
				for _, d := range []Document{bot, member} {
					for _, g := range d.Actions() {
						if g == a {
							t.Errorf("%s is granted", a)
						}
					}
				}
			}
		})
	}
}

func TestPoliciesResources(t *testing.T) {
	bot, member := Policies(Options{
		SQS: true, QueueARN: "arn:aws-cn:sqs:cn-north-1:111122223333:events", TrailBucket: "trail",
		StateReads: true, BreakGlassAssumeRole: true, BreakGlassRoleARNs: []string{"arn:aws-cn:iam::111122223333:role/bg"},
		MemberRoleName: "member", MemberRoleARNs: []string{"arn:aws-cn:iam::444455556666:role/other"},
	})
	res := map[string][]string{}
	for _, s := range append(bot.Statement, member.Statement...) {
		res[s.Sid] = s.Resource
	}
	want := map[string][]string{
		SidEventQueue:       {"arn:aws-cn:sqs:cn-north-1:111122223333:events"},
		SidTrailLogs:        {"arn:aws-cn:s3:::trail/*"},
		SidAssumeMember:     {"arn:aws-cn:iam::*:role/member", "arn:aws-cn:iam::444455556666:role/other"},
		SidStateReads:       {"*"},
		SidBreakGlassRole:   {"arn:aws-cn:iam::111122223333:role/bg"},
		SidBreakGlassRevoke: {"arn:aws-cn:iam::111122223333:role/bg"},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("resources\n got %v\nwant %v", res, want)
	}
}

func TestContainmentActionsAreTheCatalogues(t *testing.T) {
	_, member := Policies(Options{Containment: true})
	if got := member.Statement[0].Action; !reflect.DeepEqual(got, ContainmentActions()) || len(got) == 0 {
		t.Errorf("containment statement = %v, want the catalogue's %v", got, ContainmentActions())
	}
}

func TestQueueARN(t *testing.T) {
	tests := []struct {
		name, url, want string
		wantErr         bool
	}{
		{name: "current form", url: "https://sqs.eu-west-1.amazonaws.com/111122223333/secops-events", want: "arn:aws:sqs:eu-west-1:111122223333:secops-events"},
		{name: "legacy form", url: "https://us-east-2.queue.amazonaws.com/111122223333/q.fifo", want: "arn:aws:sqs:us-east-2:111122223333:q.fifo"},
		{name: "china", url: "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q", want: "arn:aws-cn:sqs:cn-north-1:111122223333:q"},
		{name: "govcloud", url: "https://sqs.us-gov-west-1.amazonaws.com/111122223333/q", want: "arn:aws-us-gov:sqs:us-gov-west-1:111122223333:q"},
		{name: "local server", url: "http://localhost:4100/111122223333/q", wantErr: true},
		{name: "no account", url: "https://sqs.eu-west-1.amazonaws.com/q", wantErr: true},
		{name: "not a URL", url: "://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QueueARN(tt.url)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("QueueARN(%q) = %q, %v; want %q (error %v)", tt.url, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestGolden pins the printed documents: `secops-bot iam-policy` prints
// exactly these for a configuration with every feature on.
func TestGolden(t *testing.T) {
	opts := allFeatures()
	opts.QueueARN = "arn:aws:sqs:eu-west-1:111122223333:secops-bot-events"
	opts.TrailBucket = "org-trail"
	opts.BreakGlassRoleARNs = []string{"arn:aws:iam::111122223333:role/secops-breakglass"}
	bot, member := Policies(opts)
	for name, d := range map[string]Document{"bot": bot, "member": member} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".golden.json")
			got := d.JSON()
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run go test -update and review the diff):\n%s", name, path, got)
			}
		})
	}
}

// TestCanaryStatementsWriteOnlyTheCanaryTag: the canary may tag the bot's
// own principal (and each member role itself) with its tag, and nothing
// else.
func TestCanaryStatementsWriteOnlyTheCanaryTag(t *testing.T) {
	opts := Options{Canary: true, CanaryMembers: true, MemberRoleName: "secops-bot-member",
		MemberRoleARNs: []string{"arn:aws:iam::444455556666:role/custom"}}
	bot, member := Policies(opts)
	opts.BotARN = "arn:aws:iam::111122223333:role/secops-bot"
	botRole, _ := Policies(opts)
	opts.BotARN = "arn:aws:iam::111122223333:user/secops-bot"
	botUser, _ := Policies(opts)
	want := map[string][]string{"aws:TagKeys": {"secops-bot:canary"}}
	tests := []struct {
		name      string
		doc       Document
		actions   []string
		resources []string
	}{
		{"bot, name unknown", bot, []string{"iam:TagRole", "iam:TagUser"}, []string{"arn:aws:iam::*:role/*", "arn:aws:iam::*:user/*"}},
		{"bot, its role named", botRole, []string{"iam:TagRole"}, []string{"arn:aws:iam::111122223333:role/secops-bot"}},
		{"bot, its user named", botUser, []string{"iam:TagUser"}, []string{"arn:aws:iam::111122223333:user/secops-bot"}},
		{"member", member, []string{"iam:TagRole"}, []string{"arn:aws:iam::*:role/secops-bot-member", "arn:aws:iam::444455556666:role/custom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st *Statement
			for i := range tt.doc.Statement {
				if tt.doc.Statement[i].Sid == SidCanaryTag {
					st = &tt.doc.Statement[i]
				}
			}
			if st == nil {
				t.Fatalf("no %s statement", SidCanaryTag)
			}
			if !reflect.DeepEqual(st.Action, tt.actions) || !reflect.DeepEqual(st.Resource, tt.resources) {
				t.Errorf("statement = %v on %v, want %v on %v", st.Action, st.Resource, tt.actions, tt.resources)
			}
			if got := st.Condition["ForAllValues:StringEquals"]; !reflect.DeepEqual(got, want) {
				t.Errorf("condition = %v, want only the canary tag key", st.Condition)
			}
		})
	}
}
