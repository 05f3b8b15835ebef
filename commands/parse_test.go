package commands

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Command
	}{
		{"empty is help", "", Command{Name: Help}},
		{"blank is help", "  \t ", Command{Name: Help}},
		{"help", "help", Command{Name: Help}},
		{"help topic", "help investigate", Command{Name: Help, Topic: Investigate}},
		{"sub-command case", "HELP Ack", Command{Name: Help, Topic: Ack}},

		{"findings default open", "findings", Command{Name: Findings, Scope: ScopeOpen}},
		{"findings all", "findings all", Command{Name: Findings, Scope: ScopeAll}},
		{"findings open team", "findings open payments", Command{Name: Findings, Scope: ScopeOpen, Team: "payments"}},
		{"findings team only", "findings payments", Command{Name: Findings, Scope: ScopeOpen, Team: "payments"}},
		{"findings all team", "findings ALL data-platform", Command{Name: Findings, Scope: ScopeAll, Team: "data-platform"}},
		{"findings team named all", `findings "all"`, Command{Name: Findings, Scope: ScopeOpen, Team: "all"}},

		{"ack", "ack F-0A1B2C3D4E", Command{Name: Ack, FindingID: "F-0A1B2C3D4E"}},
		{"ack lower case id", "ack f-0a1b2c3d4e", Command{Name: Ack, FindingID: "F-0A1B2C3D4E"}},
		{"ack alias", "acknowledge F-0A1B2C3D4E", Command{Name: Ack, FindingID: "F-0A1B2C3D4E"}},

		{"resolve", "resolve F-0A1B2C3D4E policy reverted by the owner",
			Command{Name: Resolve, FindingID: "F-0A1B2C3D4E", Reason: "policy reverted by the owner"}},
		{"resolve spacing collapsed", "resolve F-0A1B2C3D4E   bucket  \t fixed",
			Command{Name: Resolve, FindingID: "F-0A1B2C3D4E", Reason: "bucket fixed"}},
		{"resolve quoted reason", `resolve F-0A1B2C3D4E "false  positive"`,
			Command{Name: Resolve, FindingID: "F-0A1B2C3D4E", Reason: "false  positive"}},
		{"resolve curly quotes", "resolve F-0A1B2C3D4E “test bucket” it's expected",
			Command{Name: Resolve, FindingID: "F-0A1B2C3D4E", Reason: "test bucket it's expected"}},
		{"resolve keeps dashes", "resolve F-0A1B2C3D4E --since is not an option here",
			Command{Name: Resolve, FindingID: "F-0A1B2C3D4E", Reason: "--since is not an option here"}},

		{"investigate user default since", "investigate BackupManager",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 7 * day}},
		{"investigate since", "investigate BackupManager --since 30d",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 30 * day}},
		{"investigate since first and inline", "investigate --since=12h BackupManager",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 12 * time.Hour}},
		{"investigate em dash since", "investigate BackupManager —since 90d",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 90 * day}},
		{"investigate combined duration", "investigate BackupManager --since 1d12h",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 36 * time.Hour}},
		{"investigate until", "investigate BackupManager --since 7d --until 2026-03-11T04:00Z",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 7 * day, Until: time.Date(2026, 3, 11, 4, 0, 0, 0, time.UTC)}},
		{"investigate until with zone", "investigate --until=2026-03-11T05:00:00+01:00 BackupManager",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 7 * day, Until: time.Date(2026, 3, 11, 4, 0, 0, 0, time.UTC)}},
		{"investigate until a date is its end", "investigate BackupManager —until 2026-03-11",
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 7 * day, Until: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)}},
		{"investigate user ARN", "investigate arn:aws:iam::123456789012:user/BackupManager",
			Command{Name: Investigate, Target: Target{TargetARN, "arn:aws:iam::123456789012:user/BackupManager"}, Since: 7 * day}},
		{"investigate session ARN", "investigate arn:aws:sts::123456789012:assumed-role/contractor-deploy/jane",
			Command{Name: Investigate, Target: Target{TargetARN, "arn:aws:sts::123456789012:assumed-role/contractor-deploy/jane"}, Since: 7 * day}},
		{"investigate access key", "investigate AKIAIOSFODNN7EXAMPLE",
			Command{Name: Investigate, Target: Target{TargetAccessKey, "AKIAIOSFODNN7EXAMPLE"}, Since: 7 * day}},
		{"investigate temporary key", "investigate ASIAIOSFODNN7EXAMPLE",
			Command{Name: Investigate, Target: Target{TargetAccessKey, "ASIAIOSFODNN7EXAMPLE"}, Since: 7 * day}},
		{"investigate account", "investigate 123456789012",
			Command{Name: Investigate, Target: Target{TargetAccount, "123456789012"}, Since: 7 * day}},
		{"investigate bucket ARN", "investigate arn:aws:s3:::customer-exports",
			Command{Name: Investigate, Target: Target{TargetResource, "arn:aws:s3:::customer-exports"}, Since: 7 * day}},
		{"investigate snapshot ID", "investigate snap-0123456789abcdef0",
			Command{Name: Investigate, Target: Target{TargetResource, "snap-0123456789abcdef0"}, Since: 7 * day}},
		{"investigate automated RDS snapshot", "investigate rds:customers-2024-01-01-03-00",
			Command{Name: Investigate, Target: Target{TargetResource, "rds:customers-2024-01-01-03-00"}, Since: 7 * day}},
		{"investigate forced resource", "investigate resource:customer-exports",
			Command{Name: Investigate, Target: Target{TargetResource, "customer-exports"}, Since: 7 * day}},
		{"investigate forced user", "investigate user:123456789012",
			Command{Name: Investigate, Target: Target{TargetUser, "123456789012"}, Since: 7 * day}},
		{"investigate quoted target", `investigate "BackupManager"`,
			Command{Name: Investigate, Target: Target{TargetUser, "BackupManager"}, Since: 7 * day}},

		{"breakglass bare", "breakglass", Command{Name: BreakGlass}},
		{"breakglass full", "breakglass 123456789012 30m snapshot shared with unknown account",
			Command{Name: BreakGlass, Account: "123456789012", Duration: 30 * time.Minute, Reason: "snapshot shared with unknown account"}},
		{"breakglass name", "breakglass prod-payments", Command{Name: BreakGlass, Account: "prod-payments"}},
		{"breakglass duration first", "breakglass 1h incident 42",
			Command{Name: BreakGlass, Duration: time.Hour, Reason: "incident 42"}},
		{"breakglass account and reason", "breakglass prod-payments incident 42",
			Command{Name: BreakGlass, Account: "prod-payments", Reason: "incident 42"}},

		{"contain", "contain iam-restrict BackupManager",
			Command{Name: Contain, Action: "iam-restrict", Target: Target{TargetUser, "BackupManager"}}},
		{"contain action case", "contain Unshare snap-0123456789abcdef0",
			Command{Name: Contain, Action: "unshare", Target: Target{TargetResource, "snap-0123456789abcdef0"}}},

		{"audit", "audit breakglass", Command{Name: Audit, Subject: AuditBreakGlass, Since: 7 * day}},
		{"oncall", "oncall", Command{Name: OnCall}},
		{"oncall team", "oncall payments", Command{Name: OnCall, Team: "payments"}},
		{"audit since", "audit breakglass --since 24h", Command{Name: Audit, Subject: AuditBreakGlass, Since: day}},
		{"break-glass alias", "break-glass", Command{Name: BreakGlass}},

		{"expected lists", "expected", Command{Name: Expected, EntryOp: ExpectedList}},
		{"expected list", "expected LIST", Command{Name: Expected, EntryOp: ExpectedList}},
		{"expected remove", "expected remove e-0a1b2c3d4e", Command{Name: Expected, EntryOp: ExpectedRemove, EntryID: "E-0A1B2C3D4E"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
			again, err := Parse(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Parse(%q) (from String) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		kind     Kind
		contains string
	}{
		{"unknown sub-command", "foo bar", Help, `unknown sub-command "foo"; try /secops help`},
		{"unclosed quote", `resolve F-0A1B2C3D4E "oops`, Resolve, "quote is not closed"},
		{"unclosed quote first", `"resolve`, Help, "quote is not closed"},
		{"invalid UTF-8", "ack \xff", Help, "not valid UTF-8"},
		{"help unknown topic", "help frobnicate", Help, `no sub-command "frobnicate"`},
		{"findings too many", "findings open payments extra", Findings, "one team name at most"},
		{"findings bad team", "findings all <#C123|x>", Findings, "is not a team name"},
		{"ack missing id", "ack", Ack, "exactly one finding ID, got 0"},
		{"ack two ids", "ack F-0A1B2C3D4E F-0A1B2C3D4F", Ack, "got 2"},
		{"ack bad id", "ack F-12", Ack, `"F-12" is not a finding ID`},
		{"ack id not hex", "ack F-0A1B2C3D4G", Ack, "is not a finding ID"},
		{"resolve no reason", "resolve F-0A1B2C3D4E", Resolve, "a reason is required"},
		{"resolve blank quoted reason", `resolve F-0A1B2C3D4E "  "`, Resolve, "a reason is required"},
		{"resolve nothing", "resolve", Resolve, "say which finding"},
		{"investigate nothing", "investigate", Investigate, "exactly one target, got 0"},
		{"investigate two targets", "investigate alice bob", Investigate, "got 2"},
		{"investigate since too far", "investigate alice --since 91d", Investigate, "at most 90d"},
		{"investigate since no unit", "investigate alice --since 7", Investigate, "not a duration"},
		{"investigate since missing", "investigate alice --since", Investigate, "needs a duration"},
		{"investigate since zero", "investigate alice --since 0d", Investigate, "not a positive duration"},
		{"investigate since huge", "investigate alice --since 999999999999d", Investigate, "too long"},
		{"investigate since twice", "investigate alice --since 1d --since 2d", Investigate, "given twice"},
		{"investigate until not a time", "investigate alice --until yesterday", Investigate, "not a time"},
		{"investigate until missing", "investigate alice --until", Investigate, "needs a time"},
		{"investigate until twice", "investigate alice --until 2026-03-11 --until 2026-03-12", Investigate, "given twice"},
		{"audit has no until", "audit breakglass --until 2026-03-11", Audit, "unknown option"},
		{"investigate unknown option", "investigate alice --after 1d", Investigate, `unknown option "--after"`},
		{"investigate bad ARN", "investigate arn:aws:iam", Investigate, "not a valid ARN"},
		{"investigate bad forced user", "investigate user:a/b", Investigate, "not an IAM user name"},
		{"investigate spaced target", `investigate "Backup Manager"`, Investigate, "no spaces"},
		{"breakglass short account ID", "breakglass 12345 30m", BreakGlass, "account IDs have 12 digits"},
		{"breakglass bad account", "breakglass prod/payments", BreakGlass, "neither a 12-digit account ID nor an account name"},
		{"breakglass zero duration", "breakglass prod 0m", BreakGlass, "not a positive duration"},
		{"contain missing target", "contain unshare", Contain, "got 1"},
		{"contain bad action", "contain rm;rf x", Contain, "not a containment action"},
		{"audit nothing", "audit", Audit, "audit breakglass"},
		{"audit other subject", "audit findings", Audit, "audit breakglass"},
		{"expected remove nothing", "expected remove", Expected, "say which entry"},
		{"expected remove a finding ID", "expected remove F-0A1B2C3D4E", Expected, `"F-0A1B2C3D4E" is not an allowlist entry ID`},
		{"expected remove two", "expected remove E-0A1B2C3D4E E-0A1B2C3D4F", Expected, "say which entry"},
		{"expected list extra", "expected list all", Expected, "list takes no arguments"},
		{"expected other", "expected add", Expected, `"add" is not something expected does`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *UsageError", tt.text, got, err)
			}
			if ue.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v", ue.Kind, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			if ue.Usage != "" && ue.Usage != tt.kind.Usage() {
				t.Errorf("Usage = %q, want the usage of %v (%q)", ue.Usage, tt.kind, tt.kind.Usage())
			}
			if strings.Contains(ue.Usage, "\n") {
				t.Errorf("usage %q is more than one line", ue.Usage)
			}
		})
	}
}

func TestUsageErrorNamesUsage(t *testing.T) {
	_, err := Parse("ack")
	want := "ack takes exactly one finding ID, got 0 arguments (usage: /secops ack <finding-id>)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestKindsHaveHelp(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if k.Summary() == "" || !strings.HasPrefix(k.Usage(), "/secops "+k.String()) {
			t.Errorf("%v: summary %q, usage %q", k, k.Summary(), k.Usage())
		}
		if seen[k.String()] {
			t.Errorf("name %q used twice", k)
		}
		seen[k.String()] = true
		if got, err := Parse(k.String()); err == nil && got.Name != k {
			t.Errorf("Parse(%q).Name = %v", k, got.Name)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d sub-commands, want 10", len(seen))
	}
}

// Help on a sub-command is the table's: it explains what the sub-command
// does, its examples are commands the parser reads as that sub-command,
// and its text is safe as Slack mrkdwn.
func TestKindsHaveDetailsAndExamples(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			if len(k.Details()) < len(k.Summary()) {
				t.Errorf("details %q say less than the summary", k.Details())
			}
			if strings.ContainsAny(k.Details(), "<>&") {
				t.Errorf("details %q hold a mrkdwn control character", k.Details())
			}
			if len(k.Examples()) == 0 {
				t.Error("no examples")
			}
			for _, ex := range k.Examples() {
				text, ok := strings.CutPrefix(ex, "/secops ")
				if !ok && ex != "/secops" {
					t.Errorf("example %q does not start with /secops", ex)
					continue
				}
				got, err := Parse(text)
				if err != nil || got.Name != k {
					t.Errorf("example %q parses as %v, %v; want %v", ex, got.Name, err, k)
				}
			}
			for _, a := range k.Aliases() {
				if got, ok := Lookup(a); !ok || got != k {
					t.Errorf("alias %q looks up %v, %v", a, got, ok)
				}
			}
		})
	}
	if got := Ack.Aliases(); len(got) != 1 || got[0] != "acknowledge" {
		t.Errorf("Ack.Aliases() = %v", got)
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		want   string
	}{
		{"user", Target{TargetUser, "BackupManager"}, "BackupManager"},
		{"user that looks like an account", Target{TargetUser, "123456789012"}, "user:123456789012"},
		{"resource that looks like a user", Target{TargetResource, "customer-exports"}, "resource:customer-exports"},
		{"resource with a colon", Target{TargetResource, "rds:db-1"}, "rds:db-1"},
		{"principal ARN", Target{TargetARN, "arn:aws:iam::123456789012:role/x"}, "arn:aws:iam::123456789012:role/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.target.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * day, true},
		{"12H", 12 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"1d2h3m", day + 2*time.Hour + 3*time.Minute, true},
		{"7", 0, false},
		{"d", 0, false},
		{"1w", 0, false},
		{"-1d", 0, false},
		{"1.5h", 0, false},
		{"0m", 0, false},
		{"36500d", 36500 * day, true},
		{"36501d", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
			}
			if tt.ok {
				if back, err := ParseDuration(formatDuration(got)); err != nil || back != got {
					t.Errorf("formatDuration(%v) = %q reads back as %v, %v", got, formatDuration(got), back, err)
				}
			}
		})
	}
}
