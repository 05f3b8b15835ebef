package postgres

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/secops-bot/secops-bot/store"
)

// Event ID tags; see the events table.
const (
	eidUUID byte = 0
	eidText byte = 1
)

// encodeEventID packs a canonical (lowercase, hyphenated) UUID into its 16
// bytes, less than half its text, and keeps anything else as text. Only the
// exact canonical form is packed so that decoding gives back the same
// string.
func encodeEventID(id string) []byte {
	if len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' {
		hexPart := id[0:8] + id[9:13] + id[14:18] + id[19:23] + id[24:36]
		lower := true
		for i := 0; i < len(hexPart); i++ {
			c := hexPart[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				lower = false
				break
			}
		}
		if lower {
			b := make([]byte, 17)
			b[0] = eidUUID
			if _, err := hex.Decode(b[1:], []byte(hexPart)); err == nil {
				return b
			}
		}
	}
	return append([]byte{eidText}, id...)
}

func decodeEventID(b []byte) string {
	if len(b) == 17 && b[0] == eidUUID {
		h := hex.EncodeToString(b[1:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	if len(b) > 0 && b[0] == eidText {
		return string(b[1:])
	}
	return string(b)
}

// eventTime is the stored time of e: CloudTrail's one-second precision,
// which is also part of the deduplication key.
func eventTime(e *store.Event) time.Time { return e.Time.UTC().Truncate(time.Second) }

// eventKey is the deduplication key: the stored time and ID.
type eventKey struct {
	t  int64
	id string
}

func keyOf(e *store.Event) eventKey {
	return eventKey{t: eventTime(e).Unix(), id: string(encodeEventID(e.EventID))}
}

// AddEvents stores events, skipping those already stored (including
// repeats within events), in one INSERT whose columns are arrays: one round
// trip for the whole batch. Callers ingesting in bulk should pass batches of
// about a thousand.
//
// Rows are inserted in key order so that two replicas storing overlapping
// batches (an SQS redelivery racing the original) lock the same keys in the
// same order and cannot deadlock; the later one waits and then skips.
func (s *Store) AddEvents(ctx context.Context, events []store.Event) ([]bool, error) {
	isNew := make([]bool, len(events))
	if len(events) == 0 {
		return isNew, nil
	}
	first := make(map[eventKey]int, len(events))
	rows := make([]int, 0, len(events))
	fields := make([][numFields]string, len(events))
	for i := range events {
		k := keyOf(&events[i])
		if _, dup := first[k]; !dup {
			first[k] = i
			rows = append(rows, i)
			fields[i] = s.dicts.fields(&events[i])
		}
	}
	slices.SortFunc(rows, func(a, b int) int {
		ka, kb := keyOf(&events[a]), keyOf(&events[b])
		return cmp.Or(cmp.Compare(ka.t, kb.t), strings.Compare(ka.id, kb.id))
	})

	ids, err := s.intern(ctx, fields, rows)
	if err != nil {
		return nil, fmt.Errorf("add %d events: %w", len(events), err)
	}

	n := len(rows)
	ts := make([]time.Time, n)
	eids := make([][]byte, n)
	readOnly := make([]bool, n)
	cols := make([][]pgtype.Int4, numFields)
	for f := range cols {
		cols[f] = make([]pgtype.Int4, n)
	}
	for j, i := range rows {
		ts[j] = eventTime(&events[i])
		eids[j] = encodeEventID(events[i].EventID)
		readOnly[j] = events[i].ReadOnly
		for f, v := range fields[i] {
			if v != "" {
				cols[f][j] = pgtype.Int4{Int32: ids[f][v], Valid: true}
			}
		}
	}
	args := []any{ts}
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, readOnly, eids)
	inserted, err := s.pool.Query(ctx, `INSERT INTO events
		(t, actor, actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error, read_only, eid)
		SELECT * FROM unnest($1::timestamptz[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[],
			$8::int[], $9::int[], $10::int[], $11::int[], $12::int[], $13::bool[], $14::bytea[])
		ON CONFLICT (t, eid) DO NOTHING
		RETURNING t, eid`, args...)
	if err != nil {
		return nil, fmt.Errorf("add %d events: %w", len(events), err)
	}
	defer inserted.Close()
	for inserted.Next() {
		var t time.Time
		var eid []byte
		if err := inserted.Scan(&t, &eid); err != nil {
			return nil, fmt.Errorf("add %d events: %w", len(events), err)
		}
		i, ok := first[eventKey{t: t.Unix(), id: string(eid)}]
		if !ok {
			return nil, fmt.Errorf("add %d events: inserted an event that was not in the batch", len(events))
		}
		isNew[i] = true
	}
	if err := inserted.Err(); err != nil {
		return nil, fmt.Errorf("add %d events: %w", len(events), err)
	}
	return isNew, nil
}

// intern resolves, per dictionary, the IDs of every value the rows use.
func (s *Store) intern(ctx context.Context, fields [][numFields]string, rows []int) ([numFields]map[string]int32, error) {
	var ids [numFields]map[string]int32
	for f, d := range s.dicts.byField() {
		seen := map[string]struct{}{}
		var keys []string
		for _, i := range rows {
			v := fields[i][f]
			if v == "" {
				continue
			}
			if _, ok := seen[v]; !ok {
				seen[v] = struct{}{}
				keys = append(keys, v)
			}
		}
		ids[f] = make(map[string]int32, len(keys))
		if err := d.resolve(ctx, s.pool, keys, ids[f]); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// HasEvents reports which events are already stored, matched on (time, ID)
// like AddEvents, with one primary-key probe per event in one statement.
func (s *Store) HasEvents(ctx context.Context, events []store.Event) ([]bool, error) {
	out := make([]bool, len(events))
	if len(events) == 0 {
		return out, nil
	}
	ts := make([]time.Time, len(events))
	eids := make([][]byte, len(events))
	want := make(map[eventKey][]int, len(events))
	for i := range events {
		ts[i] = eventTime(&events[i])
		eids[i] = encodeEventID(events[i].EventID)
		k := eventKey{t: ts[i].Unix(), id: string(eids[i])}
		want[k] = append(want[k], i)
	}
	rows, err := s.pool.Query(ctx, `SELECT e.t, e.eid FROM events e
		JOIN (SELECT DISTINCT * FROM unnest($1::timestamptz[], $2::bytea[])) AS q(t, eid) ON e.t = q.t AND e.eid = q.eid`,
		ts, eids)
	if err != nil {
		return nil, fmt.Errorf("look up events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t time.Time
		var eid []byte
		if err := rows.Scan(&t, &eid); err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
		for _, i := range want[eventKey{t: t.Unix(), id: string(eid)}] {
			out[i] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up events: %w", err)
	}
	return out, nil
}

const eventColumns = `e.eid, e.t, e.read_only,
	a.v, at.v, acc.v, r.v, api.source, api.name, ip.v, ag.v, res.v, k.v, si.v, er.v
	FROM events e
	LEFT JOIN dict_actor a ON a.id = e.actor
	LEFT JOIN dict_actor_type at ON at.id = e.actor_type
	LEFT JOIN dict_account acc ON acc.id = e.account
	LEFT JOIN dict_region r ON r.id = e.region
	LEFT JOIN dict_api api ON api.id = e.api
	LEFT JOIN dict_ip ip ON ip.id = e.ip
	LEFT JOIN dict_agent ag ON ag.id = e.agent
	LEFT JOIN dict_resource res ON res.id = e.resource
	LEFT JOIN dict_access_key k ON k.id = e.access_key
	LEFT JOIN dict_source_identity si ON si.id = e.source_identity
	LEFT JOIN dict_error er ON er.id = e.error`

// QueryEvents returns matching events newest first. Filters name values by
// their dictionary ID, so a value never stored matches nothing without a
// scan.
func (s *Store) QueryEvents(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	var where []string
	var args []any
	for _, f := range []struct {
		d      *dict
		column string
		value  string
	}{
		{s.dicts.actor, "actor", q.ActorARN},
		{s.dicts.resource, "resource", q.ResourceARN},
		{s.dicts.accessKey, "access_key", q.AccessKeyID},
		{s.dicts.sourceIdentity, "source_identity", q.SourceIdentity},
		{s.dicts.account, "account", q.Account},
	} {
		if f.value == "" {
			continue
		}
		id, ok, err := f.d.lookup(ctx, s.pool, clean(f.value))
		if err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		if !ok {
			return nil, nil
		}
		args = append(args, id)
		where = append(where, fmt.Sprintf("e.%s = $%d", f.column, len(args)))
	}
	if !q.Since.IsZero() {
		args = append(args, q.Since)
		where = append(where, fmt.Sprintf("e.t >= $%d", len(args)))
	}
	if !q.Until.IsZero() {
		args = append(args, q.Until)
		where = append(where, fmt.Sprintf("e.t < $%d", len(args)))
	}
	query := "SELECT " + eventColumns
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY e.t DESC, e.id DESC"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			eid []byte
			e   store.Event
			ns  [12]pgtype.Text
		)
		dest := []any{&eid, &e.Time, &e.ReadOnly}
		for i := range ns {
			dest = append(dest, &ns[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		e.EventID = decodeEventID(eid)
		e.Time = utc(e.Time)
		e.ActorARN, e.ActorType, e.Account, e.Region = ns[0].String, ns[1].String, ns[2].String, ns[3].String
		e.EventSource, e.EventName, e.SourceIP, e.UserAgent = ns[4].String, ns[5].String, ns[6].String, ns[7].String
		e.ResourceARN, e.AccessKeyID, e.SourceIdentity, e.ErrorCode = ns[8].String, ns[9].String, ns[10].String, ns[11].String
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	return out, nil
}

// Grouping-set masks of the ActorStats query: GROUPING(h, ip, agent,
// region, api) has a bit set for each column a row is not grouped by.
const (
	groupTotal  = 0b11111
	groupHour   = 0b01111
	groupIP     = 0b10111
	groupAgent  = 0b11011
	groupRegion = 0b11101
	groupAPI    = 0b11110
)

// actorStatsSQL computes every part of ActorStats in one pass over the
// actor's slice of the covering events_actor index, one grouping set per
// part, and names the grouped values only after grouping.
const actorStatsSQL = `WITH g AS (
	SELECT GROUPING(h, ip, agent, region, api) AS gs, h, ip, agent, region, api,
		count(*) AS n, count(DISTINCT d) AS days, min(t) AS first, max(t) AS last
	FROM (
		SELECT t, (t AT TIME ZONE 'UTC')::date AS d, extract(hour FROM t AT TIME ZONE 'UTC')::int AS h,
			ip, agent, region, api
		FROM events WHERE actor = $1 AND t >= $2 AND t < $3
	) e
	GROUP BY GROUPING SETS ((), (h), (ip), (agent), (region), (api))
)
SELECT g.gs, g.h, coalesce(ip.v, ag.v, r.v, api.source || ':' || api.name), g.n, g.days, g.first, g.last
FROM g
LEFT JOIN dict_ip ip ON ip.id = g.ip
LEFT JOIN dict_agent ag ON ag.id = g.agent
LEFT JOIN dict_region r ON r.id = g.region
LEFT JOIN dict_api api ON api.id = g.api`

// ActorStats aggregates the actor's events in [since, until) in SQL; zero
// bounds are open.
func (s *Store) ActorStats(ctx context.Context, actorARN string, since, until time.Time) (store.ActorStats, error) {
	st := store.ActorStats{
		SourceIPs:  map[string]store.ValueStats{},
		UserAgents: map[string]store.ValueStats{},
		Regions:    map[string]store.ValueStats{},
		APIs:       map[string]store.ValueStats{},
	}
	actor, ok, err := s.dicts.actor.lookup(ctx, s.pool, clean(actorARN))
	if err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	if !ok {
		return st, nil
	}
	lo := pgtype.Timestamptz{Time: since, Valid: true}
	if since.IsZero() {
		lo = pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	hi := pgtype.Timestamptz{Time: until, Valid: true}
	if until.IsZero() {
		hi = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	}
	rows, err := s.pool.Query(ctx, actorStatsSQL, actor, lo, hi)
	if err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			gs          int
			hour        pgtype.Int4
			value       pgtype.Text
			vs          store.ValueStats
			first, last pgtype.Timestamptz
		)
		if err := rows.Scan(&gs, &hour, &value, &vs.Count, &vs.Days, &first, &last); err != nil {
			return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
		}
		if vs.Count == 0 {
			continue // the total of an empty window
		}
		vs.FirstSeen, vs.LastSeen = utc(first.Time), utc(last.Time)
		var into map[string]store.ValueStats
		switch gs {
		case groupTotal:
			st.Total, st.Days, st.FirstSeen, st.LastSeen = vs.Count, vs.Days, vs.FirstSeen, vs.LastSeen
			continue
		case groupHour:
			if hour.Valid && hour.Int32 >= 0 && hour.Int32 < 24 {
				st.ByHourUTC[hour.Int32] = vs.Count
			}
			continue
		case groupIP:
			into = st.SourceIPs
		case groupAgent:
			into = st.UserAgents
		case groupRegion:
			into = st.Regions
		case groupAPI:
			into = st.APIs
		default:
			return st, fmt.Errorf("actor stats %s: unexpected grouping set %b", actorARN, gs)
		}
		// Events without the value (no user agent, say) form a group of
		// their own, which is not counted.
		if value.Valid {
			into[value.String] = vs
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	return st, nil
}
