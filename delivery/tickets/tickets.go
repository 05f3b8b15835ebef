// Package tickets keeps a Jira ticket in step with each routed finding: one
// ticket per finding (per open period when reopening makes new ones),
// comments for what people and the bot did, and the ticket moved to done
// when the finding resolves and back when it reopens.
//
// Like Slack delivery, it works through the outbox: the Planner turns a
// finding change into "jira.*" items stored in the same transaction as the
// change, and the Handler carries them out in the outbox's "jira." lane. A
// Jira outage therefore delays tickets but loses none, and the label each
// ticket carries (secops-finding-<id>) lets a replica that crashed between
// creating a ticket and recording it find it again instead of creating
// another.
package tickets

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/store"
)

// Outbox item kinds. They share the prefix of the handler's lane.
const (
	KindPrefix  = "jira."
	KindCreate  = "jira.create"
	KindComment = "jira.comment"
	KindResolve = "jira.resolve"
	KindReopen  = "jira.reopen"
)

// Reopen modes.
const (
	// ReopenTicket moves the finding's ticket back to an open status.
	ReopenTicket = "reopen"
	// ReopenNew creates a new ticket for each new open period.
	ReopenNew = "new"
)

// Config is the jira block of the configuration.
type Config struct {
	Enabled bool
	Flavor  string // "cloud" or "datacenter"
	BaseURL string
	Email   string
	// Token is a secret, read from the environment; it is never logged.
	Token     string
	IssueType string // default "Task"
	// Priorities maps a severity name ("critical", "high", "medium",
	// "low") to a Jira priority name; missing severities use
	// DefaultPriorities.
	Priorities map[string]string
	// Labels are added to every ticket, besides secops-finding-<id>.
	Labels             []string
	ResolveTransitions []string
	ReopenTransitions  []string
	// SecOpsProject takes tickets of findings routed to no Jira project.
	SecOpsProject string
	// LinkSecOps labels each high or critical ticket created in a team's
	// project (not SecOpsProject) with ReviewLabel, so that a SecOps board
	// filtering on it lists the teams' tickets beside SecOps' own.
	LinkSecOps bool
	ReopenMode string // "reopen" (default) or "new"
}

// DefaultPriorities are Jira's stock priority names.
var DefaultPriorities = map[string]string{
	"critical": "Highest",
	"high":     "High",
	"medium":   "Medium",
	"low":      "Low",
}

// Validate reports every problem of an enabled configuration at once,
// naming the keys.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Flavor != "cloud" && c.Flavor != "datacenter" {
		errs = append(errs, fmt.Errorf("jira.flavor must be \"cloud\" or \"datacenter\", not %q", c.Flavor))
	}
	if !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		errs = append(errs, fmt.Errorf("jira.base_url must be an http(s) URL, not %q", c.BaseURL))
	}
	if c.Flavor == "cloud" && c.Email == "" {
		errs = append(errs, errors.New("jira.email is required for Jira Cloud"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("jira.api_token is not set (set SECOPS_JIRA_API_TOKEN)"))
	}
	for sev := range c.Priorities {
		if _, err := finding.ParseSeverity(sev); err != nil {
			errs = append(errs, fmt.Errorf("jira.priorities: %w", err))
		}
	}
	for _, l := range c.Labels {
		if l == "" || strings.ContainsAny(l, " \t\"") {
			errs = append(errs, fmt.Errorf("jira.labels: %q is not a Jira label (no spaces or quotes)", l))
		}
	}
	if c.ReopenMode != "" && c.ReopenMode != ReopenTicket && c.ReopenMode != ReopenNew {
		errs = append(errs, fmt.Errorf("jira.reopen_mode must be %q or %q, not %q", ReopenTicket, ReopenNew, c.ReopenMode))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.IssueType == "" {
		c.IssueType = "Task"
	}
	if c.ReopenMode == "" {
		c.ReopenMode = ReopenTicket
	}
	return c
}

// priority returns the Jira priority name for a severity.
func (c Config) priority(s finding.Severity) string {
	if p, ok := c.Priorities[s.String()]; ok {
		return p
	}
	return DefaultPriorities[s.String()]
}

// ReviewLabel marks team tickets SecOps follows (see Config.LinkSecOps).
const ReviewLabel = "secops-review"

// Label is the label that ties a ticket to its finding.
func Label(findingID string) string { return "secops-finding-" + findingID }

// Payload is the JSON body of a jira.* item. Comments are written when the
// change is planned, so each describes the finding as it was then; a
// ticket is described when it is created, from the finding as stored.
type Payload struct {
	FindingID string             `json:"finding_id"`
	Project   string             `json:"project"`
	Change    finding.ChangeKind `json:"change,omitempty"`
	Version   int                `json:"version"`
	// Period is when the finding's current open period began; in "new"
	// reopen mode each period has its own ticket.
	Period  time.Time `json:"period"`
	Comment string    `json:"comment,omitempty"`
}

// Decode reads an item's payload.
func Decode(it store.OutboxItem) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return p, fmt.Errorf("decode %s payload: %w", it.Kind, err)
	}
	return p, nil
}

// Planner turns finding changes into jira.* outbox items.
type Planner struct {
	cfg Config
}

// NewPlanner returns a planner; a disabled configuration plans nothing.
func NewPlanner(cfg Config) Planner { return Planner{cfg: cfg.withDefaults()} }

// Project returns the Jira project a finding's ticket belongs in: its
// "jira:<KEY>" route, else the SecOps project for a finding that is routed
// somewhere (but not to Jira). "" means no ticket.
func (p Planner) Project(f finding.Finding) string {
	if keys := f.JiraProjects(); len(keys) > 0 {
		return keys[0]
	}
	if len(f.Routes) > 0 {
		return p.cfg.SecOpsProject
	}
	return ""
}

// Plan returns the items for one change of f, whose Version is already the
// new one. by is who made the change (a Slack user ID, an AWS principal or
// "system") and note what they said or what happened.
func (p Planner) Plan(f finding.Finding, change finding.ChangeKind, by, note string) []store.OutboxItem {
	if !p.cfg.Enabled {
		return nil
	}
	project := p.Project(f)
	if project == "" {
		return nil
	}
	item := func(kind, comment string) store.OutboxItem {
		body, _ := json.Marshal(Payload{ // a struct of strings, ints and a time cannot fail
			FindingID: f.ID, Project: project, Change: change, Version: f.Version, Period: f.OpenedAt, Comment: comment,
		})
		return store.OutboxItem{Key: fmt.Sprintf("%s|%s|v%d", kind, f.ID, f.Version), Kind: kind, Payload: body}
	}
	switch change {
	case finding.ChangeCreated:
		if f.Status != finding.StatusOpen {
			return nil
		}
		return []store.OutboxItem{item(KindCreate, "")}
	case finding.ChangeAcknowledged:
		return []store.OutboxItem{item(KindComment, "Acknowledged by "+who(by)+".")}
	case finding.ChangeUpdated, finding.ChangeContained, finding.ChangeUncontained:
		return []store.OutboxItem{item(KindComment, updateComment(change, by, note))}
	case finding.ChangeResolved:
		return []store.OutboxItem{item(KindComment, resolveComment(f, by, note)), item(KindResolve, "")}
	case finding.ChangeExpected, finding.ChangeSuppressed:
		c := "Marked expected by " + who(by)
		if note != "" {
			c += ": " + note
		}
		return []store.OutboxItem{item(KindComment, c+"."), item(KindResolve, "")}
	case finding.ChangeReadsReviewed:
		return []store.OutboxItem{item(KindComment, "Who read it while it was exposed: "+note)}
	case finding.ChangeReviewClosed:
		return []store.OutboxItem{item(KindComment, "Exposure review closed by "+who(by)+" on this answer: "+note)}
	case finding.ChangeReopened:
		if p.cfg.ReopenMode == ReopenNew {
			return []store.OutboxItem{item(KindCreate, "")}
		}
		return []store.OutboxItem{item(KindReopen, ""), item(KindComment, reopenComment(f, note))}
	}
	// Repeats of an open exposure are counted on the finding, not
	// commented on the ticket.
	return nil
}
