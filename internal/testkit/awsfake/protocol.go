package awsfake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ActionOf names the operation of a request: the query Action, the JSON
// X-Amz-Target operation, or "METHOD /path?subresource" for S3.
func ActionOf(service string, r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return t[i+1:]
		}
		return t
	}
	switch service {
	case "macie2":
		return macieAction(r)
	case "s3":
		q := r.URL.Query()
		for _, sub := range []string{"policy", "policyStatus", "acl", "publicAccessBlock", "tagging", "encryption", "logging", "list-type"} {
			if q.Has(sub) {
				return r.Method + " ?" + sub
			}
		}
		return r.Method + " " + r.URL.Path
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if v, err := url.ParseQuery(string(body)); err == nil && v.Get("Action") != "" {
			return v.Get("Action")
		}
	}
	return r.URL.Query().Get("Action")
}

// Form parses a query-protocol request body.
func Form(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(body))
}

// WriteError answers with the service's error shape: JSON for JSON
// protocols, the query XML ErrorResponse for IAM/STS/RDS, EC2's Response
// shape, and S3's Error document.
func WriteError(w http.ResponseWriter, service string, status int, code, msg string) {
	switch service {
	case "organizations", "cloudtrail", "sso", "identitystore", "sqs", "kms":
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	case "macie2":
		// REST-JSON: the code travels in the header.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	case "ec2":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake-request</RequestID></Response>`, esc(code), esc(msg))
	case "s3":
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fake-request</RequestId></Error>`, esc(code), esc(msg))
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`, esc(code), esc(msg))
	}
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Namespaces of the query services' replies.
const (
	nsSTS = "https://sts.amazonaws.com/doc/2011-06-15/"
	nsIAM = "https://iam.amazonaws.com/doc/2010-05-08/"
	nsRDS = "http://rds.amazonaws.com/doc/2014-10-31/"
	nsEC2 = "http://ec2.amazonaws.com/doc/2016-11-15/"
	nsS3  = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// WriteQuery answers a query-protocol (IAM, STS, RDS) request:
// <ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>….
// A nil result writes an empty reply, as AWS does for mutations.
func WriteQuery(w http.ResponseWriter, ns, action string, result any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, ns)
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			WriteError(w, "", http.StatusInternalServerError, "InternalFailure", err.Error())
			return
		}
		_ = enc.Flush()
	}
	fmt.Fprintf(&b, `<ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></%sResponse>`, action)
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(b.Bytes())
}

// WriteEC2 answers an EC2 query request, whose reply has no Result wrapper:
// the result's fields sit directly under <ActionResponse>.
func WriteEC2(w http.ResponseWriter, action string, result any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: nsEC2}},
	}
	if err := enc.EncodeElement(result, start); err != nil {
		WriteError(w, "ec2", http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	_ = enc.Flush()
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(b.Bytes())
}

// WriteXML answers a REST-XML (S3) request with one document.
func WriteXML(w http.ResponseWriter, root string, doc any) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{
		Name: xml.Name{Local: root},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: nsS3}},
	}
	if err := enc.EncodeElement(doc, start); err != nil {
		WriteError(w, "s3", http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	_ = enc.Flush()
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write(b.Bytes())
}

// WriteJSON answers a JSON 1.1 request.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// isoTime formats a timestamp the way the XML protocols carry it.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// indexed reads a query list such as Tags.member.1.Key: it returns, in
// index order, the values of every "<prefix>.<n>.<field>" (or
// "<prefix>.<n>" when field is "").
func indexed(form url.Values, prefix, field string) []string {
	var out []string
	for n := 1; ; n++ {
		key := fmt.Sprintf("%s.%d", prefix, n)
		if field != "" {
			key += "." + field
		}
		v, ok := form[key]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

var regionRe = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/`)

// RegionOf returns the region a request was signed for.
func RegionOf(r *http.Request) string {
	if m := regionRe.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		return m[1]
	}
	return "us-east-1"
}
