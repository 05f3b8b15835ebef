package route

import (
	"reflect"
	"testing"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

func TestRoute(t *testing.T) {
	dir, err := org.New(org.Options{
		SecOps: org.TeamOptions{SlackChannel: "#secops", Timezone: "UTC", BusinessHours: "Mon-Fri 09:00-18:00", JiraProject: "SEC"},
		Teams: []org.TeamOptions{
			{Name: "payments", SlackChannel: "#team-payments", JiraProject: "PAY"},
			{Name: "nojira", SlackChannel: "#team-nojira"},
		},
		Accounts: []org.Account{
			{ID: "111122223333", Team: "payments"},
			{ID: "222233334444", Team: "nojira"},
			{ID: "333344445555"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(dir)
	tests := []struct {
		name     string
		account  string
		severity finding.Severity
		status   finding.Status
		want     []string
	}{
		{"critical owned", "111122223333", finding.SeverityCritical, finding.StatusOpen, []string{"slack:#secops", "slack:#team-payments", "jira:PAY"}},
		{"high owned", "111122223333", finding.SeverityHigh, finding.StatusOpen, []string{"slack:#secops", "slack:#team-payments", "jira:PAY"}},
		{"medium owned is a ticket only", "111122223333", finding.SeverityMedium, finding.StatusOpen, []string{"jira:PAY"}},
		{"low owned is a ticket only", "111122223333", finding.SeverityLow, finding.StatusOpen, []string{"jira:PAY"}},
		{"team without jira falls back to SecOps' project", "222233334444", finding.SeverityHigh, finding.StatusOpen, []string{"slack:#secops", "slack:#team-nojira", "jira:SEC"}},
		{"unowned account", "333344445555", finding.SeverityHigh, finding.StatusOpen, []string{"slack:#secops", "jira:SEC"}},
		{"unknown account", "999999999999", finding.SeverityCritical, finding.StatusOpen, []string{"slack:#secops", "jira:SEC"}},
		{"suppressed goes nowhere", "111122223333", finding.SeverityHigh, finding.StatusSuppressed, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finding.Finding{AccountID: tc.account, Severity: tc.severity, Status: tc.status}
			if got := Strings(r.Route(&f)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Route = %v, want %v", got, tc.want)
			}
		})
	}
}

func testDir(t *testing.T) *org.Directory {
	t.Helper()
	dir, err := org.New(org.Options{
		SecOps: org.TeamOptions{SlackChannel: "#secops", JiraProject: "SEC"},
		Teams: []org.TeamOptions{
			{Name: "core", SlackChannel: "#team-core", JiraProject: "CORE"},
			{Name: "payments", SlackChannel: "#team-payments", JiraProject: "PAY"},
			{Name: "data", SlackChannel: "#team-data"},
		},
		Accounts: []org.Account{{ID: "111122223333", Team: "core"}, {ID: "333344445555"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// overrides is the routing of config.example.yaml: shares of snapshots to
// the data incidents channel (and no further), every critical finding to
// the incidents channel, medium ones to a backlog channel.
func overrides() Options {
	return Options{
		OwnerTags: []string{"owner", "team"},
		Routes: []*Route{
			{Rules: []string{"snapshot-shared-external"}, Channels: []string{"#data-incidents"}},
			{Rules: []string{"resource-shared-external"}, Channels: []string{"#data-incidents"}, Continue: true},
			{Severities: []finding.Severity{finding.SeverityCritical}, Channels: []string{"#incidents", "#secops"}, Continue: true},
			{Severities: []finding.Severity{finding.SeverityMedium}, Channels: []string{"#secops-backlog"}, Continue: true},
		},
	}
}

func TestRouteOverrides(t *testing.T) {
	r := NewTree(testDir(t), overrides())
	tests := []struct {
		name     string
		rule     string
		severity finding.Severity
		status   finding.Status
		want     []string
	}{
		{"a rule override without continue stops there", "snapshot-shared-external", finding.SeverityCritical, finding.StatusOpen,
			[]string{"slack:#secops", "slack:#team-core", "jira:CORE", "slack:#data-incidents"}},
		{"a rule override with continue goes on to the severity", "resource-shared-external", finding.SeverityCritical, finding.StatusOpen,
			[]string{"slack:#secops", "slack:#team-core", "jira:CORE", "slack:#data-incidents", "slack:#incidents"}},
		{"a severity override adds its channel once", "s3-bucket-public", finding.SeverityCritical, finding.StatusOpen,
			[]string{"slack:#secops", "slack:#team-core", "jira:CORE", "slack:#incidents"}},
		{"a medium finding gets the backlog channel beside its ticket", "s3-public-access-block-removed", finding.SeverityMedium, finding.StatusOpen,
			[]string{"jira:CORE", "slack:#secops-backlog"}},
		{"no override matches", "s3-bucket-public", finding.SeverityHigh, finding.StatusOpen,
			[]string{"slack:#secops", "slack:#team-core", "jira:CORE"}},
		{"suppressed still goes nowhere", "snapshot-shared-external", finding.SeverityCritical, finding.StatusSuppressed, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finding.Finding{AccountID: "111122223333", Rule: tc.rule, Severity: tc.severity, Status: tc.status}
			if got := Strings(r.Route(&f)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Route = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchIsDepthFirst(t *testing.T) {
	leaf := &Route{Severities: []finding.Severity{finding.SeverityCritical}, Channels: []string{"#leaf"}}
	nested := &Route{Rules: []string{"snapshot-public"}, Channels: []string{"#nested"}, Routes: []*Route{leaf}}
	sibling := &Route{Channels: []string{"#sibling"}}
	root := &Route{Routes: []*Route{nested, sibling}}
	tests := []struct {
		name     string
		rule     string
		severity finding.Severity
		want     []*Route
	}{
		{"the deepest match wins over its parent", "snapshot-public", finding.SeverityCritical, []*Route{leaf}},
		{"a parent whose children miss is the match", "snapshot-public", finding.SeverityHigh, []*Route{nested}},
		{"without continue the first match hides later siblings", "snapshot-public", finding.SeverityLow, []*Route{nested}},
		{"another rule falls to the sibling", "s3-bucket-public", finding.SeverityCritical, []*Route{sibling}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finding.Finding{Rule: tc.rule, Severity: tc.severity}
			if got := root.Match(&f); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReroute(t *testing.T) {
	r := NewTree(testDir(t), overrides())
	tests := []struct {
		name        string
		team, tag   string // the finding's before
		account     string
		tags        map[string]string
		wantChanged bool
		wantTeam    string
		wantTag     string
		wantRoutes  []string
		wantNote    string
	}{
		{
			name: "a tag names another team", team: "core", account: "111122223333",
			tags: map[string]string{"owner": "payments", "env": "prod"}, wantChanged: true, wantTeam: "payments", wantTag: "owner=payments",
			wantRoutes: []string{"slack:#secops", "slack:#team-payments", "jira:PAY"},
			wantNote:   "Owned by team payments: the resource's tag owner=payments names it (the account's team is core); now routed to #team-payments.",
		},
		{
			name: "tag keys match exactly, team names in any case", team: "core", account: "111122223333",
			tags: map[string]string{"team": "Data", "Owner": "payments"}, wantChanged: true, wantTeam: "data", wantTag: "team=Data",
			wantRoutes: []string{"slack:#secops", "slack:#team-data", "jira:SEC"},
			wantNote:   "Owned by team data: the resource's tag team=Data names it (the account's team is core); now routed to #team-data.",
		},
		{
			name: "an unowned account's resource gets a team", account: "333344445555",
			tags: map[string]string{"owner": "payments"}, wantChanged: true, wantTeam: "payments", wantTag: "owner=payments",
			wantRoutes: []string{"slack:#secops", "slack:#team-payments", "jira:PAY"},
			wantNote:   "Owned by team payments: the resource's tag owner=payments names it; now routed to #team-payments.",
		},
		{
			name: "the tag names the account's team: recorded, nothing to say", team: "core", account: "111122223333",
			tags: map[string]string{"owner": "core"}, wantTeam: "core", wantTag: "owner=core",
			wantRoutes: []string{"slack:#secops", "slack:#team-core", "jira:CORE"},
		},
		{
			name: "a team named by a tag changes to another", team: "payments", tag: "owner=payments", account: "111122223333",
			tags: map[string]string{"owner": "data"}, wantChanged: true, wantTeam: "data", wantTag: "owner=data",
			wantRoutes: []string{"slack:#secops", "slack:#team-data", "jira:SEC"},
			wantNote:   "Owned by team data: the resource's tag owner=data names it (the account's team is core); now routed to #team-data.",
		},
		{
			name: "a tag naming no team changes nothing", team: "core", account: "111122223333",
			tags: map[string]string{"owner": "jane.doe@example.com"}, wantTeam: "core",
			wantRoutes: []string{"slack:#secops", "slack:#team-core", "jira:CORE"},
		},
		{
			name: "the same tag again changes nothing", team: "payments", tag: "owner=payments", account: "111122223333",
			tags: map[string]string{"owner": "payments"}, wantTeam: "payments", wantTag: "owner=payments",
			wantRoutes: []string{"slack:#secops", "slack:#team-payments", "jira:PAY"},
		},
		{
			name: "a removed tag gives the finding back to the account's team", team: "payments", tag: "owner=payments", account: "111122223333",
			tags: nil, wantChanged: true, wantTeam: "core",
			wantRoutes: []string{"slack:#secops", "slack:#team-core", "jira:CORE"},
			wantNote:   "The resource no longer has tag owner=payments naming a team; owned by the account's team core; now routed to #team-core.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := finding.Finding{AccountID: tc.account, Rule: "s3-bucket-public", Severity: finding.SeverityHigh, Status: finding.StatusOpen, Team: tc.team, TeamTag: tc.tag}
			f.Routes = Strings(r.Route(&f))
			note, changed := r.Reroute(&f, tc.tags)
			if changed != tc.wantChanged || note != tc.wantNote {
				t.Errorf("Reroute = %q, %v; want %q, %v", note, changed, tc.wantNote, tc.wantChanged)
			}
			if f.Team != tc.wantTeam || f.TeamTag != tc.wantTag || !reflect.DeepEqual(f.Routes, tc.wantRoutes) {
				t.Errorf("team %q tag %q routes %v; want %q %q %v", f.Team, f.TeamTag, f.Routes, tc.wantTeam, tc.wantTag, tc.wantRoutes)
			}
		})
	}
	t.Run("without owner tags nothing is rerouted", func(t *testing.T) {
		f := finding.Finding{AccountID: "111122223333", Team: "core", Severity: finding.SeverityHigh}
		if note, changed := New(testDir(t)).Reroute(&f, map[string]string{"owner": "payments"}); changed || f.Team != "core" {
			t.Errorf("Reroute = %q, %v, team %q", note, changed, f.Team)
		}
	})
}
