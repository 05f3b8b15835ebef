package awsfake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"
)

var ctNow = time.Date(2026, time.November, 27, 3, 30, 0, 0, time.UTC)

// ctRecord is a record of BackupManager (i odd) or of a deploy role
// session (i even), i minutes before ctNow.
func ctRecord(i int, account, region string) []byte {
	at := ctNow.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339)
	id := fmt.Sprintf(`{"type":"IAMUser","arn":"arn:aws:iam::%s:user/BackupManager","accountId":"%s","accessKeyId":"AKIAEXAMPLEBACKUP01","userName":"BackupManager"}`, account, account)
	name, ro := "DescribeDBSnapshots", "true"
	if i%2 == 0 {
		id = fmt.Sprintf(`{"type":"AssumedRole","arn":"arn:aws:sts::%s:assumed-role/deploy/gh-run-42","accountId":"%s","accessKeyId":"ASIAEXAMPLEDEPLOY01","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::%s:role/deploy","userName":"deploy"}}}`, account, account, account)
		name, ro = "ModifyDBSnapshotAttribute", "false"
	}
	return []byte(fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":%s,"eventTime":"%s","eventSource":"rds.amazonaws.com","eventName":"%s","awsRegion":"%s","readOnly":%s,"recipientAccountId":"%s","eventID":"ev-%s-%s-%03d","resources":[{"ARN":"arn:aws:rds:%s:%s:snapshot:snap-%d","accountId":"%s","type":"AWS::RDS::DBSnapshot"}]}`,
		id, at, name, region, ro, account, account, region, i, region, account, i%3, account))
}

func TestCloudTrailLookupEvents(t *testing.T) {
	srv := New()
	defer srv.Close()
	ct := NewCloudTrail()
	srv.Handle("cloudtrail", ct)
	srv.Identities().Add("AKIDPAYMENTS", "arn:aws:iam::111122223333:role/secops")
	var recs [][]byte
	for i := range 75 {
		recs = append(recs, ctRecord(i, "111122223333", "eu-central-1"))
	}
	for i := range 10 {
		recs = append(recs, ctRecord(i, "111122223333", "us-east-1"), ctRecord(i, "999988887777", "eu-central-1"))
	}
	if err := ct.Add(recs...); err != nil {
		t.Fatal(err)
	}
	if err := ct.Add([]byte(`{"eventName":"NoID"}`)); err == nil {
		t.Error("a record without eventID and eventTime was seeded")
	}
	client := cloudtrail.New(cloudtrail.Options{
		Region:       "eu-central-1",
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDPAYMENTS", "secret", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: ctBufferedTransport{next: &http.Transport{}}},
	})
	ctx := context.Background()

	// all pages through every page and returns the event IDs.
	all := func(t *testing.T, in cloudtrail.LookupEventsInput) ([]string, int) {
		t.Helper()
		var ids []string
		pages := 0
		p := cloudtrail.NewLookupEventsPaginator(client, &in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range out.Events {
				ids = append(ids, aws.ToString(e.EventId))
				if aws.ToString(e.CloudTrailEvent) == "" {
					t.Errorf("event %s without CloudTrailEvent", aws.ToString(e.EventId))
				}
			}
		}
		return ids, pages
	}
	want := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, fmt.Sprintf("ev-111122223333-eu-central-1-%03d", i))
		}
		return out
	}
	rng := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	evens := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			if i%2 == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		in    cloudtrail.LookupEventsInput
		want  []string
		pages int
	}{
		{"caller's account and region, newest first, 50 a page", cloudtrail.LookupEventsInput{}, want(rng(0, 75)...), 2},
		{"smaller pages", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(30)}, want(rng(0, 75)...), 3},
		{"time range is inclusive", cloudtrail.LookupEventsInput{StartTime: aws.Time(ctNow.Add(-20 * time.Minute)), EndTime: aws.Time(ctNow.Add(-10 * time.Minute))}, want(rng(10, 21)...), 1},
		{"by user name", cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("gh-run-42")}}}, want(evens(0, 75)...), 1},
		{"by event name", cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("ModifyDBSnapshotAttribute")}}, MaxResults: aws.Int32(10)}, want(evens(0, 75)...), 4},
		{"by resource", cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String("arn:aws:rds:eu-central-1:111122223333:snapshot:snap-0")}}, EndTime: aws.Time(ctNow.Add(-60 * time.Minute))}, want(60, 63, 66, 69, 72), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := all(t, tc.in)
			if !slices.Equal(got, tc.want) || pages != tc.pages {
				t.Errorf("got %d events in %d pages, want %d in %d\ngot  %v\nwant %v", len(got), pages, len(tc.want), tc.pages, got, tc.want)
			}
		})
	}

	errTests := []struct {
		name string
		in   cloudtrail.LookupEventsInput
		code string
	}{
		{"page too large", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)}, "InvalidMaxResultsException"},
		{"start after end", cloudtrail.LookupEventsInput{StartTime: aws.Time(ctNow), EndTime: aws.Time(ctNow.Add(-time.Hour))}, "InvalidTimeRangeException"},
		{"forged token", cloudtrail.LookupEventsInput{NextToken: aws.String("not-a-token")}, "InvalidNextTokenException"},
		{"two attributes", cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
			{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("a")},
			{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("b")},
		}}, "InvalidLookupAttributesException"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.LookupEvents(ctx, &tc.in)
			if got := ctCode(err); got != tc.code {
				t.Errorf("error %v (code %q), want %s", err, got, tc.code)
			}
		})
	}

	t.Run("a token is for its own query", func(t *testing.T) {
		out, err := client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(5)})
		if err != nil || out.NextToken == nil {
			t.Fatalf("first page: %v", err)
		}
		_, err = client.LookupEvents(ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(5), NextToken: out.NextToken, StartTime: aws.Time(ctNow.Add(-time.Hour))})
		if got := ctCode(err); got != "InvalidNextTokenException" {
			t.Errorf("token reused with another query: %v", err)
		}
	})
}

// ctCode is the AWS error code of err, "" when it has none.
func ctCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ctBufferedTransport reads each response body whole before handing the
// response on. The standard library can fail a read of a large body the
// SDK makes after the round trip with "use of closed network connection"
// (aws-sdk-go-v2 issue 2737). The SDK retries that; these tests use no
// retries, so that each request seen is one the test made.
type ctBufferedTransport struct{ next http.RoundTripper }

func (t ctBufferedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
