package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/secops-bot/secops-bot/store"
)

// dict interns one kind of string (actor ARNs, IPs, resources...) into small
// integer IDs. Recently used IDs are cached so that ingesting an event rarely
// touches the dictionary tables. Rows are never deleted or changed, so a
// cached ID stays right whichever replica interned the value.
type dict struct {
	table string
	// pair marks the API dictionary, whose value is (eventSource,
	// eventName) rather than one string.
	pair bool

	mu    sync.Mutex
	cache map[string]int32
	limit int
}

// apiKey joins an event source and name into one key; splitAPIKey undoes
// it. NUL cannot occur in either once cleaned.
func apiKey(source, name string) string { return source + "\x00" + name }

func splitAPIKey(key string) (source, name string) {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}

func (d *dict) cached(key string) (int32, bool) {
	d.mu.Lock()
	id, ok := d.cache[key]
	d.mu.Unlock()
	return id, ok
}

// remember caches an ID. When the cache is full an arbitrary entry makes
// room (map iteration order is randomised), which is close enough to random
// eviction and costs nothing to track.
func (d *dict) remember(key string, id int32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cache[key]; !ok && len(d.cache) >= d.limit {
		for k := range d.cache {
			delete(d.cache, k)
			break
		}
	}
	d.cache[key] = id
}

// querier is what reads need from the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lookup finds the ID of a stored value; ok is false when the value was
// never stored.
func (d *dict) lookup(ctx context.Context, q querier, key string) (id int32, ok bool, err error) {
	if key == "" {
		return 0, false, nil
	}
	if id, ok := d.cached(key); ok {
		return id, true, nil
	}
	if d.pair {
		source, name := splitAPIKey(key)
		err = q.QueryRow(ctx, "SELECT id FROM "+d.table+" WHERE source = $1 AND name = $2", source, name).Scan(&id)
	} else {
		err = q.QueryRow(ctx, "SELECT id FROM "+d.table+" WHERE v = $1", key).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("look up %s: %w", d.table, err)
	}
	d.remember(key, id)
	return id, true, nil
}

// resolve returns the IDs of keys (none empty), interning the new ones.
// Each statement commits on its own, before the events that use the IDs are
// written: a dictionary row nobody refers to is harmless, and holding its
// unique-index entry until the events commit would make concurrent batches
// wait on each other. Values are inserted in sorted order so that two
// replicas interning overlapping values never wait on each other in a cycle.
func (d *dict) resolve(ctx context.Context, q querier, keys []string, into map[string]int32) error {
	var missing []string
	for _, k := range keys {
		if id, ok := d.cached(k); ok {
			into[k] = id
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	// Look first and insert only what is absent: an insert that meets a
	// conflict still uses up an identity value, and the cache forgetting
	// values is the common reason for a miss.
	found := map[string]int32{}
	if err := d.fetch(ctx, q, missing, found); err != nil {
		return err
	}
	var absent []string
	for _, k := range missing {
		if _, ok := found[k]; !ok {
			absent = append(absent, k)
		}
	}
	if len(absent) > 0 {
		if err := d.insert(ctx, q, absent, found); err != nil {
			return err
		}
		// Values another replica inserted between the look-up and the
		// insert were skipped by the insert; they are committed now.
		var raced []string
		for _, k := range absent {
			if _, ok := found[k]; !ok {
				raced = append(raced, k)
			}
		}
		if len(raced) > 0 {
			if err := d.fetch(ctx, q, raced, found); err != nil {
				return err
			}
		}
	}
	for _, k := range missing {
		id, ok := found[k]
		if !ok {
			return fmt.Errorf("intern %s: value %q has no id after insert", d.table, k)
		}
		into[k] = id
		d.remember(k, id)
	}
	return nil
}

func (d *dict) fetch(ctx context.Context, q querier, keys []string, into map[string]int32) error {
	var rows pgx.Rows
	var err error
	if d.pair {
		sources, names := splitAll(keys)
		rows, err = q.Query(ctx, `SELECT d.id, d.source, d.name FROM `+d.table+` d
			JOIN unnest($1::text[], $2::text[]) AS k(source, name) ON d.source = k.source AND d.name = k.name`, sources, names)
	} else {
		rows, err = q.Query(ctx, "SELECT id, v, '' FROM "+d.table+" WHERE v = ANY($1::text[])", keys)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", d.table, err)
	}
	return d.scan(rows, into)
}

func (d *dict) insert(ctx context.Context, q querier, keys []string, into map[string]int32) error {
	var rows pgx.Rows
	var err error
	if d.pair {
		sources, names := splitAll(keys)
		rows, err = q.Query(ctx, `INSERT INTO `+d.table+` (source, name)
			SELECT source, name FROM unnest($1::text[], $2::text[]) AS k(source, name) ORDER BY source, name
			ON CONFLICT (source, name) DO NOTHING RETURNING id, source, name`, sources, names)
	} else {
		rows, err = q.Query(ctx, `INSERT INTO `+d.table+` (v)
			SELECT v FROM unnest($1::text[]) AS k(v) ORDER BY v
			ON CONFLICT (v) DO NOTHING RETURNING id, v, ''`, keys)
	}
	if err != nil {
		return fmt.Errorf("intern %s: %w", d.table, err)
	}
	return d.scan(rows, into)
}

// scan reads (id, value, name) rows into into, keyed as the cache is.
func (d *dict) scan(rows pgx.Rows, into map[string]int32) error {
	defer rows.Close()
	for rows.Next() {
		var id int32
		var a, b string
		if err := rows.Scan(&id, &a, &b); err != nil {
			return fmt.Errorf("read %s: %w", d.table, err)
		}
		if d.pair {
			a = apiKey(a, b)
		}
		into[a] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", d.table, err)
	}
	return nil
}

func splitAll(keys []string) (sources, names []string) {
	sources = make([]string, len(keys))
	names = make([]string, len(keys))
	for i, k := range keys {
		sources[i], names[i] = splitAPIKey(k)
	}
	return sources, names
}

// dicts holds every dictionary of the history tables.
type dicts struct {
	actor, actorType, account, region, api, ip, agent, resource, accessKey, sourceIdentity, errorCode *dict
}

func newDicts(limit int) dicts {
	mk := func(table string, pair bool) *dict {
		return &dict{table: table, pair: pair, cache: make(map[string]int32), limit: limit}
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

// numFields is how many interned columns an event has.
const numFields = 11

// fields lists the interned values of e in the events table's column order
// (actor through error), cleaned for storage; "" means NULL.
func (ds *dicts) fields(e *store.Event) [numFields]string {
	api := ""
	if e.EventSource != "" || e.EventName != "" {
		api = apiKey(clean(e.EventSource), clean(e.EventName))
	}
	return [numFields]string{
		clean(e.ActorARN), clean(e.ActorType), clean(e.Account), clean(e.Region), api,
		clean(e.SourceIP), clean(e.UserAgent), clean(e.ResourceARN), clean(e.AccessKeyID),
		clean(e.SourceIdentity), clean(e.ErrorCode),
	}
}

// byField lists the dictionaries in the same order as fields.
func (ds *dicts) byField() [numFields]*dict {
	return [numFields]*dict{
		ds.actor, ds.actorType, ds.account, ds.region, ds.api, ds.ip, ds.agent,
		ds.resource, ds.accessKey, ds.sourceIdentity, ds.errorCode,
	}
}
