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
// pass batches of several thousand: each batch is one commit, and a commit
// writes every page it changed, most of them the tails of actors' ranges,
// which a larger batch shares among more events.
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
	// Each row's stored ID and dictionary values, worked out once.
	eids := make([]any, 0, len(events))
	values := make([][numDicts]string, 0, len(events))
	for i := range events {
		eid := encodeEventID(events[i].EventID)
		k := keyOfStored(events[i].Time.Unix(), eid)
		if _, dup := first[k]; !dup {
			first[k] = i
			rows = append(rows, i)
			eids = append(eids, eid)
			values = append(values, s.dicts.values(&events[i]))
		}
	}
	var in *interner
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		in = newInterner(ctx, tx, s.dicts.all())
		in.wantAll(values)
		if err := in.resolve(); err != nil {
			return err
		}
		// Every row gets the next ID whether or not it turns out to be
		// a repeat; the IDs a statement was given tell the rows it
		// inserted from older ones when it skipped some.
		var next int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM events_next").Scan(&next); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		full := tx.StmtContext(ctx, s.insertEvents)
		args := make([]any, 0, insertChunk*eventParams)
		for done := 0; done < len(rows); {
			chunk := rows[done:min(done+insertChunk, len(rows))]
			base := next
			args = args[:0]
			for k, i := range chunk {
				e := &events[i]
				v := &values[done+k]
				actor := in.id(0, v[0])
				if actor == nil {
					actor = int64(0)
				}
				args = append(args, actor, e.Time.Unix(), next, eids[done+k])
				for d := 1; d < numDicts; d++ {
					args = append(args, in.id(d, v[d]))
				}
				args = append(args, e.ReadOnly)
				next++
			}
			done += len(chunk)
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
				continue
			}
			if n == 0 {
				continue
			}
			got, err := markInserted(ctx, tx, events, chunk, base, first, isNew)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			if got != int(n) {
				return fmt.Errorf("insert events: %d rows inserted but %d found with IDs from %d", n, got, base)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE events_next SET id = ?", next); err != nil {
			return fmt.Errorf("insert events: %w", err)
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
	eventParams = 15
)

func insertEventsSQL(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// OR IGNORE rather than ON CONFLICT DO NOTHING: the only constraint
	// that can fail is the (t, eid) one, and a statement that cannot abort
	// needs no statement journal, which saves copying every page it
	// touches.
	return `INSERT OR IGNORE INTO events
		(actor, t, id, eid, actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error, read_only)
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
	return keyOfStored(e.Time.Unix(), encodeEventID(e.EventID))
}

// keyOfStored is the key of an event stored at t with the stored form
// of its ID, as encodeEventID gives it.
func keyOfStored(t int64, eid any) eventKey {
	switch v := eid.(type) {
	case []byte:
		return eventKey{t: t, id: string(v), blob: true}
	default:
		return eventKey{t: t, id: v.(string)}
	}
}

// markInserted sets isNew for the events of chunk that the statement given
// IDs from base on inserted, found by their keys, and returns how many it
// found: a row with one of those IDs is one that statement inserted, any
// other row with the key was there before.
func markInserted(ctx context.Context, tx *sql.Tx, events []store.Event, chunk []int, base int64, first map[eventKey]int, isNew []bool) (int, error) {
	var b strings.Builder
	b.WriteString("SELECT t, eid, id FROM events WHERE (t, eid) IN (VALUES ")
	args := make([]any, 0, 2*len(chunk))
	for k, i := range chunk {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?)")
		args = append(args, events[i].Time.Unix(), encodeEventID(events[i].EventID))
	}
	b.WriteString(")")
	rows, err := tx.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k eventKey
		var eid any
		var id int64
		if err := rows.Scan(&k.t, &eid, &id); err != nil {
			return n, err
		}
		if id < base || id >= base+int64(len(chunk)) {
			continue
		}
		switch v := eid.(type) {
		case []byte:
			k.id, k.blob = string(v), true
		case string:
			k.id = v
		default:
			return n, fmt.Errorf("unexpected event id type %T", eid)
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

// eventColumns are the columns an event is read back from: its own and
// the dictionary IDs, which are turned into values from the dictionaries'
// caches rather than joined, eleven lookups per row. Actor 0 is none.
const eventColumns = `eid, t, read_only, nullif(actor, 0), actor_type, account, region, api, ip, agent, resource, access_key, source_identity, error`

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
		id, ok, err := f.d.lookup(ctx, s, f.value)
		if err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		if !ok {
			return nil, nil
		}
		where = append(where, f.column+" = ?")
		args = append(args, id)
	}
	if !q.Since.IsZero() {
		where = append(where, "t >= ?")
		args = append(args, ceilSeconds(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "t < ?")
		args = append(args, ceilSeconds(q.Until))
	}
	query := "SELECT " + eventColumns + " FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY t DESC, id DESC"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	stmt, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	type row struct {
		eid      any
		t        int64
		readOnly bool
		ids      [11]sql.NullInt64
	}
	var got []row
	for rows.Next() {
		var r row
		dest := []any{&r.eid, &r.t, &r.readOnly}
		for i := range r.ids {
			dest = append(dest, &r.ids[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	if len(got) == 0 {
		return nil, nil
	}
	// The values of every ID the rows use, per dictionary, in the
	// events table's column order.
	ds := s.dicts.all()
	names := make([]map[int64]string, len(ds))
	for i, d := range ds {
		names[i] = map[int64]string{}
		for _, r := range got {
			if r.ids[i].Valid {
				names[i][r.ids[i].Int64] = ""
			}
		}
		if err := d.fillNames(ctx, s, names[i]); err != nil {
			return nil, fmt.Errorf("query events: %w", err)
		}
	}
	out := make([]store.Event, len(got))
	for k, r := range got {
		var v [11]string
		for i, id := range r.ids {
			if id.Valid {
				v[i] = names[i][id.Int64]
			}
		}
		source, name := "", ""
		if v[4] != "" {
			source, name = splitAPIKey(v[4])
		}
		out[k] = store.Event{
			EventID: decodeEventID(r.eid), Time: time.Unix(r.t, 0).UTC(), ReadOnly: r.readOnly,
			ActorARN: v[0], ActorType: v[1], Account: v[2], Region: v[3], EventSource: source, EventName: name,
			SourceIP: v[5], UserAgent: v[6], ResourceARN: v[7], AccessKeyID: v[8], SourceIdentity: v[9], ErrorCode: v[10],
		}
	}
	return out, nil
}

// actorRowsSQL reads an actor's window from its range of the table, in
// time order.
const actorRowsSQL = "SELECT t, api, ip, agent, region FROM events WHERE actor = ?1 AND t >= ?2 AND t < ?3 ORDER BY t"

// ActorStats aggregates the actor's slice of the table, which is kept in
// (actor, t) order, so the window is one run of neighbouring pages. One
// pass feeds every figure: grouping in SQL took a pass and a sort per figure,
// and a baseline is asked for several times by every investigation.
func (s *Store) ActorStats(ctx context.Context, actorARN string, since, until time.Time) (store.ActorStats, error) {
	st := store.ActorStats{
		SourceIPs:  map[string]store.ValueStats{},
		UserAgents: map[string]store.ValueStats{},
		Regions:    map[string]store.ValueStats{},
		APIs:       map[string]store.ValueStats{},
	}
	actor, ok, err := s.dicts.actor.lookup(ctx, s, actorARN)
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
	stmt, err := s.readStmt(ctx, actorRowsSQL)
	if err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	rows, err := stmt.QueryContext(ctx, actor, lo, hi)
	if err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	defer rows.Close()
	// Per column (api, ip, agent, region), per dictionary ID.
	var acc [4]map[int64]*valueAcc
	for i := range acc {
		acc[i] = map[int64]*valueAcc{}
	}
	var days dayCounter
	for rows.Next() {
		var t int64
		var ids [4]sql.NullInt64
		if err := rows.Scan(&t, &ids[0], &ids[1], &ids[2], &ids[3]); err != nil {
			return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
		}
		if st.Total == 0 {
			st.FirstSeen = time.Unix(t, 0).UTC()
		}
		st.Total++
		st.LastSeen = time.Unix(t, 0).UTC()
		days.add(t)
		if t >= 0 {
			st.ByHourUTC[(t%86400)/3600]++
		}
		for i, id := range ids {
			if !id.Valid {
				continue
			}
			a := acc[i][id.Int64]
			if a == nil {
				a = &valueAcc{first: t}
				acc[i][id.Int64] = a
			}
			a.count++
			a.last = t
			a.days.add(t)
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
	}
	st.Days = days.n
	for i, g := range []struct {
		d    *dict
		into map[string]store.ValueStats
	}{
		{s.dicts.api, st.APIs},
		{s.dicts.ip, st.SourceIPs},
		{s.dicts.agent, st.UserAgents},
		{s.dicts.region, st.Regions},
	} {
		names := make(map[int64]string, len(acc[i]))
		for id := range acc[i] {
			names[id] = ""
		}
		if err := g.d.fillNames(ctx, s, names); err != nil {
			return st, fmt.Errorf("actor stats %s: %w", actorARN, err)
		}
		for id, a := range acc[i] {
			v := names[id]
			if g.d.pair {
				source, name := splitAPIKey(v)
				v = source + ":" + name
			}
			g.into[v] = store.ValueStats{Count: a.count, Days: a.days.n, FirstSeen: time.Unix(a.first, 0).UTC(), LastSeen: time.Unix(a.last, 0).UTC()}
		}
	}
	return st, nil
}

// valueAcc gathers one value's figures.
type valueAcc struct {
	count       int
	first, last int64
	days        dayCounter
}

// dayCounter counts the distinct UTC days (t / 86400, as SQLite divides)
// of times given in ascending order.
type dayCounter struct {
	n    int
	last int64
}

func (c *dayCounter) add(t int64) {
	if d := t / 86400; c.n == 0 || d != c.last {
		c.n++
		c.last = d
	}
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
