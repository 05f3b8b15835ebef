package ingest

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestUTCSecondMatchesUnmarshalJSON checks the fast reading of CloudTrail's
// times against Time.UnmarshalJSON: every month of years across the whole
// range RFC 3339 allows, each day from 0 to 32, and strings it must leave
// to UnmarshalJSON.
func TestUTCSecondMatchesUnmarshalJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		var want time.Time
		err := want.UnmarshalJSON([]byte(s))
		got, ok := utcSecond([]byte(s))
		switch {
		case ok && err != nil:
			t.Errorf("utcSecond(%s) = %v, but UnmarshalJSON fails: %v", s, got, err)
		case ok && !reflect.DeepEqual(got, want):
			t.Errorf("utcSecond(%s) = %#v, UnmarshalJSON %#v", s, got, want)
		}
	}
	years := []int{0, 1, 4, 99, 100, 399, 400, 1582, 1900, 1969, 1970, 1999, 2000, 2024, 2025, 2100, 2400, 9999}
	for y := 3; y < 10000; y += 97 {
		years = append(years, y)
	}
	for _, y := range years {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				check(fmt.Sprintf(`"%04d-%02d-%02dT%02d:%02d:%02dZ"`, y, m, d, (y+d)%25, (m*7+d)%61, (y+m+d)%61))
			}
		}
	}
	for _, s := range []string{
		`"2024-03-05T00:00:00Z"`, `"2024-03-05T23:59:59Z"`, `"2024-03-05T24:00:00Z"`, `"2024-03-05T00:60:00Z"`,
		`"2024-03-05T00:00:60Z"`, `"2024-03-05T00:00:00.5Z"`, `"2024-03-05T00:00:00+01:00"`, `"2024-03-05 00:00:00Z"`,
		`"2024-3-05T00:00:00Z"`, `"+024-03-05T00:00:00Z"`, `"2024-03-05T00:00:00z"`, `"20a4-03-05T00:00:00Z"`, `null`,
	} {
		check(s)
	}
	if _, ok := utcSecond([]byte(`"2024-03-05T00:00:00Z"`)); !ok {
		t.Error("CloudTrail's own form is not read on the fast path")
	}
}
