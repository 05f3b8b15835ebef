// Package stepup asks an approver for a one-time code (RFC 6238 TOTP)
// before a break-glass approval counts, so that a stolen or unattended
// Slack session alone cannot grant production access. Secrets are shown
// once at enrolment, stored encrypted (AES-256-GCM, bound to the user, with
// a key from a secret that carries an ID for rotation), and every attempt
// is rate-limited and audited. Codes are computed and checked with
// github.com/pquerna/otp.
package stepup

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/secops-bot/secops-bot/internal/clock"
	"github.com/secops-bot/secops-bot/store"
)

// Errors a person can act on.
var (
	// ErrNotEnrolled: the user has no confirmed one-time code yet.
	ErrNotEnrolled = errors.New("no one-time code is set up for you yet")
	// ErrEnrolled: a confirmed enrolment exists; an admin must reset it
	// before a new secret is issued.
	ErrEnrolled = errors.New("a one-time code is already set up for you; ask a SecOps admin to reset it if you lost it")
	// ErrBadCode: the code does not match (or was used already).
	ErrBadCode = errors.New("that code is not valid")
)

// RateLimitedError says when the next attempt will be accepted.
type RateLimitedError struct{ Until time.Time }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many wrong codes; try again after %s", e.Until.UTC().Format("15:04:05 UTC"))
}

// Limits on attempts: MaxFailures wrong codes within FailureWindow lock
// the user out until the oldest of them is FailureWindow old.
const (
	MaxFailures   = 5
	FailureWindow = 15 * time.Minute
	// period is the TOTP step; skew accepts one step either side for
	// clocks that drift.
	period = 30
	skew   = 1
)

// Auditor records every enrolment and attempt.
type Auditor interface {
	AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error)
}

const kvNS = "stepup"

// record is a user's stored enrolment.
type record struct {
	KeyID      string      `json:"key_id"`
	Sealed     string      `json:"sealed"` // base64 nonce+ciphertext of the base32 secret
	Confirmed  bool        `json:"confirmed"`
	EnrolledAt time.Time   `json:"enrolled_at"`
	LastStep   int64       `json:"last_step,omitempty"` // the last accepted time step: a code is good once
	Failures   []time.Time `json:"failures,omitempty"`
}

// Service enrols users and checks their codes.
type Service struct {
	docs   *store.Doc[record]
	aud    Auditor
	keys   *Keys
	clock  clock.Clock
	issuer string
}

// New returns a step-up service. issuer names the account in
// authenticator apps.
func New(kv store.KV, aud Auditor, keys *Keys, clk clock.Clock, issuer string) *Service {
	if clk == nil {
		clk = clock.Real{}
	}
	if issuer == "" {
		issuer = "secops-bot"
	}
	return &Service{docs: store.NewDoc[record](kv, kvNS), aud: aud, keys: keys, clock: clk, issuer: issuer}
}

// Enrolment is a new secret, shown to its user once.
type Enrolment struct {
	Secret string // base32, to type into an authenticator app
	URI    string // otpauth:// URI, for apps that read it
}

// State is where a user's enrolment stands.
type State int

// States of an enrolment.
const (
	// None: no secret was issued.
	None State = iota
	// Pending: a secret was issued and shown, its first code not yet
	// entered.
	Pending
	// Confirmed: the user entered a good code; approvals ask for codes.
	Confirmed
)

// StateOf says where user's enrolment stands.
func (s *Service) StateOf(ctx context.Context, user string) (State, error) {
	r, err := s.docs.Get(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return None, nil
	case err != nil:
		return None, fmt.Errorf("read one-time code enrolment: %w", err)
	case r.Confirmed:
		return Confirmed, nil
	case r.Sealed != "":
		return Pending, nil
	}
	return None, nil
}

// Enrolled reports whether the user has a confirmed enrolment.
func (s *Service) Enrolled(ctx context.Context, user string) (bool, error) {
	r, err := s.docs.Get(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read one-time code enrolment: %w", err)
	}
	return r.Confirmed, nil
}

// Enroll issues a new secret for user (label names them in the app). An
// unconfirmed earlier enrolment is replaced; a confirmed one is kept and
// ErrEnrolled returned.
func (s *Service) Enroll(ctx context.Context, user, label string) (Enrolment, error) {
	if label == "" {
		label = user
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: label, Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("generate one-time code secret: %w", err)
	}
	sealed, err := s.keys.seal(user, key.Secret())
	if err != nil {
		return Enrolment{}, err
	}
	err = s.update(ctx, user, func(r *record) error {
		if r.Confirmed {
			return ErrEnrolled
		}
		*r = record{KeyID: s.keys.current, Sealed: sealed, EnrolledAt: s.clock.Now().UTC()}
		return nil
	})
	if err != nil {
		s.audit(ctx, user, "stepup.enroll", "refused", err.Error())
		return Enrolment{}, err
	}
	s.audit(ctx, user, "stepup.enroll", "ok", "secret issued, awaiting confirmation")
	return Enrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// Confirm completes an enrolment with the first code from the app.
func (s *Service) Confirm(ctx context.Context, user, code string) error {
	return s.check(ctx, user, code, "stepup.confirm", false)
}

// Verify checks a code before action (e.g. approving a break-glass
// request) and records the attempt.
func (s *Service) Verify(ctx context.Context, user, code, action string) error {
	return s.check(ctx, user, code, "stepup.verify "+action, true)
}

// Reset removes user's enrolment, so a new secret can be issued; by is the
// admin who asked (authorisation is the caller's).
func (s *Service) Reset(ctx context.Context, by, user string) error {
	err := s.update(ctx, user, func(r *record) error {
		*r = record{}
		return nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, by, "stepup.reset", "ok", "reset the one-time code of "+user)
	return nil
}

func (s *Service) check(ctx context.Context, user, code, action string, needConfirmed bool) error {
	now := s.clock.Now().UTC()
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	var outcome error
	err := s.update(ctx, user, func(r *record) error {
		outcome = nil
		if r.Sealed == "" || needConfirmed && !r.Confirmed {
			outcome = ErrNotEnrolled
			return nil
		}
		r.Failures = recent(r.Failures, now)
		if len(r.Failures) >= MaxFailures {
			outcome = &RateLimitedError{Until: r.Failures[0].Add(FailureWindow)}
			return nil
		}
		secret, err := s.keys.open(user, r.KeyID, r.Sealed)
		if err != nil {
			return err
		}
		step, ok := matchStep(secret, code, now)
		if !ok || step <= r.LastStep {
			r.Failures = append(r.Failures, now)
			outcome = ErrBadCode
			return nil
		}
		r.LastStep, r.Confirmed, r.Failures = step, true, nil
		return nil
	})
	if err != nil {
		return err
	}
	result, reason := "ok", ""
	if outcome != nil {
		result, reason = "refused", outcome.Error()
	}
	s.audit(ctx, user, action, result, reason)
	return outcome
}

// matchStep returns the time step whose code matches, within the skew.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	for d := -skew; d <= skew; d++ {
		t := now.Add(time.Duration(d*period) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / period, true
		}
	}
	return 0, false
}

// recent keeps the failures inside the window.
func recent(fs []time.Time, now time.Time) []time.Time {
	out := fs[:0]
	for _, f := range fs {
		if now.Sub(f) < FailureWindow {
			out = append(out, f)
		}
	}
	return out
}

// update applies fn to user's record with compare-and-set, so attempts
// counted on one replica are never lost to another's write.
func (s *Service) update(ctx context.Context, user string, fn func(*record) error) error {
	_, err := s.docs.Upsert(ctx, user, fn)
	return err
}

func (s *Service) audit(ctx context.Context, user, action, result, reason string) {
	if s.aud == nil {
		return
	}
	_, _ = s.aud.AppendAudit(ctx, store.AuditRecord{Time: s.clock.Now().UTC(), Actor: user, Action: action, Target: user, Result: result, Reason: reason})
}

// Keys encrypt enrolment secrets: the current key seals, older ones
// still open what they sealed.
type Keys struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ParseKeys reads "ID:BASE64" entries (32-byte keys), comma- or
// newline-separated, the current one first. Errors never show key
// material.
func ParseKeys(text string) (*Keys, error) {
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	for i, line := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, enc, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("step-up key %d: want ID:BASE64 (generate the key with: openssl rand -base64 32)", i+1)
		}
		id = strings.TrimSpace(id)
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("step-up key %s: want 32 bytes in base64 (generate one with: openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("step-up key %s: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("step-up key %s: %w", id, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("step-up key %s is given twice", id)
		}
		if k.current == "" {
			k.current = id
		}
		k.aeads[id] = aead
	}
	if k.current == "" {
		return nil, errors.New("no step-up key given")
	}
	return k, nil
}

// seal encrypts secret for user; the user ID is authenticated data, so a
// secret copied to another user's record does not open.
func (k *Keys) seal(user, secret string) (string, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal one-time code secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(secret), []byte(user))), nil
}

func (k *Keys) open(user, id, sealed string) (string, error) {
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("the one-time code of %s is sealed with key %q, which is not configured: ask a SecOps admin to reset it", user, id)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("the one-time code of %s is damaged: ask a SecOps admin to reset it", user)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(user))
	if err != nil {
		return "", fmt.Errorf("the one-time code of %s does not open with key %q: ask a SecOps admin to reset it", user, id)
	}
	return string(plain), nil
}
