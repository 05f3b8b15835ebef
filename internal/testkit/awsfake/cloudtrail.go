package awsfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CloudTrail fakes CloudTrail's LookupEvents over seeded records, and the
// trail reads (DescribeTrails, GetEventSelectors, GetTrailStatus) over
// seeded trails. Like the
// real API it answers with the caller's account's events (a record belongs
// to its recipientAccountId) in the request's signing region, newest
// first, at most 50 events a page with an opaque NextToken, filters by one
// lookup attribute and a time range, and returns each record whole in the
// CloudTrailEvent string. Register it with Server.Handle("cloudtrail", ct).
type CloudTrail struct {
	mu     sync.Mutex
	events []ctEvent // newest first
	trails []CTTrail
}

// CTTrail is a trail in the fake, for DescribeTrails, GetEventSelectors and
// GetTrailStatus. An organization trail is seen from every account, as
// member accounts see their organization's trail.
type CTTrail struct {
	Name         string
	Account      string
	HomeRegion   string // us-east-1 unless set
	MultiRegion  bool
	Organization bool
	// Stopped reports the trail as not logging.
	Stopped bool
	// Selectors and Advanced are the trail's basic or advanced event
	// selectors (a trail has one kind or the other).
	Selectors []CTEventSelector
	Advanced  []CTAdvancedSelector
}

// ARN is the trail's ARN.
func (t CTTrail) ARN() string {
	return "arn:aws:cloudtrail:" + t.HomeRegion + ":" + t.Account + ":trail/" + t.Name
}

// CTEventSelector is a basic event selector.
type CTEventSelector struct {
	ReadWriteType           string           `json:"ReadWriteType"`
	IncludeManagementEvents bool             `json:"IncludeManagementEvents"`
	DataResources           []CTDataResource `json:"DataResources,omitempty"`
	ExcludeSources          []string         `json:"ExcludeManagementEventSources,omitempty"`
}

// CTDataResource is a basic selector's data resource: a type
// (AWS::S3::Object) and ARN prefixes.
type CTDataResource struct {
	Type   string   `json:"Type"`
	Values []string `json:"Values"`
}

// CTAdvancedSelector is an advanced event selector.
type CTAdvancedSelector struct {
	Name           string            `json:"Name,omitempty"`
	FieldSelectors []CTFieldSelector `json:"FieldSelectors"`
}

// CTFieldSelector is one condition of an advanced selector.
type CTFieldSelector struct {
	Field         string   `json:"Field"`
	Equals        []string `json:"Equals,omitempty"`
	StartsWith    []string `json:"StartsWith,omitempty"`
	EndsWith      []string `json:"EndsWith,omitempty"`
	NotEquals     []string `json:"NotEquals,omitempty"`
	NotStartsWith []string `json:"NotStartsWith,omitempty"`
	NotEndsWith   []string `json:"NotEndsWith,omitempty"`
}

// AddTrail seeds a trail.
func (c *CloudTrail) AddTrail(t CTTrail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.HomeRegion == "" {
		t.HomeRegion = "us-east-1"
	}
	c.trails = append(c.trails, t)
}

// visibleTrails are the trails an account sees in a region: its own
// (multi-region ones everywhere) and its organization's.
func (c *CloudTrail) visibleTrails(account, region string) []CTTrail {
	var out []CTTrail
	for _, t := range c.trails {
		if t.Account != account && !t.Organization {
			continue
		}
		if !t.MultiRegion && region != "" && t.HomeRegion != region {
			continue
		}
		out = append(out, t)
	}
	return out
}

// serveTrails answers DescribeTrails, GetEventSelectors and GetTrailStatus.
func (c *CloudTrail) serveTrails(w http.ResponseWriter, r *http.Request, action string) {
	var in struct {
		TrailName string `json:"TrailName"`
		Name      string `json:"Name"`
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			WriteError(w, "cloudtrail", http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}
	region := ""
	if m := ctRegionRe.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	c.mu.Lock()
	trails := c.visibleTrails(CallerOf(r).Account, region)
	c.mu.Unlock()
	if action == "DescribeTrails" {
		list := []map[string]any{}
		for _, t := range trails {
			list = append(list, map[string]any{
				"Name": t.Name, "TrailARN": t.ARN(), "HomeRegion": t.HomeRegion, "IsMultiRegionTrail": t.MultiRegion,
				"IsOrganizationTrail": t.Organization, "S3BucketName": "aws-cloudtrail-logs-" + t.Account,
				"HasCustomEventSelectors": len(t.Selectors) > 0 || len(t.Advanced) > 0,
			})
		}
		WriteJSON(w, map[string]any{"trailList": list})
		return
	}
	name := in.TrailName
	if action == "GetTrailStatus" {
		name = in.Name
	}
	for _, t := range trails {
		if name != t.Name && name != t.ARN() {
			continue
		}
		if action == "GetTrailStatus" {
			WriteJSON(w, map[string]any{"IsLogging": !t.Stopped})
			return
		}
		out := map[string]any{"TrailARN": t.ARN()}
		if len(t.Advanced) > 0 {
			out["AdvancedEventSelectors"] = t.Advanced
		} else {
			sel := t.Selectors
			if sel == nil {
				sel = []CTEventSelector{{ReadWriteType: "All", IncludeManagementEvents: true}}
			}
			out["EventSelectors"] = sel
		}
		WriteJSON(w, out)
		return
	}
	WriteError(w, "cloudtrail", http.StatusBadRequest, "TrailNotFoundException", "Unknown trail: "+name)
}

// ctEvent is a seeded record with the fields LookupEvents reports beside
// it.
type ctEvent struct {
	raw         string
	id          string
	name        string
	source      string
	region      string
	account     string
	at          time.Time
	readOnly    string
	accessKey   string
	username    string
	resources   []ctResource
	recordIndex int // seeding order, to keep the order of equal times stable
}

type ctResource struct {
	ResourceType string `json:"ResourceType,omitempty"`
	ResourceName string `json:"ResourceName,omitempty"`
}

// NewCloudTrail returns a fake with no events.
func NewCloudTrail() *CloudTrail { return &CloudTrail{} }

// Add seeds CloudTrail records, each the JSON of one record as it appears
// in a log file's Records array.
func (c *CloudTrail) Add(records ...[]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range records {
		var r struct {
			EventID      string          `json:"eventID"`
			EventName    string          `json:"eventName"`
			EventSource  string          `json:"eventSource"`
			EventTime    time.Time       `json:"eventTime"`
			AWSRegion    string          `json:"awsRegion"`
			Recipient    string          `json:"recipientAccountId"`
			ReadOnly     *bool           `json:"readOnly"`
			UserIdentity json.RawMessage `json:"userIdentity"`
			Resources    []struct {
				ARN  string `json:"ARN"`
				Type string `json:"type"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("seed cloudtrail record: %w", err)
		}
		if r.EventID == "" || r.EventTime.IsZero() {
			return fmt.Errorf("seed cloudtrail record: eventID and eventTime are required")
		}
		var id struct {
			Type           string `json:"type"`
			UserName       string `json:"userName"`
			AccessKeyID    string `json:"accessKeyId"`
			AccountID      string `json:"accountId"`
			ARN            string `json:"arn"`
			SessionContext *struct {
				SessionIssuer struct {
					UserName string `json:"userName"`
				} `json:"sessionIssuer"`
			} `json:"sessionContext"`
		}
		_ = json.Unmarshal(r.UserIdentity, &id) // an odd identity still seeds; it only loses the Username
		e := ctEvent{
			raw: string(raw), id: r.EventID, name: r.EventName, source: r.EventSource,
			region: r.AWSRegion, at: r.EventTime.UTC(), accessKey: id.AccessKeyID, username: ctUsername(id.Type, id.UserName, id.ARN),
			account: r.Recipient, recordIndex: len(c.events),
		}
		if e.account == "" {
			e.account = id.AccountID
		}
		if r.ReadOnly != nil {
			e.readOnly = strconv.FormatBool(*r.ReadOnly)
		}
		for _, res := range r.Resources {
			e.resources = append(e.resources, ctResource{ResourceType: res.Type, ResourceName: res.ARN})
		}
		c.events = append(c.events, e)
	}
	sort.SliceStable(c.events, func(i, j int) bool {
		if !c.events[i].at.Equal(c.events[j].at) {
			return c.events[i].at.After(c.events[j].at)
		}
		return c.events[i].recordIndex > c.events[j].recordIndex
	})
	return nil
}

// ctUsername is what LookupEvents reports as Username: the user name, or
// for an assumed role the session name.
func ctUsername(typ, userName, arn string) string {
	if userName != "" {
		return userName
	}
	if typ == "AssumedRole" {
		if i := strings.LastIndexByte(arn, '/'); i >= 0 {
			return arn[i+1:]
		}
	}
	return ""
}

var ctRegionRe = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/`)

// ctLookupInput is the LookupEvents request; times are epoch seconds.
type ctLookupInput struct {
	StartTime        *float64 `json:"StartTime"`
	EndTime          *float64 `json:"EndTime"`
	MaxResults       *int     `json:"MaxResults"`
	NextToken        string   `json:"NextToken"`
	EventCategory    string   `json:"EventCategory"`
	LookupAttributes []struct {
		AttributeKey   string `json:"AttributeKey"`
		AttributeValue string `json:"AttributeValue"`
	} `json:"LookupAttributes"`
}

// ctToken is what NextToken encodes: where the next page starts and the
// query it belongs to, so a token is refused with another query.
type ctToken struct {
	Offset int    `json:"o"`
	Query  string `json:"q"`
}

// ServeHTTP answers LookupEvents.
func (c *CloudTrail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := ActionOf("cloudtrail", r)
	switch action {
	case "DescribeTrails", "GetEventSelectors", "GetTrailStatus":
		c.serveTrails(w, r, action)
		return
	}
	if action != "LookupEvents" {
		WriteError(w, "cloudtrail", http.StatusBadRequest, "UnsupportedOperationException", fmt.Sprintf("the fake does not serve %s", action))
		return
	}
	var in ctLookupInput
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		WriteError(w, "cloudtrail", http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	region := ""
	if m := ctRegionRe.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region = m[1]
	}
	limit := 50
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			WriteError(w, "cloudtrail", http.StatusBadRequest, "InvalidMaxResultsException", "MaxResults must be between 1 and 50")
			return
		}
		limit = *in.MaxResults
	}
	if len(in.LookupAttributes) > 1 {
		WriteError(w, "cloudtrail", http.StatusBadRequest, "InvalidLookupAttributesException", "at most one lookup attribute is allowed")
		return
	}
	if len(in.LookupAttributes) == 1 && !ctAttributeKeys[in.LookupAttributes[0].AttributeKey] {
		WriteError(w, "cloudtrail", http.StatusBadRequest, "InvalidLookupAttributesException", "unknown attribute key "+in.LookupAttributes[0].AttributeKey)
		return
	}
	var start, end time.Time
	if in.StartTime != nil {
		start = ctTime(*in.StartTime)
	}
	if in.EndTime != nil {
		end = ctTime(*in.EndTime)
	}
	if !start.IsZero() && !end.IsZero() && start.After(end) {
		WriteError(w, "cloudtrail", http.StatusBadRequest, "InvalidTimeRangeException", "StartTime is after EndTime")
		return
	}
	query, _ := json.Marshal([]any{CallerOf(r).Account, region, in.StartTime, in.EndTime, in.LookupAttributes, in.EventCategory})
	offset := 0
	if in.NextToken != "" {
		tok, err := ctDecodeToken(in.NextToken)
		if err != nil || tok.Query != string(query) {
			WriteError(w, "cloudtrail", http.StatusBadRequest, "InvalidNextTokenException", "invalid NextToken")
			return
		}
		offset = tok.Offset
	}

	account := CallerOf(r).Account
	c.mu.Lock()
	var matched []ctEvent
	for _, e := range c.events {
		if e.account != account {
			continue
		}
		if region != "" && e.region != region {
			continue
		}
		if !start.IsZero() && e.at.Before(start) || !end.IsZero() && e.at.After(end) {
			continue
		}
		if len(in.LookupAttributes) == 1 && !ctMatches(e, in.LookupAttributes[0].AttributeKey, in.LookupAttributes[0].AttributeValue) {
			continue
		}
		matched = append(matched, e)
	}
	c.mu.Unlock()

	type outEvent struct {
		EventID         string       `json:"EventId"`
		EventName       string       `json:"EventName,omitempty"`
		EventSource     string       `json:"EventSource,omitempty"`
		EventTime       float64      `json:"EventTime"`
		ReadOnly        string       `json:"ReadOnly,omitempty"`
		AccessKeyID     string       `json:"AccessKeyId,omitempty"`
		Username        string       `json:"Username,omitempty"`
		Resources       []ctResource `json:"Resources,omitempty"`
		CloudTrailEvent string       `json:"CloudTrailEvent"`
	}
	out := struct {
		Events    []outEvent `json:"Events"`
		NextToken string     `json:"NextToken,omitempty"`
	}{Events: []outEvent{}}
	offset = min(offset, len(matched))
	page := matched[offset:min(offset+limit, len(matched))]
	for _, e := range page {
		out.Events = append(out.Events, outEvent{
			EventID: e.id, EventName: e.name, EventSource: e.source, EventTime: float64(e.at.Unix()),
			ReadOnly: e.readOnly, AccessKeyID: e.accessKey, Username: e.username, Resources: e.resources,
			CloudTrailEvent: e.raw,
		})
	}
	if next := offset + len(page); next < len(matched) {
		out.NextToken = ctEncodeToken(ctToken{Offset: next, Query: string(query)})
	}
	raw, _ := json.Marshal(out) // strings and numbers only; it cannot fail
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	_, _ = w.Write(raw)
}

var ctAttributeKeys = map[string]bool{
	"EventId": true, "EventName": true, "EventSource": true, "ReadOnly": true,
	"Username": true, "AccessKeyId": true, "ResourceName": true, "ResourceType": true,
}

func ctMatches(e ctEvent, key, value string) bool {
	switch key {
	case "EventId":
		return e.id == value
	case "EventName":
		return e.name == value
	case "EventSource":
		return e.source == value
	case "ReadOnly":
		return e.readOnly == value
	case "Username":
		return e.username == value
	case "AccessKeyId":
		return e.accessKey == value
	case "ResourceName":
		for _, r := range e.resources {
			if r.ResourceName == value {
				return true
			}
		}
		return false
	case "ResourceType":
		for _, r := range e.resources {
			if r.ResourceType == value {
				return true
			}
		}
		return false
	}
	return false
}

// ctTime reads epoch seconds with a fraction.
func ctTime(secs float64) time.Time {
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

func ctEncodeToken(t ctToken) string {
	b, _ := json.Marshal(t) // two plain fields cannot fail to marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func ctDecodeToken(s string) (ctToken, error) {
	var t ctToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}
