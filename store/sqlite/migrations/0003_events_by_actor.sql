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

-- Copied in the old actor index's order, so that the new table is built
-- by appending.
INSERT INTO events_by_actor
    (actor, t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only)
SELECT 0, t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only
FROM events WHERE actor IS NULL;
INSERT INTO events_by_actor
    (actor, t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only)
SELECT actor, t, id, api, ip, agent, region, eid, actor_type, account, resource, access_key, source_identity, error, read_only
FROM events INDEXED BY events_actor WHERE actor IS NOT NULL ORDER BY actor, t;

CREATE TABLE events_next (id INTEGER NOT NULL);
INSERT INTO events_next (id) SELECT coalesce(max(id), 0) + 1 FROM events;

DROP TABLE events;
ALTER TABLE events_by_actor RENAME TO events;

-- The secondary indexes end with id so that newest-first reads need no
-- sort for ties in time; SQLite appends the rest of the key (actor) to
-- each entry to find the row.
CREATE UNIQUE INDEX events_eid ON events (t, eid);
CREATE INDEX events_resource ON events (resource, t, id) WHERE resource IS NOT NULL;
CREATE INDEX events_access_key ON events (access_key, t, id) WHERE access_key IS NOT NULL;
CREATE INDEX events_source_identity ON events (source_identity, t, id) WHERE source_identity IS NOT NULL;
CREATE INDEX events_account ON events (account, t, id) WHERE account IS NOT NULL;
