package finding

import (
	"reflect"
	"testing"
)

func TestRoutesSplitByDestination(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		slack  []string
		jira   []string
	}{
		{"none", nil, nil, nil},
		{"both in order", []string{"slack:#secops", "jira:SEC", "slack:#team-data", "jira:DATA"},
			[]string{"#secops", "#team-data"}, []string{"SEC", "DATA"}},
		{"empty names and unknown kinds ignored", []string{"slack:", "jira:", "pagerduty:P1", "#secops"}, nil, nil},
		{"channel IDs kept as they are", []string{"slack:C0123ABC"}, []string{"C0123ABC"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Finding{Routes: tt.routes}
			if got := f.SlackChannels(); !reflect.DeepEqual(got, tt.slack) {
				t.Errorf("SlackChannels() = %q, want %q", got, tt.slack)
			}
			if got := f.JiraProjects(); !reflect.DeepEqual(got, tt.jira) {
				t.Errorf("JiraProjects() = %q, want %q", got, tt.jira)
			}
		})
	}
}
