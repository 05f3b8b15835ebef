-- History. Repeated strings live once in dictionary tables; events refer to
-- them by small integers, which keeps a row and its index entries to a few
-- dozen bytes. Dictionary rows are never deleted, so events carry no foreign
-- keys (checking ten of them per insert would halve ingestion speed).
CREATE TABLE dict_actor (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_actor_type (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_account (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_region (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_ip (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_agent (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_resource (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_access_key (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_source_identity (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_error (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
CREATE TABLE dict_api (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (source, name)
);

-- eid is a 16-byte blob for canonical UUIDs (what CloudTrail uses) and text
-- otherwise; the column has no affinity so both are kept as given. t is unix
-- seconds. Empty strings are stored as NULL, which costs no payload.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    eid BLOB NOT NULL,
    t INTEGER NOT NULL,
    actor INTEGER,
    actor_type INTEGER,
    account INTEGER,
    region INTEGER,
    api INTEGER,
    ip INTEGER,
    agent INTEGER,
    resource INTEGER,
    access_key INTEGER,
    source_identity INTEGER,
    error INTEGER,
    read_only INTEGER NOT NULL
);
-- Deduplication is on (t, eid): CloudTrail redelivers an event with its
-- time unchanged, and leading with t turns what would be random inserts all
-- over a UUID index into appends at its end, since ingestion is roughly in
-- time order.
CREATE UNIQUE INDEX events_eid ON events (t, eid);
-- Covers ActorStats entirely, so baselines never touch the table.
CREATE INDEX events_actor ON events (actor, t, api, ip, agent, region) WHERE actor IS NOT NULL;
CREATE INDEX events_resource ON events (resource, t) WHERE resource IS NOT NULL;
CREATE INDEX events_access_key ON events (access_key, t) WHERE access_key IS NOT NULL;
CREATE INDEX events_source_identity ON events (source_identity, t) WHERE source_identity IS NOT NULL;
CREATE INDEX events_account ON events (account, t) WHERE account IS NOT NULL;

-- Findings are kept whole as JSON; the columns beside it exist to be
-- filtered on. Times outside history are unix microseconds.
CREATE TABLE findings (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    team TEXT NOT NULL,
    rule TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX findings_first_seen ON findings (first_seen);
CREATE INDEX findings_status ON findings (status, first_seen);
CREATE INDEX findings_team ON findings (team, first_seen);

CREATE TABLE finding_events (
    id INTEGER PRIMARY KEY,
    finding_id TEXT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    t INTEGER NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX finding_events_finding ON finding_events (finding_id, id);

-- Append-only; seq is assigned by the store, one past the last.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail BLOB,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX audit_t ON audit (t);

CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    done_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw BLOB
);

CREATE TABLE kv (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;

-- Completed items keep their row (payload dropped) so that their key stays
-- taken: an enqueue replayed after completion must still be a no-op.
-- AUTOINCREMENT keeps IDs from ever being reused.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload BLOB,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    owner TEXT,
    lease_until INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL;
