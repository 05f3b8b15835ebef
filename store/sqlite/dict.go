package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/secops-bot/secops-bot/store"
)

// dict interns one kind of string (actor ARNs, IPs, resources...) into small
// integer IDs. The IDs of recently used values are cached in memory so that
// ingesting an event rarely touches the dictionary tables at all.
type dict struct {
	table string
	// pair marks the API dictionary, whose value is (eventSource,
	// eventName) rather than one string.
	pair bool

	mu    sync.Mutex
	cache map[string]int64
	// names is the other way round, for reading events back without a
	// join per column. A value's ID never changes once committed, so
	// either cache is always right, only perhaps incomplete.
	names map[int64]string
	limit int
}

func (d *dict) selectSQL() string {
	if d.pair {
		return "SELECT id FROM " + d.table + " WHERE source = ? AND name = ?"
	}
	return "SELECT id FROM " + d.table + " WHERE v = ?"
}

// args turns a cache key back into statement arguments.
func (d *dict) args(key string) []any {
	if d.pair {
		source, name := splitAPIKey(key)
		return []any{source, name}
	}
	return []any{key}
}

// apiKey joins an event source and name into one cache key. The separator
// is a byte neither can contain in CloudTrail, but splitAPIKey does not rely
// on that for correctness of the source (it splits at the first one).
func apiKey(source, name string) string { return source + "\x00" + name }

func splitAPIKey(key string) (source, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

func (d *dict) cached(key string) (int64, bool) {
	d.mu.Lock()
	id, ok := d.cache[key]
	d.mu.Unlock()
	return id, ok
}

// remember caches a committed ID. When the cache is full an arbitrary entry
// makes room (Go's map iteration order is randomised), which is close enough
// to random eviction and costs nothing to track.
func (d *dict) remember(key string, id int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cache[key]; !ok && len(d.cache) >= d.limit {
		for k := range d.cache {
			delete(d.cache, k)
			break
		}
	}
	d.cache[key] = id
	d.rememberNameLocked(id, key)
}

func (d *dict) rememberNameLocked(id int64, key string) {
	if _, ok := d.names[id]; !ok && len(d.names) >= d.limit {
		for k := range d.names {
			delete(d.names, k)
			break
		}
	}
	d.names[id] = key
}

// namesChunks are the numbers of IDs a statement reading values asks
// for: a few sizes, so that each is prepared once, and a short list is
// padded to the next one with repeats of its first ID.
var namesChunks = [...]int{8, 32, 128, 512}

// fillNames sets the value (the cache key form) of every ID in want,
// from the cache where it can and with a few statements otherwise. IDs
// must come from committed rows, as the rows of events read back do.
func (d *dict) fillNames(ctx context.Context, p preparer, want map[int64]string) error {
	var missing []any
	d.mu.Lock()
	for id := range want {
		if v, ok := d.names[id]; ok {
			want[id] = v
		} else {
			missing = append(missing, id)
		}
	}
	d.mu.Unlock()
	cols := "v"
	if d.pair {
		cols = "source, name"
	}
	for len(missing) > 0 {
		size := namesChunks[len(namesChunks)-1]
		for _, n := range namesChunks {
			if len(missing) <= n {
				size = n
				break
			}
		}
		chunk := missing[:min(size, len(missing))]
		missing = missing[len(chunk):]
		args := chunk
		for len(args) < size {
			args = append(args, chunk[0])
		}
		stmt, err := p.readStmt(ctx, "SELECT id, "+cols+" FROM "+d.table+" WHERE id IN (?"+strings.Repeat(", ?", size-1)+")")
		if err != nil {
			return fmt.Errorf("read %s: %w", d.table, err)
		}
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("read %s: %w", d.table, err)
		}
		found := 0
		for rows.Next() {
			var id int64
			var a, b string
			dest := []any{&id, &a}
			if d.pair {
				dest = append(dest, &b)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return fmt.Errorf("read %s: %w", d.table, err)
			}
			if d.pair {
				a = apiKey(a, b)
			}
			want[id] = a
			found++
			d.mu.Lock()
			d.rememberNameLocked(id, a)
			d.mu.Unlock()
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read %s: %w", d.table, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read %s: %w", d.table, err)
		}
		if found != len(chunk) {
			return fmt.Errorf("read %s: %d of %d ids have no value", d.table, len(chunk)-found, len(chunk))
		}
	}
	return nil
}

// preparer hands out statements prepared on the read pool.
type preparer interface {
	readStmt(ctx context.Context, query string) (*sql.Stmt, error)
}

// lookup finds the ID of a committed value through the read pool; ok is
// false when the value was never stored.
func (d *dict) lookup(ctx context.Context, p preparer, key string) (id int64, ok bool, err error) {
	if key == "" {
		return 0, false, nil
	}
	if id, ok := d.cached(key); ok {
		return id, true, nil
	}
	stmt, err := p.readStmt(ctx, d.selectSQL())
	if err != nil {
		return 0, false, fmt.Errorf("look up %s: %w", d.table, err)
	}
	err = stmt.QueryRowContext(ctx, d.args(key)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up %s: %w", d.table, err)
	}
	d.remember(key, id)
	return id, true, nil
}

// dicts holds every dictionary of the history tables.
type dicts struct {
	actor, actorType, account, region, api, ip, agent, resource, accessKey, sourceIdentity, errorCode *dict
}

func newDicts(limit int) dicts {
	mk := func(table string, pair bool) *dict {
		return &dict{table: table, pair: pair, cache: make(map[string]int64), names: make(map[int64]string), limit: limit}
	}
	return dicts{
		actor:          mk("dict_actor", false),
		actorType:      mk("dict_actor_type", false),
		account:        mk("dict_account", false),
		region:         mk("dict_region", false),
		api:            mk("dict_api", true),
		ip:             mk("dict_ip", false),
		agent:          mk("dict_agent", false),
		resource:       mk("dict_resource", false),
		accessKey:      mk("dict_access_key", false),
		sourceIdentity: mk("dict_source_identity", false),
		errorCode:      mk("dict_error", false),
	}
}

func (ds *dicts) all() []*dict {
	return []*dict{ds.actor, ds.actorType, ds.account, ds.region, ds.api, ds.ip, ds.agent, ds.resource, ds.accessKey, ds.sourceIdentity, ds.errorCode}
}

// values lists the interned columns of e in the events table's column
// order (actor through error), the order of dicts.all.
func (ds *dicts) values(e *store.Event) [numDicts]string {
	return [numDicts]string{
		e.ActorARN, e.ActorType, e.Account, e.Region, apiKeyOf(e), e.SourceIP,
		e.UserAgent, e.ResourceARN, e.AccessKeyID, e.SourceIdentity, e.ErrorCode,
	}
}

// numDicts is how many interned columns an event has.
const numDicts = 11

// interner assigns IDs inside one write transaction, a batch at a time:
// every value the batch needs is resolved up front, missing ones with a
// few multi-row statements instead of one or two statements per value. IDs
// stay local until the transaction commits: caching them earlier would
// leave IDs of rolled-back rows in the cache. Dictionaries are numbered as
// in dicts.all.
type interner struct {
	ctx context.Context
	tx  *sql.Tx
	ds  []*dict
	ids [numDicts]map[string]int64
	// wants are the values the caches did not know, resolved from the
	// tables and cached at commit.
	wants [numDicts][]string
}

func newInterner(ctx context.Context, tx *sql.Tx, ds []*dict) *interner {
	in := &interner{ctx: ctx, tx: tx, ds: ds}
	for i := range in.ids {
		in.ids[i] = map[string]int64{}
	}
	return in
}

// wantAll notes the values every event of rows needs; resolve fetches
// their IDs. Each dictionary's cache is locked once for the batch.
func (in *interner) wantAll(values [][numDicts]string) {
	for i, d := range in.ds {
		m := in.ids[i]
		d.mu.Lock()
		for k := range values {
			key := values[k][i]
			if key == "" {
				continue
			}
			if _, ok := m[key]; ok {
				continue
			}
			// Copy cached IDs now: a concurrent reader may evict them
			// before use.
			if id, ok := d.cache[key]; ok {
				m[key] = id
				continue
			}
			m[key] = 0 // placeholder: wanted once, resolved below
			in.wants[i] = append(in.wants[i], key)
		}
		d.mu.Unlock()
	}
}

// internChunk bounds the values per statement, well under SQLite's limit
// on bound parameters.
const internChunk = 250

// resolve assigns IDs to every wanted value, inserting the new ones.
func (in *interner) resolve() error {
	for i, keys := range in.wants {
		d := in.ds[i]
		for len(keys) > 0 {
			chunk := keys[:min(internChunk, len(keys))]
			keys = keys[len(chunk):]
			if err := in.resolveChunk(d, in.ids[i], chunk); err != nil {
				return fmt.Errorf("intern %s: %w", d.table, err)
			}
		}
	}
	return nil
}

func (in *interner) resolveChunk(d *dict, m map[string]int64, keys []string) error {
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, d.args(k)...)
	}
	tuple, cols := "(?)", "v"
	if d.pair {
		tuple, cols = "(?, ?)", "source, name"
	}
	tuples := strings.Repeat(tuple+", ", len(keys)-1) + tuple
	// Values are inserted in order with rowids one past the largest, so
	// when every one is new their IDs follow the largest ID before the
	// insert and nothing needs reading back. Otherwise some already
	// existed (the cache only forgot them) and all are looked up.
	var top int64
	if err := in.tx.QueryRowContext(in.ctx, "SELECT coalesce(max(id), 0) FROM "+d.table).Scan(&top); err != nil {
		return err
	}
	res, err := in.tx.ExecContext(in.ctx, "INSERT OR IGNORE INTO "+d.table+" ("+cols+") VALUES "+tuples, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if int(n) == len(keys) {
		for i, k := range keys {
			m[k] = top + 1 + int64(i)
		}
		return nil
	}
	var where string
	if d.pair {
		where = "(source, name) IN (VALUES " + tuples + ")"
	} else {
		where = "v IN (" + strings.Repeat("?, ", len(keys)-1) + "?)"
	}
	_, err = in.scanIDs(d, m, "SELECT id, "+cols+" FROM "+d.table+" WHERE "+where, args)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if m[k] == 0 {
			return fmt.Errorf("value %q has no id after insert", k)
		}
	}
	return nil
}

// scanIDs runs query, which returns (id, value...) rows, into m.
func (in *interner) scanIDs(d *dict, m map[string]int64, query string, args []any) (int, error) {
	rows, err := in.tx.QueryContext(in.ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int64
		var a, b string
		dest := []any{&id, &a}
		if d.pair {
			dest = append(dest, &b)
		}
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		if d.pair {
			a = apiKey(a, b)
		}
		m[a] = id
		n++
	}
	return n, rows.Err()
}

// id returns the resolved ID of the value key of dictionary i, NULL for
// an empty key.
func (in *interner) id(i int, key string) any {
	if key == "" {
		return nil
	}
	return in.ids[i][key]
}

// commit publishes the IDs the batch resolved to the caches; call it only
// after the transaction committed. The IDs it took from the caches are
// there already.
func (in *interner) commit() {
	for i, keys := range in.wants {
		d, m := in.ds[i], in.ids[i]
		for _, k := range keys {
			d.remember(k, m[k])
		}
	}
}
