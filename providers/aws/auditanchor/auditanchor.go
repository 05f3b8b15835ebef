// Package auditanchor keeps the audit log's anchors in S3: one small JSON
// object per anchored head, named by its sequence number so the newest is
// the last in key order. When the bucket has Object Lock and no default
// retention, each object is written in compliance mode for the configured
// retention, so not even the bot's own credentials can delete or replace
// it before then; a bucket's default retention applies as it is.
package auditanchor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/ops/audit"
)

// Options say where anchors go.
type Options struct {
	Bucket string
	// Prefix is prepended to every key ("secops-bot/audit/" by default).
	Prefix string
	// Retention is how long an anchor is locked when the bucket has
	// Object Lock without a default retention (365 days when zero).
	Retention time.Duration
	Clock     clock.Clock
	Logger    zerolog.Logger
	// S3Options adjust the client (endpoints in tests).
	S3Options []func(*s3.Options)
}

// DefaultRetention keeps an anchor for a year.
const DefaultRetention = 365 * 24 * time.Hour

// Store writes and reads anchors in one bucket.
type Store struct {
	c    *s3.Client
	opts Options

	once sync.Once
	lock bool // the bucket has Object Lock without default retention
	err  error
}

// New returns the anchor store for cfg's credentials.
func New(cfg aws.Config, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "secops-bot/audit/"
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Store{c: s3.NewFromConfig(cfg, opts.S3Options...), opts: opts}
}

var (
	_ audit.Sink   = (*Store)(nil)
	_ audit.Source = (*Store)(nil)
)

// Name says where anchors go.
func (s *Store) Name() string { return "s3://" + s.opts.Bucket + "/" + s.opts.Prefix }

// key names the anchor of seq so that keys sort as sequence numbers do.
func (s *Store) key(seq int64) string { return fmt.Sprintf("%shead-%020d.json", s.opts.Prefix, seq) }

// Put writes the anchor, locked when the bucket needs it asked for.
func (s *Store) Put(ctx context.Context, a audit.Anchor) error {
	s.once.Do(func() { s.lock, s.err = s.needsLock(ctx) })
	if s.err != nil {
		return s.err
	}
	body, _ := json.Marshal(a) // plain fields: cannot fail
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.opts.Bucket),
		Key:               aws.String(s.key(a.Seq)),
		Body:              bytes.NewReader(body),
		ContentType:       aws.String("application/json"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	}
	if s.lock {
		in.ObjectLockMode = types.ObjectLockModeCompliance
		in.ObjectLockRetainUntilDate = aws.Time(s.opts.Clock.Now().Add(s.opts.Retention).UTC())
	}
	if _, err := s.c.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.opts.Bucket, s.key(a.Seq), err)
	}
	return nil
}

// needsLock reads the bucket's Object Lock setting: true when it is
// enabled without a default retention, so each anchor must carry its own.
func (s *Store) needsLock(ctx context.Context) (bool, error) {
	out, err := s.c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.opts.Bucket)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ObjectLockConfigurationNotFoundError" {
		return false, nil
	}
	if err != nil {
		// A missing s3:GetBucketObjectLockConfiguration permission must
		// not stop anchoring: write unlocked and say why.
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDenied" {
			s.opts.Logger.Warn().Str("bucket", s.opts.Bucket).Msg("cannot read the bucket's Object Lock setting (s3:GetBucketObjectLockConfiguration); audit anchors are written without a retention of their own")
			return false, nil
		}
		return false, fmt.Errorf("read Object Lock setting of s3://%s: %w", s.opts.Bucket, err)
	}
	c := out.ObjectLockConfiguration
	if c == nil || c.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return false, nil
	}
	return c.Rule == nil || c.Rule.DefaultRetention == nil, nil
}

// Newest reads back the anchor with the highest sequence number.
func (s *Store) Newest(ctx context.Context) (audit.Anchor, bool, error) {
	var last string
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(s.opts.Prefix + "head-")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return audit.Anchor{}, false, fmt.Errorf("list s3://%s/%s: %w", s.opts.Bucket, s.opts.Prefix, err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); strings.HasSuffix(k, ".json") && k > last {
				last = k
			}
		}
	}
	if last == "" {
		return audit.Anchor{}, false, nil
	}
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(last)})
	if err != nil {
		return audit.Anchor{}, false, fmt.Errorf("get s3://%s/%s: %w", s.opts.Bucket, last, err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return audit.Anchor{}, false, fmt.Errorf("read s3://%s/%s: %w", s.opts.Bucket, last, err)
	}
	a, err := audit.ParseAnchor(string(raw))
	if err != nil {
		return audit.Anchor{}, false, fmt.Errorf("s3://%s/%s: %w", s.opts.Bucket, last, err)
	}
	a.Where = "the anchor in s3://" + s.opts.Bucket + "/" + last
	return a, true, nil
}
