package playbooks

import (
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// AbuseFormURL is AWS's form for reporting abuse by another AWS account.
const AbuseFormURL = "https://support.aws.amazon.com/#/contacts/report-abuse"

// Report is a prefilled abuse report about accounts a resource was shared
// with.
type Report struct {
	Accounts []string
	Subject  string
	Body     string
	URL      string
}

// AbuseReport prefills a report to AWS about the unknown accounts a
// finding's resource was shared with: the accounts, the resource, the times
// and the evidence from the CloudTrail event. It returns false when there
// is no unknown account to report (a public share names none).
func AbuseReport(f finding.Finding, now time.Time) (Report, bool) {
	var accts []string
	for _, t := range f.UnknownTargets() {
		if t.Class == finding.TargetUnknown && t.Account != "all" {
			accts = append(accts, t.Account)
		}
	}
	if len(accts) == 0 {
		return Report{}, false
	}
	what := resourceWords(f.Resource.Type)
	r := Report{Accounts: accts, URL: AbuseFormURL}
	r.Subject = fmt.Sprintf("Unauthorised access to our %s by AWS account %s", what, strings.Join(accts, ", "))
	var b strings.Builder
	fmt.Fprintf(&b, "Reported AWS account(s): %s\n", strings.Join(accts, ", "))
	fmt.Fprintf(&b, "Our account: %s", f.AccountID)
	if f.AccountName != "" {
		fmt.Fprintf(&b, " (%s)", f.AccountName)
	}
	fmt.Fprintf(&b, ", region %s\n", f.Region)
	fmt.Fprintf(&b, "Resource: %s %s\n", what, f.Resource.ID)
	if f.Resource.ARN != "" {
		fmt.Fprintf(&b, "Resource ARN: %s\n", f.Resource.ARN)
	}
	fmt.Fprintf(&b, "Shared at: %s\n", utc(f.Event.Time))
	if f.Event.Name != "" {
		fmt.Fprintf(&b, "API call: %s (CloudTrail event ID %s)\n", f.Event.Name, f.Event.ID)
	}
	if f.Actor.ARN != "" {
		fmt.Fprintf(&b, "Made by: %s", f.Actor.ARN)
		if f.Actor.AccessKeyID != "" {
			fmt.Fprintf(&b, " with access key %s", f.Actor.AccessKeyID)
		}
		b.WriteString("\n")
	}
	if f.Event.SourceIP != "" {
		fmt.Fprintf(&b, "Source IP: %s\n", f.Event.SourceIP)
	}
	if f.Event.UserAgent != "" {
		fmt.Fprintf(&b, "User agent: %s\n", f.Event.UserAgent)
	}
	fmt.Fprintf(&b, "Detected: %s\n", utc(f.DetectedAt))
	if f.Change != nil && (len(f.Change.Before) > 0 || len(f.Change.After) > 0) {
		fmt.Fprintf(&b, "Share list before: %s\nShare list after: %s\n", orNone(string(f.Change.Before)), orNone(string(f.Change.After)))
	}
	fmt.Fprintf(&b, "Report prepared: %s\n\n", utc(now))
	fmt.Fprintf(&b, "The account(s) above belong neither to our AWS organisation nor to our approved partners. "+
		"The %s was shared with them without our authorisation, and it may hold customer data. "+
		"We have removed (or are removing) the share. We ask AWS to investigate the account(s), "+
		"and any restore, copy or launch of this %s they made.", what, what)
	r.Body = b.String()
	return r, true
}

// Message is the report as a thread reply: where to send it, then the
// report to paste, in a code block so nothing in it is read as mrkdwn.
func (r Report) Message() string {
	body := strings.ReplaceAll(r.Subject+"\n\n"+r.Body, "```", "'''")
	return fmt.Sprintf(":memo: Prefilled abuse report for AWS account %s. Review it, then submit it through <%s|AWS's abuse form>:\n```%s```",
		strings.Join(r.Accounts, ", "), r.URL, esc(body))
}

func resourceWords(typ string) string {
	switch typ {
	case awsarn.TypeRDSSnapshot:
		return "RDS database snapshot"
	case awsarn.TypeRDSClusterSnapshot:
		return "RDS cluster snapshot"
	case awsarn.TypeEC2Snapshot:
		return "EBS snapshot"
	case awsarn.TypeEC2Image:
		return "machine image (AMI)"
	case awsarn.TypeS3Bucket:
		return "S3 bucket"
	}
	if typ == "" {
		return "resource"
	}
	return typ
}

func utc(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func orNone(s string) string {
	if s == "" || s == "null" {
		return "(none)"
	}
	return s
}
