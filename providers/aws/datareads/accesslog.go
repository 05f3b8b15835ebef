package datareads

import (
	"bufio"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/internal/awsarn"
)

// LogLine is the part of an S3 server access log record a review reads,
// in the documented field order: bucket owner, bucket, [time], remote IP,
// requester, request ID, operation, key, "request URI", HTTP status, error
// code, bytes sent, object size, total time, turn-around time,
// "referer", "user agent", and more that are not read.
type LogLine struct {
	BucketOwner string
	Bucket      string
	Time        time.Time
	RemoteIP    string
	// Requester is the caller's IAM ARN or canonical user ID, "-" (or, in
	// older logs, "Anonymous") for unauthenticated requests.
	Requester string
	RequestID string
	Operation string // REST.GET.OBJECT…
	Key       string // URL-decoded; "" when the operation takes none
	Status    int
	ErrorCode string
	UserAgent string
}

// logTime is the format of the bracketed time field.
const logTime = "02/Jan/2006:15:04:05 -0700"

// ParseLogLine reads one access log record; ok is false for a line that is
// not one (cut short, or not in the format).
func ParseLogLine(line string) (l LogLine, ok bool) {
	f := splitFields(line, 17)
	if len(f) < 17 {
		return LogLine{}, false
	}
	t, err := time.Parse(logTime, strings.Trim(f[2], "[]"))
	if err != nil {
		return LogLine{}, false
	}
	status, err := strconv.Atoi(f[9])
	if err != nil {
		return LogLine{}, false
	}
	l = LogLine{
		BucketOwner: f[0], Bucket: f[1], Time: t.UTC(), RemoteIP: dash(f[3]), Requester: f[4], RequestID: dash(f[5]),
		Operation: f[6], Status: status, ErrorCode: dash(f[10]), UserAgent: dash(f[16]),
	}
	if k := dash(f[7]); k != "" {
		if dec, err := url.PathUnescape(k); err == nil {
			k = dec
		}
		l.Key = k
	}
	return l, true
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// splitFields splits a log line on spaces, keeping a [bracketed] or
// "quoted" field whole (quotes removed), up to n fields.
func splitFields(line string, n int) []string {
	var out []string
	for i := 0; i < len(line) && len(out) < n; {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		var end int
		switch line[i] {
		case '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				return out
			}
			out = append(out, line[i+1:i+1+j])
			end = i + 2 + j
		case '[':
			j := strings.IndexByte(line[i:], ']')
			if j < 0 {
				return out
			}
			out = append(out, line[i:i+j+1])
			end = i + j + 1
		default:
			j := strings.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line) - i
			}
			out = append(out, line[i:i+j])
			end = i + j
		}
		i = end
	}
	return out
}

// logReads maps the operations that read objects or list them to their
// API names, as CloudTrail names the same calls.
var logReads = map[string]string{
	"REST.GET.OBJECT":         "GetObject",
	"REST.HEAD.OBJECT":        "HeadObject",
	"REST.GET.BUCKET":         "ListObjects",
	"REST.GET.BUCKETVERSIONS": "ListObjectVersions",
}

// ReadOf is the read a log record is: a successful object read or listing
// of the bucket. Requesters are named by ARN when the log gives one; a
// canonical user ID other than the bucket owner's cannot be tied to an
// account, so it is kept as outside the organisation rather than assumed
// inside.
func (l LogLine) ReadOf(bucket string) (exposure.Read, bool) {
	action, ok := logReads[l.Operation]
	if !ok || l.Bucket != bucket || l.Status < 200 || l.Status >= 300 {
		return exposure.Read{}, false
	}
	r := exposure.Read{
		EventID: l.RequestID, RequestID: l.RequestID, Time: l.Time, Action: action, Key: l.Key,
		Resource: awsarn.S3Bucket(awsarn.PartitionAWS, bucket).String(), SourceIP: l.RemoteIP, UserAgent: l.UserAgent,
		Source: exposure.SourceAccessLog,
	}
	switch req := l.Requester; {
	case req == "-" || req == "" || req == "Anonymous":
		r.Principal, r.Anonymous = exposure.Anonymous, true
	case strings.HasPrefix(req, "arn:"):
		r.Principal = req
		if a, err := awsarn.Parse(req); err == nil {
			r.Account = a.Account
		}
	case req == l.BucketOwner:
		r.Principal = "the bucket owner (canonical user " + short(req) + ")"
	default:
		r.Principal, r.Account = "canonical user "+short(req), "canonical:"+req
	}
	return r, true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// maxLogLine bounds one access log record; longer lines are skipped.
const maxLogLine = 64 << 10

// ParseAccessLog reads an access log file and calls fn with each of its
// reads of the bucket; lines that are not records are skipped.
func ParseAccessLog(r io.Reader, bucket string, fn func(exposure.Read)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLogLine)
	for sc.Scan() {
		l, ok := ParseLogLine(sc.Text())
		if !ok {
			continue
		}
		if rd, ok := l.ReadOf(bucket); ok {
			fn(rd)
		}
	}
	return sc.Err()
}
