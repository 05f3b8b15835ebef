package iampolicy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// guards are the Deny statements both member roles carry.
var guards = []string{SidDenyBotChanges, SidDenyBotTags, SidDenyTrustChanges}

func withGuards(sids ...string) []string { return append(sids, guards...) }

func TestPoliciesFeatures(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		bot        []string
		member     []string
		write      []string
		notGranted []string // actions no document may allow
	}{
		{
			name:       "replay only needs nothing",
			opts:       Options{MemberRoleName: "m", MemberWriteRoleName: "w"},
			bot:        []string{},
			member:     []string{},
			write:      []string{},
			notGranted: []string{"sts:AssumeRole", "sqs:ReceiveMessage"},
		},
		{
			name:       "read-only deployment grants no writes and assumes no write role",
			opts:       Options{SQS: true, StateReads: true, MemberRoleName: "m", MemberWriteRoleName: "w"},
			bot:        []string{SidEventQueue, SidTrailLogs, SidAssumeMember},
			member:     withGuards(SidStateReads, SidAccessRecords),
			write:      []string{},
			notGranted: []string{"s3:PutBucketPolicy", "iam:PutUserPolicy", "rds:ModifyDBSnapshotAttribute", "sso:CreateAccountAssignment", "sts:TagSession"},
		},
		{
			name:   "everything, split",
			opts:   allFeatures(),
			bot:    []string{SidEventQueue, SidTrailLogs, SidTrailKey, SidOrgAccounts, SidCanaryTag, SidCanaryIdentity, SidAuditAnchors, SidAuditBucket, SidAssumeMember, SidAssumeMemberWrite},
			member: withGuards(SidStateReads, SidAccessRecords, SidAccessLogs, SidContainmentReads, SidBackfill, SidBreakGlassReadRole, SidIdentityCenterRead, SidCanaryTag, SidCanaryIdentity),
			write:  withGuards(SidContainment, SidBreakGlassRole, SidBreakGlassRevoke, SidIdentityCenter),
		},
		{
			name: "everything through one member role, as before the split",
			opts: func() Options { o := allFeatures(); o.MemberWriteRoleName = ""; return o }(),
			bot:  []string{SidEventQueue, SidTrailLogs, SidTrailKey, SidOrgAccounts, SidCanaryTag, SidCanaryIdentity, SidAuditAnchors, SidAuditBucket, SidAssumeMember},
			member: withGuards(SidStateReads, SidAccessRecords, SidAccessLogs, SidContainmentReads, SidBackfill, SidBreakGlassReadRole, SidIdentityCenterRead, SidCanaryTag, SidCanaryIdentity,
				SidContainment, SidBreakGlassRole, SidBreakGlassRevoke, SidIdentityCenter),
			write: []string{},
		},
		{
			name:       "canary in the bot's account only",
			opts:       Options{SQS: true, Canary: true, MemberRoleName: "m"},
			bot:        []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity},
			member:     []string{},
			write:      []string{},
			notGranted: []string{"sts:AssumeRole", "iam:PutRolePolicy"},
		},
		{
			name:   "canary in member accounts needs the member role",
			opts:   Options{SQS: true, Canary: true, CanaryMembers: true, MemberRoleName: "m"},
			bot:    []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity, SidAssumeMember},
			member: withGuards(SidCanaryTag, SidCanaryIdentity),
			write:  []string{},
		},
		{
			name:   "canary in member accounts without member roles: the bot's statements serve",
			opts:   Options{SQS: true, Canary: true, CanaryMembers: true},
			bot:    []string{SidEventQueue, SidTrailLogs, SidCanaryTag, SidCanaryIdentity},
			member: []string{},
			write:  []string{},
		},
		{
			name:   "no member role: the bot holds the member statements",
			opts:   Options{SQS: true, StateReads: true, Containment: true},
			bot:    []string{SidEventQueue, SidTrailLogs, SidStateReads, SidAccessRecords, SidContainmentReads, SidContainment},
			member: []string{SidStateReads, SidAccessRecords, SidContainmentReads, SidContainment},
			write:  []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bot, member, write := Policies(tt.opts)
			if got := sids(bot); !reflect.DeepEqual(got, tt.bot) {
				t.Errorf("bot statements = %v, want %v", got, tt.bot)
			}
			if got := sids(member); !reflect.DeepEqual(got, tt.member) {
				t.Errorf("member statements = %v, want %v", got, tt.member)
			}
			if got := sids(write); !reflect.DeepEqual(got, tt.write) {
				t.Errorf("write statements = %v, want %v", got, tt.write)
			}
			for _, a := range tt.notGranted {
				for _, d := range []Document{bot, member, write} {
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

// TestMemberRoleOnlyReads: with the roles split, the member role allows
// nothing that changes AWS but the canary's own tag, so whoever holds its
// credentials can read and no more.
func TestMemberRoleOnlyReads(t *testing.T) {
	_, member, _ := Policies(allFeatures())
	for _, s := range member.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			canary := s.Sid == SidCanaryTag && a == "iam:TagRole"
			if !IsRead(a) && a != "sts:GetCallerIdentity" && !canary {
				t.Errorf("the member role allows %s (%s)", a, s.Sid)
			}
		}
	}
}

// TestGuardsDenyChangesToTheBot: both member roles deny every IAM change to
// the bot's roles (and to its own role or user when named), tags other
// than the canary's, and changes to who may assume the break-glass roles.
func TestGuardsDenyChangesToTheBot(t *testing.T) {
	opts := allFeatures()
	opts.BotARN = "arn:aws:iam::111122223333:role/secops-bot"
	opts.BreakGlassRoleARNs = []string{"arn:aws:iam::111122223333:role/secops-breakglass"}
	_, member, write := Policies(opts)
	own := []string{"arn:aws:iam::*:role/secops-bot-member", "arn:aws:iam::*:role/secops-bot-member-write", "arn:aws:iam::111122223333:role/secops-bot"}
	for name, d := range map[string]Document{"member": member, "write": write} {
		got := map[string]Statement{}
		for _, s := range d.Statement {
			if s.Effect == "Deny" {
				got[s.Sid] = s
			}
		}
		changes := got[SidDenyBotChanges]
		if !reflect.DeepEqual(changes.Resource, own) {
			t.Errorf("%s: %s on %v, want the bot's roles %v", name, SidDenyBotChanges, changes.Resource, own)
		}
		// Every IAM change the bot's code could make is among the denied
		// actions.
		for _, a := range []string{"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary",
			"iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:PutUserPolicy", "iam:CreateAccessKey", "iam:UpdateAccessKey",
			"iam:PassRole", "iam:UntagRole", "iam:CreateLoginProfile", "iam:AddUserToGroup"} {
			if !slices.ContainsFunc(changes.Action, func(p string) bool { return covers(p, a) }) {
				t.Errorf("%s: %s does not deny %s", name, SidDenyBotChanges, a)
			}
		}
		for _, a := range changes.Action {
			if covers(a, "iam:TagRole") || covers(a, "iam:GetRole") || covers(a, "iam:ListRoleTags") {
				t.Errorf("%s: %s denies %s, which the canary or the reads need", name, SidDenyBotChanges, a)
			}
		}
		tags := got[SidDenyBotTags]
		if !reflect.DeepEqual(tags.Resource, own) || !reflect.DeepEqual(tags.Condition["ForAnyValue:StringNotEquals"]["aws:TagKeys"], []string{"secops-bot:canary"}) {
			t.Errorf("%s: %s = %+v, want other tag keys denied on the bot's roles", name, SidDenyBotTags, tags)
		}
		trust := got[SidDenyTrustChanges]
		if !reflect.DeepEqual(trust.Resource, opts.BreakGlassRoleARNs) || !slices.Contains(trust.Action, "iam:UpdateAssumeRolePolicy") {
			t.Errorf("%s: %s = %+v, want trust changes denied on the break-glass roles", name, SidDenyTrustChanges, trust)
		}
	}
}

func TestPoliciesResources(t *testing.T) {
	bot, member, write := Policies(Options{
		SQS: true, QueueARN: "arn:aws-cn:sqs:cn-north-1:111122223333:events", TrailBucket: "trail",
		StateReads: true, AccessLogBuckets: []string{"acme-logs"}, BreakGlassAssumeRole: true, BreakGlassRoleARNs: []string{"arn:aws-cn:iam::111122223333:role/bg"},
		MemberRoleName: "member", MemberRoleARNs: []string{"arn:aws-cn:iam::444455556666:role/other"},
		MemberWriteRoleName: "write",
	})
	res := map[string][]string{}
	for _, s := range append(append(bot.Statement, member.Statement...), write.Statement...) {
		res[s.Sid] = s.Resource
	}
	own := []string{"arn:aws-cn:iam::*:role/member", "arn:aws-cn:iam::444455556666:role/other", "arn:aws-cn:iam::*:role/write"}
	want := map[string][]string{
		SidEventQueue:         {"arn:aws-cn:sqs:cn-north-1:111122223333:events"},
		SidTrailLogs:          {"arn:aws-cn:s3:::trail/*"},
		SidAssumeMember:       {"arn:aws-cn:iam::*:role/member", "arn:aws-cn:iam::444455556666:role/other"},
		SidAssumeMemberWrite:  {"arn:aws-cn:iam::*:role/write"},
		SidStateReads:         {"*"},
		SidAccessRecords:      {"*"},
		SidAccessLogs:         {"arn:aws-cn:s3:::acme-logs", "arn:aws-cn:s3:::acme-logs/*"},
		SidBreakGlassReadRole: {"arn:aws-cn:iam::111122223333:role/bg"},
		SidBreakGlassRole:     {"arn:aws-cn:iam::111122223333:role/bg"},
		SidBreakGlassRevoke:   {"arn:aws-cn:iam::111122223333:role/bg"},
		SidDenyBotChanges:     own,
		SidDenyBotTags:        own,
		SidDenyTrustChanges:   {"arn:aws-cn:iam::111122223333:role/bg"},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("resources\n got %v\nwant %v", res, want)
	}
}

func TestContainmentActionsAreTheCatalogues(t *testing.T) {
	_, member, write := Policies(Options{Containment: true, MemberRoleName: "m", MemberWriteRoleName: "w"})
	reads, writes := member.Statement[0].Action, write.Statement[0].Action
	all := append(slices.Clone(reads), writes...)
	slices.Sort(all)
	if !reflect.DeepEqual(all, ContainmentActions()) || len(reads) == 0 || len(writes) == 0 {
		t.Errorf("containment statements = %v and %v, want the catalogue's %v split into reads and writes", reads, writes, ContainmentActions())
	}
	for _, a := range writes {
		if IsRead(a) {
			t.Errorf("the write role's containment statement holds the read %s", a)
		}
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
	bot, member, write := Policies(opts)
	for name, d := range map[string]Document{"bot": bot, "member": member, "member-write": write} {
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
	bot, member, _ := Policies(opts)
	opts.BotARN = "arn:aws:iam::111122223333:role/secops-bot"
	botRole, _, _ := Policies(opts)
	opts.BotARN = "arn:aws:iam::111122223333:user/secops-bot"
	botUser, _, _ := Policies(opts)
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
