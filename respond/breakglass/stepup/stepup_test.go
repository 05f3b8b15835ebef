package stepup

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
	"github.com/secops-bot/secops-bot/store/sqlite"
)

var testKey = "s1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func newService(t *testing.T) (*Service, *sqlite.Store, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 27, 3, 10, 0, 0, time.UTC))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "bot.db"), sqlite.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := ParseKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return New(st, st, keys, clk, "secops-bot"), st, clk
}

// code is what the user's authenticator app shows at t.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrolConfirmVerify(t *testing.T) {
	s, st, clk := newService(t)
	ctx := context.Background()
	const max = "U0MANAGER1"

	if err := s.Verify(ctx, max, "123456", "approve BG-1"); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("verify before enrolment: %v", err)
	}
	e, err := s.Enroll(ctx, max, "max@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/secops-bot:max@example.com?") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Errorf("enrolment URI %q", e.URI)
	}
	// The secret is stored sealed, never as is.
	raw, err := st.GetKV(ctx, kvNS, max)
	if err != nil || strings.Contains(string(raw), e.Secret) {
		t.Fatalf("stored enrolment shows the secret: %s (%v)", raw, err)
	}
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now()), "approve BG-1"); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("an unconfirmed enrolment approved: %v", err)
	}
	if err := s.Confirm(ctx, max, code(t, e.Secret, clk.Now())); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if ok, _ := s.Enrolled(ctx, max); !ok {
		t.Error("not enrolled after confirming")
	}
	// The confirming code cannot be used again.
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now()), "approve BG-1"); !errors.Is(err, ErrBadCode) {
		t.Errorf("a code was accepted twice: %v", err)
	}
	clk.Advance(30 * time.Second)
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now()), "approve BG-1"); err != nil {
		t.Errorf("the next code: %v", err)
	}
	// A clock a step behind is tolerated; three steps are not.
	clk.Advance(30 * time.Second)
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now().Add(30*time.Second)), "approve BG-2"); err != nil {
		t.Errorf("a code one step ahead: %v", err)
	}
	clk.Advance(5 * time.Minute)
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now().Add(-90*time.Second)), "approve BG-3"); !errors.Is(err, ErrBadCode) {
		t.Errorf("a code three steps old: %v", err)
	}
	if _, err := s.Enroll(ctx, max, "max@example.com"); !errors.Is(err, ErrEnrolled) {
		t.Errorf("re-enrolment over a confirmed one: %v", err)
	}
	if err := s.Reset(ctx, "U0ADMIN001", max); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, max, "max@example.com"); err != nil {
		t.Errorf("enrolment after a reset: %v", err)
	}

	recs, err := st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "stepup."})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[strings.Fields(r.Action)[0]+":"+r.Result]++
	}
	for _, want := range []string{"stepup.enroll:ok", "stepup.confirm:ok", "stepup.verify:ok", "stepup.verify:refused", "stepup.reset:ok", "stepup.enroll:refused"} {
		if got[want] == 0 {
			t.Errorf("no audit record %s in %v", want, got)
		}
	}
}

// Wrong codes are limited: after five in fifteen minutes even the right
// code is refused until the first of them is fifteen minutes old.
func TestWrongCodesAreRateLimited(t *testing.T) {
	s, _, clk := newService(t)
	ctx := context.Background()
	const max = "U0MANAGER1"
	e, err := s.Enroll(ctx, max, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, max, code(t, e.Secret, clk.Now())); err != nil {
		t.Fatal(err)
	}
	first := clk.Now()
	for i := range MaxFailures {
		clk.Advance(time.Minute)
		if err := s.Verify(ctx, max, "000000", "approve"); !errors.Is(err, ErrBadCode) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	clk.Advance(time.Minute)
	var limited *RateLimitedError
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now()), "approve"); !errors.As(err, &limited) || !limited.Until.Equal(first.Add(time.Minute+FailureWindow)) {
		t.Fatalf("sixth attempt: %v", err)
	}
	clk.Set(limited.Until)
	if err := s.Verify(ctx, max, code(t, e.Secret, clk.Now()), "approve"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// A sealed secret opens only for its own user and with a configured key.
func TestSealedSecretsAreBoundToTheirUser(t *testing.T) {
	keys, err := ParseKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := keys.seal("U1", "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keys.open("U1", "s1", sealed); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Errorf("open own: %q %v", got, err)
	}
	if _, err := keys.open("U2", "s1", sealed); err == nil {
		t.Error("a secret copied to another user opened")
	}
	if _, err := keys.open("U1", "s0", sealed); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("unknown key: %v", err)
	}
	for _, bad := range []string{"", "s1", "s1:short", "s1:" + base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}
