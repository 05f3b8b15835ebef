package detect

import (
	"fmt"
	"strings"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
)

// Every detection here depends on CloudTrail, so a trail that stops
// recording is an exposure of the whole account: changes made afterwards go
// unseen, by people and by this bot alike.

type eventSelector struct {
	IncludeManagementEvents flexBool `json:"includeManagementEvents"`
	ReadWriteType           string   `json:"readWriteType"`
}

type fieldSelector struct {
	Field     string  `json:"field"`
	Equals    strList `json:"equals"`
	NotEquals strList `json:"notEquals"`
}

type advancedSelector struct {
	Name           string          `json:"name"`
	FieldSelectors []fieldSelector `json:"fieldSelectors"`
}

func (e *Engine) trail(rec *cloudtrail.Record) ([]Result, error) {
	if rec.EventSource != "cloudtrail.amazonaws.com" {
		return nil, nil
	}
	res, err := resourceOf(rec)
	if err != nil {
		return nil, err
	}
	expose := func(title, detail, summary string) []Result {
		r := result(Exposure, RuleLoggingDisabled, res, title, detail, VectorLogging)
		r.Change = &finding.Change{Summary: summary}
		return []Result{r}
	}
	switch rec.EventName {
	case "StopLogging":
		return expose("CloudTrail logging stopped",
			fmt.Sprintf("Trail %s stopped logging: API calls in this account are no longer recorded, and the bot's event feed from it goes quiet.", res.ID),
			"logging stopped"), nil
	case "DeleteTrail":
		return expose("CloudTrail trail deleted",
			fmt.Sprintf("Trail %s was deleted: the API calls it recorded are no longer logged.", res.ID),
			"trail deleted"), nil
	case "StartLogging":
		r := result(Remediation, RuleLoggingDisabled, res, "CloudTrail logging started",
			fmt.Sprintf("Trail %s is logging again.", res.ID), VectorLogging)
		r.Change = &finding.Change{Summary: "logging started"}
		return []Result{r}, nil
	case "UpdateTrail":
		var p struct {
			IncludeGlobalServiceEvents flexBool `json:"includeGlobalServiceEvents"`
			IsMultiRegionTrail         flexBool `json:"isMultiRegionTrail"`
		}
		if err := decodeParams(rec.RequestParameters, &p); err != nil {
			return nil, err
		}
		var lost []string
		if p.IncludeGlobalServiceEvents.Set && !p.IncludeGlobalServiceEvents.Value {
			lost = append(lost, "events of global services (IAM, STS, CloudFront) are no longer recorded")
		}
		if p.IsMultiRegionTrail.Set && !p.IsMultiRegionTrail.Value {
			lost = append(lost, fmt.Sprintf("only region %s is recorded", rec.AWSRegion))
		}
		if len(lost) == 0 {
			return nil, nil
		}
		return expose("CloudTrail trail narrowed",
			fmt.Sprintf("Trail %s was updated so that %s.", res.ID, strings.Join(lost, " and ")),
			"trail scope narrowed"), nil
	case "PutEventSelectors":
		var p struct {
			EventSelectors         []eventSelector    `json:"eventSelectors"`
			AdvancedEventSelectors []advancedSelector `json:"advancedEventSelectors"`
		}
		if err := decodeParams(rec.RequestParameters, &p); err != nil {
			return nil, err
		}
		if len(p.EventSelectors) == 0 && len(p.AdvancedEventSelectors) == 0 {
			return nil, nil
		}
		if recordsWrites(p.EventSelectors, p.AdvancedEventSelectors) {
			return nil, nil
		}
		return expose("CloudTrail management events excluded",
			fmt.Sprintf("Trail %s's event selectors no longer record write management events: changes to resources in this account go unlogged.", res.ID),
			"event selectors exclude write management events"), nil
	}
	return nil, nil
}

// recordsWrites reports whether any selector still records write management
// events, the ones every rule here depends on.
func recordsWrites(basic []eventSelector, advanced []advancedSelector) bool {
	for _, s := range basic {
		// IncludeManagementEvents defaults to true; ReadWriteType to All.
		include := !s.IncludeManagementEvents.Set || s.IncludeManagementEvents.Value
		rw := strings.ToLower(s.ReadWriteType)
		if include && (rw == "" || rw == "all" || rw == "writeonly") {
			return true
		}
	}
	for _, a := range advanced {
		management, readOnly := false, false
		for _, f := range a.FieldSelectors {
			switch strings.ToLower(f.Field) {
			case "eventcategory":
				for _, v := range f.Equals {
					if strings.EqualFold(v, "Management") {
						management = true
					}
				}
			case "readonly":
				for _, v := range f.Equals {
					if strings.EqualFold(v, "true") {
						readOnly = true
					}
				}
				for _, v := range f.NotEquals {
					if strings.EqualFold(v, "false") {
						readOnly = true
					}
				}
			}
		}
		if management && !readOnly {
			return true
		}
	}
	return false
}
