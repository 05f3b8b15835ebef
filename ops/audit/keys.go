// Package audit keeps the audit log honest against someone who can write
// to the database: records are chained with an HMAC whose key lives outside
// the database (a secret file or environment variable, with a key ID so it
// can be rotated), and the head of the chain is anchored outside the
// database on a schedule and at shutdown, in a Slack channel and/or an S3
// object (under Object Lock when the bucket has it). Verification checks
// every link with the keys and the chain's end against the newest anchor,
// so rewriting a record or cutting the end of the log is reported.
package audit

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/secops-bot/secops-bot/store"
)

// MinKeyBytes is the shortest key accepted: HMAC-SHA256 gains nothing from
// longer keys and loses strength with shorter ones.
const MinKeyBytes = 32

// keyIDRe is what a key ID may look like: it is stored in every record's
// hash, so it is short and plain.
var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// Keyring holds the chain keys: the current one seals new records, the
// older ones still verify the records they sealed.
type Keyring struct {
	current string
	keys    map[string][]byte
}

// ParseKeys reads keys given as "ID:BASE64" entries, separated by commas
// or newlines, the current key first (older keys after it, for rotation).
// Blank lines and lines starting with # are ignored. Errors never include
// key material.
func ParseKeys(text string) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, ",", "\n")))
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		id, enc, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("audit key %d: want ID:BASE64, e.g. k1:%s", n, strings.Repeat("A", 43)+"=")
		}
		id = strings.TrimSpace(id)
		if !keyIDRe.MatchString(id) {
			return nil, fmt.Errorf("audit key %d: key ID %q: use up to 32 letters, digits, dots, dashes or underscores", n, clip(id))
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("audit key %s: not base64 (generate one with: openssl rand -base64 32)", id)
		}
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("audit key %s: %d bytes, want at least %d (generate one with: openssl rand -base64 32)", id, len(key), MinKeyBytes)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("audit key %s is given twice", id)
		}
		if k.current == "" {
			k.current = id
		}
		k.keys[id] = key
	}
	if k.current == "" {
		return nil, errors.New("no audit key given")
	}
	return k, nil
}

// Current is the ID of the key that seals new records.
func (k *Keyring) Current() string { return k.current }

// keyedPrefix marks a keyed hash: "hmac-ID:HEX". Unkeyed (SHA-256) hashes
// are bare hex, so the two never collide.
const keyedPrefix = "hmac-"

// Sealer chains records with HMAC-SHA256 under the keyring's current key.
// Records sealed before a key was configured (bare SHA-256) still verify;
// Verify reports one that follows a keyed record, which only a rewrite
// without the key produces.
type Sealer struct {
	keys *Keyring
}

// NewSealer returns a sealer for keys.
func NewSealer(keys *Keyring) *Sealer { return &Sealer{keys: keys} }

var _ store.AuditSealer = (*Sealer)(nil)

// Seal returns r's keyed hash.
func (s *Sealer) Seal(r store.AuditRecord) string {
	id := s.keys.current
	return keyedPrefix + id + ":" + hex.EncodeToString(mac(s.keys.keys[id], r))
}

// Valid reports whether r.Hash seals r: with the key it names, or as an
// unkeyed SHA-256 link.
func (s *Sealer) Valid(r store.AuditRecord) bool {
	id, sum, keyed := parseKeyed(r.Hash)
	if !keyed {
		return store.UnkeyedSealer{}.Valid(r)
	}
	key, ok := s.keys.keys[id]
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sum)
	return err == nil && hmac.Equal(got, mac(key, r))
}

// KeyID is the ID of the key that sealed a hash, "" for an unkeyed one.
func KeyID(hash string) string {
	id, _, _ := parseKeyed(hash)
	return id
}

func parseKeyed(hash string) (id, sum string, ok bool) {
	rest, ok := strings.CutPrefix(hash, keyedPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// mac is the HMAC of the record's link: its predecessor's hash and the
// same canonical encoding the unkeyed chain uses.
func mac(key []byte, r store.AuditRecord) []byte {
	detail := r.Detail
	if len(detail) == 0 {
		detail = nil
	}
	canonical, _ := json.Marshal([]any{r.Seq, r.Time.UnixMicro(), r.Actor, r.Action, r.Target, r.Result, r.Reason, detail}) // strings, ints and bytes cannot fail
	h := hmac.New(sha256.New, key)
	h.Write([]byte(r.PrevHash))
	h.Write([]byte{0})
	h.Write(canonical)
	return h.Sum(nil)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
