package paging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org/oncall"
)

func TestDedupKey(t *testing.T) {
	tests := []struct {
		finding, team, want string
	}{
		{"F-0A1B2C3D4E", "secops", "secops-bot-F-0A1B2C3D4E-secops"},
		{"F-0A1B2C3D4E", "payments", "secops-bot-F-0A1B2C3D4E-payments"},
		// Opsgenie puts the alias in the URL path: nothing may escape it.
		{"F-1/../x", "data team", "secops-bot-F-1____x-data_team"},
	}
	for _, tc := range tests {
		if got := DedupKey(tc.finding, tc.team); got != tc.want {
			t.Errorf("DedupKey(%q, %q) = %q, want %q", tc.finding, tc.team, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"", 0},
		{"soon", 0},
		{"Fri, 27 Nov 2026 03:05:30 GMT", 90 * time.Second},
		{"Fri, 27 Nov 2026 03:00:00 GMT", 0},
	}
	for _, tc := range tests {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	limited := fmt.Errorf("page F-1: %w", &RateLimitedError{Provider: "PagerDuty", Op: "trigger k", RetryAfter: 7 * time.Second})
	permanent := fmt.Errorf("page F-1: %w", &PermanentError{Provider: "PagerDuty", Op: "trigger k", Status: 400, Msg: "check the routing key"})
	outage := errors.New("PagerDuty trigger k: 502 Bad Gateway")
	tests := []struct {
		name      string
		err       error
		retryable bool
		limited   bool
		after     time.Duration
	}{
		{"rate limited", limited, true, true, 7 * time.Second},
		{"permanent", permanent, false, false, 0},
		{"anything else", outage, true, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Retryable(tc.err); got != tc.retryable {
				t.Errorf("Retryable = %v, want %v", got, tc.retryable)
			}
			after, ok := RetryAfter(tc.err)
			if ok != tc.limited || after != tc.after {
				t.Errorf("RetryAfter = %s, %v; want %s, %v", after, ok, tc.after, tc.limited)
			}
		})
	}
	if got := permanent.Error(); !strings.Contains(got, "400 Bad Request: check the routing key") {
		t.Errorf("permanent error reads %q", got)
	}
}

// recorder is a Pager that records what it was asked.
type recorder struct {
	calls []string
	err   error
}

func (r *recorder) Trigger(_ context.Context, p Page) error {
	r.calls = append(r.calls, fmt.Sprintf("trigger %s %s %s %q", p.Team, p.DedupKey, p.Severity, p.Summary))
	return r.err
}

func (r *recorder) Acknowledge(_ context.Context, ref Ref) error {
	r.calls = append(r.calls, "acknowledge "+ref.Team+" "+ref.DedupKey)
	return r.err
}

func (r *recorder) Resolve(_ context.Context, ref Ref) error {
	r.calls = append(r.calls, "resolve "+ref.Team+" "+ref.DedupKey)
	return r.err
}

func TestDeliverer(t *testing.T) {
	page := Page{Ref: RefFor("F-1", "payments"), FindingID: "F-1", Summary: "Snapshot shared with an unknown account", Severity: finding.SeverityCritical}
	ack := Payload{Action: ActionAcknowledge, Page: Page{Ref: page.Ref, FindingID: "F-1"}}
	tests := []struct {
		name      string
		kind      string
		body      []byte
		pagerErr  error
		wantCall  string
		permanent bool
	}{
		{"trigger", Kind(ActionTrigger), Payload{Action: ActionTrigger, Page: page}.Encode(),
			nil, `trigger payments secops-bot-F-1-payments critical "Snapshot shared with an unknown account"`, false},
		{"acknowledge needs only the ref", Kind(ActionAcknowledge), ack.Encode(), nil, "acknowledge payments secops-bot-F-1-payments", false},
		{"resolve", Kind(ActionResolve), Payload{Action: ActionResolve, Page: page}.Encode(), nil, "resolve payments secops-bot-F-1-payments", false},
		{"the pager's error comes back as it was", Kind(ActionTrigger), Payload{Action: ActionTrigger, Page: page}.Encode(),
			&RateLimitedError{Provider: "PagerDuty", RetryAfter: time.Second}, "trigger payments secops-bot-F-1-payments critical \"Snapshot shared with an unknown account\"", false},
		{"a payload that cannot be read is never retried", Kind(ActionTrigger), []byte("{"), nil, "", true},
		{"a payload for another action", Kind(ActionResolve), ack.Encode(), nil, "", true},
		{"a payload without a dedup key", Kind(ActionAcknowledge), Payload{Action: ActionAcknowledge, Page: Page{Ref: Ref{Team: "payments"}}}.Encode(), nil, "", true},
		{"a trigger without a summary", Kind(ActionTrigger), Payload{Action: ActionTrigger, Page: Page{Ref: page.Ref}}.Encode(), nil, "", true},
		{"an unknown kind", "page.snooze", ack.Encode(), nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{err: tc.pagerErr}
			err := NewDeliverer(rec, "PagerDuty").Deliver(context.Background(), tc.kind, tc.body)
			var got string
			if len(rec.calls) > 0 {
				got = rec.calls[0]
			}
			if got != tc.wantCall || len(rec.calls) > 1 {
				t.Errorf("calls = %q, want %q", rec.calls, tc.wantCall)
			}
			if permanent := err != nil && !Retryable(err); permanent != tc.permanent {
				t.Errorf("error %v: permanent = %v, want %v", err, permanent, tc.permanent)
			}
			if tc.pagerErr != nil && !errors.Is(err, tc.pagerErr) {
				t.Errorf("error %v, want the pager's %v", err, tc.pagerErr)
			}
		})
	}
}

func TestItemKey(t *testing.T) {
	ref := RefFor("F-1", "secops")
	if got, want := ItemKey(ActionTrigger, ref, 3), "page.trigger|secops-bot-F-1-secops|v3"; got != want {
		t.Errorf("ItemKey = %q, want %q", got, want)
	}
}

// rotations is configured rotations for one team.
type rotations map[string][]string

func (r rotations) OnCall(_ context.Context, team string, _ time.Time) ([]string, error) {
	if ids, ok := r[team]; ok {
		return ids, nil
	}
	return nil, fmt.Errorf("team %s: %w", team, oncall.ErrNoRotation)
}

// source is an OnCallSource with fixed answers.
type source struct {
	answers map[string]OnCall
	err     error
}

func (s source) OnCall(_ context.Context, team string, _ time.Time) (OnCall, error) {
	if s.err != nil {
		return OnCall{}, s.err
	}
	oc, ok := s.answers[team]
	if !ok {
		return OnCall{}, fmt.Errorf("team %s: %w", team, ErrNoSchedule)
	}
	return oc, nil
}

func TestSources(t *testing.T) {
	pd := source{answers: map[string]OnCall{
		"secops": {Team: "secops", Source: "PagerDuty schedule SecOps primary (PSEC001)", People: []Person{{Name: "Sam Ortiz", Email: "sam@example.com"}}},
	}}
	fallback := FromRotations(rotations{"payments": {"U0ANNA"}})
	down := source{err: errors.New("PagerDuty oncalls: 503 Service Unavailable")}
	at := time.Date(2026, 11, 27, 3, 4, 0, 0, time.UTC)
	tests := []struct {
		name       string
		sources    Sources
		team       string
		wantSource string
		wantPeople string
		wantErr    error
	}{
		{"the provider answers for a team it has a schedule for", Sources{pd, fallback}, "secops", "PagerDuty schedule SecOps primary (PSEC001)", "Sam Ortiz", nil},
		{"configured rotations answer for the others", Sources{pd, fallback}, "payments", SourceRotation, "U0ANNA", nil},
		{"nobody knows the team", Sources{pd, fallback}, "analytics", "", "", ErrNoSchedule},
		{"a provider that is down is reported, not replaced", Sources{down, fallback}, "payments", "", "", nil},
		{"rotations alone, no provider configured", Sources{fallback}, "payments", SourceRotation, "U0ANNA", nil},
		{"no rotations configured at all", Sources{FromRotations(nil)}, "payments", "", "", ErrNoSchedule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oc, err := tc.sources.OnCall(context.Background(), tc.team, at)
			if tc.wantSource == "" {
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("OnCall = %+v, %v; want an error (%v)", oc, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var people []string
			for _, p := range oc.People {
				people = append(people, p.Label()+p.SlackID)
			}
			if oc.Source != tc.wantSource || strings.Join(people, ",") != tc.wantPeople {
				t.Errorf("OnCall = %q from %q, want %q from %q", people, oc.Source, tc.wantPeople, tc.wantSource)
			}
		})
	}
}

// directory is Slack's users by e-mail.
type directory map[string]string

func (d directory) UserIDByEmail(_ context.Context, email string) (string, error) {
	if email == "broken@example.com" {
		return "", errors.New("slack: ratelimited")
	}
	return d[email], nil
}

func TestMatchSlack(t *testing.T) {
	oc := OnCall{Team: "secops", Source: "PagerDuty schedule SecOps primary (PSEC001)", People: []Person{
		{Name: "Sam Ortiz", Email: "sam@example.com"},
		{Name: "Contractor", Email: "ext@contractor.example"},
		{Name: "Broken", Email: "broken@example.com"},
		{SlackID: "U0TOM"},
	}}
	got, err := MatchSlack(context.Background(), oc, directory{"sam@example.com": "U0SAM"})
	if err == nil || !strings.Contains(err.Error(), "slack user of Broken") {
		t.Errorf("error = %v, want the failed lookup named", err)
	}
	want := []string{"U0SAM", "", "", "U0TOM"}
	for i, p := range got.People {
		if p.SlackID != want[i] {
			t.Errorf("person %d (%s): Slack user %q, want %q", i, p.Label(), p.SlackID, want[i])
		}
	}
	if oc.People[0].SlackID != "" {
		t.Error("MatchSlack changed the answer it was given")
	}
	if got.Source != oc.Source {
		t.Errorf("source = %q", got.Source)
	}
}
