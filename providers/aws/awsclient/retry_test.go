package awsclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/secops-bot/secops-bot/internal/testkit/awsfake"
)

// In a sustained throttling storm, the clients of several member accounts
// (a new client per operation, as the readers make them) draw their
// retries from one budget: once it is spent, operations fail at their
// first throttled attempt instead of each retrying on a budget of its own,
// so the calls the bot makes are bounded by the budget, not by the work.
func TestRetryBudgetSharedAcrossAccounts(t *testing.T) {
	const (
		perAccount = 20
		throttled  = 0.9
	)
	accounts := []string{member, "555566667777", "666677778888"}
	tests := []struct {
		name   string
		budget uint
	}{
		{name: "a small budget", budget: 50},
		{name: "a larger budget", budget: 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			fake := awsfake.NewS3()
			for _, a := range accounts {
				fake.AddBucket(a, awsfake.S3Bucket{Name: "exports-" + a, Policy: `{"Version":"2012-10-17","Statement":[]}`})
			}
			e.srv.Handle("s3", fake)
			e.srv.Inject(awsfake.Fault{Service: "s3", Code: "SlowDown", Status: 503, Times: -1, Rate: throttled})
			c, err := New(context.Background(), e.base, Options{
				MemberRoleName: "secops-member", Clock: e.clk, RetryBudget: tc.budget,
				// No waiting between attempts: the budget, not the clock,
				// is under test.
				Retry: func(o *retry.StandardOptions) {
					o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				},
			})
			if err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			var failed, braked int
			var wg sync.WaitGroup
			for _, a := range accounts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perAccount {
						cfg, err := c.For(context.Background(), a)
						if err != nil {
							t.Errorf("For(%s): %v", a, err)
							return
						}
						_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).
							GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String("exports-" + a)})
						if err == nil {
							continue
						}
						mu.Lock()
						failed++
						if errors.As(err, new(ratelimit.QuotaExceededError)) {
							braked++
							// The caller still learns what AWS said.
							var ae smithy.APIError
							if !errors.As(err, &ae) || ae.ErrorCode() != "SlowDown" {
								t.Errorf("an operation stopped by the budget hides AWS's answer: %v", err)
							}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()

			// The budget's accounts, from what the server saw: every failed
			// retry spent ThrottlingRetryCost for good, every operation that
			// succeeded at once earned NoRetryIncrement back.
			var calls, retries, failedRetries, firstTry int
			for _, call := range e.srv.Calls() {
				calls++
				switch {
				case call.Attempt > 1:
					retries++
					if call.Status != 200 {
						failedRetries++
					}
				case call.Status == 200:
					firstTry++
				}
			}
			ops := len(accounts) * perAccount
			t.Logf("%d operations in %d accounts, %.0f%% throttled, budget %d: %d calls (%d retries, %d of them failed); %d operations failed, %d stopped by the budget",
				ops, len(accounts), throttled*100, tc.budget, calls, retries, failedRetries, failed, braked)
			spent := failedRetries * int(retry.DefaultThrottlingRetryCost)
			if earned := int(tc.budget) + firstTry*int(retry.DefaultNoRetryIncrement); spent > earned {
				t.Errorf("failed retries spent %d tokens, more than the shared budget of %d and the %d earned back: each client retried on a budget of its own",
					spent, tc.budget, firstTry)
			}
			if braked == 0 {
				t.Errorf("no operation was stopped by the budget in a storm of %d throttled operations", ops)
			}
			// On budgets of their own the clients would retry nearly every
			// operation, most of them twice.
			if retries >= ops {
				t.Errorf("%d retries for %d operations: the storm was not braked", retries, ops)
			}
		})
	}
}
