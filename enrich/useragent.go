package enrich

import "strings"

// UAFamily reduces a user agent to its family ("aws-cli", "boto3",
// "console", "terraform", "browser"...) so a version bump is not a new user
// agent but a different tool is.
func UAFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return "unknown"
	}
	lower := strings.ToLower(ua)
	switch {
	case strings.Contains(lower, "terraform/"), strings.Contains(lower, "terraform-provider-aws"):
		return "terraform"
	case strings.Contains(lower, "cloudformation"):
		return "cloudformation"
	case strings.HasPrefix(lower, "mozilla/"):
		return "browser"
	case strings.HasSuffix(lower, ".amazonaws.com"):
		if strings.HasPrefix(lower, "console.") || strings.HasPrefix(lower, "signin.") {
			return "console"
		}
		return "aws-service"
	case strings.HasPrefix(lower, "aws internal"):
		return "aws-internal"
	}
	lower = strings.TrimLeft(lower, "[")
	if i := strings.IndexAny(lower, "/ "); i > 0 {
		lower = lower[:i]
	}
	lower = strings.TrimRight(lower, "],")
	if strings.Contains(lower, "console") {
		return "console"
	}
	return lower
}
