package app

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/secops-bot/secops-bot/assess"
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

func (a stateReader) Diff(before, after json.RawMessage) []string {
	var b, n state.State
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &n) != nil {
		return nil
	}
	return state.Diff(b, n)
}

func (a stateReader) Explain(err error) string { return state.Classify(err) }
