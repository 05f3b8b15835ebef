package assess

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
	"github.com/secops-bot/secops-bot/providers/aws/state"
)

// awsReader reads states from AWS, as serve wires it.
type awsReader struct{ r *state.Reader }

func (a awsReader) Read(ctx context.Context, f finding.Finding) (State, error) {
	st, err := a.r.Read(ctx, f)
	if errors.Is(err, state.ErrUnsupported) {
		return State{}, ErrUnsupported
	}
	if err != nil {
		return State{}, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return State{}, err
	}
	return State{ReadAt: st.ReadAt, Exposed: st.Exposed, Reason: st.Reason, Tags: st.Tags, Raw: raw}, nil
}

func (a awsReader) Diff(before, after json.RawMessage) []string { return nil }

func (a awsReader) Explain(err error) string { return state.Classify(err) }

func (a awsReader) Profile(context.Context, finding.Finding) (*finding.Profile, error) {
	return nil, nil
}

const (
	awsAccount   = "111122223333"
	publicPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`
)

// awsFake serves STS and S3 with a public bucket per name, the S3 requests
// passing through wrap (nil for none), and returns a reader of those
// buckets through the member role, as serve builds it.
func (e env) awsFake(t *testing.T, buckets []string, wrap func(http.Handler) http.Handler) awsReader {
	t.Helper()
	srv := awsfake.New()
	t.Cleanup(srv.Close)
	srv.Identities().Add("AKIDSECOPSBOT0000001", "arn:aws:iam::999900001111:role/secops-bot")
	srv.Handle("sts", awsfake.NewSTS(srv.Identities(), e.clk))
	s3 := awsfake.NewS3()
	for _, b := range buckets {
		s3.AddBucket(awsAccount, awsfake.S3Bucket{Name: b, Policy: strings.ReplaceAll(publicPolicy, "%s", b)})
	}
	var h http.Handler = s3
	if wrap != nil {
		h = wrap(s3)
	}
	srv.Handle("s3", h)
	clients, err := awsclient.New(context.Background(), aws.Config{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSECOPSBOT0000001", "secret", ""),
	}, awsclient.Options{MemberRoleName: "secops-member", Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	return awsReader{state.NewReader(clients, e.clk)}
}
