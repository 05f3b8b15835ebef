package app

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/secops-bot/secops-bot/enrich/assess"
	"github.com/secops-bot/secops-bot/finding"
	"github.com/secops-bot/secops-bot/providers/aws/state"
)

// stateReader adapts the AWS state reader to assessment.
type stateReader struct{ r *state.Reader }

func (a stateReader) Read(ctx context.Context, f finding.Finding) (assess.State, error) {
	st, err := a.r.Read(ctx, f)
	if errors.Is(err, state.ErrUnsupported) {
		return assess.State{}, assess.ErrUnsupported
	}
	if err != nil {
		return assess.State{}, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return assess.State{}, err
	}
	return assess.State{ReadAt: st.ReadAt, Exposed: st.Exposed, Reason: st.Reason, Tags: st.Tags, Raw: raw}, nil
}

// Contents reads what the resource holds from the state Read returned.
func (a stateReader) Contents(ctx context.Context, f finding.Finding, st assess.State) (*finding.Contents, error) {
	var s state.State
	if err := json.Unmarshal(st.Raw, &s); err != nil {
		return nil, err
	}
	return a.r.Contents(ctx, f, s)
}

func (a stateReader) Diff(before, after json.RawMessage) []string {
	var b, n state.State
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &n) != nil {
		return nil
	}
	return state.Diff(b, n)
}

func (a stateReader) Explain(err error) string { return state.Classify(err) }

func (a stateReader) Profile(ctx context.Context, f finding.Finding) (*finding.Profile, error) {
	switch f.Actor.Type {
	case "IAMUser", "AssumedRole":
	default:
		return nil, nil
	}
	p, err := a.r.Principal(ctx, f.AccountID, f.Actor.ARN)
	if err != nil {
		return nil, err
	}
	out := &finding.Profile{Tags: p.Tags, Keys: len(p.AccessKeys)}
	for _, k := range p.AccessKeys {
		if k.ID == f.Actor.AccessKeyID {
			out.KeyStatus, out.KeyCreatedAt, out.KeyLastUsedAt = k.Status, k.CreatedAt, k.LastUsed
		}
	}
	return out, nil
}
