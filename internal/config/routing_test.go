package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/delivery/route"
	"github.com/secops-bot/secops-bot/finding"
)

const routingTeams = "teams:\n  - {name: payments, slack_channel: \"#team-payments\"}\n"

// TestRoutingProblems pins what an operator reads about the routing block.
func TestRoutingProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "a block that routes",
			yaml: routingTeams + "routing:\n  owner_tags: [owner, team]\n  rules:\n    snapshot-shared-external: {channels: [\"#data-incidents\"], continue: false}\n  severities:\n    critical: {channels: [\"#incidents\", C0123ABCD]}\n",
		},
		{
			name: "owner tags",
			yaml: routingTeams + "routing:\n  owner_tags: [owner, \"\", owner, " + strings.Repeat("k", 129) + "]\n",
			want: []string{
				`routing.owner_tags[1] (line 4): empty; give a tag key whose value names a team, such as owner`,
				`routing.owner_tags[2] (line 4): "owner" is listed twice`,
				`routing.owner_tags[3] (line 4): "` + strings.Repeat("k", 129) + `" is 129 characters long; AWS tag keys have at most 128`,
			},
		},
		{
			name: "owner tags without teams",
			yaml: "routing:\n  owner_tags: [owner]\n",
			want: []string{`routing.owner_tags (line 2): no team is defined under teams:, so no tag value can name one; define the teams or remove owner_tags`},
		},
		{
			name: "an unknown rule and an unknown severity",
			yaml: "routing:\n  rules:\n    snapshot-shared: {channels: [\"#data\"]}\n  severities:\n    urgent: {channels: [\"#incidents\"]}\n",
			want: []string{
				`routing.rules.snapshot-shared (line 3): unknown rule; known rules: ` + strings.Join(builtinRuleIDs(), ", "),
				`routing.severities.urgent (line 5): unknown severity; keys are low, medium, high, critical`,
			},
		},
		{
			name: "channels missing or not channels",
			yaml: "routing:\n  rules:\n    snapshot-public:\n      continue: true\n  severities:\n    critical:\n      channels: [\"#Incidents\", \"data incidents\"]\n",
			want: []string{
				`routing.rules.snapshot-public.channels (not set; its block is at line 3): required: the Slack channels that also receive the findings of rule snapshot-public (e.g. ["#data-incidents"])`,
				`routing.severities.critical.channels[0] (line 7): "#Incidents" has capital letters, which Slack channel names never have; write "#incidents"`,
				`routing.severities.critical.channels[1] (line 7): "data incidents" is not a Slack channel; a channel name is lowercase letters, digits, hyphens and underscores, at most 80 characters (e.g. "#secops"); a channel ID looks like C0123ABCD`,
			},
		},
		{
			name: "a misspelt key",
			yaml: "routing:\n  severities:\n    high: {chanels: [\"#x\"]}\n",
			want: []string{
				`routing.severities.high.chanels (line 3): unknown key (did you mean channels?); remove it or check its spelling against config.example.yaml`,
				`routing.severities.high.channels (not set; its block is at line 3): required: the Slack channels that also receive high findings (e.g. ["#data-incidents"])`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.yaml, envMap(nil))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse = %v, want no problems", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			lines := strings.Split(err.Error(), "\n  - ")[1:]
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRoutingOptions(t *testing.T) {
	cfg, err := Parse(routingTeams+`routing:
  owner_tags: [owner, team]
  severities:
    medium: {channels: ["#secops-backlog"]}
    critical: {channels: ["#incidents"]}
  rules:
    snapshot-shared-external: {channels: ["#data-incidents"], continue: false}
    resource-shared-external: {channels: ["#data-incidents"]}
`, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := route.Options{
		OwnerTags: []string{"owner", "team"},
		Routes: []*route.Route{
			{Rules: []string{"snapshot-shared-external"}, Channels: []string{"#data-incidents"}},
			{Rules: []string{"resource-shared-external"}, Channels: []string{"#data-incidents"}, Continue: true},
			{Severities: []finding.Severity{finding.SeverityCritical}, Channels: []string{"#incidents"}, Continue: true},
			{Severities: []finding.Severity{finding.SeverityMedium}, Channels: []string{"#secops-backlog"}, Continue: true},
		},
	}
	if got := cfg.RoutingOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("RoutingOptions() = %+v, want %+v", got, want)
	}
	if got, want := cfg.Routing.Channels(), []string{"#data-incidents", "#incidents", "#secops-backlog"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Channels() = %v, want %v", got, want)
	}
}
