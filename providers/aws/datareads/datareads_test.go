package datareads

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/secops-bot/secops-bot/enrich/exposure"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

const (
	acct    = "111122223333"
	unknown = "444455556666"
	region  = "eu-central-1"
	logFile = "2026-11-26-15-10-22-5A2B6C4D8E0F1A3B"
	keyARN  = "arn:aws:kms:eu-west-1:111122223333:key/0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
)

var (
	opened = time.Date(2026, 11, 26, 14, 21, 7, 0, time.UTC)
	fixed  = time.Date(2026, 11, 26, 14, 38, 41, 0, time.UTC)
)

func TestParseAccessLog(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", logFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []exposure.Read
	if err := ParseAccessLog(f, "payments-exports", func(r exposure.Read) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	want := []exposure.Read{
		{EventID: "9B1D4E7A2C5F8B0D", RequestID: "9B1D4E7A2C5F8B0D", Time: time.Date(2026, 11, 26, 14, 24, 58, 0, time.UTC), Action: "GetObject", Key: "exports/2026-11-26/settlements.csv",
			Principal: exposure.Anonymous, Anonymous: true, SourceIP: "198.51.100.23", UserAgent: "curl/8.5.0"},
		{EventID: "0C2E5F8B3D6A9C1E", RequestID: "0C2E5F8B3D6A9C1E", Time: time.Date(2026, 11, 26, 14, 26, 40, 0, time.UTC), Action: "HeadObject", Key: "exports/2026-11-25/settlements copy.csv",
			Principal: "arn:aws:iam::444455556666:user/scraper", Account: unknown, SourceIP: "203.0.113.77", UserAgent: "aws-cli/2.15.30 md/Botocore#1.34.30"},
		{EventID: "2E4A7B0D5F8C1E3A", RequestID: "2E4A7B0D5F8C1E3A", Time: time.Date(2026, 11, 26, 14, 33, 5, 0, time.UTC), Action: "ListObjects",
			Principal: "the bucket owner (canonical user 3b5f6b3dcd9d…)", SourceIP: "10.20.30.40", UserAgent: "aws-sdk-go-v2/1.30.0"},
	}
	for i := range want {
		want[i].Resource, want[i].Source = "arn:aws:s3:::payments-exports", exposure.SourceAccessLog
	}
	if !slices.Equal(got, want) {
		t.Errorf("reads =\n%+v\nwant (no refused read, no write, no other bucket, no bucket setting read)\n%+v", got, want)
	}
}

func sel(field string, eq ...string) cttypes.AdvancedFieldSelector {
	return cttypes.AdvancedFieldSelector{Field: aws.String(field), Equals: eq}
}

func TestCoverage(t *testing.T) {
	objects := sel("resources.type", "AWS::S3::Object")
	data := sel("eventCategory", "Data")
	tests := []struct {
		name     string
		basic    []cttypes.EventSelector
		advanced []cttypes.AdvancedEventSelector
		want     Coverage
	}{
		{"management events only", []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}, nil, CoversNone},
		{"every bucket", []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeAll, DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3"}}}}}, nil, CoversAll},
		{"this bucket", []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeReadOnly, DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3:::payments-exports/"}}}}}, nil, CoversAll},
		{"writes only", []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeWriteOnly, DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3"}}}}}, nil, CoversNone},
		{"a prefix of it", []cttypes.EventSelector{{DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3:::payments-exports/exports/"}}}}}, nil, CoversSome},
		{"another bucket", []cttypes.EventSelector{{DataResources: []cttypes.DataResource{{Type: aws.String("AWS::S3::Object"), Values: []string{"arn:aws:s3:::payments-exports-old/"}}}}}, nil, CoversNone},
		{"advanced: every object", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects}}}, CoversAll},
		{"advanced: this bucket's reads", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects, sel("readOnly", "true"),
			{Field: aws.String("resources.ARN"), StartsWith: []string{"arn:aws:s3:::payments-exports/"}}}}}, CoversAll},
		{"advanced: writes only", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects, sel("readOnly", "false")}}}, CoversNone},
		{"advanced: GetObject only", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects, sel("eventName", "GetObject")}}}, CoversSome},
		{"advanced: the bucket left out", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects,
			{Field: aws.String("resources.ARN"), NotStartsWith: []string{"arn:aws:s3:::payments-exports/"}}}}}, CoversNone},
		{"advanced: other resource types", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, sel("resources.type", "AWS::DynamoDB::Table")}}}, CoversNone},
		{"advanced: by one caller only", nil, []cttypes.AdvancedEventSelector{{FieldSelectors: []cttypes.AdvancedFieldSelector{data, objects,
			{Field: aws.String("userIdentity.arn"), StartsWith: []string{"arn:aws:sts::111122223333:assumed-role/auditor/"}}}}}, CoversSome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := max(basicCoverage(tt.basic, "payments-exports"), advancedCoverage(tt.advanced, "payments-exports"))
			if got != tt.want {
				t.Errorf("coverage = %d, want %d", got, tt.want)
			}
		})
	}
}

type env struct {
	srv *awsfake.Server
	s3  *awsfake.S3
	ct  *awsfake.CloudTrail
	r   *Reader
}

const memberRole = "arn:aws:iam::" + acct + ":role/secops-member"

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clk := clock.NewFake(fixed.Add(24 * time.Hour))
	e := &env{srv: awsfake.New(), s3: awsfake.NewS3(), ct: awsfake.NewCloudTrail()}
	t.Cleanup(e.srv.Close)
	e.srv.Identities().Add("AKIDSECOPSBOT0000001", "arn:aws:iam::999900001111:role/secops-bot")
	e.srv.Handle("sts", awsfake.NewSTS(e.srv.Identities(), clk))
	e.srv.Handle("s3", e.s3)
	e.srv.Handle("cloudtrail", e.ct)
	base := aws.Config{Region: region, BaseEndpoint: aws.String(e.srv.URL()), HTTPClient: e.srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSECOPSBOT0000001", "secret", "")}
	clients, err := awsclient.New(context.Background(), base, awsclient.Options{MemberRoleName: "secops-member", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	e.r = New(clients, clk, opts)
	return e
}

func bucketQuery() exposure.Query {
	return exposure.Query{
		Finding: finding.Finding{AccountID: acct, Region: region, Resource: finding.Resource{Type: awsarn.TypeS3Bucket, ID: "payments-exports", ARN: "arn:aws:s3:::payments-exports"}},
		Since:   opened, Until: fixed,
	}
}

func TestEvidence(t *testing.T) {
	ctx := context.Background()
	logs := &awsfake.S3Logging{TargetBucket: "acme-s3-access-logs", TargetPrefix: "payments-exports/"}
	orgTrail := awsfake.CTTrail{Name: "org-trail", Account: "999900001111", Organization: true, MultiRegion: true, Advanced: []awsfake.CTAdvancedSelector{
		{Name: "Management", FieldSelectors: []awsfake.CTFieldSelector{{Field: "eventCategory", Equals: []string{"Management"}}}},
		{Name: "S3 reads", FieldSelectors: []awsfake.CTFieldSelector{{Field: "eventCategory", Equals: []string{"Data"}}, {Field: "resources.type", Equals: []string{"AWS::S3::Object"}}}},
	}}
	tests := []struct {
		name   string
		opts   Options
		seed   func(t *testing.T, e *env)
		check  func(t *testing.T, ev exposure.Evidence)
		covers bool
	}{
		{
			name: "nothing records the bucket's reads",
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports"})
				e.ct.AddTrail(awsfake.CTTrail{Name: "management", Account: acct, HomeRegion: region})
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				if len(ev.Gaps) != 2 || !strings.HasPrefix(ev.Gaps[0], "No trail records data events for s3://payments-exports") || ev.Gaps[1] != "Server access logging is off for s3://payments-exports." {
					t.Errorf("gaps = %q", ev.Gaps)
				}
			},
		},
		{
			name: "the organisation trail records every object read", covers: true,
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports"})
				e.ct.AddTrail(orgTrail)
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				if !ev.DataEvents || !slices.Equal(ev.Sources, []string{"CloudTrail data events of trail org-trail"}) {
					t.Errorf("sources %q (data events %v)", ev.Sources, ev.DataEvents)
				}
			},
		},
		{
			name: "a trail that stopped logging covers nothing",
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports"})
				stopped := orgTrail
				stopped.Stopped = true
				e.ct.AddTrail(stopped)
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				if len(ev.Gaps) == 0 || !strings.Contains(ev.Gaps[0], "org-trail would record this bucket's reads, but it is not logging") {
					t.Errorf("gaps = %q", ev.Gaps)
				}
			},
		},
		{
			name: "server access logs read from the configured log bucket", covers: true, opts: Options{LogBuckets: []string{"acme-s3-access-logs"}},
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports", Logging: logs})
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "acme-s3-access-logs"})
				body, err := os.ReadFile(filepath.Join("testdata", logFile))
				if err != nil {
					t.Fatal(err)
				}
				if err := e.s3.PutObject("acme-s3-access-logs", awsfake.S3Object{Key: "payments-exports/" + logFile, Body: body, LastModified: fixed}); err != nil {
					t.Fatal(err)
				}
				// Logs from before the window are not read.
				if err := e.s3.PutObject("acme-s3-access-logs", awsfake.S3Object{Key: "payments-exports/2026-11-20-10-00-00-0000000000000000", Body: body, LastModified: fixed}); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				if len(ev.Reads) != 3 || !slices.Contains(ev.Sources, "server access logs in s3://acme-s3-access-logs/payments-exports/ (1 files read)") {
					t.Errorf("reads %d, sources %q", len(ev.Reads), ev.Sources)
				}
			},
		},
		{
			name: "server access logs the bot may not read are named, not read",
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports", Logging: logs})
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				if !slices.Contains(ev.Gaps, "Server access logs go to s3://acme-s3-access-logs/payments-exports/, which the bot is not set up to read: add acme-s3-access-logs to aws.access_log_buckets.") {
					t.Errorf("gaps = %q", ev.Gaps)
				}
			},
		},
		{
			name: "missing permissions are named",
			seed: func(t *testing.T, e *env) {
				e.s3.AddBucket(acct, awsfake.S3Bucket{Name: "payments-exports"})
				deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["cloudtrail:DescribeTrails","s3:GetBucketLogging"],"Resource":"*"}]}`
				if err := e.srv.Identities().SetPolicies(memberRole, deny); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, ev exposure.Evidence) {
				want := []string{"trails: not readable: missing permission cloudtrail:DescribeTrails", "server access logging: not readable: missing permission s3:GetBucketLogging"}
				if !slices.Equal(ev.Unreadable, want) {
					t.Errorf("unreadable = %q, want %q", ev.Unreadable, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			tt.seed(t, e)
			ev, err := e.r.Evidence(ctx, bucketQuery())
			if err != nil {
				t.Fatal(err)
			}
			if ev.Covered != tt.covers {
				t.Errorf("covered = %v, want %v (sources %q)", ev.Covered, tt.covers, ev.Sources)
			}
			tt.check(t, ev)
		})
	}
}

// TestKeyUses: the KMS events of a snapshot's key come from event history,
// in the key's account and region.
func TestKeyUses(t *testing.T) {
	e := newEnv(t, Options{})
	rec := func(id, acctID, name string, at time.Time) []byte {
		b, _ := json.Marshal(map[string]any{
			"eventVersion": "1.08", "eventID": id, "eventTime": at.Format(time.RFC3339), "eventSource": "kms.amazonaws.com", "eventName": name,
			"awsRegion": "eu-west-1", "sourceIPAddress": "rds.amazonaws.com", "recipientAccountId": acct, "requestID": id + "-req",
			"userIdentity":      map[string]any{"type": "AWSAccount", "principalId": "AROAEXAMPLEUNKNOWN001:restore", "accountId": acctID},
			"requestParameters": map[string]any{"keyId": keyARN}, "readOnly": false,
			"resources": []map[string]any{{"accountId": acct, "type": "AWS::KMS::Key", "ARN": keyARN}},
		})
		return b
	}
	at := time.Date(2026, 11, 27, 3, 21, 40, 0, time.UTC)
	if err := e.ct.Add(rec("ev-grant", unknown, "CreateGrant", at), rec("ev-decrypt", unknown, "Decrypt", at.Add(time.Minute)), rec("ev-late", unknown, "Decrypt", at.Add(48*time.Hour))); err != nil {
		t.Fatal(err)
	}
	q := exposure.Query{Finding: finding.Finding{AccountID: acct, Region: "eu-west-1"}, Since: at.Add(-time.Hour), Until: at.Add(time.Hour), KeyARN: keyARN}
	ev, err := e.r.Evidence(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ev.Reads {
		got = append(got, r.Action+" by "+r.Account)
	}
	if !ev.Covered || !slices.Equal(got, []string{"Decrypt by " + unknown, "CreateGrant by " + unknown}) {
		t.Errorf("covered %v, reads %v", ev.Covered, got)
	}
}
