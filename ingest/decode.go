package ingest

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

// decodeRecord fills r from the JSON object raw, producing exactly what
// json.Unmarshal(raw, r) produces (Raw aside). The hand-written path below
// handles the shape CloudTrail actually emits several times faster than
// encoding/json; anything unusual (duplicate or case-folded keys, escaped
// keys, type mismatches, syntax errors) is handed to encoding/json so that
// results and error messages stay identical.
func decodeRecord(raw []byte, r *cloudtrail.Record) error {
	d := newRecordDecoder(raw)
	if end, ok := d.record(0, r); ok && jsonscan.Space(raw, end) == len(raw) {
		return nil
	}
	*r = cloudtrail.Record{}
	return json.Unmarshal(raw, r)
}

type recordDecoder struct {
	data []byte
	// text is data as a string: every plain string field is a substring of
	// it, one allocation per record instead of one per field.
	text string
	// envelope is set when the top-level object has a key that marks a log
	// file or an EventBridge event, so the caller must not take it for a
	// bare record.
	envelope bool
	// recordKey is set when the top-level object has eventID or eventName,
	// what makes an object a record rather than unrelated JSON.
	recordKey bool
}

// str decodes a string field value at i: a JSON string or null (which
// leaves the field untouched, as encoding/json does).
func newRecordDecoder(raw []byte) recordDecoder {
	return recordDecoder{data: raw, text: string(raw)}
}

// newOwnedRecordDecoder decodes a record whose bytes belong to it alone and
// are never written again (they become Record.Raw, which is read-only): its
// string fields share that memory instead of a second copy.
func newOwnedRecordDecoder(raw []byte) recordDecoder {
	if len(raw) == 0 {
		return recordDecoder{data: raw}
	}
	return recordDecoder{data: raw, text: unsafe.String(&raw[0], len(raw))}
}

func (d *recordDecoder) str(i int, dst *string) (int, bool) {
	data := d.data
	switch {
	case i < len(data) && data[i] == '"':
		end, plain := jsonscan.String(data, i)
		if end < 0 {
			return -1, false
		}
		if plain {
			*dst = d.text[i+1 : end-1]
			return end, true
		}
		if body := data[i+1 : end-1]; bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			*dst = d.text[i+1 : end-1]
			return end, true
		}
		// Escapes and invalid UTF-8 follow encoding/json's exact rules.
		if err := json.Unmarshal(data[i:end], dst); err != nil {
			return -1, false
		}
		return end, true
	case i < len(data) && data[i] == 'n':
		end := jsonscan.Literal(data, i, "null")
		return end, end >= 0
	default:
		return -1, false
	}
}

// raw copies a value verbatim, as json.RawMessage does (null included).
// The copy aliases the record's Raw, which is never written to.
func (d *recordDecoder) raw(i int, dst *json.RawMessage) (int, bool) {
	end := jsonscan.Skip(d.data, i)
	if end < 0 {
		return -1, false
	}
	*dst = json.RawMessage(d.data[i:end:end])
	return end, true
}

func (d *recordDecoder) time(i int, dst *time.Time) (int, bool) {
	end := jsonscan.Skip(d.data, i)
	if end < 0 {
		return -1, false
	}
	if t, ok := utcSecond(d.data[i:end]); ok {
		*dst = t
		return end, true
	}
	if err := dst.UnmarshalJSON(d.data[i:end]); err != nil {
		return -1, false
	}
	return end, true
}

// utcSecond reads a time in the one form CloudTrail writes,
// "2006-01-02T15:04:05Z" with its quotes, into what Time.UnmarshalJSON
// makes of it, and reports false for anything else (fractions of a
// second, offsets, fields out of range) so that UnmarshalJSON decides.
// UnmarshalJSON's general parse is a twentieth of the cost of a record.
func utcSecond(b []byte) (time.Time, bool) {
	if len(b) != len(`"2006-01-02T15:04:05Z"`) || b[0] != '"' || b[5] != '-' || b[8] != '-' || b[11] != 'T' ||
		b[14] != ':' || b[17] != ':' || b[20] != 'Z' || b[21] != '"' {
		return time.Time{}, false
	}
	year, ok1 := decimal(b[1:5])
	month, ok2 := decimal(b[6:8])
	day, ok3 := decimal(b[9:11])
	hour, ok4 := decimal(b[12:14])
	minute, ok5 := decimal(b[15:17])
	sec, ok6 := decimal(b[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// Days since 1970-01-01 of a proleptic Gregorian date, counted in
	// 400-year eras of 146,097 days from March, so that a leap day ends
	// its year (H. Hinnant, "chrono-compatible low-level date algorithms").
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era)*146097 + int64(doe) - 719468
	return time.Unix(days*86400+int64(hour*3600+minute*60+sec), 0).UTC(), true
}

// decimal reads ASCII digits.
func decimal(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysIn is the length of a month of the proleptic Gregorian calendar.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func (d *recordDecoder) boolPtr(i int, dst **bool) (int, bool) {
	data := d.data
	if i >= len(data) {
		return -1, false
	}
	switch data[i] {
	case 't', 'f':
		v := data[i] == 't'
		lit := "false"
		if v {
			lit = "true"
		}
		end := jsonscan.Literal(data, i, lit)
		if end < 0 {
			return -1, false
		}
		*dst = &v
		return end, true
	case 'n':
		end := jsonscan.Literal(data, i, "null")
		*dst = nil
		return end, end >= 0
	}
	return -1, false
}

// isNull reports whether a null literal starts at i, and where it ends.
func (d *recordDecoder) isNull(i int) (int, bool) {
	if i < len(d.data) && d.data[i] == 'n' {
		end := jsonscan.Literal(d.data, i, "null")
		return end, end >= 0
	}
	return 0, false
}

// unknownKey checks a key that matched no field exactly. encoding/json would
// still match it case-insensitively, so such keys, escaped keys and
// non-ASCII keys send the record to encoding/json.
func unknownKey(key []byte, plain bool, names []string) bool {
	if !plain {
		return false
	}
	for _, n := range names {
		if len(n) == len(key) && bytes.EqualFold(key, []byte(n)) {
			return false
		}
	}
	return true
}

var recordNames = []string{"eventVersion", "eventID", "eventTime", "eventSource", "eventName", "eventType",
	"awsRegion", "sourceIPAddress", "userAgent", "userIdentity", "requestParameters", "responseElements",
	"additionalEventData", "errorCode", "errorMessage", "requestID", "readOnly", "recipientAccountId", "resources"}

func (d *recordDecoder) record(start int, r *cloudtrail.Record) (int, bool) {
	it := jsonscan.NewObject(d.data, start, 1)
	var seen uint32
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		var end, bit int
		ok = true
		switch string(key) {
		case "eventVersion":
			bit = 0
			end, ok = d.str(v, &r.EventVersion)
		case "eventID":
			bit = 1
			end, ok = d.str(v, &r.EventID)
		case "eventTime":
			bit = 2
			end, ok = d.time(v, &r.EventTime)
		case "eventSource":
			bit = 3
			end, ok = d.str(v, &r.EventSource)
		case "eventName":
			bit = 4
			end, ok = d.str(v, &r.EventName)
		case "eventType":
			bit = 5
			end, ok = d.str(v, &r.EventType)
		case "awsRegion":
			bit = 6
			end, ok = d.str(v, &r.AWSRegion)
		case "sourceIPAddress":
			bit = 7
			end, ok = d.str(v, &r.SourceIPAddress)
		case "userAgent":
			bit = 8
			end, ok = d.str(v, &r.UserAgent)
		case "userIdentity":
			bit = 9
			if e, null := d.isNull(v); null {
				end = e
			} else {
				end, ok = d.identity(v, &r.UserIdentity)
			}
		case "requestParameters":
			bit = 10
			end, ok = d.raw(v, &r.RequestParameters)
		case "responseElements":
			bit = 11
			end, ok = d.raw(v, &r.ResponseElements)
		case "additionalEventData":
			bit = 12
			end, ok = d.raw(v, &r.AdditionalData)
		case "errorCode":
			bit = 13
			end, ok = d.str(v, &r.ErrorCode)
		case "errorMessage":
			bit = 14
			end, ok = d.str(v, &r.ErrorMessage)
		case "requestID":
			bit = 15
			end, ok = d.str(v, &r.RequestID)
		case "readOnly":
			bit = 16
			end, ok = d.boolPtr(v, &r.ReadOnly)
		case "recipientAccountId":
			bit = 17
			end, ok = d.str(v, &r.RecipientAccountID)
		case "resources":
			bit = 18
			end, ok = d.resources(v, &r.Resources)
		case "managementEvent", "eventCategory", "tlsDetails", "sessionCredentialFromConsole", "apiVersion",
			"sharedEventID", "vpcEndpointId", "vpcEndpointAccountId", "serviceEventDetails", "addendum",
			"edgeDeviceDetails", "insightDetails":
			// Fields of CloudTrail's own that Record does not keep: none
			// matches a field's name in any case, so no need to ask.
			it.Advance(jsonscan.SkipDepth(d.data, v, 2))
			continue
		default:
			if !unknownKey(key, plain, recordNames) {
				return -1, false
			}
			if isEnvelopeKey(key) {
				d.envelope = true
			}
			it.Advance(jsonscan.SkipDepth(d.data, v, 2))
			continue
		}
		if !ok || seen&(1<<bit) != 0 {
			return -1, false
		}
		seen |= 1 << bit
		it.Advance(end)
	}
	if it.Failed() {
		return -1, false
	}
	d.recordKey = seen&(1<<1|1<<4) != 0
	return it.End(), true
}

var identityNames = []string{"type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy", "sessionContext"}

func (d *recordDecoder) identity(start int, u *cloudtrail.UserIdentity) (int, bool) {
	it := jsonscan.NewObject(d.data, start, 2)
	var seen uint32
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		var end, bit int
		ok = true
		switch string(key) {
		case "type":
			bit = 0
			end, ok = d.str(v, &u.Type)
		case "principalId":
			bit = 1
			end, ok = d.str(v, &u.PrincipalID)
		case "arn":
			bit = 2
			end, ok = d.str(v, &u.ARN)
		case "accountId":
			bit = 3
			end, ok = d.str(v, &u.AccountID)
		case "accessKeyId":
			bit = 4
			end, ok = d.str(v, &u.AccessKeyID)
		case "userName":
			bit = 5
			end, ok = d.str(v, &u.UserName)
		case "invokedBy":
			bit = 6
			end, ok = d.str(v, &u.InvokedBy)
		case "sessionContext":
			bit = 7
			if e, null := d.isNull(v); null {
				end, u.SessionContext = e, nil
			} else {
				u.SessionContext = new(cloudtrail.SessionContext)
				end, ok = d.session(v, u.SessionContext)
			}
		default:
			if !unknownKey(key, plain, identityNames) {
				return -1, false
			}
			it.Advance(jsonscan.SkipDepth(d.data, v, 3))
			continue
		}
		if !ok || seen&(1<<bit) != 0 {
			return -1, false
		}
		seen |= 1 << bit
		it.Advance(end)
	}
	if it.Failed() {
		return -1, false
	}
	return it.End(), true
}

var sessionNames = []string{"sessionIssuer", "attributes", "sourceIdentity"}

func (d *recordDecoder) session(start int, s *cloudtrail.SessionContext) (int, bool) {
	it := jsonscan.NewObject(d.data, start, 3)
	var seen uint32
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		var end, bit int
		ok = true
		switch string(key) {
		case "webIdFederationData", "ec2RoleDelivery", "assumedRoot":
			// CloudTrail's, not kept, and matching no field in any case.
			it.Advance(jsonscan.SkipDepth(d.data, v, 4))
			continue
		case "sessionIssuer":
			bit = 0
			if e, null := d.isNull(v); null {
				end = e
			} else {
				end, ok = d.issuer(v, &s.SessionIssuer)
			}
		case "attributes":
			bit = 1
			if e, null := d.isNull(v); null {
				end = e
			} else {
				end, ok = d.attributes(v, &s.Attributes)
			}
		case "sourceIdentity":
			bit = 2
			end, ok = d.str(v, &s.SourceIdentity)
		default:
			if !unknownKey(key, plain, sessionNames) {
				return -1, false
			}
			it.Advance(jsonscan.SkipDepth(d.data, v, 4))
			continue
		}
		if !ok || seen&(1<<bit) != 0 {
			return -1, false
		}
		seen |= 1 << bit
		it.Advance(end)
	}
	if it.Failed() {
		return -1, false
	}
	return it.End(), true
}

var issuerNames = []string{"type", "principalId", "arn", "accountId", "userName"}

func (d *recordDecoder) issuer(start int, s *cloudtrail.SessionIssuer) (int, bool) {
	return d.flat(start, 4, issuerNames, []*string{&s.Type, &s.PrincipalID, &s.ARN, &s.AccountID, &s.UserName})
}

var attributeNames = []string{"creationDate", "mfaAuthenticated"}

func (d *recordDecoder) attributes(start int, a *cloudtrail.SessionAttributes) (int, bool) {
	return d.flat(start, 4, attributeNames, []*string{&a.CreationDate, &a.MFAAuthenticated})
}

var resourceNames = []string{"ARN", "accountId", "type"}

func (d *recordDecoder) resources(start int, dst *[]cloudtrail.Resource) (int, bool) {
	data := d.data
	if e, null := d.isNull(start); null {
		*dst = nil
		return e, true
	}
	if start >= len(data) || data[start] != '[' {
		return -1, false
	}
	out := make([]cloudtrail.Resource, 0, 2)
	i := jsonscan.Space(data, start+1)
	if i < len(data) && data[i] == ']' {
		*dst = out
		return i + 1, true
	}
	for {
		var res cloudtrail.Resource
		end, ok := 0, true
		if e, null := d.isNull(i); null {
			end = e
		} else {
			end, ok = d.flat(i, 3, resourceNames, []*string{&res.ARN, &res.AccountID, &res.Type})
		}
		if !ok {
			return -1, false
		}
		out = append(out, res)
		i = jsonscan.Space(data, end)
		if i >= len(data) {
			return -1, false
		}
		switch data[i] {
		case ',':
			i = jsonscan.Space(data, i+1)
		case ']':
			*dst = out
			return i + 1, true
		default:
			return -1, false
		}
	}
}

// flat decodes an object whose fields are all strings, in names order.
func (d *recordDecoder) flat(start, depth int, names []string, dst []*string) (int, bool) {
	it := jsonscan.NewObject(d.data, start, depth)
	var seen uint32
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		idx := -1
		for n, name := range names {
			if string(key) == name {
				idx = n
				break
			}
		}
		if idx < 0 {
			if !unknownKey(key, plain, names) {
				return -1, false
			}
			it.Advance(jsonscan.SkipDepth(d.data, v, depth+1))
			continue
		}
		end, ok := d.str(v, dst[idx])
		if !ok || seen&(1<<idx) != 0 {
			return -1, false
		}
		seen |= 1 << idx
		it.Advance(end)
	}
	if it.Failed() {
		return -1, false
	}
	return it.End(), true
}
