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
