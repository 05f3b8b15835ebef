package exposure

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/ingest"
	"github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/store/memory"
)

const (
	owner   = "111122223333"
	unknown = "444455556666"
	bucket  = "arn:aws:s3:::payments-exports"
	theKey  = "arn:aws:kms:eu-west-1:111122223333:key/0b9c3d52-1f7e-4d4a-9a57-6c1f2d3e4f50"
)

// org knows the owner's account; every other account is unknown.
type org map[string]finding.TargetClass

func (o org) Classify(a string) finding.TargetClass {
	if c, ok := o[a]; ok {
		return c
	}
	return finding.TargetUnknown
}

var ours = org{owner: finding.TargetKnown}

// records reads the CloudTrail log file of data events in testdata, shaped
// as AWS documents them.
func records(t *testing.T) []cloudtrail.Record {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "data-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := ingest.Parse("data-events.json", raw)
	if len(b.Problems) > 0 || len(b.Records) != 8 {
		t.Fatalf("parsed %d records, problems %v", len(b.Records), b.Problems)
	}
	return b.Records
}

func byID(t *testing.T, recs []cloudtrail.Record, prefix string) *cloudtrail.Record {
	t.Helper()
	for i := range recs {
		if strings.HasPrefix(recs[i].EventID, prefix) {
			return &recs[i]
		}
	}
	t.Fatalf("no record %s", prefix)
	return nil
}

func TestReadOf(t *testing.T) {
	recs := records(t)
	tests := []struct {
		name    string
		id      string
		ok      bool
		want    Read
		outside bool
	}{
		{"anonymous GetObject", "0f1e6c1a", true, Read{Principal: Anonymous, Anonymous: true, Action: "GetObject", Resource: bucket, Key: "exports/2026-11-26/settlements.csv", SourceIP: "198.51.100.23", RequestID: "F6Y9TZC0K1P2Q3R4"}, true},
		{"another account lists the bucket", "1a2b3c4d", true, Read{Principal: "AIDAZ7EXAMPLEOUTSIDE1", Account: unknown, Action: "ListObjects", Resource: bucket, SourceIP: "203.0.113.77", RequestID: "G7Z0UAD1L2M3N4O5"}, true},
		{"the owner's role reads", "3c4d5e6f", true, Read{Principal: "arn:aws:sts::111122223333:assumed-role/payments-exporter/exporter", Account: owner, Action: "HeadObject", Resource: bucket, Key: "exports/2026-11-26/settlements.csv", SourceIP: "10.20.30.40", RequestID: "I9B2WCF3N4O5P6Q7"}, false},
		{"a refused read is no read", "4d5e6f7a", false, Read{}, false},
		{"an AWS service for the owner", "5e6f7a8b", true, Read{Principal: "cloudtrail.amazonaws.com", Account: owner, Action: "GetObject", Resource: bucket, Key: "exports/2026-11-26/settlements.csv", SourceIP: "cloudtrail.amazonaws.com", RequestID: "K1D4YEH5P6Q7R8S9"}, false},
		{"another account grants itself the key", "6f7a8b9c", true, Read{Principal: "AROAEXAMPLEUNKNOWN001:restore", Account: unknown, Action: "CreateGrant", Resource: theKey, SourceIP: "rds.amazonaws.com", RequestID: "7f5c9e1a-2b3d-4c5e-8f9a-0b1c2d3e4f09"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := byID(t, recs, tt.id)
			got, ok := ReadOf(rec)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			tt.want.EventID, tt.want.Time, tt.want.UserAgent, tt.want.Source = rec.EventID, rec.EventTime, rec.UserAgent, SourceCloudTrail
			if got != tt.want {
				t.Errorf("read =\n %+v\nwant\n %+v", got, tt.want)
			}
			if o := Outside(got, ours, owner); o != tt.outside {
				t.Errorf("outside = %v, want %v", o, tt.outside)
			}
		})
	}
}

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	recs := records(t)
	kv := memory.New()
	rc := NewRecorder(kv, ours)
	counted, commit := rc.Split(recs)
	var took []string
	for i, c := range counted {
		if c {
			took = append(took, recs[i].EventName+" by "+recs[i].UserIdentity.Type)
		}
	}
	if want := []string{"HeadObject by AssumedRole", "GetObject by AWSService"}; !slices.Equal(took, want) {
		t.Errorf("counted %v, want the organisation's object reads only %v", took, want)
	}
	for range 2 { // a redelivered batch keeps each read once
		if err := commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	got, err := Load(ctx, kv, bucket, day.Add(14*time.Hour+20*time.Minute), day.Add(14*time.Hour+40*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, r := range got.Outside {
		kept = append(kept, r.Action+" "+r.Principal)
	}
	if want := []string{"GetObject anonymous", "ListObjects AIDAZ7EXAMPLEOUTSIDE1", "GetObject AIDAZ7EXAMPLEOUTSIDE1"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if got.Inside != 4 || !got.Seen {
		t.Errorf("inside reads %d (seen %v), want 4: two reads counted twice, the batch having been committed twice", got.Inside, got.Seen)
	}
	keys, err := Load(ctx, kv, theKey, day, day.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Outside) != 1 || keys.Outside[0].Action != "CreateGrant" || keys.Inside != 0 {
		t.Errorf("key reads = %+v, want the other account's CreateGrant only (the owner's Decrypt stays in history)", keys)
	}
	outside, _ := Load(ctx, kv, bucket, day.Add(15*time.Hour), day.Add(16*time.Hour))
	if outside.Seen {
		t.Errorf("an hour without reads shows %+v", outside)
	}
}

func TestRecorderKeepsAnHourBounded(t *testing.T) {
	ctx := context.Background()
	kv := memory.New()
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	recs := make([]cloudtrail.Record, MaxKeptPerHour+3)
	for i := range recs {
		recs[i] = cloudtrail.Record{
			EventID: fmt.Sprintf("ev-%05d", i), EventTime: t0.Add(time.Duration(i) * time.Second / 2), EventSource: "s3.amazonaws.com", EventName: "GetObject",
			AWSRegion: "eu-central-1", RecipientAccountID: owner, UserIdentity: cloudtrail.UserIdentity{Type: "AWSAccount", AccountID: Anonymous},
			RequestParameters: []byte(`{"bucketName":"payments-exports","key":"k"}`),
		}
	}
	_, commit := NewRecorder(kv, ours).Split(recs)
	if err := commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := Load(ctx, kv, bucket, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outside) != MaxKeptPerHour || got.Over[Anonymous] != 3 {
		t.Errorf("kept %d and counted %v, want %d kept and 3 counted", len(got.Outside), got.Over, MaxKeptPerHour)
	}
}

func TestStringField(t *testing.T) {
	tests := []struct {
		obj, name, want string
	}{
		{`{"bucketName":"b","key":"a/b.csv"}`, `"key"`, "a/b.csv"},
		{`{ "bucketName" : "b" , "key" : "x" }`, `"bucketName"`, "b"},
		{`{"bucketName":"b","key":"caf\u00e9 \"q\".csv"}`, `"key"`, `café "q".csv`},
		{`{"prefix":"key","key":"k"}`, `"key"`, "k"},
		{`{"bucketName":"b"}`, `"key"`, ""},
		{`{"key":12}`, `"key"`, ""},
		{`{"key":"cut`, `"key"`, ""},
		{`null`, `"key"`, ""},
	}
	for _, tt := range tests {
		if got := stringField([]byte(tt.obj), tt.name); got != tt.want {
			t.Errorf("stringField(%s, %s) = %q, want %q", tt.obj, tt.name, got, tt.want)
		}
	}
}
