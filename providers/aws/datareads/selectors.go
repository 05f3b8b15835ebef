package datareads

import (
	"strings"

	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

// Coverage is how much of a bucket's object reads a trail's selectors
// record.
type Coverage int

// Coverages, from none to every read.
const (
	CoversNone Coverage = iota
	// CoversSome: only some reads (a key prefix, some APIs or callers).
	CoversSome
	CoversAll
)

// s3ReadNames are the APIs a read of the bucket is made with.
var s3ReadNames = []string{"GetObject", "HeadObject", "ListObjects", "ListObjectVersions", "SelectObjectContent"}

// basicCoverage reads basic event selectors: a selector that logs read
// events records an S3 data resource when its ARN prefix takes in the
// bucket ("arn:aws:s3" or "arn:aws:s3:::" for every bucket,
// "arn:aws:s3:::bucket/" for this one) or part of it (a key prefix).
func basicCoverage(sels []cttypes.EventSelector, bucket string) Coverage {
	whole := "arn:aws:s3:::" + bucket + "/"
	best := CoversNone
	for _, s := range sels {
		if s.ReadWriteType == cttypes.ReadWriteTypeWriteOnly {
			continue
		}
		for _, dr := range s.DataResources {
			if dr.Type == nil || *dr.Type != "AWS::S3::Object" {
				continue
			}
			for _, v := range dr.Values {
				switch {
				case v == "arn:aws:s3" || strings.HasPrefix(whole, v):
					return CoversAll
				case strings.HasPrefix(v, whole):
					best = max(best, CoversSome)
				}
			}
		}
	}
	return best
}

// advancedCoverage reads advanced event selectors: each is the AND of its
// field conditions and a trail logs what any selector matches. A bucket's
// reads are data events of type AWS::S3::Object, readOnly true, named
// after the read APIs; a condition on a field the review cannot judge
// (who called, from which endpoint) makes the coverage partial.
func advancedCoverage(sels []cttypes.AdvancedEventSelector, bucket string) Coverage {
	best := CoversNone
	for _, s := range sels {
		best = max(best, selectorCoverage(s.FieldSelectors, bucket))
	}
	return best
}

func selectorCoverage(fields []cttypes.AdvancedFieldSelector, bucket string) Coverage {
	whole := "arn:aws:s3:::" + bucket + "/"
	cov := CoversAll
	data, object := false, false
	for _, f := range fields {
		field := ""
		if f.Field != nil {
			field = *f.Field
		}
		switch field {
		case "eventCategory":
			if !admits(f, "Data") {
				return CoversNone
			}
			data = true
		case "resources.type":
			if !admits(f, "AWS::S3::Object") {
				return CoversNone
			}
			object = true
		case "readOnly":
			if !admits(f, "true") {
				return CoversNone
			}
		case "eventSource":
			if !admits(f, "s3.amazonaws.com") {
				return CoversNone
			}
		case "eventName":
			n := 0
			for _, name := range s3ReadNames {
				if admits(f, name) {
					n++
				}
			}
			switch {
			case n == 0:
				return CoversNone
			case n < len(s3ReadNames):
				cov = min(cov, CoversSome)
			}
		case "resources.ARN":
			c := arnCoverage(f, whole)
			if c == CoversNone {
				return CoversNone
			}
			cov = min(cov, c)
		default:
			cov = min(cov, CoversSome)
		}
	}
	if !data || !object {
		// Management-event selectors, or data selectors of other types.
		return CoversNone
	}
	return cov
}

// admits reports whether a field condition lets value through.
func admits(f cttypes.AdvancedFieldSelector, value string) bool {
	if len(f.Equals) > 0 && !contains(f.Equals, value) {
		return false
	}
	if contains(f.NotEquals, value) {
		return false
	}
	if len(f.StartsWith) > 0 && !anyPrefix(f.StartsWith, value) {
		return false
	}
	if anyPrefix(f.NotStartsWith, value) {
		return false
	}
	if len(f.EndsWith) > 0 && !anySuffix(f.EndsWith, value) {
		return false
	}
	return !anySuffix(f.NotEndsWith, value)
}

// arnCoverage judges a resources.ARN condition for the objects of a bucket
// (whole is "arn:aws:s3:::bucket/").
func arnCoverage(f cttypes.AdvancedFieldSelector, whole string) Coverage {
	cov := CoversAll
	if len(f.StartsWith) > 0 {
		c := CoversNone
		for _, v := range f.StartsWith {
			switch {
			case strings.HasPrefix(whole, v):
				c = CoversAll
			case strings.HasPrefix(v, whole):
				c = max(c, CoversSome)
			}
		}
		cov = min(cov, c)
	}
	if len(f.Equals) > 0 {
		c := CoversNone
		for _, v := range f.Equals {
			if strings.HasPrefix(v, whole) {
				c = CoversSome
			}
		}
		cov = min(cov, c)
	}
	for _, v := range f.NotStartsWith {
		switch {
		case strings.HasPrefix(whole, v):
			return CoversNone
		case strings.HasPrefix(v, whole):
			cov = min(cov, CoversSome)
		}
	}
	if len(f.EndsWith) > 0 || len(f.NotEndsWith) > 0 || len(f.NotEquals) > 0 {
		cov = min(cov, CoversSome)
	}
	return cov
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func anyPrefix(ps []string, v string) bool {
	for _, p := range ps {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func anySuffix(ss []string, v string) bool {
	for _, s := range ss {
		if strings.HasSuffix(v, s) {
			return true
		}
	}
	return false
}
