package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/bot/blocks"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/org"
)

// jsonFinding is the stable JSON shape replay prints, one object per line.
type jsonFinding struct {
	ID          string                 `json:"id"`
	Rule        string                 `json:"rule"`
	Severity    string                 `json:"severity"`
	Status      string                 `json:"status"`
	Title       string                 `json:"title"`
	Detail      string                 `json:"detail,omitempty"`
	Account     string                 `json:"account"`
	AccountName string                 `json:"account_name,omitempty"`
	Region      string                 `json:"region"`
	Resource    finding.Resource       `json:"resource"`
	Actor       jsonActor              `json:"actor"`
	Event       jsonEvent              `json:"event"`
	Team        string                 `json:"team"`
	Environment string                 `json:"environment"`
	OffHours    bool                   `json:"off_hours"`
	Signals     []finding.Signal       `json:"signals"`
	Routes      []string               `json:"routes"`
	Targets     []jsonTarget           `json:"targets,omitempty"`
	Vectors     []string               `json:"vectors,omitempty"`
	History     []finding.HistoryEntry `json:"history,omitempty"`
	Count       int                    `json:"count"`
	Suppressed  string                 `json:"suppressed_reason,omitempty"`
	ResolvedAt  *time.Time             `json:"resolved_at,omitempty"`
	ResolvedBy  string                 `json:"resolved_by,omitempty"`
	OpenFor     string                 `json:"open_for,omitempty"`
	OpenForSecs *float64               `json:"open_for_seconds,omitempty"`
	RuleNotes   *finding.RuleNotes     `json:"rule_notes,omitempty"`
}

type jsonActor struct {
	ARN         string `json:"arn"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	Contractor  bool   `json:"contractor"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	SessionName string `json:"session_name,omitempty"`
	MFA         string `json:"mfa,omitempty"`
}

type jsonEvent struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Time      time.Time `json:"time"`
	SourceIP  string    `json:"source_ip"`
	UserAgent string    `json:"user_agent"`
}

type jsonTarget struct {
	Account string `json:"account"`
	Class   string `json:"class"`
	Name    string `json:"name,omitempty"`
}

func toJSON(f finding.Finding) jsonFinding {
	out := jsonFinding{
		ID: f.ID, Rule: f.Rule, Severity: f.Severity.String(), Status: string(f.Status), Title: f.Title, Detail: f.Detail,
		Account: f.AccountID, AccountName: f.AccountName, Region: f.Region, Resource: f.Resource,
		Actor: jsonActor{ARN: f.Actor.ARN, Type: f.Actor.Type, Name: f.Actor.Name, Contractor: f.Actor.Contractor, AccessKeyID: f.Actor.AccessKeyID, SessionName: f.Actor.SessionName, MFA: f.Actor.MFA},
		Event: jsonEvent{ID: f.Event.ID, Name: f.Event.Name, Time: f.Event.Time, SourceIP: f.Event.SourceIP, UserAgent: f.Event.UserAgent},
		Team:  f.Team, Environment: f.Environment, OffHours: f.OffHours,
		Signals: f.Signals, Routes: f.Routes, Vectors: f.Vectors, History: f.History, Count: f.Count, Suppressed: f.SuppressedReason,
		RuleNotes: f.RuleNotes,
	}
	if out.Signals == nil {
		out.Signals = []finding.Signal{}
	}
	if out.Routes == nil {
		out.Routes = []string{}
	}
	for _, t := range f.Targets {
		out.Targets = append(out.Targets, jsonTarget{Account: t.Account, Class: string(t.Class), Name: t.Name})
	}
	if f.Status == finding.StatusResolved {
		at := f.ResolvedAt
		out.ResolvedAt = &at
		out.ResolvedBy = f.ResolvedBy
		out.OpenFor = f.OpenFor.String()
		secs := f.OpenFor.Seconds()
		out.OpenForSecs = &secs
	}
	return out
}

func writeJSON(w io.Writer, f finding.Finding) error {
	b, err := json.Marshal(toJSON(f))
	if err != nil {
		return fmt.Errorf("encode finding %s: %w", f.ID, err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// writeBlocks prints the Slack message of a finding as it would be posted
// in the owning team's channel, one JSON object per line, ready for Block
// Kit Builder.
func writeBlocks(w io.Writer, f finding.Finding, dir *org.Directory) error {
	loc := time.UTC
	if team, ok := dir.OwnerOf(f.AccountID); ok && team.Location != nil {
		loc = team.Location
	}
	text, blks := blocks.FindingMessage(f, blocks.FindingOptions{Location: loc})
	b, err := json.Marshal(map[string]any{"text": text, "blocks": blks})
	if err != nil {
		return fmt.Errorf("encode blocks of %s: %w", f.ID, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeText prints one readable block per finding, times in the owning
// team's zone.
func writeText(w io.Writer, f finding.Finding, dir *org.Directory) error {
	loc := time.UTC
	if team, ok := dir.OwnerOf(f.AccountID); ok && team.Location != nil {
		loc = team.Location
	} else if s := dir.SecOps(); s.Location != nil {
		loc = s.Location
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s — %s (%s)\n", strings.ToUpper(f.Severity.String()), f.Title, strings.ToUpper(string(f.Status)), f.ID)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-10s %s\n", k, v)
		}
	}
	row("rule", f.Rule)
	acct := f.AccountID
	if f.AccountName != "" {
		acct = fmt.Sprintf("%s (%s", f.AccountName, f.AccountID)
		if f.Environment != "" {
			acct += ", " + f.Environment
		}
		acct += ")"
	}
	row("account", acct+" · "+f.Region)
	row("team", f.Team)
	row("resource", strings.TrimSpace(f.Resource.Type+" "+f.Resource.ID))
	actor := fmt.Sprintf("%s (%s) %s", f.Actor.Name, f.Actor.Type, f.Actor.ARN)
	if f.Actor.Contractor {
		actor += "  [CONTRACTOR]"
	}
	row("actor", actor)
	var session []string
	if f.Actor.SessionName != "" {
		session = append(session, "session "+f.Actor.SessionName)
	}
	switch f.Actor.MFA {
	case "yes":
		session = append(session, "signed in with MFA")
	case "no":
		session = append(session, "no MFA")
	}
	row("", strings.Join(session, " · "))
	local := f.Event.Time.In(loc)
	row("event", fmt.Sprintf("%s at %s (%s UTC)", f.Event.Name, local.Format("Mon 2006-01-02 15:04 MST"), f.Event.Time.UTC().Format("15:04")))
	row("from", strings.TrimSpace(f.Event.SourceIP+" · "+truncate(f.Event.UserAgent, 72)))
	if f.OffHours {
		row("off hours", "yes, outside the owning team's business hours")
	}
	row("detail", f.Detail)
	for i, h := range f.History {
		k := ""
		if i == 0 {
			k = "history"
		}
		failed := ""
		if h.Failed {
			failed = " (failed)"
			if h.ErrorCode != "" {
				failed = " (failed: " + h.ErrorCode + ")"
			}
		}
		row(k, fmt.Sprintf("%s %s by %s%s", h.Time.In(loc).Format("2006-01-02 15:04 MST"), h.EventName, h.Actor, failed))
	}
	for i, t := range f.Targets {
		k := ""
		if i == 0 {
			k = "targets"
		}
		name := ""
		if t.Name != "" {
			name = " (" + t.Name + ")"
		}
		row(k, fmt.Sprintf("%s %s%s", t.Account, t.Class, name))
	}
	for i, s := range f.Signals {
		k := ""
		if i == 0 {
			k = "unusual"
		}
		row(k, s.Name+": "+s.Reason)
	}
	if f.Count > 1 {
		row("seen", fmt.Sprintf("%d times, last %s", f.Count, f.LastSeen.In(loc).Format("2006-01-02 15:04 MST")))
	}
	row("suppressed", f.SuppressedReason)
	if f.Status == finding.StatusResolved {
		how := ""
		if f.ResolvedEvent != nil {
			how = " (" + f.ResolvedEvent.Name + ")"
		}
		row("resolved", fmt.Sprintf("by %s%s at %s, open for %s", f.ResolvedBy, how, f.ResolvedAt.In(loc).Format("2006-01-02 15:04 MST"), f.OpenFor))
	}
	row("routes", strings.Join(f.Routes, " "))
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
