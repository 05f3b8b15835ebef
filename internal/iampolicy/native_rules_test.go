package iampolicy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secops-bot/secops-bot/ingest/native"
)

// eventMatches evaluates an EventBridge pattern against an event, for the
// parts of the pattern language the templates use: exact values,
// prefixes, anything-but (one value or a list) and nested objects. An event
// value that is an array matches when any element does, as EventBridge
// reads arrays.
func eventMatches(pattern map[string]any, event map[string]any) bool {
	for key, want := range pattern {
		got, present := event[key]
		switch w := want.(type) {
		case map[string]any:
			if !present || !anyElement(got, func(v any) bool {
				m, ok := v.(map[string]any)
				return ok && eventMatches(w, m)
			}) {
				return false
			}
		case []any:
			if !present || !anyElement(got, func(v any) bool { return leafMatches(w, v) }) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func anyElement(v any, ok func(any) bool) bool {
	if list, isList := v.([]any); isList {
		for _, e := range list {
			if ok(e) {
				return true
			}
		}
		return false
	}
	return ok(v)
}

func leafMatches(matchers []any, v any) bool {
	s, _ := v.(string)
	for _, m := range matchers {
		switch x := m.(type) {
		case string:
			if x == s {
				return true
			}
		case map[string]any:
			if pre, ok := x["prefix"].(string); ok && strings.HasPrefix(s, pre) {
				return true
			}
			if but, ok := x["anything-but"]; ok {
				excluded := false
				for _, b := range toList(but) {
					excluded = excluded || b == s
				}
				if !excluded {
					return true
				}
			}
		}
	}
	return false
}

func toList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func readEvent(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ingest", "native", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// queued reports which rules of secops-bot.yaml that target the queue match
// the event.
func queued(t *testing.T, tpl *template, event map[string]any) []string {
	t.Helper()
	var out []string
	for name, r := range asMap(tpl.raw["Resources"]) {
		if asMap(r)["Type"] != "AWS::Events::Rule" {
			continue
		}
		props := tpl.resource(t, name)
		if targetsQueue(props) && eventMatches(asMap(props["EventPattern"]), event) {
			out = append(out, name)
		}
	}
	return out
}

// TestNativeFindingsReachTheQueue: every native source the bot reads has
// its events sent to the queue by exactly one rule, with the shapes AWS
// documents; Security Hub's copies of GuardDuty's and Access Analyzer's
// findings are left out, so that no finding is raised twice.
func TestNativeFindingsReachTheQueue(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "ingest", "native", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no native events: %v", err)
	}
	seen := map[string]bool{}
	for _, forwardAll := range []string{"false", "true"} {
		tpl := loadTemplate(t, "secops-bot.yaml", map[string]string{"ForwardAllWriteEvents": forwardAll})
		for _, f := range files {
			ev := readEvent(t, filepath.Base(f))
			seen[ev["detail-type"].(string)] = true
			if rules := queued(t, tpl, ev); len(rules) != 1 {
				t.Errorf("ForwardAllWriteEvents=%s: %s is queued by %v, want exactly one rule", forwardAll, filepath.Base(f), rules)
			}
		}
		for _, product := range []string{"GuardDuty", "IAM Access Analyzer"} {
			ev := readEvent(t, "securityhub-s3-public-read.json")
			finding := ev["detail"].(map[string]any)["findings"].([]any)[0].(map[string]any)
			finding["ProductName"] = product
			if rules := queued(t, tpl, ev); len(rules) != 0 {
				t.Errorf("a Security Hub copy of a %s finding is queued by %v; it comes from %s itself", product, rules, product)
			}
		}
		other := map[string]any{"source": "aws.guardduty", "detail-type": "GuardDuty Runtime Protection Healthy", "detail": map[string]any{}}
		if rules := queued(t, tpl, other); len(rules) != 0 {
			t.Errorf("GuardDuty's health events are queued by %v", rules)
		}
	}
	for _, s := range native.Sources() {
		if !seen[s.DetailType] {
			t.Errorf("no example event of %q under ingest/native/testdata", s.DetailType)
		}
	}
}
