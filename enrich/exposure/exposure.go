// Package exposure answers the second question of every exposure: did
// anyone outside the organisation read the resource while it was exposed?
// (The first, what the resource holds, is read with its state:
// providers/aws/state.)
//
// Reads reach the bot two ways. CloudTrail data events (S3 object reads)
// and KMS key uses arrive on the event feed like any other event; the
// pipeline hands each batch's reads to a Recorder before history, which
// keeps the reads by principals outside the organisation (or anonymous) in
// full and only counts, per bucket and hour, the organisation's own, which
// are the vast majority and would otherwise swamp history. The rest is read
// from AWS when the question is asked (Sources): which trails record the
// bucket's reads, whether its server access logs are on and what they say,
// and the KMS events of a snapshot's key in CloudTrail event history.
//
// A Reviewer puts both together for the exposure window, when a high or
// critical finding resolves and whenever someone asks, and states its
// coverage honestly: a bucket nothing records is "cannot tell", never "no
// reads".
package exposure

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// Read is one read of a resource, as CloudTrail or a server access log
// recorded it.
type Read struct {
	// EventID is CloudTrail's event ID, or for an access log line its
	// request ID; RequestID is the S3 request ID both carry, so the same
	// request seen in both is counted once.
	EventID   string    `json:"id"`
	RequestID string    `json:"req,omitempty"`
	Time      time.Time `json:"t"`
	// Resource is the bucket's ARN, or the key's for a KMS use.
	Resource string `json:"r"`
	// Action is the API: GetObject, HeadObject, ListObjects, Decrypt…
	Action string `json:"a"`
	// Principal is the caller's ARN (or principal ID when the record has
	// no ARN, as for callers of another account), "anonymous" for
	// unauthenticated requests.
	Principal string `json:"p"`
	// Account is the caller's account; empty for anonymous requests.
	Account   string `json:"acct,omitempty"`
	Anonymous bool   `json:"anon,omitempty"`
	// Key is the object key read, if any.
	Key       string `json:"k,omitempty"`
	SourceIP  string `json:"ip,omitempty"`
	UserAgent string `json:"ua,omitempty"`
	// Source is where the read was recorded: SourceCloudTrail or
	// SourceAccessLog.
	Source string `json:"src"`
}

// Where a read was recorded.
const (
	SourceCloudTrail = "CloudTrail"
	SourceAccessLog  = "server access logs"
)

// Anonymous is the principal of unauthenticated requests.
const Anonymous = "anonymous"

// s3Reads are the S3 data events that read a bucket's objects or list
// them.
var s3Reads = map[string]bool{
	"GetObject": true, "HeadObject": true, "ListObjects": true, "ListObjectsV2": true,
	"ListObjectVersions": true, "SelectObjectContent": true,
}

// keyUses are the KMS events by which another account uses a key: to
// decrypt, to re-encrypt under its own key, or to grant itself (or a
// service copying a snapshot for it) the key's use.
var keyUses = map[string]bool{"Decrypt": true, "ReEncrypt": true, "CreateGrant": true}

// ReadEvents are the events a review reads, by event source: what the
// event rule must forward for reads to reach the bot.
func ReadEvents() map[string][]string {
	out := map[string][]string{}
	for n := range s3Reads {
		out["s3.amazonaws.com"] = append(out["s3.amazonaws.com"], n)
	}
	for n := range keyUses {
		out["kms.amazonaws.com"] = append(out["kms.amazonaws.com"], n)
	}
	return out
}

// IsS3Read reports whether an S3 API reads objects or lists them.
func IsS3Read(action string) bool { return s3Reads[action] }

// readParams are the request fields a read names.
type readParams struct {
	BucketName string `json:"bucketName"`
	Key        string `json:"key"`
	KeyID      string `json:"keyId"`
}

// ReadOf returns the read a CloudTrail record is: an S3 object read or
// listing, or a KMS key use, that did not fail. ok is false for any other
// record.
func ReadOf(rec *cloudtrail.Record) (r Read, ok bool) {
	if rec.ErrorCode != "" {
		return Read{}, false
	}
	switch rec.EventSource {
	case "s3.amazonaws.com":
		if !s3Reads[rec.EventName] {
			return Read{}, false
		}
	case "kms.amazonaws.com":
		if !keyUses[rec.EventName] {
			return Read{}, false
		}
	default:
		return Read{}, false
	}
	// Data events are the bulk of a feed that carries them: the three
	// fields are picked out of the request without decoding it.
	p := readParams{
		BucketName: stringField(rec.RequestParameters, `"bucketName"`),
		Key:        stringField(rec.RequestParameters, `"key"`),
		KeyID:      stringField(rec.RequestParameters, `"keyId"`),
	}
	r = Read{
		EventID: rec.EventID, RequestID: rec.RequestID, Time: rec.EventTime, Action: rec.EventName,
		SourceIP: rec.SourceIPAddress, UserAgent: rec.UserAgent, Source: SourceCloudTrail,
	}
	if rec.EventSource == "s3.amazonaws.com" {
		if p.BucketName == "" {
			return Read{}, false
		}
		r.Resource = awsarn.S3Bucket(awsarn.PartitionOf(rec.AWSRegion), p.BucketName).String()
		r.Key = p.Key
	} else {
		r.Resource = keyARN(rec, p.KeyID)
		if r.Resource == "" {
			return Read{}, false
		}
	}
	id := rec.UserIdentity
	switch {
	case id.AccountID == Anonymous || id.Type == "AWSAccount" && id.AccountID == "" && id.PrincipalID == "":
		r.Principal, r.Anonymous = Anonymous, true
	case id.Type == "AWSService":
		r.Principal, r.Account = firstOf(id.InvokedBy, id.PrincipalID, "AWS service"), rec.Account()
	default:
		r.Principal = firstOf(id.ARN, rec.ActorARN(), id.PrincipalID, id.AccountID)
		r.Account = id.AccountID
	}
	return r, true
}

// stringField returns the string value of the first member named name
// (quoted) in a JSON object, "" when there is none or it is not a string.
// Escapes are decoded; the object is not otherwise checked.
func stringField(obj []byte, name string) string {
	if len(obj) == 0 || obj[0] != '{' {
		return ""
	}
	for rest := obj; ; {
		i := bytes.Index(rest, []byte(name))
		if i < 0 {
			return ""
		}
		v := bytes.TrimLeft(rest[i+len(name):], " \t\r\n")
		rest = rest[i+len(name):]
		if len(v) == 0 || v[0] != ':' {
			continue // the name was a value, not a member
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
		if len(v) == 0 || v[0] != '"' {
			return ""
		}
		escaped := false
		for j := 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				escaped = true
				j++
			case '"':
				if !escaped {
					return string(v[1:j])
				}
				var s string
				if json.Unmarshal(v[:j+1], &s) != nil {
					return ""
				}
				return s
			}
		}
		return ""
	}
}

// keyARN is the key a KMS event used: the resources list names it, else
// the keyId request field when it is an ARN.
func keyARN(rec *cloudtrail.Record, keyID string) string {
	for _, res := range rec.Resources {
		if res.Type == "AWS::KMS::Key" && res.ARN != "" {
			return res.ARN
		}
	}
	if strings.HasPrefix(keyID, "arn:") && strings.Contains(keyID, ":key/") {
		return keyID
	}
	return ""
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Org says how an account relates to the organisation (org.Directory).
type Org interface {
	Classify(accountID string) finding.TargetClass
}

// Outside reports whether a read was made by a principal outside the
// organisation or anonymously: what a review keeps in full. The
// organisation's own accounts, and AWS services acting for them, are
// inside.
func Outside(r Read, org Org, owner string) bool {
	if r.Anonymous {
		return true
	}
	if r.Account == "" || r.Account == owner {
		return false
	}
	return org.Classify(r.Account) != finding.TargetKnown
}
