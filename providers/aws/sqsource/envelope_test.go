package sqsource

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	eventBridge := string(readTestdata(t, "eventbridge.json"))
	logFile := string(readTestdata(t, "logfile.json"))
	const logKey = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T0305Z_Ab12.json.gz"

	tests := []struct {
		name         string
		body         string
		wantEvents   string // the payload handed to ingest.Parse, if any
		wantObjects  []objectRef
		wantIgnored  int
		wantProblems []string // substrings of each problem's reason
		wantSkip     string   // substring of the reason to skip
	}{
		{
			name:       "EventBridge event",
			body:       eventBridge,
			wantEvents: eventBridge,
		},
		{
			name:       "EventBridge event wrapped by SNS",
			body:       snsEnvelope(t, eventBridge),
			wantEvents: eventBridge,
		},
		{
			name:       "CloudTrail log file body is not an S3 notification",
			body:       logFile,
			wantEvents: logFile,
		},
		{
			name:       "JSON Lines",
			body:       "{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}\n",
			wantEvents: "{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}\n",
		},
		{
			name:       "garbage goes to the parser to become a problem",
			body:       "\x00\x01 not json",
			wantEvents: "\x00\x01 not json",
		},
		{
			name:        "S3 notification with form-encoded key",
			body:        s3Event(t, "ObjectCreated:Put", "trail-bucket", "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/file+name%2B1.json.gz"),
			wantObjects: []objectRef{{Bucket: "trail-bucket", Key: "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/file name+1.json.gz", Region: testRegion}},
		},
		{
			name:        "S3 notification wrapped by SNS",
			body:        snsEnvelope(t, s3Event(t, "ObjectCreated:CompleteMultipartUpload", "trail-bucket", logKey)),
			wantObjects: []objectRef{{Bucket: "trail-bucket", Key: logKey, Region: testRegion}},
		},
		{
			name:        "S3 notification of a deletion",
			body:        s3Event(t, "ObjectRemoved:Delete", "trail-bucket", logKey),
			wantIgnored: 1,
		},
		{
			name:        "S3 notification of a digest file",
			body:        s3Event(t, "ObjectCreated:Put", "trail-bucket", "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/01/d.json.gz"),
			wantIgnored: 1,
		},
		{
			name:        "S3 notification of another object",
			body:        s3Event(t, "ObjectCreated:Put", "trail-bucket", "AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile"),
			wantIgnored: 1,
		},
		{
			name:         "S3 notification with a bad key encoding",
			body:         s3Event(t, "ObjectCreated:Put", "trail-bucket", "AWSLogs/%zz.json.gz"),
			wantProblems: []string{"object key"},
		},
		{
			name:         "S3 notification without a bucket",
			body:         s3Event(t, "ObjectCreated:Put", "", logKey),
			wantProblems: []string{"no bucket"},
		},
		{
			name: "S3 notification with a foreign record",
			body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","awsRegion":"eu-west-1","s3":{"bucket":{"name":"b"},"object":{"key":"k.json.gz"}}},{"eventSource":"aws:sqs"}]}`,
			wantObjects: []objectRef{
				{Bucket: "b", Key: "k.json.gz", Region: "eu-west-1"},
			},
			wantProblems: []string{`"aws:sqs" is not aws:s3`},
		},
		{
			name:        "CloudTrail SNS notification",
			body:        snsEnvelope(t, `{"s3Bucket":"trail-bucket","s3ObjectKey":["`+logKey+`","AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/01/d.json.gz"]}`),
			wantObjects: []objectRef{{Bucket: "trail-bucket", Key: logKey}},
			wantIgnored: 1,
		},
		{
			name:     "S3 test event",
			body:     `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T03:00:00.000Z","Bucket":"trail-bucket"}`,
			wantSkip: "S3 test event",
		},
		{
			name:     "S3 test event wrapped by SNS",
			body:     snsEnvelope(t, `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"trail-bucket"}`),
			wantSkip: "S3 test event",
		},
		{
			name:     "SNS subscription confirmation",
			body:     `{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:us-east-1:111122223333:trail","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/confirm"}`,
			wantSkip: "arn:aws:sns:us-east-1:111122223333:trail",
		},
		{
			name:       "SNS envelope inside SNS envelope is not unwrapped twice",
			body:       snsEnvelope(t, snsEnvelope(t, eventBridge)),
			wantEvents: snsEnvelope(t, eventBridge),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeBody("sqs:m-1", []byte(tt.body))
			if string(got.events) != tt.wantEvents {
				t.Errorf("events = %.80q, want %.80q", got.events, tt.wantEvents)
			}
			if !slices.Equal(got.objects, tt.wantObjects) {
				t.Errorf("objects = %+v, want %+v", got.objects, tt.wantObjects)
			}
			if got.ignored != tt.wantIgnored {
				t.Errorf("ignored = %d, want %d", got.ignored, tt.wantIgnored)
			}
			if (got.skip == "") != (tt.wantSkip == "") || !strings.Contains(got.skip, tt.wantSkip) {
				t.Errorf("skip = %q, want it to mention %q", got.skip, tt.wantSkip)
			}
			if len(got.problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %+v, want %d", got.problems, len(tt.wantProblems))
			}
			for i, p := range got.problems {
				if !strings.Contains(p.Reason, tt.wantProblems[i]) {
					t.Errorf("problem %d reason = %q, want it to mention %q", i, p.Reason, tt.wantProblems[i])
				}
				if p.Source != "sqs:m-1" || len(p.Raw) == 0 {
					t.Errorf("problem %d = {Source: %q, Raw: %q}, want the message as source and the record as raw", i, p.Source, p.Raw)
				}
			}
		})
	}
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     time.Duration
		receives int
		want     time.Duration
	}{
		{name: "disabled", base: 0, receives: 3, want: 0},
		{name: "first receive", base: 5 * time.Second, receives: 1, want: 5 * time.Second},
		{name: "doubles per receive", base: 5 * time.Second, receives: 4, want: 40 * time.Second},
		{name: "capped", base: 5 * time.Second, receives: 30, want: time.Minute},
		{name: "sub-second base rounds up", base: 300 * time.Millisecond, receives: 1, want: time.Second},
		{name: "unknown receive count", base: 5 * time.Second, receives: 0, want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryBackoff(tt.base, time.Minute, tt.receives); got != tt.want {
				t.Errorf("retryBackoff(%v, 1m, %d) = %v, want %v", tt.base, tt.receives, got, tt.want)
			}
		})
	}
}
