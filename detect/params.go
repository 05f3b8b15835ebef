package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CloudTrail converts request bodies from XML and query strings, so the
// same field may arrive as a string or a list, a bool or "true", one object
// or a list of objects. The types below accept every such shape and never
// fail on an unexpected one: a field they cannot read is simply empty.

// strList is a string or a list of strings.
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = strList{one}
		return nil
	}
	var many []json.RawMessage
	if json.Unmarshal(b, &many) == nil {
		out := make(strList, 0, len(many))
		for _, m := range many {
			if json.Unmarshal(m, &one) == nil {
				out = append(out, one)
			}
		}
		*s = out
	}
	return nil
}

// flexBool is a boolean written as true or "true". Set tells an explicit
// false from a missing field.
type flexBool struct {
	Value bool
	Set   bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	switch t := v.(type) {
	case bool:
		*f = flexBool{Value: t, Set: true}
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true":
			*f = flexBool{Value: true, Set: true}
		case "false":
			*f = flexBool{Value: false, Set: true}
		}
	}
	return nil
}

// oneOrMany is one object or a list of objects (XML-converted lists with a
// single element arrive as the element itself).
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var items []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		if json.Unmarshal(b, &items) != nil {
			return nil
		}
	} else {
		items = []json.RawMessage{b}
	}
	out := make(oneOrMany[T], 0, len(items))
	for _, it := range items {
		var v T
		if json.Unmarshal(it, &v) == nil {
			out = append(out, v)
		}
	}
	*o = out
	return nil
}

// decodeParams reads a record's requestParameters into v. Fields of an
// unexpected type are left empty rather than failing the whole event; only
// text that is not JSON at all is an error.
func decodeParams(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	err := json.Unmarshal(raw, v)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		return fmt.Errorf("request parameters: %w", err)
	}
	return nil
}

// present reports whether a raw field holds anything but null.
func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}
