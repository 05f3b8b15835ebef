package sqsource

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/secops-bot/secops-bot/ingest"
)

// content is what a message body turned out to carry once any SNS envelope
// is removed.
type content struct {
	// events is a payload for ingest.Parse: an EventBridge event, a bare
	// record, a log file's JSON or anything unrecognised (Parse reports
	// the latter as problems).
	events []byte
	// objects are CloudTrail log files to fetch from S3.
	objects []objectRef
	// problems are parts of a notification that could not be understood.
	problems []ingest.Problem
	// ignored counts notification records that name no CloudTrail log file
	// (deletions, digest files, other objects).
	ignored int
	// skip says why the message carries nothing to ingest at all.
	skip string
}

// objectRef names one object of an S3 notification.
type objectRef struct {
	Bucket string
	Key    string
	// Region is the bucket's region when the notification names it; the
	// bucket need not live in the queue's region.
	Region string
}

func (o objectRef) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// probe holds the fields that tell the kinds of body apart.
type probe struct {
	// SNS envelope.
	Type     string  `json:"Type"`
	Message  *string `json:"Message"`
	TopicArn string  `json:"TopicArn"`
	// S3 test event sent when a notification is configured.
	Event   string `json:"Event"`
	Service string `json:"Service"`
	// S3 event notification, or a CloudTrail log file.
	Records []json.RawMessage `json:"Records"`
	// CloudTrail's own SNS notification of a delivered log file.
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
}

// s3Record is one record of an S3 event notification.
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	AWSRegion   string `json:"awsRegion"`
	S3          struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"s3"`
}

// decodeBody works out what a message body carries. source names the
// message in any problem it reports.
func decodeBody(source string, body []byte) content {
	return decode(source, body, true)
}

func decode(source string, body []byte, unwrap bool) content {
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		// Not one JSON object: JSON Lines, or garbage that Parse turns
		// into a problem carrying the raw body.
		return content{events: body}
	}
	switch {
	case unwrap && p.Type == "Notification" && p.Message != nil:
		return decode(source, []byte(*p.Message), false)
	case p.Type == "SubscriptionConfirmation":
		// The SubscribeURL carries a token, so it is not logged: the
		// subscription can be confirmed again from SNS.
		return content{skip: "SNS subscription confirmation for " + p.TopicArn + " (confirm the subscription in SNS)"}
	case p.Event == "s3:TestEvent":
		return content{skip: "S3 test event"}
	case p.S3Bucket != "" && len(p.S3ObjectKey) > 0:
		return cloudTrailNotification(p)
	case isS3Notification(p.Records):
		return s3Notification(source, p.Records)
	}
	return content{events: body}
}

// isS3Notification tells an S3 event notification from a CloudTrail log
// file: both hold "Records", but only S3's records come from "aws:s3".
func isS3Notification(records []json.RawMessage) bool {
	for _, raw := range records {
		var r struct {
			EventSource string `json:"eventSource"`
		}
		if json.Unmarshal(raw, &r) == nil && r.EventSource == "aws:s3" {
			return true
		}
	}
	return false
}

func s3Notification(source string, records []json.RawMessage) content {
	var c content
	for i, raw := range records {
		problem := func(reason string) {
			c.problems = append(c.problems, ingest.Problem{
				Source: source,
				Reason: reason,
				Raw:    append([]byte(nil), raw...),
			})
		}
		var r s3Record
		if err := json.Unmarshal(raw, &r); err != nil {
			problem(fmt.Sprintf("S3 notification record %d: %v", i+1, err))
			continue
		}
		if r.EventSource != "aws:s3" {
			problem(fmt.Sprintf("S3 notification record %d: event source %q is not aws:s3", i+1, r.EventSource))
			continue
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			c.ignored++
			continue
		}
		// Keys are form-encoded in S3 notifications: "+" is a space.
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			problem(fmt.Sprintf("S3 notification record %d: object key: %v", i+1, err))
			continue
		}
		if r.S3.Bucket.Name == "" || key == "" {
			problem(fmt.Sprintf("S3 notification record %d: no bucket or object key", i+1))
			continue
		}
		if !isLogFile(key) {
			c.ignored++
			continue
		}
		c.objects = append(c.objects, objectRef{Bucket: r.S3.Bucket.Name, Key: key, Region: r.AWSRegion})
	}
	return c
}

// cloudTrailNotification reads the notification CloudTrail itself publishes
// to SNS for each delivered log file; its keys are not encoded.
func cloudTrailNotification(p probe) content {
	var c content
	for _, key := range p.S3ObjectKey {
		if !isLogFile(key) {
			c.ignored++
			continue
		}
		c.objects = append(c.objects, objectRef{Bucket: p.S3Bucket, Key: key})
	}
	return c
}

// isLogFile reports whether key is a CloudTrail log file. Digest files share
// the suffix but hold hashes, not events.
func isLogFile(key string) bool {
	return strings.HasSuffix(key, ".json.gz") && !strings.Contains(key, "/CloudTrail-Digest/")
}
