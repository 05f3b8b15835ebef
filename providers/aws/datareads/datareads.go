// Package datareads reads, in a member account, the records of who read an
// exposed resource: which trails record a bucket's object reads (their
// event selectors, basic or advanced, and whether they log), whether the
// bucket's server access logging is on and what its logs say for the
// window, and the KMS events of a snapshot's key in CloudTrail event
// history. It implements exposure.Sources through the read-only member
// role; every read that fails is named, with the permission it lacks, and
// the rest still answers.
package datareads

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/secops-bot/secops-bot/enrich/exposure"
	ctrecord "github.com/secops-bot/secops-bot/ingest/cloudtrail"
	"github.com/secops-bot/secops-bot/internal/awsarn"
	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/providers/aws/state"
)

// Configs gives the AWS configuration to read in an account
// (awsclient.Clients).
type Configs interface {
	For(ctx context.Context, accountID string) (aws.Config, error)
}

// Options configure the reader.
type Options struct {
	// LogBuckets are the buckets server access logs may be read from
	// (aws.access_log_buckets); logs going anywhere else are named, not
	// read, so the member role's s3:GetObject stays on these buckets.
	LogBuckets []string
	// MaxLogObjects and MaxLogBytes bound the access logs read for one
	// review (defaults 500 files, 64 MiB).
	MaxLogObjects int
	MaxLogBytes   int64
	// MaxLookupPages bounds the event history pages read for a key
	// (default 20, of 50 events each, at CloudTrail's 2 requests a
	// second).
	MaxLookupPages int
	// LogDelay is how long after a request its access log may arrive
	// (default 6h): logs are listed that far past the window.
	LogDelay time.Duration
}

// Reader reads the records through the member role.
type Reader struct {
	cfgs Configs
	clk  clock.Clock
	opts Options
}

// New returns a reader.
func New(cfgs Configs, clk clock.Clock, opts Options) *Reader {
	if clk == nil {
		clk = clock.Real{}
	}
	if opts.MaxLogObjects <= 0 {
		opts.MaxLogObjects = 500
	}
	if opts.MaxLogBytes <= 0 {
		opts.MaxLogBytes = 64 << 20
	}
	if opts.MaxLookupPages <= 0 {
		opts.MaxLookupPages = 20
	}
	if opts.LogDelay <= 0 {
		opts.LogDelay = 6 * time.Hour
	}
	return &Reader{cfgs: cfgs, clk: clk, opts: opts}
}

var _ exposure.Sources = (*Reader)(nil)

// Evidence reads the records of the query's resource for its window.
func (r *Reader) Evidence(ctx context.Context, q exposure.Query) (exposure.Evidence, error) {
	var ev exposure.Evidence
	f := q.Finding
	account, region := f.AccountID, f.Region
	if q.KeyARN != "" {
		if a, err := awsarn.Parse(q.KeyARN); err == nil && a.Account != "" {
			account, region = a.Account, a.Region
		}
	}
	cfg, err := r.cfgs.For(ctx, account)
	if err != nil {
		ev.Unreadable = append(ev.Unreadable, "records: not readable: "+state.Classify(err))
		return ev, nil
	}
	if region != "" {
		cfg.Region = region
	}
	if q.KeyARN != "" {
		r.keyUses(ctx, cfg, q, &ev)
		return ev, nil
	}
	bucket := f.Resource.ID
	if bucket == "" {
		if a, err := awsarn.Parse(f.Resource.ARN); err == nil {
			bucket = a.Name()
		}
	}
	r.trails(ctx, cfg, bucket, &ev)
	r.accessLogs(ctx, cfg, bucket, q, &ev)
	return ev, nil
}

// trails finds the trails that record the bucket's object reads.
func (r *Reader) trails(ctx context.Context, cfg aws.Config, bucket string, ev *exposure.Evidence) {
	client := cloudtrail.NewFromConfig(cfg)
	out, err := client.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
	if err != nil {
		ev.Unreadable = append(ev.Unreadable, "trails: not readable: "+state.Unreadable("cloudtrail:DescribeTrails", err))
		return
	}
	for _, t := range out.TrailList {
		name, arn := aws.ToString(t.Name), aws.ToString(t.TrailARN)
		sel, err := client.GetEventSelectors(ctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(firstOf(arn, name))})
		if err != nil {
			ev.Unreadable = append(ev.Unreadable, "event selectors of trail "+name+": not readable: "+state.Unreadable("cloudtrail:GetEventSelectors", err))
			continue
		}
		cov := max(basicCoverage(sel.EventSelectors, bucket), advancedCoverage(sel.AdvancedEventSelectors, bucket))
		if cov == CoversNone {
			continue
		}
		status, err := client.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(firstOf(arn, name))})
		switch {
		case err != nil:
			ev.Unreadable = append(ev.Unreadable, "status of trail "+name+": not readable: "+state.Unreadable("cloudtrail:GetTrailStatus", err))
		case !aws.ToBool(status.IsLogging):
			ev.Gaps = append(ev.Gaps, "Trail "+name+" would record this bucket's reads, but it is not logging: start it (cloudtrail:StartLogging).")
			continue
		}
		ev.Covered, ev.DataEvents = true, true
		src := "CloudTrail data events of trail " + name
		if cov == CoversSome {
			src += " (some reads only: its selectors record part of the bucket or some APIs)"
		}
		ev.Sources = append(ev.Sources, src)
	}
	if !ev.DataEvents && len(ev.Unreadable) == 0 {
		ev.Gaps = append(ev.Gaps, fmt.Sprintf("No trail records data events for s3://%s: add an event selector on AWS::S3::Object with arn:aws:s3:::%s/ (read events included) and forward the events to the bot's queue.", bucket, bucket))
	}
}

// accessLogs reads the bucket's server access logs for the window, when
// they go to a bucket the bot may read.
func (r *Reader) accessLogs(ctx context.Context, cfg aws.Config, bucket string, q exposure.Query, ev *exposure.Evidence) {
	client := s3.NewFromConfig(cfg)
	lg, err := client.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String(bucket)})
	if err != nil {
		ev.Unreadable = append(ev.Unreadable, "server access logging: not readable: "+state.Unreadable("s3:GetBucketLogging", err))
		return
	}
	le := lg.LoggingEnabled
	if le == nil || aws.ToString(le.TargetBucket) == "" {
		if !ev.Covered {
			ev.Gaps = append(ev.Gaps, "Server access logging is off for s3://"+bucket+".")
		}
		return
	}
	target, prefix := aws.ToString(le.TargetBucket), aws.ToString(le.TargetPrefix)
	where := "s3://" + target + "/" + prefix
	if !slices.Contains(r.opts.LogBuckets, target) {
		ev.Gaps = append(ev.Gaps, "Server access logs go to "+where+", which the bot is not set up to read: add "+target+" to aws.access_log_buckets.")
		return
	}
	var dayPrefixes []string
	if kf := le.TargetObjectKeyFormat; kf != nil && kf.PartitionedPrefix != nil {
		// [prefix][account]/[region]/[bucket]/[YYYY]/[MM]/[DD]/…
		region := cfg.Region
		for d := q.Since.UTC().Truncate(24 * time.Hour); !d.After(q.Until.Add(r.opts.LogDelay)); d = d.Add(24 * time.Hour) {
			dayPrefixes = append(dayPrefixes, fmt.Sprintf("%s%s/%s/%s/%s/", prefix, q.Finding.AccountID, region, bucket, d.Format("2006/01/02")))
		}
	} else {
		dayPrefixes = []string{prefix}
	}
	files, bytes := 0, int64(0)
	truncated := false
	var reads []exposure.Read
	first := q.Since.Add(-time.Hour).UTC().Format("2006-01-02-15-04-05")
	last := q.Until.Add(r.opts.LogDelay).UTC().Format("2006-01-02-15-04-05")
list:
	for _, p := range dayPrefixes {
		var token *string
		for {
			out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(target), Prefix: aws.String(p), StartAfter: aws.String(p + first), ContinuationToken: token})
			if err != nil {
				ev.Unreadable = append(ev.Unreadable, "server access logs in "+where+": not readable: "+state.Unreadable("s3:ListBucket", err))
				return
			}
			for _, o := range out.Contents {
				key := aws.ToString(o.Key)
				stamp := strings.TrimPrefix(key, p)
				if len(stamp) >= len(last) && stamp[:len(last)] > last {
					break list
				}
				if files == r.opts.MaxLogObjects || bytes+aws.ToInt64(o.Size) > r.opts.MaxLogBytes {
					truncated = true
					break list
				}
				got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(target), Key: aws.String(key)})
				if err != nil {
					ev.Unreadable = append(ev.Unreadable, "server access logs in "+where+": not readable: "+state.Unreadable("s3:GetObject", err))
					return
				}
				err = ParseAccessLog(io.LimitReader(got.Body, r.opts.MaxLogBytes), bucket, func(rd exposure.Read) { reads = append(reads, rd) })
				got.Body.Close()
				if err != nil {
					ev.Unreadable = append(ev.Unreadable, "access log "+key+": not readable: "+err.Error())
					continue
				}
				files++
				bytes += aws.ToInt64(o.Size)
			}
			if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
				break
			}
			token = out.NextContinuationToken
		}
	}
	ev.Covered = true
	ev.Reads = append(ev.Reads, reads...)
	src := fmt.Sprintf("server access logs in %s (%d files read)", where, files)
	ev.Sources = append(ev.Sources, src)
	if truncated {
		ev.Notes = append(ev.Notes, fmt.Sprintf("Only the first %d access log files of the window were read.", files))
	}
	if r.clk.Now().Before(q.Until.Add(r.opts.LogDelay)) {
		ev.Notes = append(ev.Notes, "Server access logs arrive within hours, on a best-effort basis: check again later for a fuller answer.")
	}
}

// keyUses reads the KMS events of the key in event history for the
// window: KMS events are management events, which event history keeps for
// 90 days whatever the trails record.
func (r *Reader) keyUses(ctx context.Context, cfg aws.Config, q exposure.Query, ev *exposure.Evidence) {
	client := cloudtrail.NewFromConfig(cfg)
	in := &cloudtrail.LookupEventsInput{
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(q.KeyARN)}},
		StartTime:        aws.Time(q.Since), EndTime: aws.Time(q.Until),
	}
	pages := 0
	for {
		out, err := client.LookupEvents(ctx, in)
		if err != nil {
			ev.Unreadable = append(ev.Unreadable, "events of key "+q.KeyARN+": not readable: "+state.Unreadable("cloudtrail:LookupEvents", err))
			return
		}
		pages++
		for _, e := range out.Events {
			var rec ctrecord.Record
			if json.Unmarshal([]byte(aws.ToString(e.CloudTrailEvent)), &rec) != nil {
				continue
			}
			if rd, ok := exposure.ReadOf(&rec); ok && rd.Resource == q.KeyARN {
				ev.Reads = append(ev.Reads, rd)
			}
		}
		if out.NextToken == nil {
			break
		}
		if pages == r.opts.MaxLookupPages {
			ev.Notes = append(ev.Notes, fmt.Sprintf("Only the newest %d pages of the key's events were read.", pages))
			break
		}
		in.NextToken = out.NextToken
	}
	ev.Covered = true
	ev.Sources = append(ev.Sources, "CloudTrail event history of key "+q.KeyARN+" (KMS events are kept 90 days whatever the trails record)")
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
