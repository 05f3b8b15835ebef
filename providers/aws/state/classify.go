package state

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/providers/aws/awsclient"
)

// Classify says in plain words what went wrong with an AWS call, for a
// responder reading a finding: "access denied (AccessDenied)", "throttled",
// "not found", "role cannot be assumed".
func Classify(err error) string {
	if err == nil {
		return ""
	}
	// A member role failure comes first: whatever STS said, the fix is the
	// role's trust policy, not the resource. A throttled AssumeRole is
	// not that: the role is fine and the next read will do.
	if errors.Is(err, awsclient.ErrAssumeRole) {
		code := apiCode(err)
		switch {
		case isThrottle(code):
			return "throttled"
		case code != "" && !isAccessDenied(code):
			return "role cannot be assumed (" + code + ")"
		}
		return "role cannot be assumed"
	}
	if errors.Is(err, ErrUnsupported) {
		return "unsupported type"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	code := apiCode(err)
	switch {
	case code == "":
		return "unexpected error"
	case isAccessDenied(code):
		return "access denied (" + code + ")"
	case isThrottle(code):
		return "throttled"
	case isNotFound(code):
		return "not found"
	case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "InvalidClientTokenId" ||
		code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AuthFailure":
		return "credentials rejected (" + code + ")"
	default:
		return "AWS error (" + code + ")"
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isAccessDenied(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
		"AuthorizationError", "Forbidden", "AllAccessDisabled":
		return true
	}
	return false
}

func isThrottle(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
		"RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
		"SlowDown", "ProvisionedThroughputExceededException", "BandwidthLimitExceeded",
		"PriorRequestNotComplete", "EC2ThrottledException":
		return true
	}
	return false
}

func isNotFound(code string) bool {
	switch code {
	case "NoSuchBucket", "NoSuchEntity", "DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault",
		"NotFound", "ResourceNotFoundException":
		return true
	}
	return strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, ".Unavailable")
}
