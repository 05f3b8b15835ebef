package awsfake

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// noWait is the SDK's standard retryer without its backoff, so tests that
// make it retry do not sleep.
func noWait() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// failurePattern makes n GetCallerIdentity calls, one at a time, and says
// which failed.
func failurePattern(t *testing.T, w *world, n int) []bool {
	t.Helper()
	client := sts.NewFromConfig(w.base)
	out := make([]bool, n)
	for i := range out {
		_, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		out[i] = err != nil
	}
	return out
}

func TestFaultRate(t *testing.T) {
	const n = 400
	denyHalf := Fault{Service: "sts", Action: "GetCallerIdentity", Code: "AccessDenied", Status: 403, Times: -1, Rate: 0.5}
	run := func(seed uint64) []bool {
		w := newWorld(t)
		w.srv.Seed(seed)
		w.srv.Inject(denyHalf)
		return failurePattern(t, w, n)
	}
	first, again, other := run(7), run(7), run(8)
	failed := 0
	for _, f := range first {
		if f {
			failed++
		}
	}
	// Binomial(400, 0.5): a standard deviation of 10 calls.
	if math.Abs(float64(failed)-n/2) > 40 {
		t.Errorf("%d of %d calls failed at rate 0.5", failed, n)
	}
	if !slices.Equal(first, again) {
		t.Error("the same seed failed different calls")
	}
	if slices.Equal(first, other) {
		t.Error("another seed failed the very same calls")
	}

	// Times counts failures, not the calls a rate spared.
	w := newWorld(t)
	w.srv.Inject(Fault{Service: "sts", Code: "AccessDenied", Status: 403, Times: 5, Rate: 0.3})
	failed = 0
	for _, f := range failurePattern(t, w, 100) {
		if f {
			failed++
		}
	}
	if failed != 5 {
		t.Errorf("%d calls failed, want Times=5", failed)
	}
}

func TestFaultAlternatesAndRecordsAttempts(t *testing.T) {
	w := newWorld(t)
	w.base.Retryer = noWait
	w.srv.Inject(Fault{Service: "sts", Code: "Throttling", Status: 400, Times: -1, Alternate: []Reply{{Code: "AccessDenied", Status: 403}}})
	client := sts.NewFromConfig(w.base)
	for i := 0; i < 2; i++ {
		// Throttling is retried; the AccessDenied that follows is final.
		_, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if apiCode(err) != "AccessDenied" {
			t.Fatalf("call %d: error %v, want AccessDenied after a throttled attempt", i, err)
		}
	}
	calls := w.srv.CallsTo("sts", "GetCallerIdentity")
	var codes []string
	var attempts []int
	for _, c := range calls {
		codes = append(codes, c.Injected)
		attempts = append(attempts, c.Attempt)
	}
	if want := []string{"Throttling", "AccessDenied", "Throttling", "AccessDenied"}; !slices.Equal(codes, want) {
		t.Errorf("injected codes = %v, want %v", codes, want)
	}
	if want := []int{1, 2, 1, 2}; !slices.Equal(attempts, want) {
		t.Errorf("attempts = %v, want %v", attempts, want)
	}
	if len(calls) == 4 && (calls[0].Invocation == "" || calls[0].Invocation != calls[1].Invocation || calls[1].Invocation == calls[2].Invocation) {
		t.Errorf("invocation IDs %q %q %q do not group the attempts of one operation", calls[0].Invocation, calls[1].Invocation, calls[2].Invocation)
	}
}

func TestFaultForOneAccount(t *testing.T) {
	const locked, open = "444455556666", "555566667777"
	tests := []struct {
		name     string
		role     string
		wantCode string
	}{
		{name: "the locked account's role is refused", role: "arn:aws:iam::" + locked + ":role/secops-member", wantCode: "AccessDenied"},
		{name: "another account's role is granted", role: "arn:aws:iam::" + open + ":role/secops-member"},
	}
	w := newWorld(t)
	remove := w.srv.Inject(Fault{Service: "sts", Action: "AssumeRole", Account: locked, Code: "AccessDenied", Status: 403, Times: -1})
	// The caller's account decides for other calls: the bot's own
	// account is not the locked one.
	w.srv.Inject(Fault{Service: "sts", Action: "GetCallerIdentity", Account: locked, Code: "AccessDenied", Status: 403, Times: -1})
	client := sts.NewFromConfig(w.base)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(tc.role), RoleSessionName: aws.String("s")})
			if got := apiCode(err); got != tc.wantCode {
				t.Fatalf("AssumeRole %s: error %v, want code %q", tc.role, err, tc.wantCode)
			}
		})
	}
	if _, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity in %s failed: %v", acctA, err)
	}
	var targets []string
	for _, c := range w.srv.Calls() {
		targets = append(targets, c.Target)
	}
	if want := []string{locked, open, acctA}; !slices.Equal(targets, want) {
		t.Errorf("calls acted in %v, want %v", targets, want)
	}

	// Removing the fault fixes the role; the other fault stays.
	remove()
	if _, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(tests[0].role), RoleSessionName: aws.String("s")}); err != nil {
		t.Errorf("AssumeRole after the fault was removed: %v", err)
	}
	w.srv.mu.Lock()
	left := len(w.srv.faults)
	w.srv.mu.Unlock()
	if left != 1 {
		t.Errorf("%d faults left, want the GetCallerIdentity one", left)
	}
}
