package finding

import (
	"time"
)

// Contents is what an exposed resource holds, read from AWS when the
// finding is assessed: how much data a bucket keeps and whether Amazon
// Macie found sensitive data in it, or what a snapshot or image was taken
// from and, above all, whether another account can use its encryption key.
// Every part is read on its own: a part AWS would not show is listed in
// Unreadable and the rest is still shown.
type Contents struct {
	ReadAt time.Time `json:"read_at"`

	// Objects summarises a bucket's objects (keys and sizes only, never
	// what they hold); nil when not read.
	Objects *Objects `json:"objects,omitempty"`
	// Encryption is a bucket's default encryption in words ("SSE-KMS with
	// key …", "SSE-S3 (AES256)").
	Encryption string `json:"encryption,omitempty"`
	// Macie is Amazon Macie's view of the bucket; nil when not read.
	Macie *Macie `json:"macie,omitempty"`

	// Source is what a snapshot or image was taken from ("DB instance
	// prod-customers", "volume vol-0abc…"); Engine the database engine;
	// SizeGiB the allocated or volume size.
	Source  string `json:"source,omitempty"`
	Engine  string `json:"engine,omitempty"`
	SizeGiB int    `json:"size_gib,omitempty"`
	// Key is how a snapshot or image is encrypted and who may use its key,
	// as last read; nil for buckets.
	Key *KeyAccess `json:"key,omitempty"`
	// ExposedKey is the most exposing key access read for the same key
	// since the finding was raised: after a containment takes the outside
	// account off the key, Key says so while ExposedKey still says that
	// account could use it during the exposure, which is what the review
	// of who read it must judge from. Nil when it is the same as Key.
	ExposedKey *KeyAccess `json:"exposed_key,omitempty"`

	// Unreadable lists the parts that could not be read, each as
	// "<part>: not readable: <why>" (often "missing permission
	// s3:ListBucket").
	Unreadable []string `json:"unreadable,omitempty"`
}

// Objects summarises a bucket's object listing. The listing reads a
// bounded number of pages: when Complete is false, Count and Bytes cover
// the first Count objects only.
type Objects struct {
	Count    int64     `json:"count"`
	Bytes    int64     `json:"bytes"`
	Newest   time.Time `json:"newest,omitzero"`
	Complete bool      `json:"complete"`
	// Examples are a few object keys, newest first.
	Examples []string `json:"examples,omitempty"`
}

// Macie is what Amazon Macie says about a bucket: whether it runs in the
// account and region, and its sensitive-data findings for the bucket.
type Macie struct {
	Enabled bool `json:"enabled"`
	// Findings is how many sensitive-data findings were read; More says
	// there are more than were read.
	Findings int  `json:"findings"`
	More     bool `json:"more,omitempty"`
	// Types are the kinds of sensitive data found with their counts
	// ("CREDIT_CARD_NUMBER ×120"), most frequent first.
	Types []string `json:"types,omitempty"`
	// Objects are a few object keys the findings are about.
	Objects []string `json:"objects,omitempty"`
	// Highest is the highest severity among the findings (Low, Medium,
	// High).
	Highest string `json:"highest,omitempty"`
}

// KeyCase says whether another account can use a snapshot's encryption,
// which decides how urgent a share is.
type KeyCase string

// Key cases, from most to least urgent.
const (
	// KeyUnencrypted: anyone it is shared with can copy or restore it.
	KeyUnencrypted KeyCase = "unencrypted"
	// KeyCustomerUsable: a customer-managed key whose policy or grants let
	// a share target use it.
	KeyCustomerUsable KeyCase = "customer-usable"
	// KeyUnknown: the key could not be read.
	KeyUnknown KeyCase = "unknown"
	// KeyCustomerNotUsable: a customer-managed key no share target may use.
	KeyCustomerNotUsable KeyCase = "customer-not-usable"
	// KeyAWSManaged: an AWS-managed key, which no other account can use.
	KeyAWSManaged KeyCase = "aws-managed"
)

// KeyAccess is a snapshot's or image's encryption and who outside its
// account may use the key.
type KeyAccess struct {
	Case KeyCase `json:"case"`
	// KeyARN is the key's ARN (or ID when the ARN is not known).
	KeyARN string `json:"key_arn,omitempty"`
	// Manager is KMS's KeyManager: AWS or CUSTOMER.
	Manager string `json:"manager,omitempty"`
	// Users are the accounts outside the resource's account that the key
	// policy or a grant lets use the key, each with how.
	Users []KeyUser `json:"users,omitempty"`
	// Why says in words how the case was decided.
	Why string `json:"why,omitempty"`
}

// KeyUser is an account outside the key's account allowed to use the key.
type KeyUser struct {
	Account string `json:"account"`
	// Via says how: `key policy statement "AllowPartner" (kms:Decrypt,
	// kms:CreateGrant)` or "grant 0c1d… (Decrypt)".
	Via []string `json:"via"`
	// GrantIDs are the grants that give it access, for containment.
	GrantIDs []string `json:"grant_ids,omitempty"`
	// Target says the account is one the resource is shared with (unknown
	// or public), which makes the share usable.
	Target bool `json:"target,omitempty"`
}

// Usable reports whether a share target may use the key.
func (k *KeyAccess) Usable() bool {
	if k == nil {
		return false
	}
	for _, u := range k.Users {
		if u.Target {
			return true
		}
	}
	return false
}

// ReadAnswer is the answer to "did anyone outside read it while it was
// exposed?".
type ReadAnswer string

// Answers. CannotTell is said whenever nothing records reads of the
// resource for the window: it is never reported as no reads.
const (
	ReadsFound   ReadAnswer = "reads"
	ReadsNone    ReadAnswer = "none"
	ReadsUnknown ReadAnswer = "cannot-tell"
)

// ReadReview answers, for the window the resource was exposed, who outside
// the organisation (or anonymously) read it, from what records, and what
// those records cannot show.
type ReadReview struct {
	// Seq numbers the reviews of a finding from 1, so that an answer a
	// person closed the review on can be told from a later one.
	Seq        int       `json:"seq"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	ReviewedAt time.Time `json:"reviewed_at"`
	// Requested is who asked for this review (a Slack user ID), or
	// "system" when the resolution did.
	Requested string     `json:"requested,omitempty"`
	Answer    ReadAnswer `json:"answer"`
	// Summary is the answer in one sentence.
	Summary string `json:"summary"`
	// Readers are the principals outside the organisation (or anonymous)
	// that read the resource, most reads first.
	Readers []Reader `json:"readers,omitempty"`
	// More counts the readers left out of Readers.
	More int `json:"more,omitempty"`
	// InsideReads counts reads by the organisation's own principals in the
	// window: they are counted, not kept.
	InsideReads int `json:"inside_reads,omitempty"`
	// Sources are the records that cover the window ("CloudTrail data
	// events of trail org-trail", "server access logs in acme-logs").
	Sources []string `json:"sources,omitempty"`
	// Gaps say what is not recorded and how to record it.
	Gaps []string `json:"gaps,omitempty"`
	// Notes are further caveats (what event history cannot show).
	Notes []string `json:"notes,omitempty"`
	// Unreadable lists the reads of AWS that failed, as in Contents.
	Unreadable []string `json:"unreadable,omitempty"`
}

// Reader is one principal outside the organisation that read the
// resource in the window.
type Reader struct {
	// Principal is the caller's ARN or principal ID, "anonymous" for
	// unauthenticated requests, or the account when nothing finer is
	// recorded.
	Principal string `json:"principal"`
	Account   string `json:"account,omitempty"`
	Anonymous bool   `json:"anonymous,omitempty"`
	// Class is how the account relates to the organisation (unknown,
	// trusted).
	Class TargetClass `json:"class,omitempty"`
	Count int         `json:"count"`
	// Actions counts the calls per API ("GetObject": 12).
	Actions   map[string]int `json:"actions"`
	SourceIPs []string       `json:"source_ips,omitempty"`
	// Keys are example object keys read.
	Keys  []string  `json:"keys,omitempty"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Sources are the records the reads came from.
	Sources []string `json:"sources,omitempty"`
}

// KeyDuringExposure is the key access that held while the resource was
// exposed: ExposedKey when a later read found less, Key otherwise.
func (c *Contents) KeyDuringExposure() *KeyAccess {
	if c == nil {
		return nil
	}
	if c.ExposedKey != nil {
		return c.ExposedKey
	}
	return c.Key
}
