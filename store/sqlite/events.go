package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/secops-bot/secops-bot/store"
)

// AddEvents stores events in one transaction, skipping events already
// stored (including repeats within events). Callers ingesting in bulk should
// pass batches of about a thousand: each batch is one commit.
//
// An event is a repeat when its ID was stored with the same time, which is
// how CloudTrail redelivers; see the events_eid index for why the time is
// part of the key.
func (s *Store) AddEvents(ctx context.Context, events []store.Event) ([]bool, error) {
	isNew := make([]bool, len(events))
	if len(events) == 0 {
		return isNew, nil
	}
	// Repeats within the batch are not new whatever the table holds; only
	// first occurrences are inserted, and the rows the insert returns are
	// matched back to them.
	first := make(map[eventKey]int, len(events))
	rows := make([]int, 0, len(events))
	for i := range events {
		k := keyOf(&events[i])
		if _, dup := first[k]; !dup {
			first[k] = i
			rows = append(rows, i)
		}
	}
	var in *interner
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		in = newInterner(ctx, tx)
		for _, i := range rows {
			for _, f := range s.dicts.fields(&events[i]) {
				in.want(f.d, f.key)
			}
		}
		if err := in.resolve(); err != nil {
			return err
		}
		// Rows get rowids one past the largest, so the rows a statement
		// inserted are exactly those above the largest rowid before it.
		// When a statement inserts every row it was given (the usual
		// case: redelivery is rare) nothing needs reading back, which is
		// cheaper than RETURNING, whose rows SQLite gathers in a
		// temporary table first.
		var top int64
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM events").Scan(&top); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		full := tx.StmtContext(ctx, s.insertEvents)
		args := make([]any, 0, insertChunk*eventParams)
		for pending := rows; len(pending) > 0; {
			chunk := pending[:min(insertChunk, len(pending))]
			pending = pending[len(chunk):]
			args = args[:0]
			for _, i := range chunk {
				e := &events[i]
				args = append(args, encodeEventID(e.EventID), e.Time.Unix())
				for _, f := range s.dicts.fields(e) {
					args = append(args, in.id(f.d, f.key))
				}
				args = append(args, e.ReadOnly)
			}
			var res sql.Result
			var err error
			if len(chunk) == insertChunk {
				res, err = full.ExecContext(ctx, args...)
			} else {
				res, err = tx.ExecContext(ctx, insertEventsSQL(len(chunk)), args...)
			}
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			if int(n) == len(chunk) {
				for _, i := range chunk {
					isNew[i] = true
				}
				top += n
				continue
			}
			if n == 0 {
				continue
			}
			inserted, err := tx.QueryContext(ctx, "SELECT t, eid FROM events WHERE id > ? ORDER BY id", top)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			got, err := markInserted(inserted, first, isNew)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			if got != int(n) {
				return fmt.Errorf("insert events: %d rows inserted but %d found above rowid %d", n, got, top)
			}
			top += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add %d events: %w", len(events), err)
	}
	in.commit()
	return isNew, nil
}

// insertChunk is how many events one INSERT carries: enough to amortise
// the per-statement cost, few enough to stay far below SQLite's limit on
// bound parameters.
const (
	insertChunk = 64
	eventParams = 14
)

func insertEventsSQL(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// OR IGNORE rather than ON CONFLICT DO NOTHING: the only constraint
	// that can fail is the (t, eid) one, and a statement that cannot abort
	// needs no statement journal, which saves copying every page it
	// touches.
	return `INSERT OR IGNORE INTO events
		(eid, t, actor, actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error, read_only)
		VALUES ` + strings.Repeat(row+", ", n-1) + row
}

// eventKey is the deduplication key: time and the stored form of the ID
// (blob and text are different values to SQLite, hence the flag).
type eventKey struct {
	t    int64
	id   string
	blob bool
}

func keyOf(e *store.Event) eventKey {
	switch v := encodeEventID(e.EventID).(type) {
	case []byte:
		return eventKey{t: e.Time.Unix(), id: string(v), blob: true}
	default:
		return eventKey{t: e.Time.Unix(), id: e.EventID}
	}
}

// markInserted sets isNew for each inserted row that rows lists, and
// returns how many it listed.
func markInserted(rows *sql.Rows, first map[eventKey]int, isNew []bool) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k eventKey
		var id any
		if err := rows.Scan(&k.t, &id); err != nil {
			return n, err
		}
		switch v := id.(type) {
		case []byte:
			k.id, k.blob = string(v), true
		case string:
			k.id = v
		default:
			return n, fmt.Errorf("unexpected event id type %T", id)
		}
		i, ok := first[k]
		if !ok {
			return n, fmt.Errorf("inserted an event that was not in the batch")
		}
		isNew[i] = true
		n++
	}
	return n, rows.Err()
}

func apiKeyOf(e *store.Event) string {
	if e.EventSource == "" && e.EventName == "" {
		return ""
	}
	return apiKey(e.EventSource, e.EventName)
}

// encodeEventID stores a canonical (lowercase, hyphenated) UUID as its 16
// bytes, less than half its text, and anything else as text. Only the exact
// canonical form is packed so that decoding gives back the same string.
func encodeEventID(id string) any {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return id
	}
	var b [16]byte
	hexPart := id[0:8] + id[9:13] + id[14:18] + id[19:23] + id[24:36]
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id
		}
	}
	if _, err := hex.Decode(b[:], []byte(hexPart)); err != nil {
		return id
	}
	return b[:]
}

func decodeEventID(v any) string {
	switch v := v.(type) {
	case []byte:
		if len(v) != 16 {
			return string(v)
		}
		h := hex.EncodeToString(v)
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
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
		id, ok, err := f.d.lookup(ctx, s.r, f.value)
		if err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		if !ok {
			return nil, nil
		}
		where = append(where, "e."+f.column+" = ?")
		args = append(args, id)
	}
	if !q.Since.IsZero() {
		where = append(where, "e.t >= ?")
		args = append(args, ceilSeconds(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "e.t < ?")
		args = append(args, ceilSeconds(q.Until))
	}
	query := "SELECT " + eventColumns
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY e.t DESC, e.id DESC"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var (
			eid any
			t   int64
			e   store.Event
			ns  [12]sql.NullString
		)
		dest := []any{&eid, &t, &e.ReadOnly}
		for i := range ns {
			dest = append(dest, &ns[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		e.EventID = decodeEventID(eid)
		e.Time = time.Unix(t, 0).UTC()
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

// ActorStats aggregates in SQL over the actor's slice of the covering
// (actor, t, api, ip, agent, region) index; no event row is read. All
// queries run in one read transaction so they see the same snapshot.
func (s *Store) ActorStats(ctx context.Context, actorARN string, since, until time.Time) (store.ActorStats, error) {
	st := store.ActorStats{
		SourceIPs:  map[string]store.ValueStats{},
		UserAgents: map[string]store.ValueStats{},
		Regions:    map[string]store.ValueStats{},
		APIs:       map[string]store.ValueStats{},
	}
	actor, ok, err := s.dicts.actor.lookup(ctx, s.r, actorARN)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("actor stats %s: %w", actorARN, err)
		}
		return st, err
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		lo = ceilSeconds(since)
	}
	if !until.IsZero() {
		hi = ceilSeconds(until)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo
	const rng = "FROM events WHERE actor = ?1 AND t >= ?2 AND t < ?3"

	var first, last sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT t / 86400), min(t), max(t) "+rng,
		actor, lo, hi).Scan(&st.Total, &st.Days, &first, &last)
	if err != nil {
		return st, fmt.Errorf("actor stats %s: totals: %w", actorARN, err)
	}
	if st.Total == 0 {
		return st, nil
	}
	st.FirstSeen = time.Unix(first.Int64, 0).UTC()
	st.LastSeen = time.Unix(last.Int64, 0).UTC()

	rows, err := tx.QueryContext(ctx, "SELECT (t % 86400) / 3600, count(*) "+rng+" AND t >= 0 GROUP BY 1", actor, lo, hi)
	if err != nil {
		return st, fmt.Errorf("actor stats %s: hours: %w", actorARN, err)
	}
	for rows.Next() {
		var h, n int
		if err := rows.Scan(&h, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("actor stats %s: hours: %w", actorARN, err)
		}
		if h >= 0 && h < 24 {
			st.ByHourUTC[h] = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("actor stats %s: hours: %w", actorARN, err)
	}

	for _, g := range []struct {
		name  string
		query string
		into  map[string]store.ValueStats
	}{
		{"source IPs", valueStatsSQL("ip", "dict_ip", "d.v"), st.SourceIPs},
		{"user agents", valueStatsSQL("agent", "dict_agent", "d.v"), st.UserAgents},
		{"regions", valueStatsSQL("region", "dict_region", "d.v"), st.Regions},
		{"APIs", valueStatsSQL("api", "dict_api", "d.source || ':' || d.name"), st.APIs},
	} {
		if err := scanValueStats(ctx, tx, g.query, actor, lo, hi, g.into); err != nil {
			return st, fmt.Errorf("actor stats %s: %s: %w", actorARN, g.name, err)
		}
	}
	return st, nil
}

func valueStatsSQL(column, table, value string) string {
	return `SELECT ` + value + `, g.n, g.days, g.first, g.last FROM (
		SELECT ` + column + ` AS id, count(*) AS n, count(DISTINCT t / 86400) AS days, min(t) AS first, max(t) AS last
		FROM events WHERE actor = ?1 AND t >= ?2 AND t < ?3 AND ` + column + ` IS NOT NULL
		GROUP BY ` + column + `
	) g JOIN ` + table + ` d ON d.id = g.id`
}

func scanValueStats(ctx context.Context, tx *sql.Tx, query string, actor, lo, hi int64, into map[string]store.ValueStats) error {
	rows, err := tx.QueryContext(ctx, query, actor, lo, hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v           string
			vs          store.ValueStats
			first, last int64
		)
		if err := rows.Scan(&v, &vs.Count, &vs.Days, &first, &last); err != nil {
			return err
		}
		vs.FirstSeen = time.Unix(first, 0).UTC()
		vs.LastSeen = time.Unix(last, 0).UTC()
		into[v] = vs
	}
	return rows.Err()
}

// HasEvents reports which events are already stored, matched on (time, ID)
// like AddEvents. Lookups go through the unique index in chunks.
func (s *Store) HasEvents(ctx context.Context, events []store.Event) ([]bool, error) {
	out := make([]bool, len(events))
	const chunk = 200
	for start := 0; start < len(events); start += chunk {
		end := min(start+chunk, len(events))
		var b strings.Builder
		b.WriteString("SELECT t, eid FROM events WHERE (t, eid) IN (VALUES ")
		args := make([]any, 0, 2*(end-start))
		want := make(map[eventKey][]int, end-start)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(",")
			}
			b.WriteString("(?,?)")
			k := keyOf(&events[i])
			want[k] = append(want[k], i)
			args = append(args, events[i].Time.Unix(), encodeEventID(events[i].EventID))
		}
		b.WriteString(")")
		rows, err := s.r.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
		for rows.Next() {
			var t int64
			var eid any
			if err := rows.Scan(&t, &eid); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up events: %w", err)
			}
			k := eventKey{t: t}
			switch v := eid.(type) {
			case []byte:
				k.id, k.blob = string(v), true
			case string:
				k.id = v
			}
			for _, i := range want[k] {
				out[i] = true
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up events: %w", err)
		}
	}
	return out, nil
}
