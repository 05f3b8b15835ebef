// Package store defines the durable state of the bot: event history,
// findings with their status history, the audit log, ingestion bookkeeping,
// the outbox, and a key-value space of typed documents (Doc).
// Implementations live in sub-packages (sqlite, postgres) and pass the same
// conformance suite (storetest); memory, for offline runs, implements the
// part of it they need and passes the key-value part of the suite.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

// Sentinel errors shared by every implementation.
var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a compare-and-set lost the race.
	ErrConflict = errors.New("conflict")
)

// Event is one CloudTrail event as kept in history: small, indexed columns
// only (the raw JSON is not kept for every event; see Finding.Change for
// evidence).
type Event struct {
	EventID string
	// Time has CloudTrail's own precision, one second; stores may drop
	// anything finer.
	Time           time.Time
	Account        string
	Region         string
	ActorARN       string // the persistent identity (user, or role for sessions)
	ActorType      string
	AccessKeyID    string
	SourceIdentity string
	EventSource    string
	EventName      string
	SourceIP       string
	UserAgent      string
	ResourceARN    string // primary resource, "" when the call names none
	ErrorCode      string
	ReadOnly       bool
}

// EventQuery selects events from history. Exactly one of ActorARN,
// ResourceARN, AccessKeyID, SourceIdentity or Account is usually set; zero
// times mean unbounded; Since is inclusive and Until exclusive. Set fields
// combine with AND. Results are newest first; Limit <= 0 means no limit.
type EventQuery struct {
	ActorARN       string
	ResourceARN    string
	AccessKeyID    string
	SourceIdentity string
	Account        string
	Since, Until   time.Time
	Limit          int
}

// ActorStats summarises an actor's activity over a window, for baselines.
// Counts are keyed by the value; DaysSeen/FirstSeen say when a value was
// seen so "new" can be judged against the established baseline. The window
// is [since, until) with zero times unbounded; an empty value (no user agent,
// say) is not counted in the maps. APIs is keyed by "eventSource:eventName",
// e.g. "s3.amazonaws.com:PutBucketPolicy".
type ActorStats struct {
	Total     int
	Days      int // distinct UTC days with activity
	FirstSeen time.Time
	LastSeen  time.Time
	// Hours counts events per hour of day in UTC (0..23); callers shift to
	// the owning team's time zone using HourOffsets when needed.
	ByHourUTC  [24]int
	SourceIPs  map[string]ValueStats
	UserAgents map[string]ValueStats
	Regions    map[string]ValueStats
	APIs       map[string]ValueStats
}

// ValueStats is how often and since when a value was seen.
type ValueStats struct {
	Count     int
	FirstSeen time.Time
	LastSeen  time.Time
	Days      int
}

// FindingFilter selects findings. Results are newest first by FirstSeen;
// Limit <= 0 means no limit.
type FindingFilter struct {
	Statuses []finding.Status // empty means all
	Team     string
	Rule     string
	Since    time.Time // FirstSeen at or after
	Limit    int
}

// FindingEvent is one entry of a finding's status history. A zero Time is
// set to the store's clock; FindingID is set by the store.
type FindingEvent struct {
	FindingID string
	Time      time.Time
	Status    finding.Status
	Actor     string // Slack user ID, AWS principal, or "system"
	Note      string
	// Outbox items are enqueued in the same transaction as the change, so
	// a stored change is never left without its Slack update or ticket.
	// They are not part of the history.
	Outbox []OutboxItem
}

// AuditRecord is one entry of the audit log: who did what, when, to what,
// and with which result. Detail holds action-specific JSON (e.g. the
// before-state of a containment). A zero Time is set to the store's clock;
// stores keep microsecond precision so that the hash is the same everywhere.
type AuditRecord struct {
	Seq      int64 // assigned by the store
	Time     time.Time
	Actor    string // Slack user ID (with team), "system", or an AWS principal
	Action   string // e.g. "finding.ack", "breakglass.approve"
	Target   string // finding ID, request ID, resource ARN
	Result   string // "ok", "refused", "error"
	Reason   string
	Detail   []byte // JSON
	PrevHash string // hash chain (see audit verify)
	Hash     string
}

// AuditHash is the hash-chain link of r: the SHA-256 of r.PrevHash followed
// by a canonical encoding of the other fields (Hash excluded). Every store
// computes it the same way so that one verifier checks them all.
func AuditHash(r AuditRecord) string {
	detail := r.Detail
	if len(detail) == 0 {
		detail = nil // empty and absent detail hash alike, whatever the driver returns
	}
	canonical, _ := json.Marshal([]any{ // a []any of strings and ints cannot fail to marshal
		r.Seq,
		r.Time.UnixMicro(),
		r.Actor,
		r.Action,
		r.Target,
		r.Result,
		r.Reason,
		detail, // base64 in the encoding, so any bytes are fine
	})
	h := sha256.New()
	h.Write([]byte(r.PrevHash))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditSealer links audit records into the chain. Seal returns r's Hash
// (r.PrevHash is set); Valid reports whether r.Hash seals r. The stores
// call Seal inside the transaction that appends r, so every replica must
// use the same sealer (the same keys).
type AuditSealer interface {
	Seal(r AuditRecord) string
	Valid(r AuditRecord) bool
}

// UnkeyedSealer is the plain SHA-256 chain of AuditHash: anyone who can
// write to the database can recompute it, so it shows accidents, not
// tampering. It is what stores use when no keyed sealer is given, and
// what verifies records written before a key was configured.
type UnkeyedSealer struct{}

// Seal returns AuditHash(r).
func (UnkeyedSealer) Seal(r AuditRecord) string { return AuditHash(r) }

// Valid reports whether r.Hash is AuditHash(r).
func (UnkeyedSealer) Valid(r AuditRecord) bool { return r.Hash == AuditHash(r) }

// AuditFilter selects audit records. Results are newest first; Limit <= 0
// means no limit.
type AuditFilter struct {
	ActionPrefix string
	Since        time.Time
	Limit        int
}

// Quarantined is an input that could not be read; it is kept, not dropped.
type Quarantined struct {
	ID     int64
	Time   time.Time
	Source string // file path, SQS message ID...
	Line   int
	Reason string
	Raw    []byte
}

// OutboxItem is a pending side effect (a Slack post, an update, a ticket)
// that must happen exactly once, even across restarts and replicas.
type OutboxItem struct {
	ID        int64
	Key       string // idempotency key, unique: enqueueing the same key twice is a no-op
	Kind      string // e.g. "slack.post", "slack.update", "jira.create"
	Payload   []byte
	Attempts  int       // claims so far, including the current one
	NotBefore time.Time // zero means due now
	LastError string
}

// Store is everything the bot persists. Every method is safe for concurrent
// use.
type Store interface {
	// AddEvents stores events in history, ignoring event IDs already
	// stored. It returns, for each input, whether it was new.
	AddEvents(ctx context.Context, events []Event) ([]bool, error)
	// HasEvents reports, for each event, whether it is already stored
	// (matched as AddEvents deduplicates: by ID and time).
	HasEvents(ctx context.Context, events []Event) ([]bool, error)
	QueryEvents(ctx context.Context, q EventQuery) ([]Event, error)
	ActorStats(ctx context.Context, actorARN string, since, until time.Time) (ActorStats, error)

	// GetFinding and GetFindingByKey return ErrNotFound when absent.
	GetFinding(ctx context.Context, id string) (finding.Finding, error)
	GetFindingByKey(ctx context.Context, key string) (finding.Finding, error)
	// UpsertFinding creates or replaces a finding and appends ev (if its
	// Status is non-empty) to the finding's history, atomically.
	UpsertFinding(ctx context.Context, f finding.Finding, ev FindingEvent) error
	// UpdateFinding reads the finding, applies fn and writes it back in one
	// transaction; concurrent updates serialise. fn returning an error
	// aborts without writing. The appended history event comes from fn
	// and, as for UpsertFinding, is appended only if its Status is set.
	UpdateFinding(ctx context.Context, id string, fn func(*finding.Finding) (FindingEvent, error)) (finding.Finding, error)
	ListFindings(ctx context.Context, f FindingFilter) ([]finding.Finding, error)
	FindingHistory(ctx context.Context, id string) ([]FindingEvent, error)

	AppendAudit(ctx context.Context, r AuditRecord) (AuditRecord, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)

	// FileDone reports whether an ingest file (by path, size and
	// modification time) was fully processed; MarkFileDone records it.
	FileDone(ctx context.Context, path string, size int64, mtime time.Time) (bool, error)
	MarkFileDone(ctx context.Context, path string, size int64, mtime time.Time) error

	Quarantine(ctx context.Context, q Quarantined) error
	ListQuarantined(ctx context.Context, limit int) ([]Quarantined, error)

	// Enqueue adds an outbox item unless one with the same key exists.
	Enqueue(ctx context.Context, it OutboxItem) (bool, error)
	// Claim leases up to n due items to owner until now+lease; an item whose
	// lease expired can be claimed again.
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]OutboxItem, error)
	// ClaimKinds is Claim restricted to items whose Kind starts with one of
	// the prefixes (e.g. "slack.", "jira."), so that each worker takes only
	// its own items and never holds, or delays, another worker's. No
	// prefixes claims nothing.
	ClaimKinds(ctx context.Context, owner string, kinds []string, n int, lease time.Duration) ([]OutboxItem, error)
	// Complete removes a claimed item (its key stays taken); Retry releases
	// it to run again at notBefore with the error recorded. Both return
	// ErrConflict unless owner still holds an unexpired lease, and
	// ErrNotFound for an unknown id.
	Complete(ctx context.Context, id int64, owner string) error
	Retry(ctx context.Context, id int64, owner string, notBefore time.Time, errMsg string) error
	OutboxDepth(ctx context.Context) (int, error)
	// PendingOutboxKeys lists the keys of items not yet completed (leased
	// or not) that start with prefix, oldest first; deliveries that must
	// keep their order look for earlier ones with it.
	PendingOutboxKeys(ctx context.Context, prefix string) ([]string, error)

	// KV is a small key-value space for bookkeeping such as Slack message
	// references (finding/channel → ts) and resource state. Documents that
	// change (records, runs, requests) go through Doc, which reads and
	// writes them with compare-and-set.
	// GetKV returns ErrNotFound when the key is absent.
	PutKV(ctx context.Context, ns, key string, value []byte) error
	GetKV(ctx context.Context, ns, key string) ([]byte, error)
	// CompareAndSwapKV sets ns/key to new only if it currently holds old
	// (byte for byte), or, with a nil old, only if it is absent. It reports
	// whether it wrote; losing the race is false with a nil error, so that
	// state machines kept in the KV move with compare-and-set.
	CompareAndSwapKV(ctx context.Context, ns, key string, old, new []byte) (bool, error)
	// DeleteKV removes ns/key, whatever it holds; removing an absent key
	// is not an error.
	DeleteKV(ctx context.Context, ns, key string) error
	// ListKV returns the keys of ns that start with prefix, with their
	// values, in byte order of the keys; an empty prefix lists the whole
	// namespace.
	ListKV(ctx context.Context, ns, prefix string) ([]KVEntry, error)

	Close() error
}
