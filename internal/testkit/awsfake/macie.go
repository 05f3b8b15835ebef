package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// MacieFinding is a sensitive-data finding in the Macie fake.
type MacieFinding struct {
	ID       string
	Region   string // us-east-1 unless set
	Bucket   string
	Key      string
	Type     string // e.g. SensitiveData:S3Object/Personal
	Severity string // Low, Medium or High
	// Detections counts the sensitive data found by type
	// (CREDIT_CARD_NUMBER: 120).
	Detections map[string]int
	Created    time.Time
}

// Macie fakes Amazon Macie's session and findings APIs over REST-JSON
// (GET /macie, POST /findings, POST /findings/describe), per account and
// region. Register it with Server.Handle("macie2", m).
type Macie struct {
	mu       sync.Mutex
	enabled  map[string]bool // account + "/" + region
	findings map[string][]MacieFinding
}

// NewMacie returns a Macie fake enabled nowhere.
func NewMacie() *Macie {
	return &Macie{enabled: map[string]bool{}, findings: map[string][]MacieFinding{}}
}

// Enable turns Macie on in an account and region.
func (f *Macie) Enable(account, region string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enabled[account+"/"+region] = true
}

// AddFinding seeds a finding in an account (Macie must be enabled there
// for it to be seen).
func (f *Macie) AddFinding(account string, fd MacieFinding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd.Region == "" {
		fd.Region = "us-east-1"
	}
	k := account + "/" + fd.Region
	f.findings[k] = append(f.findings[k], fd)
}

// macieAction names a Macie request's operation from its method and path.
func macieAction(r *http.Request) string {
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case r.Method == http.MethodGet && p == "/macie":
		return "GetMacieSession"
	case r.Method == http.MethodPost && p == "/findings":
		return "ListFindings"
	case r.Method == http.MethodPost && p == "/findings/describe":
		return "GetFindings"
	default:
		return r.Method + " " + p
	}
}

// macieCriterion is one condition of a finding criteria.
type macieCriterion struct {
	Eq  []string `json:"eq"`
	Neq []string `json:"neq"`
}

func (f *Macie) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	acct, region := CallerOf(r).Account, RegionOf(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.enabled[acct+"/"+region] {
		WriteError(w, "macie2", http.StatusForbidden, "AccessDeniedException", "Macie is not enabled.")
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch action := macieAction(r); action {
	case "GetMacieSession":
		WriteJSON(w, map[string]any{"status": "ENABLED", "findingPublishingFrequency": "FIFTEEN_MINUTES", "createdAt": "2026-01-05T09:00:00Z", "updatedAt": "2026-01-05T09:00:00Z"})
	case "ListFindings":
		var in struct {
			Criteria struct {
				Criterion map[string]macieCriterion `json:"criterion"`
			} `json:"findingCriteria"`
			MaxResults int    `json:"maxResults"`
			NextToken  string `json:"nextToken"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			WriteError(w, "macie2", http.StatusBadRequest, "ValidationException", err.Error())
			return
		}
		var ids []string
		for _, fd := range f.findings[acct+"/"+region] {
			if macieMatches(fd, in.Criteria.Criterion) {
				ids = append(ids, fd.ID)
			}
		}
		start := 0
		if in.NextToken != "" {
			if _, err := fmt.Sscanf(in.NextToken, "t%d", &start); err != nil || start > len(ids) {
				WriteError(w, "macie2", http.StatusBadRequest, "ValidationException", "invalid nextToken")
				return
			}
		}
		limit := in.MaxResults
		if limit <= 0 || limit > 50 {
			limit = 50
		}
		end := min(start+limit, len(ids))
		out := map[string]any{"findingIds": ids[start:end]}
		if end < len(ids) {
			out["nextToken"] = fmt.Sprintf("t%d", end)
		}
		WriteJSON(w, out)
	case "GetFindings":
		var in struct {
			IDs []string `json:"findingIds"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			WriteError(w, "macie2", http.StatusBadRequest, "ValidationException", err.Error())
			return
		}
		out := []map[string]any{}
		for _, fd := range f.findings[acct+"/"+region] {
			if !slices.Contains(in.IDs, fd.ID) {
				continue
			}
			var detections []map[string]any
			total := 0
			for _, t := range sortedKeys(fd.Detections) {
				detections = append(detections, map[string]any{"type": t, "count": fd.Detections[t]})
				total += fd.Detections[t]
			}
			out = append(out, map[string]any{
				"id": fd.ID, "accountId": acct, "region": region, "category": "CLASSIFICATION", "type": fd.Type,
				"count": 1, "createdAt": fd.Created.UTC().Format(time.RFC3339), "updatedAt": fd.Created.UTC().Format(time.RFC3339),
				"severity":          map[string]any{"description": fd.Severity},
				"resourcesAffected": map[string]any{"s3Bucket": map[string]any{"name": fd.Bucket}, "s3Object": map[string]any{"key": fd.Key}},
				"classificationDetails": map[string]any{"result": map[string]any{"sensitiveData": []map[string]any{
					{"category": "PERSONAL_INFORMATION", "totalCount": total, "detections": detections},
				}}},
			})
		}
		WriteJSON(w, map[string]any{"findings": out})
	default:
		WriteError(w, "macie2", http.StatusNotFound, "ResourceNotFoundException", "the fake does not serve "+action)
	}
}

// macieMatches applies the criteria the fake understands: the bucket name
// and the category (every seeded finding is a CLASSIFICATION finding).
func macieMatches(fd MacieFinding, criteria map[string]macieCriterion) bool {
	for field, c := range criteria {
		var v string
		switch field {
		case "resourcesAffected.s3Bucket.name":
			v = fd.Bucket
		case "category":
			v = "CLASSIFICATION"
		case "archived":
			v = "false"
		default:
			continue
		}
		if len(c.Eq) > 0 && !slices.Contains(c.Eq, v) || slices.Contains(c.Neq, v) {
			return false
		}
	}
	return true
}
