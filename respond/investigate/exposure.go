package investigate

import (
	"github.com/secops-bot/secops-bot/commands"
	"github.com/secops-bot/secops-bot/finding"
)

// Exposure is what an investigated resource holds and who read it while
// it was exposed, as its findings last recorded them (read with the
// finding's state, reviewed when it resolved or when someone asked).
type Exposure struct {
	Holds *finding.Contents
	// HoldsFrom is the finding the contents were read for.
	HoldsFrom string
	Reads     *finding.ReadReview
	ReadsFrom string
}

// exposure takes what the resource holds and who read it from the newest
// of its findings that says (Findings are newest first).
func exposure(r *Report) {
	if r.Subject.Kind != commands.TargetResource {
		return
	}
	for _, f := range r.Findings {
		if r.Exposure.Holds == nil && f.Contents != nil {
			r.Exposure.Holds, r.Exposure.HoldsFrom = f.Contents, f.ID
		}
		if r.Exposure.Reads == nil && f.Reads != nil {
			r.Exposure.Reads, r.Exposure.ReadsFrom = f.Reads, f.ID
		}
	}
}
