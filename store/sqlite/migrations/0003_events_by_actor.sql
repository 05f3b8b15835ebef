-- History is kept in actor order: the table is clustered on (actor, t, id)
-- instead of being a rowid table with a covering actor index beside it.
-- An investigation reads an actor's recent events whole, and in a rowid
-- table in arrival order each of them sat on a page of its own; clustered,
-- they are a few neighbouring pages. The covering index it replaces was
-- nearly a copy of the row, so ingestion has one b-tree less to insert into
-- and the file shrinks. An event without an actor has actor 0 (dictionary
-- IDs start at 1), since key columns cannot be NULL.
--
-- id keeps arrival order for ties in time, as the rowid did. A table
-- without rowid has no cheap max(id), so the next ID is kept in
-- events_next and advanced by every insert.
CREATE TABLE events_by_actor (
    actor INTEGER NOT NULL,
    t INTEGER NOT NULL,
    id INTEGER NOT NULL,
    api INTEGER,
    ip INTEGER,
    agent INTEGER,
    region INTEGER,
    eid BLOB NOT NULL,
    actor_type INTEGER,
    account INTEGER,
    resource INTEGER,
    access_key INTEGER,
    source_identity INTEGER,
    error INTEGER,
    read_only INTEGER NOT NULL,
    PRIMARY KEY (actor, t, id)
) WITHOUT ROWID;

-- The old table is read in rowid order and needs none of its indexes,
-- whose names the new ones take.
DROP INDEX events_eid;
DROP INDEX events_actor;
DROP INDEX events_resource;
DROP INDEX events_access_key;
DROP INDEX events_source_identity;
DROP INDEX events_account;

-- The secondary indexes end with id so that newest-first reads need no
-- sort for ties in time; SQLite appends the rest of the key (actor) to
-- each entry to find the row.
CREATE UNIQUE INDEX events_eid ON events_by_actor (t, eid);
CREATE INDEX events_resource ON events_by_actor (resource, t, id) WHERE resource IS NOT NULL;
CREATE INDEX events_access_key ON events_by_actor (access_key, t, id) WHERE access_key IS NOT NULL;
CREATE INDEX events_source_identity ON events_by_actor (source_identity, t, id) WHERE source_identity IS NOT NULL;
CREATE INDEX events_account ON events_by_actor (account, t, id) WHERE account IS NOT NULL;

-- Copied in arrival order, as ingestion would have stored them: the
-- indexes exist already and grow mostly at their ends, and no sort of the
-- whole history is needed, which would hold it all in memory.
INSERT OR IGNORE INTO events_by_actor
    (actor, t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only)
SELECT coalesce(actor, 0), t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only
FROM events ORDER BY id;

CREATE TABLE events_next (id INTEGER NOT NULL);
INSERT INTO events_next (id) SELECT coalesce(max(id), 0) + 1 FROM events;

DROP TABLE events;
ALTER TABLE events_by_actor RENAME TO events;
