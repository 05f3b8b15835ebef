package ingest

import (
	"fmt"

	"github.com/secops-bot/secops-bot/ingest/native"
)

// native reads an EventBridge event of AWS's detectors into the batch's
// native findings. It is reached only for their detail-types, after the
// CloudTrail ones, so CloudTrail records never pay for it. An event that
// carries no finding counts as ignored; one that cannot be read is a
// problem like any malformed input.
func (p *parser) native(u unit, b *Batch) {
	if len(u.data) > p.lim.MaxRecordBytes {
		p.report(b, u.line, fmt.Sprintf("native finding event is larger than the max_record_bytes cap of %d bytes; skipped", p.lim.MaxRecordBytes), head(u.data, capProblemRaw))
		return
	}
	fs, err := native.Decode(u.data)
	switch {
	case err != nil:
		p.report(b, u.line, err.Error(), u.data)
	case len(fs) == 0:
		b.Ignored++
	default:
		b.Native = append(b.Native, fs...)
	}
}
