package blocks

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
)

func TestConsoleURL(t *testing.T) {
	res := func(typ, id, arn, region string) finding.Finding {
		return finding.Finding{AccountID: "111122223333", Region: region, Resource: finding.Resource{Type: typ, ID: id, ARN: arn}}
	}
	tests := []struct {
		name string
		f    finding.Finding
		want string
	}{
		{"s3 bucket", res("AWS::S3::Bucket", "acme-exports", "arn:aws:s3:::acme-exports", "eu-west-1"),
			"https://s3.console.aws.amazon.com/s3/buckets/acme-exports"},
		{"s3 bucket from ARN only", res("AWS::S3::Bucket", "", "arn:aws:s3:::acme-exports", ""),
			"https://s3.console.aws.amazon.com/s3/buckets/acme-exports"},
		{"s3 bucket in China", res("AWS::S3::Bucket", "b", "arn:aws-cn:s3:::b", "cn-north-1"),
			"https://console.amazonaws.cn/s3/buckets/b"},
		{"account public access block", res("AWS::S3::AccountPublicAccessBlock", "111122223333", "arn:aws:s3:::account/111122223333", "us-east-1"),
			"https://s3.console.aws.amazon.com/s3/settings"},
		{"rds snapshot", res("AWS::RDS::DBSnapshot", "prod-customers-2026-11-26", "arn:aws:rds:eu-central-1:111122223333:snapshot:prod-customers-2026-11-26", "eu-central-1"),
			"https://eu-central-1.console.aws.amazon.com/rds/home?region=eu-central-1#db-snapshot:id=prod-customers-2026-11-26"},
		{"rds snapshot region from ARN", res("AWS::RDS::DBSnapshot", "", "arn:aws:rds:eu-central-1:111122223333:snapshot:snap1", ""),
			"https://eu-central-1.console.aws.amazon.com/rds/home?region=eu-central-1#db-snapshot:id=snap1"},
		{"rds cluster snapshot", res("AWS::RDS::DBClusterSnapshot", "aurora-snap", "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:aurora-snap", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/rds/home?region=us-east-1#db-cluster-snapshot:id=aurora-snap"},
		{"ebs snapshot", res("AWS::EC2::Snapshot", "snap-0abc", "arn:aws:ec2:us-east-1::snapshot/snap-0abc", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#SnapshotDetails:snapshotId=snap-0abc"},
		{"ami", res("AWS::EC2::Image", "ami-0abc", "arn:aws:ec2:us-east-1::image/ami-0abc", "us-east-1"),
			"https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#ImageDetails:imageId=ami-0abc"},
		{"sqs queue", res("AWS::SQS::Queue", "orders", "arn:aws:sqs:eu-west-1:111122223333:orders", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1#/queues/https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F111122223333%2Forders"},
		{"sns topic", res("AWS::SNS::Topic", "alerts", "arn:aws:sns:eu-west-1:111122223333:alerts", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/sns/v3/home?region=eu-west-1#/topic/arn:aws:sns:eu-west-1:111122223333:alerts"},
		{"kms key", res("AWS::KMS::Key", "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"kms alias lands on the key list", res("AWS::KMS::Key", "alias/app", "arn:aws:kms:eu-west-1:111122223333:alias/app", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/kms/home?region=eu-west-1#/kms/keys"},
		{"secret", res("AWS::SecretsManager::Secret", "prod/db", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-AbCdEf", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/secretsmanager/secret?name=prod%2Fdb&region=eu-west-1"},
		{"ecr repository", res("AWS::ECR::Repository", "team/api", "arn:aws:ecr:eu-west-1:111122223333:repository/team/api", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/ecr/repositories/private/111122223333/team%2Fapi?region=eu-west-1"},
		{"lambda function", res("AWS::Lambda::Function", "resize", "arn:aws:lambda:eu-west-1:111122223333:function:resize", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/resize"},
		{"cloudtrail trail", res("AWS::CloudTrail::Trail", "org-trail", "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail", "eu-west-1"),
			"https://eu-west-1.console.aws.amazon.com/cloudtrail/home?region=eu-west-1#/trails/arn:aws:cloudtrail:eu-west-1:111122223333:trail/org-trail"},
		{"iam role", res("AWS::IAM::Role", "deploy", "arn:aws:iam::111122223333:role/deploy", ""),
			"https://console.aws.amazon.com/iam/home#/roles/details/deploy"},
		{"regional type without region", res("AWS::EC2::Snapshot", "snap-0abc", "", ""), ""},
		{"unknown type", res("AWS::Glue::Table", "t", "arn:aws:glue:eu-west-1:111122223333:table/db/t", "eu-west-1"), ""},
		{"nothing", finding.Finding{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConsoleURL(tc.f); got != tc.want {
				t.Errorf("ConsoleURL:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestThreadReply(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	medium := storyOneResolved()
	medium.Severity = finding.SeverityMedium
	tests := []struct {
		name     string
		kind     finding.ChangeKind
		f        finding.Finding
		by, note string
		contains []string
		absent   []string
	}{
		{"repeat counts", finding.ChangeRepeated, storyTwoAcked(), "system", "",
			[]string{":repeat: Seen again (3 times in all): `ModifyDBSnapshotAttribute` by *BackupManager*", "Fri 27 Nov 04:04 CET (03:04 UTC)"}, nil},
		{"acknowledged mentions the user", finding.ChangeAcknowledged, storyTwo(), "U024BE7LH", "",
			[]string{":eyes: Acknowledged by <@U024BE7LH>."}, nil},
		{"resolved: who fixed it, how long, review prompt", finding.ChangeResolved, storyOneResolved(), "", "",
			[]string{
				"Resolved by *contractor-alice/alice@vendor.example*",
				"with `PutBucketPolicy` at Thu 26 Nov 15:26 CET (14:26 UTC); exposed for 14m.",
				"> the bucket policy no longer grants access to everyone",
				":mag: SecOps: review the access history of `acme-analytics-exports` during the 14m it was exposed",
			}, nil},
		{"resolved by hand with a reason", finding.ChangeResolved, storyOneResolved(), "U0RESPONDER", "Policy reverted by hand.\nChecked access logs.",
			[]string{"Resolved by <@U0RESPONDER>", "> Policy reverted by hand.\n> Checked access logs."}, []string{"no longer grants"}},
		{"medium severity gets no review prompt", finding.ChangeResolved, medium, "", "",
			[]string{"Resolved by"}, []string{"review the access history"}},
		{"reopened", finding.ChangeReopened, storyTwo(), "system", "",
			[]string{":rotating_light: Reopened (CRITICAL), exposed again: `ModifyDBSnapshotAttribute`"}, nil},
		{"suppressed by the pipeline", finding.ChangeSuppressed, suppressedBucket(), "system", "",
			[]string{":no_bell: Suppressed by secops-bot.", `> bucket acme-public-website matches expected_public_buckets pattern "acme-public-*"`}, nil},
		{"marked expected with reason", finding.ChangeExpected, storyOne(), "U0ANALYTICS", "public by design <!channel>",
			[]string{"Marked expected by <@U0ANALYTICS>", "> public by design &lt;!channel&gt;"}, []string{"<!channel>"}},
		{"updated keeps unknown targets in view", finding.ChangeUpdated, storyTwo(), "arn:aws:iam::111122223333:user/BackupManager", "payments-dr removed",
			[]string{"Updated by *BackupManager*", "payments-dr removed", ":rotating_light: Still shared with *444455556666*."}, nil},
		{"rerouted says which tag named which team", finding.ChangeRerouted, storyOne(), "system", "Owned by team payments: the resource's tag owner=payments names it (the account's team is core); now routed to #team-payments.",
			[]string{":busts_in_silhouette: Owned by team payments: the resource's tag owner=payments names it (the account's team is core); now routed to #team-payments."}, []string{"rerouted by"}},
		{"unknown kind is still readable", "escalated", storyTwo(), "U0MANAGER", "paged the manager",
			[]string{":information_source: escalated by <@U0MANAGER>.", "paged the manager"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := ThreadReply(tc.kind, tc.f, tc.by, tc.note, berlin)
			if text == "" {
				t.Error("empty fallback text")
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Error(err)
			}
			shown := shownText(t, blocks)
			for _, s := range tc.contains {
				if !strings.Contains(shown, s) {
					t.Errorf("reply lacks %q:\n%s", s, shown)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(shown, s) {
					t.Errorf("reply shows %q", s)
				}
			}
			if !strings.Contains(shown, "Finding `"+tc.f.ID+"`") {
				t.Errorf("reply does not name the finding")
			}
		})
	}
}

func TestFindingsList(t *testing.T) {
	more := regexp.MustCompile(`_… and (\d+) more; narrow with_ ` + "`/secops findings open &lt;team&gt;`")
	for _, n := range []int{1, 47, 48, 84, 500} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			fs := manyFindings(n)
			text, blocks := FindingsList(fs, nil)
			if err := CheckLimits(blocks, false); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text, plural(n, "finding", "findings")+": ") {
				t.Errorf("text %q does not count the findings", text)
			}
			shown := shownText(t, blocks)
			listed := strings.Count(shown, "` · in analytics-dev · ")
			m := more.FindStringSubmatch(shown)
			switch {
			case m == nil && listed != n:
				t.Errorf("%d of %d findings listed and no note of the rest", listed, n)
			case m != nil:
				rest, _ := strconv.Atoi(m[1])
				if listed+rest != n {
					t.Errorf("%d listed + %d more != %d", listed, rest, n)
				}
			}
		})
	}
}

func TestFindingsListOrderAndLinks(t *testing.T) {
	resolved := storyOneResolved()
	resolved.ID = "F-RESOLVED01"
	low := storyOne()
	low.ID, low.Severity = "F-LOW0000001", finding.SeverityLow
	link := "https://example.slack.com/archives/C0SECOPS/p1764212680000100"
	_, blocks := FindingsList([]finding.Finding{resolved, low, storyTwoAcked(), storyOne()}, map[string]string{storyTwo().ID: link})
	var order []string
	idPattern := regexp.MustCompile("`(F-[0-9A-Z]+)`")
	for _, b := range blocks[2:] {
		if s, ok := b.(*slack.SectionBlock); ok {
			if m := idPattern.FindStringSubmatch(s.Text.Text); m != nil {
				order = append(order, m[1])
			}
		}
	}
	want := []string{storyTwo().ID, storyOne().ID, "F-LOW0000001", "F-RESOLVED01"}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("order = %v, want open before closed, most severe first: %v", order, want)
	}
	shown := shownText(t, blocks)
	if !strings.Contains(shown, "<"+link+"|RDS snapshot shared with an unknown account>") {
		t.Errorf("the thread link is missing:\n%s", shown)
	}
	if !strings.Contains(shown, "acknowledged by <@U024BE7LH>") || !strings.Contains(shown, "seen 3 times") {
		t.Errorf("status of the acknowledged finding is missing:\n%s", shown)
	}
	if !strings.Contains(shown, "resolved <!date^") || !strings.Contains(shown, "after 14m") {
		t.Errorf("resolved finding lacks when and how long:\n%s", shown)
	}
}

// Help lists, from the parser's table, exactly the sub-commands it is
// given: the ones this deployment enables.
func TestHelpListsEnabledCommands(t *testing.T) {
	tests := []struct {
		name    string
		enabled []commands.Kind
	}{
		{"every feature", commands.Kinds()},
		{"no containment or break-glass", []commands.Kind{commands.Help, commands.Findings, commands.Ack, commands.Resolve, commands.Investigate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, blocks := Help(tc.enabled)
			shown := shownText(t, blocks)
			for _, k := range commands.Kinds() {
				listed := strings.Contains(shown, code(k.Usage())+" — "+esc(k.Summary()))
				named := strings.Contains(text, " "+k.String()+",") || strings.Contains(text, " "+k.String()+".")
				if want := slices.Contains(tc.enabled, k); listed != want || named != want {
					t.Errorf("%s: listed %v, in the fallback text %v; want %v", k, listed, named, want)
				}
			}
			if err := CheckLimits(blocks, false); err != nil {
				t.Error(err)
			}
		})
	}
	// The usage lines are the parser's, escaped: a placeholder is never
	// read as a mention or a link.
	_, blocks := Help(commands.Kinds())
	if shown := shownText(t, blocks); !strings.Contains(shown, "`/secops ack &lt;finding-id&gt;`") {
		t.Errorf("usage of ack is not escaped:\n%s", shown)
	}
}

// Help on one sub-command shows its usage, what it does, its examples and
// its other spellings, and says when this deployment does not offer it.
func TestHelpTopic(t *testing.T) {
	for _, k := range commands.Kinds() {
		for _, enabled := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s enabled %v", k, enabled), func(t *testing.T) {
				text, blocks := HelpTopic(k, enabled)
				shown := shownText(t, blocks)
				want := []string{code(k.Usage()), esc(k.Summary()), k.Details()}
				for _, ex := range k.Examples() {
					want = append(want, code(ex))
				}
				for _, a := range k.Aliases() {
					want = append(want, code(a))
				}
				for _, w := range want {
					if !strings.Contains(shown, w) {
						t.Errorf("help on %s lacks %q:\n%s", k, w, shown)
					}
				}
				if got := strings.Contains(shown, "Not enabled in this deployment") && strings.Contains(text, "not enabled"); got == enabled {
					t.Errorf("help on %s says not enabled: %v, want %v", k, got, !enabled)
				}
				if err := CheckLimits(blocks, false); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func TestModals(t *testing.T) {
	f := storyOne()
	tests := []struct {
		name     string
		modal    slack.ModalViewRequest
		callback string
		inputs   []string
	}{
		{"resolve", ResolveModal(f.ID), CallbackResolve, []string{BlockResolveReason}},
		{"expected", ExpectedModal(f), CallbackExpected, []string{BlockExpectedReason, BlockExpectedScope, BlockExpectedPattern, BlockExpectedExpiry}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.modal.CallbackID != tc.callback {
				t.Errorf("callback_id = %q, want %q", tc.modal.CallbackID, tc.callback)
			}
			if tc.modal.PrivateMetadata != f.ID {
				t.Errorf("private_metadata = %q, want only the finding ID", tc.modal.PrivateMetadata)
			}
			var got []string
			for _, b := range tc.modal.Blocks.BlockSet {
				if in, ok := b.(*slack.InputBlock); ok {
					got = append(got, in.BlockID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.inputs, ",") {
				t.Errorf("inputs = %v, want %v", got, tc.inputs)
			}
			if err := CheckModal(tc.modal); err != nil {
				t.Error(err)
			}
		})
	}

	var reason, pattern *slack.InputBlock
	for _, b := range ExpectedModal(f).Blocks.BlockSet {
		if in, ok := b.(*slack.InputBlock); ok {
			switch in.BlockID {
			case BlockExpectedReason:
				reason = in
			case BlockExpectedPattern:
				pattern = in
			}
		}
	}
	if reason == nil || reason.Optional {
		t.Error("the reason must be a required input")
	}
	if pattern == nil || pattern.Element.(*slack.PlainTextInputBlockElement).InitialValue != f.Resource.ID {
		t.Error("the pattern input should be prefilled with the resource ID")
	}
}

func viewWith(meta string, values map[string]map[string]slack.BlockAction) slack.View {
	return slack.View{PrivateMetadata: meta, State: &slack.ViewState{Values: values}}
}

func TestReadResolve(t *testing.T) {
	tests := []struct {
		name string
		view slack.View
		want ResolveSubmission
		err  error
	}{
		{"ok", viewWith("F-1", map[string]map[string]slack.BlockAction{BlockResolveReason: {ActionResolveReason: {Value: " fixed the policy \n"}}}),
			ResolveSubmission{FindingID: "F-1", Reason: "fixed the policy"}, nil},
		{"blank reason", viewWith("F-1", map[string]map[string]slack.BlockAction{BlockResolveReason: {ActionResolveReason: {Value: "  "}}}),
			ResolveSubmission{FindingID: "F-1"}, ErrNoReason},
		{"no finding", viewWith("", nil), ResolveSubmission{}, ErrNoFinding},
		{"no state", slack.View{PrivateMetadata: "F-1"}, ResolveSubmission{FindingID: "F-1"}, ErrNoReason},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadResolve(tc.view)
			if err != tc.err || got != tc.want {
				t.Errorf("ReadResolve = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestReadExpected(t *testing.T) {
	state := func(reason, scope, pattern string) map[string]map[string]slack.BlockAction {
		return map[string]map[string]slack.BlockAction{
			BlockExpectedReason:  {ActionExpectedReason: {Value: reason}},
			BlockExpectedScope:   {ActionExpectedScope: {SelectedOption: slack.OptionBlockObject{Value: scope}}},
			BlockExpectedPattern: {ActionExpectedPattern: {Value: pattern}},
		}
	}
	tests := []struct {
		name string
		view slack.View
		want ExpectedSubmission
		err  error
	}{
		{"this resource only ignores the pattern", viewWith("F-1", state("website", ScopeResource, "acme-*")),
			ExpectedSubmission{FindingID: "F-1", Reason: "website", Scope: ScopeResource}, nil},
		{"pattern", viewWith("F-1", state("website", ScopePattern, " acme-public-* ")),
			ExpectedSubmission{FindingID: "F-1", Reason: "website", Scope: ScopePattern, Pattern: "acme-public-*"}, nil},
		{"pattern scope without a pattern", viewWith("F-1", state("website", ScopePattern, "")),
			ExpectedSubmission{FindingID: "F-1", Reason: "website", Scope: ScopePattern}, ErrNoPattern},
		{"unexpected scope reads as the narrower", viewWith("F-1", state("website", "account", "*")),
			ExpectedSubmission{FindingID: "F-1", Reason: "website", Scope: ScopeResource}, nil},
		{"no reason", viewWith("F-1", state("", ScopeResource, "")),
			ExpectedSubmission{FindingID: "F-1", Scope: ScopeResource}, ErrNoReason},
		{"no finding", viewWith("", state("website", ScopeResource, "")),
			ExpectedSubmission{Reason: "website", Scope: ScopeResource}, ErrNoFinding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadExpected(tc.view)
			if err != tc.err || got != tc.want {
				t.Errorf("ReadExpected = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestFindingMessageUsesTeamZoneForStatusTimes(t *testing.T) {
	f := storyTwoAcked()
	_, blocks := FindingMessage(f, FindingOptions{Location: mustZone(t, "America/New_York")})
	shown := shownText(t, blocks)
	want := "acknowledged by <@U024BE7LH> at Thu 26 Nov 22:09 EST"
	if !strings.Contains(shown, want) {
		t.Errorf("status not in the team's zone; want %q in:\n%s", want, shown)
	}
}
