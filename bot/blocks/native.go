package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// nativeText says which AWS detector raised the finding and what it says
// now, with a link to the finding in its console, so a responder can check
// the detector's own view.
func nativeText(f finding.Finding, loc *time.Location) string {
	n := f.Native
	if n == nil {
		return ""
	}
	first := ":satellite_antenna: *Reported by " + esc(clip(n.Product, 60)) + "*"
	if n.Type != "" {
		first += " " + code(clip(n.Type, 150))
	}
	var facts []string
	if n.Severity != "" {
		facts = append(facts, esc(clip(n.Product, 60))+" severity "+code(clip(n.Severity, 40)))
	}
	if n.State != "" {
		facts = append(facts, esc(clip(n.State, 80)))
	}
	if n.Count > 1 {
		facts = append(facts, fmt.Sprintf("%d occurrences", n.Count))
	}
	if !n.UpdatedAt.IsZero() {
		facts = append(facts, "updated "+localTime(n.UpdatedAt, loc))
	}
	lines := []string{first}
	if len(facts) > 0 {
		lines = append(lines, strings.Join(facts, " · "))
	}
	if n.URL != "" && len(n.URL) <= maxButtonURL {
		lines = append(lines, link(n.URL, "Open in "+clip(n.Product, 60)))
	}
	if n.ID != "" {
		lines = append(lines, "_"+esc(clip(n.Product, 60))+" ID_ "+code(clip(n.ID, 300)))
	}
	return strings.Join(lines, "\n")
}

// containable are the resource types containment acts on.
var containable = map[string]bool{
	awsarn.TypeS3Bucket:           true,
	awsarn.TypeRDSSnapshot:        true,
	awsarn.TypeRDSClusterSnapshot: true,
	awsarn.TypeEC2Snapshot:        true,
	awsarn.TypeEC2Image:           true,
	awsarn.TypeIAMUser:            true,
	awsarn.TypeIAMRole:            true,
}

// offersInvestigate says whether the Investigate button has someone to
// investigate. The bot's own findings always name the actor of their
// event; a detector's finding may name none.
func offersInvestigate(f finding.Finding) bool {
	return f.Native == nil || f.Actor.ARN != "" || f.Actor.AccessKeyID != ""
}

// offersContain says whether the Contain… button has something to act on:
// for a detector's finding, a resource of a type containment supports.
func offersContain(f finding.Finding) bool {
	return f.Native == nil || containable[f.Resource.Type] && f.Resource.ID != ""
}
