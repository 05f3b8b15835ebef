package ingest

import (
	"encoding/json"

	"github.com/secops-bot/secops-bot/internal/jsonscan"
)

// shape is what the top-level keys of a JSON value say it is.
type shape struct {
	err        string // not a usable object
	records    []byte // the Records array of a log file
	detailType []byte // EventBridge detail-type value
	detail     []byte // EventBridge detail value
	record     bool   // has eventID or eventName
	digest     bool   // a CloudTrail digest file
}

// isEnvelopeKey reports keys that mark a value as something other than a
// bare record.
func isEnvelopeKey(key []byte) bool {
	switch string(key) {
	case "Records", "detail-type", "digestStartTime":
		return true
	}
	return false
}

// probe reads the top-level keys of data with the fast scanner. ok is false
// when the scanner cannot decide (syntax error or escaped keys) and
// probeSlow must be asked instead.
func probe(data []byte) (shape, bool) {
	var s shape
	if len(data) == 0 || data[0] != '{' {
		return s, false
	}
	it := jsonscan.NewObject(data, 0, 1)
	for {
		key, plain, v, ok := it.Next()
		if !ok {
			break
		}
		if !plain {
			return s, false
		}
		end := jsonscan.SkipDepth(data, v, 2)
		if end < 0 {
			return s, false
		}
		s.set(string(key), data[v:end])
		it.Advance(end)
	}
	if it.Failed() || jsonscan.Space(data, it.End()) != len(data) {
		return s, false
	}
	return s, true
}

// probeSlow classifies data with encoding/json, which also explains what is
// wrong with malformed input.
func probeSlow(data []byte) shape {
	var s shape
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		var v json.RawMessage
		if json.Unmarshal(data, &v) == nil {
			s.err = "not a JSON object"
		} else {
			s.err = "malformed JSON: " + syntaxReason(data)
		}
		return s
	}
	for k, v := range m {
		s.set(k, v)
	}
	return s
}

func (s *shape) set(key string, v []byte) {
	switch key {
	case "Records":
		if len(v) > 0 && v[0] == '[' {
			s.records = v
		} else {
			s.err = "log file: Records is not an array"
		}
	case "detail-type":
		s.detailType = v
	case "detail":
		s.detail = v
	case "eventID", "eventName":
		s.record = true
	case "digestStartTime":
		s.digest = true
	}
}
